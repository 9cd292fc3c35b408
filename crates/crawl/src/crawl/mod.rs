//! Crawling one site: the frontier, robots.txt, sitemaps, budgets, retries, and the scan of
//! every page.
//!
//! A crawl starts at the home page and the sitemaps, follows what a visitor (or a search
//! engine) can reach: `a`/`area` links, `frame`/`iframe` sources, meta refresh and JS
//! `location` redirects, because hidden content is where abuse hides and some sites link
//! thousands of pages only through iframes. Every page goes through the same [`Scanner`] as a
//! file does. Results are pushed to the caller as [`CrawlEvent`]s while the crawl runs.
//!
//! Budgets (pages, bytes, depth, wall time) bound every crawl; the frontier bounds memory and
//! refuses URL traps; the shared [`HostGate`] keeps every host's request rate polite.

pub mod canonical;
pub mod checkpoint;
pub mod conditional;
pub mod frontier;
pub mod print;
pub mod probe;
pub mod sitemap;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinSet;
use tokio::time::Instant;
use url::Url;

use crate::fetch::politeness::{self, HostGate};
use crate::fetch::robots::{self, Robots};
use crate::fetch::{Agent, ErrorClass, FetchError, Fetcher, Hop, Identity, Response};
use frontier::Frontier;
pub use frontier::{FrontierState, Queued, Scope, ScopeCheck, SkipReason, TrapLimits};
use probe::{Baseline, Probe, ProbeConfig, ProbeReport, View};
use sitepatrol_core::extract::{ContentKind, Document};
use sitepatrol_core::finding::{Finding, crawl_finding};
use sitepatrol_core::normalize::NormalizedZones;
use sitepatrol_core::scan::Scanner;

#[derive(Debug, Clone)]
pub struct CrawlConfig {
    pub scope: Scope,
    pub max_depth: u32,
    pub max_pages: usize,
    pub max_bytes: u64,
    pub max_wall_time: Duration,
    /// Pages of this site in flight at once (the host gate may allow fewer).
    pub concurrency: usize,
    pub respect_robots: bool,
    pub use_sitemaps: bool,
    pub traps: TrapLimits,
    /// Retries of one URL after 429/503.
    pub max_retries: u32,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    pub scripts: ScriptLimits,
}

/// Which external scripts of the pages are fetched and scanned (as `js` documents): a miner or
/// dropper in the site's `common.js`, or loaded from the attacker's host, is on every page
/// that loads it, but in none of their HTML.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptLimits {
    /// The site's own scripts (in scope): fetched like its pages.
    pub site: bool,
    /// Third-party scripts fetched per crawl at most, each once however many pages load it.
    /// 0 by default in the library: a crawl then sends nothing beyond the site.
    pub max_third_party: usize,
    /// Bytes of one third-party script scanned at most.
    pub max_bytes: usize,
    /// Hosts (and their subdomains) whose scripts are shared libraries, analytics or ads
    /// rather than the site's content: not fetched.
    pub common_hosts: Vec<String>,
}

impl Default for ScriptLimits {
    fn default() -> ScriptLimits {
        ScriptLimits {
            site: true,
            max_third_party: 0,
            max_bytes: 2 << 20,
            common_hosts: COMMON_SCRIPT_HOSTS.iter().map(|h| h.to_string()).collect(),
        }
    }
}

/// Script hosts of shared libraries, analytics and ad networks that most Chinese and
/// international sites load: their code is the same on every site and not the customer's.
pub const COMMON_SCRIPT_HOSTS: &[&str] = &[
    "googletagmanager.com",
    "google-analytics.com",
    "googlesyndication.com",
    "googleadservices.com",
    "doubleclick.net",
    "gstatic.com",
    "ajax.googleapis.com",
    "hm.baidu.com",
    "bdstatic.com",
    "cnzz.com",
    "51.la",
    "jsdelivr.net",
    "cdnjs.cloudflare.com",
    "unpkg.com",
    "bootcdn.net",
    "staticfile.org",
    "code.jquery.com",
    "cdn.bootcss.com",
];

impl ScriptLimits {
    fn is_common(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.common_hosts.iter().any(|common| {
            host == *common
                || host
                    .strip_suffix(common.as_str())
                    .is_some_and(|rest| rest.ends_with('.'))
        })
    }
}

impl Default for CrawlConfig {
    fn default() -> CrawlConfig {
        CrawlConfig {
            scope: Scope::Host,
            max_depth: 20,
            max_pages: 1000,
            max_bytes: 1 << 30,
            max_wall_time: Duration::from_secs(1800),
            concurrency: 8,
            respect_robots: true,
            use_sitemaps: true,
            traps: TrapLimits::default(),
            max_retries: 3,
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(60),
            scripts: ScriptLimits::default(),
        }
    }
}

