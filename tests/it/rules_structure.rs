//! Structural checks (`check`, `requires`), page examples, several `near` contexts,
//! `min_distinct` and operator placeholder rules, end to end through the loader.

use std::path::Path;

use sitepatrol_core::extract::{ZoneKind, extract_html};
use sitepatrol_core::finding::Finding;
use sitepatrol_core::rules::{self, Diagnostic, Level, RuleSource, Ruleset};

fn from_text(text: &str) -> Result<(Ruleset, Vec<Diagnostic>), Vec<Diagnostic>> {
    match rules::check(&[RuleSource::Text {
        name: "t.toml".into(),
        text: text.into(),
    }]) {
        (Some(r), d) if d.iter().all(|d| d.level != Level::Error) => Ok((r, d)),
        (_, d) => Err(d),
    }
}

fn ruleset(text: &str) -> Ruleset {
    from_text(text).unwrap_or_else(|d| panic!("{d:#?}")).0
}

fn errors(text: &str) -> Vec<String> {
    match from_text(text) {
        Ok(_) => Vec::new(),
        Err(d) => d
            .iter()
            .filter(|d| d.level == Level::Error)
            .map(|d| d.to_string())
            .collect(),
    }
}

fn scan_page(ruleset: &Ruleset, html: &str, url: Option<&str>) -> Vec<Finding> {
    let page = url.map(|u| url::Url::parse(u).unwrap());
    let document = extract_html(html, page.as_ref());
    ruleset.rule_findings_document(&document, "page.html")
}

const CHECKS: &str = r#"
[[rule]]
id = "m.hidden_iframe"
category = "malware"
clause = "§2(10)"
severity = "high"
description = "hidden iframe to another site"
check = { kind = "hidden_iframe", allow_domains = ["googletagmanager.com"] }
examples.match = [{ html = '<iframe src="http://evil.test/" width="0" height="0"></iframe>' }]
examples.no_match = [
  { html = '<iframe src="http://video.test/"></iframe>' },
  { html = '<iframe src="https://www.googletagmanager.com/ns.html" height="0" width="0" style="display:none"></iframe>' },
  { html = '<iframe src="http://site.test/own" width="0" height="0"></iframe>', url = "http://www.site.test/" },
]

[[rule]]
id = "m.link_farm"
category = "malware"
clause = "§2(10)"
severity = "high"
description = "hidden link farm"
check = { kind = "hidden_links", min_links = 3, min_hosts = 2 }
examples.match = [{ html = '<div style="display:none"><a href="http://a.test/">1</a><a href="http://b.test/">2</a><a href="http://a.test/x">3</a></div>' }]
examples.no_match = [{ html = '<div style="display:none"><a href="http://a.test/">1</a><a href="http://b.test/">2</a></div>' }]

[[rule]]
id = "p.brand_login"
category = "phishing"
clause = "§2(10)"
severity = "critical"
description = "bank brand near login, on a page with a password form"
terms = ["网上银行"]
zones = ["title", "text"]
near = { terms = ["登录", "登陆"], within = 10 }
requires = { kind = "password_form" }
examples.match = [{ html = '<title>XX银行个人网上银行登录</title><form action="x.php"><input type="password"></form>' }]
examples.no_match = ["网上银行登录", { html = '<title>个人网上银行登录指南</title><p>请勿在陌生网站输入密码</p>' }]
"#;

