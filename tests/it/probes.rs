//! Cloaking probes on loopback sites: a site that shows Baiduspider a gambling page, one that
//! sends visitors from Baidu to another site, and one that serves everyone the same page.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sitepatrol_crawl::crawl::probe::{CLOAKING, ProbeConfig, ProbeReport};
use sitepatrol_crawl::crawl::{CrawlEvent, Crawler};
use sitepatrol_crawl::fetch::politeness::{HostGate, PolitenessConfig};
use sitepatrol_crawl::fetch::{FetchConfig, Fetcher, ResolveOverride};
use url::Url;

use crate::common::crawl::{crawl_config, fetch_config, scanner};
use crate::common::daemon::*;
use crate::common::{Action, Request, Server, serve};
use sitepatrol_store::{FlagState, Store};

const CLEAN: &str = "<html><head><title>城南社区服务中心</title></head><body>\
    <p>社区服务中心为居民提供养老、托育、就业咨询等便民服务，欢迎到中心办理。</p>\
    <a href='/about.html'>关于我们</a><a href='https://www.gov.cn/'>中国政府网</a></body></html>";

/// What a hacked site shows Baiduspider: a gambling page linking six other sites.
fn spider_page() -> String {
    let links: String = (1..=6)
        .map(|i| format!("<a href='http://bet{i}.cc/'>百家乐{i}</a>"))
        .collect();
    format!(
        "<html><head><title>澳门葡京 网上赌博</title></head><body>\
         <p>欢迎来到网上赌博平台，百家乐、时时彩在线投注，开户即送彩金。</p>{links}</body></html>"
    )
}

async fn probe(server: &Server, fetch: FetchConfig, path: &str) -> ProbeReport {
    let crawler = Crawler::new(
        Fetcher::new(fetch),
        Arc::new(HostGate::new(PolitenessConfig::default())),
        scanner(),
        crawl_config(),
    );
    let start = Url::parse(&server.url("/")).unwrap();
    let page = Url::parse(&server.url(path)).unwrap();
    let mut reports = Vec::new();
    let stats = crawler
        .probe(
            &start,
            std::slice::from_ref(&page),
            &ProbeConfig::default(),
            &mut |event| {
                if let CrawlEvent::Probed(report) = event {
                    reports.push(*report);
                }
            },
        )
        .await;
    assert_eq!(
        stats.probes, 14,
        "6 spiders, 4 engines as desktop and phone"
    );
    assert_eq!(reports.len(), 1);
    reports.pop().unwrap()
}

fn is_baiduspider(request: &Request) -> bool {
    request
        .header("user-agent")
        .is_some_and(|ua| ua.contains("Baiduspider"))
}

#[tokio::test]
async fn a_gambling_page_shown_only_to_baiduspider_is_cloaking() {
    let server = serve(|request| {
        if is_baiduspider(request) {
            Action::html(spider_page())
        } else {
            Action::html(CLEAN)
        }
    })
    .await;
    let report = probe(&server, fetch_config(&server), "/").await;
    assert!(report.complete(), "{report:?}");
    assert_eq!(report.cloaked, ["baiduspider"], "{report:?}");
    let cloaking = &report.findings[0];
    assert_eq!(&*cloaking.rule, CLOAKING);
    assert_eq!(&*cloaking.category, "cloaking");
    let differences: Vec<&str> = cloaking.signals.iter().map(|s| &*s.rule).collect();
    assert!(
        differences.contains(&"malware.cloaking.content"),
        "{differences:?}"
    );
    assert!(
        differences.contains(&"malware.cloaking.links"),
        "{differences:?}"
    );
    for signal in &cloaking.signals {
        assert_eq!(signal.seen_by, [Arc::from("baiduspider")], "{signal:?}");
    }
    // What only the spider was shown is a finding of its own, marked as the spider's.
    let gambling = report
        .findings
        .iter()
        .find(|f| &*f.category == "gambling")
        .expect("the spider's gambling page is a finding");
    assert!(
        gambling
            .signals
            .iter()
            .all(|s| s.seen_by == [Arc::from("baiduspider")]),
        "{gambling:?}"
    );
    let evidence = String::from_utf8(report.evidence.expect("evidence")).unwrap();
    assert!(
        evidence.contains("社区服务中心为居民提供"),
        "the visitor's version"
    );
    assert!(
        evidence.contains("欢迎来到网上赌博平台"),
        "the spider's version"
    );
    assert!(
        evidence.contains("Baiduspider/2.0"),
        "what the spider presented"
    );
}