/// One fetched page and what its scan found.
#[derive(Debug, Clone, Serialize)]
pub struct PageReport {
    /// The URL that was requested (canonical form).
    pub url: String,
    /// The URL that answered, after redirects.
    pub final_url: String,
    pub agent: Agent,
    pub depth: u32,
    pub status: u16,
    pub content_type: Option<String>,
    pub bytes: usize,
    pub remote_addr: Option<String>,
    pub redirects: Vec<Hop>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// Whether the body was read as text and scanned (HTML, text and JavaScript are; images,
    /// and undeclared bytes that look binary, are not).
    pub scanned: bool,
    /// Whether the whole body was read: not cut at the size cap, not a damaged compressed
    /// stream. A scan of part of a body cannot show that something is gone.
    pub complete: bool,
    /// Whether the rules ran on it: false when the caller's [`UnchangedCheck`] said the same
    /// content was already judged with the same rules (links are still extracted).
    pub matched: bool,
    /// Whether the page's scan budget ran out before every rule ran (its findings then
    /// include a `crawl.scan_budget` info finding).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub budget_ran_out: bool,
    /// Hex SHA-256 of the body.
    pub content_sha256: String,
    /// From the request to the last body byte, redirects and politeness waits included.
    pub fetch_duration: Duration,
    pub findings: Vec<Finding>,
    pub warnings: Vec<String>,
    /// Filing numbers and services the page shows, when the crawler detects them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filing: Option<sitepatrol_core::filing::PageFiling>,
    /// The links the crawl followed from the page (absolute), for callers that remember
    /// them for a later 304 (see [`conditional`]).
    #[serde(skip)]
    pub links: Vec<String>,
    /// The response body (decompressed, capped), for callers that keep evidence.
    #[serde(skip)]
    pub body: Vec<u8>,
}

impl PageReport {
    /// Whether the page was served as HTML (or XHTML).
    pub fn is_html(&self) -> bool {
        self.content_type
            .as_deref()
            .map(essence)
            .is_some_and(|e| e == "text/html" || e == "application/xhtml+xml")
    }

    /// Whether this fetch read and scanned the page such that what it did not find is not
    /// there: the whole body, scanned by every rule, with a status that is the page's own
    /// answer (2xx) or says it is gone (404, 410). Server errors, other refusals, cut bodies
    /// and scans cut by their budget prove nothing.
    pub fn proves_absence(&self) -> bool {
        self.scanned
            && self.complete
            && !self.budget_ran_out
            && ((200..300).contains(&self.status) || matches!(self.status, 404 | 410))
    }
}

/// What a crawl reports while it runs.
#[derive(Debug)]
pub enum CrawlEvent {
    Page(Box<PageReport>),
    FetchFailed {
        url: String,
        depth: u32,
        agent: Agent,
        error: FetchError,
    },
    /// A finding about the site as a whole (robots.txt shuts the crawler out).
    SiteFinding(Finding),
    /// A page fetched again as search spiders and search visitors, and what that showed.
    Probed(Box<ProbeReport>),
    /// The crawl's frontier, for resuming it (see [`checkpoint`]); only when asked for.
    Checkpoint(Box<checkpoint::PassState>),
}

/// Counters of one crawl, as `--stats-json` writes them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CrawlStats {
    pub pages_fetched: u64,
    pub pages_scanned: u64,
    pub bytes: u64,
    pub duration_s: f64,
    /// Failures and cut responses by class.
    pub errors: BTreeMap<String, u64>,
    /// Responses by HTTP status.
    pub by_status: BTreeMap<String, u64>,
    /// URLs not fetched, by reason (traps, robots, budgets).
    pub skipped: BTreeMap<SkipReason, u64>,
    /// Responses not scanned, by content type.
    pub content_types_skipped: BTreeMap<String, u64>,
    /// Cloaking probes fetched and compared (see [`probe`]).
    #[serde(skip_serializing_if = "is_zero")]
    pub probes: u64,
    /// Pages whose probes showed cloaking.
    #[serde(skip_serializing_if = "is_zero")]
    pub pages_cloaked: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl CrawlStats {
    fn count(map: &mut BTreeMap<String, u64>, key: &str) {
        *map.entry(key.to_string()).or_insert(0) += 1;
    }

    fn skip(&mut self, reason: SkipReason, n: u64) {
        *self.skipped.entry(reason).or_insert(0) += n;
    }

    /// Add another crawl's counters (for totals over several sites or agents).
    pub fn merge(&mut self, other: &CrawlStats) {
        self.pages_fetched += other.pages_fetched;
        self.pages_scanned += other.pages_scanned;
        self.bytes += other.bytes;
        self.probes += other.probes;
        self.pages_cloaked += other.pages_cloaked;
        self.duration_s = self.duration_s.max(other.duration_s);
        for (reason, n) in &other.skipped {
            *self.skipped.entry(*reason).or_insert(0) += n;
        }
        for (mine, theirs) in [
            (&mut self.errors, &other.errors),
            (&mut self.by_status, &other.by_status),
            (
                &mut self.content_types_skipped,
                &other.content_types_skipped,
            ),
        ] {
            for (k, v) in theirs {
                *mine.entry(k.clone()).or_insert(0) += v;
            }
        }
    }
}

