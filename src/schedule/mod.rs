//! The schedule: when each site is due, and which site goes next.
//!
//! A binary heap keyed by next-due time hands out the most overdue site first, in O(log n) per
//! pick, so a 100k-site inventory costs nothing noticeable per decision (`benches/schedule.rs`).
//! Entries are never removed from the middle of the heap: a site that is rescheduled or
//! dropped from the inventory leaves a stale entry behind, recognised by its sequence number
//! and skipped when it surfaces.
//!
//! Times are Unix milliseconds, so next-due times can be persisted in the store and a restart
//! picks up the schedule where it stopped instead of crawling every site at once.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

struct Entry {
    interval: Duration,
    due_ms: u64,
    /// Matches the heap entry that is current; older ones are stale.
    seq: u64,
    running: bool,
}

/// What a [`Scheduler::sync`] changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    pub added: usize,
    pub removed: usize,
    pub kept: usize,
}

pub struct Scheduler {
    entries: HashMap<Arc<str>, Entry>,
    /// Sites that left the schedule while a crawl of theirs was running. That crawl still
    /// holds the site: added back before it ends, the site is running, not due.
    orphans: HashSet<Arc<str>>,
    heap: BinaryHeap<Reverse<(u64, u64, Arc<str>)>>,
    next_seq: u64,
    jitter: f64,
    rng: fastrand::Rng,
}

impl Scheduler {
    /// `jitter` is the fraction of the interval a next-due time may move either way.
    pub fn new(jitter: f64) -> Scheduler {
        Scheduler::with_seed(jitter, fastrand::u64(..))
    }

