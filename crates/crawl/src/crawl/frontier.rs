//! The frontier of one site's crawl: what is in scope, what was seen, what is queued, and the
//! defences against URL spaces that never end (`/a/a/a/...`, `?page=N` forever, calendars).
//!
//! Memory is bounded: the seen set stops growing at a cap (new URLs are then dropped and
//! counted), and the per-path variant counter is bounded the same way.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};

use serde::{Deserialize, Serialize};
use url::Url;

use super::canonical::canonicalize;
use sitepatrol_core::domain::registrable_domain;

/// Which hosts belong to the site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// The start URL's host only.
    Host,
    /// Every host under the start URL's registrable domain (Public Suffix List).
    Domain,
    /// These hosts (and the start URL's).
    Hosts(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct TrapLimits {
    pub max_path_len: usize,
    pub max_query_len: usize,
    /// A path segment may occur this many times; more is a loop (`/a/b/a/b/a/b`).
    pub max_segment_repeats: usize,
    /// Distinct query strings crawled per path (`?page=1`, `?page=2`, ...).
    pub max_query_variants: usize,
    /// Years outside this range in a path or query look like an endless calendar.
    pub year_range: (u32, u32),
}

impl Default for TrapLimits {
    fn default() -> TrapLimits {
        TrapLimits {
            max_path_len: 1024,
            max_query_len: 512,
            max_segment_repeats: 3,
            max_query_variants: 100,
            year_range: (1990, sitepatrol_core::clock::current_year() + 2),
        }
    }
}

/// Why a URL was not fetched: refused by the frontier, by robots.txt, or left when a budget
/// ended the crawl. The names are the keys of a crawl's `skipped` counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkipReason {
    OutOfScope,
    Seen,
    TooDeep,
    RepeatedSegments,
    PathTooLong,
    QueryTooLong,
    TooManyQueryVariants,
    Calendar,
    FrontierFull,
    Robots,
    MaxPages,
    MaxBytes,
    WallTime,
}

/// Serialized by [`SkipReason::as_str`], the name the stats and logs use.
impl Serialize for SkipReason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::OutOfScope => "out_of_scope",
            SkipReason::Seen => "seen",
            SkipReason::TooDeep => "too_deep",
            SkipReason::RepeatedSegments => "trap_repeated_segments",
            SkipReason::PathTooLong => "trap_path_too_long",
            SkipReason::QueryTooLong => "trap_query_too_long",
            SkipReason::TooManyQueryVariants => "trap_query_variants",
            SkipReason::Calendar => "trap_calendar",
            SkipReason::FrontierFull => "frontier_full",
            SkipReason::Robots => "robots",
            SkipReason::MaxPages => "max_pages",
            SkipReason::MaxBytes => "max_bytes",
            SkipReason::WallTime => "wall_time",
        }
    }

    /// Reasons worth counting in statistics (seen and out-of-scope links are normal).
    pub fn is_notable(self) -> bool {
        !matches!(self, SkipReason::Seen | SkipReason::OutOfScope)
    }

    /// Whether a budget of the crawl (pages, bytes, wall time) left the URL unfetched.
    pub fn is_budget(self) -> bool {
        matches!(
            self,
            SkipReason::MaxPages | SkipReason::MaxBytes | SkipReason::WallTime
        )
    }
}

/// A URL waiting to be fetched.
#[derive(Debug, Clone)]
pub struct Queued {
    pub url: Url,
    pub depth: u32,
    /// Retries after 429/503 so far.
    pub attempt: u32,
}

/// The scope test on its own, cheap to clone into page tasks.
#[derive(Debug, Clone)]
pub struct ScopeCheck {
    scope: Scope,
    start_host: String,
    start_domain: Option<String>,
}

impl ScopeCheck {
    pub fn new(start: &Url, scope: Scope) -> ScopeCheck {
        let start_host = start.host_str().unwrap_or_default().to_ascii_lowercase();
        ScopeCheck {
            start_domain: registrable_domain(&start_host),
            start_host,
            scope,
        }
    }

    pub fn in_scope(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        let host = host.to_ascii_lowercase();
        if host == self.start_host {
            return true;
        }
        match &self.scope {
            Scope::Host => false,
            Scope::Domain => {
                self.start_domain.is_some() && registrable_domain(&host) == self.start_domain
            }
            Scope::Hosts(hosts) => hosts.iter().any(|h| h.eq_ignore_ascii_case(&host)),
        }
    }
}

