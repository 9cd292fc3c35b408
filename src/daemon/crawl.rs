//! One crawl of one site, from the schedule's pick to the committed ingest.
//!
//! The pages of every agent (desktop, then mobile) are collected, merged per URL, and handed to
//! the store in one `record_crawl`: only after it commits are new flags counted in the metrics
//! or logged, so nothing is ever reported that a `kill -9` could take back.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use tokio::sync::watch;
use tracing::{info, warn};
use url::Url;

use super::conditional;
use super::filing::FilingCheck;
use super::render::{PageRender, RenderStage, render_and_scan};
use super::resume::{self, Done, DoneScan, Resume, Saver};
use crate::config::Config;
use crate::site::{Agents, RobotsPolicy, Site};

use sitepatrol_core::clock::unix_now;
use sitepatrol_core::filing::checks::SiteFiling;
use sitepatrol_core::finding::{Finding, crawl_finding};
use sitepatrol_core::rules::Ruleset;
use sitepatrol_core::scan::{ScanOptions, Scanner};
use sitepatrol_crawl::crawl::checkpoint::PassState;
use sitepatrol_crawl::crawl::probe::{ProbeReport, Sample};
use sitepatrol_crawl::crawl::{CrawlConfig, CrawlEvent, CrawlStats, Crawler, Scope};
use sitepatrol_crawl::fetch::connect::Connector;
use sitepatrol_crawl::fetch::politeness::HostGate;
use sitepatrol_crawl::fetch::{Agent, FetchConfig, Fetcher, ResolveOverride};
use sitepatrol_server::metrics::{Metrics, status_result};
use sitepatrol_store::{
    CrawlOutcome, CrawlRun, IngestOutcome, IngestPage, LeaseRelease, PageScan, PageState, Store,
    Timestamp,
};

/// What every crawl shares.
pub struct Shared {
    pub store: Arc<dyn Store>,
    pub metrics: Arc<Metrics>,
    pub gate: Arc<HostGate>,
    pub config: Config,
    /// The ruleset serving now and its version, swapped together on reload so a crawl never
    /// matches with one and records the other.
    pub rules: RwLock<(Arc<Ruleset>, String)>,
    /// Set by ingests; the gauge refresher reads the store's counts again when it is.
    pub gauges_dirty: AtomicBool,
    pub filing: Option<Arc<FilingCheck>>,
    /// The render stage, when `[render]` is on.
    pub render: Option<Arc<RenderStage>>,
    /// This daemon's owner id: its site leases carry it.
    pub owner: Arc<str>,
}

impl Shared {
    pub fn current_rules(&self) -> (Arc<Ruleset>, String) {
        let guard = self.rules.read().unwrap_or_else(|e| e.into_inner());
        (guard.0.clone(), guard.1.clone())
    }
}

/// How a crawl went.
#[derive(Debug)]
pub struct CrawlReport {
    pub outcome: CrawlOutcome,
    pub pages: usize,
    pub ingest: IngestOutcome,
}

/// What one URL amounted to over the agents of a crawl.
struct Merged {
    url: String,
    /// How far from the start page the crawl found it (the first agent's).
    depth: u32,
    status: u16,
    fetched_at: Timestamp,
    sha256: String,
    etag: Option<String>,
    last_modified: Option<String>,
    ip: Option<String>,
    body: Option<Vec<u8>>,
    /// The render stage's screenshot, when the page was rendered.
    screenshot: Option<Vec<u8>>,
    scan: Scan,
    /// The links followed from the page, kept for a later 304 (`None`: not known).
    links: Option<Vec<String>>,
}

enum Scan {
    Matched(Vec<Finding>),
    /// Matched, but the fetch proves nothing about what is gone (see `PageScan::Partial`).
    Partial(Vec<Finding>),
    Unchanged,
    NotScanned,
}

#[derive(Default)]
struct Collected {
    order: Vec<String>,
    pages: HashMap<String, Merged>,
    start_failed: bool,
    /// Findings about the site as a whole (robots.txt shuts the crawler out).
    site_findings: Vec<Finding>,
    /// The start URL, and the filing numbers and services of every page.
    start: String,
    filing: Option<SiteFiling>,
    /// The pages the cloaking probes will fetch again, and what they found.
    sample: Sample,
    probes: Vec<ProbeReport>,
    /// The URL the start page ended at (after redirects), once fetched.
    home: Option<String>,
    /// Keep the start page's body even without findings: the render stage may find some.
    keep_home_body: bool,
    /// Pages taken without reading a body (304s, pages done before a resume): the filing
    /// checks saw none of their numbers, so they judge the site on a partial read.
    unread: usize,
}

impl Collected {
    /// Collecting a crawl from `start`, with the pages' filing numbers when `filing` is on,
    /// and a sample of `probe_pages` pages for the cloaking probes.
    fn new(start: &Url, filing: bool, probe_pages: usize) -> Collected {
        Collected {
            start: start.to_string(),
            sample: Sample::new(probe_pages),
            filing: filing.then(|| {
                SiteFiling::new(
                    start.host_str().unwrap_or_default().to_string(),
                    start.to_string(),
                )
            }),
            ..Collected::default()
        }
    }

    /// How the crawl ended, `interrupted` or not, with these statistics.
    fn outcome(&self, interrupted: bool, stats: &CrawlStats) -> CrawlOutcome {
        let budget_hit = stats
            .skipped
            .iter()
            .any(|(reason, n)| reason.is_budget() && *n > 0);
        if interrupted {
            CrawlOutcome::Interrupted
        } else if self.start_failed && self.pages.is_empty() {
            CrawlOutcome::Failed
        } else if budget_hit {
            CrawlOutcome::Budget
        } else {
            CrawlOutcome::Completed
        }
    }

