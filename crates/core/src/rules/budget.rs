//! A time budget for matching one page.
//!
//! Every stage before matching is linear and capped (the body cap, the extractors' bounds),
//! and regexes are vetted when they load, but a ruleset can still hold a pattern that is slow
//! on one hostile page. The budget bounds what one page may cost: matching checks it between
//! zones, views, regexes and structural checks, and stops where it ran out. What was found
//! before stays found; the page counts as read only in part, so nothing on it is resolved.

use std::cell::Cell;
use std::time::{Duration, Instant};

use cpu_time::ThreadTime;

/// The budget counts the scanning thread's CPU time, not the wall clock: on a busy machine a
/// page waiting for a core is not a slow page, and it must not lose its scan for that.
#[derive(Debug)]
pub struct Budget {
    limit: Option<(Start, Duration)>,
    spent: Cell<bool>,
}

/// When the budget started, on both clocks. A thread's CPU time never runs ahead of the wall
/// clock, so the CPU clock (a system call, where the wall clock is not) is read only once the
/// wall clock has passed the limit. Without a per-thread CPU clock the wall clock decides,
/// which is stricter, never laxer.
#[derive(Debug)]
struct Start {
    wall: Instant,
    cpu: Option<ThreadTime>,
}

impl Budget {
    /// A budget of `limit` from now, on this thread; `None` never runs out.
    pub fn new(limit: Option<Duration>) -> Budget {
        let start = || Start {
            wall: Instant::now(),
            cpu: ThreadTime::try_now().ok(),
        };
        Budget {
            limit: limit.map(|l| (start(), l)),
            spent: Cell::new(false),
        }
    }

    pub fn unlimited() -> Budget {
        Budget::new(None)
    }

    /// Whether the budget has run out; once it has, it stays so (no clock is read after).
    pub fn is_spent(&self) -> bool {
        if self.spent.get() {
            return true;
        }
        let Some((start, limit)) = &self.limit else {
            return false;
        };
        let spent = start.wall.elapsed() >= *limit
            && start
                .cpu
                .as_ref()
                // A CPU clock that cannot be read counts as spent, like the wall clock.
                .is_none_or(|cpu| !cpu.try_elapsed().is_ok_and(|e| e < *limit));
        self.spent.set(spent);
        spent
    }

    /// Whether any check found the budget spent, without reading the clock: work that ended
    /// before running out was complete.
    pub fn ran_out(&self) -> bool {
        self.spent.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_runs_out_once_and_stays_out() {
        let unlimited = Budget::unlimited();
        assert!(!unlimited.is_spent());
        assert!(!unlimited.ran_out());
        let zero = Budget::new(Some(Duration::ZERO));
        assert!(!zero.ran_out(), "nothing checked yet");
        assert!(zero.is_spent());
        assert!(zero.ran_out());
        let long = Budget::new(Some(Duration::from_secs(3600)));
        assert!(!long.is_spent());
        assert!(!long.ran_out());
        // Sleeping costs no CPU: a thread waiting for a core keeps its budget.
        let short = Budget::new(Some(Duration::from_millis(20)));
        std::thread::sleep(Duration::from_millis(60));
        assert!(!short.is_spent());
        let started = Instant::now();
        while !short.is_spent() {
            assert!(started.elapsed() < Duration::from_secs(30), "never ran out");
            std::hint::black_box((0..1000u64).sum::<u64>());
        }
        assert!(short.ran_out());
    }
}
