//! The real binary: `scan`, `extract` and `rules`, their output formats and exit codes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

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

fn with_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sitepatrol"))
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn json_lines(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

fn findings(records: &[Value]) -> Vec<&Value> {
    records.iter().filter(|r| r["type"] == "finding").collect()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn scanning_the_demo_site_finds_what_it_hides() {
    let out = sitepatrol(&["scan", "--format", "jsonl", "examples/demo-site"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let records = json_lines(&out);
    let found = findings(&records);
    // A flag is one page and one category; the rule and zone are among its signals.
    let has = |target: &str, rule: &str, zone: &str| {
        found.iter().any(|f| {
            f["target"].as_str().unwrap().ends_with(target)
                && f["signals"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|s| s["rule"] == rule && s["zone"] == zone)
        })
    };
    // GBK page: the hidden link farm, styled by a class from its own <style>.
    assert!(
        has("index.html", "gambling.online_casino", "hidden_text"),
        "{found:#?}"
    );
    // Big5 page with full-width and Traditional characters, and a miner.
    assert!(has("video.html", "pornography.av_sites", "text"));
    assert!(has("video.html", "malware.coinhive_miner", "script"));
    assert!(has("stats.js", "malware.obfuscated_dropper", "js"));
    // The crackdown news and the plain text file are clean; 路口交通 is not 口交.
    assert!(
        !found
            .iter()
            .any(|f| f["target"].as_str().unwrap().ends_with("news.html"))
    );
    assert!(
        !found
            .iter()
            .any(|f| f["target"].as_str().unwrap().ends_with("about.txt"))
    );
    assert!(
        !found.iter().any(|f| f["category"] == "pornography"
            && f["target"].as_str().unwrap().ends_with("index.html"))
    );
    // One problem is one item: every flag is a distinct page and category, and the hidden
    // gambling block of index.html (five gambling words) is one gambling flag.
    let mut keys: Vec<(String, String)> = found
        .iter()
        .map(|f| (f["target"].to_string(), f["category"].to_string()))
        .collect();
    let total = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), total, "{found:#?}");
    let gambling: Vec<_> = found
        .iter()
        .filter(|f| f["category"] == "gambling")
        .collect();
    assert_eq!(gambling.len(), 1, "{gambling:#?}");
    assert!(gambling[0]["signals"].as_array().unwrap().len() >= 4);
    assert!(gambling[0]["score"].as_f64().unwrap() >= 2.0);
    let summary = records.last().unwrap();
    assert_eq!(summary["type"], "summary");
    // Six pages, and the README: a web root's Markdown is walked too, as plain text. The
    // travel page is clean: only search spiders get its gambling version, over HTTP.
    assert_eq!(summary["files"], 7);
    assert_eq!(summary["errors"], 0);
}

#[test]
fn one_injected_gambling_block_is_one_gambling_flag_listing_its_signals() {
    // An ordinary company page with one hidden block of gambling text and links: the block is
    // one gambling problem (many signals, one flag) and one hidden link farm (one flag).
    let out = sitepatrol(&[
        "scan",
        "--format",
        "jsonl",
        "tests/corpus/positive/gambling/injected-block-one-flag.html",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let records = json_lines(&out);
    let found = findings(&records);
    let in_category =
        |c: &str| -> Vec<&&Value> { found.iter().filter(|f| f["category"] == c).collect() };
    let gambling = in_category("gambling");
    assert_eq!(gambling.len(), 1, "{found:#?}");
    let signals = gambling[0]["signals"].as_array().unwrap();
    let rules: std::collections::BTreeSet<&str> = signals
        .iter()
        .map(|s| s["rule"].as_str().unwrap())
        .collect();
    for rule in [
        "gambling.online_casino",
        "gambling.signup_bonus",
        "gambling.platform_jargon",
    ] {
        assert!(rules.contains(rule), "{rule} not among {rules:?}");
    }
    assert!(
        signals.iter().all(|s| s["zone"] == "hidden_text"),
        "{signals:#?}"
    );
    assert!(gambling[0]["score"].as_f64().unwrap() >= 2.0);
    assert_eq!(gambling[0]["severity"], "high");
    // Strongest signal first.
    let contributions: Vec<f64> = signals
        .iter()
        .map(|s| s["contribution"].as_f64().unwrap())
        .collect();
    assert!(
        contributions.windows(2).all(|w| w[0] >= w[1]),
        "{contributions:?}"
    );
    let farm = in_category("prohibited_links");
    assert_eq!(farm.len(), 1, "{found:#?}");
    assert!(
        farm[0]["signals"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["rule"] == "prohibited_links.hidden_link_farm"),
        "{farm:#?}"
    );
    // Nothing else on the page is a problem.
    assert_eq!(found.len(), 2, "{found:#?}");
}

#[test]
fn findings_carry_every_required_field_and_quote_the_original() {
    let out = sitepatrol(&["scan", "--format", "jsonl", "examples/demo-site/video.html"]);
    let records = json_lines(&out);
    let flag = findings(&records)
        .into_iter()
        .find(|f| f["category"] == "pornography")
        .expect("the page is flagged in pornography");
    for field in [
        "type", "rule", "category", "clause", "severity", "target", "zone", "matched", "snippet",
        "offset", "score", "signals",
    ] {
        assert!(!flag[field].is_null(), "missing {field} in {flag}");
    }
    assert_eq!(flag["clause"], "§3");
    assert_eq!(flag["severity"], "high");
    // The full-width AV ad is one of the flag's signals, quoted as written.
    let f = flag["signals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["rule"] == "pornography.av_sites")
        .expect("the full-width AV ad is a signal")
        .clone();
    for field in ["rule", "weight", "zone", "matched", "snippet", "offset"] {
        assert!(!f[field].is_null(), "missing {field} in {f}");
    }
    assert_eq!(f["matched"], "ＡＶ在線");
    // The offset indexes the zone's original text: extract shows the same text.
    let extracted = sitepatrol(&["extract", "examples/demo-site/video.html"]);
    let doc: Value = serde_json::from_slice(&extracted.stdout).unwrap();
    let text = doc["document"]["zones"]
        .as_array()
        .unwrap()
        .iter()
        .find(|z| z["kind"] == "text")
        .unwrap()["text"]
        .as_str()
        .unwrap()
        .to_string();
    let offset = f["offset"].as_u64().unwrap() as usize;
    assert!(
        text[offset..].starts_with("ＡＶ在線"),
        "{text:?} at {offset}"
    );
}

#[test]
fn fail_on_sets_the_exit_code() {
    let target = "examples/demo-site/js/stats.js"; // one high flag
    assert_eq!(
        sitepatrol(&["scan", "--format", "jsonl", "--fail-on", "high", target])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        sitepatrol(&["scan", "--format", "jsonl", "--fail-on", "critical", target])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        sitepatrol(&["scan", "--format", "jsonl", "--fail-on", "never", target])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        sitepatrol(&["scan", "--format", "jsonl", "examples/demo-site/about.txt"])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn json_format_is_one_document() {
    let out = sitepatrol(&["scan", "--format", "json", "examples/demo-site"]);
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert!(doc["findings"].as_array().unwrap().len() >= 4);
    assert_eq!(doc["summary"]["files"], 7);
}

#[test]
fn table_format_is_readable() {
    let out = sitepatrol(&["scan", "--format", "table", "examples/demo-site/video.html"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("HIGH     malware") && text.contains("malware.coinhive_miner"),
        "{text}"
    );
    assert!(text.contains("scanned 1 file(s)"), "{text}");
}

#[test]
fn stdin_is_a_target() {
    let out = with_stdin(
        &["scan", "--format", "jsonl", "-"],
        "<p>网上賭場 开业</p>".as_bytes(),
    );
    assert_eq!(out.status.code(), Some(1));
    let records = json_lines(&out);
    let f = findings(&records);
    assert_eq!(f[0]["target"], "-");
    assert_eq!(f[0]["matched"], "网上賭場");
}

#[test]
fn a_missing_target_is_an_error_but_the_others_are_scanned() {
    let out = sitepatrol(&[
        "scan",
        "--format",
        "jsonl",
        "no/such/file.html",
        "examples/demo-site/video.html",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no/such/file.html"),
        "{}",
        stderr(&out)
    );
    let records = json_lines(&out);
    assert!(
        records
            .iter()
            .any(|r| r["type"] == "error" && r["target"] == "no/such/file.html")
    );
    assert!(!findings(&records).is_empty());
}

#[test]
fn binary_and_oversized_files_get_clear_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("logo.png");
    std::fs::write(&png, b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\x01\0").unwrap();
    let big = dir.path().join("big.html");
    let mut page = "<p>网上赌场</p>".repeat(10).into_bytes();
    page.resize(3 << 20, b' ');
    std::fs::write(&big, &page).unwrap();
    let out = sitepatrol(&[
        "scan",
        "--format",
        "jsonl",
        "--max-file-size",
        "1048576",
        dir.path().to_str().unwrap(),
        // Named explicitly: a directory walk only takes files whose extension names a kind.
        png.to_str().unwrap(),
    ]);
    let err = stderr(&out);
    assert!(err.contains("logo.png") && err.contains("binary"), "{err}");
    assert!(
        err.contains("big.html") && err.contains("3.0 MiB") && err.contains("1.0 MiB"),
        "{err}"
    );
    // The first MiB was still scanned.
    assert_eq!(out.status.code(), Some(1), "{err}");
}

#[test]
fn a_nul_byte_does_not_hide_a_page() {
    let dir = tempfile::tempdir().unwrap();
    let page = "<html><body><!-- \0 -->澳门赌场 真人百家乐 网上赌博 注册送彩金</body></html>";
    // Declared text by its name, and sniffed as markup without one.
    for name in ["p.html", "p"] {
        let path = dir.path().join(name);
        std::fs::write(&path, page).unwrap();
        let out = sitepatrol(&["scan", "--format", "jsonl", path.to_str().unwrap()]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(!err.contains("binary"), "{err}");
        assert!(err.contains("NUL"), "{err}");
        let records = json_lines(&out);
        let found = findings(&records);
        assert!(
            found.iter().any(|f| f["category"] == "gambling"),
            "{name}: {records:#?}"
        );
    }
}

#[test]
fn extract_shows_encoding_zones_and_links() {
    let out = sitepatrol(&["extract", "examples/demo-site/index.html"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["encoding"]["encoding"], "gb18030");
    assert_eq!(doc["encoding"]["decided_by"], "meta");
    let zones: Vec<&str> = doc["document"]["zones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| z["kind"].as_str().unwrap())
        .collect();
    for zone in ["text", "title", "meta", "link", "hidden_text"] {
        assert!(zones.contains(&zone), "{zone} missing from {zones:?}");
    }
    let links = doc["document"]["links"].as_array().unwrap();
    assert!(
        links
            .iter()
            .any(|l| l["url"] == "http://www.example-casino.test/" && l["hidden"] == true)
    );
}

/// Regression: `sitepatrol extract F | head -c 0` panicked in `println!` with "failed printing
/// to stdout: Broken pipe" and a backtrace.
#[test]
fn extract_ends_quietly_when_its_reader_goes_away() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sitepatrol"))
        .args(["extract", "examples/demo-site/index.html"])
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

#[test]
fn extract_resolves_links_against_the_page_url() {
    let out = with_stdin(
        &[
            "extract",
            "--url",
            "https://example.test/dir/page.html",
            "-",
        ],
        b"<a href='../x.html'>x</a>",
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        doc["document"]["links"][0]["url"],
        "https://example.test/x.html"
    );
}

#[test]
fn rules_check_passes_on_the_bundled_rulesets() {
    let out = sitepatrol(&["rules", "check"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok: "));
    let out = sitepatrol(&["rules", "check", "rulesets"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn rules_check_reports_every_error_and_exits_2() {
    let out = sitepatrol(&["rules", "check", "tests/fixtures/rules/broken/broken.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    let errors = text.lines().filter(|l| l.contains(": error: ")).count();
    assert_eq!(errors, 8, "{text}");
    assert!(
        text.contains("broken.toml:7: error: rule `broken.bad_regex`: bad regex"),
        "{text}"
    );
}

#[test]
fn rules_test_shows_hits() {
    let out = sitepatrol(&["rules", "test", "最新ＡＶ在线", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["normalized"], "最新av在线");
    assert_eq!(doc["hits"][0]["rule"], "pornography.av_sites");
    assert_eq!(doc["hits"][0]["offset"], "最新".len());
    assert_eq!(doc["flags"][0]["category"], "pornography");
    assert_eq!(
        doc["flags"][0]["signals"][0]["rule"],
        "pornography.av_sites"
    );
    // av_sites does not skip noise (`a v` is too common in Latin text), so this is no hit.
    let out = sitepatrol(&["rules", "test", "最新 Ａ Ｖ 在线", "--format", "json"]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["normalized"], "最新 a v 在线");
    assert_eq!(doc["hits"], serde_json::json!([]));
    assert_eq!(doc["flags"], serde_json::json!([]));
    let out = sitepatrol(&["rules", "test", "今天天气很好"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no rule hits"));
}

#[test]
fn bad_arguments_exit_2() {
    assert_eq!(sitepatrol(&["scan"]).status.code(), Some(2));
    assert_eq!(
        sitepatrol(&["scan", "--format", "xml", "x"]).status.code(),
        Some(2)
    );
    assert_eq!(
        sitepatrol(&["rules", "test", "--zone", "nowhere", "x"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn a_broken_rules_path_stops_the_scan_with_exit_2() {
    let out = sitepatrol(&[
        "scan",
        "--rules",
        "tests/fixtures/rules/broken/broken.toml",
        "examples/demo-site",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bad regex"), "{}", stderr(&out));
}

#[test]
fn a_100_mb_file_is_scanned_up_to_the_cap_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.html");
    // Real markup first, then a sparse tail: 100 MB on disk without writing 100 MB.
    let mut head = "<html><body><p>网上赌场</p>".to_string();
    head.push_str(&"<p>正常内容</p>".repeat(1000));
    std::fs::write(&path, head.as_bytes()).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(100 << 20)
        .unwrap();
    let out = sitepatrol(&[
        "scan",
        "--format",
        "jsonl",
        "--max-file-size",
        "65536",
        path.to_str().unwrap(),
    ]);
    let err = stderr(&out);
    assert!(
        err.contains("huge.html") && err.contains("100.0 MiB") && err.contains("64.0 KiB"),
        "{err}"
    );
    let records = json_lines(&out);
    assert!(
        findings(&records)
            .iter()
            .any(|f| f["rule"] == "gambling.online_casino")
    );
    assert_eq!(records.last().unwrap()["bytes"], 65536);
}

/// A store made through the `Store` API, closed: two flags, one of them confirmed.
fn made_store(dir: &std::path::Path) -> (PathBuf, i64, i64) {
    use sitepatrol_store::{
        CrawlRun, FlagAction, IngestPage, SiteInfo, SqliteStore, Store, StoreConfig,
    };
    let path = dir.join("store.db");
    let store = SqliteStore::open(&path, StoreConfig::default()).unwrap();
    store
        .upsert_sites(
            &[SiteInfo {
                id: "s1".into(),
                customer: "c1".into(),
                domains: vec!["a.example.cn".into()],
                origin: None,
                contact: Default::default(),
            }],
            10,
        )
        .unwrap();
    let finding = |url: &str, text: &str| {
        let page = format!("<html><body><p>{text}</p></body></html>");
        let found = sitepatrol_core::finding::Finding {
            record_type: sitepatrol_core::finding::Finding::RECORD_TYPE,
            rule: "gambling.casino".into(),
            category: "gambling".into(),
            clause: "§2 (9)".into(),
            severity: sitepatrol_core::finding::Severity::High,
            description: "赌博".into(),
            target: url.into(),
            zone: Some(sitepatrol_core::extract::ZoneKind::Text),
            matched: text.to_string(),
            normalized: text.to_string(),
            snippet: text.to_string(),
            offset: 0,
            count: 1,
            score: None,
            signals: Vec::new(),
            signals_omitted: 0,
        };
        IngestPage::matched(url, 200, 1_000, page.as_bytes(), vec![found])
    };
    let out = store
        .record_crawl(
            &CrawlRun {
                key: "r1".into(),
                site: "s1".into(),
                started_at: 1_000,
                finished_at: 1_060,
                outcome: sitepatrol_store::CrawlOutcome::Completed,
                rules_version: "v1".into(),
                stats: serde_json::json!({}),
                release: None,
            },
            &[
                finding(
                    "http://a.example.cn/",
                    "澳门赌场 真人百家乐 网上赌博 注册送彩金",
                ),
                finding(
                    "http://a.example.cn/b",
                    "澳门赌场 真人百家乐 网上赌博 注册送彩金 b",
                ),
            ],
        )
        .unwrap();
    let (a, b) = (out.new[0].id, out.new[1].id);
    store
        .act(a, &FlagAction::Confirm { reason: None }, "bob", 1_100, None)
        .unwrap();
    store.close().unwrap();
    (path, a, b)
}

#[test]
fn store_check_passes_a_sound_store_and_names_damage_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let (path, a, b) = made_store(dir.path());
    let store = path.to_str().unwrap();
    let out = sitepatrol(&["store", "check", "--store", store]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(
        text.starts_with(&format!("store {store} (schema ")),
        "{text}"
    );
    assert!(text.contains("ok    integrity "), "{text}");
    assert!(
        text.trim_end().ends_with("ok: all 7 checks passed"),
        "{text}"
    );
    // The same store through a daemon config's [store] path.
    let config = dir.path().join("sitepatrol.toml");
    std::fs::write(&config, format!("[store]\npath = {store:?}\n")).unwrap();
    let out = sitepatrol(&["store", "check", "--config", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = sitepatrol(&["store", "check", "--store", store, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["checks"].as_array().unwrap().len(), 7);

    // Flag a loses its events; flag b is confirmed without an event saying so.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("DELETE FROM flag_events WHERE flag_id = ?1", [a])
        .unwrap();
    conn.execute("UPDATE flags SET state = 'confirmed' WHERE id = ?1", [b])
        .unwrap();
    drop(conn);
    let out = sitepatrol(&["store", "check", "--store", store]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    for line in [
        "FAIL  flags_have_events  1 problem(s); 2 flags".to_string(),
        format!("      flag_without_events: flag {a}: no events, not even the one that created it"),
        "FAIL  review_actions".to_string(),
        format!(
            "      state_without_event: flag {b}: state is `confirmed`, but its last state event"
        ),
        "ok    bodies ".to_string(),
        "FAIL: 2 problem(s) in 2 of 7 checks".to_string(),
    ] {
        assert!(text.contains(&line), "{line:?} not in\n{text}");
    }
    let out = sitepatrol(&["store", "check", "--store", store, "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (doc["ok"].clone(), doc["problems_total"].clone()),
        (false.into(), 2.into())
    );
    let problems: Vec<(String, i64)> = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["problems"].as_array().unwrap())
        .map(|p| {
            (
                p["kind"].as_str().unwrap().to_string(),
                p["flag_id"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        problems,
        [
            ("flag_without_events".to_string(), a),
            ("state_without_event".to_string(), b)
        ]
    );
}

#[test]
fn store_check_of_what_is_not_a_store_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, "<html>not a database</html>".repeat(300)).unwrap();
    let out = sitepatrol(&["store", "check", "--store", garbage.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "error: {} is not a sitepatrol store: it is not a SQLite database",
            garbage.display()
        )),
        "{err}"
    );
    assert!(!err.contains("panicked") && out.stdout.is_empty(), "{err}");
    // A config naming a store that is not there: the error says where the path came from.
    let config = dir.path().join("sitepatrol.toml");
    let missing = dir.path().join("missing.db");
    std::fs::write(
        &config,
        format!("[store]\npath = {:?}\n", missing.to_str().unwrap()),
    )
    .unwrap();
    let out = sitepatrol(&["store", "check", "--config", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("missing.db is not a sitepatrol store: there is no such file"),
        "{err}"
    );
    assert!(
        err.contains(&format!("the [store] path of {}", config.display())),
        "{err}"
    );
    assert!(!missing.exists(), "nothing created");
    let out = sitepatrol(&["store", "check", "--store", "x.db", "--config", "y.toml"]);
    assert_eq!(out.status.code(), Some(2), "usage error");
    // A config on PostgreSQL: its unused SQLite path is not what the daemon uses.
    std::fs::write(
        &config,
        "[store]\nurl = \"postgres://sp:pa55@db.internal/patrol\"\n",
    )
    .unwrap();
    let out = sitepatrol(&["store", "check", "--config", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("uses the PostgreSQL store") && !err.contains("pa55"),
        "{err}"
    );
    assert!(!dir.path().join("data").exists(), "nothing created");
}

#[test]
fn a_web_root_scan_reads_includes_backups_and_extensionless_pages_but_not_images_or_styles() {
    let root = tempfile::tempdir().unwrap();
    let injected =
        std::fs::read("tests/corpus/positive/gambling/injected-block-one-flag.html").unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let path = root.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    };
    // An include that prints the block, a backup copy of a page, and a page without an
    // extension: where injections hide on hacked sites.
    let mut include = b"<?php /* footer */ ?>\n".to_vec();
    include.extend_from_slice(&injected);
    write("includes/footer.inc", &include);
    write("index.php.bak", &include);
    write("news/latest", &injected);
    // Neither a picture nor a stylesheet is a page, whatever words they carry.
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend_from_slice(&injected);
    write("logo.png", &png);
    write(
        "style.css",
        b"body { font-family: sans-serif } /* \xe8\xb5\x8c\xe5\x8d\x9a */",
    );
    let out = sitepatrol(&["scan", "--format", "jsonl", root.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let records = json_lines(&out);
    let flagged: std::collections::BTreeSet<String> = findings(&records)
        .iter()
        .filter(|f| f["category"] == "gambling")
        .map(|f| {
            let target = f["target"].as_str().unwrap();
            target
                .strip_prefix(root.path().to_str().unwrap())
                .unwrap_or(target)
                .trim_start_matches('/')
                .to_string()
        })
        .collect();
    assert_eq!(
        flagged,
        ["includes/footer.inc", "index.php.bak", "news/latest"]
            .map(String::from)
            .into(),
        "{records:#?}"
    );
    assert_eq!(records.last().unwrap()["files"], 3);
}

/// A hacked web root: a PHP template with a hidden link block and a spider check, an ASP page
/// that prints links to Baiduspider only, an include, a page in a dot-directory that the site's
/// own `.ignore` and `.gitignore` name, and clean pages.
fn hacked_web_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = root.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "index.php",
        r#"<?php
$ua = strtolower($_SERVER['HTTP_USER_AGENT']);
if (strpos($ua, 'baiduspider') !== false || strpos($ua, 'sogou') !== false) {
    echo file_get_contents('http://seo-links.example/list.txt');
    die();
}
?>
<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>某某科技有限公司</title></head>
<body><p>欢迎访问某某科技有限公司官网。</p>
<div style="display:none">
<a href="https://www.188bet.com/zh-cn">澳门葡京赌场 网上百家乐 真人荷官在线发牌</a>
<a href="http://114av.xyz/">成人视频 无码AV在线观看</a>
</div></body></html>
"#,
    );
    write(
        "default.asp",
        r#"<%
Dim ua : ua = LCase(Request.ServerVariables("HTTP_USER_AGENT"))
If InStr(ua, "baiduspider") > 0 Then
  Response.Write "<a href='http://casino-888.example/'>网上赌场 百家乐 时时彩</a>"
End If
%>
<html><body><p>公司简介</p></body></html>
"#,
    );
    write(
        "include/footer.inc",
        r#"<div style="position:absolute;left:-9999px"><a href="http://xpj-vip.example/">新葡京娱乐城 网上赌场 澳门赌场</a></div>"#,
    );
    write(
        ".cache/seo.php",
        r#"<?php echo '<a href="http://sex-cam.example/">色情直播 裸聊</a>'; ?>"#,
    );
    // Whoever planted the files can name them here: a scanner must not listen.
    write(".ignore", ".cache/\n*.inc\n*.asp\n");
    write(".gitignore", ".cache/\n*.inc\n*.asp\n");
    write(
        "about.html",
        "<html><body><p>公司成立于2005年，专注于企业软件。</p></body></html>",
    );
    write(
        "contact.php",
        "<?php $tel = '010-12345678'; ?><html><body><p>联系我们：<?= $tel ?></p></body></html>",
    );
    // Many pages of falling size, each with a finding, so that an order that follows which
    // file finished first, not the walk, shows in the output.
    for i in 0..40 {
        let padding = "<p>本公司提供企业网站建设与维护服务。</p>\n".repeat((40 - i) * 20);
        write(
            &format!("news/{i:02}.html"),
            &format!(
                "<html><body>{padding}<div style=\"display:none\">\
                 <a href=\"https://www.188bet.com/\">澳门葡京赌场 真人荷官</a></div></body></html>"
            ),
        );
    }
    root
}

#[test]
fn a_web_root_scan_finds_server_side_injection_and_cloaking_in_walk_order_at_any_jobs() {
    let root = hacked_web_root();
    let dir = root.path().to_str().unwrap();
    let relative = |f: &Value| {
        let target = f["target"].as_str().unwrap();
        PathBuf::from(
            target
                .strip_prefix(dir)
                .unwrap_or(target)
                .trim_start_matches('/'),
        )
    };
    let mut runs = Vec::new();
    for jobs in ["1", "2"] {
        let out = sitepatrol(&["scan", "--format", "jsonl", "-j", jobs, dir]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let mut records = json_lines(&out);
        let summary = records.pop().unwrap();
        assert_eq!(summary["type"], "summary");
        assert_eq!(summary["files"], 46, "-j{jobs}: {summary}");
        assert_eq!(summary["errors"], 0, "-j{jobs}: {summary}");
        runs.push(records);
    }
    assert_eq!(
        runs[0], runs[1],
        "-j1 and -j2 print the same, in the same order"
    );
    let found = findings(&runs[1]);

    // Every flagged file, in the order the walk meets them (file names sorted per
    // directory, depth first: what `Path`'s order is), and no clean file.
    let mut order: Vec<PathBuf> = found.iter().map(|f| relative(f)).collect();
    order.dedup();
    let mut expected: Vec<PathBuf> = [".cache/seo.php", "default.asp", "include/footer.inc"]
        .iter()
        .map(PathBuf::from)
        .chain((0..40).map(|i| PathBuf::from(format!("news/{i:02}.html"))))
        .chain([PathBuf::from("index.php")])
        .collect();
    expected.sort();
    assert_eq!(order, expected, "walk order");

    let has =
        |file: &str, rule: &str, matched: &str| {
            found.iter().any(|f| {
                relative(f) == Path::new(file)
                    && f["signals"].as_array().unwrap().iter().any(|s| {
                        s["rule"] == rule && s["matched"].as_str().unwrap().contains(matched)
                    })
            })
        };
    // The template: its hidden links by what they say and where they point, and the spider
    // check that serves Baiduspider other content.
    assert!(
        has("index.php", "gambling.online_casino", "澳门葡京"),
        "{found:#?}"
    );
    assert!(has(
        "index.php",
        "gambling.listed_domains",
        "www.188bet.com"
    ));
    assert!(has(
        "index.php",
        "prohibited_links.porn_domains",
        "114av.xyz"
    ));
    assert!(has("index.php", "pornography.av_sites", "无码AV"));
    assert!(has("index.php", "cloaking.spider_ua_test", "baiduspider"));
    assert!(has(
        "index.php",
        "cloaking.spider_fetch_and_print",
        "file_get_contents("
    ));
    assert!(has(
        "default.asp",
        "cloaking.spider_branch_rewrites",
        "baiduspider"
    ));
    assert!(has("default.asp", "gambling.online_casino", "网上赌场"));
    assert!(has(
        "include/footer.inc",
        "gambling.online_casino",
        "新葡京"
    ));
    assert!(has(".cache/seo.php", "pornography.live_chat", "色情直播"));
}

/// `config init` writes a configuration that runs as it is (the embedded default) with every
/// section of the documented example beneath it, commented out; it never overwrites a file
/// unless told to.
#[test]
fn config_init_writes_a_starting_config_that_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sitepatrol.toml");
    let path_arg = path.display().to_string();
    let out = sitepatrol(&["config", "init", &path_arg]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let documented = std::fs::read_to_string(root().join("config/sitepatrol.toml")).unwrap();
    for header in documented.lines().filter(|l| l.starts_with('[')) {
        assert!(
            text.contains(&format!("# {header}")),
            "{header} is not in the starting config"
        );
    }
    let checked = sitepatrol(&["daemon", "--check-config", "--config", &path_arg]);
    assert_eq!(
        checked.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );

    std::fs::write(&path, "# mine\n").unwrap();
    let again = sitepatrol(&["config", "init", &path_arg]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "# mine\n");
    let forced = sitepatrol(&["config", "init", "--force", &path_arg]);
    assert_eq!(forced.status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}