    fn add(&mut self, event: CrawlEvent, metrics: &Metrics) {
        match event {
            CrawlEvent::Page(mut report) => {
                if report.not_modified() {
                    conditional::offer_to_sample(&mut self.sample, &report, &self.start);
                } else {
                    self.sample.offer_page(&report, &self.start);
                }
                if let (Some(filing), Some(page)) = (&mut self.filing, &report.filing) {
                    let is_home = report.depth == 0 && report.url == self.start;
                    filing.add_page(&report.url, is_home, page);
                }
                metrics
                    .pages_fetched
                    .with_label_values(&[status_result(report.status)])
                    .inc();
                metrics
                    .fetch_duration
                    .observe(report.fetch_duration.as_secs_f64());
                metrics.fetched_bytes.inc_by(report.bytes as u64);
                if report.budget_ran_out {
                    metrics.scan_budget_hits.inc();
                }
                if report.not_modified() {
                    metrics.pages_not_modified.inc();
                    self.unread += 1;
                }
                // Links of a cut body are only some of the page's: not worth remembering.
                let links = (report.scanned && report.complete)
                    .then(|| conditional::links_to_store(std::mem::take(&mut report.links)))
                    .flatten();
                let scan = if !report.scanned {
                    Scan::NotScanned
                } else if !report.matched {
                    metrics.pages_unchanged.inc();
                    Scan::Unchanged
                } else if report.proves_absence() {
                    Scan::Matched(report.findings)
                } else {
                    Scan::Partial(report.findings)
                };
                let has_findings =
                    matches!(&scan, Scan::Matched(f) | Scan::Partial(f) if !f.is_empty());
                let is_home = report.depth == 0;
                if is_home {
                    self.home = Some(report.final_url.clone());
                }
                let matched = matches!(&scan, Scan::Matched(_) | Scan::Partial(_));
                let keep_body = has_findings || (is_home && matched && self.keep_home_body);
                let page = Merged {
                    url: report.final_url,
                    depth: report.depth,
                    status: report.status,
                    fetched_at: unix_now(),
                    sha256: report.content_sha256,
                    etag: report.etag,
                    last_modified: report.last_modified,
                    ip: report.remote_addr,
                    // Bodies are evidence only where something was found; the rest is dropped
                    // here so a long crawl does not hold every page in memory.
                    body: keep_body.then_some(report.body),
                    screenshot: None,
                    scan,
                    links,
                };
                self.merge(page);
            }
            CrawlEvent::FetchFailed {
                depth, error, url, ..
            } => {
                metrics
                    .pages_fetched
                    .with_label_values(&[error.class.as_str()])
                    .inc();
                if depth == 0 {
                    self.start_failed = true;
                    warn!(url = %url, error = %error.message, class = error.class.as_str(), "start page not fetched");
                }
            }
            CrawlEvent::SiteFinding(finding) => {
                info!(rule = %finding.rule, detail = %finding.matched, "site-level finding");
                self.site_findings.push(finding);
            }
            CrawlEvent::Probed(report) => {
                let result = if !report.cloaked.is_empty() {
                    "cloaked"
                } else if report.complete() {
                    "clean"
                } else {
                    "incomplete"
                };
                metrics.probed_pages.with_label_values(&[result]).inc();
                if !report.cloaked.is_empty() {
                    info!(url = %report.url, probes = ?report.cloaked, "the page cloaks");
                }
                self.probes.push(*report);
            }
            // Saved by the crawl's `Saver`, which needs the pages collected so far.
            CrawlEvent::Checkpoint(_) => {}
        }
    }

    /// A URL seen by two agents is one page. The first agent never skips matching when there
    /// are two, so an `Unchanged` second sighting always has the content of a matched first
    /// one, and the union of the matched findings is everything there is on the URL.
    fn merge(&mut self, page: Merged) {
        let Some(existing) = self.pages.get_mut(&page.url) else {
            self.order.push(page.url.clone());
            self.pages.insert(page.url.clone(), page);
            return;
        };
        // One partial sighting makes the page partial: absence needs every agent's whole read.
        let partial = matches!(page.scan, Scan::Partial(_));
        match (&mut existing.scan, page.scan) {
            (
                Scan::Matched(mine) | Scan::Partial(mine),
                Scan::Matched(theirs) | Scan::Partial(theirs),
            ) => {
                let found = !theirs.is_empty();
                mine.extend(theirs);
                if partial && let Scan::Matched(mine) = &mut existing.scan {
                    existing.scan = Scan::Partial(std::mem::take(mine));
                }
                // The stored copy and the hash it is filed under must be the same fetch's:
                // the desktop and mobile bodies differ on sites that serve each its own page.
                if existing.body.is_none() && found {
                    existing.body = page.body;
                    existing.sha256 = page.sha256;
                }
            }
            (Scan::Matched(_) | Scan::Partial(_), Scan::Unchanged | Scan::NotScanned) => {}
            (Scan::Unchanged, Scan::Unchanged | Scan::NotScanned) => {}
            (Scan::NotScanned, Scan::NotScanned) => {}
            (_, theirs) => {
                existing.scan = theirs;
                existing.body = page.body;
                existing.sha256 = page.sha256;
                existing.status = page.status;
                existing.links = page.links;
            }
        }
    }

    /// The pages to render: the home page, then the flagged pages in crawl order, up to
    /// `max`. Only pages matched in this crawl: an unchanged page keeps its flags (rendered
    /// ones included) as they are, like its other flags.
    fn render_targets(&self, max: usize) -> Vec<(String, Url)> {
        let matched = |url: &str, flagged: bool| {
            self.pages.get(url).is_some_and(|p| match &p.scan {
                Scan::Matched(f) | Scan::Partial(f) => !flagged || !f.is_empty(),
                _ => false,
            })
        };
        let home = self.home.iter().filter(|u| matched(u, false));
        let flagged = self
            .order
            .iter()
            .filter(|u| Some(*u) != self.home.as_ref() && matched(u, true));
        home.chain(flagged)
            .filter_map(|u| Some((u.clone(), Url::parse(u).ok()?)))
            .take(max)
            .collect()
    }

