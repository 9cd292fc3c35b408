//! The rule engine end to end: loading, validation errors, evasion handling and the context
//! conditions, on the fixture rulesets under tests/fixtures/rules.

use std::path::PathBuf;

use sitepatrol_core::extract::ZoneKind;
use sitepatrol_core::finding::Finding;
use sitepatrol_core::rules::{self, Diagnostic, Level, RuleSource, Ruleset};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/rules")
        .join(name)
}

fn engine() -> Ruleset {
    match rules::load(&[RuleSource::Path(fixture("engine"))]) {
        Ok((ruleset, _warnings)) => ruleset,
        Err(diagnostics) => panic!("fixture rules do not load: {diagnostics:#?}"),
    }
}

fn scan(ruleset: &Ruleset, text: &str) -> Vec<Finding> {
    ruleset.rule_findings_text(ZoneKind::Text, text, "test")
}

fn rule_ids(findings: &[Finding]) -> Vec<&str> {
    let mut ids: Vec<&str> = findings.iter().map(|f| &*f.rule).collect();
    ids.sort();
    ids.dedup();
    ids
}

fn finding<'a>(findings: &'a [Finding], rule: &str) -> &'a Finding {
    findings
        .iter()
        .find(|f| &*f.rule == rule)
        .unwrap_or_else(|| panic!("no finding of {rule} in {findings:#?}"))
}

#[test]
fn fixture_rules_pass_their_own_examples() {
    let (ruleset, diagnostics) = rules::check(&[RuleSource::Path(fixture("engine"))]);
    let errors: Vec<&Diagnostic> = diagnostics
        .iter()
        .filter(|d| d.level == Level::Error)
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(ruleset.expect("loads").rules().len(), 9);
}

#[test]
fn every_evasion_form_meets_the_term_and_quotes_the_original() {
    let ruleset = engine();
    let cases = [
        ("欢迎来到赌 博网站", "赌 博"),
        ("欢迎来到賭博網站", "賭博"),
        ("最新ＡＶ在线观看", "ＡＶ在线"),
        ("欢迎来到赌\u{200B}博网站", "赌\u{200B}博"),
        ("欢迎来到赌*博网站", "赌*博"),
        ("欢迎来到赌.博网站", "赌.博"),
        ("欢迎来到賭\u{200D} 博网站", "賭\u{200D} 博"),
    ];
    for (text, quoted) in cases {
        let findings = scan(&ruleset, text);
        let f = finding(&findings, "test.gambling_plain");
        assert_eq!(f.matched, quoted, "in {text:?}");
        assert_eq!(&text[f.offset..f.offset + f.matched.len()], quoted);
        assert_eq!(f.zone, Some(ZoneKind::Text));
        assert!(f.snippet.contains(quoted), "{f:?}");
        assert_eq!(f.severity, sitepatrol_core::finding::Severity::High);
        assert_eq!(&*f.clause, "§2(7)");
    }
}

#[test]
fn noise_gap_is_bounded() {
    let ruleset = engine();
    assert!(rule_ids(&scan(&ruleset, "赌 . 博")).contains(&"test.gambling_plain"));
    // Four noise characters between the two characters joins unrelated words: not a hit.
    assert!(!rule_ids(&scan(&ruleset, "赌。 。 博")).contains(&"test.gambling_plain"));
}

#[test]
fn overlapping_terms_of_different_rules_both_report() {
    let ruleset = engine();
    let findings = scan(&ruleset, "网上赌博");
    assert_eq!(
        rule_ids(&findings),
        vec!["test.gambling_plain", "test.online_gambling"]
    );
    assert_eq!(
        finding(&findings, "test.online_gambling").matched,
        "网上赌博"
    );
    assert_eq!(finding(&findings, "test.gambling_plain").matched, "赌博");
}

