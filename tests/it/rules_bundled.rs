//! What the bundled rulesets must be, beyond loading: every rule shows it works (at least three
//! match and three no-match examples), every category of the letter is covered, the operator
//! categories ship empty lists, and the binary's copy matches rulesets/ on disk.

use std::collections::BTreeSet;
use std::path::PathBuf;

use sitepatrol_core::extract::ZoneKind;
use sitepatrol_core::rules::{self, Level, RuleSource, Ruleset, categories};

fn bundled() -> Ruleset {
    let (ruleset, diagnostics) = rules::check(&[RuleSource::Bundled]);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    ruleset.expect("the bundled rulesets load")
}

#[test]
fn every_rule_has_three_match_and_three_no_match_examples() {
    let ruleset = bundled();
    let mut short = Vec::new();
    for r in ruleset.rules() {
        let matches_needed = if r.operator_list { 0 } else { 3 };
        if r.examples_match.len() < matches_needed || r.examples_no_match.len() < 3 {
            short.push(format!(
                "{}: {} match, {} no_match",
                r.id,
                r.examples_match.len(),
                r.examples_no_match.len()
            ));
        }
    }
    assert!(short.is_empty(), "{short:#?}");
}

#[test]
fn every_category_of_the_letter_is_covered() {
    let ruleset = bundled();
    for category in categories::CATEGORIES {
        let rules: Vec<_> = ruleset
            .rules()
            .iter()
            .filter(|r| &*r.category == category.id)
            .collect();
        assert!(!rules.is_empty(), "no rule for {}", category.id);
        if category.operator_supplied {
            // The project ships no political word lists: the operator categories wait for the
            // operator's list.
            assert!(
                rules.iter().all(|r| r.operator_list && !r.is_active()),
                "{} must ship only empty operator lists",
                category.id
            );
        } else {
            assert!(
                rules.iter().any(|r| r.is_active() && !r.operator_list),
                "no shipped rule for {}",
                category.id
            );
        }
    }
}

#[test]
fn the_binary_bundles_what_is_on_disk() {
    let on_disk = match rules::load(&[RuleSource::Path(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rulesets"),
    )]) {
        Ok((r, w)) => {
            assert!(w.iter().all(|d| d.level != Level::Error));
            r
        }
        Err(d) => panic!("{d:#?}"),
    };
    let ids =
        |r: &Ruleset| -> BTreeSet<String> { r.rules().iter().map(|r| r.id.to_string()).collect() };
    let bundled = bundled();
    assert_eq!(ids(&bundled), ids(&on_disk));
    assert_eq!(bundled.domain_count(), on_disk.domain_count());
    assert_eq!(bundled.pattern_count(), on_disk.pattern_count());
}

#[test]
fn a_lone_ambiguous_word_is_never_a_finding() {
    let ruleset = bundled();
    // Words that the rules use as evidence only in company: each alone, in an ordinary sentence.
    for word in [
        "彩票",
        "开户",
        "代理",
        "棋牌",
        "足球",
        "百家乐",
        "六合彩",
        "女装",
        "装修",
        "路口交通",
        "口交",
        "做爱",
        "大麻",
        "笑气",
        "邮票",
        "叶子",
        "刷单",
        "套现",
        "高仿",
        "复刻",
        "破解",
        "盗版",
        "伟哥",
        "壮阳",
        "少女",
        "萝莉",
        "学生",
        "枪",
        "手枪",
        "刀具",
        "炸药",
        "办证",
        "发票",
        "银行卡",
        "四件套",
        "eval",
        "unescape",
        "document.referrer",
        "登录",
        "支付宝",
        "工商银行",
        "密码",
    ] {
        for zone in [ZoneKind::Text, ZoneKind::Title, ZoneKind::Script] {
            let text = format!("今天的新闻里提到了{word}这个词。");
            let findings = ruleset.scan_text(zone, &text, "t");
            assert!(findings.is_empty(), "{word} in {zone:?}: {findings:#?}");
        }
    }
}

/// The shipped lists carry names that are not what they are listed for; the shipped allowlist
/// removes them when the rules load, and the listed sites around them stay.
#[test]
fn the_allowlist_removes_benign_names_from_the_shipped_lists() {
    let ruleset = bundled();
    let removed = |rule: &str| -> Vec<String> {
        let rule = ruleset.rule(rule).unwrap();
        assert_eq!(rule.allowlist.lists, [rules::DEFAULT_ALLOW_LIST]);
        rule.allowlist
            .removed
            .iter()
            .flat_map(|(_, r)| r.clone())
            .collect()
    };
    let porn = removed("prohibited_links.porn_domains");
    for name in [
        "gmpg.org",
        "www.sxxx.gov.cn",
        "refinery29.com",
        "xxx.lanl.gov",
    ] {
        assert!(porn.iter().any(|r| r == name), "{name}: {porn:?}");
    }
    assert!(removed("gambling.listed_domains").contains(&"mpi.gov.tr".to_string()));
    let found = |url: &str| {
        ruleset
            .scan_text(ZoneKind::Link, url, "t")
            .iter()
            .any(|f| f.category.as_ref() == "prohibited_links")
    };
    assert!(found("https://www.pornhub.com/ 视频"));
    assert!(found("https://xxx-hentai.blogspot.com/"));
    assert!(!found("http://gmpg.org/xfn/11"));
    assert!(!found("http://www.sxxx.gov.cn/"));
    assert!(!found("https://www.refinery29.com/en-us/"));
}
