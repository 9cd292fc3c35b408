//! bytes → decode → extract → normalize (+ offset map) → denoise (+ offset map).
//!
//! Input layout:
//!   byte 0, bits 0-1: content kind: 0 Html, 1 Plain, 2 Js, 3 none (sniffed by `prepare`);
//!                     with bit 7 set: 0 and 3 Template, 1 Component, 2 Jsx
//!   byte 0, bit  2  : pass a Content-Type header; bits 3-5 pick it from CONTENT_TYPES
//!   byte 0, bit  6  : pass a page URL; byte 1 bits 0-1 pick it from PAGE_URLS
//!   byte 1, bits 2-7: seed for the pseudo-random ranges checked on the offset maps
//!   the rest        : the document bytes
//!
//! Must hold for every input (a violation panics, which is what the fuzzer reports):
//! * `prepare` never panics;
//! * every zone's normalized text maps back into the zone text: for any char-boundary range
//!   of the normalized text, `source_range` is within bounds, ordered, and on char boundaries
//!   of the zone text;
//! * the same for the denoised view against the normalized text, and for the composition
//!   denoised → normalized → zone text;
//! * quotes are faithful: a non-empty range of the normalized text (up to 64 bytes) maps to a
//!   non-empty source range, and normalizing that source range again contains the range's
//!   text. `SITEPATROL_FUZZ_QUOTES=0` turns this check off, `=nomarks` skips quotes with a
//!   combining mark in or right after them (where the known quote bugs are; see README.md).
#![no_main]

use std::ops::Range;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sitepatrol_core::extract::ContentKind;
use sitepatrol_core::normalize::{Derived, denoise_into, normalize};
use unicode_normalization::char::canonical_combining_class;

const CONTENT_TYPES: [&str; 8] = [
    "text/html; charset=gbk",
    "text/html; charset=utf-8",
    "text/html",
    "text/plain; charset=big5",
    "application/javascript; charset=shift_jis",
    "text/html; charset=utf-16le",
    "text/html; charset=\"gb18030\"",
    "text/html; charset=no-such-charset",
];

const PAGE_URLS: [&str; 4] = [
    "https://example.test/a/b.html",
    "http://例子.测试/目录/页面.html?q=赌博#x",
    "https://xn--fiqs8s.example.cn:8443/",
    "file:///var/www/html/index.html",
];

/// Derived ranges checked for one map, at most this many boundaries exhaustively (all pairs).
const EXHAUSTIVE: usize = 48;
/// Longest normalized range (bytes) whose quote is normalized again (see `check_quotes`).
const QUOTE_CHECK_MAX: usize = 64;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let (b0, b1) = (data[0], data[1]);
    let bytes = &data[2..];
    let kind = match (b0 >> 7, b0 & 3) {
        (0, 0) => Some(ContentKind::Html),
        (0, 1) => Some(ContentKind::Plain),
        (0, 2) => Some(ContentKind::Js),
        (0, _) => None,
        (_, 1) => Some(ContentKind::Component),
        (_, 2) => Some(ContentKind::Jsx),
        (_, _) => Some(ContentKind::Template),
    };
    let content_type = (b0 & 4 != 0).then(|| CONTENT_TYPES[usize::from((b0 >> 3) & 7)]);
    let page_url = (b0 & 0x40 != 0)
        .then(|| url::Url::parse(PAGE_URLS[usize::from(b1 & 3)]).expect("fixed URL parses"));
    let seed = u64::from(b1 >> 2) ^ (bytes.len() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);

    let mut warnings = Vec::new();
    let (decoded, document) =
        sitepatrol_core::scan::prepare(bytes, kind, page_url.as_ref(), content_type, &mut warnings);
    let Some(document) = document else {
        // Only binary input is skipped, and it says so.
        assert!(decoded.is_none() && !warnings.is_empty());
        return;
    };

    let mut denoised = Derived::new();
    for zone in &document.zones {
        let source = zone.text.as_str();
        let normalized = normalize(source);
        check_map(&normalized, source, seed, "normalize");
        if quote_check() != QuoteCheck::Off {
            check_quotes(&normalized, source, seed);
        }

        denoise_into(&normalized.text, &mut denoised);
        check_map(&denoised, &normalized.text, seed ^ 0x5555, "denoise");
        // denoised → normalized → zone text, as findings in skip_noise rules are quoted.
        for range in ranges(&denoised.text, seed ^ 0xAAAA) {
            let in_norm = denoised.source_range(range.clone(), &normalized.text);
            let in_source = normalized.source_range(in_norm.clone(), source);
            assert_range(&in_source, source, || {
                format!("denoise∘normalize: {range:?} → {in_norm:?} → {in_source:?}")
            });
        }
    }
});

