//! The rectification notice (整改通知) to a customer: one letter listing every confirmed and
//! overdue case of the customer's sites, each with its clause, pages, evidence, page hashes
//! and deadline. The wording is the operator's, as for the per-flag notice: two minijinja
//! templates under `config/templates/` (text, and HTML with every value escaped, since the
//! evidence quotes hostile pages), overridable by `review.templates_dir`. The PDF is the text
//! version laid out by `review::pdf`.

use std::path::Path;

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

use super::notice::TemplateError;

pub const TEXT_TEMPLATE: &str = "rectification-notice-customer.txt.j2";
pub const HTML_TEMPLATE: &str = "rectification-notice-customer.html.j2";
const BUNDLED_TEXT: &str =
    include_str!("../../../../config/templates/rectification-notice-customer.txt.j2");
const BUNDLED_HTML: &str =
    include_str!("../../../../config/templates/rectification-notice-customer.html.j2");

/// What the customer's notice says. Evidence fields are quoted as stored.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CustomerNoticeFacts {
    pub notice_id: String,
    pub provider: String,
    /// The customer's id.
    pub customer: String,
    /// The name from the inventory, or the id when the inventory gives none.
    pub customer_name: String,
    pub contact_email: Option<String>,
    pub contact_phone: Option<String>,
    pub account_manager: Option<String>,
    pub reviewer: String,
    /// `YYYY-MM-DD`.
    pub issued_at: String,
    pub cases: Vec<CaseFacts>,
}

/// One case as the notice lists it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CaseFacts {
    pub case_id: i64,
    pub site_id: String,
    pub host: String,
    pub category: String,
    /// What the category is, in words.
    pub description: String,
    /// As the rules carry it (`§2(7)`).
    pub clause: String,
    /// As a legal letter cites it (第二条第（七）项).
    pub clause_cited: String,
    /// The letter's wording of the clause.
    pub clause_text: String,
    pub severity: String,
    /// Found still there after its deadline.
    pub overdue: bool,
    /// `YYYY-MM-DD`.
    pub deadline: String,
    /// Pages on which it is present.
    pub page_count: u64,
    pub pages: Vec<PageFacts>,
    /// Pages beyond those listed.
    pub pages_omitted: u64,
    /// The strongest signals over its pages, strongest first.
    pub evidence: Vec<EvidenceFacts>,
}

/// One page of a case: where, when it was read, and the hash of the copy kept as proof.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PageFacts {
    pub url: String,
    pub fetched_at: String,
    pub http_status: Option<u16>,
    pub ip: Option<String>,
    pub body_sha256: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct EvidenceFacts {
    pub url: String,
    pub rule: String,
    pub matched: String,
    pub snippet: String,
}

/// The customer notice's two templates, compiled and checked.
pub struct CustomerNoticeTemplate {
    env: Environment<'static>,
}

impl std::fmt::Debug for CustomerNoticeTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomerNoticeTemplate").finish()
    }
}

impl CustomerNoticeTemplate {
    pub fn bundled() -> Result<CustomerNoticeTemplate, TemplateError> {
        CustomerNoticeTemplate::new(
            &format!("<bundled>/config/templates/{TEXT_TEMPLATE}"),
            BUNDLED_TEXT,
            &format!("<bundled>/config/templates/{HTML_TEMPLATE}"),
            BUNDLED_HTML,
        )
    }

    /// `dir` may hold either template; one missing there is the bundled copy.
    pub fn from_dir(dir: &Path) -> Result<CustomerNoticeTemplate, TemplateError> {
        let read =
            |name: &str, bundled: &'static str| super::notice::template_file(dir, name, bundled);
        let (text_name, text) = read(TEXT_TEMPLATE, BUNDLED_TEXT)?;
        let (html_name, html) = read(HTML_TEMPLATE, BUNDLED_HTML)?;
        CustomerNoticeTemplate::new(&text_name, &text, &html_name, &html)
    }