    /// A rendered page's findings join the page's, and its screenshot goes with its copy.
    fn add_render(&mut self, url: &str, render: PageRender) {
        let Some(page) = self.pages.get_mut(url) else {
            return;
        };
        if let Scan::Matched(findings) | Scan::Partial(findings) = &mut page.scan {
            findings.extend(render.findings);
            page.screenshot = Some(render.png);
        }
    }

    /// Put pages a resumed crawl had done back (see `resume`).
    fn restore(&mut self, done: Vec<Done>) {
        self.unread += done.len();
        for d in done {
            self.merge(Merged {
                url: d.url,
                depth: d.depth,
                status: d.status,
                fetched_at: d.fetched_at,
                sha256: d.sha256,
                etag: d.etag,
                last_modified: d.last_modified,
                ip: d.ip,
                body: None,
                screenshot: None,
                scan: match d.scan {
                    DoneScan::Matched => Scan::Matched(Vec::new()),
                    DoneScan::Partial => Scan::Partial(Vec::new()),
                    DoneScan::Unchanged => Scan::Unchanged,
                    DoneScan::NotScanned => Scan::NotScanned,
                },
                links: d.links,
            });
        }
    }

    /// What a checkpoint keeps of the pages so far: those with nothing to report are done;
    /// the start page and the pages with findings go back into `pass`'s queue, to be fetched
    /// again by a resumed crawl (see `resume`).
    fn done_pages(&self, pass: &mut PassState) -> Vec<Done> {
        let mut done = Vec::new();
        for page in self.order.iter().filter_map(|u| self.pages.get(u)) {
            if page.depth == 0 {
                continue;
            }
            let scan = match &page.scan {
                Scan::Matched(f) if f.is_empty() => DoneScan::Matched,
                Scan::Partial(f) if f.is_empty() => DoneScan::Partial,
                Scan::Unchanged => DoneScan::Unchanged,
                Scan::NotScanned => DoneScan::NotScanned,
                Scan::Matched(_) | Scan::Partial(_) => {
                    pass.queue_first(page.url.clone(), page.depth);
                    continue;
                }
            };
            done.push(Done {
                url: page.url.clone(),
                depth: page.depth,
                status: page.status,
                fetched_at: page.fetched_at,
                sha256: page.sha256.clone(),
                etag: page.etag.clone(),
                last_modified: page.last_modified.clone(),
                ip: page.ip.clone(),
                scan,
                links: page.links.clone(),
            });
        }
        if self.pages.values().any(|p| p.depth == 0) {
            pass.queue_first(self.start.clone(), 0);
        }
        done
    }

    fn into_ingest(self) -> Vec<IngestPage> {
        let mut pages = self.pages;
        self.order
            .into_iter()
            .filter_map(|url| pages.remove(&url))
            .map(|p| IngestPage {
                url: p.url,
                http_status: Some(p.status),
                fetched_at: p.fetched_at,
                content_sha256: p.sha256,
                etag: p.etag,
                last_modified: p.last_modified,
                ip: p.ip,
                body: p.body,
                screenshot: p.screenshot,
                links: p.links,
                scan: match p.scan {
                    Scan::Matched(findings) => PageScan::Matched(findings),
                    Scan::Partial(findings) => PageScan::Partial(findings),
                    Scan::Unchanged => PageScan::Unchanged,
                    Scan::NotScanned => PageScan::NotScanned,
                },
            })
            .collect()
    }
}

/// The addresses a site's `allow_private_networks` covers: its own origin and nothing else.
/// With an `origin`, that address; otherwise what its domains resolve to now, at the start of
/// the crawl. Each on the site's port, and on 80 and 443 when the site names no port (a
/// plain-HTTP site that redirects to HTTPS).
async fn own_addresses(config: &Config, site: &Site) -> Vec<SocketAddr> {
    let allowed = site
        .allow_private_networks
        .unwrap_or(config.crawl.allow_private_networks);
    if !allowed {
        return Vec::new();
    }
    let ports: Vec<u16> = match site.port {
        Some(port) => vec![port],
        None => vec![site.effective_port(), 80, 443],
    };
    let mut ips: Vec<IpAddr> = Vec::new();
    match site.origin {
        Some(ip) => ips.push(ip),
        None => {
            for domain in &site.domains {
                let lookup = tokio::net::lookup_host((domain.as_str(), site.effective_port()));
                if let Ok(Ok(found)) =
                    tokio::time::timeout(config.times.connect_timeout, lookup).await
                {
                    ips.extend(found.map(|a| a.ip()));
                }
            }
        }
    }
    let mut out: Vec<SocketAddr> = Vec::new();
    for ip in ips {
        for port in &ports {
            let addr = SocketAddr::new(ip, *port);
            if !out.contains(&addr) {
                out.push(addr);
            }
        }
    }
    out
}

fn fetcher_for(config: &Config, site: &Site, own: Vec<SocketAddr>) -> Fetcher {
    let crawl = &config.crawl;
    let defaults = FetchConfig::default();
    let port = site.effective_port();
    let resolve = match site.origin {
        Some(addr) => site
            .domains
            .iter()
            .map(|host| ResolveOverride {
                host: host.clone(),
                port,
                addr,
            })
            .collect(),
        None => Vec::new(),
    };
    Fetcher::new(FetchConfig {
        connect_timeout: config.times.connect_timeout,
        first_byte_timeout: config.times.first_byte_timeout,
        total_timeout: config.times.timeout,
        max_body_bytes: crawl.max_body_size,
        max_redirects: crawl.max_redirects,
        user_agent_desktop: crawl
            .user_agent_desktop
            .clone()
            .unwrap_or(defaults.user_agent_desktop.clone()),
        user_agent_mobile: crawl
            .user_agent_mobile
            .clone()
            .unwrap_or(defaults.user_agent_mobile.clone()),
        // The allowance is the site's own origin addresses, never the private ranges: links,
        // redirects, iframes and sitemaps elsewhere on the provider's network stay refused.
        allow_private_networks: false,
        allowed_addresses: own,
        resolve,
        ..defaults
    })
}

