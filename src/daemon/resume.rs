//! Checkpoints of the daemon's crawls, and crawls resumed from them.
//!
//! A crawl is recorded in one `record_crawl` at its end, so a crawl the daemon did not finish
//! (kill -9, power loss) left nothing in the store. Every `crawl.checkpoint_interval` the
//! first pass saves a checkpoint instead: the crawler's frontier (queued URLs with their
//! depth, pages in flight, the seen set, the budgets spent) and what the pages fetched so far
//! amounted to. The next crawl of the site (the site is still overdue after a restart, so it
//! is among the first picked) resumes from it under the same run key; `record_crawl` deletes
//! the checkpoint in the transaction that records the run.
//!
//! **Pages fetched before the kill are skipped, not fetched again, when they had nothing to
//! report**: their hash, validators, links and status are in the checkpoint, and what they
//! proved (nothing found with these rules, or not scanned, or unchanged) still holds for the
//! fetch that was made; re-fetching them conditionally would only work against validators the
//! killed crawl never recorded. Pages with findings are fetched again, because findings and
//! their evidence (the body) are too big to checkpoint and must be the commit's own; so is
//! the start page, whose filing numbers the filing checks judge (skipped pages show none, so
//! a resumed crawl judges the filing on a partial read, as one with 304s does).
//!
//! A checkpoint is used only by the same rules version, start URL and format, within a day;
//! anything else (corrupt JSON, another schema, over the size bound) is logged and dropped,
//! and the crawl starts from scratch. Only the first pass (the desktop one with two agents)
//! saves checkpoints: the second judges its pages against the first's whole reads, which a
//! kill in the second pass would need again, so it resumes from the first pass's last save.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tracing::{info, warn};
use url::Url;

use sitepatrol_core::clock::unix_now;
use sitepatrol_crawl::crawl::checkpoint::PassState;
use sitepatrol_store::{Checkpoint, Store, Timestamp};

/// The format of [`Saved`]; a checkpoint of another format is not read.
const FORMAT: u32 = 1;
/// A checkpoint larger than this is not saved (nor read): the crawl then restarts from scratch
/// after a kill, as before checkpoints.
const MAX_STATE_BYTES: usize = 32 << 20;
/// An older checkpoint is dropped: what its pages proved is stale by then.
const MAX_AGE_SECS: Timestamp = 24 * 3600;

/// A checkpoint as the daemon writes it into the store.
#[derive(Debug, Serialize, Deserialize)]
struct Saved {
    format: u32,
    run_key: String,
    started_at: Timestamp,
    start: String,
    rules_version: String,
    pass: PassState,
    done: Vec<Done>,
}

/// A page fetched before the checkpoint, with nothing to report.
#[derive(Debug, Serialize, Deserialize)]
pub struct Done {
    pub url: String,
    pub depth: u32,
    pub status: u16,
    pub fetched_at: Timestamp,
    pub sha256: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub ip: Option<String>,
    pub scan: DoneScan,
    pub links: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DoneScan {
    /// Read whole and matched: nothing found.
    Matched,
    /// Matched in part: nothing found, nothing proved absent.
    Partial,
    Unchanged,
    NotScanned,
}

/// A crawl to resume: its run, and what it had done.
pub struct Resume {
    pub run_key: String,
    pub started_at: Timestamp,
    pass: PassState,
    done: Vec<Done>,
}

impl Resume {
    /// The crawler state to resume the first pass from, and the pages it had done.
    pub fn into_parts(self) -> (PassState, Vec<Done>) {
        (self.pass, self.done)
    }
}

/// The site's checkpoint, if it left one this crawl can resume from. One it cannot is logged
/// and deleted: the crawl starts from scratch.
pub async fn load(
    store: Arc<dyn Store>,
    site: &str,
    start: &Url,
    rules_version: &str,
) -> Option<Resume> {
    let id = site.to_string();
    let read = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.checkpoint(&id)).await
    };
    let checkpoint = match read {
        Ok(Ok(found)) => found?,
        Ok(Err(e)) => {
            warn!(error = %e, "cannot read the crawl's checkpoint; crawling from scratch");
            return None;
        }
        Err(e) => {
            warn!(error = %e, "cannot read the crawl's checkpoint; crawling from scratch");
            return None;
        }
    };
    match decode(&checkpoint, start, rules_version, unix_now()) {
        Ok(resume) => {
            info!(
                run = %resume.run_key,
                pages_done = resume.done.len(),
                queued = resume.pass.frontier.queued.len(),
                "resuming an unfinished crawl from its checkpoint"
            );
            Some(resume)
        }
        Err(why) => {
            warn!(run = %checkpoint.run_key, reason = %why, "the crawl's checkpoint cannot be used; crawling from scratch");
            let id = site.to_string();
            let _ = tokio::task::spawn_blocking(move || store.delete_checkpoint(&id)).await;
            None
        }
    }
}

/// A stored checkpoint, checked: why it cannot be resumed from, otherwise.
fn decode(
    checkpoint: &Checkpoint,
    start: &Url,
    rules_version: &str,
    now: Timestamp,
) -> Result<Resume, String> {
    if checkpoint.state.len() > MAX_STATE_BYTES {
        return Err(format!(
            "it is {} bytes, over the bound of {MAX_STATE_BYTES}",
            checkpoint.state.len()
        ));
    }
    let saved: Saved = serde_json::from_str(&checkpoint.state)
        .map_err(|e| format!("it does not parse as a checkpoint: {e}"))?;
    let problem = if saved.format != FORMAT {
        Some(format!("its format is {}, not {FORMAT}", saved.format))
    } else if saved.run_key != checkpoint.run_key {
        Some(format!("it names run `{}`", saved.run_key))
    } else if saved.start != start.as_str() {
        Some(format!("it started at {}, not {start}", saved.start))
    } else if saved.rules_version != rules_version {
        Some("the rules changed since (its pages were matched with others)".to_string())
    } else if now.saturating_sub(checkpoint.saved_at) > MAX_AGE_SECS {
        Some(format!(
            "it was saved at {}, over a day ago",
            checkpoint.saved_at
        ))
    } else {
        None
    };
    match problem {
        Some(p) => Err(p),
        None => Ok(Resume {
            run_key: saved.run_key,
            started_at: saved.started_at,
            pass: saved.pass,
            done: saved.done,
        }),
    }
}

