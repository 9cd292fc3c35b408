//! Arbitrary robots.txt bytes → `fetch::robots::Robots::parse`, then `allowed` for fixed URLs
//! and for every path-like value the file itself names, `crawl_delay`, `sitemaps` and
//! `blocks_everything`.
//!
//! Must hold for every input:
//! * nothing panics, and one input (parse and all queries) takes at most `MAX_TIME`
//!   (run with `-max_len` ≤ 64 KiB; the daemon reads up to `MAX_ROBOTS_BYTES`);
//! * `/robots.txt` itself is always allowed; a file the parser rejects allows everything;
//! * answers are deterministic (a second parse answers the same);
//! * `blocks_everything(origin)` is exactly `!allowed(origin/)`;
//! * a crawl delay is positive and at most a day;
//! * the HTTP status rules of RFC 9309: 4xx allows everything, 5xx allows nothing.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use sitepatrol_crawl::fetch::robots::{MAX_ROBOTS_BYTES, Robots};
use url::Url;

/// Longest time one input may take (libFuzzer's `-timeout` is the backstop for hangs).
const MAX_TIME: Duration = Duration::from_secs(2);

/// At most this many path-like values of the file are queried.
const MAX_DERIVED: usize = 64;

const FIXED: [&str; 10] = [
    "https://a.test/",
    "https://a.test/robots.txt",
    "https://a.test/admin/x",
    "https://a.test/private/",
    "https://a.test/page.html?x=1&y=2",
    "https://a.test/%E6%96%B0%E9%97%BB/列表.php",
    "https://a.test/a*b$/c",
    "https://a.test/;jsessionid=1",
    "http://a.test:8080/index.php",
    "https://a.test/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y/z",
];

fuzz_target!(|data: &[u8]| {
    let started = Instant::now();
    let robots = Robots::parse(data);
    let base = Url::parse("https://a.test/").expect("fixed URL parses");

    let mut urls: Vec<Url> = FIXED
        .iter()
        .map(|u| Url::parse(u).expect("fixed URL parses"))
        .collect();
    let text = String::from_utf8_lossy(&data[..data.len().min(MAX_ROBOTS_BYTES)]);
    for line in text.lines() {
        if urls.len() >= FIXED.len() + MAX_DERIVED {
            break;
        }
        if let Some((_, value)) = line.split_once(':') {
            let value = value.trim();
            if value.starts_with('/') || value.starts_with('*') {
                if let Ok(url) = base.join(value) {
                    urls.push(url);
                }
            }
        }
    }

    let answers: Vec<bool> = urls.iter().map(|u| robots.allowed(u)).collect();
    assert!(answers[1], "/robots.txt disallowed");
    if matches!(robots, Robots::AllowAll) {
        assert!(answers.iter().all(|a| *a));
    }
    assert_eq!(robots.blocks_everything(&base), !answers[0]);
    assert_eq!(
        robots.blocks_everything(&urls[2]),
        !answers[0],
        "blocks_everything looks at the home page"
    );
    if let Some(delay) = robots.crawl_delay() {
        assert!(delay > Duration::ZERO && delay <= Duration::from_secs(86_400));
    }
    let _ = robots.sitemaps();

    let second = Robots::parse(data);
    let again: Vec<bool> = urls.iter().map(|u| second.allowed(u)).collect();
    assert_eq!(answers, again, "not deterministic");
    assert_eq!(robots.sitemaps(), second.sitemaps());

    let first = &urls[0];
    assert!(Robots::from_status(404, data).allowed(first));
    assert!(!Robots::from_status(503, data).allowed(first));

    let elapsed = started.elapsed();
    assert!(
        elapsed <= MAX_TIME,
        "{} bytes took {elapsed:?} (limit {MAX_TIME:?})",
        data.len()
    );
});