#[test]
fn check_findings_carry_zone_matched_snippet_and_offset() {
    let ruleset = ruleset(CHECKS);
    let html = r#"<html><body><a href="http://www.site.test/">首页</a>
        <iframe src="http://evil.test/exploit.html" width="0" height="0"></iframe>
        <iframe src="http://evil.test/exploit.html" style="display:none"></iframe>
        <div style="position:absolute;left:-9999px">
        <a href="http://casino-a.test/">百家乐</a><a href="http://casino-b.test/">六合彩</a>
        <a href="http://casino-a.test/2">时时彩</a><a href="http://www.site.test/menu">菜单</a>
        </div></body></html>"#;
    let document = extract_html(html, None);
    let findings = ruleset.rule_findings_document(&document, "page.html");
    let iframe = findings
        .iter()
        .find(|f| &*f.rule == "m.hidden_iframe")
        .expect("hidden iframe found");
    assert_eq!(iframe.zone, Some(ZoneKind::Iframe));
    assert_eq!(iframe.matched, "http://evil.test/exploit.html");
    assert_eq!(iframe.count, 2);
    let zone = &document.zone(ZoneKind::Iframe).unwrap().text;
    assert_eq!(
        &zone[iframe.offset..][..iframe.matched.len()],
        iframe.matched
    );
    let farm = findings
        .iter()
        .find(|f| &*f.rule == "m.link_farm")
        .expect("link farm found");
    assert_eq!(farm.zone, Some(ZoneKind::Link));
    assert_eq!(farm.matched, "http://casino-a.test/");
    // The hidden menu link goes where a visible link goes: not counted.
    assert_eq!(farm.count, 3);
    let zone = &document.zone(ZoneKind::Link).unwrap().text;
    assert_eq!(&zone[farm.offset..][..farm.matched.len()], farm.matched);
    assert!(farm.snippet.contains("百家乐"), "{farm:?}");
}

#[test]
fn requires_gates_text_hits_on_the_page_structure() {
    let ruleset = ruleset(CHECKS);
    let login = r#"<title>中国XX银行 个人网上银行登录</title>
        <form action="https://collect.test/a.php"><input name=u><input type=password name=p></form>"#;
    let f = scan_page(&ruleset, login, None);
    let brand = f
        .iter()
        .find(|f| &*f.rule == "p.brand_login")
        .expect("found");
    assert_eq!(brand.zone, Some(ZoneKind::Title));
    assert_eq!(brand.matched, "网上银行");
    // The same title without a password form, and the text alone, are no findings.
    let no_form = "<title>中国XX银行 个人网上银行登录</title><p>欢迎</p>";
    assert!(scan_page(&ruleset, no_form, None).is_empty());
    assert!(
        ruleset
            .rule_findings_text(ZoneKind::Title, "个人网上银行登录", "t")
            .is_empty()
    );
}

