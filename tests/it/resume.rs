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
    let (seen, sent) = (log.clone(), served_304.clone());
    let server = serve(move |request| {
        seen.lock().unwrap().push(request.path.clone());
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
    wait_metric(&daemon, "sitepatrol_pages_not_modified_total", |v| v >= 1.0).await;
    stop(daemon).await;
}
