//! Arbitrary (lossily UTF-8) link text, resolved against a page URL as the crawler does
//! (`base.join(href)`), → `crawl::canonical::canonicalize`.
//!
//! Input: byte 0 picks the base URL from `BASES`, the rest is the link text.
//!
//! Must hold for every input:
//! * `canonicalize` never panics, and gives `Some` exactly for http(s) URLs with a host;
//! * it is idempotent: canonicalizing the canonical URL gives the same URL, and so does
//!   canonicalizing it after a round trip through its string form (the frontier and the
//!   store keep URLs as strings);
//! * the canonical URL has no fragment, keeps scheme, host and port, and its query is
//!   absent or non-empty, with `&`-separated pairs sorted, without duplicates or empty
//!   pairs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sitepatrol_crawl::crawl::canonical::canonicalize;
use url::Url;

const BASES: [&str; 8] = [
    "https://example.test/a/b.html",
    "http://例子.测试/目录/页面.html?q=赌博&utm_source=x#frag",
    "https://xn--fiqs8s.example.cn:8443/dir/;jsessionid=ABC/page?b=2&a=1",
    "http://192.168.0.1/x/y/z",
    "http://[::1]:8080/",
    "https://user:pass@example.test/a;b=c/d?",
    "file:///var/www/html/index.html",
    "mailto:someone@example.test",
];

fuzz_target!(|data: &[u8]| {
    let Some((&b0, rest)) = data.split_first() else {
        return;
    };
    let base = Url::parse(BASES[usize::from(b0) % BASES.len()]).expect("fixed base URL parses");
    let href = String::from_utf8_lossy(rest);
    let Ok(url) = base.join(&href) else {
        return;
    };
    let Some(canonical) = canonicalize(&url) else {
        assert!(
            !matches!(url.scheme(), "http" | "https") || url.host_str().is_none(),
            "no canonical form for {url}"
        );
        return;
    };
    assert!(matches!(url.scheme(), "http" | "https") && url.host_str().is_some());

    let twice = canonicalize(&canonical)
        .unwrap_or_else(|| panic!("the canonical {canonical} of {url} has no canonical form"));
    assert_eq!(
        twice.as_str(),
        canonical.as_str(),
        "not idempotent: {url} → {canonical} → {twice}"
    );
    let reparsed = Url::parse(canonical.as_str())
        .unwrap_or_else(|e| panic!("the canonical {canonical} of {url} does not parse: {e}"));
    let again = canonicalize(&reparsed)
        .unwrap_or_else(|| panic!("the reparsed canonical {reparsed} has no canonical form"));
    assert_eq!(
        again.as_str(),
        canonical.as_str(),
        "not idempotent through its string form: {url} → {canonical} → parse → {again}"
    );

    assert_eq!(canonical.fragment(), None, "{canonical}");
    assert_eq!(canonical.scheme(), url.scheme());
    assert_eq!(canonical.host_str(), url.host_str());
    assert_eq!(
        canonical.port_or_known_default(),
        url.port_or_known_default()
    );
    if let Some(query) = canonical.query() {
        assert!(!query.is_empty(), "empty query kept: {canonical}");
        let pairs: Vec<&str> = query.split('&').collect();
        assert!(
            pairs.iter().all(|p| !p.is_empty()),
            "empty pair: {canonical}"
        );
        assert!(
            pairs.windows(2).all(|w| w[0] < w[1]),
            "pairs not sorted or duplicated: {canonical}"
        );
    }
});