#[test]
fn scunthorpe_contexts_cancel_only_the_hits_they_contain() {
    let ruleset = engine();
    assert!(scan(&ruleset, "前方路口交通拥堵").is_empty());
    let findings = scan(&ruleset, "前方路口交通拥堵，另有口交视频");
    let f = finding(&findings, "test.oral");
    assert_eq!(f.count, 1);
    assert_eq!(f.offset, "前方路口交通拥堵，另有".len());
}

#[test]
fn near_requires_the_context_within_the_distance() {
    let ruleset = engine();
    assert!(rule_ids(&scan(&ruleset, "xx娱乐城注册送58元")).contains(&"test.casino_near_signup"));
    let far = format!("娱乐城{}注册", "很".repeat(11));
    assert!(!rule_ids(&scan(&ruleset, &far)).contains(&"test.casino_near_signup"));
    let just_within = format!("娱乐城{}注册", "很".repeat(10));
    assert!(rule_ids(&scan(&ruleset, &just_within)).contains(&"test.casino_near_signup"));
    // The context may come first.
    assert!(rule_ids(&scan(&ruleset, "充值就送，娱乐城")).contains(&"test.casino_near_signup"));
}

#[test]
fn min_hits_counts_hits_across_the_document() {
    let ruleset = engine();
    assert!(!rule_ids(&scan(&ruleset, "百家乐")).contains(&"test.min_hits"));
    let findings = ruleset.rule_findings(
        &ruleset.text_evidence(&[(ZoneKind::Title, "百家乐"), (ZoneKind::Text, "今日牛牛")]),
        "test",
    );
    assert_eq!(
        findings
            .iter()
            .filter(|f| &*f.rule == "test.min_hits")
            .count(),
        2
    );
}

#[test]
fn exclude_near_cancels_news_about_a_crackdown() {
    let ruleset = engine();
    assert!(scan(&ruleset, "警方捣毁一个六合彩窝点").is_empty());
    assert!(rule_ids(&scan(&ruleset, "六合彩开奖直播")).contains(&"test.news_guard"));
}

#[test]
fn ascii_terms_respect_word_boundaries() {
    let ruleset = engine();
    assert!(scan(&ruleset, "we have avatars").is_empty());
    assert!(rule_ids(&scan(&ruleset, "日本AV在线")).contains(&"test.ascii_word"));
    assert!(rule_ids(&scan(&ruleset, "(AV)")).contains(&"test.ascii_word"));
}

#[test]
fn regexes_run_on_normalized_text() {
    let ruleset = engine();
    let findings = scan(&ruleset, "高薪刷单兼职，加ＱＱ：１２３４５６７８");
    let f = finding(&findings, "test.qq_regex");
    assert_eq!(f.matched, "刷单兼职，加ＱＱ：１２３４５６７８");
}