fn crawl_config(config: &Config, site: &Site) -> CrawlConfig {
    let crawl = &config.crawl;
    let scope = if site.domains.len() > 1 {
        Scope::Hosts(site.domains[1..].to_vec())
    } else {
        Scope::Host
    };
    CrawlConfig {
        scope,
        max_depth: site.max_depth.unwrap_or(crawl.max_depth),
        max_pages: site.max_pages.unwrap_or(crawl.max_pages),
        max_bytes: site.max_bytes.unwrap_or(crawl.max_bytes),
        max_wall_time: config.times.crawl_max_time,
        concurrency: crawl.per_site_concurrency,
        respect_robots: site.robots.unwrap_or(crawl.robots) == RobotsPolicy::Obey,
        use_sitemaps: crawl.sitemaps,
        traps: crawl.traps.limits(),
        scripts: crawl.scripts.limits(),
        max_retries: crawl.retries,
        backoff_base: std::time::Duration::from_millis(500),
        backoff_cap: std::time::Duration::from_secs(60),
    }
}

/// Why a crawl committed nothing: the site is tried again soon.
#[derive(Debug, thiserror::Error)]
pub enum CrawlError {
    #[error("the ingest task failed: {0}")]
    IngestTask(tokio::task::JoinError),
    #[error(transparent)]
    Store(#[from] sitepatrol_store::StoreError),
    #[error("the crawl task failed: {0}")]
    Task(tokio::task::JoinError),
}

/// Crawl `site` with every agent it asks for, then commit everything in one ingest. When
/// `cancel` turns true (shutdown past its grace), the crawl stops and what it fetched so far
/// is committed as an `interrupted` run.
pub async fn crawl_site(
    shared: Arc<Shared>,
    site: Site,
    start: Url,
    mut cancel: watch::Receiver<bool>,
) -> Result<CrawlReport, CrawlError> {
    let clock = Instant::now();
    let (ruleset, rules_version) = shared.current_rules();
    let resume = resume::load(shared.store.clone(), &site.id, &start, &rules_version).await;
    let (run_key, started_at) = match &resume {
        Some(r) => {
            shared.metrics.crawls_resumed.inc();
            (r.run_key.clone(), r.started_at)
        }
        None => (
            format!(
                "{}:{}:{:08x}",
                site.id,
                sitepatrol_core::clock::now_ms(),
                fastrand::u32(..)
            ),
            unix_now(),
        ),
    };
    let saver = Saver::start(
        shared.store.clone(),
        &site.id,
        shared.config.times.checkpoint_interval,
        (&run_key, started_at),
        &start,
        &rules_version,
    );
    let states = Arc::new(page_states(&shared, &site).await);
    let (base, connector) = base_crawler(&shared, &site, ruleset.clone()).await;
    let (mut collected, mut stats, interrupted) = crawl_passes(
        &shared,
        &base,
        &site,
        &start,
        &states,
        &rules_version,
        (resume, &saver),
        &mut cancel,
    )
    .await;
    if let (Some(stage), false) = (&shared.render, interrupted) {
        render_stage(
            stage,
            connector,
            ruleset,
            &mut collected,
            &mut cancel,
            &shared.metrics,
        )
        .await;
    }
    // The last checkpoint is written before the record that deletes it.
    saver.finish().await;
    stats.duration_s = clock.elapsed().as_secs_f64();

    let outcome = collected.outcome(interrupted, &stats);
    // Filing is judged on what a whole crawl saw: not after a cut or failed one.
    let site_filing = collected.filing.take();
    let (traps, site_findings): (Vec<Finding>, Vec<Finding>) =
        std::mem::take(&mut collected.site_findings)
            .into_iter()
            .partition(|f| &*f.rule == sitepatrol_crawl::crawl::TRAP_SUSPECTED);
    let probe_reports = std::mem::take(&mut collected.probes);
    let unread = collected.unread;
    let mut pages = collected.into_ingest();
    let page_count = pages.len();
    mark_unreadable(&mut pages, &states);
    let flag_cap = cap_to_max_flags(&shared, &start, &mut pages);
    // Findings about the site as a whole are flags on pseudo-pages: `<start>#limits` for a crawl
    // over the flag cap, `<start>#robots` for a site that shuts the crawler out (it went
    // unseen), `<start>#traps` for URL traps left unfetched. A whole crawl without them
    // resolves them (a pseudo-page is only sent once it exists).
    for (anchor, findings) in [
        ("limits", flag_cap),
        ("robots", site_findings),
        ("traps", traps),
    ] {
        let url = format!("{start}#{anchor}");
        if !findings.is_empty() || (outcome == CrawlOutcome::Completed && states.contains_key(&url))
        {
            pages.push(site_pseudo_page(url, findings));
        }
    }
    pages.extend(probe_pages(probe_reports, &states));
    let mut filing_status = None;
    if let (Some(check), Some(site_filing), true) =
        (&shared.filing, site_filing, outcome.saw_the_site())
    {
        let (mut page, status) = filing_page(check, &site, &site_filing, &start).await;
        // Pages taken from a 304 showed no numbers: what the checks did not find may be on
        // them, so nothing resolves (see `conditional`).
        if unread > 0
            && let PageScan::Matched(findings) = &mut page.scan
        {
            page.scan = PageScan::Partial(std::mem::take(findings));
        }
        pages.push(page);
        filing_status = Some(status);
    }
    // The lease ends with the run, in its transaction, with the next due time: an interval
    // (± jitter) after the end.
    let finished_ms = sitepatrol_core::clock::now_ms();
    let interval = site.interval.unwrap_or(shared.config.times.interval);
    let release = LeaseRelease {
        owner: shared.owner.to_string(),
        next_due: super::lease::next_due(finished_ms, interval, shared.config.schedule.jitter),
    };
    let run = CrawlRun {
        key: run_key,
        site: site.id.to_string(),
        started_at,
        finished_at: (finished_ms / 1000) as Timestamp,
        outcome,
        rules_version,
        stats: serde_json::to_value(&stats).unwrap_or(serde_json::Value::Null),
        release: Some(release),
    };
    let store = shared.store.clone();
    let ingest = tokio::task::spawn_blocking(move || store.record_crawl(&run, &pages))
        .await
        .map_err(CrawlError::IngestTask)??;
    if let Some(status) = filing_status {
        record_filing_status(&shared, &site, status).await;
    }
    count_committed(&shared, &ingest, outcome, clock);
    Ok(CrawlReport {
        outcome,
        pages: page_count,
        ingest,
    })
}

/// Crawl as each agent the site asks for, in turn, until done or cancelled; the first pass
/// from `resume` when there is one, saving checkpoints with `saver`. Returns what the passes
/// collected, their statistics, and whether they were cut short.
#[allow(clippy::too_many_arguments)]
async fn crawl_passes(
    shared: &Shared,
    base: &Crawler,
    site: &Site,
    start: &Url,
    states: &Arc<HashMap<String, PageState>>,
    rules_version: &str,
    (resume, saver): (Option<Resume>, &Saver),
    cancel: &mut watch::Receiver<bool>,
) -> (Collected, CrawlStats, bool) {
    let agents: &[Agent] = match site.agents.unwrap_or(shared.config.crawl.agents) {
        Agents::Desktop => &[Agent::Desktop],
        Agents::Mobile => &[Agent::Mobile],
        Agents::Both => &[Agent::Desktop, Agent::Mobile],
    };
    let probes = shared.config.probes.as_ref();
    let mut collected = Collected::new(
        start,
        shared.filing.is_some(),
        probes.map_or(0, |p| p.sample_pages),
    );
    collected.keep_home_body = shared.render.is_some();
    let mut stats = CrawlStats::default();
    let mut interrupted = false;
    let mut resume_from = resume.map(|r| {
        let (pass, done) = r.into_parts();
        collected.restore(done);
        pass
    });
    let recall = conditional::recall(states, rules_version, start, agents.len());
    for (pass, agent) in agents.iter().enumerate() {
        let check = unchanged_check(states, rules_version, pass, agents.len(), &collected);
        let mut crawler = match check {
            Some(check) => base.clone().with_unchanged_check(check),
            None => base.clone(),
        };
        if let Some(recall) = &recall {
            crawler = crawler.with_recall(recall.clone());
        }
        // Only the first pass saves checkpoints and resumes (see `resume`).
        if pass == 0 {
            crawler = crawler.with_checkpoints(saver.every());
            if let Some(state) = resume_from.take() {
                crawler = crawler.resuming(state);
            }
        }
        let metrics = shared.metrics.clone();
        let pass_stats = {
            let mut on_event = |event: CrawlEvent| match event {
                CrawlEvent::Checkpoint(mut state) => {
                    let done = collected.done_pages(&mut state);
                    saver.save(*state, done);
                }
                event => collected.add(event, &metrics),
            };
            until_cancelled(crawler.crawl(start, *agent, &mut on_event), cancel).await
        };
        match pass_stats {
            Some(s) => stats.merge(&s),
            None => {
                interrupted = true;
                break;
            }
        }
    }
    if let Some(probes) = probes
        && !interrupted
        && !collected.start_failed
    {
        let pages = collected.sample.pages(start);
        let metrics = shared.metrics.clone();
        let probe_stats = {
            let mut on_event = |event: CrawlEvent| collected.add(event, &metrics);
            until_cancelled(base.probe(start, &pages, probes, &mut on_event), cancel).await
        };
        match probe_stats {
            Some(s) => stats.merge(&s),
            None => interrupted = true,
        }
    }
    (collected, stats, interrupted)
}

/// `work`'s result, or `None` when `cancel` turns true first (shutdown past its grace): every
/// stage of a crawl stops the same way.
async fn until_cancelled<T>(
    work: impl std::future::Future<Output = T>,
    cancel: &mut watch::Receiver<bool>,
) -> Option<T> {
    tokio::select! {
        done = work => Some(done),
        _ = cancel.wait_for(|stop| *stop) => None,
    }
}

/// The cloaking probes' pseudo-pages, `<page>#cloaking`: a page that cloaks gets its
/// findings and both versions as the stored copy; a page whose probes all ran and showed
/// nothing resolves what an earlier crawl found there (only once that pseudo-page exists).
fn probe_pages(probes: Vec<ProbeReport>, states: &HashMap<String, PageState>) -> Vec<IngestPage> {
    let mut out = Vec::new();
    for report in probes {
        let url = format!("{}#cloaking", report.url);
        if !report.findings.is_empty() {
            let mut page = site_pseudo_page(url, report.findings);
            if let Some(evidence) = report.evidence {
                page.content_sha256 = sitepatrol_core::digest::sha256_hex(&evidence);
                page.body = Some(evidence);
            }
            out.push(page);
        } else if report.complete() && states.contains_key(&url) {
            out.push(site_pseudo_page(url, Vec::new()));
        }
    }
    out
}

/// What the store knows of the site's pages, to skip matching what did not change.
async fn page_states(shared: &Shared, site: &Site) -> HashMap<String, PageState> {
    let store = shared.store.clone();
    let id = site.id.to_string();
    match tokio::task::spawn_blocking(move || store.page_states(&id)).await {
        Ok(Ok(states)) => states.into_iter().collect(),
        // Without the page states every page is matched again: slower, never wrong.
        Ok(Err(e)) => {
            warn!(error = %e, "cannot read the page states; matching every page");
            HashMap::new()
        }
        Err(e) => {
            warn!(error = %e, "cannot read the page states; matching every page");
            HashMap::new()
        }
    }
}

/// The crawler of every pass: the site's fetcher and limits, `ruleset`, and the filing
/// detector when the filing checks are on.
/// The site's crawler, and the connector of its fetcher (the render stage's network policy).
async fn base_crawler(shared: &Shared, site: &Site, ruleset: Arc<Ruleset>) -> (Crawler, Connector) {
    let scanner = Scanner::new(
        ruleset,
        ScanOptions {
            max_file_size: shared.config.crawl.max_body_size as u64,
            scan_budget: Some(shared.config.times.scan_budget),
        },
    );
    let own = own_addresses(&shared.config, site).await;
    let fetcher = fetcher_for(&shared.config, site, own);
    let connector = fetcher.connector();
    let base = Crawler::new(
        fetcher,
        shared.gate.clone(),
        scanner,
        crawl_config(&shared.config, site),
    );
    let base = match &shared.filing {
        Some(filing) => base.with_filing(filing.detector.clone()),
        None => base,
    };
    (base, connector)
}

/// After the crawl passes: render the home page and flagged pages, and add what the browser
/// showed to their findings. A shutdown stops it; the crawl is then committed without it.
async fn render_stage(
    stage: &RenderStage,
    connector: Connector,
    ruleset: Arc<Ruleset>,
    collected: &mut Collected,
    cancel: &mut watch::Receiver<bool>,
    metrics: &Metrics,
) {
    let urls = collected.render_targets(stage.max_pages);
    if urls.is_empty() {
        return;
    }
    let count = urls.len();
    let render = render_and_scan(stage, connector, ruleset, urls);
    let Some(rendered) = until_cancelled(render, cancel).await else {
        return;
    };
    let found: usize = rendered.iter().map(|(_, r)| r.findings.len()).sum();
    let rendered_pages = &metrics.rendered_pages;
    rendered_pages
        .with_label_values(&["ok"])
        .inc_by(rendered.len() as u64);
    rendered_pages
        .with_label_values(&["failed"])
        .inc_by(count.saturating_sub(rendered.len()) as u64);
    info!(
        pages = count,
        rendered = rendered.len(),
        findings = found,
        "render stage done"
    );
    for (url, render) in rendered {
        collected.add_render(&url, render);
    }
}

/// Keep the pages under `crawl.max_flags_per_crawl`; the finding that says the cap was hit,
/// if it was.
fn cap_to_max_flags(shared: &Shared, start: &Url, pages: &mut [IngestPage]) -> Vec<Finding> {
    let max_flags = shared.config.crawl.max_flags_per_crawl;
    match cap_flags(pages, max_flags) {
        Some(cap) => {
            shared.metrics.flag_cap_hits.inc();
            warn!(
                flags = cap.flags,
                max = max_flags,
                pages = cap.pages_dropped,
                "more flags than crawl.max_flags_per_crawl; pages past the cap not recorded"
            );
            vec![flag_cap_finding(start, &cap, max_flags)]
        }
        None => Vec::new(),
    }
}

/// The site's filing checks as the `<start>#filing` pseudo-page, with its filing status.
async fn filing_page(
    check: &FilingCheck,
    site: &Site,
    site_filing: &SiteFiling,
    start: &Url,
) -> (IngestPage, &'static str) {
    let (record, findings) = check.check(site, site_filing).await;
    // The record is the evidence of the filing flags, kept like a page body.
    let evidence = serde_json::to_vec_pretty(&record).unwrap_or_default();
    let content_sha256 = sitepatrol_crawl::crawl::sha256_hex(&evidence);
    let body = (!findings.is_empty()).then_some(evidence);
    let page = IngestPage {
        content_sha256,
        ip: record.addresses.first().cloned(),
        body,
        ..site_pseudo_page(format!("{start}#filing"), findings)
    };
    (page, record.filing_status.as_str())
}

async fn record_filing_status(shared: &Shared, site: &Site, status: &'static str) {
    let store = shared.store.clone();
    let id = site.id.to_string();
    let at = unix_now();
    let set = tokio::task::spawn_blocking(move || store.set_filing_status(&id, status, at)).await;
    if !matches!(set, Ok(Ok(()))) {
        shared.metrics.store_errors.inc();
        warn!(status, "cannot record the filing status");
    }
}

/// Committed: now the crawl and its new flags may be counted.
fn count_committed(shared: &Shared, ingest: &IngestOutcome, outcome: CrawlOutcome, clock: Instant) {
    let metrics = &shared.metrics;
    for flag in &ingest.new {
        metrics
            .findings
            .with_label_values(&[flag.category.as_str(), flag.severity.as_str()])
            .inc();
    }
    metrics.crawls.with_label_values(&[outcome.as_str()]).inc();
    metrics
        .crawl_duration
        .observe(clock.elapsed().as_secs_f64());
    metrics
        .last_crawl_completed
        .set(sitepatrol_core::clock::now_ms() as f64 / 1000.0);
    shared.gauges_dirty.store(true, Ordering::SeqCst);
}

/// A page the store has read before that this crawl could not read whole (undeclared binary,
/// a content type that is not text, an error status, a cut body) gets a
/// `crawl.unreadable_page` info finding, so a reviewer sees why its flags stay as they were.
/// The page is `Partial`: nothing on it resolves, and the info flag resolves by itself once
/// a crawl reads the page again.
fn mark_unreadable(pages: &mut [IngestPage], states: &HashMap<String, PageState>) {
    for page in pages.iter_mut() {
        let read_before = states
            .get(&page.url)
            .is_some_and(|s| s.rules_version.is_some());
        if !read_before || !matches!(page.scan, PageScan::NotScanned | PageScan::Partial(_)) {
            continue;
        }
        // A page that already says why it was read in part (its scan budget ran out) needs
        // no second info flag: one problem, one item.
        if let PageScan::Partial(findings) = &page.scan
            && findings.iter().any(|f| &*f.category == "crawl")
        {
            continue;
        }
        let finding = unreadable_finding(page);
        match &mut page.scan {
            PageScan::Partial(findings) => findings.push(finding),
            _ => page.scan = PageScan::Partial(vec![finding]),
        }
    }
}

fn unreadable_finding(page: &IngestPage) -> Finding {
    let status = page
        .http_status
        .map_or_else(|| "no status".to_string(), |s| format!("HTTP {s}"));
    let what = format!(
        "fetched ({status}) but not read and scanned whole (an error status, a cut body, or \
         content that is not text): its flags are kept as they were"
    );
    crawl_finding(
        "crawl.unreadable_page",
        "页面无法读取：本次抓取未能检查该页面 (the page could not be read)",
        &page.url,
        what,
    )
}

/// How far a crawl went over `crawl.max_flags_per_crawl`.
struct FlagCap {
    /// Flags (page and category) the crawl found in all.
    flags: usize,
    /// Pages left unrecorded.
    pages_dropped: usize,
}

/// Keep whole pages, in crawl order, while their flags (one per page and category) fit under
/// `max`; every later page with findings becomes `NotScanned`, so this crawl neither opens
/// nor resolves anything on it and its content is matched again next time.
fn cap_flags(pages: &mut [IngestPage], max: usize) -> Option<FlagCap> {
    let mut kept = 0usize;
    let mut flags = 0usize;
    let mut pages_dropped = 0usize;
    for page in pages.iter_mut() {
        let n = match &page.scan {
            PageScan::Matched(f) | PageScan::Partial(f) => {
                let categories: std::collections::HashSet<&str> =
                    f.iter().map(|f| &*f.category).collect();
                categories.len()
            }
            _ => 0,
        };
        flags += n;
        if n == 0 {
            continue;
        }
        if pages_dropped == 0 && kept + n <= max {
            kept += n;
        } else {
            pages_dropped += 1;
            page.scan = PageScan::NotScanned;
            page.body = None;
        }
    }
    (pages_dropped > 0).then_some(FlagCap {
        flags,
        pages_dropped,
    })
}

/// A site-level pseudo-page (`<start>#robots`, `<start>#limits`, `<start>#filing`): no fetch
/// behind it, only the findings about the site it carries, and resolving them when it carries
/// none.
fn site_pseudo_page(url: String, findings: Vec<Finding>) -> IngestPage {
    IngestPage {
        url,
        http_status: None,
        fetched_at: unix_now(),
        content_sha256: String::new(),
        etag: None,
        last_modified: None,
        ip: None,
        body: None,
        screenshot: None,
        scan: PageScan::Matched(findings),
        links: None,
    }
}

fn flag_cap_finding(start: &Url, cap: &FlagCap, max: usize) -> Finding {
    let what = format!(
        "{} flags found, over the cap of {max} per crawl: {} page(s) with findings were not \
         recorded",
        cap.flags, cap.pages_dropped
    );
    crawl_finding(
        "crawl.flag_cap",
        "本次抓取的标记数超过上限：部分页面未记录 (flags over the crawl cap)",
        start.as_str(),
        what,
    )
}

/// The skip rule for one pass. With two agents the first never skips (see [`Collected::merge`])
/// and the second skips only content the first saw identical, on a URL the store already
/// matched with these rules.
fn unchanged_check(
    states: &Arc<HashMap<String, PageState>>,
    rules_version: &str,
    pass: usize,
    passes: usize,
    collected: &Collected,
) -> Option<sitepatrol_crawl::crawl::UnchangedCheck> {
    if states.is_empty() || (passes > 1 && pass == 0) {
        return None;
    }
    let first_pass: Option<Arc<HashMap<String, String>>> = (pass > 0).then(|| {
        Arc::new(
            collected
                .pages
                .iter()
                .map(|(url, p)| (url.clone(), p.sha256.clone()))
                .collect(),
        )
    });
    let states = states.clone();
    let version = rules_version.to_string();
    Some(Arc::new(move |url: &str, sha256: &str| {
        let known = states.get(url).is_some_and(|s| {
            s.content_sha256.as_deref() == Some(sha256)
                && s.rules_version.as_deref() == Some(version.as_str())
        });
        let same_as_first = match &first_pass {
            Some(first) => first.get(url).is_some_and(|h| h == sha256),
            None => true,
        };
        known && same_as_first
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sitepatrol_core::finding::Severity;

    fn finding(rule: &str) -> Finding {
        Finding {
            record_type: Finding::RECORD_TYPE,
            rule: rule.into(),
            category: "gambling".into(),
            clause: "§2(7)".into(),
            severity: Severity::High,
            description: "d".into(),
            target: "http://a.test/".into(),
            zone: None,
            matched: "m".into(),
            normalized: "m".into(),
            snippet: "m".into(),
            offset: 0,
            count: 1,
            score: None,
            signals: Vec::new(),
            signals_omitted: 0,
        }
    }

    fn page(scan: Scan, sha: &str) -> Merged {
        let body = matches!(&scan, Scan::Matched(f) | Scan::Partial(f) if !f.is_empty())
            .then(|| b"body".to_vec());
        Merged {
            url: "http://a.test/".into(),
            depth: 1,
            status: 200,
            fetched_at: 1,
            sha256: sha.into(),
            etag: None,
            last_modified: None,
            ip: None,
            body,
            screenshot: None,
            scan,
            links: None,
        }
    }

    /// The render stage takes the home page first (matched, flagged or not), then flagged
    /// pages in crawl order, never unchanged or unscanned ones, up to the maximum; what it
    /// found joins the page's findings and its screenshot goes with the page.
    #[test]
    fn render_targets_and_results() {
        let mut c = Collected::default();
        let at = |url: &str, scan: Scan| Merged {
            url: url.into(),
            ..page(scan, "sha")
        };
        c.merge(at("http://a.test/clean", Scan::Matched(vec![])));
        c.merge(at("http://a.test/f1", Scan::Matched(vec![finding("r.1")])));
        c.merge(at("http://a.test/same", Scan::Unchanged));
        c.merge(at("http://a.test/f2", Scan::Partial(vec![finding("r.2")])));
        c.merge(at("http://a.test/", Scan::Matched(vec![])));
        c.home = Some("http://a.test/".into());
        let keys = |c: &Collected, max| -> Vec<String> {
            c.render_targets(max).into_iter().map(|(k, _)| k).collect()
        };
        assert_eq!(
            keys(&c, 5),
            ["http://a.test/", "http://a.test/f1", "http://a.test/f2"]
        );
        assert_eq!(keys(&c, 2), ["http://a.test/", "http://a.test/f1"]);
        c.home = Some("http://a.test/same".into());
        assert_eq!(keys(&c, 5), ["http://a.test/f1", "http://a.test/f2"]);

        let png = b"\x89PNG".to_vec();
        let render = PageRender {
            findings: vec![finding("r.rendered")],
            png: png.clone(),
        };
        c.add_render("http://a.test/", render);
        let home = c.pages.get("http://a.test/").unwrap();
        assert!(matches!(&home.scan, Scan::Matched(f) if f[0].rule.as_ref() == "r.rendered"));
        assert_eq!(home.screenshot.as_ref(), Some(&png));
        // Not for a page that was not matched: its flags carry over as they are.
        let render = PageRender {
            findings: vec![finding("r.rendered")],
            png,
        };
        c.add_render("http://a.test/same", render);
        assert!(c.pages["http://a.test/same"].screenshot.is_none());
    }

    fn merged(pages: Vec<Merged>) -> IngestPage {
        let mut c = Collected::default();
        for p in pages {
            c.merge(p);
        }
        let mut out = c.into_ingest();
        assert_eq!(out.len(), 1);
        out.remove(0)
    }

    fn rules(scan: &PageScan) -> Vec<String> {
        match scan {
            PageScan::Matched(f) | PageScan::Partial(f) => {
                f.iter().map(|f| f.rule.to_string()).collect()
            }
            other => vec![format!("{other:?}")],
        }
    }

    #[test]
    fn the_kept_body_is_filed_under_its_own_hash() {
        // Regression: a clean desktop page and a mobile page with findings kept the mobile
        // body under the desktop hash, which `store check` reports as a damaged body.
        let p = merged(vec![
            page(Scan::Matched(vec![]), "desktop"),
            page(Scan::Matched(vec![finding("mobile")]), "mobile"),
        ]);
        assert_eq!(rules(&p.scan), ["mobile"]);
        assert!(p.body.is_some());
        assert_eq!(p.content_sha256, "mobile");
    }

    #[test]
    fn two_agents_on_one_url_are_one_page_with_every_finding() {
        let p = merged(vec![
            page(Scan::Matched(vec![finding("desktop")]), "h1"),
            page(Scan::Matched(vec![finding("mobile")]), "h2"),
        ]);
        assert_eq!(rules(&p.scan), ["desktop", "mobile"]);
        assert!(p.body.is_some());
        assert_eq!(p.content_sha256, "h1");
    }

    #[test]
    fn an_unchanged_sighting_never_hides_a_matched_one() {
        let p = merged(vec![
            page(Scan::Matched(vec![finding("r")]), "h"),
            page(Scan::Unchanged, "h"),
        ]);
        assert_eq!(rules(&p.scan), ["r"]);
        let p = merged(vec![page(Scan::Unchanged, "h"), page(Scan::Unchanged, "h")]);
        assert_eq!(p.scan, PageScan::Unchanged);
        assert!(p.body.is_none());
    }

    #[test]
    fn a_page_not_scanned_by_one_agent_takes_the_other_agents_scan() {
        let p = merged(vec![
            page(Scan::NotScanned, "x"),
            page(Scan::Matched(vec![finding("r")]), "h"),
        ]);
        assert_eq!(rules(&p.scan), ["r"]);
        assert_eq!(p.content_sha256, "h");
        let p = merged(vec![
            page(Scan::NotScanned, "x"),
            page(Scan::NotScanned, "y"),
        ]);
        assert_eq!(p.scan, PageScan::NotScanned);
    }

    #[test]
    fn one_partial_sighting_makes_the_page_partial() {
        let p = merged(vec![
            page(Scan::Matched(vec![finding("desktop")]), "h1"),
            page(Scan::Partial(vec![finding("mobile")]), "h2"),
        ]);
        assert!(matches!(p.scan, PageScan::Partial(_)), "{:?}", p.scan);
        assert_eq!(rules(&p.scan), ["desktop", "mobile"]);
        let p = merged(vec![
            page(Scan::Partial(vec![]), "h1"),
            page(Scan::Matched(vec![]), "h1"),
        ]);
        assert_eq!(p.scan, PageScan::Partial(vec![]));
    }

    #[test]
    fn the_flag_cap_keeps_whole_pages_in_order_and_leaves_the_rest_unrecorded() {
        let mut pages: Vec<IngestPage> = (0..4)
            .map(|i| {
                let mut p = IngestPage::matched(
                    &format!("http://a.test/{i}"),
                    200,
                    1,
                    b"x",
                    vec![finding("a"), finding("b")],
                );
                if i == 1 {
                    p.scan = PageScan::Matched(Vec::new());
                }
                p
            })
            .collect();
        assert!(cap_flags(&mut pages.clone(), 10).is_none());
        let cap = cap_flags(&mut pages, 1).expect("over the cap");
        // Findings of one category are one flag: three pages of one flag each.
        assert_eq!((cap.flags, cap.pages_dropped), (3, 2));
        assert!(matches!(&pages[0].scan, PageScan::Matched(f) if f.len() == 2));
        assert_eq!(pages[1].scan, PageScan::Matched(Vec::new()));
        assert_eq!(pages[2].scan, PageScan::NotScanned);
        assert_eq!(pages[3].scan, PageScan::NotScanned);
        assert!(pages[3].body.is_none());
    }
}