/// Writes a crawl's checkpoints to the store off the crawl's path: the crawl hands each one
/// over and goes on, a task writes the latest (older ones not yet written are skipped).
pub struct Saver {
    every: Duration,
    meta: Meta,
    tx: watch::Sender<Option<String>>,
    task: tokio::task::JoinHandle<()>,
}

/// What a checkpoint says about the crawl it belongs to.
struct Meta {
    run_key: String,
    started_at: Timestamp,
    start: String,
    rules_version: String,
}

impl Saver {
    /// Saving checkpoints of run `run_key` of `site` every `every` (never when zero).
    pub fn start(
        store: Arc<dyn Store>,
        site: &str,
        every: Duration,
        (run_key, started_at): (&str, Timestamp),
        start: &Url,
        rules_version: &str,
    ) -> Saver {
        let (tx, rx) = watch::channel(None::<String>);
        let site = site.to_string();
        let key = run_key.to_string();
        let task = tokio::spawn(write_latest(store, site, key, rx));
        Saver {
            every,
            meta: Meta {
                run_key: run_key.to_string(),
                started_at,
                start: start.to_string(),
                rules_version: rules_version.to_string(),
            },
            tx,
            task,
        }
    }

    pub fn every(&self) -> Duration {
        self.every
    }

    /// Hand over a checkpoint of `pass` with the pages `done` (see the module docs: the
    /// caller queued the start page and the pages with findings in `pass` again).
    pub fn save(&self, pass: PassState, done: Vec<Done>) {
        let saved = Saved {
            format: FORMAT,
            run_key: self.meta.run_key.clone(),
            started_at: self.meta.started_at,
            start: self.meta.start.clone(),
            rules_version: self.meta.rules_version.clone(),
            pass,
            done,
        };
        match serde_json::to_string(&saved) {
            Ok(json) if json.len() <= MAX_STATE_BYTES => {
                self.tx.send_replace(Some(json));
            }
            Ok(json) => warn!(
                bytes = json.len(),
                max = MAX_STATE_BYTES,
                "the crawl's checkpoint is too large to save; a kill would restart it from scratch"
            ),
            Err(e) => warn!(error = %e, "cannot encode the crawl's checkpoint"),
        }
    }

    /// Wait until the last checkpoint handed over is written: the crawl's record, which
    /// deletes it, must come after.
    pub async fn finish(self) {
        drop(self.tx);
        let _ = self.task.await;
    }
}

/// The saving task: write each newest checkpoint until the crawl is done with it.
async fn write_latest(
    store: Arc<dyn Store>,
    site: String,
    run_key: String,
    mut rx: watch::Receiver<Option<String>>,
) {
    // `changed` reports a value not yet seen before it reports the sender gone, so the last
    // checkpoint is written before the task ends.
    while rx.changed().await.is_ok() {
        let Some(state) = rx.borrow_and_update().clone() else {
            continue;
        };
        let checkpoint = Checkpoint {
            site: site.clone(),
            run_key: run_key.clone(),
            saved_at: unix_now(),
            state,
        };
        let store = store.clone();
        let written = tokio::task::spawn_blocking(move || store.save_checkpoint(&checkpoint)).await;
        if !matches!(written, Ok(Ok(()))) {
            warn!(site = %site, "cannot save the crawl's checkpoint; a kill would restart it from scratch");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(state: &str, saved_at: Timestamp) -> Checkpoint {
        Checkpoint {
            site: "s".into(),
            run_key: "k".into(),
            saved_at,
            state: state.into(),
        }
    }

    fn good() -> String {
        serde_json::to_string(&Saved {
            format: FORMAT,
            run_key: "k".into(),
            started_at: 1,
            start: "http://a.test/".into(),
            rules_version: "r".into(),
            pass: PassState::default(),
            done: Vec::new(),
        })
        .unwrap()
    }

    #[test]
    fn only_a_checkpoint_of_this_crawl_is_resumed_from() {
        let start = Url::parse("http://a.test/").unwrap();
        let other = Url::parse("http://b.test/").unwrap();
        assert!(decode(&saved(&good(), 100), &start, "r", 200).is_ok());
        for (checkpoint, start, rules, now) in [
            (saved(&good(), 100), &start, "r2", 200),
            (saved(&good(), 100), &other, "r", 200),
            (saved(&good(), 100), &start, "r", 100 + MAX_AGE_SECS + 1),
            (
                saved(&good().replace("\"format\":1", "\"format\":9"), 100),
                &start,
                "r",
                200,
            ),
            (saved("{\"format\":1", 100), &start, "r", 200),
            (saved("", 100), &start, "r", 200),
            (saved("[1,2,3]", 100), &start, "r", 200),
            (
                Checkpoint {
                    run_key: "other".into(),
                    ..saved(&good(), 100)
                },
                &start,
                "r",
                200,
            ),
        ] {
            let why = decode(&checkpoint, start, rules, now).err();
            assert!(why.is_some(), "{checkpoint:?}");
        }
    }
}