#[test]
fn zone_restrictions_and_terms_files() {
    let ruleset = engine();
    // The host list applies to links only, not to visible text.
    assert!(!rule_ids(&scan(&ruleset, "bad-porn.example")).contains(&"test.links_only"));
    let findings =
        ruleset.rule_findings_text(ZoneKind::Link, "https://www.bad-porn.example/ 进入", "t");
    assert_eq!(
        finding(&findings, "test.links_only").matched,
        "bad-porn.example"
    );
    let findings = ruleset.rule_findings_text(ZoneKind::Link, "https://notbad-porn.example/", "t");
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn repeated_matches_are_one_finding_with_a_count() {
    let ruleset = engine();
    let text = "赌博 赌博\n赌博";
    let findings = scan(&ruleset, text);
    let f = finding(&findings, "test.gambling_plain");
    assert_eq!((f.count, f.offset), (3, 0));
}

#[test]
fn every_error_is_reported_at_once_with_file_line_and_rule() {
    let Err(diagnostics) = rules::load(&[RuleSource::Path(fixture("broken/broken.toml"))]) else {
        panic!("broken rules loaded");
    };
    let errors: Vec<String> = diagnostics
        .iter()
        .filter(|d| d.level == Level::Error)
        .map(|d| d.to_string())
        .collect();
    let expect = |line: usize, rule: &str, text: &str| {
        assert!(
            errors
                .iter()
                .any(|e| e.contains(&format!("broken.toml:{line}:"))
                    && e.contains(&format!("rule `{rule}`"))
                    && e.contains(text)),
            "no error at line {line} for {rule} mentioning {text:?} in {errors:#?}"
        );
    };
    expect(7, "broken.bad_regex", "bad regex");
    expect(15, "broken.unknown_field", "termz");
    expect(19, "broken.missing_file", "unknown category `nonsense`");
    expect(20, "broken.missing_file", "clause `2(7)`");
    expect(21, "broken.missing_file", "unknown severity `severe`");
    expect(23, "broken.missing_file", "does-not-exist.txt");
    expect(24, "broken.missing_file", "unknown zone `txt`");
    expect(
        26,
        "broken.bad_regex",
        "duplicate rule id, first defined at",
    );
    assert_eq!(errors.len(), 8, "{errors:#?}");
}

#[test]
fn failing_examples_are_reported_with_their_lines() {
    let (_, diagnostics) =
        rules::check(&[RuleSource::Path(fixture("broken/failing_examples.toml"))]);
    let errors: Vec<String> = diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(errors[0].contains("failing_examples.toml:8:") && errors[0].contains("does not match"));
    assert!(
        errors[1].contains("failing_examples.toml:9:")
            && errors[1].contains("no_match example matches")
    );
}

#[test]
fn toml_syntax_errors_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("syntax.toml");
    std::fs::copy(fixture("broken/syntax.toml.bad"), &path).unwrap();
    let Err(diagnostics) = rules::load(&[RuleSource::Path(path)]) else {
        panic!("bad TOML loaded");
    };
    assert!(
        diagnostics
            .iter()
            .any(|d| d.level == Level::Error && d.line == Some(1)),
        "{diagnostics:#?}"
    );
}

#[test]
fn missing_path_and_empty_directory_are_errors() {
    let Err(d) = rules::load(&[RuleSource::Path(fixture("no-such-dir"))]) else {
        panic!("loaded nothing");
    };
    assert!(d[0].to_string().contains("no-such-dir"), "{d:?}");
    let empty = tempfile::tempdir().unwrap();
    let Err(d) = rules::load(&[RuleSource::Path(empty.path().to_path_buf())]) else {
        panic!("loaded nothing");
    };
    assert!(d[0].message.contains("no ruleset files"), "{d:?}");
}

#[test]
fn a_large_terms_file_loads_and_matches() {
    let dir = tempfile::tempdir().unwrap();
    let mut terms = String::new();
    for i in 0..100_000 {
        terms.push_str(&format!("term{i:06}x\n"));
    }
    std::fs::write(dir.path().join("big.txt"), terms).unwrap();
    std::fs::write(
        dir.path().join("big.toml"),
        r#"[[rule]]
id = "big.list"
category = "other_prohibited"
clause = "§2(11)"
severity = "low"
description = "a 100k-line operator list"
terms_file = "big.txt"
examples.match = ["see term099999x here"]
"#,
    )
    .unwrap();
    let (ruleset, diagnostics) = rules::check(&[RuleSource::Path(dir.path().to_path_buf())]);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    let ruleset = ruleset.unwrap();
    assert_eq!(ruleset.pattern_count(), 100_000);
    let findings = scan(&ruleset, "a term000042x and term099999x");
    assert_eq!(findings.len(), 2);
}

#[test]
fn terms_files_must_be_regular_files() {
    let text = r#"[[rule]]
id = "x.devices"
category = "other_prohibited"
clause = "§2(11)"
severity = "low"
description = "device paths must not hang or flood the loader"
terms_file = ["/dev/zero", "/dev/stdin"]
"#;
    let Err(diagnostics) = rules::load(&[RuleSource::Text {
        name: "devices.toml".into(),
        text: text.into(),
    }]) else {
        panic!("device paths loaded");
    };
    let messages: Vec<String> = diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        messages
            .iter()
            .filter(|m| m.contains("not a regular file"))
            .count(),
        2,
        "{messages:#?}"
    );
}