/// A queued URL in compact form: its canonical text, parsed again when it is popped.
struct Pending {
    url: Box<str>,
    depth: u32,
    attempt: u32,
}

pub struct Frontier {
    scope: ScopeCheck,
    max_depth: u32,
    limits: TrapLimits,
    queue: VecDeque<Pending>,
    /// 64-bit fingerprints of canonical URLs: 8 bytes a URL keeps memory flat as sites grow,
    /// and a collision (odds of about 1 in 10^8 at a million URLs) only skips one page.
    seen: HashSet<u64>,
    max_seen: usize,
    variants: HashMap<u64, usize>,
}

fn fingerprint(text: &str) -> u64 {
    // DefaultHasher::new() has fixed keys: fingerprints are stable within a process.
    let mut hasher = DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

impl Frontier {
    pub fn new(
        start: &Url,
        scope: Scope,
        max_depth: u32,
        limits: TrapLimits,
        max_seen: usize,
    ) -> Frontier {
        Frontier {
            scope: ScopeCheck::new(start, scope),
            max_depth,
            limits,
            queue: VecDeque::new(),
            seen: HashSet::new(),
            max_seen: max_seen.max(1),
            variants: HashMap::new(),
        }
    }

    pub fn in_scope(&self, url: &Url) -> bool {
        self.scope.in_scope(url)
    }

    pub fn scope(&self) -> &ScopeCheck {
        &self.scope
    }

    /// Record `url` as seen without queueing it: the page a redirect landed on was fetched.
    pub fn mark_seen(&mut self, url: &Url) {
        if let Some(url) = canonicalize(url)
            && self.seen.len() < self.max_seen
        {
            self.seen.insert(fingerprint(url.as_str()));
        }
    }

    /// Queue `url` at `depth` if it passes every check; otherwise say why not.
    pub fn offer(&mut self, url: &Url, depth: u32) -> Result<(), SkipReason> {
        let Some(url) = canonicalize(url) else {
            return Err(SkipReason::OutOfScope);
        };
        if !self.in_scope(&url) {
            return Err(SkipReason::OutOfScope);
        }
        if depth > self.max_depth {
            return Err(SkipReason::TooDeep);
        }
        let key = fingerprint(url.as_str());
        if self.seen.contains(&key) {
            return Err(SkipReason::Seen);
        }
        self.check_traps(&url)?;
        if self.seen.len() >= self.max_seen {
            return Err(SkipReason::FrontierFull);
        }
        if url.query().is_some() {
            let path_key = fingerprint(&format!(
                "{}{}",
                url.host_str().unwrap_or_default(),
                url.path()
            ));
            if self.variants.len() < self.max_seen {
                let count = self.variants.entry(path_key).or_insert(0);
                if *count >= self.limits.max_query_variants {
                    return Err(SkipReason::TooManyQueryVariants);
                }
                *count += 1;
            }
        }
        self.seen.insert(key);
        self.queue.push_back(Pending {
            url: url.as_str().into(),
            depth,
            attempt: 0,
        });
        Ok(())
    }

    /// Put a URL back for a retry (429/503), behind what is already queued.
    pub fn retry(&mut self, item: Queued) {
        self.queue.push_back(Pending {
            url: item.url.as_str().into(),
            depth: item.depth,
            attempt: item.attempt + 1,
        });
    }

    pub fn pop(&mut self) -> Option<Queued> {
        while let Some(pending) = self.queue.pop_front() {
            // Queued text came from a parsed URL, so it parses again.
            if let Ok(url) = Url::parse(&pending.url) {
                return Some(Queued {
                    url,
                    depth: pending.depth,
                    attempt: pending.attempt,
                });
            }
        }
        None
    }

    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    fn check_traps(&self, url: &Url) -> Result<(), SkipReason> {
        let path = url.path();
        if path.len() > self.limits.max_path_len {
            return Err(SkipReason::PathTooLong);
        }
        let query = url.query().unwrap_or("");
        if query.len() > self.limits.max_query_len {
            return Err(SkipReason::QueryTooLong);
        }
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            let count = counts.entry(segment).or_insert(0);
            *count += 1;
            if *count > self.limits.max_segment_repeats {
                return Err(SkipReason::RepeatedSegments);
            }
        }
        if has_out_of_range_year(path, self.limits.year_range)
            || has_out_of_range_year(query, self.limits.year_range)
        {
            return Err(SkipReason::Calendar);
        }
        Ok(())
    }
}