    pub fn new(
        text_name: &str,
        text: &str,
        html_name: &str,
        html: &str,
    ) -> Result<CustomerNoticeTemplate, TemplateError> {
        let mut env = Environment::new();
        // A misspelt field must be an error, not an empty gap in a legal notice.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // By the name we register, not the operator's file name: the HTML notice is always
        // escaped (its evidence is what hostile pages wrote), the text one never (it quotes
        // the evidence exactly; whoever shows it as HTML escapes it).
        env.set_auto_escape_callback(|name| {
            if name == HTML_TEMPLATE {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        for (registered, name, source) in [
            (TEXT_TEMPLATE, text_name, text),
            (HTML_TEMPLATE, html_name, html),
        ] {
            env.add_template_owned(registered, source.to_string())
                .map_err(|e| TemplateError::Syntax {
                    name: name.to_string(),
                    line: e.line().unwrap_or(0),
                    message: e.to_string(),
                })?;
        }
        let template = CustomerNoticeTemplate { env };
        // Render a full set of facts with both templates now, so that a field that does not
        // exist fails at load (startup or reload), not when a reviewer needs the notice.
        let sample = sample_facts();
        for (registered, name) in [(TEXT_TEMPLATE, text_name), (HTML_TEMPLATE, html_name)] {
            template
                .render_named(registered, &sample)
                .map_err(|message| TemplateError::Render {
                    name: name.to_string(),
                    message,
                })?;
        }
        Ok(template)
    }

    /// The notice as text (also what the PDF lays out).
    pub fn render_text(&self, facts: &CustomerNoticeFacts) -> Result<String, TemplateError> {
        self.render_named(TEXT_TEMPLATE, facts)
            .map_err(|message| TemplateError::Render {
                name: TEXT_TEMPLATE.into(),
                message,
            })
    }

    /// The notice as an HTML document, every value escaped.
    pub fn render_html(&self, facts: &CustomerNoticeFacts) -> Result<String, TemplateError> {
        self.render_named(HTML_TEMPLATE, facts)
            .map_err(|message| TemplateError::Render {
                name: HTML_TEMPLATE.into(),
                message,
            })
    }

    fn render_named(&self, name: &str, facts: &CustomerNoticeFacts) -> Result<String, String> {
        let template = self.env.get_template(name).map_err(|e| e.to_string())?;
        template
            .render(minijinja::Value::from(minijinja::value::Serde(facts)))
            .map_err(|e| match e.line() {
                Some(line) => format!("line {line}: {e}"),
                None => e.to_string(),
            })
    }
}

/// Facts with every optional field present and every list non-empty, for the load check.
fn sample_facts() -> CustomerNoticeFacts {
    CustomerNoticeFacts {
        contact_email: Some("ops@example.cn".into()),
        contact_phone: Some("+86 10 0000 0000".into()),
        account_manager: Some("-".into()),
        cases: vec![CaseFacts {
            overdue: true,
            pages: vec![PageFacts {
                http_status: Some(200),
                ip: Some("203.0.113.1".into()),
                body_sha256: Some("0".repeat(64)),
                ..PageFacts::default()
            }],
            pages_omitted: 1,
            evidence: vec![EvidenceFacts::default()],
            ..CaseFacts::default()
        }],
        ..CustomerNoticeFacts::default()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn facts() -> CustomerNoticeFacts {
        let case = |id: i64, site: &str, clause: &str, cited: &str, sha: char| CaseFacts {
            case_id: id,
            site_id: site.into(),
            host: format!("{site}.example.cn"),
            category: "gambling".into(),
            description: "赌博推广".into(),
            clause: clause.into(),
            clause_cited: cited.into(),
            clause_text: "不得制作、复制、发布、传播".into(),
            severity: "high".into(),
            overdue: false,
            deadline: "2026-12-10".into(),
            page_count: 1,
            pages: vec![PageFacts {
                url: format!("http://{site}.example.cn/p.html"),
                fetched_at: "2026-12-01T08:00:00Z".into(),
                http_status: Some(200),
                ip: None,
                body_sha256: Some(sha.to_string().repeat(64)),
            }],
            pages_omitted: 0,
            evidence: vec![EvidenceFacts {
                url: format!("http://{site}.example.cn/p.html"),
                rule: "gambling.casino".into(),
                matched: "在线百家乐".into(),
                snippet: "注册即送 <script>alert(1)</script> 在线百家乐".into(),
            }],
        };
        CustomerNoticeFacts {
            notice_id: "ZG-2026-C000007".into(),
            provider: "某某云".into(),
            customer: "acme".into(),
            customer_name: "示例科技有限公司".into(),
            contact_email: Some("ops@acme.example.cn".into()),
            contact_phone: None,
            account_manager: Some("王经理".into()),
            reviewer: "张三".into(),
            issued_at: "2026-12-07".into(),
            cases: vec![
                case(7, "s1", "§2(7)", "第二条第（七）项", 'a'),
                case(8, "s2", "§3", "第三条", 'b'),
            ],
        }
    }

    #[test]
    fn the_text_lists_every_case_with_clause_pages_hashes_and_deadline() {
        let text = CustomerNoticeTemplate::bundled()
            .unwrap()
            .render_text(&facts())
            .unwrap();
        for needle in [
            "编号：ZG-2026-C000007",
            "致：示例科技有限公司（客户编号 acme）",
            "联系方式：ops@acme.example.cn\n",
            "客户经理：王经理",
            "发现以下 2 项内容",
            "1. 网站 s1.example.cn",
            "《信息源入网安全责任书》第二条第（七）项：",
            "2. 网站 s2.example.cn",
            "《信息源入网安全责任书》第三条：",
            "http://s1.example.cn/p.html",
            &format!("页面快照 SHA-256：{}", "a".repeat(64)),
            &format!("页面快照 SHA-256：{}", "b".repeat(64)),
            "整改期限：2026-12-10 前",
            "抓取时间：2026-12-01T08:00:00Z，HTTP 状态 200",
            // Text quotes the evidence exactly.
            "<script>alert(1)</script>",
            "审核人：张三",
        ] {
            assert!(text.contains(needle), "{needle} missing from:\n{text}");
        }
        assert!(!text.contains('§'), "{text}");
    }

    #[test]
    fn the_html_escapes_the_evidence() {
        let html = CustomerNoticeTemplate::bundled()
            .unwrap()
            .render_html(&facts())
            .unwrap();
        assert!(!html.contains("<script>alert(1)</script>"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
            "{html}"
        );
        assert!(html.contains("第二条第（七）项"));
        assert!(html.contains(&"b".repeat(64)));
    }

    #[test]
    fn operator_templates_are_checked_at_load_and_override_the_bundled_ones() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(TEXT_TEMPLATE),
            "{{ customer }}: {{ custmer }}",
        )
        .unwrap();
        let error = CustomerNoticeTemplate::from_dir(dir.path()).unwrap_err();
        assert!(matches!(error, TemplateError::Render { .. }), "{error:?}");
        assert!(error.to_string().contains(TEXT_TEMPLATE), "{error}");

        std::fs::write(
            dir.path().join(TEXT_TEMPLATE),
            "{% for c in cases %}{{ c.clause_cited }};{% endfor %}",
        )
        .unwrap();
        std::fs::write(
            dir.path().join(HTML_TEMPLATE),
            "<p>{{ cases[0].evidence[0].snippet }}",
        )
        .unwrap();
        let template = CustomerNoticeTemplate::from_dir(dir.path()).unwrap();
        assert_eq!(
            template.render_text(&facts()).unwrap(),
            "第二条第（七）项;第三条;"
        );
        // An operator's HTML template is escaped too: it is registered under the HTML name.
        let html = template.render_html(&facts()).unwrap();
        assert!(html.starts_with("<p>注册即送 &lt;script&gt;"), "{html}");

        std::fs::write(dir.path().join(HTML_TEMPLATE), "{% for %}").unwrap();
        let error = CustomerNoticeTemplate::from_dir(dir.path()).unwrap_err();
        assert!(
            matches!(error, TemplateError::Syntax { line: 1, .. }),
            "{error:?}"
        );
    }
}
