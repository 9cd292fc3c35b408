//! Claim latency with 100k sites in the schedule: `Store::claim_due_sites` taking 4 sites (a
//! daemon's free crawl slots) from 100,000 sites on 50,000 hosts, half of them due, while 1,000
//! sites are leased to three other daemons (their crawls in progress, which the claim must
//! step around, host by host). Each iteration claims, and then (untimed) releases what it
//! claimed, so every claim meets the same schedule. Then the same claim when nothing is due:
//! the transaction's own cost. SQLite on disk (WAL, as the daemon runs it) and, with
//! `SITEPATROL_TEST_PG` set, PostgreSQL (a fresh schema) in the same run.
//!
//! cargo bench --bench claims

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use sitepatrol_store::{PgStore, SiteInfo, SqliteStore, Store, StoreConfig};

const SITES: usize = 100_000;
const HOSTS: usize = 50_000;
const LEASED: usize = 1_000;
const CLAIM: usize = 4;
const NOW: i64 = 1_000_000;

/// The tests' schema per store.
#[allow(dead_code)]
#[path = "../tests/it/common/pg.rs"]
mod pg;

/// 100k sites, next due times spread evenly over `NOW ± 50,000 s` (half due), 1,000 of them
/// leased to other owners.
fn fill(store: &dyn Store) {
    let started = Instant::now();
    let infos: Vec<SiteInfo> = (0..SITES)
        .map(|i| SiteInfo {
            id: format!("site{i:06}"),
            customer: format!("c{}", i % 1000),
            domains: vec![format!("h{}.example.cn", i % HOSTS)],
            origin: None,
            contact: Default::default(),
        })
        .collect();
    for chunk in infos.chunks(10_000) {
        store.upsert_sites(chunk, 1).expect("sites");
    }
    // A shuffled spread: site order and due order differ, as they do after a while.
    let due: Vec<(String, i64)> = (0..SITES)
        .map(|i| {
            let spread = (i * 7_919 % SITES) as i64;
            (format!("site{i:06}"), NOW - 50_000 + spread)
        })
        .collect();
    for chunk in due.chunks(10_000) {
        store.set_next_due_many(chunk).expect("due times");
    }
    // Other daemons' crawls: the most overdue sites, as they would have claimed them.
    for owner in ["other-1", "other-2", "other-3"] {
        store
            .claim_due_sites(owner, NOW, LEASED / 3, NOW + 3_600)
            .expect("other claims");
    }
    eprintln!(
        "claims: {SITES} sites filled in {:.1} s, {} leased to others",
        started.elapsed().as_secs_f64(),
        store.leases(NOW).expect("leases").len()
    );
}

fn bench_store(c: &mut Criterion, name: &str, store: &dyn Store) {
    fill(store);
    c.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let started = Instant::now();
                let claimed = store
                    .claim_due_sites("bench", NOW, CLAIM, NOW + 300)
                    .expect("claim");
                spent += started.elapsed();
                assert_eq!(claimed.len(), CLAIM);
                black_box(&claimed);
                store.release_leases("bench", &claimed).expect("release");
            }
            spent
        })
    });
    // The same transaction when nothing is due: what the claim costs besides finding sites
    // (BEGIN, the claim lock on PostgreSQL, the statement, COMMIT).
    c.bench_function(&format!("{name}_nothing_due"), |b| {
        b.iter(|| {
            let claimed = store
                .claim_due_sites("bench", 0, CLAIM, 300)
                .expect("claim");
            assert!(claimed.is_empty());
            black_box(claimed)
        })
    });
}

fn claims(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let sqlite =
        SqliteStore::open(dir.path().join("store.db"), StoreConfig::default()).expect("store");
    bench_store(c, "claim_4_of_100k_sqlite", &sqlite);
    match pg::Schema::new() {
        Some(schema) => {
            let store = PgStore::open(&schema.url, 2, StoreConfig::default()).expect("store");
            bench_store(c, "claim_4_of_100k_postgres", &store);
            drop(store);
            drop(schema);
        }
        None => eprintln!("claims: SITEPATROL_TEST_PG is not set, PostgreSQL not measured"),
    }
}

criterion_group!(benches, claims);
criterion_main!(benches);