/// Every checked range of `derived.text` maps to a valid range of `source`.
fn check_map(derived: &Derived, source: &str, seed: u64, what: &str) {
    for range in ranges(&derived.text, seed) {
        let mapped = derived.source_range(range.clone(), source);
        assert_range(&mapped, source, || {
            format!(
                "{what}: derived {range:?} of {:?} → {mapped:?} of {:?}",
                derived.text, source
            )
        });
    }
}

/// How much of [`check_quotes`] runs, from `SITEPATROL_FUZZ_QUOTES`: `0` none, `nomarks` only
/// for quotes with no combining mark in them or right after them (the known quote bugs all
/// need one; see README.md), anything else or unset: all.
#[derive(Clone, Copy, PartialEq, Eq)]
enum QuoteCheck {
    Off,
    NoMarks,
    All,
}

fn quote_check() -> QuoteCheck {
    static MODE: OnceLock<QuoteCheck> = OnceLock::new();
    *MODE.get_or_init(
        || match std::env::var("SITEPATROL_FUZZ_QUOTES").as_deref() {
            Ok("0") => QuoteCheck::Off,
            Ok("nomarks") => QuoteCheck::NoMarks,
            _ => QuoteCheck::All,
        },
    )
}

/// Evidence is quoted from the source range behind a match: for a non-empty range of the
/// normalized text, that source range must be non-empty, and normalizing it again must give
/// back the matched text (as a substring: the range is widened to whole clusters).
fn check_quotes(normalized: &Derived, source: &str, seed: u64) {
    for range in ranges(&normalized.text, seed ^ 0x0F0F) {
        if range.is_empty() || range.len() > QUOTE_CHECK_MAX {
            continue;
        }
        let mapped = normalized.source_range(range.clone(), source);
        let matched = &normalized.text[range.clone()];
        assert!(
            !mapped.is_empty(),
            "empty quote: normalized {range:?} ({matched:?}) of {:?} → {mapped:?} of {source:?}",
            normalized.text
        );
        let quote = &source[mapped.clone()];
        // The quote and the character after it (a mark after the quote changes how its last
        // character normalizes).
        let mut with_next = source[mapped.start..]
            .chars()
            .take(quote.chars().count() + 1);
        if quote_check() == QuoteCheck::NoMarks
            && with_next.any(|c| canonical_combining_class(c) != 0)
        {
            continue;
        }
        let again = normalize(quote);
        assert!(
            again.text.contains(matched),
            "quote does not contain the match: normalized {range:?} ({matched:?}) of {:?} \
             → source {mapped:?} ({quote:?}), which normalizes to {:?}",
            normalized.text,
            again.text
        );
    }
}

fn assert_range(r: &Range<usize>, source: &str, context: impl Fn() -> String) {
    assert!(
        r.start <= r.end && r.end <= source.len(),
        "out of bounds (len {}): {}",
        source.len(),
        context()
    );
    assert!(
        source.is_char_boundary(r.start) && source.is_char_boundary(r.end),
        "not on char boundaries: {}",
        context()
    );
}

/// Char-boundary ranges of `text` to check: every pair when the text is short; otherwise
/// every single character, every prefix and suffix, the empty ranges, and some pseudo-random
/// pairs.
fn ranges(text: &str, seed: u64) -> Vec<Range<usize>> {
    let bounds: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
        .collect();
    let n = bounds.len();
    let mut out = Vec::new();
    if n <= EXHAUSTIVE {
        for (a, &s) in bounds.iter().enumerate() {
            for &e in &bounds[a..] {
                out.push(s..e);
            }
        }
        return out;
    }
    for w in bounds.windows(2) {
        out.push(w[0]..w[1]);
        out.push(w[0]..w[0]);
    }
    // Prefixes and suffixes, strided so that long zones stay cheap.
    let stride = (n / 256).max(1);
    for &b in bounds.iter().step_by(stride) {
        out.push(0..b);
        out.push(b..text.len());
    }
    let mut x = seed | 1;
    for _ in 0..256 {
        // xorshift64
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let a = (x % n as u64) as usize;
        let b = ((x >> 32) % n as u64) as usize;
        let (a, b) = if a <= b { (a, b) } else { (b, a) };
        out.push(bounds[a]..bounds[b]);
    }
    out
}