#[test]
fn a_weights_file_beside_the_rules_sets_weights_and_bands() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("r.toml"),
        "[[rule]]\nid = \"w.casino\"\ncategory = \"gambling\"\nclause = \"§2(7)\"\n\
         severity = \"low\"\ndescription = \"casino\"\nterms = [\"网上赌场\"]\n\
         examples.match = [\"网上赌场\"]\n",
    )
    .unwrap();
    // Without weights, a low rule (prior 0.4) does not flag alone.
    let (ruleset, _) = rules::load(&[RuleSource::Path(dir.path().to_path_buf())]).unwrap();
    assert!(
        ruleset
            .scan_text(ZoneKind::Text, "网上赌场", "t")
            .is_empty()
    );
    assert_eq!(ruleset.rule("w.casino").unwrap().prior_weight, 0.4);

    std::fs::write(
        dir.path().join("weights.toml"),
        "[category.gambling]\nconfident = 1.2\n\n[weights]\n\"w.casino\" = 1.25\n\"w.gone\" = 2\n",
    )
    .unwrap();
    let (ruleset, warnings) = rules::load(&[RuleSource::Path(dir.path().to_path_buf())]).unwrap();
    let rule = ruleset.rule("w.casino").unwrap();
    assert_eq!((rule.weight, rule.prior_weight), (1.25, 0.4));
    let flags = ruleset.scan_text(ZoneKind::Text, "网上赌场", "t");
    assert_eq!(flags.len(), 1);
    assert_eq!(flags[0].score, Some(1.25));
    assert_eq!(flags[0].severity, sitepatrol_core::finding::Severity::High);
    assert!(
        warnings
            .iter()
            .any(|w| w.rule.as_deref() == Some("w.gone") && w.line == Some(6)),
        "{warnings:#?}"
    );

    std::fs::write(
        dir.path().join("weights.toml"),
        "[weights]\n\"w.casino\" = \"x\"\n",
    )
    .unwrap();
    let Err(errors) = rules::load(&[RuleSource::Path(dir.path().to_path_buf())]) else {
        panic!("a weights file with a bad weight must not load");
    };
    assert!(
        errors
            .iter()
            .any(|e| e.file.ends_with("weights.toml") && e.level == Level::Error),
        "{errors:#?}"
    );
}

#[test]
fn weak_signals_flag_together_and_repeats_add_less() {
    let (ruleset, _) = rules::load(&[RuleSource::Text {
        name: "w.toml".into(),
        text: "[[rule]]\nid = \"w.a\"\ncategory = \"gambling\"\nclause = \"§2(7)\"\n\
               severity = \"low\"\nweight = 0.6\ndescription = \"a\"\nterms = [\"返水\"]\n\n\
               [[rule]]\nid = \"w.b\"\ncategory = \"gambling\"\nclause = \"§2(7)\"\n\
               severity = \"low\"\nweight = 0.6\ndescription = \"b\"\nterms = [\"彩金\"]\n"
            .into(),
    }])
    .unwrap();
    let scan = |t: &str| ruleset.scan_text(ZoneKind::Text, t, "t");
    assert!(scan("返水").is_empty());
    // Twice the same weak word: 0.6 + 0.3, still under the threshold; a third time adds
    // 0.15 and reaches it (alone, a signal never adds up to more than twice its weight).
    assert!(scan("返水 返水").is_empty());
    assert_eq!(scan("返水 返水 返水")[0].score, Some(1.05));
    let flags = scan("首存返水，注册送彩金");
    assert_eq!(flags.len(), 1, "{flags:#?}");
    assert_eq!(flags[0].score, Some(1.2));
    assert_eq!(flags[0].signals.len(), 2);
    assert_eq!(
        flags[0].severity,
        sitepatrol_core::finding::Severity::Medium
    );
}

