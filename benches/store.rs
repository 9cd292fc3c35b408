//! Ingest throughput of the SQLite store: one crawl of 1,000 pages with 5 findings each
//! (5,000 flags, 1,000 distinct 8 KiB bodies compressed and stored), recorded in one
//! transaction by `record_crawl`, against a baseline measured in the same run: the same 5,000
//! flags recorded one transaction per flag. On-disk store in a temporary directory, WAL and
//! synchronous=NORMAL as the daemon runs it.
//!
//! With `SITEPATROL_TEST_PG` set, the same crawls are recorded in the PostgreSQL store too
//! (`store_ingest_1000x5_postgres`, a fresh schema per iteration), in the same run.
//!
//! cargo bench --bench store

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use sitepatrol_core::extract::ZoneKind;
use sitepatrol_core::finding::{Finding, Severity};
use sitepatrol_store::{
    CrawlRun, IngestPage, PageScan, PgStore, SiteInfo, SqliteStore, Store, StoreConfig,
};

const PAGES: usize = 1_000;
const FINDINGS_PER_PAGE: usize = 5;
const FLAGS: u64 = (PAGES * FINDINGS_PER_PAGE) as u64;

fn finding(url: &str, j: usize) -> Finding {
    let term = ["在线赌博", "真人娱乐", "AV在线", "代开发票", "六合彩"][j % 5];
    Finding {
        record_type: Finding::RECORD_TYPE,
        rule: Arc::from(format!("bench.rule_{j}")),
        // One category per finding: 5 findings a page stay 5 flags (one per page and category).
        category: Arc::from(["gambling", "pornography", "fraud", "drugs", "weapons"][j % 5]),
        clause: Arc::from("§2 (9)"),
        severity: [Severity::Medium, Severity::High, Severity::Critical][j % 3],
        description: Arc::from("基准测试规则"),
        target: Arc::from(url),
        zone: Some(ZoneKind::Text),
        matched: term.to_string(),
        normalized: term.to_lowercase(),
        snippet: format!("欢迎光临本站，{term}，注册即送彩金"),
        offset: 120,
        count: 1,
        score: None,
        signals: Vec::new(),
        signals_omitted: 0,
    }
}

fn body(i: usize) -> Vec<u8> {
    let mut html = format!("<html><head><title>页面 {i}</title></head><body>");
    while html.len() < 8 * 1024 {
        html.push_str(&format!(
            "<p>第{i}页的正文段落，在线赌博与真人娱乐广告，联系QQ {}</p>",
            html.len() * 7 + i
        ));
    }
    html.push_str("</body></html>");
    html.into_bytes()
}

fn crawl() -> Vec<IngestPage> {
    (0..PAGES)
        .map(|i| {
            let url = format!("http://bench.example.cn/page/{i}.html");
            let findings = (0..FINDINGS_PER_PAGE).map(|j| finding(&url, j)).collect();
            let mut p = IngestPage::matched(&url, 200, 1_000, &body(i), findings);
            p.ip = Some("203.0.113.7".into());
            p
        })
        .collect()
}

fn run(key: &str) -> CrawlRun {
    CrawlRun {
        key: key.into(),
        site: "bench".into(),
        started_at: 1_000,
        finished_at: 1_100,
        outcome: sitepatrol_store::CrawlOutcome::Completed,
        rules_version: "bench".into(),
        stats: serde_json::json!({"pages_fetched": PAGES}),
        release: None,
    }
}

/// The tests' schema per store; the bench uses only a part of it.
#[allow(dead_code)]
#[path = "../tests/it/common/pg.rs"]
mod pg;

fn fresh_store() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = SqliteStore::open(dir.path().join("store.db"), StoreConfig::default())
        .expect("store opens");
    with_site(&store);
    (store, dir)
}

/// A PostgreSQL store in a schema of its own (dropped with the guard), or `None` without
/// `SITEPATROL_TEST_PG`.
fn fresh_pg_store() -> Option<(PgStore, pg::Schema)> {
    let schema = pg::Schema::new()?;
    let store = PgStore::open(&schema.url, 2, StoreConfig::default()).expect("store opens");
    with_site(&store);
    Some((store, schema))
}

