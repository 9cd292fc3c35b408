//! Hostile servers on loopback: each case must end within its limits, with the right error
//! class, and the crawl must go on to the site's other pages.

use std::sync::Arc;
use std::time::Duration;

use crate::common::crawl::*;
use crate::common::{self, Action, serve};
use sitepatrol_crawl::crawl::{CrawlConfig, Scope, SkipReason};

/// A home page linking to the hostile path and to an ordinary page.
fn home(hostile: &str) -> Action {
    Action::html(format!(
        "<html><body><a href='{hostile}'>x</a> <a href='/fine'>fine</a></body></html>"
    ))
}

fn fine() -> Action {
    Action::html("<p>一切正常的页面</p>")
}

#[tokio::test]
async fn a_slow_drip_hits_the_total_timeout() {
    let server = serve(|r| match r.path.as_str() {
        "/" => home("/drip"),
        "/drip" => Action::Drip {
            body: vec![b'x'; 100],
            interval: Duration::from_secs(1),
        },
        "/fine" => fine(),
        _ => Action::status(404),
    })
    .await;
    let out = crawl(&server).await;
    let (_, class, message) = out.failed("/drip").expect("the drip fails");
    assert_eq!(class, "total_timeout", "{message}");
    assert!(out.fetched("/fine"), "the crawl went on");
    assert!(out.elapsed < Duration::from_secs(10), "{:?}", out.elapsed);
    assert_eq!(out.stats.errors["total_timeout"], 1);
}

#[tokio::test]
async fn the_total_timeout_bounds_a_chain_of_slow_redirects() {
    // Five hops of 0.7 s each: every hop is within the 1 s first-byte and 2 s total limits,
    // and the chain is not.
    let server = serve(|r| {
        let hop = |to: &str| Action::Delayed {
            delay: Duration::from_millis(700),
            then: Box::new(Action::redirect(302, to)),
        };
        match r.path.as_str() {
            "/" => home("/r1"),
            "/r1" => hop("/r2"),
            "/r2" => hop("/r3"),
            "/r3" => hop("/r4"),
            "/r4" => hop("/r5"),
            "/r5" => hop("/fine"),
            "/fine" => fine(),
            _ => Action::status(404),
        }
    })
    .await;
    let out = crawl(&server).await;
    let (_, class, message) = out.failed("/r1").expect("the chain fails");
    assert_eq!(class, "total_timeout", "{message}");
    // Three hops fit in the 2 s; before the fix the chain took 3.5 s and succeeded.
    assert!(out.elapsed < Duration::from_secs(3), "{:?}", out.elapsed);
}

#[tokio::test]
async fn a_server_that_never_answers_hits_the_first_byte_timeout() {
    let server = serve(|r| match r.path.as_str() {
        "/" => home("/hang"),
        "/hang" => Action::Hang,
        "/fine" => fine(),
        _ => Action::status(404),
    })
    .await;
    let out = crawl(&server).await;
    let (_, class, _) = out.failed("/hang").expect("the hang fails");
    assert_eq!(class, "first_byte_timeout");
    assert!(out.fetched("/fine"));
    assert!(out.elapsed < Duration::from_secs(10), "{:?}", out.elapsed);
}

#[tokio::test]
async fn an_infinite_redirect_loop_stops_at_the_limit() {
    let server = serve(|r| match r.path.as_str() {
        "/" => home("/loop/0"),
        p if p.starts_with("/loop/") => {
            let n: u32 = p[6..].parse().unwrap_or(0);
            Action::redirect(302, &format!("/loop/{}", (n + 1) % 3))
        }
        "/fine" => fine(),
        _ => Action::status(404),
    })
    .await;
    let out = crawl(&server).await;
    let (_, class, message) = out.failed("/loop/0").expect("the loop fails");
    assert_eq!(class, "too_many_redirects");
    assert!(message.contains("more than 10 redirects"), "{message}");
    assert!(out.fetched("/fine"));
}

#[tokio::test]
async fn redirects_to_loopback_and_metadata_addresses_are_refused() {
    let server = serve(|r| match r.path.as_str() {
        "/" => Action::html(
            "<a href='/to-loopback'>a</a><a href='/to-metadata'>b</a><a href='/fine'>c</a>",
        ),
        "/to-loopback" => Action::redirect(302, "http://127.0.0.1:9/admin"),
        "/to-metadata" => Action::redirect(301, "http://169.254.169.254/latest/meta-data/"),
        "/fine" => fine(),
        _ => Action::status(404),
    })
    .await;
    let out = crawl(&server).await;
    let (_, class, message) = out.failed("/to-loopback").expect("refused");
    assert_eq!(class, "refused");
    assert!(
        message.contains("refused: 127.0.0.1 is a loopback address"),
        "{message}"
    );
    let (_, class, message) = out.failed("/to-metadata").expect("refused");
    assert_eq!(class, "refused");
    assert!(message.contains("169.254.169.254"), "{message}");
    assert!(out.fetched("/fine"));
}

