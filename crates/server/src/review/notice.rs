//! Rectification notices (整改通知): the letter a reviewer sends a customer after confirming a
//! flag. The wording is the operator's: a minijinja template and a table of clause texts, both
//! under `config/templates/` and editable without a build. The bundled copies are the default.

use std::collections::BTreeMap;
use std::path::Path;

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

const TEMPLATE_NAME: &str = "rectification-notice.txt.j2";
const BUNDLED_TEMPLATE: &str =
    include_str!("../../../../config/templates/rectification-notice.txt.j2");
const BUNDLED_CLAUSES: &str = include_str!("../../../../config/templates/clauses.toml");

/// What a notice says; every field is quoted as evidence, so it comes from the flag as stored.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NoticeFacts {
    pub notice_id: String,
    pub provider: String,
    pub customer: String,
    pub site_id: String,
    pub host: String,
    pub url: String,
    pub clause: String,
    pub rule: String,
    pub description: String,
    pub category: String,
    pub severity: String,
    pub matched: String,
    pub snippet: String,
    /// The flag's other evidence on the page (its signals beyond the one quoted above), at
    /// most a handful; the rest are counted in `more_evidence_omitted`.
    pub more_evidence: Vec<NoticeEvidence>,
    pub more_evidence_omitted: u64,
    pub fetched_at: String,
    pub http_status: Option<u16>,
    pub ip: Option<String>,
    pub body_sha256: Option<String>,
    pub icp_number: Option<String>,
    pub reviewer: String,
    /// `YYYY-MM-DD`.
    pub issued_at: String,
    /// `YYYY-MM-DD`.
    pub deadline: String,
}

/// One more piece of evidence of a flag, as a notice quotes it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NoticeEvidence {
    pub rule: String,
    pub matched: String,
    pub snippet: String,
}

#[derive(Serialize)]
struct Context<'a> {
    #[serde(flatten)]
    facts: &'a NoticeFacts,
    clause_text: String,
    /// The clause as a Chinese legal letter cites it (`§2(7)` → 第二条第（七）项).
    clause_cited: String,
}

/// Why a template or clause table cannot be used; each names the file and, where known, the
/// line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("{path}: {message}")]
    Read { path: String, message: String },
    #[error("{name}:{line}: {message}")]
    Clauses {
        name: String,
        line: usize,
        message: String,
    },
    #[error("{name}:{line}: {message}")]
    Syntax {
        name: String,
        line: usize,
        message: String,
    },
    /// Rendering failed: a field the template names does not exist, or a filter failed.
    #[error("{name}: {message}")]
    Render { name: String, message: String },
}

/// A compiled template and clause table.
pub struct NoticeTemplate {
    env: Environment<'static>,
    clauses: BTreeMap<String, String>,
}

impl std::fmt::Debug for NoticeTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoticeTemplate")
            .field("clauses", &self.clauses.len())
            .finish()
    }
}

/// The operator's copy of template file `name` in `dir`, or the bundled one when `dir` has
/// none: its name for error messages, and its text.
pub(crate) fn template_file(
    dir: &Path,
    name: &str,
    bundled: &'static str,
) -> Result<(String, String), TemplateError> {
    let path = dir.join(name);
    if path.exists() {
        sitepatrol_core::bounded::read_text(&path, sitepatrol_core::bounded::CONFIG_BYTES)
            .map(|text| (path.display().to_string(), text))
            .map_err(|e| TemplateError::Read {
                path: path.display().to_string(),
                message: e.to_string(),
            })
    } else {
        Ok((
            format!("<bundled>/config/templates/{name}"),
            bundled.to_string(),
        ))
    }
}

impl NoticeTemplate {
    pub fn bundled() -> Result<NoticeTemplate, TemplateError> {
        NoticeTemplate::new(
            "<bundled>/config/templates/rectification-notice.txt.j2",
            BUNDLED_TEMPLATE,
            "<bundled>/config/templates/clauses.toml",
            BUNDLED_CLAUSES,
        )
    }

