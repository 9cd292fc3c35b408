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

use crate::common::daemon::{Daemon, Setup, flags, site, stop, wait_runs};
use crate::common::{Action, Server, serve};
use sitepatrol_core::extract::{ZoneKind, rendered_document};
use sitepatrol_crawl::fetch::{FetchConfig, Fetcher};
use sitepatrol_crawl::render::{
    RenderConfig, RenderError, Rendered, find_browser, render_pages, running_as_root,
};
use sitepatrol_server::review::auth::{Role, config_line, new_token};
use sitepatrol_store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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
/// 网上赌场 真人荷官 百家乐平台 注册就送彩金, and 网上赌博 (the daemon tests' rule).
pub const NEWS_JSON: &str = r#"{"items":["\u7f51\u4e0a\u8d4c\u573a \u771f\u4eba\u8377\u5b98 \u767e\u5bb6\u4e50\u5e73\u53f0 \u6ce8\u518c\u5c31\u9001\u5f69\u91d1", "\u6b22\u8fce\u6765\u5230\u7f51\u4e0a\u8d4c\u535a\u5e73\u53f0"]}"#;

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
    // Left for a person to look at, like the UI test's screenshot (best effort).
    let _ = std::fs::write(
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/render-screenshot.png"),
        &rendered.png,
    );
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

/// One HTTP/1.0 exchange: the status, the head, and the body as bytes (a PNG is no text).
async fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> (u16, String, Vec<u8>) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: test\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head, response[split + 4..].to_vec())
}

fn header<'a>(head: &'a str, name: &str) -> Vec<&'a str> {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .collect()
}

/// Logs in to the UI with `token`: the session cookie (`name=value`).
async fn ui_session(addr: SocketAddr, token: &str) -> String {
    let (status, head, body) = exchange(addr, "GET", "/login", "", "").await;
    assert_eq!(status, 200);
    let page = String::from_utf8_lossy(&body).to_string();
    let at = page.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    let csrf = &page[at..at + page[at..].find('"').expect("its end")];
    let cookies: Vec<&str> = header(&head, "set-cookie")
        .into_iter()
        .map(|c| c.split(';').next().unwrap_or(""))
        .collect();
    let (status, head, _) = exchange(
        addr,
        "POST",
        "/login",
        &format!(
            "Cookie: {}\r\nContent-Type: application/x-www-form-urlencoded\r\n",
            cookies.join("; ")
        ),
        &format!("csrf={csrf}&token={token}"),
    )
    .await;
    assert_eq!(status, 303, "{head}");
    header(&head, "set-cookie")
        .into_iter()
        .map(|c| c.split(';').next().unwrap_or("").to_string())
        .find(|c| c.starts_with("sitepatrol_session=") && !c.ends_with('='))
        .expect("a session cookie")
}

