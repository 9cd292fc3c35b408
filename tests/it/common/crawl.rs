//! Crawling a test server with the library's crawler, as the hostile-server tests do: the
//! bundled rules, timeouts short enough for tests, and the SSRF guard open only to the server.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use sitepatrol_core::finding::Finding;
use sitepatrol_core::rules::{self, RuleSource};
use sitepatrol_core::scan::{ScanOptions, Scanner};
use sitepatrol_crawl::crawl::{CrawlConfig, CrawlEvent, CrawlStats, Crawler};
use sitepatrol_crawl::fetch::politeness::{HostGate, PolitenessConfig};
use sitepatrol_crawl::fetch::{Agent, FetchConfig, Fetcher};
use url::Url;

use super::Server;

/// The bundled rules, loaded once per test binary (a load takes seconds in a debug build, and
/// its peak would blur the hostile report's memory figures).
pub fn scanner() -> Scanner {
    static SCANNER: std::sync::OnceLock<Scanner> = std::sync::OnceLock::new();
    SCANNER
        .get_or_init(|| {
            let (rules, _) = rules::load(&[RuleSource::Bundled]).expect("bundled rules load");
            Scanner::new(Arc::new(rules), ScanOptions::default())
        })
        .clone()
}

pub fn fetch_config(server: &Server) -> FetchConfig {
    FetchConfig {
        connect_timeout: Duration::from_secs(2),
        first_byte_timeout: Duration::from_secs(1),
        total_timeout: Duration::from_secs(2),
        max_body_bytes: 1 << 20,
        // Only the test server is allowed: the SSRF guard stays on for everything else.
        allowed_addresses: vec![server.addr],
        ..FetchConfig::default()
    }
}

pub fn crawl_config() -> CrawlConfig {
    CrawlConfig {
        max_pages: 200,
        max_wall_time: Duration::from_secs(30),
        backoff_base: Duration::from_millis(100),
        backoff_cap: Duration::from_secs(5),
        ..CrawlConfig::default()
    }
}

pub struct Outcome {
    pub stats: CrawlStats,
    pub pages: Vec<String>,
    pub failures: Vec<(String, String, String)>,
    pub findings: Vec<Finding>,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn failed(&self, path: &str) -> Option<&(String, String, String)> {
        self.failures.iter().find(|(url, _, _)| url.ends_with(path))
    }

    pub fn fetched(&self, path: &str) -> bool {
        self.pages.iter().any(|u| u.ends_with(path))
    }
}

pub async fn crawl_with(server: &Server, fetch: FetchConfig, config: CrawlConfig) -> Outcome {
    crawl_from(server, "/", fetch, config).await
}

/// A crawl of `server` that starts at `path`.
pub async fn crawl_from(
    server: &Server,
    path: &str,
    fetch: FetchConfig,
    config: CrawlConfig,
) -> Outcome {
    crawl_url(&server.url(path), fetch, config).await
}

/// A crawl that starts at `url` (an `https:` one, say).
pub async fn crawl_url(url: &str, fetch: FetchConfig, config: CrawlConfig) -> Outcome {
    let crawler = Crawler::new(
        Fetcher::new(fetch),
        Arc::new(HostGate::new(PolitenessConfig::default())),
        scanner(),
        config,
    );
    let start = Url::parse(url).unwrap();
    let mut pages = Vec::new();
    let mut failures = Vec::new();
    let mut findings = Vec::new();
    let began = Instant::now();
    let stats = crawler
        .crawl(&start, Agent::Desktop, &mut |event| match event {
            CrawlEvent::Page(page) => {
                findings.extend(page.findings.iter().cloned());
                pages.push(page.url.clone());
            }
            CrawlEvent::FetchFailed { url, error, .. } => {
                failures.push((url, error.class.as_str().to_string(), error.message))
            }
            CrawlEvent::SiteFinding(f) => findings.push(f),
            CrawlEvent::Probed(report) => findings.extend(report.findings),
            CrawlEvent::Checkpoint(_) => {}
        })
        .await;
    Outcome {
        stats,
        pages,
        failures,
        findings,
        elapsed: began.elapsed(),
    }
}

pub async fn crawl(server: &Server) -> Outcome {
    crawl_with(server, fetch_config(server), crawl_config()).await
}