#[tokio::test]
async fn a_gzip_bomb_and_a_huge_body_stop_at_the_cap() {
    let bomb = common::gzip(&vec![b'a'; 200 << 20]);
    assert!(
        bomb.len() < 1 << 20,
        "the bomb is small: {} bytes",
        bomb.len()
    );
    let bomb = Arc::new(bomb);
    let body = bomb.clone();
    let server = serve(move |r| match r.path.as_str() {
        "/" => Action::html("<a href='/bomb'>a</a><a href='/huge'>b</a><a href='/fine'>c</a>"),
        "/bomb" => Action::Respond {
            status: 200,
            headers: vec![
                ("Content-Type".into(), "text/html".into()),
                ("Content-Encoding".into(), "gzip".into()),
            ],
            body: body.to_vec(),
        },
        "/huge" => Action::with_type(200, "text/plain", vec![b'z'; 50 << 20]),
        "/fine" => fine(),
        _ => Action::status(404),
    })
    .await;
    let mut fetch = fetch_config(&server);
    fetch.total_timeout = Duration::from_secs(20);
    fetch.first_byte_timeout = Duration::from_secs(20);
    let out = crawl_with(&server, fetch, crawl_config()).await;
    assert!(out.fetched("/bomb") && out.fetched("/huge") && out.fetched("/fine"));
    assert_eq!(
        out.stats.errors["body_too_large"], 2,
        "{:?}",
        out.stats.errors
    );
    // Two capped bodies of 1 MiB and two small pages.
    assert!(out.stats.bytes < 3 << 20, "{}", out.stats.bytes);
}

#[tokio::test]
async fn a_page_with_100k_links_is_bounded() {
    let mut page = String::from("<html><body>");
    for i in 0..100_000 {
        page.push_str(&format!("<a href='/p/{i}'>{i}</a>\n"));
    }
    let page = Arc::new(page);
    let body = page.clone();
    let server = serve(move |r| match r.path.as_str() {
        "/" => Action::html(body.as_str()),
        _ => fine(),
    })
    .await;
    let config = CrawlConfig {
        max_pages: 50,
        ..crawl_config()
    };
    let out = crawl_with(&server, fetch_config(&server), config).await;
    assert_eq!(out.stats.pages_fetched, 50);
    assert!(
        out.stats
            .skipped
            .get(&SkipReason::MaxPages)
            .copied()
            .unwrap_or(0)
            > 0
    );
    assert!(
        out.stats
            .skipped
            .get(&SkipReason::FrontierFull)
            .copied()
            .unwrap_or(0)
            > 0,
        "{:?}",
        out.stats.skipped
    );
    assert!(out.elapsed < Duration::from_secs(20), "{:?}", out.elapsed);
}

#[tokio::test]
async fn link_traps_end_within_the_budget() {
    let server = serve(|r| {
        let path = r.path.as_str();
        if path == "/" {
            return Action::html(
                "<a href='/a/'>a</a><a href='/list?page=1'>l</a><a href='/cal/2024/1/'>c</a>",
            );
        }
        if path.starts_with("/a/") {
            // /a/ links to /a/a/, forever.
            return Action::html(format!("<a href='{path}a/'>deeper</a>"));
        }
        if let Some(n) = path.strip_prefix("/list?page=") {
            let n: u64 = n.parse().unwrap_or(0);
            return Action::html(format!("<a href='/list?page={}'>next</a>", n + 1));
        }
        if let Some(rest) = path.strip_prefix("/cal/") {
            let parts: Vec<u32> = rest.split('/').filter_map(|p| p.parse().ok()).collect();
            let (y, m) = (
                parts.first().copied().unwrap_or(2024),
                parts.get(1).copied().unwrap_or(1),
            );
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            return Action::html(format!("<a href='/cal/{ny}/{nm}/'>next month</a>"));
        }
        Action::status(404)
    })
    .await;
    let config = CrawlConfig {
        max_pages: 2000,
        max_depth: 10_000,
        ..crawl_config()
    };
    let out = crawl_with(&server, fetch_config(&server), config).await;
    let skipped = &out.stats.skipped;
    assert!(
        skipped.contains_key(&SkipReason::RepeatedSegments),
        "{skipped:?}"
    );
    assert!(
        skipped.contains_key(&SkipReason::TooManyQueryVariants),
        "{skipped:?}"
    );
    assert!(skipped.contains_key(&SkipReason::Calendar), "{skipped:?}");
    let trap = out
        .findings
        .iter()
        .find(|f| &*f.rule == "crawl.trap_suspected")
        .expect("a crawl.trap_suspected finding");
    for kind in [
        "trap_repeated_segments",
        "trap_query_variants",
        "trap_calendar",
    ] {
        assert!(trap.matched.contains(kind), "{kind}: {}", trap.matched);
    }
    // 1 home + 3 of /a/ + 100 list pages + calendar months up to the year limit.
    assert!(out.stats.pages_fetched < 400, "{}", out.stats.pages_fetched);
}

