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
    /// Distinct query strings crawled per path at most (`?page=1`, `?page=2`, ...), however
    /// different their pages. A forum's `thread.php?tid=N` is one path for all its threads,
    /// so this is high; what stops a trap early is [`TrapLimits::duplicate_window`].
    pub max_query_variants: usize,
    /// Once this many variants of one path were fetched, the path takes no more when three
    /// in four of them were near-duplicates of another (sort orders, filters, empty
    /// calendar months, soft-404s).
    pub duplicate_window: u32,
    /// Years outside this range in a path or query look like an endless calendar.
    pub year_range: (u32, u32),
}

impl Default for TrapLimits {
    fn default() -> TrapLimits {
        TrapLimits {
            max_path_len: 1024,
            max_query_len: 512,
            max_segment_repeats: 3,
            max_query_variants: 20_000,
            duplicate_window: 16,
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
    /// A third-party script past the crawl's count of them.
    ThirdPartyScripts,
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
            SkipReason::ThirdPartyScripts => "third_party_scripts",
        }
    }

    /// Reasons worth counting in statistics (seen and out-of-scope links are normal).
    pub fn is_notable(self) -> bool {
        !matches!(self, SkipReason::Seen | SkipReason::OutOfScope)
    }

    /// Whether the URL looked like part of a trap: a space of URLs that never ends.
    pub fn is_trap(self) -> bool {
        matches!(
            self,
            SkipReason::RepeatedSegments
                | SkipReason::PathTooLong
                | SkipReason::QueryTooLong
                | SkipReason::TooManyQueryVariants
                | SkipReason::Calendar
        )
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
    /// A third-party script a page loads: fetched as the page's visitors' browsers fetch it,
    /// outside the site's scope and robots.txt, and never crawled on from.
    pub external: bool,
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

/// A frontier saved by a checkpoint (see [`Frontier::export`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrontierState {
    /// Canonical URLs to fetch, with their depth, in order.
    pub queued: Vec<(String, u32)>,
    /// Fingerprints of the URLs seen (queued, fetched or refused as seen).
    pub seen: Vec<u64>,
    /// The fingerprint of [`HASHER_PROBE`] in the build that saved it: fingerprints are
    /// stable within one build only, so another build's seen set is not used.
    pub hasher: u64,
}

/// A fixed text whose fingerprint tells whether two builds hash URLs alike.
const HASHER_PROBE: &str = "sitepatrol frontier fingerprint probe v1";

/// A queued URL in compact form: its canonical text, parsed again when it is popped.
struct Pending {
    url: Box<str>,
    depth: u32,
    attempt: u32,
    external: bool,
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
    variants: HashMap<u64, Variants>,
}

/// The query variants of one path: how many were queued and fetched, and how alike their
/// pages were.
#[derive(Default)]
struct Variants {
    queued: usize,
    fetched: u32,
    near_duplicates: u32,
    /// Prints of pages unlike each other, at most [`MAX_PRINTS`].
    prints: Vec<u64>,
    /// A page with too little text for a print was fetched: the next such is its duplicate.
    saw_textless: bool,
    trapped: bool,
}

/// Distinct page prints kept per path: enough to recognise the handful of pages a trap
/// repeats.
const MAX_PRINTS: usize = 32;

/// Whether the digits at `start..end` sit where a date's year does: before a separator and a
/// digit (a month), or as the whole value of a parameter named for a date (`year=`, `y=`,
/// `date=`), never of an id (`id=2345`).
fn in_a_dates_place(bytes: &[u8], start: usize, end: usize) -> bool {
    let after = bytes.get(end).copied();
    let month_follows = matches!(after, Some(b'/' | b'-' | b'_' | b'.'))
        && bytes.get(end + 1).is_some_and(u8::is_ascii_digit);
    let whole_value = start > 0 && bytes[start - 1] == b'=' && matches!(after, None | Some(b'&'));
    month_follows || (whole_value && date_parameter(&bytes[..start - 1]))
}

/// Whether the parameter whose name ends `before` names a date.
fn date_parameter(before: &[u8]) -> bool {
    let name_start = before
        .iter()
        .rposition(|b| matches!(b, b'&' | b'?'))
        .map_or(0, |i| i + 1);
    let name = String::from_utf8_lossy(&before[name_start..]).to_ascii_lowercase();
    name == "y" || name.contains("year") || name.contains("date") || name.contains("cal")
}

/// The key that a URL's query variants share: its host, its path and the names of its query
/// parameters. A Discuz board serves threads (`forum.php?mod=viewthread&tid=N`) and listings
/// (`forum.php?mod=forumdisplay&fid=2&orderby=...`) on one path; their parameter names keep
/// the listing's repeats from being judged together with the threads.
fn path_key(url: &Url) -> u64 {
    let mut names: Vec<std::borrow::Cow<'_, str>> =
        url.query_pairs().map(|(name, _)| name).collect();
    names.sort_unstable();
    names.dedup();
    fingerprint(&format!(
        "{}{}?{}",
        url.host_str().unwrap_or_default(),
        url.path(),
        names.join("&")
    ))
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
        if url.query().is_some() && self.variants.len() < self.max_seen {
            let variants = self.variants.entry(path_key(&url)).or_default();
            if variants.trapped || variants.queued >= self.limits.max_query_variants {
                return Err(SkipReason::TooManyQueryVariants);
            }
            variants.queued += 1;
        }
        self.seen.insert(key);
        self.queue.push_back(Pending {
            url: url.as_str().into(),
            depth,
            attempt: 0,
            external: false,
        });
        Ok(())
    }