/// A run of exactly four digits that reads as a year (19xx–29xx) outside `range`: calendars
/// link to next month forever, so their URLs reach years no real content has.
fn has_out_of_range_year(text: &str, (low, high): (u32, u32)) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i - start == 4 {
            let year: u32 = text[start..i].parse().unwrap_or(0);
            if (1900..3000).contains(&year) && (year < low || year > high) {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_reasons_serialize_by_their_names() {
        let mut skipped = std::collections::BTreeMap::new();
        skipped.insert(SkipReason::Calendar, 2u64);
        skipped.insert(SkipReason::MaxPages, 1);
        assert_eq!(
            serde_json::to_string(&skipped).unwrap(),
            r#"{"trap_calendar":2,"max_pages":1}"#
        );
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn frontier(scope: Scope) -> Frontier {
        Frontier::new(
            &url("https://www.example.cn/"),
            scope,
            5,
            TrapLimits::default(),
            10_000,
        )
    }

    #[test]
    fn scope_by_host_domain_and_list() {
        let host = frontier(Scope::Host);
        assert!(host.in_scope(&url("https://www.example.cn/a")));
        assert!(!host.in_scope(&url("https://m.example.cn/a")));
        let domain = frontier(Scope::Domain);
        assert!(domain.in_scope(&url("https://m.example.cn/a")));
        assert!(!domain.in_scope(&url("https://example.com/a")));
        let list = frontier(Scope::Hosts(vec!["cdn.other.cn".into()]));
        assert!(list.in_scope(&url("http://cdn.other.cn/x")));
        assert!(!list.in_scope(&url("http://m.example.cn/x")));
    }

    #[test]
    fn seen_urls_are_queued_once_in_canonical_form() {
        let mut f = frontier(Scope::Host);
        assert!(
            f.offer(&url("https://www.example.cn/a?b=1&a=2#x"), 1)
                .is_ok()
        );
        assert_eq!(
            f.offer(&url("https://WWW.example.cn/a?a=2&b=1"), 1),
            Err(SkipReason::Seen)
        );
        assert_eq!(
            f.pop().unwrap().url.as_str(),
            "https://www.example.cn/a?a=2&b=1"
        );
    }

    #[test]
    fn traps_are_refused() {
        let mut f = frontier(Scope::Host);
        assert_eq!(
            f.offer(&url("https://www.example.cn/a/a/a/a/"), 1),
            Err(SkipReason::RepeatedSegments)
        );
        assert_eq!(
            f.offer(&url("https://www.example.cn/x/y/x/y/x/y/x/y"), 1),
            Err(SkipReason::RepeatedSegments)
        );
        let long = format!("https://www.example.cn/{}", "p".repeat(2000));
        assert_eq!(f.offer(&url(&long), 1), Err(SkipReason::PathTooLong));
        assert_eq!(
            f.offer(&url("https://www.example.cn/cal/2099/01/"), 1),
            Err(SkipReason::Calendar)
        );
        assert_eq!(
            f.offer(&url("https://www.example.cn/cal?month=1901-02"), 1),
            Err(SkipReason::Calendar)
        );
        assert!(
            f.offer(&url("https://www.example.cn/news/2024/05/"), 1)
                .is_ok()
        );
        assert_eq!(
            f.offer(&url("https://www.example.cn/a"), 6),
            Err(SkipReason::TooDeep)
        );
    }

    #[test]
    fn query_variants_per_path_are_capped() {
        let mut f = Frontier::new(
            &url("https://a.cn/"),
            Scope::Host,
            5,
            TrapLimits {
                max_query_variants: 3,
                ..TrapLimits::default()
            },
            10_000,
        );
        for page in 0..3 {
            assert!(
                f.offer(&url(&format!("https://a.cn/list?page={page}")), 1)
                    .is_ok()
            );
        }
        assert_eq!(
            f.offer(&url("https://a.cn/list?page=99"), 1),
            Err(SkipReason::TooManyQueryVariants)
        );
        assert!(f.offer(&url("https://a.cn/other?page=99"), 1).is_ok());
    }

    #[test]
    fn the_seen_set_is_bounded() {
        let mut f = Frontier::new(
            &url("https://a.cn/"),
            Scope::Host,
            5,
            TrapLimits::default(),
            2,
        );
        assert!(f.offer(&url("https://a.cn/1"), 1).is_ok());
        assert!(f.offer(&url("https://a.cn/2"), 1).is_ok());
        assert_eq!(
            f.offer(&url("https://a.cn/3"), 1),
            Err(SkipReason::FrontierFull)
        );
    }
}