fn with_site(store: &dyn Store) {
    store
        .upsert_sites(
            &[SiteInfo {
                id: "bench".into(),
                customer: "c".into(),
                domains: vec!["bench.example.cn".into()],
                origin: None,
                contact: Default::default(),
            }],
            0,
        )
        .expect("site");
}

fn ingest(c: &mut Criterion) {
    let pages = crawl();
    // The baseline's unit: one page holding one finding, so that each flag is its own
    // transaction (its own URL, so that no call resolves another's flag).
    let singles: Vec<IngestPage> = pages
        .iter()
        .flat_map(|p| {
            let PageScan::Matched(findings) = &p.scan else {
                return Vec::new();
            };
            findings
                .iter()
                .enumerate()
                .map(|(j, f)| {
                    let mut one = p.clone();
                    one.url = format!("{}#{j}", p.url);
                    one.scan = PageScan::Matched(vec![f.clone()]);
                    one
                })
                .collect()
        })
        .collect();
    let unchanged: Vec<IngestPage> = pages
        .iter()
        .map(|p| IngestPage {
            scan: PageScan::Unchanged,
            body: None,
            screenshot: None,
            ..p.clone()
        })
        .collect();

    let mut group = c.benchmark_group("store_ingest_1000x5");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(FLAGS));

    group.bench_function("record_crawl_new_flags", |b| {
        b.iter_batched(
            fresh_store,
            |(store, dir)| {
                let out = store.record_crawl(&run("r1"), &pages).expect("ingest");
                assert_eq!(out.new.len() as u64, FLAGS);
                (store, dir)
            },
            BatchSize::PerIteration,
        )
    });

    group.bench_function("record_crawl_recrawl_known_flags", |b| {
        b.iter_batched(
            || {
                let (store, dir) = fresh_store();
                store
                    .record_crawl(&run("r1"), &pages)
                    .expect("first ingest");
                (store, dir)
            },
            |(store, dir)| {
                let out = store.record_crawl(&run("r2"), &pages).expect("ingest");
                assert_eq!(out.unchanged, FLAGS);
                (store, dir)
            },
            BatchSize::PerIteration,
        )
    });

    group.bench_function("record_crawl_unchanged_pages", |b| {
        b.iter_batched(
            || {
                let (store, dir) = fresh_store();
                store
                    .record_crawl(&run("r1"), &pages)
                    .expect("first ingest");
                (store, dir)
            },
            |(store, dir)| {
                let out = store.record_crawl(&run("r2"), &unchanged).expect("ingest");
                assert_eq!(out.carried_over, FLAGS);
                (store, dir)
            },
            BatchSize::PerIteration,
        )
    });

    group.bench_function("baseline_one_transaction_per_flag", |b| {
        b.iter_batched(
            fresh_store,
            |(store, dir)| {
                for (k, one) in singles.iter().enumerate() {
                    let out = store
                        .record_crawl(&run(&format!("single-{k}")), std::slice::from_ref(one))
                        .expect("ingest");
                    black_box(out);
                }
                (store, dir)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();

    if fresh_pg_store().is_none() {
        return;
    }
    let fresh = || fresh_pg_store().expect("SITEPATROL_TEST_PG was set a moment ago");
    let mut group = c.benchmark_group("store_ingest_1000x5_postgres");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(FLAGS));
    group.bench_function("record_crawl_new_flags", |b| {
        b.iter_batched(
            fresh,
            |(store, schema)| {
                let out = store.record_crawl(&run("r1"), &pages).expect("ingest");
                assert_eq!(out.new.len() as u64, FLAGS);
                (store, schema)
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("record_crawl_recrawl_known_flags", |b| {
        b.iter_batched(
            || {
                let (store, schema) = fresh();
                store
                    .record_crawl(&run("r1"), &pages)
                    .expect("first ingest");
                (store, schema)
            },
            |(store, schema)| {
                let out = store.record_crawl(&run("r2"), &pages).expect("ingest");
                assert_eq!(out.unchanged, FLAGS);
                (store, schema)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