#[tokio::test]
async fn visitors_from_baidu_sent_to_another_site_is_cloaking() {
    let elsewhere = serve(|_| Action::html(spider_page())).await;
    let bet_port = elsewhere.addr.port();
    let server = serve(move |request| {
        let from_baidu = request
            .header("referer")
            .is_some_and(|r| r.contains("baidu.com"));
        if from_baidu {
            Action::redirect(302, &format!("http://bet.test:{bet_port}/"))
        } else {
            Action::html(CLEAN)
        }
    })
    .await;
    let mut fetch = fetch_config(&server);
    fetch.allowed_addresses.push(elsewhere.addr);
    fetch.resolve.push(ResolveOverride {
        host: "bet.test".into(),
        port: bet_port,
        addr: "127.0.0.1".parse().unwrap(),
    });
    let report = probe(&server, fetch, "/").await;
    assert_eq!(
        report.cloaked,
        ["search:baidu.com", "search:baidu.com:mobile"],
        "{report:?}"
    );
    let cloaking = &report.findings[0];
    assert_eq!(&*cloaking.rule, CLOAKING);
    let head = &cloaking.signals[0];
    assert_eq!(&*head.rule, "malware.cloaking.redirect", "{cloaking:?}");
    assert!(head.matched.contains("bet.test"), "{head:?}");
    let evidence = String::from_utf8(report.evidence.expect("evidence")).unwrap();
    assert!(evidence.contains("Referer: https://www.baidu.com/s?wd=127.0.0.1"));
    assert!(evidence.contains(&format!("http://bet.test:{bet_port}/")));
}

#[tokio::test]
async fn a_site_that_serves_everyone_the_same_is_not_cloaking() {
    let server = serve(|request| {
        // The same page for everyone, with a timestamp that differs between fetches.
        let ua = request.header("user-agent").unwrap_or("").len();
        Action::html(CLEAN.replace("</body>", &format!("<p>{ua}</p></body>")))
    })
    .await;
    let report = probe(&server, fetch_config(&server), "/").await;
    assert!(report.complete(), "{report:?}");
    assert!(report.cloaked.is_empty(), "{report:?}");
    assert!(report.findings.is_empty(), "{report:?}");
    assert!(report.evidence.is_none());
}

/// The daemon probes after each crawl and files cloaking on `<page>#cloaking`, with both
/// versions of the page as the stored copy; once the site serves every visitor the same, the
/// next crawl's probes resolve it.
#[tokio::test]
async fn the_daemon_flags_cloaking_with_both_versions_as_evidence() {
    let cleaned = Arc::new(AtomicBool::new(false));
    let cleaned_by_owner = cleaned.clone();
    let server = serve(move |request| {
        if is_baiduspider(request) && !cleaned_by_owner.load(Ordering::Relaxed) {
            Action::html(spider_page())
        } else {
            Action::html(CLEAN)
        }
    })
    .await;
    let port = server.addr.port();
    let (_setup, daemon, store) = start_daemon(
        "",
        &format!(
            "[crawl.probes]\nsample_pages = 1\n{}",
            site("cloaked", "cloaked.test", port, "1s")
        ),
    )
    .await;
    wait_runs(&store, "cloaked", 1).await;
    let flags = flags(&store, "cloaked");
    // The start page and the one sampled page (the server cloaks every path).
    let home = format!("http://cloaked.test:{port}/#cloaking");
    let cloaking = flags
        .iter()
        .find(|f| f.rule == CLOAKING && f.url == home)
        .unwrap_or_else(|| panic!("no cloaking flag on {home} in {flags:#?}\n{}", daemon.log()));
    let cloaked_pages = flags.iter().filter(|f| f.rule == CLOAKING).count();
    assert_eq!(cloaked_pages, 2, "{flags:#?}");
    assert!(
        cloaking
            .signals
            .iter()
            .all(|s| s.seen_by == ["baiduspider"]),
        "{cloaking:?}"
    );
    let body = store
        .body(&cloaking.body_sha256)
        .expect("read the body")
        .expect("the evidence is stored");
    let text = String::from_utf8_lossy(&body.data);
    assert!(text.contains("社区服务中心为居民提供") && text.contains("欢迎来到网上赌博平台"));
    // The visitor's pages are clean: nothing but the cloaking pseudo-page is flagged.
    assert!(
        flags.iter().all(|f| f.url.ends_with("#cloaking")),
        "{flags:#?}"
    );

    cleaned.store(true, Ordering::Relaxed);
    wait_two_more_runs(&store, "cloaked").await;
    let after = crate::common::daemon::flags(&store, "cloaked");
    assert!(
        after.iter().all(|f| f.state == FlagState::Resolved),
        "{after:#?}"
    );
    stop(daemon).await;
}