/// Live counters for a progress display, updated while crawls run.
#[derive(Debug, Default)]
pub struct Progress {
    pub pages: AtomicUsize,
    pub queued: AtomicUsize,
    pub errors: AtomicUsize,
}

/// Asked with a page's final URL and the hex SHA-256 of its body: true when that content was
/// already matched with the rules in use, so matching it again would find the same.
pub type UnchangedCheck = Arc<dyn Fn(&str, &str) -> bool + Send + Sync>;

/// Crawls sites with one fetcher, one politeness gate and one scanner.
#[derive(Clone)]
pub struct Crawler {
    fetcher: Fetcher,
    gate: Arc<HostGate>,
    scanner: Scanner,
    config: Arc<CrawlConfig>,
    progress: Arc<Progress>,
    filing: Option<Arc<sitepatrol_core::filing::Detector>>,
    unchanged: Option<UnchangedCheck>,
    recall: Option<conditional::Recall>,
    checkpoints: checkpoint::Options,
}

enum TaskOutcome {
    Page(Box<Fetched>),
    Failed(Queued, FetchError),
    Retry(Queued, Duration),
}

/// A fetched page and what the crawl goes on with.
struct Fetched {
    report: PageReport,
    /// Links the crawl may follow.
    links: Vec<Url>,
    /// External scripts the page loads.
    scripts: Vec<Url>,
    /// Where a redirect landed, on the site.
    landed: Option<Url>,
    /// The print of its text, for query variants.
    print: Option<u64>,
}

impl Crawler {
    pub fn new(
        fetcher: Fetcher,
        gate: Arc<HostGate>,
        scanner: Scanner,
        config: CrawlConfig,
    ) -> Crawler {
        Crawler {
            fetcher,
            gate,
            scanner,
            config: Arc::new(config),
            progress: Arc::new(Progress::default()),
            filing: None,
            unchanged: None,
            recall: None,
            checkpoints: checkpoint::Options::default(),
        }
    }

    /// Also detect filing numbers and regulated services on every page (`PageReport::filing`).
    pub fn with_filing(mut self, detector: Arc<sitepatrol_core::filing::Detector>) -> Crawler {
        self.filing = Some(detector);
        self
    }

    /// Skip matching (not extraction) of pages `check` knows to be unchanged.
    pub fn with_unchanged_check(mut self, check: UnchangedCheck) -> Crawler {
        self.unchanged = Some(check);
        self
    }

    pub fn progress(&self) -> Arc<Progress> {
        self.progress.clone()
    }

    pub fn config(&self) -> &CrawlConfig {
        &self.config
    }

    /// Crawl the site at `start` as `agent`, pushing events as pages complete.
    pub async fn crawl(
        &self,
        start: &Url,
        agent: Agent,
        events: &mut (dyn FnMut(CrawlEvent) + Send),
    ) -> CrawlStats {
        let started = Instant::now();
        let mut pass = Pass::new(
            start,
            agent,
            started + self.config.max_wall_time,
            &self.config,
        );
        if self.config.respect_robots {
            let rules = self.robots_for(start, agent, &mut pass.robots).await;
            if rules.blocks_everything(start) {
                events(CrawlEvent::SiteFinding(blocked_finding(start, &rules)));
                pass.stats.skip(SkipReason::Robots, 1);
                pass.stats.duration_s = started.elapsed().as_secs_f64();
                return pass.stats;
            }
        }
        if !self.resume_pass(&mut pass) {
            if let Err(reason) = pass.frontier.offer(start, 0) {
                pass.stats.skip(reason, 1);
            }
            if self.config.use_sitemaps {
                self.offer_sitemaps(start, agent, &pass.robots, &mut pass.frontier)
                    .await;
            }
        }
        loop {
            self.start_pages(&mut pass).await;
            self.progress
                .queued
                .store(pass.frontier.queued(), Ordering::Relaxed);
            if pass.in_flight.is_empty() {
                break;
            }
            let joined = tokio::select! {
                joined = pass.in_flight.join_next() => joined,
                _ = tokio::time::sleep_until(pass.deadline) => {
                    let cut = pass.in_flight.len() as u64;
                    pass.in_flight.abort_all();
                    pass.stats.skip(SkipReason::WallTime, cut);
                    break;
                }
            };
            let Some(joined) = joined else { break };
            match joined {
                Ok(outcome) => {
                    pass.saving.ended(&outcome);
                    self.take_outcome(&mut pass, outcome, events);
                    self.maybe_checkpoint(&mut pass, events);
                }
                // A panicking page task must not end the crawl; it is counted and skipped.
                Err(_) => CrawlStats::count(&mut pass.stats.errors, "internal"),
            }
        }
        pass.skip_what_is_left(&self.config);
        if let Some(finding) = trap_finding(start, &pass.stats) {
            events(CrawlEvent::SiteFinding(finding));
        }
        pass.stats.duration_s = started.elapsed().as_secs_f64();
        pass.stats
    }

