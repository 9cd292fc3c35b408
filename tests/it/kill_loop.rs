//! kill -9 in a loop (issue 16): the daemon crawls a site of many flagged pages while a
//! reviewer confirms, dismisses and reopens flags through the review API, and is SIGKILLed at
//! random moments, again and again. After every kill `sitepatrol store check` passes, no flag
//! is lost or duplicated, and every review action the API acknowledged is in the store. At
//! the end a clean crawl leaves the same flags as a run that was never killed.
//!
//! `SITEPATROL_KILL_LOOPS` sets the number of kills (default 5), `SITEPATROL_KILL_SEED` the
//! seed of the random delays and actions (printed, so a failure can be replayed).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::{Duration, Instant};

use crate::common::daemon::*;
use crate::common::{self, Action};
use sitepatrol_server::review::auth::{Role, config_line, new_token};
use sitepatrol_store::{EventFilter, EventKind, Flag, FlagFilter, FlagState, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Pages of the site, each with a gambling term, every third also with a porn term.
const PAGES: usize = 40;

/// The reviewer's token name: the actor of the events the API writes.
const REVIEWER: &str = "审核员";

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

/// The site: each page answers after 10 to 40 ms, so that a crawl takes a while and a kill
/// at a random moment often lands in the middle of one.
async fn flagged_site() -> common::Server {
    let mut pages: HashMap<String, String> = HashMap::new();
    let links: Vec<String> = (0..PAGES).map(|i| format!("/p{i}.html")).collect();
    let refs: Vec<&str> = links.iter().map(String::as_str).collect();
    pages.insert("/".into(), page("首页", &refs));
    for i in 0..PAGES {
        let text = if i % 3 == 0 {
            format!("第{i}页 欢迎来到网上赌博平台 免费色情视频")
        } else {
            format!("第{i}页 欢迎来到网上赌博平台")
        };
        pages.insert(format!("/p{i}.html"), page(&text, &["/"]));
    }
    common::serve(move |request| {
        let path = request.path.split('?').next().unwrap_or("/");
        match pages.get(path) {
            Some(body) => Action::Delayed {
                delay: Duration::from_millis(10 + (path.len() as u64 * 7 + body.len() as u64) % 31),
                then: Box::new(Action::html(body.clone())),
            },
            None => Action::status(404),
        }
    })
    .await
}

/// `[schedule]` keys beside no jitter: a stop waits a little for the crawl in flight.
const SCHEDULE: &str = "shutdown_grace = \"5s\"\n";

/// The config of a daemon crawling the site all the time, with a reviewer's token.
fn config(port: u16, token: &str) -> String {
    format!(
        "[api]\nmax_failures = 1000\n{}\n{}",
        config_line(REVIEWER, Role::Reviewer, token),
        site("busy", "busy.example.test", port, "100ms"),
    )
}

/// What became of one review request.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// 2xx: the API says it is done, so the store must have it.
    Acknowledged,
    /// Answered with an error (a transition the flag's state does not allow): nothing changed.
    Refused(u16),
    /// Sent, but the daemon died before a complete answer: it may or may not have happened.
    Unknown,
}

#[derive(Debug, Clone)]
struct Review {
    flag: i64,
    /// `confirm`, `dismiss` or `reopen`.
    action: &'static str,
    to: FlagState,
    /// Unique per request (a bulk request's flags share it), so its events can be found.
    reason: String,
    outcome: Outcome,
}

/// What became of one POST.
enum Sent {
    /// Nothing could be sent (the daemon is not listening): it certainly did nothing.
    No,
    /// Sent, but no complete answer came back.
    CutOff,
    /// The status and the body.
    Answered(u16, String),
}

/// POST over HTTP/1.0 (the server closes after the answer).
async fn post(addr: SocketAddr, token: &str, path: &str, body: &str) -> Sent {
    let connect =
        tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr)).await;
    let Ok(Ok(mut stream)) = connect else {
        return Sent::No;
    };
    let request = format!(
        "POST {path} HTTP/1.0\r\nHost: test\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(request.as_bytes()).await.is_err() {
        return Sent::CutOff;
    }
    let mut raw = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw)).await;
    if !matches!(read, Ok(Ok(_))) {
        return Sent::CutOff;
    }
    // Killed before it answered whole: the kernel closes the socket, and the read sees the end
    // (or a reset) without a complete head, or a body shorter than announced.
    let text = String::from_utf8_lossy(&raw).to_string();
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return Sent::CutOff;
    };
    let length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok());
    if length.is_some_and(|n| n != body.len()) {
        return Sent::CutOff;
    }
    match head.split_whitespace().nth(1).and_then(|s| s.parse().ok()) {
        Some(status) => Sent::Answered(status, body.to_string()),
        None => Sent::CutOff,
    }
}