fn load_text(text: &str) -> Result<Ruleset, Vec<Diagnostic>> {
    rules::load(&[RuleSource::Text {
        name: "segment.toml".into(),
        text: text.into(),
    }])
    .map(|(ruleset, _)| ruleset)
}

const SEGMENT_RULES: &str = r#"
[defaults]
severity = "critical"
skip_noise = true
segment = true

[[rule]]
id = "seg.drugs"
category = "drugs"
clause = "§2(7)"
description = "drug names, as words"
terms = ["大麻", "白粉"]

[[rule]]
id = "seg.drugs_substring"
category = "drugs"
clause = "§2(7)"
description = "drug names, as substrings"
terms = ["大麻", "白粉"]
segment = false

[[rule]]
id = "seg.regex"
category = "drugs"
clause = "§2(7)"
description = "a regex rule takes the file's default without complaint"
regex = ['冰毒\d+克']
"#;

#[test]
fn segment_drops_terms_that_the_segmenter_cuts_across_words() {
    let ruleset = load_text(SEGMENT_RULES).expect("loads");
    assert!(ruleset.rule("seg.drugs").unwrap().segment);
    assert!(!ruleset.rule("seg.drugs_substring").unwrap().segment);
    for text in ["出售大麻，价格面议", "大麻种子", "吸大麻", "出售白粉"] {
        let ids = rule_ids(&scan(&ruleset, text)).join(" ");
        assert_eq!(ids, "seg.drugs seg.drugs_substring", "in {text:?}");
    }
    // 大/麻烦 "big trouble", 蛋白/粉 protein powder, and 大麻 joined across a comma (skip_noise)
    // where the next word is 麻烦.
    for text in [
        "这是一个大麻烦",
        "大麻烦",
        "买蛋白粉送摇杯",
        "问题很大，麻烦您了",
    ] {
        let ids = rule_ids(&scan(&ruleset, text)).join(" ");
        assert_eq!(ids, "seg.drugs_substring", "in {text:?}");
    }
    // Each finding of a page counts only its whole-word hits.
    let findings = scan(&ruleset, "大麻烦来了：有人出售大麻");
    assert_eq!(finding(&findings, "seg.drugs").count, 1);
    assert_eq!(finding(&findings, "seg.drugs_substring").count, 2);
}

#[test]
fn segment_is_validated_like_the_other_options() {
    let rule = |option: &str, source: &str| {
        format!(
            "[[rule]]\nid = \"seg.x\"\ncategory = \"drugs\"\nclause = \"§2(7)\"\nseverity = \"high\"\n\
             description = \"x\"\n{source}\n{option}\n"
        )
    };
    let messages = |text: &str| -> Vec<String> {
        match load_text(text) {
            Ok(_) => Vec::new(),
            Err(d) => d
                .iter()
                .filter(|d| d.level == Level::Error)
                .map(|d| d.to_string())
                .collect(),
        }
    };
    let errors = messages(&rule("segment = true", "regex = ['大麻']"));
    assert!(
        errors.len() == 1
            && errors[0].contains("segment.toml:8:")
            && errors[0].contains("`segment` applies to literal terms"),
        "{errors:#?}"
    );
    let errors = messages(&rule("segment = \"yes\"", "terms = ['大麻']"));
    assert!(
        errors.len() == 1 && errors[0].contains("segment.toml:8:"),
        "{errors:#?}"
    );
    let errors = messages(&format!(
        "[defaults]\nsegment = 1\n{}",
        rule("", "terms = ['大麻']")
    ));
    assert!(
        errors.len() == 1 && errors[0].contains("segment.toml:2:"),
        "{errors:#?}"
    );
    assert!(messages(&rule("segment = false", "regex = ['大麻']")).is_empty());
    assert!(messages(&rule("segment = true", "terms = ['大麻']")).is_empty());
}