    /// Start fetching queued pages while the concurrency and the budgets allow, robots.txt
    /// permitting.
    async fn start_pages(&self, pass: &mut Pass) {
        while pass.in_flight.len() < self.config.concurrency.max(1)
            && pass.started_pages < self.config.max_pages
            && pass.stats.bytes < self.config.max_bytes
            && Instant::now() < pass.deadline
        {
            let item = match pass.frontier.pop() {
                None => break,
                Some(Ok(item)) => item,
                Some(Err(reason)) => {
                    pass.stats.skip(reason, 1);
                    continue;
                }
            };
            // A browser loads a page's third-party scripts whatever their robots.txt says.
            if self.config.respect_robots && !item.external {
                let rules = self
                    .robots_for(&item.url, pass.agent, &mut pass.robots)
                    .await;
                if !rules.allowed(&item.url) {
                    pass.stats.skip(SkipReason::Robots, 1);
                    continue;
                }
            }
            pass.started_pages += 1;
            pass.saving.started(&item);
            let crawler = self.clone();
            let scope = pass.frontier.scope().clone();
            let agent = pass.agent;
            pass.in_flight
                .spawn(async move { crawler.fetch_and_scan(item, agent, scope).await });
        }
    }

    /// A page task is done: queue it again, report its failure, or count and report the page
    /// and offer its links.
    fn take_outcome(
        &self,
        pass: &mut Pass,
        outcome: TaskOutcome,
        events: &mut (dyn FnMut(CrawlEvent) + Send),
    ) {
        match outcome {
            TaskOutcome::Retry(item, wait) => {
                pass.started_pages -= 1;
                if let Some(host) = item.url.host_str() {
                    self.gate.back_off(host, wait);
                }
                pass.frontier.retry(item);
            }
            TaskOutcome::Failed(item, error) => {
                CrawlStats::count(&mut pass.stats.errors, error.class.as_str());
                self.progress.errors.fetch_add(1, Ordering::Relaxed);
                events(CrawlEvent::FetchFailed {
                    url: item.url.to_string(),
                    depth: item.depth,
                    agent: pass.agent,
                    error,
                });
            }
            TaskOutcome::Page(fetched) => {
                let Fetched {
                    report,
                    links,
                    scripts,
                    landed,
                    print,
                } = *fetched;
                self.count_page(&mut pass.stats, &report);
                if let Ok(url) = Url::parse(&report.url) {
                    pass.frontier.observe(&url, print);
                }
                // A redirect target in scope is the same page: never fetch it again.
                if let Some(landed) = landed {
                    pass.frontier.mark_seen(&landed);
                }
                for link in links {
                    let offered = pass.frontier.offer(&link, report.depth + 1);
                    pass.count_refusal(offered);
                }
                for script in scripts {
                    self.offer_script(pass, &script, report.depth);
                }
                events(CrawlEvent::Page(Box::new(report)));
            }
        }
    }

    /// Queue an external script a page at `depth` loads: the site's own like its pages (at
    /// the page's depth: it is part of the page), a third-party one while the crawl's count
    /// of them lasts, common libraries and analytics never.
    fn offer_script(&self, pass: &mut Pass, script: &Url, depth: u32) {
        let limits = &self.config.scripts;
        let offered = if pass.frontier.in_scope(script) {
            if !limits.site {
                return;
            }
            pass.frontier.offer(script, depth)
        } else {
            if limits.max_third_party == 0 || limits.is_common(script) {
                return;
            }
            let room = pass.third_party_scripts < limits.max_third_party;
            let offered = pass.frontier.offer_external(script, depth, room);
            if offered.is_ok() {
                pass.third_party_scripts += 1;
            }
            offered
        };
        pass.count_refusal(offered);
    }

    fn count_page(&self, stats: &mut CrawlStats, report: &PageReport) {
        stats.pages_fetched += 1;
        stats.bytes += report.bytes as u64;
        CrawlStats::count(&mut stats.by_status, &report.status.to_string());
        self.progress.pages.fetch_add(1, Ordering::Relaxed);
        if report.scanned {
            stats.pages_scanned += 1;
        } else if let Some(ct) = &report.content_type {
            CrawlStats::count(&mut stats.content_types_skipped, &essence(ct));
        }
        for warning in &report.warnings {
            if warning.starts_with("body_too_large") {
                CrawlStats::count(&mut stats.errors, ErrorClass::BodyTooLarge.as_str());
            } else if warning.starts_with("bad_encoding") {
                CrawlStats::count(&mut stats.errors, ErrorClass::BadEncoding.as_str());
            }
        }
    }

