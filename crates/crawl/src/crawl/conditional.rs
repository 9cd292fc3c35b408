//! Conditional requests: a page the caller already knows is asked for with its validators
//! (`If-None-Match`, `If-Modified-Since`), and a 304 answer stands for the body the caller
//! matched before.
//!
//! A 304 has no body, so nothing on it can be read: the crawler takes the page's content hash
//! and its links from what the caller remembers of the earlier fetch ([`Remembered`]), and
//! reports the page as scanned but not matched (`PageReport::matched` false, like content
//! the [`super::UnchangedCheck`] skipped), with status 304. A 304 proves nothing absent
//! ([`super::PageReport::proves_absence`] wants 2xx), so the caller carries its flags over.
//! The caller decides which pages are worth asking about (see `src/daemon/conditional.rs`):
//! only content it could skip matching anyway.

use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::{Crawler, PageReport, Queued, TaskOutcome};
use crate::fetch::{Agent, FetchError, Response, Validators};

/// What the caller remembers of a page from an earlier crawl.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Remembered {
    /// Sent back with the request.
    pub validators: Validators,
    /// Hex SHA-256 of the body those validators describe: what a 304 reports as the page's.
    pub content_sha256: String,
    /// The page's links as the earlier fetch read them (absolute URLs): offered to the
    /// frontier again on a 304, so the crawl goes on past the page.
    pub links: Vec<String>,
}

/// Asked with a page's requested URL (canonical form): what the caller remembers of it, when
/// it wants the page fetched conditionally; `None` fetches it whole.
pub type Recall = Arc<dyn Fn(&str) -> Option<Remembered> + Send + Sync>;

impl Crawler {
    /// Fetch pages that `recall` remembers with their validators (see the module docs).
    pub fn with_recall(mut self, recall: Recall) -> Crawler {
        self.recall = Some(recall);
        self
    }

    /// Fetch `item`, conditionally when the caller remembers it; what was remembered comes
    /// back with the response, for [`Crawler::not_modified`].
    pub(super) async fn fetch_page(
        &self,
        item: &Queued,
        agent: Agent,
    ) -> (Result<Response, FetchError>, Option<Remembered>) {
        let known = self
            .recall
            .as_ref()
            .and_then(|recall| recall(item.url.as_str()))
            .filter(|k| !k.validators.is_empty());
        let response = match &known {
            Some(k) => {
                self.fetcher
                    .get_if_changed(&item.url, agent, &k.validators, &self.gate)
                    .await
            }
            None => self.fetcher.get(&item.url, agent, &self.gate).await,
        };
        (response, known)
    }

    /// A 304 to a conditional request: the page as remembered, its links offered again.
    pub(super) fn not_modified(
        &self,
        item: Queued,
        agent: Agent,
        response: &Response,
        known: Remembered,
        fetch_duration: Duration,
    ) -> TaskOutcome {
        // A 304 repeats the validators it still stands by; those it leaves out stay as they
        // were, so the next crawl can ask again.
        let header = |name| response.header(name).map(str::to_string);
        let etag = header(http::header::ETAG).or(known.validators.etag);
        let last_modified = header(http::header::LAST_MODIFIED).or(known.validators.last_modified);
        let links: Vec<Url> = known
            .links
            .iter()
            .filter_map(|l| Url::parse(l).ok())
            .collect();
        let report = PageReport {
            url: item.url.to_string(),
            final_url: item.url.to_string(),
            agent,
            depth: item.depth,
            status: response.status,
            content_type: None,
            bytes: 0,
            remote_addr: response.remote_addr.map(|a| a.ip().to_string()),
            redirects: Vec::new(),
            etag,
            last_modified,
            scanned: true,
            complete: true,
            matched: false,
            budget_ran_out: false,
            content_sha256: known.content_sha256,
            fetch_duration,
            findings: Vec::new(),
            warnings: Vec::new(),
            filing: None,
            links: known.links,
            body: Vec::new(),
        };
        // The site's own scripts are among the stored links (see `PageReport::links`).
        TaskOutcome::Page(Box::new(super::Fetched {
            report,
            links,
            scripts: Vec::new(),
            landed: None,
            print: None,
        }))
    }
}

impl PageReport {
    /// Whether this is a 304 answer standing for the content the caller remembered.
    pub fn not_modified(&self) -> bool {
        self.status == 304 && self.scanned && !self.matched
    }
}
