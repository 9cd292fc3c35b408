//! External scripts: the site's own are crawled like its pages, third-party ones are fetched
//! once each up to the crawl's count, and common libraries and analytics never.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sitepatrol_crawl::crawl::{CrawlConfig, ScriptLimits, SkipReason};
use sitepatrol_crawl::fetch::{FetchConfig, ResolveOverride};

use crate::common::crawl::{crawl_config, crawl_with, fetch_config};
use crate::common::{Action, Server, serve};

const MINER: &str =
    "var miner = new CoinHive.Anonymous('SITE_KEY', {throttle: 0.3}); miner.start();";
const DROPPER: &[u8] = include_bytes!("../../examples/demo-site/js/stats.js");

/// The fetcher of `server`, with each of `hosts` resolving to it.
fn fetch_with_hosts(server: &Server, hosts: &[String]) -> FetchConfig {
    let mut fetch = fetch_config(server);
    for host in hosts {
        fetch.resolve.push(ResolveOverride {
            host: host.clone(),
            port: server.addr.port(),
            addr: server.addr.ip(),
        });
    }
    fetch
}

fn with_third_party(max: usize) -> CrawlConfig {
    CrawlConfig {
        scripts: ScriptLimits {
            max_third_party: max,
            ..ScriptLimits::default()
        },
        ..crawl_config()
    }
}

fn js(body: impl Into<Vec<u8>>) -> Action {
    Action::with_type(200, "application/javascript", body.into())
}

#[tokio::test]
async fn the_sites_own_and_third_party_scripts_are_scanned() {
    let analytics = Arc::new(AtomicUsize::new(0));
    let counted = analytics.clone();
    let server = serve(move |request| {
        let host = request.header("host").unwrap_or("").to_string();
        match request.path.as_str() {
            "/js/common.js" => js(DROPPER),
            "/m.js" if host.starts_with("cdn.evil.test") => js(MINER),
            "/gtag/js" => {
                counted.fetch_add(1, Ordering::Relaxed);
                js("window.dataLayer = window.dataLayer || [];")
            }
            "/" => {
                let port = host.rsplit(':').next().unwrap_or("80");
                Action::html(format!(
                    "<html><head><title>t</title>\
                     <script src='/js/common.js'></script>\
                     <script src='http://cdn.evil.test:{port}/m.js'></script>\
                     <script src='http://www.googletagmanager.com:{port}/gtag/js'></script>\
                     </head><body><p>社区新闻</p></body></html>"
                ))
            }
            _ => Action::status(404),
        }
    })
    .await;
    let hosts = [
        "cdn.evil.test".to_string(),
        "www.googletagmanager.com".to_string(),
    ];
    let outcome = crawl_with(
        &server,
        fetch_with_hosts(&server, &hosts),
        with_third_party(5),
    )
    .await;
    assert!(outcome.fetched("/js/common.js"), "{:?}", outcome.pages);
    let third_party = format!("cdn.evil.test:{}/m.js", server.addr.port());
    assert!(outcome.fetched(&third_party), "{:?}", outcome.pages);
    let flagged = |suffix: &str| {
        outcome
            .findings
            .iter()
            .any(|f| f.target.ends_with(suffix) && &*f.category == "malware")
    };
    assert!(flagged("/js/common.js"), "{:#?}", outcome.findings);
    assert!(flagged("/m.js"), "{:#?}", outcome.findings);
    assert_eq!(
        analytics.load(Ordering::Relaxed),
        0,
        "analytics are never fetched"
    );
}

#[tokio::test]
async fn third_party_scripts_are_fetched_once_each_up_to_the_count() {
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    let hosts: Vec<String> = (0..8).map(|i| format!("s{i}.test")).collect();
    let server = serve(move |request| {
        let host = request.header("host").unwrap_or("").to_string();
        let port = host.rsplit(':').next().unwrap_or("80").to_string();
        match request.path.as_str() {
            "/lib.js" => {
                counted.fetch_add(1, Ordering::Relaxed);
                js("console.log(1)")
            }
            path if path == "/" || path.starts_with("/p") => {
                // Every page loads the same eight scripts and links twenty pages.
                let scripts: String = (0..8)
                    .map(|i| format!("<script src='http://s{i}.test:{port}/lib.js'></script>"))
                    .collect();
                let links: String = (0..20).map(|i| format!("<a href='/p{i}'>p</a>")).collect();
                Action::html(format!(
                    "<html><head>{scripts}</head><body>{links}</body></html>"
                ))
            }
            _ => Action::status(404),
        }
    })
    .await;
    let outcome = crawl_with(
        &server,
        fetch_with_hosts(&server, &hosts),
        with_third_party(3),
    )
    .await;
    assert_eq!(outcome.stats.pages_fetched, 21 + 3, "{:?}", outcome.pages);
    assert_eq!(
        requests.load(Ordering::Relaxed),
        3,
        "each script once, three at most"
    );
    assert_eq!(outcome.stats.skipped[&SkipReason::ThirdPartyScripts], 5);
}

#[tokio::test]
async fn without_a_count_no_third_party_script_is_fetched() {
    let server = serve(|request| match request.path.as_str() {
        "/" => Action::html(
            "<html><head><script src='http://elsewhere.test/x.js'></script>\
             <script src='/own.js'></script></head><body>t</body></html>",
        ),
        "/own.js" => js("console.log(1)"),
        _ => Action::status(404),
    })
    .await;
    let outcome = crawl_with(&server, fetch_config(&server), crawl_config()).await;
    assert_eq!(outcome.pages.len(), 2, "{:?}", outcome.pages);
    assert!(outcome.fetched("/own.js"));
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
}