    async fn robots_for(
        &self,
        url: &Url,
        agent: Agent,
        cache: &mut HashMap<String, Arc<Robots>>,
    ) -> Arc<Robots> {
        let origin = url.origin().ascii_serialization();
        if let Some(rules) = cache.get(&origin) {
            return rules.clone();
        }
        let rules = match robots::robots_url(url) {
            None => Robots::AllowAll,
            Some(robots_url) => match self.fetcher.get(&robots_url, agent, &self.gate).await {
                Ok(response) => Robots::from_status(response.status, &response.body),
                // An unreachable server fails its pages too, with a clearer error each.
                Err(_) => Robots::AllowAll,
            },
        };
        if let (Some(delay), Some(host)) = (rules.crawl_delay(), url.host_str()) {
            self.gate.set_crawl_delay(host, delay);
        }
        let rules = Arc::new(rules);
        // Bounded: a crawl meets few origins, but a hostile scope list could name many.
        if cache.len() < 1024 {
            cache.insert(origin, rules.clone());
        }
        rules
    }

    async fn offer_sitemaps(
        &self,
        start: &Url,
        agent: Agent,
        robots: &HashMap<String, Arc<Robots>>,
        frontier: &mut Frontier,
    ) {
        let mut pending: Vec<Url> = robots
            .get(&start.origin().ascii_serialization())
            .map(|r| r.sitemaps())
            .unwrap_or_default()
            .iter()
            .filter_map(|s| start.join(s.trim()).ok())
            .collect();
        if let Ok(default) = start.join("/sitemap.xml")
            && !pending.contains(&default)
        {
            pending.push(default);
        }
        // Sitemap files fetched at most, nested indexes included.
        let mut budget = 10usize;
        let mut offered = 0usize;
        while let Some(next) = pending.pop() {
            if budget == 0 || offered >= self.config.max_pages.saturating_mul(2) {
                break;
            }
            budget -= 1;
            let url = next;
            if !frontier.in_scope(&url) {
                continue;
            }
            let Ok(response) = self.fetcher.get(&url, agent, &self.gate).await else {
                continue;
            };
            if response.status != 200 {
                continue;
            }
            let body = gunzip_if_gzip(response.body, self.fetcher.config().max_body_bytes);
            let map = sitemap::parse(&String::from_utf8_lossy(&body));
            // The protocol wants absolute locations; relative ones are read against the file.
            pending.extend(map.sitemaps.iter().filter_map(|s| url.join(s).ok()));
            for page in map.pages {
                if let Ok(page) = url.join(&page)
                    && frontier.offer(&page, 1).is_ok()
                {
                    offered += 1;
                }
            }
        }
    }

    async fn fetch_and_scan(&self, item: Queued, agent: Agent, scope: ScopeCheck) -> TaskOutcome {
        let fetch_started = Instant::now();
        let (fetched, known) = self.fetch_page(&item, agent).await;
        let mut response = match fetched {
            Ok(response) => response,
            Err(error) => return TaskOutcome::Failed(item, error),
        };
        if matches!(response.status, 429 | 503) {
            return self.retry_or_fail(item, &response);
        }
        if let (304, Some(known)) = (response.status, known) {
            let took = fetch_started.elapsed();
            return self.not_modified(item, agent, &response, known, took);
        }
        let content_type = response.content_type().map(str::to_string);
        let kind = scannable_kind(content_type.as_deref(), &response.url);
        let mut warnings = self.body_warnings(&response);
        let script_cap = self.config.scripts.max_bytes;
        if item.external && response.body.len() > script_cap {
            response.body.truncate(script_cap);
            response.truncated = true;
            warnings.push(format!(
                "body_too_large: the third-party script was cut at {script_cap} bytes"
            ));
        }
        // A redirect off the site: the page is scanned (it is what the site serves), but its
        // links belong to someone else's site and are not followed.
        let offsite = !scope.in_scope(&response.url);
        let fetch_duration = fetch_started.elapsed();
        let content_sha256 = sha256_hex(&response.body);
        let readable = kind.is_some() || content_type.is_none();
        let unchanged = readable
            && self
                .unchanged
                .as_ref()
                .is_some_and(|check| check(response.url.as_str(), &content_sha256));
        let mut scan = if unchanged {
            self.read_unchanged(&response, kind, content_type.as_deref(), &mut warnings)
        } else if readable {
            self.scan(&response, kind, content_type.as_deref(), &mut warnings)
        } else {
            Scanned::default()
        };
        // Which agent saw what, for sites that serve phones other content.
        let seen_by: Arc<str> = Arc::from(agent.as_str());
        for finding in &mut scan.findings {
            finding.seen_by(&seen_by);
        }
        // Scanned only once a document came out of the bytes (undeclared binary does not).
        let scanned = scan.document.is_some();
        let scripts = match &scan.document {
            Some(document) if !offsite => script_sources(document, &response.url),
            _ => Vec::new(),
        };
        let (links, filing) = match &scan.document {
            Some(document) if !offsite => (
                followable_links(document, &response.url),
                // Filing numbers are part of what a crawl reports about a site each time,
                // unchanged or not.
                self.filing.as_ref().map(|detector| {
                    detector.detect_normalized(
                        document,
                        Some(&scan.normalized),
                        response.url.as_str(),
                    )
                }),
            ),
            _ => (Vec::new(), None),
        };
        let landed = (!response.redirects.is_empty() && !offsite).then(|| response.url.clone());
        // Only query variants are judged by their pages (see `Frontier::observe`).
        let print = item
            .url
            .query()
            .and(scan.document.as_ref())
            .and_then(|d| d.zone(sitepatrol_core::extract::ZoneKind::Text))
            .and_then(|zone| print::print(&zone.text));
        let report = PageReport {
            url: item.url.to_string(),
            final_url: response.url.to_string(),
            agent,
            depth: item.depth,
            status: response.status,
            content_type,
            bytes: response.body.len(),
            remote_addr: response.remote_addr.map(|a| a.ip().to_string()),
            etag: response.header(http::header::ETAG).map(str::to_string),
            last_modified: response
                .header(http::header::LAST_MODIFIED)
                .map(str::to_string),
            redirects: response.redirects,
            scanned,
            complete: !response.truncated && !response.damaged,
            matched: scanned && !unchanged,
            budget_ran_out: scan.budget_ran_out,
            content_sha256,
            fetch_duration,
            findings: scan.findings,
            warnings,
            filing,
            // The site's own scripts too: after a 304 they are queued from this list.
            links: links
                .iter()
                .chain(scripts.iter().filter(|s| scope.in_scope(s)))
                .map(Url::to_string)
                .collect(),
            body: response.body,
        };
        TaskOutcome::Page(Box::new(Fetched {
            report,
            links,
            scripts,
            landed,
            print,
        }))
    }

