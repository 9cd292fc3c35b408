//! `rules lint`: the term-level false-positive report that lets an operator prune a list.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn sitepatrol(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sitepatrol"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("the binary runs")
}

fn flagged(out: &Output) -> Vec<(String, u64, u64)> {
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    report["flagged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["term"].as_str().unwrap().to_string(),
                t["raw_pages"].as_u64().unwrap(),
                t["finding_pages"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn ordinary_words_of_a_raw_list_are_reported_with_their_pages() {
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("pages");
    std::fs::create_dir(&pages).unwrap();
    for (i, text) in [
        "今天天气很好，公司组织春游",
        "公司年会通知：天气转凉",
        "产品介绍",
        "联系我们",
    ]
    .iter()
    .enumerate()
    {
        std::fs::write(pages.join(format!("{i}.html")), format!("<p>{text}</p>")).unwrap();
    }
    let list = dir.path().join("regulator.txt");
    std::fs::write(&list, "# a raw list\n天气\n公司\n网上赌场\n").unwrap();
    let out = sitepatrol(&[
        "rules",
        "lint",
        "--format",
        "json",
        "--negatives",
        pages.to_str().unwrap(),
        "--list",
        list.to_str().unwrap(),
    ]);
    // Terms that would be findings on ordinary pages: exit 1, like findings of a scan.
    assert_eq!(out.status.code(), Some(1));
    let mut terms = flagged(&out);
    terms.sort();
    assert_eq!(
        terms,
        vec![("公司".to_string(), 2, 2), ("天气".to_string(), 2, 2)]
    );
    // Below the rate threshold nothing is reported.
    let out = sitepatrol(&[
        "rules",
        "lint",
        "--format",
        "json",
        "--min-rate",
        "60",
        "--negatives",
        pages.to_str().unwrap(),
        "--list",
        list.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(flagged(&out).is_empty());
}

#[test]
fn context_that_cancels_every_hit_is_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("pages");
    std::fs::create_dir(&pages).unwrap();
    for i in 0..3 {
        std::fs::write(pages.join(format!("{i}.html")), "<p>体育彩票开奖公告</p>").unwrap();
    }
    std::fs::write(
        dir.path().join("r.toml"),
        r#"[[rule]]
id = "t.lottery"
category = "gambling"
clause = "§2(7)"
severity = "high"
description = "彩票 only near 注册送"
terms = ["彩票"]
near = { terms = ["注册送"], within = 10 }
examples.match = ["彩票注册送"]
"#,
    )
    .unwrap();
    let out = sitepatrol(&[
        "rules",
        "lint",
        "--format",
        "json",
        "--negatives",
        pages.to_str().unwrap(),
        dir.path().join("r.toml").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(flagged(&out), vec![("彩票".to_string(), 3, 0)]);
    let out = sitepatrol(&[
        "rules",
        "lint",
        "--negatives",
        pages.to_str().unwrap(),
        dir.path().join("r.toml").to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("context") && text.contains("彩票"), "{text}");
}

#[test]
fn the_bundled_terms_are_no_findings_on_the_near_miss_pages() {
    let out = sitepatrol(&["rules", "lint", "--negatives", "tests/corpus/negative"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The lesson of ../shared/data/lexicons: a raw list loaded blindly flags ordinary pages.
#[test]
fn a_shared_raw_lexicon_flags_ordinary_words() {
    let lexicon = root().join("../shared/data/lexicons/色情词库.txt");
    let pages = root().join("../shared/data/pages-zh/original");
    if !lexicon.exists() || !pages.is_dir() {
        eprintln!("notice: ../shared/data is missing; skipped");
        return;
    }
    let out = sitepatrol(&[
        "rules",
        "lint",
        "--format",
        "json",
        "--negatives",
        pages.to_str().unwrap(),
        "--list",
        lexicon.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let terms = flagged(&out);
    println!("{} ordinary terms in 色情词库.txt: {terms:?}", terms.len());
    assert!(terms.len() >= 5, "{terms:?}");
}
