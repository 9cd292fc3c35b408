//! The render stage: a page as a browser shows it once its scripts ran.
//!
//! Content written by scripts (`innerHTML`, `document.write`, text fetched after load) is
//! invisible to a reading of the source. Debian's `chromium`, headless and driven over the
//! DevTools protocol ([`cdp`]: our own small client over `--remote-debugging-pipe`), loads a
//! page, and the render returns the text the page shows (`document.body.innerText`, the
//! `rendered` zone) and a PNG screenshot of the viewport, evidence for reviewers.
//!
//! Bounds and isolation:
//! - the browser reaches the network only through [`proxy`], which connects under the site's
//!   fetcher's SSRF policy ([`Connector`]);
//! - one browser per call of [`render_pages`] (one site), on a fresh temporary profile, gone
//!   afterwards: no cookie, cache or storage passes from one site to the next;
//! - each page has a time budget (the browser is killed and a fresh one started for the next
//!   page when it runs over) and the browser a memory budget (its processes' proportional
//!   memory, PSS, added up every 200 ms; killed past it; the JavaScript heap limited to half
//!   of it);
//! - chromium's sandbox stays on unless the daemon runs as root, where it cannot start (the
//!   caller decides and warns; see [`RenderConfig::sandbox`]).

pub mod browser;
pub mod cdp;
pub mod proxy;

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use url::Url;

use crate::fetch::connect::Connector;
use browser::Browser;
use proxy::Proxy;

pub use browser::running_as_root;

/// Time a page gets after its load event for what scripts do next (timers, fetches).
pub const SETTLE: Duration = Duration::from_millis(1000);
/// Bytes of rendered text kept per page; the browser cuts it before sending it.
pub const MAX_TEXT_CHARS: usize = 2 << 20;

/// How to render.
#[derive(Debug, Clone)]
pub struct RenderConfig {
    /// The browser's executable (Debian's `/usr/bin/chromium`).
    pub browser: PathBuf,
    /// One page's budget, from navigation to screenshot.
    pub timeout: Duration,
    /// The browser's memory (PSS), all its processes together.
    pub memory_bytes: u64,
    /// Width and height of the window and the screenshot, in CSS pixels.
    pub viewport: (u32, u32),
    /// The User-Agent the browser sends (the crawler's desktop one); `None`: chromium's own.
    pub user_agent: Option<String>,
    /// Chromium's sandbox. It cannot run as root; off there (`--no-sandbox`), and the caller
    /// says so in its log.
    pub sandbox: bool,
}

/// What one page looked like in the browser.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// Where the page ended up (after redirects, script navigations included).
    pub final_url: String,
    /// `document.body.innerText`: the text the page shows, scripts' output included.
    pub text: String,
    /// A PNG of the viewport.
    pub png: Vec<u8>,
}

/// Why a page was not rendered.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RenderError {
    #[error("cannot start the browser {browser}: {message}")]
    Launch { browser: String, message: String },
    #[error("the render took longer than its budget of {0:?}")]
    Timeout(Duration),
    #[error("the browser went over its memory budget and was killed")]
    Memory,
    #[error("the browser closed the connection")]
    BrowserGone,
    #[error("the page did not load: {0}")]
    Navigation(String),
    #[error("DevTools: {0}")]
    Protocol(String),
    #[error("cannot start the render proxy: {0}")]
    Proxy(String),
}

/// Finds the browser: the configured path, or `chromium` (then `chromium-browser`) on `PATH`.
pub fn find_browser(configured: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(path) = configured {
        return if path.is_file() {
            Ok(path.to_path_buf())
        } else {
            Err(format!(
                "{} does not exist or is not a file",
                path.display()
            ))
        };
    }
    let paths = std::env::var_os("PATH").unwrap_or_default();
    ["chromium", "chromium-browser"]
        .into_iter()
        .find_map(|name| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        })
        .ok_or_else(|| "no `chromium` on PATH (Debian: apt-get install chromium)".to_string())
}

