//! Arbitrary (lossily UTF-8) sitemap XML → `crawl::sitemap::parse`.
//!
//! Input: byte 0, when its top bit is set, is a repeat count `k`: the rest is repeated
//! `2^(k % 16)` times (at most `MAX_INPUT` bytes in all), so that short inputs reach
//! `MAX_ENTRIES` entries.
//!
//! Must hold for every input:
//! * `parse` never panics and is deterministic;
//! * it returns at most `MAX_ENTRIES` entries (pages and sitemaps together);
//! * a document of repetitions of a unit yields at least as many entries as the unit alone
//!   (up to `MAX_ENTRIES`): an entry is taken at its `</loc>`, from what came before it;
//! * every entry is non-empty and trimmed;
//! * a text without `loc` yields nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sitepatrol_crawl::crawl::sitemap::{MAX_ENTRIES, parse};

/// Largest document built from one input (the daemon reads sitemaps of up to its body cap).
const MAX_INPUT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&b0, rest)) = data.split_first() else {
        return;
    };
    let unit = String::from_utf8_lossy(rest);
    let one = parse(&unit);
    check(&unit, &one);
    assert_eq!(one, parse(&unit), "not deterministic");

    let repeats = if b0 & 0x80 != 0 {
        1usize << (b0 % 16)
    } else {
        1
    };
    if repeats > 1 && !unit.is_empty() {
        let repeats = repeats.min(MAX_INPUT / unit.len()).max(1);
        let doc = unit.repeat(repeats);
        let map = parse(&doc);
        check(&doc, &map);
        let n = map.pages.len() + map.sitemaps.len();
        let m = one.pages.len() + one.sitemaps.len();
        assert!(
            n >= m.min(MAX_ENTRIES),
            "{repeats} repetitions yield {n} entries, one yields {m}"
        );
    }
});

fn check(xml: &str, map: &sitepatrol_crawl::crawl::sitemap::Sitemap) {
    let n = map.pages.len() + map.sitemaps.len();
    assert!(n <= MAX_ENTRIES, "{n} entries, more than {MAX_ENTRIES}");
    for entry in map.pages.iter().chain(&map.sitemaps) {
        assert!(!entry.is_empty(), "empty entry");
        assert_eq!(entry.trim(), entry, "untrimmed entry");
    }
    if !xml.contains("loc") {
        assert_eq!(n, 0, "entries without a <loc>");
    }
}