    /// Fetch each of `pages` again as search spiders and search visitors, compare every view
    /// with a visitor's fetched alongside, and push one [`CrawlEvent::Probed`] per page.
    pub async fn probe(
        &self,
        start: &Url,
        pages: &[Url],
        config: &ProbeConfig,
        events: &mut (dyn FnMut(CrawlEvent) + Send),
    ) -> CrawlStats {
        let started = Instant::now();
        let mut stats = CrawlStats::default();
        let site = start
            .host_str()
            .and_then(sitepatrol_core::domain::registrable_domain)
            .unwrap_or_default();
        let probes = config.probes();
        for page in pages {
            let report = self.probe_page(&site, page, &probes, config).await;
            stats.probes += report.probes as u64;
            stats.pages_cloaked += u64::from(!report.cloaked.is_empty());
            if report.failed > 0 {
                *stats.errors.entry("probe".into()).or_insert(0) += report.failed as u64;
            }
            events(CrawlEvent::Probed(Box::new(report)));
        }
        stats.duration_s = started.elapsed().as_secs_f64();
        stats
    }

    async fn probe_page(
        &self,
        site: &str,
        page: &Url,
        probes: &[Probe],
        config: &ProbeConfig,
    ) -> ProbeReport {
        let mut baselines = vec![Baseline::Desktop];
        if probes.iter().any(|p| p.baseline() == Baseline::Mobile) {
            baselines.push(Baseline::Mobile);
        }
        let mut tasks: JoinSet<(Result<Probe, Baseline>, Option<View>)> = JoinSet::new();
        for baseline in &baselines {
            let (crawler, site, page, who) =
                (self.clone(), site.to_string(), page.clone(), *baseline);
            tasks.spawn(async move {
                let view = crawler.view_as(&site, &page, &who.identity()).await;
                (Err(who), view)
            });
        }
        for probe in probes {
            let (crawler, site, page, who) = (self.clone(), site.to_string(), page.clone(), *probe);
            tasks.spawn(async move {
                let view = crawler.view_as(&site, &page, &who.identity(&page)).await;
                (Ok(who), view)
            });
        }
        let mut visitors = Vec::new();
        let mut views = Vec::new();
        let mut failed = 0;
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((Err(baseline), Some(view))) => visitors.push((baseline, view)),
                Ok((Ok(probe), Some(view))) => views.push((probe, view)),
                Ok((_, None)) | Err(_) => failed += 1,
            }
        }
        // Task order is completion order: sort so the report and its evidence are the same
        // whichever fetch answered first.
        visitors.sort_by_key(|(b, _)| *b == Baseline::Mobile);
        views.sort_by_key(|(p, _)| probes.iter().position(|q| q == p));
        probe::judge(page, &visitors, views, failed, config.min_new_domains)
    }

    /// `page` fetched as `identity` and scanned; `None` when the fetch failed on the way to
    /// the page. A redirect to another site that then fails (a dead or refused gambling
    /// domain) still shows where the visitor was sent.
    async fn view_as(&self, site: &str, page: &Url, identity: &Identity) -> Option<View> {
        let response = match self.fetcher.get_as(page, identity, &self.gate).await {
            Ok(response) => response,
            Err(error) => return View::sent_away(site, &error.url),
        };
        let content_type = response.content_type().map(str::to_string);
        let kind = scannable_kind(content_type.as_deref(), &response.url);
        let readable = kind.is_some() || content_type.is_none();
        let report = if readable {
            self.scanner.scan_bytes(
                &response.body,
                kind,
                page.as_str(),
                Some(&response.url),
                content_type.as_deref(),
            )
        } else {
            sitepatrol_core::scan::ScanReport::skipped(page.as_str(), response.body.len())
        };
        Some(View::new(site, &response, report))
    }

    /// A 429 or 503: try the page again after a backoff, or give up once the retries are
    /// spent.
    fn retry_or_fail(&self, item: Queued, response: &Response) -> TaskOutcome {
        if item.attempt < self.config.max_retries {
            let wait = politeness::backoff(
                item.attempt,
                self.config.backoff_base,
                self.config.backoff_cap,
                response.retry_after(),
            );
            return TaskOutcome::Retry(item, wait);
        }
        let error = FetchError {
            class: ErrorClass::RateLimited,
            url: item.url.to_string(),
            message: format!(
                "HTTP {} after {} retries",
                response.status, self.config.max_retries
            ),
        };
        TaskOutcome::Failed(item, error)
    }

    /// What is wrong with the body as fetched: cut at the size limit, or damaged compression.
    fn body_warnings(&self, response: &Response) -> Vec<String> {
        let mut warnings = Vec::new();
        if response.truncated {
            warnings.push(format!(
                "body_too_large: the body was cut at {} bytes",
                self.fetcher.config().max_body_bytes
            ));
        }
        if response.damaged {
            warnings.push(
                "bad_encoding: the compressed body was damaged; scanned what came before".into(),
            );
        }
        warnings
    }

    /// Content already matched with these rules: extracted (for its links and filing numbers)
    /// but not matched again.
    fn read_unchanged(
        &self,
        response: &Response,
        kind: Option<ContentKind>,
        content_type: Option<&str>,
        warnings: &mut Vec<String>,
    ) -> Scanned {
        let (_, document) = sitepatrol_core::scan::prepare(
            &response.body,
            kind,
            Some(&response.url),
            content_type,
            warnings,
        );
        Scanned {
            document,
            ..Scanned::default()
        }
    }

    fn scan(
        &self,
        response: &Response,
        kind: Option<ContentKind>,
        content_type: Option<&str>,
        warnings: &mut Vec<String>,
    ) -> Scanned {
        let (report, normalized) = self.scanner.scan_bytes_normalized(
            &response.body,
            kind,
            response.url.as_str(),
            Some(&response.url),
            content_type,
        );
        warnings.extend(report.warnings);
        Scanned {
            document: report.document,
            normalized,
            findings: report.findings,
            budget_ran_out: report.budget_ran_out,
        }
    }
}

