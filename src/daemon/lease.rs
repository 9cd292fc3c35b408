//! Work distribution and leadership: how several daemons share one store.
//!
//! Each daemon has an owner id (host name, process id, a random part), logged at startup and
//! served by `/status`. The store is the schedule: the loop claims due sites with a lease
//! (`Store::claim_due_sites`), renews the leases of its crawls on a tick, and a crawl's run
//! releases its lease with the next due time in its own transaction. One daemon at a time is
//! the leader (`Store::elector`: a PostgreSQL advisory lock; always this daemon on SQLite)
//! and runs the singletons: webhook delivery, body retention, deadline rechecks and the
//! gauges that describe the whole fleet.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tracing::{info, warn};

use sitepatrol_server::metrics::Metrics;
use sitepatrol_store::{Elector, Store, Timestamp};

/// This process's owner id: `host:pid:random`, unique among daemons sharing a store (two
/// processes of one host with one pid, a restart in a container, differ in the random part).
pub fn owner_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string());
    format!("{host}:{}:{:08x}", std::process::id(), fastrand::u32(..))
}

/// When a site crawled (or given up on) at `now_ms` is due again: an interval later, moved
/// by up to `jitter` of it either way, in whole seconds (rounded up, never before).
pub fn next_due(now_ms: u64, interval: Duration, jitter: f64) -> Timestamp {
    let base = interval.as_millis() as f64;
    let spread = if jitter > 0.0 {
        (fastrand::f64() * 2.0 - 1.0) * jitter.clamp(0.0, 0.5)
    } else {
        0.0
    };
    let due_ms = now_ms.saturating_add((base * (1.0 + spread)).max(1.0) as u64);
    due_ms.div_ceil(1000) as Timestamp
}

/// Whether this daemon leads, as the election task last found.
pub type Leader = watch::Receiver<bool>;

/// The election: checks the leader lock every `every` until `stop`, publishing the answer on
/// `leader` and in the `sitepatrol_leader` gauge, and gives the lock up at the end. A check
/// that fails or does not answer within `every` (a server that stopped answering) counts as
/// not leading: a daemon that cannot prove it holds the lock stops acting as the leader.
pub async fn elect(
    elector: Box<dyn Elector>,
    every: Duration,
    owner: Arc<str>,
    metrics: Arc<Metrics>,
    leader: watch::Sender<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let elector = Arc::new(Mutex::new(elector));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is now: start() already checked once.
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        let checked = {
            let elector = elector.clone();
            tokio::time::timeout(
                every.max(Duration::from_secs(1)),
                tokio::task::spawn_blocking(move || match elector.try_lock() {
                    Ok(mut e) => e.lead().map_err(|e| e.to_string()),
                    // The previous check still hangs on a silent server.
                    Err(_) => Err("the previous check has not returned".to_string()),
                }),
            )
            .await
        };
        let leads = match checked {
            Ok(Ok(Ok(leads))) => leads,
            Ok(Ok(Err(e))) => {
                metrics.store_errors.inc();
                warn!(error = %e, "cannot check the leader lock; not leading until it can");
                false
            }
            Ok(Err(e)) => {
                warn!(error = %e, "the leader check failed");
                false
            }
            Err(_) => {
                warn!("the leader check did not answer in time; not leading until it does");
                false
            }
        };
        publish(&leader, &metrics, &owner, leads);
    }
    let _ = tokio::task::spawn_blocking(move || {
        if let Ok(mut e) = elector.lock() {
            e.resign();
        }
    })
    .await;
    publish(&leader, &metrics, &owner, false);
}

/// Tells the daemon and the gauge, and logs a change.
pub fn publish(leader: &watch::Sender<bool>, metrics: &Metrics, owner: &str, leads: bool) {
    let was = leader.send_replace(leads);
    metrics.leader.set(leads as i64);
    if was != leads {
        if leads {
            info!(
                owner,
                "leading: this daemon runs webhook delivery, body retention, deadline rechecks and the fleet gauges"
            );
        } else {
            info!(owner, "no longer leading");
        }
    }
}

/// The first check, at startup, so that a daemon on SQLite (always the leader) serves its
/// gauges and sends webhooks from the start. A check that fails starts as a follower, with
/// the reason.
pub async fn first_check(
    store: Arc<dyn Store>,
) -> Result<(Box<dyn Elector>, Result<bool, String>), String> {
    tokio::task::spawn_blocking(move || {
        let mut elector = store.elector().map_err(|e| e.to_string())?;
        let leads = elector.lead().map_err(|e| e.to_string());
        Ok((elector, leads))
    })
    .await
    .map_err(|e| e.to_string())?
}
