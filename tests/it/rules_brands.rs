//! The `brand_credentials` check end to end: its brands file is loaded relative to the rule's
//! file (and is not read as a rules file), its problems are reported at its own lines, its
//! options are validated, and a page claiming a brand off the brand's domains is found.

use std::path::Path;

use sitepatrol_core::extract::extract_html;
use sitepatrol_core::rules::{self, Diagnostic, Level, RuleSource, Ruleset};

const BRANDS: &str = r#"# brands for the test
[claim]
login = ["sign in", "log in", "login", "登录", "安全中心"]
about = ["phishing", "如何"]
via_before = ["with", "使用"]
via_after = ["快捷登录"]
copyright = ["©", "版权所有"]
max_gap = 3

[credentials.password]
input_types = ["password"]
contains = ["password", "密码"]
words = ["pin"]

[credentials.card]
contains = ["cc_number", "卡号"]

[credentials.seed]
contains = ["seed phrase", "助记词"]

[credentials.id_number]
contains = ["身份证"]

[[brand]]
id = "paypal"
names = ["PayPal"]
domains = ["paypal.com", "paypal.*"]

[[brand]]
id = "tencent"
names = ["QQ", "微信", "微信安全中心"]
domains = ["qq.com", "wechat.com"]
"#;

fn rule(check: &str) -> String {
    format!(
        r#"[[rule]]
id = "p.brand"
category = "phishing"
clause = "§2(10)"
severity = "high"
weight = 1.5
description = "brand claimed off its domains"
check = {check}
examples.match = [{{ html = '<title>PayPal - Log In</title><form action="post.php"><input type="password"></form>' }}]
examples.no_match = [{{ html = '<title>PayPal - Log In</title><form action="post.php"><input type="password"></form>', url = "https://www.paypal.com/signin" }}]
"#
    )
}

const CHECK: &str = r#"{ kind = "brand_credentials", brands_file = "lists/brands.toml" }"#;

fn dir_with(rules_toml: &str, brands: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("lists")).unwrap();
    std::fs::write(dir.path().join("phishing.toml"), rules_toml).unwrap();
    std::fs::write(dir.path().join("lists/brands.toml"), brands).unwrap();
    dir
}

fn check_dir(dir: &Path) -> (Option<Ruleset>, Vec<Diagnostic>) {
    rules::check(&[RuleSource::Path(dir.to_path_buf())])
}

fn errors(diagnostics: &[Diagnostic]) -> Vec<String> {
    diagnostics
        .iter()
        .filter(|d| d.level == Level::Error)
        .map(|d| d.to_string())
        .collect()
}

fn matched(ruleset: &Ruleset, html: &str, url: Option<&str>) -> Vec<String> {
    let page = url.map(|u| url::Url::parse(u).unwrap());
    let document = extract_html(html, page.as_ref());
    ruleset
        .rule_findings_document(&document, url.unwrap_or("page.html"))
        .into_iter()
        .map(|f| format!("{}:{}", f.rule, f.matched))
        .collect()
}

#[test]
fn the_brands_file_loads_beside_the_rules_and_is_no_rules_file() {
    let dir = dir_with(&rule(CHECK), BRANDS);
    let (ruleset, diagnostics) = check_dir(dir.path());
    assert!(errors(&diagnostics).is_empty(), "{diagnostics:#?}");
    let ruleset = ruleset.unwrap();
    assert_eq!(ruleset.rules().len(), 1);

    let clone = r#"<title>Log in to your PayPal account</title>
        <a href="https://www.paypal.com/help">Help</a>
        <form action="login.php" method="post"><input name="email"><input type="password" name="pw"></form>"#;
    assert_eq!(matched(&ruleset, clone, None), ["p.brand:PayPal"]);
    assert_eq!(
        matched(&ruleset, clone, Some("http://paypal-secure.example.test/x")),
        ["p.brand:PayPal"]
    );
    assert!(matched(&ruleset, clone, Some("https://www.paypal.de/signin")).is_empty());
    let to_brand = r#"<title>PayPal - Log In</title>
        <form action="https://www.paypal.com/signin"><input type="password"></form>"#;
    assert!(matched(&ruleset, to_brand, None).is_empty());
    let oauth =
        r#"<title>会员登录 - 论坛</title><p>使用QQ登录</p><form><input type="password"></form>"#;
    assert!(matched(&ruleset, oauth, None).is_empty());
}

