//! The render stage in Debian's headless chromium, on loopback sites this file serves: text
//! that a script writes with `innerHTML` only after the page loaded (from a fetched JSON
//! document, so no reading of the source can see it) is in the rendered text and found by
//! the bundled rules in the `rendered` zone; the screenshot is a PNG; and the browser reaches
//! nothing the fetcher's SSRF policy refuses: a page on the allowed site that embeds an iframe,
//! an image and a `fetch` of another loopback port leaves that port untouched.
//!
//! Without chromium these tests print a notice and pass, unless `SITEPATROL_REQUIRE_BROWSER`
//! is set (CI sets it; `.ci/run` installs chromium), as `ui_browser.rs` does.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::common::{Action, Server, serve};
use sitepatrol_core::extract::{ZoneKind, rendered_document};
use sitepatrol_crawl::fetch::{FetchConfig, Fetcher};
use sitepatrol_crawl::render::{
    RenderConfig, RenderError, Rendered, find_browser, render_pages, running_as_root,
};
use url::Url;

/// Gambling text that reaches the page only through a script after load: the words are in a
/// JSON document the script fetches, and written with `innerHTML`.
pub const DYNAMIC_PAGE: &str = "<!doctype html><html><head><title>欢迎</title></head><body>\
<h1>公司简介</h1><div id=\"news\"></div>\
<script>window.addEventListener('load', function () {\
  fetch('/news.json').then(function (r) { return r.json(); }).then(function (d) {\
    document.getElementById('news').innerHTML = '<p>' + d.items.join('</p><p>') + '</p>';\
  });\
});</script></body></html>";

/// The fetched document: `\u` escapes, so the words are not even in its bytes as UTF-8.
pub const NEWS_JSON: &str = r#"{"items":["\u7f51\u4e0a\u8d4c\u573a \u771f\u4eba\u8377\u5b98 \u767e\u5bb6\u4e50\u5e73\u53f0 \u6ce8\u518c\u5c31\u9001\u5f69\u91d1"]}"#;

/// The browser, or `None` with a notice (a failure when the browser is required).
pub fn browser_or_notice() -> Option<std::path::PathBuf> {
    match find_browser(None) {
        Ok(path) => Some(path),
        Err(why) => {
            assert!(
                std::env::var_os("SITEPATROL_REQUIRE_BROWSER").is_none(),
                "SITEPATROL_REQUIRE_BROWSER is set, but: {why}"
            );
            eprintln!("notice: render tests skipped: {why}");
            None
        }
    }
}

pub async fn dynamic_site() -> Server {
    serve(|req| match req.path.as_str() {
        "/" => Action::html(DYNAMIC_PAGE),
        "/news.json" => Action::with_type(200, "application/json", NEWS_JSON.as_bytes().to_vec()),
        _ => Action::status(404),
    })
    .await
}

fn config(browser: std::path::PathBuf) -> RenderConfig {
    RenderConfig {
        browser,
        timeout: Duration::from_secs(30),
        memory_bytes: 2 << 30,
        viewport: (1024, 768),
        user_agent: None,
        sandbox: !running_as_root(),
    }
}

/// A fetcher allowed onto exactly these loopback addresses, as the daemon makes one for a site
/// with `allow_private_networks`.
fn fetcher(allowed: Vec<SocketAddr>) -> Fetcher {
    Fetcher::new(FetchConfig {
        allowed_addresses: allowed,
        ..FetchConfig::default()
    })
}

async fn render(
    browser: std::path::PathBuf,
    allowed: Vec<SocketAddr>,
    url: &str,
) -> Result<Rendered, RenderError> {
    let urls = [Url::parse(url).expect("a URL")];
    let mut out = render_pages(&config(browser), fetcher(allowed).connector(), &urls).await;
    out.pop().expect("one result")
}

pub fn assert_png(png: &[u8]) {
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "not a PNG: {:?}",
        &png[..png.len().min(16)]
    );
}

#[tokio::test]
async fn text_written_by_scripts_after_load_is_rendered_and_found() {
    let Some(browser) = browser_or_notice() else {
        return;
    };
    let site = dynamic_site().await;
    let rendered = render(browser, vec![site.addr], &site.url("/"))
        .await
        .expect("the page renders");
    assert!(
        rendered.text.contains("网上赌场"),
        "rendered text: {}",
        rendered.text
    );
    assert_png(&rendered.png);
    // The static reading does not see it; the rendered zone does.
    let scanner = crate::common::crawl::scanner();
    let rules = scanner.ruleset();
    let statically = rules.scan_document(
        &sitepatrol_core::extract::extract_html(DYNAMIC_PAGE, None),
        "page",
    );
    assert!(
        statically.iter().all(|f| &*f.category != "gambling"),
        "{statically:?}"
    );
    let found = rules.scan_document(&rendered_document(&rendered.text), "page");
    let gambling = found
        .iter()
        .find(|f| &*f.category == "gambling")
        .unwrap_or_else(|| panic!("no gambling flag in {found:?}"));
    assert_eq!(gambling.zone, Some(ZoneKind::Rendered));
}

#[tokio::test]
async fn the_browser_reaches_no_address_the_policy_refuses() {
    let Some(browser) = browser_or_notice() else {
        return;
    };
    // The "private service": another loopback port, not the site's own address.
    let private = serve(|_| Action::html("<p>secret</p>")).await;
    let private_url = private.url("/secret");
    let page = format!(
        "<!doctype html><body><p>正文</p>\
         <iframe src=\"{private_url}\"></iframe><img src=\"{private_url}.png\">\
         <script>fetch('{private_url}.json').catch(function () {{}});\
         var x = new XMLHttpRequest(); x.open('GET', '{private_url}.xhr'); x.send();</script>\
         </body>"
    );
    let site = serve(move |_| Action::html(page.clone())).await;
    let rendered = render(browser.clone(), vec![site.addr], &site.url("/"))
        .await
        .expect("the allowed page renders");
    assert!(rendered.text.contains("正文"), "{}", rendered.text);
    assert_eq!(
        private.requests.load(Ordering::SeqCst),
        0,
        "the browser reached a refused address"
    );
    // Loaded directly, the private page is refused too (the navigation fails).
    let direct = render(browser, vec![site.addr], &private_url).await;
    assert!(
        matches!(direct, Err(RenderError::Navigation(_))),
        "{direct:?}"
    );
    assert_eq!(private.requests.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_page_over_its_time_budget_is_cut_and_the_next_one_renders() {
    let Some(browser) = browser_or_notice() else {
        return;
    };
    let site = serve(|req| match req.path.as_str() {
        "/loop" => Action::html("<p>before</p><script>while (true) {}</script>"),
        _ => Action::html("<p>第二页</p>"),
    })
    .await;
    let mut config = config(browser);
    config.timeout = Duration::from_secs(5);
    let urls = [
        Url::parse(&site.url("/loop")).unwrap(),
        Url::parse(&site.url("/fine")).unwrap(),
    ];
    let out = render_pages(&config, fetcher(vec![site.addr]).connector(), &urls).await;
    assert!(
        matches!(out[0], Err(RenderError::Timeout(_))),
        "{:?}",
        out[0]
    );
    let second = out[1].as_ref().expect("the next page renders");
    assert!(second.text.contains("第二页"));
}