/// A reviewer acting on random flags until told to stop, one at a time and in bulk; returns
/// what it sent, one review per flag acted on.
async fn reviewer(
    addr: SocketAddr,
    token: String,
    store: Arc<sitepatrol_store::SqliteStore>,
    seed: u64,
    life: u64,
    stop: Arc<AtomicBool>,
) -> Vec<Review> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut sent = Vec::new();
    let mut requests = 0;
    while !stop.load(SeqCst) {
        let ids: Vec<i64> = store
            .list_flags(&FlagFilter {
                limit: 1000,
                ..FlagFilter::default()
            })
            .map(|page| page.flags.iter().map(|f| f.id).collect())
            .unwrap_or_default();
        if ids.len() < 3 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        let (action, to) = match rng.u8(..3) {
            0 => ("confirm", FlagState::Confirmed),
            1 => ("dismiss", FlagState::Dismissed),
            _ => ("reopen", FlagState::Reopened),
        };
        // Unique per request, even if one that was sent is not in the list (a break below).
        requests += 1;
        let reason = format!("kill-loop review {life}.{requests}");
        let bulk = rng.u8(..4) == 0;
        let mut flags = vec![ids[rng.usize(..ids.len())]];
        if bulk {
            while flags.len() < 3 {
                let id = ids[rng.usize(..ids.len())];
                if !flags.contains(&id) {
                    flags.push(id);
                }
            }
        }
        let (path, body) = if bulk {
            (
                "/api/v1/flags/bulk".to_string(),
                serde_json::json!({ "action": action, "ids": flags, "reason": reason }),
            )
        } else {
            (
                format!("/api/v1/flags/{}/{action}", flags[0]),
                serde_json::json!({ "reason": reason }),
            )
        };
        let outcomes: Vec<Outcome> = match post(addr, &token, &path, &body.to_string()).await {
            // The daemon is gone, and this reviewer stops with it.
            Sent::No => break,
            Sent::CutOff => vec![Outcome::Unknown; flags.len()],
            Sent::Answered(status, answer) if bulk => {
                assert_eq!(status, 200, "POST {path}: {answer}");
                let answer: serde_json::Value = serde_json::from_str(&answer).expect("JSON");
                let results = answer["results"].as_array().expect("results");
                assert_eq!(results.len(), flags.len(), "{answer}");
                results
                    .iter()
                    .zip(&flags)
                    .map(|(r, id)| {
                        assert_eq!(r["id"], *id, "{answer}");
                        if r["ok"] == true {
                            Outcome::Acknowledged
                        } else {
                            assert_eq!(r["error"]["code"], "invalid_transition", "{answer}");
                            Outcome::Refused(409)
                        }
                    })
                    .collect()
            }
            Sent::Answered(status, _) if (200..300).contains(&status) => {
                vec![Outcome::Acknowledged]
            }
            Sent::Answered(status, answer) => {
                // 409 (the state does not allow it) is the only refusal a valid request gets.
                assert_eq!(status, 409, "POST {path}: {answer}");
                vec![Outcome::Refused(status)]
            }
        };
        for (flag, outcome) in flags.into_iter().zip(outcomes) {
            sent.push(Review {
                flag,
                action,
                to,
                reason: reason.clone(),
                outcome,
            });
        }
        tokio::time::sleep(Duration::from_millis(rng.u64(..40))).await;
    }
    sent
}

/// `sitepatrol store check` on the store file must exit 0.
fn store_check(path: &std::path::Path, when: &str) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sitepatrol"))
        .args(["store", "check", "--store"])
        .arg(path)
        .output()
        .expect("run sitepatrol store check");
    assert_eq!(
        out.status.code(),
        Some(0),
        "store check {when}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn all_flags(store: &dyn Store) -> Vec<Flag> {
    let flags = store
        .list_flags(&FlagFilter {
            limit: 1000,
            ..FlagFilter::default()
        })
        .expect("list flags")
        .flags;
    assert!(flags.len() < 1000, "more flags than one page holds");
    flags
}

