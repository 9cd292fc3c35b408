//! The daemon's inventory at 100k sites against a baseline measured in the same run (figures:
//! benches/README.md): loading a 100k-site CSV inventory with every check, against a plain
//! serde + csv loop that reads the same file into bare structs and checks nothing. (Picking
//! the next site is the store's claim since the leases: `benches/claims.rs`.)
//!
//! cargo bench --bench inventory

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use sitepatrol::config::InventoryFormat;
use sitepatrol::inventory::Inventory;

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

    let mut group = c.benchmark_group("inventory_100k");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("plain_serde_csv", |b| b.iter(|| baseline_load(&path)));
    group.bench_function("sitepatrol_inventory", |b| {
        b.iter(|| sitepatrol_load(&path))
    });
    group.finish();
}

criterion_group!(inventory, benches);
criterion_main!(inventory);
