//! Recrawls with conditional requests (a 304 carries its page's flags over and its stored
//! links on), and crawls resumed from their saved frontier after a `kill -9`: the real daemon
//! against loopback sites that count what they are asked.

use std::sync::{Arc, Mutex};

use crate::common::daemon::*;
use crate::common::{Action, Request, serve};
use sitepatrol_store::{FlagState, Store};

const ETAG: &str = "\"a-v1\"";
const LAST_MODIFIED: &str = "Sun, 06 Nov 2026 08:49:37 GMT";

/// `/a.html` as a server with validators answers it: 304 when the request carries both of
/// them unchanged, the page otherwise.
fn conditional_page(request: &Request, served_304: &Mutex<usize>) -> Action {
    let fresh = request.header("if-none-match") == Some(ETAG)
        && request.header("if-modified-since") == Some(LAST_MODIFIED);
    if fresh {
        *served_304.lock().unwrap() += 1;
        return Action::Respond {
            status: 304,
            headers: vec![("ETag".into(), ETAG.into())],
            body: Vec::new(),
        };
    }
    Action::Respond {
        status: 200,
        headers: vec![
            ("Content-Type".into(), "text/html; charset=utf-8".into()),
            ("ETag".into(), ETAG.into()),
            ("Last-Modified".into(), LAST_MODIFIED.into()),
        ],
        body: page("欢迎来到网上赌博平台", &["/hidden.html"]).into_bytes(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recrawl_asks_conditionally_and_a_304_keeps_its_flag_and_its_links() {
    // Every request in order, and how many 304s went out.
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let served_304: Arc<Mutex<usize>> = Arc::default();
    // Fetches of /a.html by the cloaking probes (as Baiduspider).
    let probed: Arc<Mutex<usize>> = Arc::default();
    let (seen, sent, spider) = (log.clone(), served_304.clone(), probed.clone());
    let server = serve(move |request| {
        seen.lock().unwrap().push(request.path.clone());
        let ua = request.header("user-agent").unwrap_or_default();
        if request.path == "/a.html" && ua.contains("Baiduspider") {
            *spider.lock().unwrap() += 1;
        }
        match request.path.as_str() {
            "/" => Action::html(page("公司简介", &["/a.html"])),
            "/a.html" => conditional_page(request, &sent),
            // Linked only from /a.html: a crawl that stops at a 304 never gets here.
            "/hidden.html" => Action::html(page("联系我们", &[])),
            _ => Action::status(404),
        }
    })
    .await;
    let (_setup, daemon, store) = start_daemon(
        "interval = \"1s\"\nshutdown_grace = \"10s\"\n",
        &site("cond", "cond.example.test", server.addr.port(), "1s"),
    )
    .await;
    let store: &dyn Store = &store;

    wait_runs(store, "cond", 1).await;
    let first = flags(store, "cond");
    assert_eq!(first.len(), 1, "{first:#?}");
    assert!(first[0].url.ends_with("/a.html"), "{first:#?}");
    let requests_before = log.lock().unwrap().len();
    let probed_before = *probed.lock().unwrap();

    let runs = wait_two_more_runs(store, "cond").await;
    assert!(
        *served_304.lock().unwrap() > 0,
        "no recrawl sent both validators back: {:?}\n{}",
        log.lock().unwrap(),
        daemon.log()
    );
    // The last run saw the 304 and counted it.
    assert_eq!(runs[0].stats["by_status"]["304"], 1, "{:#?}", runs[0].stats);
    assert_eq!(runs[0].ingest.resolved.len(), 0, "{:#?}", runs[0].ingest);
    assert!(runs[0].ingest.carried_over >= 1, "{:#?}", runs[0].ingest);
    // The flag of the unchanged page neither resolved nor changed.
    let now = flags(store, "cond");
    assert_eq!(now.len(), 1, "{now:#?}");
    assert_eq!(now[0].id, first[0].id);
    assert_eq!(now[0].state, FlagState::Open);
    assert_eq!(now[0].body_sha256, first[0].body_sha256);
    // The crawl went on past the 304 to the page only it links to.
    let log = log.lock().unwrap().clone();
    let later = &log[requests_before..];
    let hidden_after_304 = later
        .iter()
        .filter(|p| p.as_str() == "/hidden.html")
        .count();
    assert!(hidden_after_304 >= 2, "{later:?}");
    // The cloaking probes still sample the page that answered 304.
    assert!(*probed.lock().unwrap() >= probed_before + 2, "{later:?}");
    wait_metric(&daemon, "sitepatrol_pages_not_modified_total", |v| v >= 1.0).await;
    stop(daemon).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_crawled_as_desktop_and_mobile_is_never_asked_conditionally() {
    // The store keeps one set of validators per URL: a 304 to the phone for the desktop's
    // validators would say nothing of what phones are served.
    let asked: Arc<Mutex<Vec<String>>> = Arc::default();
    let served_304: Arc<Mutex<usize>> = Arc::default();
    let (seen, sent) = (asked.clone(), served_304.clone());
    let server = serve(move |request| {
        if request.header("if-none-match").is_some()
            || request.header("if-modified-since").is_some()
        {
            seen.lock().unwrap().push(request.path.clone());
        }
        match request.path.as_str() {
            "/" => Action::html(page("公司简介", &["/a.html"])),
            "/a.html" => conditional_page(request, &sent),
            _ => Action::status(404),
        }
    })
    .await;
    let sites = format!(
        "{}agents = \"both\"\n",
        site("both", "both.example.test", server.addr.port(), "1s")
    );
    let (_setup, daemon, store) =
        start_daemon("interval = \"1s\"\nshutdown_grace = \"10s\"\n", &sites).await;
    let store: &dyn Store = &store;
    let runs = wait_runs(store, "both", 3).await;
    assert!(
        asked.lock().unwrap().is_empty(),
        "{:?}",
        asked.lock().unwrap()
    );
    assert_eq!(*served_304.lock().unwrap(), 0);
    assert!(
        runs[0].stats["by_status"].get("304").is_none(),
        "{}",
        runs[0].stats
    );
    assert_eq!(flags(store, "both").len(), 1);
    stop(daemon).await;
}

/// Pages of the slow site: the home page links `/p0.html` ... `/p{n-1}.html`, and the first
/// of them carries a gambling term.
fn slow_page(path: &str, n: usize) -> Option<String> {
    if path == "/" {
        let links: Vec<String> = (0..n).map(|i| format!("/p{i}.html")).collect();
        let refs: Vec<&str> = links.iter().map(String::as_str).collect();
        return Some(page("首页", &refs));
    }
    let i: usize = path
        .strip_prefix("/p")?
        .strip_suffix(".html")?
        .parse()
        .ok()?;
    (i < n).then(|| match i {
        0 => page("欢迎来到网上赌博平台", &["/"]),
        _ => page(&format!("第{i}页 公司新闻"), &["/"]),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crawl_killed_mid_way_resumes_from_its_checkpoint_and_commits_every_page() {
    const PAGES: usize = 24;
    // Every page request, with the daemon (1 before the kill, 2 after) that made it.
    let daemon_no = Arc::new(std::sync::atomic::AtomicUsize::new(1));
    let log: Arc<Mutex<Vec<(usize, String)>>> = Arc::default();
    let (seen, which) = (log.clone(), daemon_no.clone());
    let server = serve(move |request| match slow_page(&request.path, PAGES) {
        Some(body) => {
            let n = which.load(std::sync::atomic::Ordering::SeqCst);
            seen.lock().unwrap().push((n, request.path.clone()));
            Action::Delayed {
                delay: std::time::Duration::from_millis(250),
                then: Box::new(Action::html(body)),
            }
        }
        None => Action::status(404),
    })
    .await;
    let config = format!(
        "[crawl]\nper_site_concurrency = 1\ncheckpoint_interval = \"100ms\"\n\
         [crawl.probes]\nenabled = false\n{}",
        site("slow", "slow.example.test", server.addr.port(), "1h")
    );
    let (setup, mut daemon, store) = start_daemon("", &config).await;
    let store: &dyn Store = &store;

    // Kill -9 once a good part of the site is fetched and a checkpoint holds it.
    let started = std::time::Instant::now();
    loop {
        let fetched = log.lock().unwrap().len();
        let saved = store.checkpoint("slow").expect("read the checkpoint");
        if fetched >= PAGES / 2 && saved.is_some() {
            break;
        }
        assert!(
            fetched < PAGES,
            "the crawl ended before the kill: {:?}",
            log.lock().unwrap()
        );
        assert!(started.elapsed() < PATIENCE, "{}", daemon.log());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    daemon.child.start_kill().unwrap();
    daemon.child.wait().await.unwrap();
    daemon_no.store(2, std::sync::atomic::Ordering::SeqCst);
    assert!(
        store.crawl_runs("slow", 10).unwrap().is_empty(),
        "nothing was committed"
    );
    let checkpoint = store.checkpoint("slow").unwrap().expect("a checkpoint");
    let before = log.lock().unwrap().len();

    let daemon = Daemon::start(&setup.path("config.toml")).await;
    let runs = wait_runs(store, "slow", 1).await;
    assert!(
        daemon
            .log()
            .contains("resuming an unfinished crawl from its checkpoint"),
        "{}",
        daemon.log()
    );
    // The resumed crawl is the killed one, recorded once; its checkpoint went with the record.
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].key, checkpoint.run_key);
    assert!(store.checkpoint("slow").unwrap().is_none());
    wait_metric(&daemon, "sitepatrol_crawls_resumed_total", |v| v == 1.0).await;

    // It fetched fewer pages than a fresh crawl (the home page and every other page), each
    // at most once: the home page and the gambling page again, and what was left.
    let second: Vec<String> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|(n, _)| *n == 2)
        .map(|(_, p)| p.clone())
        .collect();
    let saved: serde_json::Value = serde_json::from_str(&checkpoint.state).expect("JSON");
    let done = saved["done"].as_array().expect("pages done").len();
    assert!(done >= 1, "{saved}");
    assert_eq!(
        second.len(),
        PAGES + 1 - done,
        "{before} before; {saved}; {second:?}"
    );
    let distinct: std::collections::HashSet<&String> = second.iter().collect();
    assert_eq!(distinct.len(), second.len(), "{second:?}");
    assert!(second.contains(&"/".to_string()), "{second:?}");
    assert!(second.contains(&"/p0.html".to_string()), "{second:?}");

    // The committed crawl covers every page, those fetched before the kill included.
    let states = store.page_states("slow").unwrap();
    let recorded: std::collections::HashSet<String> = states
        .iter()
        .filter_map(|(url, _)| url::Url::parse(url).ok())
        .map(|u| u.path().to_string())
        .collect();
    for path in std::iter::once("/".to_string()).chain((0..PAGES).map(|i| format!("/p{i}.html"))) {
        assert!(
            recorded.contains(&path),
            "{path} not recorded: {recorded:?}"
        );
    }
    let flags = flags(store, "slow");
    assert_eq!(flags.len(), 1, "{flags:#?}");
    assert!(flags[0].url.ends_with("/p0.html"), "{flags:#?}");
    stop(daemon).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_that_cannot_be_used_means_a_crawl_from_scratch_with_a_warning() {
    let server = serve(|request| match request.path.as_str() {
        "/" => Action::html(page("欢迎来到网上赌博平台", &["/a.html"])),
        "/a.html" => Action::html(page("公司简介", &[])),
        _ => Action::status(404),
    })
    .await;
    let setup = Setup::new();
    let config = setup.write_config(&format!(
        "[schedule]\njitter = 0.0\n[filing]\nenabled = false\n{}",
        site("torn", "torn.example.test", server.addr.port(), "1h")
    ));
    // A checkpoint cut off mid-write, as a damaged disk or a hand edit might leave it.
    let store = setup.store();
    store
        .upsert_sites(
            &[sitepatrol_store::SiteInfo {
                id: "torn".into(),
                customer: "customer-torn".into(),
                domains: vec!["torn.example.test".into()],
                origin: None,
                contact: Default::default(),
            }],
            1,
        )
        .unwrap();
    let torn = sitepatrol_store::Checkpoint {
        site: "torn".into(),
        run_key: "torn:1".into(),
        saved_at: sitepatrol_core::clock::unix_now(),
        state: "{\"format\":1,\"run_key\":\"torn:1\",\"pass\":{\"frontier\":{\"queued\":[[".into(),
    };
    store.save_checkpoint(&torn).unwrap();

    let daemon = Daemon::start(&config).await;
    let store: &dyn Store = &store;
    let runs = wait_runs(store, "torn", 1).await;
    assert!(
        daemon
            .log()
            .contains("the crawl's checkpoint cannot be used; crawling from scratch"),
        "{}",
        daemon.log()
    );
    assert_ne!(runs[0].key, torn.run_key);
    assert!(runs[0].ingest.pages >= 2, "{:#?}", runs[0].ingest);
    assert_eq!(flags(store, "torn").len(), 1);
    assert!(store.checkpoint("torn").unwrap().is_none());
    stop(daemon).await;
}