#[test]
fn check_validation_names_the_problem() {
    let base = |extra: &str| {
        format!(
            "[[rule]]\nid = \"x.y\"\ncategory = \"malware\"\nclause = \"§2(10)\"\nseverity = \"high\"\ndescription = \"d\"\n{extra}\n"
        )
    };
    let e = errors(&base(r#"check = { kind = "hidden_frames" }"#));
    assert!(
        e.iter()
            .any(|e| e.contains("unknown `check` kind `hidden_frames`") && e.contains("t.toml:7:")),
        "{e:#?}"
    );
    let e = errors(&base(
        r#"check = { kind = "hidden_iframe", min_links = 3 }"#,
    ));
    assert!(
        e.iter().any(|e| e.contains("`min_links` does not apply")),
        "{e:#?}"
    );
    let e = errors(&base(
        "check = { kind = \"hidden_links\" }\nzones = [\"link\"]",
    ));
    assert!(
        e.iter().any(|e| e.contains("`zones` does not apply")),
        "{e:#?}"
    );
    let e = errors(&base(
        "check = { kind = \"hidden_links\" }\nterms = [\"x\"]",
    ));
    assert!(
        e.iter().any(|e| e.contains("write `requires` instead")),
        "{e:#?}"
    );
    let e = errors(&base(
        "terms = [\"x\"]\nrequires = { kind = \"password_form\" }\nexamples.match = [\"x\"]",
    ));
    assert!(
        e.iter()
            .any(|e| e.contains("t.toml:9:") && e.contains("{ html = ")),
        "{e:#?}"
    );
    let e = errors(&base("check = { kind = \"hidden_links\", min_links = 0 }"));
    assert!(
        e.iter()
            .any(|e| e.contains("`min_links` must be at least 1")),
        "{e:#?}"
    );
    let e = errors(&base(
        "terms = [\"x\"]\nexamples.match = [{ html = \"<p>x</p>\", url = \"not a url\" }]",
    ));
    assert!(
        e.iter().any(|e| e.contains("not an absolute URL")),
        "{e:#?}"
    );
    let e = errors(&base(r#"check = { kind = "script_branch" }"#));
    assert!(
        e.iter().any(|e| e.contains("needs a `condition`")),
        "{e:#?}"
    );
    let e = errors(&base(
        r#"check = { kind = "script_branch", condition = [["referrer"], []] }"#,
    ));
    assert!(
        e.iter()
            .any(|e| e.contains("a `condition` group has no terms")),
        "{e:#?}"
    );
    let e = errors(&base(
        r#"check = { kind = "hidden_iframe", condition = [["x"]], min_encoded = 3 }"#,
    ));
    assert!(
        e.iter().any(|e| e.contains("`condition` does not apply"))
            && e.iter().any(|e| e.contains("`min_encoded` does not apply")),
        "{e:#?}"
    );
    let e = errors(&base(
        r#"check = { kind = "encoded_script", min_encoded = 0 }"#,
    ));
    assert!(
        e.iter()
            .any(|e| e.contains("`min_encoded` must be at least 1")),
        "{e:#?}"
    );
    let e = errors(&base(
        r#"check = { kind = "written_iframe", allow_list = "missing.txt" }"#,
    ));
    assert!(e.iter().any(|e| e.contains("missing.txt")), "{e:#?}");
}

/// The script checks end to end: evidence in the `script` zone of a page and the `js` zone of
/// a JavaScript file, quoting the call or the `if` as the page has it.
#[test]
fn script_check_findings_quote_the_script() {
    let ruleset = ruleset(
        r#"
[[rule]]
id = "m.writer"
category = "malware"
clause = "§2(10)"
severity = "high"
description = "written hidden iframe"
check = { kind = "written_iframe", allow_list = "bundled:lists/allow/ad-analytics-hosts.txt" }
examples.match = [{ html = '<script>document.write("<iframe src=http://e.test/ width=0>")</script>' }]
examples.no_match = [{ html = '<script>document.write("<iframe src=https://g.163.com/r width=0>")</script>' }]

[[rule]]
id = "m.hijack"
category = "malware"
clause = "§2(10)"
severity = "high"
description = "search referrer redirect"
check = { kind = "script_branch", condition = [["referrer"], ["baidu", "sogou"]] }
examples.match = [{ html = '<script>if (/baidu/.test(document.referrer)) location.href = "http://bet.test/";</script>' }]
examples.no_match = [{ html = '<script>if (/baidu/.test(document.referrer)) _hmt.push(["seo"]);</script>' }]
"#,
    );
    let html = r#"<p>首页</p><script>var x = 1;
document.write('<iframe src="http://e.test/a.htm" width="0" height="0"></iframe>');</script>"#;
    let document = extract_html(html, None);
    let findings = ruleset.scan_document(&document, "page.html");
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!(f.zone, Some(ZoneKind::Script));
    assert!(f.matched.starts_with("document.write('<iframe"), "{f:?}");
    let zone = &document.zone(ZoneKind::Script).unwrap().text;
    assert_eq!(&zone[f.offset..][..f.matched.len()], f.matched);

    let js = "(function(){\n  var r = document.referrer;\n  if (r.indexOf('sogou') > 0) { top.location.replace('http://bet.test/'); }\n})();";
    let document = sitepatrol_core::extract::extract_js(js, None);
    let findings = ruleset.scan_document(&document, "hijack.js");
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0].zone, Some(ZoneKind::Js));
    assert_eq!(findings[0].matched, "if (r.indexOf('sogou') > 0)");
}

#[test]
fn failing_page_examples_are_reported() {
    let text = r#"[[rule]]
id = "m.iframe"
category = "malware"
clause = "§2(10)"
severity = "high"
description = "d"
check = { kind = "hidden_iframe" }
examples.match = [{ html = '<iframe src="http://video.test/"></iframe>' }]
"#;
    let e = errors(text);
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(
        e[0].contains("t.toml:8:") && e[0].contains("does not match"),
        "{e:#?}"
    );
}

#[test]
fn every_near_context_must_hold_and_min_distinct_counts_different_matches() {
    let ruleset = ruleset(
        r#"
[[rule]]
id = "m.hijack"
category = "malware"
clause = "§2(10)"
severity = "high"
description = "referrer check for a search engine, then a redirect"
zones = ["script"]
terms = ["document.referrer"]
near = [{ terms = ["baidu", "sogou"], within = 60 }, { terms = ["location.href", "window.location"], within = 120 }]
examples.match = [{ zone = "script", text = 'var r = document.referrer; if (r.indexOf("baidu") > 0) { window.location = "http://x.test/"; }' }]
examples.no_match = [{ zone = "script", text = 'var r = document.referrer; if (r.indexOf("baidu") > 0) { track(r); }' }]

[[rule]]
id = "g.terms"
category = "gambling"
clause = "§2(7)"
severity = "high"
description = "two different betting terms"
terms = ["百家乐", "龙虎斗", "牛牛"]
min_distinct = 2
examples.match = ["百家乐 龙虎斗"]
examples.no_match = ["百家乐 百家乐 百家乐"]
"#,
    );
    let script = |t: &str| ruleset.rule_findings_text(ZoneKind::Script, t, "t");
    assert_eq!(
        script("var s=document.referrer;if(s.indexOf('sogou')>=0){location.href='http://x.test/'}")
            .len(),
        1
    );
    assert!(script("var s=document.referrer; location.href='http://x.test/'").is_empty());
    let text = |t: &str| ruleset.rule_findings_text(ZoneKind::Text, t, "t");
    assert!(text("百家乐，百家乐！").is_empty());
    assert_eq!(text("百家乐，牛牛！").len(), 2);
}

fn operator_dir(list: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("lists")).unwrap();
    std::fs::write(dir.path().join("lists/regulator.txt"), list).unwrap();
    std::fs::write(
        dir.path().join("op.toml"),
        r#"[[rule]]
id = "op.regulator_list"
category = "other_prohibited"
clause = "§2(11)"
severity = "high"
description = "the regulator's list"
operator_list = true
terms_file = "lists/regulator.txt"
examples.match = ["受限词甲"]
examples.no_match = ["今天天气很好", "公司新闻", "产品介绍"]
"#,
    )
    .unwrap();
    dir
}

fn check_dir(dir: &Path) -> (Option<Ruleset>, Vec<Diagnostic>) {
    rules::check(&[RuleSource::Path(dir.to_path_buf())])
}

#[test]
fn an_empty_operator_list_loads_silently_and_matches_nothing() {
    let dir = operator_dir("# The regulator's list goes here, one term per line.\n");
    let (ruleset, diagnostics) = check_dir(dir.path());
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    let ruleset = ruleset.unwrap();
    let rule = ruleset.rule("op.regulator_list").unwrap();
    assert!(rule.operator_list && !rule.is_active());
    assert!(
        ruleset
            .rule_findings_text(ZoneKind::Text, "受限词甲", "t")
            .is_empty()
    );
}

#[test]
fn a_loaded_operator_list_matches_and_its_examples_run() {
    let dir = operator_dir("受限词甲\n受限词乙\n");
    let (ruleset, diagnostics) = check_dir(dir.path());
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    let ruleset = ruleset.unwrap();
    assert!(ruleset.rule("op.regulator_list").unwrap().is_active());
    assert_eq!(
        ruleset
            .rule_findings_text(ZoneKind::Text, "含有受限词乙的文字", "t")
            .len(),
        1
    );
    // An operator list full of ordinary words fails the rule's no_match examples.
    let dir = operator_dir("受限词甲\n天气\n");
    let (_, diagnostics) = check_dir(dir.path());
    assert!(
        diagnostics
            .iter()
            .any(|d| d.level == Level::Error && d.message.contains("no_match example matches")),
        "{diagnostics:#?}"
    );
}

#[test]
fn operator_rules_take_terms_from_their_files_only() {
    let e = errors(
        r#"[[rule]]
id = "op.inline"
category = "rumors"
clause = "§2(6)"
severity = "high"
description = "d"
operator_list = true
terms = ["x"]
"#,
    );
    assert!(
        e.iter()
            .any(|e| e.contains("takes its terms from its `terms_file` only")),
        "{e:#?}"
    );
    assert!(
        e.iter().any(|e| e.contains("needs a `terms_file`")),
        "{e:#?}"
    );
    // A rule that is not an operator rule still may not have an empty list silently.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty.txt"), "# nothing\n").unwrap();
    std::fs::write(
        dir.path().join("r.toml"),
        "[[rule]]\nid = \"x.empty\"\ncategory = \"gambling\"\nclause = \"§2(7)\"\nseverity = \"high\"\ndescription = \"d\"\nterms_file = \"empty.txt\"\n",
    )
    .unwrap();
    let (_, d) = check_dir(dir.path());
    assert!(
        d.iter()
            .any(|d| d.level == Level::Warning && d.message.contains("has no terms")),
        "{d:#?}"
    );
    assert!(
        d.iter()
            .any(|d| d.level == Level::Error && d.message.contains("can never match")),
        "{d:#?}"
    );
}

#[test]
fn contexts_are_other_text_and_excluded_spans_are_no_context() {
    let ruleset = ruleset(
        r#"
[[rule]]
id = "p.pairs"
category = "pornography"
clause = "§2(7)"
severity = "high"
description = "two explicit words close together"
terms = ["口交", "肛交", "乱伦"]
near = { terms = ["口交", "肛交", "乱伦"], within = 10 }
examples.match = ["口交肛交"]
examples.no_match = ["口交", "口交。\n\n\n很多很多很多很多很多很多很多字以后，肛交"]

[[rule]]
id = "f.cash_out"
category = "fraud"
clause = "§2(9)"
severity = "high"
description = "套现, unless a warning is near; a scam's own 不是骗局 is no warning"
terms = ["花呗套现"]
exclude = ["不是骗局"]
exclude_near = { terms = ["骗局"], within = 10 }
examples.match = ["花呗套现，不是骗局"]
examples.no_match = ["警惕花呗套现骗局"]

[[rule]]
id = "d.docs"
category = "fake_documents"
clause = "§2(7)"
severity = "high"
description = "办证 near 可查, but 可查询 is not 可查"
terms = ["办证"]
near = { terms = ["可查"], within = 10 }
exclude = ["可查询"]
examples.match = ["办证 学信网可查"]
examples.no_match = ["办证大厅 进度可查询"]
"#,
    );
    let text = |t: &str| ruleset.rule_findings_text(ZoneKind::Text, t, "t");
    // A term is not its own context.
    assert!(text("口交").is_empty());
    assert_eq!(text("乱伦 口交").len(), 2);
    assert_eq!(text("花呗套现，不是骗局").len(), 1);
    assert!(text("花呗套现是骗局").is_empty());
    assert!(text("办证大厅，进度可查询").is_empty());
    assert_eq!(text("办证，档案可查").len(), 1);
}

#[test]
fn ascii_terms_do_not_touch_letters_of_other_alphabetic_scripts() {
    let ruleset = ruleset(
        r#"
[[rule]]
id = "g.bbin"
category = "gambling"
clause = "§2(7)"
severity = "high"
description = "a casino brand written in Latin letters"
terms = ["bbin"]
skip_noise = true
examples.match = ["BBIN真人", "b b i n 真人"]
examples.no_match = ["Ez utóbbin gyönyörű", "a többi néhány hónap", "bbinary"]
"#,
    );
    let text = |t: &str| ruleset.rule_findings_text(ZoneKind::Text, t, "t");
    assert_eq!(text("BBIN真人视讯").len(), 1);
    assert!(text("Ez utóbbin gyönyörű háttérzene").is_empty());
    assert!(text("a többi néhány hónapban").is_empty());
    assert!(text("Привет bbinд").is_empty());
}