/// Renders `urls` one after the other in one browser on a fresh profile, reaching the network
/// only through a proxy under `connector`'s policy. A page that runs over its time or memory
/// budget gets its error, and the next page a new browser.
pub async fn render_pages(
    config: &RenderConfig,
    connector: Connector,
    urls: &[Url],
) -> Vec<Result<Rendered, RenderError>> {
    let proxy = match Proxy::start(connector).await {
        Ok(proxy) => proxy,
        Err(e) => {
            let error = RenderError::Proxy(e.to_string());
            return urls.iter().map(|_| Err(error.clone())).collect();
        }
    };
    let proxy_addr = proxy.addr().to_string();
    let mut browser: Option<Browser> = None;
    let mut out = Vec::with_capacity(urls.len());
    for url in urls {
        let current = match browser.take() {
            Some(b) => b,
            None => match Browser::launch(config, &proxy_addr).await {
                Ok(b) => b,
                Err(e) => {
                    out.push(Err(e));
                    continue;
                }
            },
        };
        let result = tokio::time::timeout(config.timeout, render_one(&current, config, url)).await;
        let result = match result {
            Ok(Err(_)) if current.over_memory() => Err(RenderError::Memory),
            Ok(result) => result,
            Err(_) => Err(RenderError::Timeout(config.timeout)),
        };
        // A browser that failed a page (stuck script, killed, gone) is not trusted with the
        // next one: it is killed (on drop) and the next page gets a new one.
        if result.is_ok() {
            browser = Some(current);
        }
        out.push(result);
    }
    if let Some(b) = browser {
        b.close().await;
    }
    if proxy.refused() > 0 {
        tracing::info!(
            refused = proxy.refused(),
            "render: the proxy refused destinations under the SSRF policy"
        );
    }
    out
}

/// One page in a new tab: load, settle, read the text, take the screenshot, close the tab.
async fn render_one(
    browser: &Browser,
    config: &RenderConfig,
    url: &Url,
) -> Result<Rendered, RenderError> {
    let cdp = &browser.cdp;
    let target = cdp
        .call("Target.createTarget", json!({ "url": "about:blank" }), None)
        .await?;
    let target_id = str_field(&target, "targetId")?;
    let attached = cdp
        .call(
            "Target.attachToTarget",
            json!({ "targetId": target_id, "flatten": true }),
            None,
        )
        .await?;
    let session = str_field(&attached, "sessionId")?;
    let result = load_and_read(browser, config, url, &session).await;
    let _ = cdp
        .call("Target.closeTarget", json!({ "targetId": target_id }), None)
        .await;
    result
}

async fn load_and_read(
    browser: &Browser,
    config: &RenderConfig,
    url: &Url,
    session: &str,
) -> Result<Rendered, RenderError> {
    let cdp = &browser.cdp;
    let s = Some(session);
    let (width, height) = config.viewport;
    cdp.call(
        "Emulation.setDeviceMetricsOverride",
        json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
        s,
    )
    .await?;
    cdp.call("Page.enable", json!({}), s).await?;
    // Downloads would write files on the daemon's machine; a page gets none.
    let _ = cdp
        .call(
            "Browser.setDownloadBehavior",
            json!({ "behavior": "deny" }),
            None,
        )
        .await;
    let navigated = cdp
        .call("Page.navigate", json!({ "url": url.as_str() }), s)
        .await?;
    if let Some(error) = navigated["errorText"].as_str().filter(|e| !e.is_empty()) {
        return Err(RenderError::Navigation(error.to_string()));
    }
    // A page whose load never ends (a resource that hangs) is still read, as far as it got:
    // the wait for the load event takes at most two thirds of the budget.
    let load = cdp.event("Page.loadEventFired", session);
    if let Ok(loaded) = tokio::time::timeout(config.timeout * 2 / 3, load).await {
        loaded?;
    }
    tokio::time::sleep(SETTLE).await;
    let text = evaluate_text(browser, session).await?;
    let final_url = evaluate(browser, session, "location.href")
        .await?
        .as_str()
        .unwrap_or(url.as_str())
        .to_string();
    let shot = cdp
        .call(
            "Page.captureScreenshot",
            json!({ "format": "png", "captureBeyondViewport": false }),
            s,
        )
        .await?;
    let png = base64::engine::general_purpose::STANDARD
        .decode(str_field(&shot, "data")?)
        .map_err(|e| RenderError::Protocol(format!("the screenshot is not base64: {e}")))?;
    Ok(Rendered {
        final_url,
        text,
        png,
    })
}

/// The page's visible text, cut by the browser to [`MAX_TEXT_CHARS`].
async fn evaluate_text(browser: &Browser, session: &str) -> Result<String, RenderError> {
    let expression =
        format!("(document.body ? document.body.innerText : '').slice(0, {MAX_TEXT_CHARS})");
    let value = evaluate(browser, session, &expression).await?;
    Ok(value.as_str().unwrap_or_default().to_string())
}

async fn evaluate(
    browser: &Browser,
    session: &str,
    expression: &str,
) -> Result<Value, RenderError> {
    let result = browser
        .cdp
        .call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true }),
            Some(session),
        )
        .await?;
    Ok(result["result"]["value"].clone())
}

fn str_field(value: &Value, name: &str) -> Result<String, RenderError> {
    value[name]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| RenderError::Protocol(format!("no `{name}` in the answer")))
}
