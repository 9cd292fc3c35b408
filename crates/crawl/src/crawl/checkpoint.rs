//! Checkpoints of a running crawl, and crawls resumed from one.
//!
//! A crawl asked for checkpoints ([`Crawler::with_checkpoints`]) pushes a
//! [`CrawlEvent::Checkpoint`] every so often: its frontier (queued URLs with their depth,
//! pages in flight, the seen set) and how much of its budgets it used. Where the caller keeps
//! it is the caller's business (the daemon puts it in the store). A crawler given one back
//! ([`Crawler::resuming`]) starts from that frontier instead of the start page and the
//! sitemaps, with the pages and bytes already spent counted against its budgets; the pages
//! it fetched before are the caller's to remember (they are in the seen set, so they are not
//! fetched again unless the caller queues them).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::frontier::FrontierState;
use super::{CrawlEvent, Crawler, Pass, Queued, TaskOutcome};

/// One crawl pass as a checkpoint saves it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassState {
    pub frontier: FrontierState,
    /// Pages fetched (not counting those in flight, which are queued again).
    pub pages: usize,
    /// Body bytes fetched.
    pub bytes: u64,
}

impl PassState {
    /// Queue `url` at `depth` first: a page the caller wants fetched again on resume.
    pub fn queue_first(&mut self, url: String, depth: u32) {
        self.frontier.queued.insert(0, (url, depth));
        self.pages = self.pages.saturating_sub(1);
    }
}

/// A crawler's checkpoint settings: how often, and the state to resume from.
#[derive(Clone, Default)]
pub(super) struct Options {
    every: Option<Duration>,
    resume: Option<Arc<PassState>>,
}

/// What a pass needs to save itself: the URLs in flight (not in the frontier's queue any
/// more, not fetched yet) and when the next checkpoint is due.
#[derive(Default)]
pub(super) struct Tracker {
    in_flight: HashMap<String, u32>,
    due: Option<Instant>,
}

impl Tracker {
    pub(super) fn started(&mut self, item: &Queued) {
        self.in_flight.insert(item.url.to_string(), item.depth);
    }

    /// A page task ended: its URL is fetched, failed or queued again.
    pub(super) fn ended(&mut self, outcome: &TaskOutcome) {
        let url = match outcome {
            TaskOutcome::Page(fetched) => fetched.report.url.clone(),
            TaskOutcome::Failed(item, _) | TaskOutcome::Retry(item, _) => item.url.to_string(),
        };
        self.in_flight.remove(&url);
    }
}

impl Crawler {
    /// Push a [`CrawlEvent::Checkpoint`] every `every` while crawling (never when zero).
    pub fn with_checkpoints(mut self, every: Duration) -> Crawler {
        self.checkpoints.every = (!every.is_zero()).then_some(every);
        self
    }

    /// Resume the next crawl from `state` (see the module docs).
    pub fn resuming(mut self, state: PassState) -> Crawler {
        self.checkpoints.resume = Some(Arc::new(state));
        self
    }

    /// Take up the saved state, if resuming: true when the pass starts from it (and not
    /// from the start page and the sitemaps).
    pub(super) fn resume_pass(&self, pass: &mut Pass) -> bool {
        let Some(state) = &self.checkpoints.resume else {
            return false;
        };
        match pass.frontier.import(&state.frontier) {
            Ok(_) => {
                pass.started_pages = state.pages;
                pass.stats.bytes = state.bytes;
                true
            }
            // The caller checked the checkpoint; a frontier this build cannot read means a
            // crawl from scratch, never a crawl of nothing. Said here, since the caller has
            // already logged that it resumes.
            Err(why) => {
                tracing::warn!(reason = %why, "the checkpoint's frontier cannot be read; crawling from the start page");
                false
            }
        }
    }

    /// Push a checkpoint when one is due.
    pub(super) fn maybe_checkpoint(
        &self,
        pass: &mut Pass,
        events: &mut (dyn FnMut(CrawlEvent) + Send),
    ) {
        let Some(every) = self.checkpoints.every else {
            return;
        };
        let now = Instant::now();
        let due = *pass.saving.due.get_or_insert(now + every);
        if now < due {
            return;
        }
        pass.saving.due = Some(now + every);
        let in_flight = &pass.saving.in_flight;
        let state = PassState {
            frontier: pass
                .frontier
                .export(in_flight.iter().map(|(u, d)| (u.clone(), *d))),
            pages: pass.started_pages.saturating_sub(in_flight.len()),
            bytes: pass.stats.bytes,
        };
        events(CrawlEvent::Checkpoint(Box::new(state)));
    }
}