/// Issue 16: `(?s).{0,20000}澳门` took 27 s on a 90 KB page and passed `rules check`.
#[test]
fn regexes_that_reach_too_far_are_refused_and_far_ones_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("slow.toml");
    std::fs::write(
        &file,
        r#"[[rule]]
id = "slow.far"
category = "gambling"
clause = "§2(7)"
severity = "high"
description = "far"
regex = ['(?s).{0,20000}澳门']

[[rule]]
id = "slow.medium"
category = "gambling"
clause = "§2(7)"
severity = "high"
description = "medium"
regex = ['澳门.{0,2000}赌场']
examples.match = ["澳门赌场"]
"#,
    )
    .unwrap();
    let Err(diagnostics) = rules::load(&[RuleSource::Path(file)]) else {
        panic!("a regex reaching 20,000 loaded");
    };
    let text: Vec<String> = diagnostics.iter().map(|d| d.to_string()).collect();
    assert!(
        diagnostics.iter().any(|d| d.level == Level::Error
            && d.to_string().contains("slow.toml:7:")
            && d.to_string().contains("rule `slow.far`")
            && d.to_string().contains("20000")),
        "{text:#?}"
    );
    assert!(
        diagnostics.iter().any(|d| d.level == Level::Warning
            && d.to_string().contains("rule `slow.medium`")
            && d.to_string().contains("2000")),
        "{text:#?}"
    );
    assert!(
        !diagnostics
            .iter()
            .any(|d| d.level == Level::Error && d.to_string().contains("slow.medium")),
        "{text:#?}"
    );
}

/// The ids of the rules with a finding in `text` read as a `zone`, sorted.
fn rule_ids_in(ruleset: &Ruleset, zone: ZoneKind, text: &str) -> Vec<String> {
    let mut ids: Vec<String> = ruleset
        .rule_findings_text(zone, text, "test")
        .iter()
        .map(|f| f.rule.to_string())
        .collect();
    ids.sort();
    ids
}

/// Zones whose pattern sets nearly match share one automaton; a term found in a zone its rule
/// does not cover must still report nothing there, as a term, a context word or an exclusion.
#[test]
fn zones_sharing_an_automaton_keep_their_own_rules() {
    let common: Vec<String> = (0..20).map(|i| format!("\"共同词{i}\"")).collect();
    let ruleset = load_text(&format!(
        r#"
[defaults]
severity = "high"
skip_noise = false

[[rule]]
id = "shared.both"
category = "gambling"
clause = "§2(7)"
description = "terms of the text and title zones"
zones = ["text", "title"]
terms = [{}]

[[rule]]
id = "shared.text_only"
category = "gambling"
clause = "§2(7)"
description = "a term of the text zone only"
zones = ["text"]
terms = ["只在正文"]

[[rule]]
id = "shared.title_near"
category = "gambling"
clause = "§2(7)"
description = "a title term whose context word belongs to the text rule's zone only"
zones = ["title"]
terms = ["标题词"]
near = {{ terms = ["只在正文"], within = 10 }}
"#,
        common.join(", ")
    ))
    .unwrap_or_else(|d| panic!("{d:#?}"));
    let ids = |zone: ZoneKind, text: &str| rule_ids_in(&ruleset, zone, text);
    assert_eq!(
        ids(ZoneKind::Text, "这里只在正文出现"),
        ["shared.text_only"]
    );
    assert!(ids(ZoneKind::Title, "这里只在正文出现").is_empty());
    assert_eq!(ids(ZoneKind::Title, "共同词3"), ["shared.both"]);
    // The title rule's context word is a text-only term too: it still counts as context in
    // the title, since the title rule names it.
    assert_eq!(
        ids(ZoneKind::Title, "标题词 只在正文"),
        ["shared.title_near"]
    );
    assert!(ids(ZoneKind::Title, "标题词").is_empty());
    assert_eq!(ids(ZoneKind::Text, "标题词 只在正文"), ["shared.text_only"]);
    assert!(ids(ZoneKind::Meta, "共同词3 只在正文").is_empty());
}

