//! Politeness: a global cap on requests in flight, and per host a cap on concurrency, a minimum
//! delay between requests (raised by robots.txt `Crawl-delay`), and back-off after 429/503.
//!
//! One gate is shared by every crawl of a process, so two sites on one host share that host's
//! limits. Entries of hosts that have gone quiet are dropped, so the map does not grow with
//! every host ever seen.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

// tokio's clock, so that tests can run it paused.
use tokio::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Debug, Clone, Copy)]
pub struct PolitenessConfig {
    pub global_concurrency: usize,
    pub per_host_concurrency: usize,
    pub min_delay: Duration,
    /// The longest `Crawl-delay` honoured; a site asking for an hour between pages would never
    /// be crawled.
    pub max_crawl_delay: Duration,
}

impl Default for PolitenessConfig {
    fn default() -> PolitenessConfig {
        PolitenessConfig {
            global_concurrency: 64,
            per_host_concurrency: 4,
            min_delay: Duration::ZERO,
            max_crawl_delay: Duration::from_secs(30),
        }
    }
}

struct HostState {
    slots: Arc<Semaphore>,
    timing: Mutex<Timing>,
}

struct Timing {
    next_start: Instant,
    delay: Duration,
    last_used: Instant,
}

/// Held while a request to a host is in flight.
pub struct Permit {
    _global: OwnedSemaphorePermit,
    _host: OwnedSemaphorePermit,
}

pub struct HostGate {
    config: PolitenessConfig,
    global: Arc<Semaphore>,
    hosts: Mutex<HashMap<String, Arc<HostState>>>,
}

/// Hosts kept before idle ones are dropped.
const MAX_IDLE_HOSTS: usize = 4096;

impl HostGate {
    pub fn new(config: PolitenessConfig) -> HostGate {
        HostGate {
            global: Arc::new(Semaphore::new(config.global_concurrency.max(1))),
            config,
            hosts: Mutex::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> &PolitenessConfig {
        &self.config
    }

    fn host(&self, host: &str) -> Arc<HostState> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(state) = hosts.get(host) {
            return state.clone();
        }
        if hosts.len() >= MAX_IDLE_HOSTS {
            let now = Instant::now();
            hosts.retain(|_, state| {
                Arc::strong_count(state) > 1
                    || state
                        .timing
                        .lock()
                        .map(|t| {
                            now.duration_since(t.last_used) < Duration::from_secs(60)
                                || t.next_start > now
                        })
                        .unwrap_or(false)
            });
        }
        let state = Arc::new(HostState {
            slots: Arc::new(Semaphore::new(self.config.per_host_concurrency.max(1))),
            timing: Mutex::new(Timing {
                next_start: Instant::now(),
                delay: self.config.min_delay,
                last_used: Instant::now(),
            }),
        });
        hosts.insert(host.to_string(), state.clone());
        state
    }

    /// Wait for a global slot, a slot on `host`, and the host's next allowed start time.
    pub async fn acquire(&self, host: &str) -> Permit {
        let state = self.host(host);
        let host_permit = state
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("host semaphores are never closed");
        // Reserve a start time under the lock, then sleep outside it.
        let start = {
            let mut timing = state.timing.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let start = timing.next_start.max(now);
            timing.next_start = start + timing.delay;
            timing.last_used = start;
            start
        };
        tokio::time::sleep_until(start).await;
        let global = self
            .global
            .clone()
            .acquire_owned()
            .await
            .expect("the global semaphore is never closed");
        Permit {
            _global: global,
            _host: host_permit,
        }
    }

    /// Honour a robots.txt `Crawl-delay` (capped) for `host`.
    pub fn set_crawl_delay(&self, host: &str, delay: Duration) {
        let state = self.host(host);
        let mut timing = state.timing.lock().unwrap_or_else(|e| e.into_inner());
        timing.delay = delay
            .min(self.config.max_crawl_delay)
            .max(self.config.min_delay);
    }

    /// Hold every request to `host` until `until` (429/503 with Retry-After, or back-off).
    pub fn back_off(&self, host: &str, wait: Duration) {
        let state = self.host(host);
        let mut timing = state.timing.lock().unwrap_or_else(|e| e.into_inner());
        let until = Instant::now() + wait;
        if until > timing.next_start {
            timing.next_start = until;
        }
    }

    /// Hosts currently tracked (for tests and status).
    pub fn tracked_hosts(&self) -> usize {
        self.hosts.lock().map(|h| h.len()).unwrap_or(0)
    }
}

/// Exponential back-off for attempt `attempt` (0-based): `base × 2^attempt`, capped, and never
/// shorter than the server's `Retry-After`.
pub fn backoff(
    attempt: u32,
    base: Duration,
    cap: Duration,
    retry_after: Option<Duration>,
) -> Duration {
    let exponential = base.saturating_mul(1u32 << attempt.min(16));
    exponential.max(retry_after.unwrap_or_default()).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_honours_retry_after_and_caps() {
        let base = Duration::from_millis(500);
        let cap = Duration::from_secs(10);
        assert_eq!(backoff(0, base, cap, None), Duration::from_millis(500));
        assert_eq!(backoff(2, base, cap, None), Duration::from_secs(2));
        assert_eq!(backoff(10, base, cap, None), cap);
        assert_eq!(
            backoff(0, base, cap, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(backoff(0, base, cap, Some(Duration::from_secs(3600))), cap);
    }

    #[tokio::test(start_paused = true)]
    async fn minimum_delay_spaces_requests_to_one_host() {
        let gate = HostGate::new(PolitenessConfig {
            min_delay: Duration::from_secs(2),
            ..PolitenessConfig::default()
        });
        let start = Instant::now();
        for _ in 0..3 {
            drop(gate.acquire("a.test").await);
        }
        // Three requests: at 0 s, 2 s and 4 s.
        assert!(
            start.elapsed() >= Duration::from_secs(4),
            "{:?}",
            start.elapsed()
        );
        // Another host is not held back.
        let other = Instant::now();
        drop(gate.acquire("b.test").await);
        assert!(other.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn back_off_holds_the_host() {
        let gate = HostGate::new(PolitenessConfig::default());
        gate.back_off("a.test", Duration::from_secs(5));
        let start = Instant::now();
        drop(gate.acquire("a.test").await);
        assert!(start.elapsed() >= Duration::from_secs(5));
    }

    #[tokio::test]
    async fn per_host_concurrency_is_a_cap() {
        let gate = Arc::new(HostGate::new(PolitenessConfig {
            per_host_concurrency: 2,
            ..PolitenessConfig::default()
        }));
        let a = gate.acquire("a.test").await;
        let _b = gate.acquire("a.test").await;
        let third = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.acquire("a.test").await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !third.is_finished(),
            "a third request to the host went through"
        );
        drop(a);
        let _c = tokio::time::timeout(Duration::from_secs(1), third)
            .await
            .expect("released")
            .unwrap();
    }
}