    /// `dir` holds `rectification-notice.txt.j2` and `clauses.toml`; a file missing there is
    /// taken from the bundled copy.
    pub fn from_dir(dir: &Path) -> Result<NoticeTemplate, TemplateError> {
        let read = |name: &str, bundled: &'static str| template_file(dir, name, bundled);
        let (template_name, template) = read(TEMPLATE_NAME, BUNDLED_TEMPLATE)?;
        let (clauses_name, clauses) = read("clauses.toml", BUNDLED_CLAUSES)?;
        NoticeTemplate::new(&template_name, &template, &clauses_name, &clauses)
    }

    pub fn new(
        template_name: &str,
        template: &str,
        clauses_name: &str,
        clauses: &str,
    ) -> Result<NoticeTemplate, TemplateError> {
        let clauses: BTreeMap<String, String> = toml::from_str(clauses).map_err(|e| {
            let line = e
                .span()
                .map(|s| clauses[..s.start.min(clauses.len())].matches('\n').count() + 1)
                .unwrap_or(1);
            TemplateError::Clauses {
                name: clauses_name.to_string(),
                line,
                message: e.message().to_string(),
            }
        })?;
        let mut env = Environment::new();
        // A misspelt field must be an error, not an empty gap in a legal notice.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.add_template_owned(TEMPLATE_NAME, template.to_string())
            .map_err(|e| TemplateError::Syntax {
                name: template_name.to_string(),
                line: e.line().unwrap_or(0),
                message: e.to_string(),
            })?;
        let notice = NoticeTemplate { env, clauses };
        // Render a full set of facts once, so that a template naming a field that does not
        // exist fails at load, not when a reviewer confirms a flag.
        notice
            .render(&NoticeFacts {
                http_status: Some(200),
                ip: Some("203.0.113.1".into()),
                body_sha256: Some("0".repeat(64)),
                icp_number: Some("京ICP备05004340号-1".into()),
                more_evidence: vec![NoticeEvidence::default()],
                more_evidence_omitted: 1,
                ..NoticeFacts::default()
            })
            .map_err(|e| TemplateError::Render {
                name: template_name.to_string(),
                message: e.to_string(),
            })?;
        Ok(notice)
    }

    /// The letter's wording of a clause, or `None` when the table does not have it.
    pub fn clause_text(&self, clause: &str) -> Option<&str> {
        self.clauses.get(clause).map(String::as_str)
    }