/// Regexes are gated by literals searched in the terms' automaton: a literal shared with a
/// term must serve both, and a regex runs only in the zones of its rule.
#[test]
fn regexes_gated_by_the_terms_automaton_keep_their_zones_and_shared_literals() {
    let ruleset = load_text(
        r#"
[defaults]
severity = "high"
skip_noise = false

[[rule]]
id = "gate.term"
category = "gambling"
clause = "§2(7)"
description = "a term that is also a regex's literal"
terms = ["pk10"]

[[rule]]
id = "gate.regex_text"
category = "gambling"
clause = "§2(7)"
description = "a regex whose literal is the other rule's term"
regex = ['pk10\s*\d{3}']

[[rule]]
id = "gate.regex_code"
category = "malware"
clause = "§2(10)"
description = "a regex for server code only"
zones = ["code"]
regex = ['eval\(\s*\$_post']
"#,
    )
    .unwrap_or_else(|d| panic!("{d:#?}"));
    let ids = |zone: ZoneKind, text: &str| rule_ids_in(&ruleset, zone, text);
    assert_eq!(
        ids(ZoneKind::Text, "北京PK10 123 开奖"),
        ["gate.regex_text", "gate.term"]
    );
    assert_eq!(ids(ZoneKind::Text, "北京pk10开奖"), ["gate.term"]);
    assert!(ids(ZoneKind::Text, "<?php eval($_POST['x']); ?>").is_empty());
    assert_eq!(
        ids(ZoneKind::Code, "<?php eval($_POST['x']); ?>"),
        ["gate.regex_code"]
    );
}

const BUDGET_RULES: &str = r#"
[defaults]
severity = "high"
skip_noise = false

[[rule]]
id = "budget.term"
category = "gambling"
clause = "§2(7)"
description = "term"
terms = ["网上赌博"]

[[rule]]
id = "budget.regex"
category = "fraud"
clause = "§2(7)"
description = "regex"
regex = ['代开\d+发票']
"#;

fn budget_scan(
    page: &str,
    budget: Option<std::time::Duration>,
) -> sitepatrol_core::scan::ScanReport {
    use sitepatrol_core::scan::{ScanOptions, Scanner};
    let ruleset = load_text(BUDGET_RULES).expect("rules load");
    let scanner = Scanner::new(
        std::sync::Arc::new(ruleset),
        ScanOptions {
            scan_budget: budget,
            ..ScanOptions::default()
        },
    );
    scanner.scan_bytes(
        page.as_bytes(),
        Some(sitepatrol_core::extract::ContentKind::Plain),
        "page.txt",
        None,
        None,
    )
}