/// One crawl under way: what is queued and in flight, robots.txt per origin, and the counts.
struct Pass {
    agent: Agent,
    deadline: Instant,
    frontier: Frontier,
    robots: HashMap<String, Arc<Robots>>,
    in_flight: JoinSet<TaskOutcome>,
    started_pages: usize,
    stats: CrawlStats,
    /// Third-party scripts queued so far.
    third_party_scripts: usize,
    saving: checkpoint::Tracker,
}

impl Pass {
    fn new(start: &Url, agent: Agent, deadline: Instant, config: &CrawlConfig) -> Pass {
        let max_seen = (config.max_pages.saturating_mul(20)).max(10_000);
        Pass {
            agent,
            deadline,
            frontier: Frontier::new(
                start,
                config.scope.clone(),
                config.max_depth,
                config.traps.clone(),
                max_seen,
            ),
            robots: HashMap::new(),
            in_flight: JoinSet::new(),
            started_pages: 0,
            stats: CrawlStats::default(),
            third_party_scripts: 0,
            saving: checkpoint::Tracker::default(),
        }
    }

    /// Count a URL the frontier refused, when the reason is worth counting.
    fn count_refusal(&mut self, offered: Result<(), SkipReason>) {
        if let Err(reason) = offered
            && reason.is_notable()
        {
            self.stats.skip(reason, 1);
        }
    }

    /// Pages still queued when the crawl stopped were skipped by the budget that stopped it.
    fn skip_what_is_left(&mut self, config: &CrawlConfig) {
        let left = self.frontier.queued() as u64;
        if left > 0 {
            let reason = if self.started_pages >= config.max_pages {
                SkipReason::MaxPages
            } else if self.stats.bytes >= config.max_bytes {
                SkipReason::MaxBytes
            } else {
                SkipReason::WallTime
            };
            self.stats.skip(reason, left);
        }
    }
}

/// What matching a page's body gave.
#[derive(Default)]
struct Scanned {
    document: Option<Document>,
    /// The document's zones as the rules normalized them (none when it was not matched).
    normalized: NormalizedZones,
    findings: Vec<Finding>,
    /// The scan budget ran out before every rule was matched.
    budget_ran_out: bool,
}

