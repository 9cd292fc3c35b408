//! `sitepatrol scan URL` end to end: the real binary crawls a generated site on loopback.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::common::{Action, serve};
use serde_json::Value;

/// A site of `sections` × `per_section` pages. Every third section is linked from the home
/// page only through an iframe, every page links to its neighbours, half the pages are GBK,
/// and every page carries an ICP footer. Returns path → (content type, body).
fn generate(sections: usize, per_section: usize) -> BTreeMap<String, (String, Vec<u8>)> {
    let mut site = BTreeMap::new();
    let mut home =
        String::from("<html><head><meta charset='utf-8'><title>首页</title></head><body>");
    for s in 0..sections {
        if s % 3 == 0 {
            home.push_str(&format!("<iframe src='/s{s}/index.html'></iframe>\n"));
        } else {
            home.push_str(&format!("<a href='/s{s}/index.html'>栏目 {s}</a>\n"));
        }
        let mut index = String::from("<html><body>");
        for p in 0..per_section {
            index.push_str(&format!("<a href='/s{s}/p{p}.html'>文章 {p}</a>\n"));
        }
        index.push_str("</body></html>");
        site.insert(
            format!("/s{s}/index.html"),
            ("text/html; charset=utf-8".to_string(), index.into_bytes()),
        );
        for p in 0..per_section {
            let next = (p + 1) % per_section;
            let text = format!(
                "<html><head><title>文章 {s}-{p}</title></head><body><p>这是第{s}栏目的第{p}篇文章。</p>\
                 <a href='/s{s}/p{next}.html'>下一篇</a><a href='/'>首页</a>\
                 <div class='footer'>沪ICP备12345678号-1</div></body></html>"
            );
            let (content_type, body) = if p % 2 == 0 {
                let (gbk, _, _) = encoding_rs::GBK.encode(&text);
                ("text/html; charset=gbk".to_string(), gbk.into_owned())
            } else {
                ("text/html; charset=utf-8".to_string(), text.into_bytes())
            };
            site.insert(format!("/s{s}/p{p}.html"), (content_type, body));
        }
    }
    home.push_str("<p>欢迎</p></body></html>");
    site.insert(
        "/".to_string(),
        ("text/html; charset=utf-8".to_string(), home.into_bytes()),
    );
    site
}