fn budget_rule_ids(report: &sitepatrol_core::scan::ScanReport) -> Vec<String> {
    let mut ids: Vec<String> = report
        .findings
        .iter()
        .flat_map(|f| {
            std::iter::once(f.rule.to_string()).chain(f.signals.iter().map(|s| s.rule.to_string()))
        })
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Issue 16 hole 6: a page's scan stops where its budget runs out, keeps what it found, and
/// says so with an info finding; with time to spare the same page is scanned whole.
#[test]
fn a_scan_stops_where_its_budget_runs_out_and_says_so() {
    use std::time::Duration;
    // Megabytes of text: normalizing it alone costs more than a millisecond of CPU, so the
    // budget runs out after the terms' pass over the zone and before the regexes.
    let page = format!(
        "网上赌博 代开123发票 {}",
        "普通的新闻内容，天气晴朗。".repeat(120_000)
    );
    let whole = budget_scan(&page, None);
    assert!(!whole.budget_ran_out);
    assert_eq!(budget_rule_ids(&whole), vec!["budget.regex", "budget.term"]);

    // The budget starts after extraction here, so that it runs out inside matching: after
    // the terms' pass over the zone and before the regexes.
    let ruleset = load_text(BUDGET_RULES).expect("rules load");
    let mut warnings = Vec::new();
    let (_, document) = sitepatrol_core::scan::prepare(
        page.as_bytes(),
        Some(sitepatrol_core::extract::ContentKind::Plain),
        None,
        None,
        &mut warnings,
    );
    let document = document.expect("a document");
    let budget = rules::Budget::new(Some(Duration::from_millis(1)));
    let evidence = ruleset.document_evidence_within(&document, "page.txt", &budget);
    assert!(budget.ran_out());
    let found: Vec<&str> = evidence
        .iter()
        .map(|e| &*ruleset.rules()[e.rule as usize].id)
        .collect();
    assert_eq!(found, vec!["budget.term"]);

    // Through the scanner, the budget covers decoding and extraction too: here it runs out
    // before matching, and the page says so.
    let cut = budget_scan(&page, Some(Duration::from_millis(1)));
    assert!(cut.budget_ran_out);
    assert_eq!(budget_rule_ids(&cut), vec!["crawl.scan_budget"]);
    let info = &cut.findings[0];
    assert_eq!(info.severity, sitepatrol_core::finding::Severity::Info);
    assert_eq!(&*info.target, "page.txt");
    assert!(info.matched.contains("1 ms"), "{}", info.matched);
    assert!(
        cut.warnings.iter().any(|w| w.starts_with("scan_budget:")),
        "{:?}",
        cut.warnings
    );

    // Nothing runs on a budget spent before the first zone; a small page fits a normal one.
    let none = budget_scan("网上赌博 代开123发票", Some(Duration::ZERO));
    assert_eq!(budget_rule_ids(&none), vec!["crawl.scan_budget"]);
    let small = budget_scan("网上赌博 代开123发票", Some(Duration::from_secs(10)));
    assert!(!small.budget_ran_out);
    assert_eq!(budget_rule_ids(&small), vec!["budget.regex", "budget.term"]);
}

/// Issue 16 hole 6: `rules check` times each regex on a reference page against a plain regex
/// timed in the same run, and warns about regexes that compile big. `(?s).{0,20000}` is
/// refused at load by its reach; this one reaches little but is slow all the same.
#[test]
fn rules_check_refuses_slow_regexes_and_warns_about_big_ones() {
    let (ruleset, diagnostics) = rules::check(&[RuleSource::Text {
        name: "costly.toml".into(),
        text: r#"
[defaults]
severity = "high"

[[rule]]
id = "costly.slow"
category = "gambling"
clause = "§2(7)"
description = "slow"
regex = ['[\s\S]{0,900}\b[a-z]{3}\b[\s\S]{0,90}澳门']

[[rule]]
id = "costly.big"
category = "gambling"
clause = "§2(7)"
description = "big"
regex = ['\w{200}澳门']
examples.match = ["abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij澳门"]

[[rule]]
id = "costly.fine"
category = "gambling"
clause = "§2(7)"
description = "fine"
regex = ['澳门\d{2,4}期']
examples.match = ["澳门2024期"]
"#
        .into(),
    }]);
    let text: Vec<String> = diagnostics.iter().map(|d| d.to_string()).collect();
    assert!(
        ruleset.is_some(),
        "the rules load; only the check judges cost: {text:#?}"
    );
    let text: Vec<String> = diagnostics.iter().map(|d| d.to_string()).collect();
    let about = |rule: &str, level: Level, needle: &str| {
        diagnostics.iter().any(|d| {
            d.level == level
                && d.rule.as_deref() == Some(rule)
                && d.to_string().contains(needle)
                && d.file == "costly.toml"
        })
    };
    assert!(
        about("costly.slow", Level::Error, "× a plain regex"),
        "{text:#?}"
    );
    assert!(
        about("costly.big", Level::Warning, "compiles to more than"),
        "{text:#?}"
    );
    assert!(
        !diagnostics
            .iter()
            .any(|d| d.rule.as_deref() == Some("costly.fine")),
        "{text:#?}"
    );
    assert!(
        !about("costly.big", Level::Error, "× a plain regex"),
        "{text:#?}"
    );
}