/// (URL, category, rule) of each flag; panics on two flags of one URL and category.
fn flag_keys(flags: &[Flag]) -> BTreeSet<(String, String, String)> {
    let mut keys = BTreeSet::new();
    let mut pages = BTreeSet::new();
    for f in flags {
        assert!(
            pages.insert((f.url.as_str(), f.category.as_str())),
            "duplicate flag for {} {}",
            f.url,
            f.category
        );
        keys.insert((f.url.clone(), f.category.clone(), f.rule.clone()));
    }
    let fingerprints: BTreeSet<&str> = flags.iter().map(|f| f.fingerprint.as_str()).collect();
    assert_eq!(fingerprints.len(), flags.len(), "duplicate fingerprints");
    keys
}

/// Every acknowledged review has its event (by its reason, unique per request, and its flag)
/// with the state it asked for; a refused one has none.
fn acknowledged_reviews_are_stored(store: &dyn Store, reviews: &[Review]) {
    let mut events: HashMap<(String, i64), Option<FlagState>> = HashMap::new();
    let mut before = None;
    loop {
        let page = store
            .events(&EventFilter {
                actor: Some(REVIEWER.into()),
                before_id: before,
                limit: 1000,
                ..EventFilter::default()
            })
            .expect("events");
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        for e in page {
            assert_eq!(e.kind, EventKind::State);
            let key = (e.reason.clone().unwrap_or_default(), e.flag_id);
            let seen = events.insert(key.clone(), e.to_state);
            assert!(seen.is_none(), "two events for {key:?}");
        }
    }
    for r in reviews {
        let stored = events.get(&(r.reason.clone(), r.flag));
        match r.outcome {
            Outcome::Acknowledged => assert_eq!(
                stored,
                Some(&Some(r.to)),
                "acknowledged {} of flag {} ({}) is not in the store",
                r.action,
                r.flag,
                r.reason
            ),
            Outcome::Refused(_) => assert_eq!(
                stored,
                None,
                "refused {r:?} has an event; the flag's reviews: {:#?}",
                reviews
                    .iter()
                    .filter(|o| o.flag == r.flag)
                    .collect::<Vec<_>>(),
            ),
            Outcome::Unknown => {}
        }
    }
}

/// A flag's state after the reviews: that of its last acknowledged action, or of one sent
/// after it whose answer the kill cut off; `open` if none was acknowledged.
fn possible_states(reviews: &[Review]) -> BTreeMap<i64, BTreeSet<FlagState>> {
    let mut out: BTreeMap<i64, BTreeSet<FlagState>> = BTreeMap::new();
    for r in reviews {
        let states = out
            .entry(r.flag)
            .or_insert_with(|| BTreeSet::from([FlagState::Open]));
        match r.outcome {
            Outcome::Acknowledged => *states = BTreeSet::from([r.to]),
            Outcome::Unknown => {
                states.insert(r.to);
            }
            Outcome::Refused(_) => {}
        }
    }
    out
}