/// The issue's "done when": with rendering on, the daemon finds the text a script wrote with
/// `innerHTML` after load (in the `rendered` zone), stores the screenshot beside the page
/// copy, serves it from the API as a PNG, and the UI's flag page shows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_flags_rendered_text_and_serves_its_screenshot() {
    let Some(browser) = browser_or_notice() else {
        return;
    };
    let site_server = dynamic_site().await;
    let viewer = new_token().unwrap();
    let setup = Setup::new();
    let config = setup.write_config(&format!(
        "[filing]\nenabled = false\n[schedule]\ninterval = \"1h\"\n\
         [render]\nenabled = true\nbrowser = \"{}\"\ntimeout = \"30s\"\n[api]\n{}\n{}",
        browser.display(),
        config_line("viewer", Role::Viewer, &viewer),
        site("dyn", "dyn.example.cn", site_server.addr.port(), "1h"),
    ));
    let daemon = Daemon::start(&config).await;
    let store = setup.store();
    wait_runs(&store, "dyn", 1).await;
    crate::common::daemon::wait_metric(
        &daemon,
        "sitepatrol_rendered_pages_total{result=\"ok\"}",
        |n| n >= 1.0,
    )
    .await;
    let all = flags(&store, "dyn");
    let flag = all
        .iter()
        .find(|f| f.category == "gambling")
        .unwrap_or_else(|| panic!("no gambling flag: {all:?}\n{}", daemon.log()));
    assert_eq!(flag.zone.as_deref(), Some("rendered"), "{flag:?}");
    assert!(flag.url.ends_with('/'), "the home page: {}", flag.url);
    let png = store
        .screenshot(&flag.body_sha256)
        .unwrap()
        .expect("a screenshot beside the page copy");
    assert_png(&png);
    assert!(
        store.body(&flag.body_sha256).unwrap().is_some(),
        "the page copy"
    );

    // The API serves it as a PNG to a viewer, and to nobody without a token.
    let path = format!("/api/v1/flags/{}/screenshot", flag.id);
    let auth = format!("Authorization: Bearer {viewer}\r\n");
    let (status, head, body) = exchange(daemon.http, "GET", &path, &auth, "").await;
    assert_eq!(status, 200, "{head}");
    assert_eq!(header(&head, "content-type"), ["image/png"]);
    assert_eq!(header(&head, "x-content-type-options"), ["nosniff"]);
    assert_png(&body);
    assert_eq!(body, png);
    assert_eq!(exchange(daemon.http, "GET", &path, "", "").await.0, 401);

    // The UI's flag page shows it, and serves it to the session.
    let cookie = format!("Cookie: {}\r\n", ui_session(daemon.http, &viewer).await);
    let page_path = format!("/flags/{}", flag.id);
    let (status, _, page) = exchange(daemon.http, "GET", &page_path, &cookie, "").await;
    assert_eq!(status, 200);
    let page = String::from_utf8_lossy(&page);
    let img = format!("<img src=\"/flags/{}/screenshot\"", flag.id);
    assert!(page.contains(&img), "no {img} in:\n{page}");
    let shot = format!("/flags/{}/screenshot", flag.id);
    let (status, head, body) = exchange(daemon.http, "GET", &shot, &cookie, "").await;
    assert_eq!(status, 200, "{head}");
    assert_eq!(header(&head, "content-type"), ["image/png"]);
    assert_png(&body);
    stop(daemon).await;
}

/// `[render] enabled = true` with no browser: the daemon does not start, and says which key.
#[tokio::test]
async fn rendering_without_a_browser_is_a_startup_error_naming_the_key() {
    let setup = Setup::new();
    let config = setup.write_config(
        "[render]\nenabled = true\nbrowser = \"/nonexistent/chromium\"\n[filing]\nenabled = false\n",
    );
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_sitepatrol"))
        .args(["daemon", "--config"])
        .arg(&config)
        .output()
        .await
        .expect("run the daemon");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("render.browser") && stderr.contains("/nonexistent/chromium"),
        "{stderr}"
    );
    // `--check-config` says the same, without starting anything.
    let checked = tokio::process::Command::new(env!("CARGO_BIN_EXE_sitepatrol"))
        .args(["daemon", "--check-config", "--config"])
        .arg(&config)
        .output()
        .await
        .expect("run the check");
    assert_eq!(checked.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&checked.stderr).contains("render.browser"));
}

/// A browser over its memory budget is killed, and the render says why. (A budget far below
/// what any browser needs, so the first look at its processes finds it over.)
#[tokio::test]
async fn a_browser_over_its_memory_budget_is_killed() {
    let Some(browser) = browser_or_notice() else {
        return;
    };
    let site = dynamic_site().await;
    let mut config = config(browser);
    config.memory_bytes = 1 << 20;
    let urls = [Url::parse(&site.url("/")).unwrap()];
    let out = render_pages(&config, fetcher(vec![site.addr]).connector(), &urls).await;
    assert!(matches!(out[0], Err(RenderError::Memory)), "{:?}", out[0]);
}
