//! Three real daemons on one PostgreSQL database (a schema of its own), patrolling loopback
//! sites the test serves, some with prohibited content, and sending flag events to a loopback
//! webhook receiver. Proves the work distribution and the singletons of issue 15: every site
//! crawled within its interval, never by two daemons at once (the crawl runs of a site do not
//! overlap), a daemon killed with -9 hands its sites to the others within the lease time, no
//! flag is duplicated or lost, and the webhook singleton moves to another daemon and delivers
//! every event exactly once. Without `SITEPATROL_TEST_PG` it prints a notice and passes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::daemon::*;
use crate::common::{self, Action, serve};
use sitepatrol_store::{
    CrawlRunRecord, DeliveryFilter, DeliveryStatus, FlagFilter, PgStore, Store, Timestamp,
};

const SITES: usize = 9;
/// Every site's interval, and the fleet's lease timings: short, so the test runs in well under
/// a minute.
const INTERVAL: Duration = Duration::from_secs(4);
const LEASE_TTL: Duration = Duration::from_secs(3);
/// What a crawl may add to its interval before the next one starts: the claim tick (1 s),
/// due times in whole seconds (1 s), and a loaded machine's scheduling (4 s: the whole suite
/// runs beside this test on two cores). Also what a takeover may add to the lease time.
const SLACK: i64 = 6;
/// Each page takes this long to answer: crawls last long enough to be caught holding leases.
const PAGE_DELAY: Duration = Duration::from_millis(250);

/// Drops what it holds off the async workers (the PostgreSQL client blocks, and refuses to
/// on a runtime's thread), also when a failed assertion unwinds.
struct OffRuntime<T>(Option<T>);

impl<T> Drop for OffRuntime<T> {
    fn drop(&mut self) {
        let held = self.0.take();
        tokio::task::block_in_place(move || drop(held));
    }
}

fn now() -> Timestamp {
    sitepatrol_core::clock::unix_now()
}

/// What a site serves: its home page links a second page; `bad` puts a finding on one.
fn pages_of(i: usize) -> HashMap<String, String> {
    let (home, second) = match i % 3 {
        0 => ("欢迎来到网上赌博平台", "公司简介"),
        1 => ("公司简介", "免费色情视频"),
        _ => ("公司简介", "联系我们"),
    };
    HashMap::from([
        ("/".to_string(), page(home, &["/a.html"])),
        ("/a.html".to_string(), page(second, &["/"])),
    ])
}

/// One daemon's `/status`.
async fn status(daemon: &Daemon) -> serde_json::Value {
    let (code, body) = daemon.get("/status").await;
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// Runs `f` on the test's store, off the async workers (the PostgreSQL client blocks).
async fn with_store<T: Send + 'static>(
    store: &Arc<PgStore>,
    f: impl FnOnce(&PgStore) -> T + Send + 'static,
) -> T {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .unwrap()
}

async fn all_runs(store: &Arc<PgStore>) -> BTreeMap<String, Vec<CrawlRunRecord>> {
    with_store(store, |s| {
        (0..SITES)
            .map(|i| {
                let id = format!("site{i}");
                let mut runs = s.crawl_runs(&id, 1000).unwrap();
                runs.sort_by_key(|r| (r.started_at, r.finished_at));
                (id, runs)
            })
            .collect()
    })
    .await
}