#[tokio::test]
async fn a_wrong_charset_header_does_not_hide_gbk_content() {
    let (gbk, _, _) =
        encoding_rs::GBK.encode("<html><body><p>欢迎光临网上赌场，注册就送</p></body></html>");
    let gbk = gbk.into_owned();
    let server = serve(move |r| match r.path.as_str() {
        "/" => Action::html("<a href='/gbk'>g</a><a href='/fine'>f</a>"),
        "/gbk" => Action::with_type(200, "text/html; charset=iso-8859-1", gbk.clone()),
        "/fine" => fine(),
        _ => Action::status(404),
    })
    .await;
    let out = crawl(&server).await;
    let finding = out
        .findings
        .iter()
        .find(|f| f.target.ends_with("/gbk") && &*f.rule == "gambling.online_casino")
        .expect("the GBK page is read as GBK");
    assert_eq!(finding.matched, "网上赌场");
}

#[tokio::test]
async fn too_many_requests_backs_off_and_retries() {
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    let server = serve(move |r| match r.path.as_str() {
        "/" => home("/busy"),
        "/busy" => {
            if counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                Action::Respond {
                    status: 429,
                    headers: vec![("Retry-After".into(), "1".into())],
                    body: Vec::new(),
                }
            } else {
                Action::html("<p>second try</p>")
            }
        }
        "/fine" => fine(),
        _ => Action::status(404),
    })
    .await;
    let out = crawl(&server).await;
    assert!(out.fetched("/busy"), "retried: {:?}", out.failures);
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert!(
        out.elapsed >= Duration::from_secs(1),
        "Retry-After was honoured: {:?}",
        out.elapsed
    );
    assert!(out.failures.is_empty());
}

