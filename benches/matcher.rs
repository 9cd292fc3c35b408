//! Multi-pattern matching throughput on real Chinese text, against the peers named in the
//! scanning-core issue, all measured in the same run. Figures: benches/README.md.
//!
//! cargo bench --bench matcher

mod common;

use std::hint::black_box;
use std::time::Duration;

use aho_corasick::AhoCorasick;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use daachorse::{CharwiseDoubleArrayAhoCorasickBuilder, MatchKind};
use sitepatrol_core::matcher::{LiteralMatcher, Matcher, RegexMatcher};
use sitepatrol_core::normalize::normalize;

/// 7.5 MB, the size the peer figures were measured on.
const HAYSTACK_BYTES: usize = 7_500_000;

fn matching(c: &mut Criterion) {
    let Some(data) = common::shared_data() else {
        return;
    };
    let haystack = normalize(&common::extracted_text(&data, HAYSTACK_BYTES)).text;
    // The per-term loop scans the text once per term: it gets a slice, and criterion's
    // throughput figure divides by the bytes it really scanned.
    let slice_end = (0..=haystack.len() / 50)
        .rev()
        .find(|&i| haystack.is_char_boundary(i))
        .unwrap_or(0);
    let slice = &haystack[..slice_end];
    for size in [10_000usize, 100_000] {
        let terms = common::dictionary(&data, size, 0.2);
        let mut group = c.benchmark_group(format!("match_{}k", size / 1000));
        group.sample_size(10);
        group.measurement_time(Duration::from_secs(8));
        group.warm_up_time(Duration::from_secs(1));

        group.throughput(Throughput::Bytes(slice.len() as u64));
        group.bench_function("str_find_loop", |b| {
            b.iter(|| {
                let mut found = 0usize;
                for term in &terms {
                    found += slice.matches(term.as_str()).count();
                }
                black_box(found)
            })
        });

        group.throughput(Throughput::Bytes(haystack.len() as u64));
        let ac = AhoCorasick::new(&terms).expect("aho-corasick builds");
        group.bench_function("aho_corasick_default", |b| {
            b.iter(|| black_box(ac.find_iter(&haystack).count()))
        });
        // The same work sitepatrol does: every occurrence, overlapping ones included.
        group.bench_function("aho_corasick_default_overlapping", |b| {
            b.iter(|| black_box(ac.find_overlapping_iter(&haystack).count()))
        });

        let daac: daachorse::CharwiseDoubleArrayAhoCorasick<u32> =
            CharwiseDoubleArrayAhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&terms)
                .expect("daachorse builds");
        group.bench_function("daachorse_charwise_leftmost_longest", |b| {
            b.iter(|| black_box(daac.leftmost_find_iter(&haystack).count()))
        });
        let daac_standard: daachorse::CharwiseDoubleArrayAhoCorasick<u32> =
            CharwiseDoubleArrayAhoCorasickBuilder::new()
                .build(&terms)
                .expect("daachorse builds");
        group.bench_function("daachorse_charwise_overlapping", |b| {
            b.iter(|| black_box(daac_standard.find_overlapping_iter(&haystack).count()))
        });
        eprintln!(
            "{size} terms: {} overlapping matches, {} leftmost-longest, {} standard non-overlapping in {} bytes",
            daac_standard.find_overlapping_iter(&haystack).count(),
            daac.leftmost_find_iter(&haystack).count(),
            ac.find_iter(&haystack).count(),
            haystack.len()
        );

        let ours = LiteralMatcher::new(&terms).expect("the matcher builds");
        eprintln!(
            "{size} terms: sitepatrol matcher automaton {:.1} MiB, aho-corasick {:.1} MiB, daachorse (leftmost-longest) {:.1} MiB",
            ours.heap_bytes() as f64 / (1 << 20) as f64,
            ac.memory_usage() as f64 / (1 << 20) as f64,
            daac.heap_bytes() as f64 / (1 << 20) as f64,
        );
        group.bench_function("sitepatrol_overlapping", |b| {
            b.iter(|| {
                let mut found = 0usize;
                ours.find_overlapping(&haystack, &mut |_, _, _| found += 1);
                black_box(found)
            })
        });
        group.finish();

        let mut build = c.benchmark_group(format!("build_{}k", size / 1000));
        build.sample_size(10);
        build.bench_function("sitepatrol_matcher", |b| {
            b.iter(|| black_box(LiteralMatcher::new(&terms).expect("builds").pattern_count()))
        });
        build.finish();
    }

    let regexes = common::regexes(&data);
    let regex = RegexMatcher::new(&regexes).expect("the regexes compile");
    let mut group = c.benchmark_group("regex_100");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Bytes(haystack.len() as u64));
    group.bench_function("sitepatrol_regexset", |b| {
        b.iter(|| {
            let mut found = 0usize;
            regex.find_overlapping(&haystack, &mut |_, _, _| found += 1);
            black_box(found)
        })
    });
    group.finish();
}

criterion_group!(benches, matching);
criterion_main!(benches);