    /// Queue a third-party script a page loads, once. Without `room` (the crawl's count of
    /// them is spent) it is only marked seen, so each refused script counts once.
    pub fn offer_external(&mut self, url: &Url, depth: u32, room: bool) -> Result<(), SkipReason> {
        let Some(url) = canonicalize(url) else {
            return Err(SkipReason::OutOfScope);
        };
        let key = fingerprint(url.as_str());
        if self.seen.contains(&key) {
            return Err(SkipReason::Seen);
        }
        if self.seen.len() >= self.max_seen {
            return Err(SkipReason::FrontierFull);
        }
        self.seen.insert(key);
        if !room {
            return Err(SkipReason::ThirdPartyScripts);
        }
        self.queue.push_back(Pending {
            url: url.as_str().into(),
            depth,
            attempt: 0,
            external: true,
        });
        Ok(())
    }

    /// What a fetched page of `url` was like (its [`super::print`]): a path whose variants
    /// keep answering with near-duplicates takes no more of them.
    pub fn observe(&mut self, url: &Url, print: Option<u64>) {
        let Some(url) = canonicalize(url) else {
            return;
        };
        if url.query().is_none() {
            return;
        }
        let Some(variants) = self.variants.get_mut(&path_key(&url)) else {
            return;
        };
        variants.fetched += 1;
        match print {
            Some(print)
                if variants
                    .prints
                    .iter()
                    .any(|seen| super::print::near(*seen, print)) =>
            {
                variants.near_duplicates += 1
            }
            Some(print) if variants.prints.len() < MAX_PRINTS => variants.prints.push(print),
            Some(_) => {}
            None if variants.saw_textless => variants.near_duplicates += 1,
            None => variants.saw_textless = true,
        }
        if variants.fetched >= self.limits.duplicate_window
            && variants.near_duplicates * 4 >= variants.fetched * 3
        {
            variants.trapped = true;
        }
    }

    /// Whether some path's query variants were found to repeat one page.
    pub fn trapped_paths(&self) -> usize {
        self.variants.values().filter(|v| v.trapped).count()
    }

    /// Put a URL back for a retry (429/503), behind what is already queued.
    pub fn retry(&mut self, item: Queued) {
        self.queue.push_back(Pending {
            url: item.url.as_str().into(),
            depth: item.depth,
            attempt: item.attempt + 1,
            external: item.external,
        });
    }

    /// The next URL to fetch, or why the next queued one is no longer worth it: a variant of
    /// a path found to repeat one page since it was queued (a board lists all its sort orders
    /// at once, before any of them is fetched).
    pub fn pop(&mut self) -> Option<Result<Queued, SkipReason>> {
        while let Some(pending) = self.queue.pop_front() {
            // Queued text came from a parsed URL, so it parses again.
            let Ok(url) = Url::parse(&pending.url) else {
                continue;
            };
            let trapped = url.query().is_some()
                && self
                    .variants
                    .get(&path_key(&url))
                    .is_some_and(|v| v.trapped);
            if trapped && pending.attempt == 0 {
                return Some(Err(SkipReason::TooManyQueryVariants));
            }
            return Some(Ok(Queued {
                url,
                depth: pending.depth,
                attempt: pending.attempt,
                external: pending.external,
            }));
        }
        None
    }

    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// The frontier as a checkpoint saves it: what is queued, `also` (pages in flight, which
    /// a resumed crawl fetches again), and the seen set. The query-variant counters are not
    /// saved: a resumed crawl judges traps afresh, within the same budgets.
    pub fn export(&self, also: impl IntoIterator<Item = (String, u32)>) -> FrontierState {
        let mut queued: Vec<(String, u32)> = also.into_iter().collect();
        queued.extend(self.queue.iter().map(|p| (p.url.to_string(), p.depth)));
        FrontierState {
            queued,
            seen: self.seen.iter().copied().collect(),
            hasher: fingerprint(HASHER_PROBE),
        }
    }