/// Which responses are scanned: HTML/XHTML, text and JavaScript. A missing Content-Type is
/// sniffed by the scanner.
fn scannable_kind(content_type: Option<&str>, url: &Url) -> Option<ContentKind> {
    match essence(content_type?).as_str() {
        "text/html" | "application/xhtml+xml" | "application/xml" | "text/xml" => {
            Some(ContentKind::Html)
        }
        "text/javascript"
        | "application/javascript"
        | "application/x-javascript"
        | "text/ecmascript"
        | "application/ecmascript" => Some(ContentKind::Js),
        "text/plain" => {
            // Servers label JavaScript and HTML files text/plain often enough to check the name.
            let ext = url.path().rsplit('.').next().unwrap_or("");
            ContentKind::from_extension(ext).or(Some(ContentKind::Plain))
        }
        other if other.starts_with("text/") => Some(ContentKind::Plain),
        _ => None,
    }
}

/// The media type of a Content-Type, lower case, without its parameters.
fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Links a crawler follows from a page: anchors and areas, frames and iframes, meta refresh
/// and JS `location` redirects.
fn followable_links(document: &sitepatrol_core::extract::Document, base: &Url) -> Vec<Url> {
    let targets = document
        .links
        .iter()
        .map(|l| l.url.as_str())
        .chain(document.iframes.iter().map(|f| f.src.as_str()))
        .chain(document.redirects.iter().map(|r| r.target.as_str()));
    targets
        .filter_map(|t| base.join(t.trim()).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .collect()
}

/// The external scripts a page loads (`<script src>`), as http(s) URLs.
fn script_sources(document: &sitepatrol_core::extract::Document, base: &Url) -> Vec<Url> {
    document
        .scripts
        .iter()
        .filter_map(|s| s.src.as_deref())
        .filter_map(|src| base.join(src.trim()).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .collect()
}

/// Hex SHA-256, the content hash the store keys unchanged pages by.
pub use sitepatrol_core::digest::sha256_hex;

fn gunzip_if_gzip(body: Vec<u8>, cap: usize) -> Vec<u8> {
    if body.starts_with(&[0x1f, 0x8b]) {
        use std::io::Read;
        let mut out = Vec::new();
        let _ = flate2::read::MultiGzDecoder::new(&body[..])
            .take(cap as u64)
            .read_to_end(&mut out);
        out
    } else {
        body
    }
}

/// The rule of the finding that a crawl met URL traps and left them.
pub const TRAP_SUSPECTED: &str = "crawl.trap_suspected";

/// One info finding about the site when its crawl refused URLs as traps, with how many of
/// each kind: a reviewer (or the site's owner) may want to know that part of the URL space was
/// judged endless and left alone.
fn trap_finding(start: &Url, stats: &CrawlStats) -> Option<Finding> {
    let traps: Vec<(SkipReason, u64)> = stats
        .skipped
        .iter()
        .filter(|(reason, _)| reason.is_trap())
        .map(|(reason, n)| (*reason, *n))
        .collect();
    let total: u64 = traps.iter().map(|(_, n)| n).sum();
    let traps: Vec<String> = traps
        .iter()
        .map(|(reason, n)| format!("{} {n}", reason.as_str()))
        .collect();
    (total > 0).then(|| {
        crawl_finding(
            TRAP_SUSPECTED,
            "抓取遇到无尽的网址空间（日历、排序、重复页面）：其余网址未抓取 (URL traps left unfetched)",
            start.as_str(),
            format!(
                "{total} URL(s) looked like traps and were not fetched: {}",
                traps.join(", ")
            ),
        )
    })
}

fn blocked_finding(start: &Url, rules: &Robots) -> Finding {
    let why = match rules {
        Robots::DisallowAll { reason } => reason.clone(),
        _ => "robots.txt disallows the whole site for sitepatrol".to_string(),
    };
    crawl_finding(
        "crawl.blocked_by_robots",
        "robots.txt 禁止抓取整个网站：该网站未被检查 (the site went unseen)",
        start.as_str(),
        why,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_that_are_scanned() {
        let u = Url::parse("https://a.cn/x").unwrap();
        assert_eq!(
            scannable_kind(Some("text/html; charset=gbk"), &u),
            Some(ContentKind::Html)
        );
        assert_eq!(
            scannable_kind(Some("application/javascript"), &u),
            Some(ContentKind::Js)
        );
        assert_eq!(
            scannable_kind(Some("text/plain"), &u),
            Some(ContentKind::Plain)
        );
        let js = Url::parse("https://a.cn/app.js").unwrap();
        assert_eq!(
            scannable_kind(Some("text/plain"), &js),
            Some(ContentKind::Js)
        );
        assert_eq!(scannable_kind(Some("image/png"), &u), None);
        assert_eq!(scannable_kind(Some("application/pdf"), &u), None);
    }

    #[test]
    fn stats_merge_adds_counters() {
        let mut a = CrawlStats {
            pages_fetched: 2,
            ..CrawlStats::default()
        };
        CrawlStats::count(&mut a.errors, "dns");
        let mut b = CrawlStats {
            pages_fetched: 3,
            ..CrawlStats::default()
        };
        CrawlStats::count(&mut b.errors, "dns");
        CrawlStats::count(&mut b.by_status, "200");
        a.merge(&b);
        assert_eq!(a.pages_fetched, 5);
        assert_eq!(a.errors["dns"], 2);
        assert_eq!(a.by_status["200"], 1);
    }
}