    /// The notice for `facts`; an error message names the template's line where known.
    pub fn render(&self, facts: &NoticeFacts) -> Result<String, TemplateError> {
        let failed = |message: String| TemplateError::Render {
            name: TEMPLATE_NAME.to_string(),
            message,
        };
        let clause_cited = super::clause::cite(&facts.clause);
        let clause_text = self
            .clause_text(&facts.clause)
            .map(str::to_string)
            .unwrap_or_else(|| format!("（见责任书{clause_cited}）"));
        let template = self
            .env
            .get_template(TEMPLATE_NAME)
            .map_err(|e| failed(e.to_string()))?;
        template
            .render(minijinja::Value::from(minijinja::value::Serde(Context {
                facts,
                clause_text,
                clause_cited,
            })))
            .map_err(|e| {
                failed(match e.line() {
                    Some(line) => format!("line {line}: {e}"),
                    None => e.to_string(),
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> NoticeFacts {
        NoticeFacts {
            notice_id: "ZG-2026-000042".into(),
            provider: "某某云".into(),
            customer: "示例科技有限公司".into(),
            site_id: "s-1001".into(),
            host: "www.example.cn".into(),
            url: "http://www.example.cn/promo.html".into(),
            clause: "§2(7)".into(),
            rule: "gambling.online_casino".into(),
            description: "网络赌场推广".into(),
            category: "gambling".into(),
            severity: "high".into(),
            matched: "在线百家乐".into(),
            snippet: "注册即送彩金，在线百家乐 24 小时".into(),
            more_evidence: Vec::new(),
            more_evidence_omitted: 0,
            fetched_at: "2026-11-27T08:00:00Z".into(),
            http_status: Some(200),
            ip: Some("203.0.113.9".into()),
            body_sha256: None,
            icp_number: Some("京ICP备05004340号-1".into()),
            reviewer: "王五".into(),
            issued_at: "2026-11-27".into(),
            deadline: "2026-11-30".into(),
        }
    }

    #[test]
    fn the_bundled_notice_cites_clause_url_evidence_and_deadline() {
        let notice = NoticeTemplate::bundled().unwrap().render(&facts()).unwrap();
        for needle in [
            "整改通知书",
            "《信息源入网安全责任书》第二条第（七）项的约定",
            "淫秽、色情、赌博",
            "http://www.example.cn/promo.html",
            "在线百家乐",
            "2026-11-30 前完成整改",
            "京ICP备05004340号-1",
            "审核人：王五",
        ] {
            assert!(notice.contains(needle), "{needle} missing from:\n{notice}");
        }
        assert!(
            !notice.contains("SHA-256"),
            "no body hash, no line:\n{notice}"
        );
        assert!(
            !notice.contains("其他命中"),
            "no more evidence, no line:\n{notice}"
        );
    }

    #[test]
    fn the_bundled_notice_lists_more_evidence_and_counts_the_rest() {
        let notice = NoticeTemplate::bundled()
            .unwrap()
            .render(&NoticeFacts {
                more_evidence: vec![NoticeEvidence {
                    rule: "gambling.bet".into(),
                    matched: "投注".into(),
                    snippet: "足球投注 返水".into(),
                }],
                more_evidence_omitted: 3,
                ..facts()
            })
            .unwrap();
        assert!(
            notice.contains("  其他命中：投注（上下文：足球投注 返水）\n"),
            "{notice}"
        );
        assert!(notice.contains("另有 3 处命中"), "{notice}");
    }

    #[test]
    fn every_clause_a_rule_can_carry_has_its_text() {
        let template = NoticeTemplate::bundled().unwrap();
        for n in 1..=11 {
            assert!(
                template.clause_text(&format!("§2({n})")).is_some(),
                "§2({n})"
            );
        }
        for clause in ["§3", "§4", "§5", "§6"] {
            assert!(template.clause_text(clause).is_some(), "{clause}");
        }
        let unknown = template
            .render(&NoticeFacts {
                clause: "§12".into(),
                ..facts()
            })
            .unwrap();
        assert!(unknown.contains("见责任书第十二条"), "{unknown}");
        let odd = template
            .render(&NoticeFacts {
                clause: "附件一".into(),
                ..facts()
            })
            .unwrap();
        assert!(odd.contains("》附件一的约定"), "{odd}");
        assert!(!odd.contains('§') && !odd.contains("第附件"), "{odd}");
    }

    #[test]
    fn a_template_with_a_misspelt_field_fails_at_load_with_its_line() {
        let error = NoticeTemplate::new(
            "n.txt.j2",
            "致：{{ customer }}\n网址：{{ ulr }}",
            "c.toml",
            BUNDLED_CLAUSES,
        )
        .unwrap_err();
        assert!(matches!(error, TemplateError::Render { .. }), "{error:?}");
        let error = error.to_string();
        assert!(error.starts_with("n.txt.j2"), "{error}");
        assert!(
            error.contains("ulr") || error.contains("undefined"),
            "{error}"
        );
        let error =
            NoticeTemplate::new("n.txt.j2", "{% if %}", "c.toml", BUNDLED_CLAUSES).unwrap_err();
        assert!(
            matches!(error, TemplateError::Syntax { line: 1, .. }),
            "{error:?}"
        );
        assert!(error.to_string().starts_with("n.txt.j2:1"), "{error}");
        let error = NoticeTemplate::new("n.txt.j2", "x", "c.toml", "\"§3\" = 3\n").unwrap_err();
        assert!(error.to_string().starts_with("c.toml:1"), "{error}");
    }

    #[test]
    fn evidence_is_quoted_as_is_in_a_text_notice() {
        let hostile = NoticeFacts {
            matched: "<script>alert(1)</script>".into(),
            ..facts()
        };
        let notice = NoticeTemplate::bundled().unwrap().render(&hostile).unwrap();
        // A text notice quotes the evidence exactly; whoever shows it as HTML escapes it.
        assert!(notice.contains("<script>alert(1)</script>"));
    }

    #[test]
    fn operators_override_files_in_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(TEMPLATE_NAME),
            "{{ customer }} / {{ clause_text }}",
        )
        .unwrap();
        let template = NoticeTemplate::from_dir(dir.path()).unwrap();
        let text = template.render(&facts()).unwrap();
        assert!(text.starts_with("示例科技有限公司 / 不得制作"), "{text}");
    }
}