#[test]
fn problems_of_the_brands_file_are_reported_at_its_lines() {
    let bad = BRANDS
        .replace(
            r#"domains = ["qq.com", "wechat.com"]"#,
            r#"domains = ["qq.com", "not a domain"]"#,
        )
        .replace(r#"words = ["pin"]"#, r#"words = ["p i n"]"#);
    let dir = dir_with(&rule(CHECK), &bad);
    let (ruleset, diagnostics) = check_dir(dir.path());
    assert!(ruleset.is_none());
    let errs = errors(&diagnostics);
    let brands_file = dir.path().join("lists/brands.toml").display().to_string();
    assert!(
        errs.iter()
            .any(|e| e.starts_with(&format!("{brands_file}:32:")) && e.contains("not a domain")),
        "{errs:#?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.starts_with(&format!("{brands_file}:13:")) && e.contains("p i n")),
        "{errs:#?}"
    );
    // A brands file that is not TOML is reported with its line too.
    let dir = dir_with(&rule(CHECK), "[claim]\nlogin = [\"登录\"\n");
    let (_, diagnostics) = check_dir(dir.path());
    assert!(
        errors(&diagnostics)
            .iter()
            .any(|e| e.contains("lists/brands.toml:")),
        "{diagnostics:#?}"
    );
}

#[test]
fn options_are_validated_at_the_rules_line() {
    let cases = [
        (r#"{ kind = "brand_credentials" }"#, "needs `brands_file`"),
        (
            r#"{ kind = "brand_credentials", brands_file = "lists/nope.toml" }"#,
            "cannot read brands file",
        ),
        (
            r#"{ kind = "brand_credentials", brands_file = "lists/brands.toml", claim = ["footer"] }"#,
            "unknown `claim` \"footer\"",
        ),
        (
            r#"{ kind = "brand_credentials", brands_file = "lists/brands.toml", credentials = [] }"#,
            "`credentials` is empty",
        ),
        (
            r#"{ kind = "password_form", claim = ["title"] }"#,
            "`claim` does not apply to `check` kind `password_form`",
        ),
    ];
    for (check, want) in cases {
        let dir = dir_with(&rule(check), BRANDS);
        let (_, diagnostics) = check_dir(dir.path());
        let errs = errors(&diagnostics);
        assert!(
            errs.iter()
                .any(|e| e.contains("phishing.toml:8:") && e.contains(want)),
            "{check}: want {want:?} in {errs:#?}"
        );
    }
}

#[test]
fn the_bundled_brands_table_loads() {
    let (ruleset, diagnostics) = rules::check(&[RuleSource::Bundled]);
    assert!(errors(&diagnostics).is_empty(), "{diagnostics:#?}");
    let ruleset = ruleset.unwrap();
    assert!(
        ruleset
            .rules()
            .iter()
            .any(|r| r.id.as_ref() == "phishing.brand_credentials")
    );
    let page = r#"<title>Sign in to your Microsoft account</title>
        <form action="post.php" method="post"><input name="loginfmt"><input type="password" name="passwd"></form>"#;
    let found = matched(&ruleset, page, None);
    assert!(
        found
            .iter()
            .any(|f| f.starts_with("phishing.brand_credentials:Microsoft")),
        "{found:?}"
    );
    assert!(
        matched(&ruleset, page, Some("https://login.live.com/login.srf"))
            .iter()
            .all(|f| !f.starts_with("phishing.brand_credentials:")),
    );
}