async fn wait_for<T>(what: &str, within: Duration, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(started.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_daemons_share_the_patrol_and_survive_a_kill_9() {
    let Some(schema) = tokio::task::block_in_place(common::pg::Schema::new) else {
        return;
    };
    let schema = OffRuntime(Some(schema));
    let url = schema.0.as_ref().unwrap().url.clone();
    let begun = Instant::now();
    // The sites, each on its own host name (served by its own loopback server).
    let mut servers = Vec::new();
    let mut contents: Vec<Pages> = Vec::new();
    let mut site_entries = String::new();
    for i in 0..SITES {
        let pages: Pages = Arc::new(Mutex::new(pages_of(i)));
        let served = pages.clone();
        let server = serve(move |request| {
            let path = request.path.split('?').next().unwrap_or("/").to_string();
            let then = match served.lock().unwrap().get(&path) {
                Some(body) => Action::html(body.clone()),
                None => Action::status(404),
            };
            Action::Delayed {
                delay: PAGE_DELAY,
                then: Box::new(then),
            }
        })
        .await;
        site_entries.push_str(&site(
            &format!("site{i}"),
            &format!("site{i}.fleet.test"),
            server.addr.port(),
            &format!("{}s", INTERVAL.as_secs()),
        ));
        servers.push(server);
        contents.push(pages);
    }
    let hook = crate::webhooks::receiver(0).await;

    // Three daemons, each with its own directory and the same store, sites and webhook.
    let setups: Vec<Setup> = (0..3).map(|_| Setup::new()).collect();
    let mut daemons = Vec::new();
    for setup in &setups {
        std::fs::write(setup.path("store-url"), &url).unwrap();
        let config = setup.path("config.toml");
        std::fs::write(
            &config,
            format!(
                r#"
[store]
url_file = "store-url"
pool_size = 3
[http]
listen = ["127.0.0.1:0"]
[rules]
paths = ["{rules}"]
[logging]
level = "info"
[schedule]
jitter = 0.0
max_concurrent_crawls = 3
shutdown_grace = "2s"
lease_ttl = "{ttl}s"
lease_renew_interval = "1s"
leader_check_interval = "500ms"
[crawl]
sitemaps = false
[filing]
enabled = false

[[webhooks]]
name = "soc"
url = "http://{hook}/hook"
secret = "fleet-secret"
min_severity = "low"
events = ["flag.new"]
timeout = "5s"
retry_base = "1s"
retry_max = "2s"
{site_entries}"#,
                rules = setup.path("rules").display(),
                ttl = LEASE_TTL.as_secs(),
                hook = hook.addr,
            ),
        )
        .unwrap();
        daemons.push(Some(Daemon::start(&config).await));
    }
    let store = Arc::new(
        tokio::task::block_in_place(|| PgStore::open(&url, 2, Default::default()))
            .expect("open the store"),
    );
    let store = OffRuntime(Some(store));
    let store = store.0.as_ref().unwrap();
    let mut owners = Vec::new();
    for d in daemons.iter().flatten() {
        owners.push(status(d).await["owner"].as_str().unwrap().to_string());
    }
    assert_eq!(owners.iter().collect::<HashSet<_>>().len(), 3, "{owners:?}");

    // Every site crawled twice; exactly one leader, which sent every flag's event.
    wait_for("every site crawled twice", PATIENCE, async || {
        let runs = all_runs(store).await;
        runs.values().all(|r| r.len() >= 2).then_some(())
    })
    .await;
    let mut leader = None;
    for (i, d) in daemons.iter().enumerate() {
        let s = status(d.as_ref().unwrap()).await;
        if s["leader"] == true {
            assert!(leader.is_none(), "two leaders");
            leader = Some(i);
        }
    }
    let leader = leader.expect("one daemon leads");
    // Sites 0, 3, 6 (gambling) and 1, 4, 7 (pornography).
    let first_flags = 6;
    wait_for("the first events delivered", PATIENCE, async || {
        (hook.delivery_ids().len() >= first_flags).then_some(())
    })
    .await;
    // The fleet gauges come from the leader only.
    let shows_flags = |metrics: &str| metrics.lines().any(|l| l.starts_with("sitepatrol_flags{"));
    wait_for("the leader's flag gauges", PATIENCE, async || {
        let (_, metrics) = daemons[leader].as_ref().unwrap().get("/metrics").await;
        shows_flags(&metrics).then_some(())
    })
    .await;
    for (i, d) in daemons.iter().enumerate() {
        let (_, metrics) = d.as_ref().unwrap().get("/metrics").await;
        let expected = if i == leader { 1.0 } else { 0.0 };
        assert_eq!(
            sample(&metrics, "sitepatrol_leader"),
            Some(expected),
            "daemon {i}"
        );
        assert_eq!(shows_flags(&metrics), i == leader, "daemon {i}:\n{metrics}");
    }
    // The patrol is shared: every daemon crawls.
    wait_for("every daemon crawling", PATIENCE, async || {
        daemons
            .iter()
            .flatten()
            .all(|d| d.log().contains("crawl committed"))
            .then_some(())
    })
    .await;

    // Kill -9 the leader while it holds site leases (a crawl in flight), the outbox empty.
    let victim = owners[leader].clone();
    wait_for("the leader holding a lease", PATIENCE, async || {
        let victim = victim.clone();
        let pending = with_store(store, |s| {
            s.deliveries(&DeliveryFilter {
                status: Some(DeliveryStatus::Pending),
                ..DeliveryFilter::default()
            })
            .unwrap()
            .len()
        })
        .await;
        let held: Vec<String> = with_store(store, move |s| {
            s.leases(now())
                .unwrap()
                .into_iter()
                .filter(|l| l.owner == victim)
                .map(|l| l.site)
                .collect()
        })
        .await;
        (pending == 0 && !held.is_empty()).then_some(())
    })
    .await;
    let mut killed = daemons[leader].take().unwrap();
    killed.signal("KILL");
    killed.wait_exit(Duration::from_secs(10)).await;
    let killed_at = now();
    // What it held when it died: its leases stay in the store until they run out.
    let held: Vec<String> = {
        let victim = victim.clone();
        with_store(store, move |s| {
            s.leases(killed_at)
                .unwrap()
                .into_iter()
                .filter(|l| l.owner == victim)
                .map(|l| l.site)
                .collect()
        })
        .await
    };
    assert!(!held.is_empty(), "the leader held leases a moment ago");
    let survivors: Vec<&Daemon> = daemons.iter().flatten().collect();

    // Its sites are claimed by the others within the lease time (plus a claim tick).
    let handed = Instant::now();
    for site in &held {
        let site = site.clone();
        let victim = victim.clone();
        wait_for(
            &format!("{site} taken over"),
            LEASE_TTL + Duration::from_secs(SLACK as u64),
            async || {
                let (site, victim) = (site.clone(), victim.clone());
                with_store(store, move |s| {
                    let leased_elsewhere = s
                        .leases(now())
                        .unwrap()
                        .iter()
                        .any(|l| l.site == site && l.owner != victim);
                    let ran_since = s
                        .crawl_runs(&site, 1)
                        .unwrap()
                        .first()
                        .is_some_and(|r| r.started_at >= killed_at);
                    (leased_elsewhere || ran_since).then_some(())
                })
                .await
            },
        )
        .await;
    }
    let handover = handed.elapsed();

    // Another daemon leads within seconds, and sends the events of new findings.
    let new_leader = wait_for("a new leader", Duration::from_secs(10), async || {
        for (i, d) in survivors.iter().enumerate() {
            if status(d).await["leader"] == true {
                return Some(i);
            }
        }
        None
    })
    .await;
    for i in [2, 5] {
        contents[i]
            .lock()
            .unwrap()
            .insert("/".into(), page("欢迎来到网上赌博平台", &["/a.html"]));
    }
    let mut expected = BTreeSet::new();
    for i in 0..SITES {
        match i {
            0 | 2 | 3 | 5 | 6 => {
                expected.insert((format!("site{i}"), "test.gambling".into(), "/".into()));
            }
            1 | 4 | 7 => {
                expected.insert((format!("site{i}"), "test.porn".into(), "/a.html".into()));
            }
            _ => {}
        }
    }
    let flags_now = async || {
        let flags = with_store(store, |s| {
            s.list_flags(&FlagFilter {
                limit: 1000,
                ..FlagFilter::default()
            })
            .unwrap()
            .flags
        })
        .await;
        let found: BTreeSet<(String, String, String)> = flags
            .iter()
            .map(|f| {
                let path = url::Url::parse(&f.url).unwrap().path().to_string();
                (f.site.clone(), f.rule.clone(), path)
            })
            .collect();
        (flags, found)
    };
    let started = Instant::now();
    loop {
        let (_, found) = flags_now().await;
        if found == expected && hook.delivery_ids().len() >= expected.len() {
            break;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "the new flags and their events: found {found:#?}, received {:?}",
            hook.delivery_ids()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A full interval more, for late duplicates and the interval check to cover the end.
    tokio::time::sleep(INTERVAL + Duration::from_secs(1)).await;

    // No flag lost or duplicated: exactly the expected (site, rule, url), fingerprints unique.
    let (flags, found) = flags_now().await;
    let fingerprints: HashSet<&str> = flags.iter().map(|f| f.fingerprint.as_str()).collect();
    assert_eq!(fingerprints.len(), flags.len(), "{flags:#?}");
    assert_eq!(found, expected);
    assert_eq!(flags.len(), expected.len());

    // Every event delivered exactly once: each delivery the store holds is delivered, and the
    // receiver got each id once; one event per flag.
    let deliveries = with_store(store, |s| {
        s.deliveries(&DeliveryFilter {
            limit: 1000,
            ..DeliveryFilter::default()
        })
        .unwrap()
    })
    .await;
    assert!(
        deliveries
            .iter()
            .all(|d| d.status == DeliveryStatus::Delivered),
        "{deliveries:#?}"
    );
    let ids: BTreeSet<i64> = deliveries.iter().map(|d| d.id).collect();
    let got = hook.delivery_ids();
    let got_ids: BTreeSet<i64> = got.iter().copied().collect();
    assert_eq!(got.len(), got_ids.len(), "a delivery came twice: {got:?}");
    assert_eq!(got_ids, ids);
    assert_eq!(deliveries.len(), expected.len());

    // Runs of a site never overlap, and each started within its interval of the last.
    let runs = all_runs(store).await;
    let end = now();
    for (site, runs) in &runs {
        assert!(!runs.is_empty(), "{site} never crawled");
        let bound = if held.contains(site) {
            INTERVAL.as_secs() as i64 + LEASE_TTL.as_secs() as i64 + SLACK
        } else {
            INTERVAL.as_secs() as i64 + SLACK
        };
        for pair in runs.windows(2) {
            assert!(
                pair[1].started_at >= pair[0].finished_at,
                "{site}: overlapping runs {:?} and {:?}",
                (pair[0].started_at, pair[0].finished_at),
                (pair[1].started_at, pair[1].finished_at)
            );
            assert!(
                pair[1].started_at - pair[0].finished_at <= bound,
                "{site}: {} s between runs (bound {bound}); killed at {killed_at}, runs {:?}",
                pair[1].started_at - pair[0].finished_at,
                runs.iter()
                    .map(|r| (r.started_at, r.finished_at))
                    .collect::<Vec<_>>()
            );
        }
        let last = runs.last().unwrap().finished_at;
        assert!(
            end - last <= bound,
            "{site}: last run ended {} s ago",
            end - last
        );
    }
    let total: usize = runs.values().map(Vec::len).sum();
    let widest = |handed_over: bool| {
        runs.iter()
            .filter(|(site, _)| held.contains(site) == handed_over)
            .flat_map(|(_, r)| r.windows(2).map(|p| p[1].started_at - p[0].finished_at))
            .max()
            .unwrap_or(0)
    };
    let (widest, widest_handed) = (widest(false), widest(true));

    // A clean stop releases every lease.
    let survivors: Vec<Daemon> = daemons.into_iter().flatten().collect();
    for d in survivors {
        stop(d).await;
    }
    let left = with_store(store, |s| s.leases(now()).unwrap()).await;
    assert!(left.is_empty(), "{left:?}");
    eprintln!(
        "fleet: {total} runs of {SITES} sites (widest gap {widest} s, {widest_handed} s for the sites handed over), leader {leader} killed holding {held:?}, taken over in {:.1} s, new leader {new_leader}, {} deliveries, {:.1} s in all",
        handover.as_secs_f64(),
        got.len(),
        begun.elapsed().as_secs_f64()
    );
    drop(servers);
}