async fn run(args: Vec<String>) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_sitepatrol"))
        .args(args)
        .output()
        .await
        .expect("the binary runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_linked_from_the_home_page_is_reached() {
    let site = Arc::new(generate(12, 25));
    let pages = site.len();
    let served = site.clone();
    let server = serve(move |r| match served.get(r.path.as_str()) {
        Some((content_type, body)) => Action::with_type(200, content_type, body.clone()),
        None => Action::status(404),
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let stats_path = dir.path().join("stats.json");
    let out = run(vec![
        "scan".into(),
        "--format".into(),
        "jsonl".into(),
        "--allow-private-networks".into(),
        // The generated site has no filing footer; this test is about reaching every page.
        "--no-filing".into(),
        "--max-pages".into(),
        "1000".into(),
        "--stats-json".into(),
        stats_path.display().to_string(),
        server.url("/"),
    ])
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let stats: Value = serde_json::from_slice(&std::fs::read(&stats_path).unwrap()).unwrap();
    assert_eq!(stats["pages_fetched"], pages as u64, "{stats:#}");
    assert_eq!(stats["pages_scanned"], pages as u64);
    assert_eq!(stats["by_status"]["200"], pages as u64);
    for key in ["bytes", "duration_s", "errors", "by_status"] {
        assert!(!stats[key].is_null(), "{key} missing from {stats:#}");
    }
    let records: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let crawl = records
        .iter()
        .find(|r| r["type"] == "crawl")
        .expect("a crawl record");
    assert_eq!(crawl["stats"]["pages_fetched"], pages as u64);
    assert_eq!(records.last().unwrap()["pages"], pages as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn findings_carry_the_page_url() {
    let server = serve(|r| match r.path.as_str() {
        "/" => Action::html("<a href='/ad.html'>ad</a>"),
        "/ad.html" => {
            Action::html("<div style='display:none'><a href='http://x.test/'>网上赌场</a></div>")
        }
        _ => Action::status(404),
    })
    .await;
    let out = run(vec![
        "scan".into(),
        "--format".into(),
        "jsonl".into(),
        "--allow-private-networks".into(),
        server.url("/"),
    ])
    .await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let finding: Value = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|r| r["type"] == "finding")
        .expect("a finding");
    assert_eq!(finding["target"], server.url("/ad.html"));
    assert_eq!(finding["zone"], "hidden_text");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_opt_in_a_loopback_site_is_refused_with_a_clear_reason() {
    let server = serve(|_| Action::html("<p>内部页面</p>")).await;
    let out = run(vec![
        "scan".into(),
        "--format".into(),
        "jsonl".into(),
        server.url("/"),
    ])
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refused: 127.0.0.1 is a loopback address"),
        "{stderr}"
    );
    // The site went unseen: an error of the scan.
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(server.requests.load(std::sync::atomic::Ordering::SeqCst), 0);
    let record: Value = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|r| r["type"] == "fetch_error")
        .expect("a fetch_error record");
    assert_eq!(record["class"], "refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolve_serves_any_domain_from_loopback() {
    let server = serve(|r| {
        let host = r.header("host").unwrap_or("").to_string();
        Action::html(format!("<p>served for {host}</p><p>最新ＡＶ在线</p>"))
    })
    .await;
    let port = server.addr.port();
    let out = run(vec![
        "scan".into(),
        "--format".into(),
        "jsonl".into(),
        "--allow-private-networks".into(),
        "--resolve".into(),
        format!("www.customer.test:{port}:127.0.0.1"),
        format!("http://www.customer.test:{port}/"),
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("\"target\":\"http://www.customer.test:{port}/\"")),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("pornography.av_sites"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_user_agents_crawl_the_site_twice() {
    let server = serve(|r| {
        let ua = r.header("user-agent").unwrap_or("");
        if ua.contains("Mobile") {
            Action::html("<p>手机版：网上赌场</p>")
        } else {
            Action::html("<p>电脑版：正常内容</p>")
        }
    })
    .await;
    let out = run(vec![
        "scan".into(),
        "--format".into(),
        "jsonl".into(),
        "--allow-private-networks".into(),
        "--user-agent".into(),
        "both".into(),
        server.url("/"),
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let records: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let agents: Vec<&str> = records
        .iter()
        .filter(|r| r["type"] == "crawl")
        .map(|r| r["agent"].as_str().unwrap())
        .collect();
    assert_eq!(agents, vec!["desktop", "mobile"]);
    assert!(
        records
            .iter()
            .any(|r| r["type"] == "finding" && r["matched"] == "网上赌场"),
        "{stdout}"
    );
}

/// The trap limits are flags of `scan URL` too: a forum's distinct threads stop at
/// `--max-query-variants`, and the stats and the `crawl.trap_suspected` finding say so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trap_limits_are_set_by_flags() {
    let server = serve(|r| {
        let (path, query) = r.path.split_once('?').unwrap_or((r.path.as_str(), ""));
        match path {
            "/" => Action::html(
                (0..10)
                    .map(|i| format!("<a href='/forum.php?tid={i}'>t{i}</a>"))
                    .collect::<String>(),
            ),
            "/forum.php" => Action::html(format!(
                "<p>帖子 {query}：第{query}号讨论，内容各不相同。</p>"
            )),
            _ => Action::status(404),
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let stats_path = dir.path().join("stats.json");
    let out = run(vec![
        "scan".into(),
        "--format".into(),
        "jsonl".into(),
        "--allow-private-networks".into(),
        "--no-filing".into(),
        "--no-sitemaps".into(),
        "--max-query-variants".into(),
        "3".into(),
        "--stats-json".into(),
        stats_path.display().to_string(),
        server.url("/"),
    ])
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stats: Value = serde_json::from_slice(&std::fs::read(&stats_path).unwrap())
        .unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert_eq!(stats["pages_fetched"], 4, "{stats:#}");
    assert_eq!(stats["skipped"]["trap_query_variants"], 7, "{stats:#}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("crawl.trap_suspected"), "{stdout}");
}