#[tokio::test]
async fn robots_disallow_all_is_an_info_finding() {
    let server = serve(|r| match r.path.as_str() {
        "/robots.txt" => {
            Action::with_type(200, "text/plain", b"User-agent: *\nDisallow: /\n".to_vec())
        }
        _ => fine(),
    })
    .await;
    let out = crawl(&server).await;
    assert_eq!(out.stats.pages_fetched, 0);
    let f = out
        .findings
        .iter()
        .find(|f| &*f.rule == "crawl.blocked_by_robots")
        .expect("reported");
    assert_eq!(f.severity, sitepatrol_core::finding::Severity::Info);
    // Only robots.txt was requested.
    assert_eq!(server.requests.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_reset_in_the_middle_of_the_body_is_body_incomplete() {
    let server = serve(|r| match r.path.as_str() {
        "/" => home("/reset"),
        "/reset" => Action::ResetAfter {
            length: 100_000,
            sent: b"<html><body>partial".to_vec(),
        },
        "/fine" => fine(),
        _ => Action::status(404),
    })
    .await;
    let out = crawl(&server).await;
    let (_, class, _) = out.failed("/reset").expect("the reset fails");
    assert_eq!(class, "body_incomplete");
    assert!(out.fetched("/fine"));
}

#[tokio::test]
async fn robots_rules_and_crawl_delay_are_obeyed() {
    let server = serve(|r| match r.path.as_str() {
        "/robots.txt" => Action::with_type(
            200,
            "text/plain",
            b"User-agent: *\nDisallow: /private/\nCrawl-delay: 1\n".to_vec(),
        ),
        "/" => Action::html("<a href='/private/x'>p</a><a href='/a'>a</a><a href='/b'>b</a>"),
        _ => fine(),
    })
    .await;
    let out = crawl(&server).await;
    assert!(!out.fetched("/private/x"));
    assert_eq!(out.stats.skipped[&SkipReason::Robots], 1);
    // robots.txt, then /, /a, /b one second apart.
    assert!(out.elapsed >= Duration::from_secs(3), "{:?}", out.elapsed);
}

#[tokio::test]
async fn iframes_frames_and_redirect_targets_are_followed() {
    let server = serve(|r| match r.path.as_str() {
        "/" => Action::html(
            "<frameset><frame src='/framed'></frameset><iframe src='/inner' width=0 height=0></iframe>\
             <meta http-equiv='refresh' content='5;url=/refreshed'>\
             <script>window.location.href = '/js-target';</script>",
        ),
        "/framed" | "/inner" | "/refreshed" | "/js-target" => fine(),
        _ => Action::status(404),
    })
    .await;
    let out = crawl(&server).await;
    for path in ["/framed", "/inner", "/refreshed", "/js-target"] {
        assert!(out.fetched(path), "{path} not followed: {:?}", out.pages);
    }
}

#[tokio::test]
async fn sitemaps_are_start_points() {
    let server = serve(|r| match r.path.as_str() {
        // Relative locations are resolved against the file that names them.
        "/robots.txt" => Action::with_type(200, "text/plain", b"Sitemap: /maps/index.xml\n".to_vec()),
        "/maps/index.xml" => Action::with_type(
            200,
            "application/xml",
            b"<sitemapindex><sitemap><loc>/maps/pages.xml</loc></sitemap></sitemapindex>".to_vec(),
        ),
        "/maps/pages.xml" => Action::with_type(
            200,
            "application/xml",
            b"<urlset><url><loc>/hidden-1</loc></url><url><loc>/hidden-2?a=1&amp;b=2</loc></url></urlset>"
                .to_vec(),
        ),
        "/" => Action::html("<p>no links at all</p>"),
        _ => fine(),
    })
    .await;
    let out = crawl(&server).await;
    assert!(out.fetched("/hidden-1"), "{:?}", out.pages);
    assert!(out.fetched("/hidden-2?a=1&b=2"), "{:?}", out.pages);
    assert_eq!(out.stats.pages_fetched, 3);
}

#[tokio::test]
async fn the_scope_keeps_the_crawl_on_the_site() {
    let server = serve(|r| match r.path.as_str() {
        "/" => {
            Action::html("<a href='http://other.example.test/'>elsewhere</a><a href='/fine'>f</a>")
        }
        _ => fine(),
    })
    .await;
    let config = CrawlConfig {
        scope: Scope::Host,
        ..crawl_config()
    };
    let out = crawl_with(&server, fetch_config(&server), config).await;
    assert_eq!(out.stats.pages_fetched, 2);
    assert!(out.failures.is_empty(), "{:?}", out.failures);
}

#[tokio::test]
async fn other_content_types_are_counted_and_skipped() {
    let server = serve(|r| match r.path.as_str() {
        "/" => {
            Action::html("<a href='/logo.png'>l</a><a href='/doc.pdf'>d</a><a href='/app.js'>j</a>")
        }
        "/logo.png" => Action::with_type(200, "image/png", b"\x89PNG\r\n\x1a\n".to_vec()),
        "/doc.pdf" => Action::with_type(200, "application/pdf", b"%PDF-1.4".to_vec()),
        "/app.js" => Action::with_type(
            200,
            "application/javascript",
            b"var miner = new CoinHive.Anonymous('key');".to_vec(),
        ),
        _ => Action::status(404),
    })
    .await;
    let out = crawl(&server).await;
    assert_eq!(out.stats.pages_fetched, 4);
    assert_eq!(out.stats.pages_scanned, 2);
    assert_eq!(out.stats.content_types_skipped["image/png"], 1);
    assert_eq!(out.stats.content_types_skipped["application/pdf"], 1);
    assert!(
        out.findings
            .iter()
            .any(|f| f.target.ends_with("/app.js") && f.rule.starts_with("malware."))
    );
}

#[tokio::test]
async fn byte_and_wall_time_budgets_end_the_crawl() {
    let server = serve(|r| {
        let n: u32 = r.path.trim_start_matches("/p").parse().unwrap_or(0);
        let mut body = format!(
            "<a href='/p{}'>next</a><a href='/p{}'>next</a>",
            n + 1,
            n + 2
        );
        body.push_str(&"<p>填充内容</p>".repeat(5000));
        Action::html(body)
    })
    .await;
    let config = CrawlConfig {
        max_bytes: 250_000,
        concurrency: 1,
        ..crawl_config()
    };
    let out = crawl_with(&server, fetch_config(&server), config).await;
    // Each page is about 95 KB: the third one crosses the budget.
    assert_eq!(out.stats.pages_fetched, 3, "{:?}", out.stats);
    assert!(
        out.stats.skipped.contains_key(&SkipReason::MaxBytes),
        "{:?}",
        out.stats.skipped
    );

    let slow = serve(|r| {
        let n: u32 = r.path.trim_start_matches("/p").parse().unwrap_or(0);
        Action::Drip {
            body: format!("<a href='/p{}'>n</a>", n + 1).into_bytes(),
            interval: Duration::from_millis(20),
        }
    })
    .await;
    let config = CrawlConfig {
        max_wall_time: Duration::from_secs(2),
        ..crawl_config()
    };
    let out = crawl_with(&slow, fetch_config(&slow), config).await;
    assert!(out.elapsed < Duration::from_secs(4), "{:?}", out.elapsed);
    assert!(
        out.stats.skipped.contains_key(&SkipReason::WallTime),
        "{:?}",
        out.stats.skipped
    );
    assert!(out.stats.pages_fetched >= 2);
}

#[tokio::test]
async fn a_nul_byte_in_an_html_page_hides_neither_its_text_nor_its_links() {
    let server = serve(|r| match r.path.as_str() {
        "/" => Action::html(
            "<html><body><!-- \0 -->澳门赌场 真人百家乐 网上赌博 注册送彩金 \
             <a href='/next'>n</a></body></html>",
        ),
        "/next" => fine(),
        _ => Action::status(404),
    })
    .await;
    let out = crawl(&server).await;
    assert!(
        out.findings
            .iter()
            .any(|f| &*f.category == "gambling" && f.target.ends_with('/')),
        "{:#?}",
        out.findings
    );
    assert!(out.fetched("/next"), "{:?}", out.pages);
    assert_eq!(out.stats.pages_scanned, 2, "{:?}", out.stats);
}

#[tokio::test]
async fn a_forums_threads_are_crawled_whole_and_its_sort_orders_are_cut() {
    const THREADS: u64 = 600;
    let server = serve(|r| {
        let path = r.path.as_str();
        if path == "/" || path.starts_with("/forum.php?mod=forumdisplay") {
            // The board: every thread, and its sort orders, each the same list again.
            let mut html = String::from("<html><body><h1>站务讨论区</h1>");
            for tid in 0..THREADS {
                html.push_str(&format!(
                    "<a href='/forum.php?mod=viewthread&tid={tid}'>主题{tid}</a> "
                ));
            }
            for order in 0..200 {
                html.push_str(&format!(
                    "<a href='/forum.php?mod=forumdisplay&fid=2&orderby=o{order}'>排序{order}</a> "
                ));
            }
            return Action::html(html + "</body></html>");
        }
        if let Some(tid) = path.strip_prefix("/forum.php?mod=viewthread&tid=") {
            let tid: u32 = tid.parse().unwrap_or(0);
            // Each thread says something of its own.
            let text: String = (0..80)
                .map(|k| char::from_u32(0x4E00 + (tid * 257 + k * 13) % 20_000).unwrap())
                .collect();
            return Action::html(format!(
                "<html><body><h1>主题{tid}</h1><p>{text}</p></body></html>"
            ));
        }
        Action::status(404)
    })
    .await;
    let config = CrawlConfig {
        max_pages: 2_000,
        ..crawl_config()
    };
    let out = crawl_with(&server, fetch_config(&server), config).await;
    let threads = (0..THREADS)
        .filter(|tid| out.fetched(&format!("/forum.php?mod=viewthread&tid={tid}")))
        .count();
    assert_eq!(threads as u64, THREADS, "{:?}", out.stats.skipped);
    // The board repeats itself under every sort order: a few dozen fetches at most, not 200.
    assert!(
        out.stats
            .skipped
            .contains_key(&SkipReason::TooManyQueryVariants),
        "{:?}",
        out.stats.skipped
    );
    assert!(
        out.stats.pages_fetched < THREADS + 60,
        "{}",
        out.stats.pages_fetched
    );
    // The site hears of it once: an info finding that names the trap and what was left.
    let traps: Vec<_> = out
        .findings
        .iter()
        .filter(|f| &*f.rule == "crawl.trap_suspected")
        .collect();
    assert_eq!(traps.len(), 1, "{:#?}", out.findings);
    assert!(
        traps[0].matched.contains("trap_query_variants"),
        "{}",
        traps[0].matched
    );
}