    /// Deterministic jitter, for tests.
    pub fn with_seed(jitter: f64, seed: u64) -> Scheduler {
        Scheduler {
            entries: HashMap::new(),
            orphans: HashSet::new(),
            heap: BinaryHeap::new(),
            next_seq: 0,
            jitter: jitter.clamp(0.0, 0.5),
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn push(&mut self, id: Arc<str>, due_ms: u64) {
        self.next_seq += 1;
        let seq = self.next_seq;
        if let Some(entry) = self.entries.get_mut(&id) {
            entry.due_ms = due_ms;
            entry.seq = seq;
        }
        self.heap.push(Reverse((due_ms, seq, id)));
        // Stale entries pile up when sites are rescheduled often; rebuild before the heap
        // outgrows the live sites by much.
        if self.heap.len() > 2 * self.entries.len() + 1024 {
            self.compact();
        }
    }

    fn compact(&mut self) {
        let live: Vec<_> = self
            .entries
            .iter()
            .filter(|(_, e)| !e.running)
            .map(|(id, e)| Reverse((e.due_ms, e.seq, id.clone())))
            .collect();
        self.heap = BinaryHeap::from(live);
    }

    /// Make the schedule hold exactly `sites` (id and interval). A site already scheduled
    /// keeps its due time (and a running crawl its slot); a new site is due at its persisted
    /// time if `persisted` has one, else now, except that a site which left while a crawl of
    /// it ran, and is back before that crawl ends, is running until it does (never two
    /// crawls of one site at once). Returns what changed.
    pub fn sync(
        &mut self,
        sites: impl IntoIterator<Item = (Arc<str>, Duration)>,
        persisted: &dyn Fn(&str) -> Option<u64>,
        now_ms: u64,
    ) -> SyncReport {
        let mut report = SyncReport::default();
        // In the caller's order, so that new sites due at the same time go in inventory order.
        let mut wanted: Vec<(Arc<str>, Duration)> = Vec::new();
        let mut ids: HashMap<Arc<str>, ()> = HashMap::new();
        for (id, interval) in sites {
            if ids.insert(id.clone(), ()).is_none() {
                wanted.push((id, interval));
            }
        }
        let before = self.entries.len();
        let orphans = &mut self.orphans;
        self.entries.retain(|id, entry| {
            let keep = ids.contains_key(id);
            if !keep && entry.running {
                orphans.insert(id.clone());
            }
            keep
        });
        report.removed = before - self.entries.len();
        let mut new = Vec::new();
        for (id, interval) in wanted {
            match self.entries.get_mut(&id) {
                Some(entry) => {
                    entry.interval = interval;
                    report.kept += 1;
                }
                None => new.push((id, interval)),
            }
        }
        report.added = new.len();
        for (id, interval) in new {
            let due = persisted(&id).unwrap_or(now_ms);
            let running = self.orphans.remove(&id);
            self.entries.insert(
                id.clone(),
                Entry {
                    interval,
                    due_ms: due,
                    seq: 0,
                    running,
                },
            );
            // A running site goes on the heap when its crawl ends.
            if !running {
                self.push(id, due);
            }
        }
        if report.removed > 0 {
            self.compact();
        }
        report
    }

    /// The earliest due time of a site that is not running, if any.
    pub fn next_due(&mut self) -> Option<u64> {
        self.drop_stale();
        self.heap.peek().map(|Reverse((due, _, _))| *due)
    }

    fn drop_stale(&mut self) {
        while let Some(Reverse((_, seq, id))) = self.heap.peek() {
            match self.entries.get(id) {
                Some(entry) if entry.seq == *seq && !entry.running => return,
                _ => {
                    self.heap.pop();
                }
            }
        }
    }

    /// The most overdue site due at `now_ms`, marked running; `None` when nothing is due.
    pub fn pop_due(&mut self, now_ms: u64) -> Option<Arc<str>> {
        self.drop_stale();
        let Reverse((due, _, _)) = self.heap.peek()?;
        if *due > now_ms {
            return None;
        }
        let Reverse((_, _, id)) = self.heap.pop()?;
        if let Some(entry) = self.entries.get_mut(&id) {
            entry.running = true;
        }
        Some(id)
    }

    /// A crawl of `id` ended at `now_ms`: schedule the next one an interval (± jitter) later.
    /// Returns that time, to persist; `None` if the site left the inventory meanwhile.
    pub fn finish(&mut self, id: &str, now_ms: u64) -> Option<u64> {
        let interval = {
            let Some(entry) = self.entries.get_mut(id) else {
                self.orphans.remove(id);
                return None;
            };
            entry.running = false;
            entry.interval
        };
        let base = interval.as_millis() as f64;
        let spread = if self.jitter > 0.0 {
            (self.rng.f64() * 2.0 - 1.0) * self.jitter
        } else {
            0.0
        };
        let due = now_ms.saturating_add((base * (1.0 + spread)).max(1.0) as u64);
        let id: Arc<str> = self.entries.get_key_value(id)?.0.clone();
        self.push(id, due);
        Some(due)
    }

    /// Put a site back as due now (a recrawl request).
    pub fn due_now(&mut self, id: &str, now_ms: u64) {
        self.due_at(id, now_ms);
    }

    /// Make a site due at `due_ms`, whatever it was due at before (a failed crawl's retry).
    pub fn due_at(&mut self, id: &str, now_ms: u64) {
        let Some(key) = self.entries.get_key_value(id).map(|(k, _)| k.clone()) else {
            return;
        };
        if let Some(entry) = self.entries.get_mut(id) {
            entry.running = false;
        }
        self.push(key, now_ms);
    }

    /// Sites past their due time and not running: the backlog.
    pub fn overdue(&self, now_ms: u64) -> usize {
        self.entries
            .values()
            .filter(|e| !e.running && e.due_ms <= now_ms)
            .count()
    }

    pub fn running(&self) -> usize {
        self.entries.values().filter(|e| e.running).count()
    }

    /// Whether a crawl of `id` is running; `None` if it is not scheduled at all.
    pub fn is_running(&self, id: &str) -> Option<bool> {
        self.entries.get(id).map(|e| e.running)
    }

    /// The due time of a site (for tests and status).
    pub fn due_of(&self, id: &str) -> Option<u64> {
        self.entries.get(id).map(|e| e.due_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sites(ids: &[&str], interval: Duration) -> Vec<(Arc<str>, Duration)> {
        ids.iter().map(|id| (Arc::from(*id), interval)).collect()
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn the_most_overdue_site_goes_first_and_a_running_site_is_not_handed_out_twice() {
        let mut s = Scheduler::with_seed(0.0, 1);
        let persisted = |id: &str| match id {
            "a" => Some(5_000),
            "b" => Some(1_000),
            "c" => Some(9_000),
            _ => None,
        };
        s.sync(sites(&["a", "b", "c"], HOUR), &persisted, 10_000);
        assert_eq!(s.overdue(10_000), 3);
        assert_eq!(s.pop_due(10_000).as_deref(), Some("b"));
        assert_eq!(s.pop_due(10_000).as_deref(), Some("a"));
        assert_eq!(s.running(), 2);
        assert_eq!(s.pop_due(10_000).as_deref(), Some("c"));
        assert_eq!(s.pop_due(10_000), None);
        assert_eq!(s.overdue(10_000), 0);
    }

    #[test]
    fn nothing_is_handed_out_before_it_is_due() {
        let mut s = Scheduler::with_seed(0.0, 1);
        s.sync(sites(&["a"], HOUR), &|_| Some(20_000), 10_000);
        assert_eq!(s.pop_due(10_000), None);
        assert_eq!(s.next_due(), Some(20_000));
        assert_eq!(s.pop_due(20_000).as_deref(), Some("a"));
    }

    #[test]
    fn finishing_schedules_an_interval_later_within_the_jitter() {
        let mut s = Scheduler::with_seed(0.1, 7);
        s.sync(sites(&["a"], HOUR), &|_| None, 0);
        let mut seen = Vec::new();
        let mut now = 0;
        for _ in 0..50 {
            assert_eq!(s.pop_due(now).as_deref(), Some("a"));
            let due = s.finish("a", now).unwrap();
            let delta = due - now;
            assert!((3_240_000..=3_960_000).contains(&delta), "{delta}");
            seen.push(delta);
            now = due;
        }
        seen.sort();
        seen.dedup();
        assert!(seen.len() > 40, "the jitter does not vary: {seen:?}");
    }

    #[test]
    fn sync_keeps_due_times_and_running_state_and_drops_removed_sites() {
        let mut s = Scheduler::with_seed(0.0, 1);
        s.sync(sites(&["a", "b"], HOUR), &|_| None, 0);
        assert_eq!(s.pop_due(0).as_deref(), Some("a"));
        s.finish("a", 0);
        assert_eq!(s.pop_due(0).as_deref(), Some("b"));
        // A reload: b is still running, a keeps its time, c is new, nothing else.
        let report = s.sync(
            sites(&["a", "b", "c"], Duration::from_secs(60)),
            &|_| None,
            10,
        );
        assert_eq!((report.added, report.removed, report.kept), (1, 0, 2));
        assert_eq!(s.due_of("a"), Some(3_600_000));
        assert_eq!(s.pop_due(10).as_deref(), Some("c"));
        assert_eq!(s.pop_due(10), None, "b is running");
        // The new interval applies from the next finish.
        assert_eq!(s.finish("b", 100), Some(60_100));
        let report = s.sync(sites(&["b"], HOUR), &|_| None, 200);
        assert_eq!(report.removed, 2);
        assert_eq!(s.finish("a", 300), None);
        assert_eq!(s.len(), 1);
        assert_eq!(s.next_due(), Some(60_100));
    }

    #[test]
    fn a_site_removed_and_added_back_while_its_crawl_runs_is_not_handed_out_twice() {
        let mut s = Scheduler::with_seed(0.0, 1);
        s.sync(sites(&["a"], HOUR), &|_| None, 0);
        assert_eq!(s.pop_due(0).as_deref(), Some("a"));
        // Two reloads while the crawl runs: the site leaves the inventory and comes back.
        s.sync(sites(&[], HOUR), &|_| None, 10);
        s.sync(sites(&["a"], HOUR), &|_| None, 20);
        assert_eq!(s.is_running("a"), Some(true), "the crawl still runs");
        assert_eq!(s.pop_due(30), None, "a second crawl of a running site");
        // The crawl ends: the site is scheduled an interval later, as any other.
        assert_eq!(s.finish("a", 40), Some(3_600_040));
        assert_eq!(s.is_running("a"), Some(false));
        assert_eq!(s.pop_due(40), None);
        assert_eq!(s.pop_due(3_600_040).as_deref(), Some("a"));
        // Removed while running and not back when the crawl ends: nothing is scheduled, and
        // a later add starts afresh.
        s.sync(sites(&[], HOUR), &|_| None, 3_600_050);
        assert_eq!(s.finish("a", 3_600_060), None);
        s.sync(sites(&["a"], HOUR), &|_| None, 3_600_070);
        assert_eq!(s.is_running("a"), Some(false));
        assert_eq!(s.pop_due(3_600_070).as_deref(), Some("a"));
    }

    #[test]
    fn stale_heap_entries_do_not_accumulate() {
        let mut s = Scheduler::with_seed(0.0, 1);
        s.sync(sites(&["a"], Duration::from_millis(1)), &|_| None, 0);
        for now in 0..100_000u64 {
            s.due_now("a", now);
        }
        assert!(
            s.heap.len() <= 2 * s.entries.len() + 1025,
            "{}",
            s.heap.len()
        );
        assert_eq!(s.pop_due(100_000).as_deref(), Some("a"));
        assert_eq!(s.pop_due(100_000), None);
    }
}