    /// Take up a saved frontier: its seen set, and its queued URLs that are still in scope
    /// and depth (a checkpoint is data from disk: anything else in it is dropped). Returns how
    /// many URLs were queued, or why none of it can be used.
    pub fn import(&mut self, state: &FrontierState) -> Result<usize, String> {
        if state.hasher != fingerprint(HASHER_PROBE) {
            return Err("its seen set was hashed by another build of sitepatrol".into());
        }
        for key in state.seen.iter().take(self.max_seen) {
            self.seen.insert(*key);
        }
        let mut queued = 0;
        for (url, depth) in &state.queued {
            let Some(url) = Url::parse(url).ok().and_then(|u| canonicalize(&u)) else {
                continue;
            };
            if !self.in_scope(&url) || *depth > self.max_depth {
                continue;
            }
            if self.seen.len() < self.max_seen {
                self.seen.insert(fingerprint(url.as_str()));
            }
            // Only the site's own URLs come back (the scope check above): a third-party script
            // the killed crawl had queued is left out.
            self.queue.push_back(Pending {
                url: url.as_str().into(),
                depth: *depth,
                attempt: 0,
                external: false,
            });
            queued += 1;
        }
        Ok(queued)
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
/// link to next month forever, so their URLs reach years no real content has. Only a number
/// in a date's place counts: followed by a month (`/2031/5/`, `2031-05`) or standing alone as
/// a parameter's value (`year=2031`). `/news/2345.html` is an article, not a year.
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
        if i - start == 4 && in_a_dates_place(bytes, start, i) {
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
    fn an_exported_frontier_resumes_with_its_queue_and_seen_set() {
        let mut f = frontier(Scope::Host);
        f.offer(&url("https://www.example.cn/"), 0).unwrap();
        f.offer(&url("https://www.example.cn/a"), 1).unwrap();
        f.offer(&url("https://www.example.cn/b"), 1).unwrap();
        let done = f.pop().unwrap().unwrap();
        let flying = f.pop().unwrap().unwrap();
        let state = f.export([(flying.url.to_string(), flying.depth)]);
        let mut resumed = frontier(Scope::Host);
        assert_eq!(resumed.import(&state), Ok(2));
        // In flight first, then the queue; what was fetched is seen, not queued.
        let next = resumed.pop().unwrap().unwrap();
        assert_eq!(
            (next.url.as_str(), next.depth),
            ("https://www.example.cn/a", 1)
        );
        assert_eq!(resumed.pop().unwrap().unwrap().url.path(), "/b");
        assert!(resumed.pop().is_none());
        assert_eq!(resumed.offer(&done.url, 0), Err(SkipReason::Seen));
        assert!(resumed.offer(&url("https://www.example.cn/c"), 1).is_ok());
    }

    #[test]
    fn an_imported_frontier_drops_what_it_would_never_have_queued() {
        let hostile = FrontierState {
            queued: vec![
                ("https://evil.example/x".into(), 1),
                ("not a url".into(), 1),
                ("https://www.example.cn/deep".into(), 99),
                ("https://www.example.cn/ok".into(), 2),
            ],
            seen: vec![1, 2, 3],
            hasher: fingerprint(HASHER_PROBE),
        };
        let mut f = frontier(Scope::Host);
        assert_eq!(f.import(&hostile), Ok(1));
        let other_build = FrontierState {
            hasher: 0,
            ..hostile
        };
        assert!(frontier(Scope::Host).import(&other_build).is_err());
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
            f.pop().unwrap().unwrap().url.as_str(),
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
            f.offer(&url("https://www.example.cn/cal?year=2099&m=1"), 1),
            Err(SkipReason::Calendar)
        );
        // A number where an article's id goes is not a year, whatever its value.
        for article in ["/news/2345.html", "/show.asp?id=2345", "/p/2999/"] {
            let page = format!("https://www.example.cn{article}");
            assert!(f.offer(&url(&page), 1).is_ok(), "{article}");
        }
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
    fn variants_that_keep_repeating_one_page_are_cut_and_distinct_ones_never_are() {
        let mut f = frontier(Scope::Host);
        // A forum's threads: one path, a thousand distinct pages, far past the old cap of 100.
        for tid in 0..1000u64 {
            let thread = url(&format!(
                "https://www.example.cn/forum.php?mod=viewthread&tid={tid}"
            ));
            assert_eq!(f.offer(&thread, 1), Ok(()), "thread {tid}");
            f.observe(&thread, Some(tid.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
        }
        // A listing sorted and filtered every which way: the same page each time.
        let listing = 0x0F0F_0F0F_0F0F_0F0Fu64;
        let mut offered = 0;
        for n in 0..1000u64 {
            let variant = url(&format!("https://www.example.cn/list.php?sort={n}"));
            if f.offer(&variant, 1).is_err() {
                break;
            }
            offered += 1;
            // One bit of difference per variant: near-duplicates, not identical bytes.
            f.observe(&variant, Some(listing ^ (1 << (n % 3))));
        }
        assert_eq!(offered, 16, "the duplicate window");
        assert_eq!(
            f.offer(&url("https://www.example.cn/list.php?sort=x"), 1),
            Err(SkipReason::TooManyQueryVariants)
        );
        // Pages with no text to print count as copies of each other.
        for n in 0..16u64 {
            let blank = url(&format!("https://www.example.cn/empty?n={n}"));
            assert!(f.offer(&blank, 1).is_ok());
            f.observe(&blank, None);
        }
        assert!(
            f.offer(&url("https://www.example.cn/empty?n=99"), 1)
                .is_err()
        );
        assert_eq!(f.trapped_paths(), 2);
        assert!(
            f.offer(
                &url("https://www.example.cn/forum.php?mod=viewthread&tid=5000"),
                1
            )
            .is_ok()
        );
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
