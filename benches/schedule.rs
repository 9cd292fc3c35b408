//! The daemon's inventory and schedule at 100k sites, each against a baseline measured in the
//! same run (figures: benches/README.md):
//!
//! - loading a 100k-site CSV inventory with every check, against a plain serde + csv loop that
//!   reads the same file into bare structs and checks nothing;
//! - the scheduler's cost per pick (most overdue site out, rescheduled an interval later),
//!   against the naive way: a linear scan of a Vec for the smallest due time.
//!
//! cargo bench --bench schedule

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use sitepatrol::config::InventoryFormat;
use sitepatrol::inventory::Inventory;
use sitepatrol::schedule::Scheduler;

const SITES: usize = 100_000;

fn write_inventory(path: &Path) {
    let mut text = String::from("id,customer,domains,origin,interval,agents\n");
    for i in 0..SITES {
        let agents = if i % 10 == 0 { "both" } else { "" };
        let origin = if i % 3 == 0 {
            format!("203.0.{}.{}", (i / 250) % 250, i % 250)
        } else {
            String::new()
        };
        text.push_str(&format!(
            "site-{i},customer-{},www.shop{i}.example.cn;shop{i}.example.cn,{origin},6h,{agents}\n",
            i / 7
        ));
    }
    std::fs::write(path, text).expect("write the inventory");
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Bare {
    id: String,
    customer: String,
    domains: String,
    origin: String,
    interval: String,
    agents: String,
}

fn baseline_load(path: &Path) -> usize {
    let mut reader = csv::Reader::from_path(path).expect("open");
    reader
        .deserialize::<Bare>()
        .filter_map(Result::ok)
        .map(|b| black_box(b).id.len())
        .sum()
}

fn sitepatrol_load(path: &Path) -> usize {
    Inventory::load(&[], Some((path, InventoryFormat::Csv)))
        .expect("the generated inventory is valid")
        .sites
        .len()
}

/// The naive scheduler: a Vec of due times, scanned for the smallest on every pick.
struct Naive {
    due: Vec<(u64, Arc<str>)>,
}

impl Naive {
    fn pick_and_reschedule(&mut self, now: u64, interval: u64) -> Arc<str> {
        let (i, _) = self
            .due
            .iter()
            .enumerate()
            .min_by_key(|(_, (due, _))| *due)
            .expect("not empty");
        self.due[i].0 = now + interval;
        self.due[i].1.clone()
    }
}

fn scheduler(ids: &[Arc<str>]) -> Scheduler {
    let mut s = Scheduler::with_seed(0.1, 1);
    let sites = ids
        .iter()
        .map(|id| (id.clone(), Duration::from_secs(6 * 3600)));
    // Spread over the past hour, as after a restart with persisted times.
    s.sync(
        sites,
        &|id: &str| id[5..].parse::<u64>().ok().map(|n| n % 3_600_000),
        3_600_000,
    );
    s
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn time<F: FnMut()>(times: usize, mut f: F) -> Duration {
    median(
        (0..times)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sites.csv");
    write_inventory(&path);

    // Ratios from one interleaved run, so drift of this shared machine hits both sides alike.
    let base = time(5, || {
        black_box(baseline_load(&path));
    });
    let ours = time(5, || {
        black_box(sitepatrol_load(&path));
    });
    println!(
        "inventory_100k: sitepatrol {:.0} ms, plain serde+csv {:.0} ms, ratio {:.2}",
        ours.as_secs_f64() * 1e3,
        base.as_secs_f64() * 1e3,
        ours.as_secs_f64() / base.as_secs_f64()
    );

    let ids: Vec<Arc<str>> = (0..SITES).map(|i| Arc::from(format!("site-{i}"))).collect();
    const PICKS: u64 = 20_000;
    let heap_time = time(5, || {
        let mut s = scheduler(&ids);
        let mut now = 3_600_000;
        let t = Instant::now();
        for _ in 0..PICKS {
            now += 1;
            let id = s.pop_due(now).expect("a site is due");
            black_box(s.finish(&id, now));
        }
        black_box(t.elapsed());
    });
    let build = time(5, || {
        black_box(scheduler(&ids));
    });
    let heap_per_pick = heap_time.saturating_sub(build).as_secs_f64() / PICKS as f64;
    let naive_picks = 200u64;
    let mut naive = Naive {
        due: ids.iter().map(|id| (0, id.clone())).collect(),
    };
    let naive_time = time(5, || {
        for n in 0..naive_picks {
            black_box(naive.pick_and_reschedule(n, 21_600_000));
        }
    });
    let naive_per_pick = naive_time.as_secs_f64() / naive_picks as f64;
    println!(
        "schedule_pick_100k: heap {:.0} ns/pick, naive Vec scan {:.0} ns/pick, ratio {:.4}",
        heap_per_pick * 1e9,
        naive_per_pick * 1e9,
        heap_per_pick / naive_per_pick
    );

    let mut group = c.benchmark_group("inventory_100k");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("plain_serde_csv", |b| b.iter(|| baseline_load(&path)));
    group.bench_function("sitepatrol_inventory", |b| {
        b.iter(|| sitepatrol_load(&path))
    });
    group.finish();

    let mut group = c.benchmark_group("schedule_pick_100k");
    let mut s = scheduler(&ids);
    let mut now = 3_600_000u64;
    group.bench_function("heap_pick_and_reschedule", |b| {
        b.iter(|| {
            now += 1;
            // Past the persisted spread, every site is due, so a pick never comes back empty.
            let id = s.pop_due(now + 21_600_000 * 2).expect("due");
            s.finish(&id, now)
        })
    });
    let mut clock = 0u64;
    group.bench_function("naive_vec_scan", |b| {
        b.iter(|| {
            clock += 1;
            naive.pick_and_reschedule(clock, 21_600_000)
        })
    });
    group.finish();
}

criterion_group!(schedule, benches);
criterion_main!(schedule);