/// A site crawled as desktop and as phone: evidence both saw is one signal, seen by both,
/// with one agent's count (not the sum); what only the phone got says so.
#[tokio::test]
async fn both_agents_make_one_signal_seen_by_both() {
    let server = serve(|request| {
        let phone = request
            .header("user-agent")
            .is_some_and(|ua| ua.contains("Mobile"));
        let extra = if phone { "<p>手机版免费色情视频</p>" } else { "" };
        Action::html(format!(
            "<html><head><title>t</title></head><body><p>欢迎来到网上赌博平台</p>{extra}</body></html>"
        ))
    })
    .await;
    let port = server.addr.port();
    let (_setup, daemon, store) = start_daemon(
        "",
        &format!(
            "[crawl.probes]\nenabled = false\n{}agents = \"both\"\n",
            site("agents", "agents.test", port, "1h")
        ),
    )
    .await;
    wait_runs(&store, "agents", 1).await;
    let flags = flags(&store, "agents");
    let gambling = flags
        .iter()
        .find(|f| f.category == "gambling")
        .unwrap_or_else(|| panic!("{flags:#?}\n{}", daemon.log()));
    let shared = gambling
        .signals
        .iter()
        .find(|s| s.matched == "网上赌博")
        .unwrap_or_else(|| panic!("{gambling:#?}"));
    assert_eq!(shared.seen_by, ["desktop", "mobile"], "{gambling:#?}");
    assert_eq!(
        shared.count, 1,
        "one occurrence on the page, however many agents"
    );
    assert_eq!(
        gambling
            .signals
            .iter()
            .filter(|s| s.matched == "网上赌博")
            .count(),
        1
    );
    let porn = flags
        .iter()
        .find(|f| f.category == "pornography")
        .unwrap_or_else(|| panic!("the phone's page is flagged too: {flags:#?}"));
    assert!(
        porn.signals.iter().all(|s| s.seen_by == ["mobile"]),
        "{porn:#?}"
    );
    stop(daemon).await;
}

/// A hijack that sends search visitors to a gambling domain that is dead (or refused) is
/// still cloaking: where the visitor was sent is the evidence.
#[tokio::test]
async fn a_redirect_to_a_dead_site_for_search_visitors_is_cloaking() {
    let server = serve(|request| {
        let from_search = request.header("referer").is_some();
        if from_search {
            Action::redirect(302, "http://dead-bet.test:9/")
        } else {
            Action::html(CLEAN)
        }
    })
    .await;
    let mut fetch = fetch_config(&server);
    // Resolved to loopback, which the SSRF guard refuses: no traffic leaves the machine.
    fetch.resolve.push(ResolveOverride {
        host: "dead-bet.test".into(),
        port: 9,
        addr: "127.0.0.1".parse().unwrap(),
    });
    let report = probe(&server, fetch, "/").await;
    assert_eq!(report.cloaked.len(), 8, "every search visitor: {report:?}");
    let head = &report.findings[0].signals[0];
    assert_eq!(&*head.rule, "malware.cloaking.redirect", "{report:?}");
    assert!(head.matched.contains("dead-bet.test"), "{head:?}");
}
