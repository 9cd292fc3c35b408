//! The render stage in the daemon: set up at startup from `[render]`, run after a site's
//! crawl passes on its home page and flagged pages (see `sitepatrol_crawl::render`).

use std::sync::Arc;

use tracing::{info, warn};
use url::Url;

use crate::config::Config;
use sitepatrol_core::extract::rendered_document;
use sitepatrol_core::finding::Finding;
use sitepatrol_core::rules::{Budget, Ruleset};
use sitepatrol_crawl::fetch::connect::Connector;
use sitepatrol_crawl::render::{self, RenderConfig, Rendered};

/// Why the render stage cannot start although `[render] enabled = true`.
#[derive(Debug, thiserror::Error)]
#[error(
    "[render] enabled = true, but the browser cannot be used: {0} (set render.browser to \
     chromium's path, install Debian's `chromium` package, or set render.enabled = false)"
)]
pub struct RenderSetupError(String);

/// The render stage's settings, fixed at startup.
pub struct RenderStage {
    pub config: RenderConfig,
    pub max_pages: usize,
    /// The scan budget of one rendered text, as of a fetched page.
    pub scan_budget: std::time::Duration,
}

/// `[render]` as the daemon runs it: `None` when off. Enabled, a browser that cannot be
/// found or run is a startup error naming the key; off, a missing browser is only a notice.
pub fn setup(config: &Config) -> Result<Option<Arc<RenderStage>>, RenderSetupError> {
    let section = &config.render;
    if !section.enabled {
        match render::find_browser(section.browser.as_deref()) {
            Ok(_) => info!("render stage off (render.enabled = false)"),
            Err(why) => info!(
                reason = %why,
                "render stage off (render.enabled = false); no browser for it on this machine"
            ),
        }
        return Ok(None);
    }
    let browser = render::find_browser(section.browser.as_deref()).map_err(RenderSetupError)?;
    check_runs(&browser)?;
    let sandbox = !render::running_as_root();
    if !sandbox {
        warn!(
            "render: the daemon runs as root, where chromium's sandbox cannot start; the \
             browser runs with --no-sandbox (its network is still only the SSRF-checked \
             proxy). Run the daemon as an unprivileged user to keep the sandbox"
        );
    }
    info!(
        browser = %browser.display(),
        max_pages = section.max_pages,
        memory_mb = section.memory_mb,
        sandbox,
        "render stage on"
    );
    Ok(Some(Arc::new(RenderStage {
        config: RenderConfig {
            browser,
            timeout: config.times.render_timeout,
            memory_bytes: section.memory_mb << 20,
            viewport: (section.viewport_width, section.viewport_height),
            user_agent: config.crawl.user_agent_desktop.clone(),
            sandbox,
        },
        max_pages: section.max_pages,
        scan_budget: config.times.scan_budget,
    })))
}

/// The browser answers `--version`: a file that is not chromium (or cannot run) fails here,
/// at startup, not at the first crawl.
fn check_runs(browser: &std::path::Path) -> Result<(), RenderSetupError> {
    let output = std::process::Command::new(browser)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| RenderSetupError(format!("{}: {e}", browser.display())))?;
    if !output.status.success() {
        return Err(RenderSetupError(format!(
            "{} --version exited with {}",
            browser.display(),
            output.status
        )));
    }
    Ok(())
}

/// What rendering one page gave: the findings of its rendered text, and its screenshot.
pub struct PageRender {
    pub findings: Vec<Finding>,
    pub png: Vec<u8>,
}

/// Renders `pages` (each the page's URL as the crawl recorded it, and parsed) under
/// `connector`'s policy and scans each rendered text with `ruleset`. Returns what rendered,
/// by the recorded URL (a parsed URL may print otherwise); the rest is logged.
pub async fn render_and_scan(
    stage: &RenderStage,
    connector: Connector,
    ruleset: Arc<Ruleset>,
    pages: Vec<(String, Url)>,
) -> Vec<(String, PageRender)> {
    let urls: Vec<Url> = pages.iter().map(|(_, u)| u.clone()).collect();
    let results = render::render_pages(&stage.config, connector, &urls).await;
    let mut rendered: Vec<(String, Rendered)> = Vec::new();
    for ((key, url), result) in pages.into_iter().zip(results) {
        match result {
            Ok(page) => rendered.push((key, page)),
            Err(error) => warn!(url = %url, %error, "render failed"),
        }
    }
    // Matching is CPU work: off the async threads, like the crawler's scans, and under the
    // same scan budget per page.
    let budget = stage.scan_budget;
    let scanned = tokio::task::spawn_blocking(move || {
        rendered
            .into_iter()
            .map(|(key, page)| {
                let document = rendered_document(&page.text);
                let budget = Budget::new(Some(budget));
                let evidence = ruleset.document_evidence_within(&document, &key, &budget);
                let findings = ruleset.score(&evidence, &key);
                let png = page.png;
                (key, PageRender { findings, png })
            })
            .collect()
    })
    .await;
    scanned.unwrap_or_default()
}