/// The flags of one never-killed daemon over the same site: the reference.
async fn reference_flags(port: u16) -> BTreeSet<(String, String, String)> {
    let token = new_token().unwrap();
    let (_setup, daemon, store) = start_daemon(SCHEDULE, &config(port, &token)).await;
    let runs = wait_runs(&store, "busy", 1).await;
    assert_eq!(
        runs[0].outcome,
        sitepatrol_store::CrawlOutcome::Completed,
        "{runs:#?}"
    );
    stop(daemon).await;
    flag_keys(&all_flags(&store))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_a_loop_loses_no_flag_and_no_acknowledged_review() {
    let started = Instant::now();
    let kills = env_number("SITEPATROL_KILL_LOOPS", 5);
    let seed = env_number("SITEPATROL_KILL_SEED", 16);
    eprintln!("kill loop: {kills} kills, SITEPATROL_KILL_SEED={seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let server = flagged_site().await;
    let port = server.addr.port();
    let token = new_token().unwrap();
    let (setup, mut daemon, store) = start_daemon(SCHEDULE, &config(port, &token)).await;
    let store = Arc::new(store);
    let store_path = setup.store_path();

    let mut reviews: Vec<Review> = Vec::new();
    // (fingerprint, id) of every flag seen so far: none may disappear or change its id.
    let mut known: BTreeMap<String, i64> = BTreeMap::new();
    let mut mid_crawl = 0;
    for kill in 0..kills {
        // The reviewer acts from the start of this life of the daemon to its end.
        let stop_reviewer = Arc::new(AtomicBool::new(false));
        let review = tokio::spawn(reviewer(
            daemon.http,
            token.clone(),
            store.clone(),
            rng.u64(..),
            kill,
            stop_reviewer.clone(),
        ));
        // Often a little after a crawl started, sometimes right away, otherwise at any moment
        // of the first seconds.
        match rng.u8(..10) {
            0 => tokio::time::sleep(Duration::from_millis(rng.u64(..50))).await,
            1..=4 => {
                let started = daemon.log().matches("crawl started").count();
                daemon.wait_log_n("crawl started", started + 1).await;
                tokio::time::sleep(Duration::from_millis(rng.u64(..400))).await;
            }
            _ => tokio::time::sleep(Duration::from_millis(rng.u64(50..2_000))).await,
        }
        let log = daemon.log();
        if log.matches("crawl started").count() > log.matches("crawl committed").count() {
            mid_crawl += 1;
        }
        daemon.child.start_kill().expect("SIGKILL");
        daemon.child.wait().await.expect("wait");
        stop_reviewer.store(true, SeqCst);
        reviews.extend(review.await.expect("the reviewer"));

        store_check(&store_path, &format!("after kill {}", kill + 1));
        let flags = all_flags(&*store);
        flag_keys(&flags);
        let now: BTreeMap<String, i64> = flags
            .iter()
            .map(|f| (f.fingerprint.clone(), f.id))
            .collect();
        for (fp, id) in &known {
            assert_eq!(
                now.get(fp),
                Some(id),
                "flag {id} lost after kill {}",
                kill + 1
            );
        }
        known = now;
        acknowledged_reviews_are_stored(&*store, &reviews);
        daemon = Daemon::start(&setup.path("config.toml")).await;
    }

    // The last life: no kill. Two more crawls, the second begun after the restart, and a
    // clean stop.
    let runs = wait_two_more_runs(&*store, "busy").await;
    assert_eq!(
        runs[0].outcome,
        sitepatrol_store::CrawlOutcome::Completed,
        "{:#?}",
        &runs[..2]
    );
    stop(daemon).await;
    store_check(&store_path, "after the last, clean, run");
    let flags = all_flags(&*store);
    let keys = flag_keys(&flags);
    for (fp, id) in &known {
        assert!(
            flags.iter().any(|f| &f.fingerprint == fp && f.id == *id),
            "flag {id} lost"
        );
    }
    acknowledged_reviews_are_stored(&*store, &reviews);
    let states: HashMap<i64, FlagState> = flags.iter().map(|f| (f.id, f.state)).collect();
    for (id, possible) in possible_states(&reviews) {
        let state = states[&id];
        assert!(
            possible.contains(&state),
            "flag {id} is {state}, expected one of {possible:?} after {:#?}",
            reviews.iter().filter(|r| r.flag == id).collect::<Vec<_>>()
        );
    }
    // The site never changes, so crawls only ever open flags: what no reviewer touched is
    // open.
    for f in &flags {
        if !reviews.iter().any(|r| r.flag == f.id) {
            assert_eq!(
                f.state,
                FlagState::Open,
                "flag {} no reviewer touched",
                f.id
            );
        }
    }

    let reference = reference_flags(port).await;
    assert_eq!(
        keys, reference,
        "the killed store's flags differ from a clean run's"
    );
    assert_eq!(reference.len(), PAGES + PAGES.div_ceil(3));

    let count = |o: fn(&Outcome) -> bool| reviews.iter().filter(|r| o(&r.outcome)).count();
    eprintln!(
        "kill loop: {kills} kills ({mid_crawl} mid-crawl), {} reviews ({} acknowledged, {} refused, {} cut off), {} flags, {:.1} s",
        reviews.len(),
        count(|o| *o == Outcome::Acknowledged),
        count(|o| matches!(o, Outcome::Refused(_))),
        count(|o| *o == Outcome::Unknown),
        flags.len(),
        started.elapsed().as_secs_f64()
    );
}
