//! `sitepatrol scan URL...`: crawl sites and scan every page.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use sitepatrol_core::filing::checks::{
    CheckContext, Hosting, RegistryAnswer, SiteFiling, check_site,
};
use sitepatrol_core::filing::services::ServiceCatalog;
use sitepatrol_core::filing::{CsvRegistry, Detector, Registry};
use sitepatrol_core::finding::{Finding, Severity};
use sitepatrol_core::scan::Scanner;
use sitepatrol_crawl::crawl::probe::{ProbeConfig, Sample};
use sitepatrol_crawl::crawl::{
    CrawlConfig, CrawlEvent, CrawlStats, Crawler, Progress, Scope, ScriptLimits, TrapLimits,
};
use sitepatrol_crawl::fetch::politeness::{HostGate, PolitenessConfig};
use sitepatrol_crawl::fetch::{Agent, FetchConfig, Fetcher, ResolveOverride};
use sitepatrol_crawl::registry::{HttpRegistry, HttpRegistryConfig};
use url::Url;

use super::output::Output;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UserAgentChoice {
    Desktop,
    Mobile,
    /// Crawl twice: WAP/mobile sites often serve phones different content.
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScopeChoice {
    /// The start URL's host only.
    Host,
    /// Every host of the start URL's registrable domain.
    Domain,
}

/// Options for URL targets.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Crawling (URL targets)")]
pub struct CrawlArgs {
    /// Pages fetched per site at most.
    #[arg(long, default_value_t = 1000)]
    max_pages: usize,
    /// Link depth from the start page at most.
    #[arg(long, default_value_t = 20)]
    max_depth: u32,
    /// Body bytes fetched per site at most.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 30)]
    max_bytes: u64,
    /// Wall time per site at most, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 1800.0)]
    max_time: f64,
    /// Requests in flight at once, over all sites.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Requests in flight to one host at once.
    #[arg(long, default_value_t = 4)]
    per_host_concurrency: usize,
    /// Seconds between two requests to one host (robots.txt Crawl-delay can raise it).
    #[arg(long, value_name = "SECONDS", default_value_t = 0.0)]
    delay: f64,
    /// Do not fetch or obey robots.txt.
    #[arg(long)]
    ignore_robots: bool,
    /// Do not start from sitemap.xml and the sitemaps robots.txt names.
    #[arg(long)]
    no_sitemaps: bool,
    /// The user agent to crawl as.
    #[arg(long, value_enum, default_value = "desktop")]
    user_agent: UserAgentChoice,
    /// Which hosts belong to a site.
    #[arg(long, value_enum, default_value = "host")]
    scope: ScopeChoice,
    /// Also crawl this host as part of each site (repeatable).
    #[arg(long, value_name = "HOST")]
    scope_host: Vec<String>,
    /// Allow connections to loopback, private, link-local and other internal addresses.
    #[arg(long)]
    allow_private_networks: bool,
    /// Allow connections to this one address despite the guard (repeatable).
    #[arg(long, value_name = "IP:PORT")]
    allow_address: Vec<std::net::SocketAddr>,
    /// Connect to ADDR for HOST:PORT, sending HOST as Host and SNI (repeatable, like curl).
    #[arg(long, value_name = "HOST:PORT:ADDR")]
    resolve: Vec<ResolveOverride>,
    /// Accept invalid TLS certificates (expired, self-signed): their content still counts.
    #[arg(long)]
    insecure: bool,
    /// Also trust the CA certificates in this PEM file (repeatable).
    #[arg(long, value_name = "FILE")]
    ca_file: Vec<PathBuf>,
    /// The desktop User-Agent string.
    #[arg(long, value_name = "STRING")]
    desktop_user_agent: Option<String>,
    /// The mobile User-Agent string.
    #[arg(long, value_name = "STRING")]
    mobile_user_agent: Option<String>,
    /// Seconds to connect (and finish TLS).
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    connect_timeout: f64,
    /// Seconds from request to response headers.
    #[arg(long, value_name = "SECONDS", default_value_t = 20.0)]
    first_byte_timeout: f64,
    /// Seconds for a whole response.
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    timeout: f64,
    /// Body bytes kept per response, counted after decompression.
    #[arg(long, value_name = "BYTES", default_value_t = 10 << 20)]
    max_body_size: usize,
    /// Redirects followed per request.
    #[arg(long, default_value_t = 10)]
    max_redirects: usize,
    /// Retries after 429/503, with exponential back-off.
    #[arg(long, default_value_t = 3)]
    retries: u32,
    /// Longest back-off after 429/503, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    backoff_cap: f64,
    #[command(flatten)]
    traps: TrapArgs,
    /// Third-party scripts the pages load, fetched and scanned per site at most (each once;
    /// common libraries, analytics and ad networks never). The site's own scripts are always
    /// fetched.
    #[arg(long, value_name = "N", default_value_t = 0)]
    third_party_scripts: usize,
    /// After each crawl, fetch the start page and PAGES more again as search spiders and as
    /// visitors from search results pages, and flag `malware.cloaking` where they are shown
    /// other content or sent elsewhere. Without PAGES: 4.
    #[arg(long, value_name = "PAGES", num_args = 0..=1, default_missing_value = "4")]
    probe: Option<usize>,
    /// Write crawl statistics as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    stats_json: Option<PathBuf>,

    /// The provider's filing registry as CSV (domain, icp_number, owner, owner_nature,
    /// site_name, approved_at, licence_number, psb_number, restricted, services, permits).
    #[arg(
        long,
        value_name = "FILE",
        help_heading = "Filing checks (URL targets)"
    )]
    registry: Option<PathBuf>,
    /// An HTTP JSON filing lookup service: a URL with `{domain}` where the domain goes.
    #[arg(
        long,
        value_name = "URL",
        conflicts_with = "registry",
        help_heading = "Filing checks (URL targets)"
    )]
    registry_url: Option<String>,
    /// The provider's own networks; a domain resolving elsewhere is `not_hosted` and not
    /// flagged. Without any, every scanned domain counts as hosted.
    #[arg(
        long,
        value_name = "CIDR",
        help_heading = "Filing checks (URL targets)"
    )]
    hosted_network: Vec<ipnet::IpNet>,
    /// Regulated-service signals (default: the bundled rulesets/filing/services.toml).
    #[arg(
        long,
        value_name = "FILE",
        help_heading = "Filing checks (URL targets)"
    )]
    services: Option<PathBuf>,
    /// Skip the filing checks: no site records, no filing findings.
    #[arg(long, help_heading = "Filing checks (URL targets)")]
    no_filing: bool,
}

/// URL trap defences, as `[crawl.traps]` sets them for the daemon.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "URL traps (URL targets)")]
struct TrapArgs {
    /// Longest URL path crawled, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = TrapLimits::default().max_path_len, value_parser = positive)]
    max_path_len: usize,
    /// Longest query string crawled, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = TrapLimits::default().max_query_len, value_parser = positive)]
    max_query_len: usize,
    /// Times one path segment may occur; more is a loop (/a/b/a/b/a/b).
    #[arg(long, value_name = "N", default_value_t = TrapLimits::default().max_segment_repeats, value_parser = positive)]
    max_segment_repeats: usize,
    /// Query variants of one path and parameter-name set, however different their pages.
    #[arg(long, value_name = "N", default_value_t = TrapLimits::default().max_query_variants, value_parser = positive)]
    max_query_variants: usize,
    /// Fetched variants after which a path whose pages are three in four near-duplicates
    /// takes no more.
    #[arg(long, value_name = "N", default_value_t = TrapLimits::default().duplicate_window as usize, value_parser = positive)]
    duplicate_window: usize,
    /// Years in a date's place from this one on are real (older ones are a calendar trap).
    #[arg(long, value_name = "YEAR", default_value_t = TrapLimits::default().year_range.0)]
    first_year: u32,
    /// Years in a date's place up to this many past the current one are real.
    #[arg(long, value_name = "YEARS", default_value_t = 2)]
    years_ahead: u32,
}

/// A count that must be at least 1 (0 would refuse every URL).
fn positive(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

impl TrapArgs {
    fn limits(&self) -> TrapLimits {
        TrapLimits {
            max_path_len: self.max_path_len,
            max_query_len: self.max_query_len,
            max_segment_repeats: self.max_segment_repeats,
            max_query_variants: self.max_query_variants,
            duplicate_window: u32::try_from(self.duplicate_window).unwrap_or(u32::MAX),
            year_range: (
                self.first_year,
                sitepatrol_core::clock::current_year().saturating_add(self.years_ahead),
            ),
        }
    }
}

fn seconds(value: f64) -> Duration {
    Duration::from_secs_f64(value.clamp(0.0, 1e9))
}

pub fn is_url(target: &str) -> bool {
    let lower = target.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

#[derive(Serialize)]
struct SiteStats {
    target: String,
    agent: Agent,
    #[serde(flatten)]
    stats: CrawlStats,
}

#[derive(Serialize)]
struct StatsFile {
    #[serde(flatten)]
    total: CrawlStats,
    sites: Vec<SiteStats>,
}

/// Crawl every URL target; findings and fetch errors go to `output`. Returns the worst
/// severity found.
pub fn run(
    args: &CrawlArgs,
    targets: &[String],
    scanner: &Scanner,
    output: &mut Output,
) -> Option<Severity> {
    let mut starts = Vec::new();
    for target in targets {
        match Url::parse(target) {
            Ok(url) if url.host_str().is_some() => starts.push(url),
            Ok(_) => {
                let _ = output.error(target, "the URL has no host");
            }
            Err(e) => {
                let _ = output.error(target, &format!("not a valid URL: {e}"));
            }
        }
    }
    if starts.is_empty() {
        return None;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = output.error("-", &format!("cannot start the async runtime: {e}"));
            return None;
        }
    };
    runtime.block_on(crawl_all(args, starts, scanner, output))
}

async fn crawl_all(
    args: &CrawlArgs,
    starts: Vec<Url>,
    scanner: &Scanner,
    output: &mut Output,
) -> Option<Severity> {
    let fetcher = Fetcher::new(fetch_config(args, output)?);
    let crawler = new_crawler(args, fetcher, scanner);
    let filing = if args.no_filing {
        None
    } else {
        match load_filing(args) {
            Ok(filing) => Some(filing),
            Err(errors) => {
                for (target, message) in errors {
                    let _ = output.error(&target, &message);
                }
                return None;
            }
        }
    };
    let crawler = match &filing {
        Some(filing) => crawler.with_filing(filing.detector.clone()),
        None => crawler,
    };
    let agents: Vec<Agent> = match args.user_agent {
        UserAgentChoice::Desktop => vec![Agent::Desktop],
        UserAgentChoice::Mobile => vec![Agent::Mobile],
        UserAgentChoice::Both => vec![Agent::Desktop, Agent::Mobile],
    };

    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel::<Message>();
    let mut tasks = tokio::task::JoinSet::new();
    let probes = args.probe.map(|sample_pages| ProbeConfig {
        sample_pages,
        ..ProbeConfig::default()
    });
    for start in starts {
        tasks.spawn(crawl_start(
            crawler.clone(),
            start,
            agents.clone(),
            probes.clone(),
            filing.clone(),
            args.resolve.clone(),
            sender.clone(),
        ));
    }
    drop(sender);

    let started = Instant::now();
    let (worst, sites) = report(receiver, &crawler.progress(), started, output).await;
    while tasks.join_next().await.is_some() {}
    if let Some(path) = &args.stats_json {
        write_stats(path, sites, started, output);
    }
    worst
}

/// The fetcher's settings from the arguments; `None` (with the error output) when a CA file
/// cannot be used.
fn fetch_config(args: &CrawlArgs, output: &mut Output) -> Option<FetchConfig> {
    let mut ca_certificates = Vec::new();
    for path in &args.ca_file {
        match sitepatrol_crawl::fetch::read_pem_certificates(path) {
            Ok(certs) => ca_certificates.extend(certs),
            Err(e) => {
                let _ = output.error(&path.display().to_string(), &e.to_string());
                return None;
            }
        }
    }
    let defaults = FetchConfig::default();
    Some(FetchConfig {
        user_agent_desktop: args
            .desktop_user_agent
            .clone()
            .unwrap_or(defaults.user_agent_desktop.clone()),
        user_agent_mobile: args
            .mobile_user_agent
            .clone()
            .unwrap_or(defaults.user_agent_mobile.clone()),
        ca_certificates,
        connect_timeout: seconds(args.connect_timeout),
        first_byte_timeout: seconds(args.first_byte_timeout),
        total_timeout: seconds(args.timeout),
        max_body_bytes: args.max_body_size,
        max_redirects: args.max_redirects,
        allow_private_networks: args.allow_private_networks,
        allowed_addresses: args.allow_address.clone(),
        resolve: args.resolve.clone(),
        accept_invalid_certs: args.insecure,
        ..defaults
    })
}

fn new_crawler(args: &CrawlArgs, fetcher: Fetcher, scanner: &Scanner) -> Crawler {
    let gate = Arc::new(HostGate::new(PolitenessConfig {
        global_concurrency: args.concurrency.max(1),
        per_host_concurrency: args.per_host_concurrency.max(1),
        min_delay: seconds(args.delay),
        ..PolitenessConfig::default()
    }));
    let scope = match (args.scope, args.scope_host.is_empty()) {
        (ScopeChoice::Domain, _) => Scope::Domain,
        (ScopeChoice::Host, true) => Scope::Host,
        (ScopeChoice::Host, false) => Scope::Hosts(args.scope_host.clone()),
    };
    Crawler::new(
        fetcher,
        gate,
        scanner.clone(),
        CrawlConfig {
            scope,
            max_depth: args.max_depth,
            max_pages: args.max_pages,
            max_bytes: args.max_bytes,
            max_wall_time: seconds(args.max_time),
            concurrency: args.concurrency.max(1),
            respect_robots: !args.ignore_robots,
            use_sitemaps: !args.no_sitemaps,
            traps: args.traps.limits(),
            scripts: ScriptLimits {
                max_third_party: args.third_party_scripts,
                ..ScriptLimits::default()
            },
            max_retries: args.retries,
            backoff_base: Duration::from_millis(500),
            backoff_cap: seconds(args.backoff_cap),
        },
    )
}

/// Crawl one start URL as each agent, then (with `probes`) probe a sample of its pages for
/// cloaking, sending the events, each agent's statistics and (with `filing`) the filing checks.
async fn crawl_start(
    crawler: Crawler,
    start: Url,
    agents: Vec<Agent>,
    probes: Option<ProbeConfig>,
    filing: Option<Filing>,
    resolve: Vec<ResolveOverride>,
    sender: tokio::sync::mpsc::UnboundedSender<Message>,
) {
    let host = start.host_str().unwrap_or("").to_string();
    let site_filing = Arc::new(std::sync::Mutex::new(SiteFiling::new(
        host.clone(),
        start.to_string(),
    )));
    let sample = Arc::new(std::sync::Mutex::new(Sample::new(
        probes.as_ref().map_or(0, |p| p.sample_pages),
    )));
    let mut done = Vec::new();
    for agent in agents {
        let site = start.to_string();
        let events_sender = sender.clone();
        let collect = filing.is_some().then(|| site_filing.clone());
        let sample = sample.clone();
        let mut on_event = move |event: CrawlEvent| {
            if let CrawlEvent::Page(page) = &event {
                sample
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .offer_page(page, &site);
                if let (Some(collect), Some(page_filing)) = (&collect, &page.filing) {
                    let is_home = page.depth == 0 && page.url == site;
                    collect.lock().unwrap_or_else(|e| e.into_inner()).add_page(
                        &page.url,
                        is_home,
                        page_filing,
                    );
                }
            }
            let _ = events_sender.send(Message::Event(site.clone(), event));
        };
        let stats = crawler.crawl(&start, agent, &mut on_event).await;
        done.push(SiteStats {
            target: start.to_string(),
            agent,
            stats,
        });
    }
    if let (Some(probes), Some(last)) = (&probes, done.last_mut()) {
        let pages = sample
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pages(&start);
        let site = start.to_string();
        let mut on_event = |event: CrawlEvent| {
            let _ = sender.send(Message::Event(site.clone(), event));
        };
        let stats = crawler.probe(&start, &pages, probes, &mut on_event).await;
        let duration = last.stats.duration_s + stats.duration_s;
        last.stats.merge(&stats);
        last.stats.duration_s = duration;
    }
    for stats in done {
        let _ = sender.send(Message::Done(stats));
    }
    if let Some(filing) = filing {
        let site = site_filing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let (record, findings) = filing.check(&site, &start, &resolve).await;
        let _ = sender.send(Message::Site(Box::new(record), findings));
    }
}

/// Write every message to `output` as it comes, with a progress line on a terminal, until the
/// crawls are done or the output fails. Returns the worst severity and each crawl's statistics.
async fn report(
    mut receiver: tokio::sync::mpsc::UnboundedReceiver<Message>,
    progress: &Progress,
    started: Instant,
    output: &mut Output,
) -> (Option<Severity>, Vec<SiteStats>) {
    let bar = progress_bar();
    let mut worst = None;
    let mut sites = Vec::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(200));
    loop {
        let message = tokio::select! {
            message = receiver.recv() => message,
            _ = ticker.tick() => {
                if let Some(bar) = &bar {
                    let pages = progress.pages.load(Ordering::Relaxed);
                    let rate = pages as f64 / started.elapsed().as_secs_f64().max(0.001);
                    bar.set_message(format!(
                        "pages {pages}  queue {}  errors {}  {rate:.0} pages/s",
                        progress.queued.load(Ordering::Relaxed),
                        progress.errors.load(Ordering::Relaxed),
                    ));
                }
                continue;
            }
        };
        let Some(message) = message else { break };
        let write = || write_message(message, output, &mut worst, &mut sites);
        let result = match &bar {
            Some(bar) => bar.suspend(write),
            None => write(),
        };
        if result.is_err() {
            break;
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    (worst, sites)
}

fn write_message(
    message: Message,
    output: &mut Output,
    worst: &mut Option<Severity>,
    sites: &mut Vec<SiteStats>,
) -> std::io::Result<()> {
    match message {
        Message::Event(_, CrawlEvent::Page(page)) => {
            output.summary.pages += 1;
            output.summary.bytes += page.bytes as u64;
            for warning in &page.warnings {
                output.warning(&page.final_url, warning)?;
            }
            for finding in page.findings {
                *worst = (*worst).max(Some(finding.severity));
                output.finding(finding)?;
            }
        }
        Message::Event(
            site,
            CrawlEvent::FetchFailed {
                url, depth, error, ..
            },
        ) => {
            // A site whose start page cannot be fetched went unseen: that is an error of the
            // scan. Other pages failing is part of the crawl's record.
            let start_failed =
                depth == 0 && url.trim_end_matches('/') == site.trim_end_matches('/');
            output.fetch_error(&url, error.class.as_str(), &error.message, start_failed)?;
        }
        Message::Event(_, CrawlEvent::SiteFinding(finding)) => {
            *worst = (*worst).max(Some(finding.severity));
            output.finding(finding)?;
        }
        Message::Event(_, CrawlEvent::Probed(report)) => {
            for finding in report.findings {
                *worst = (*worst).max(Some(finding.severity));
                output.finding(finding)?;
            }
        }
        // `scan URL` keeps no store to resume from and never asks for checkpoints.
        Message::Event(_, CrawlEvent::Checkpoint(_)) => {}
        Message::Done(site_stats) => {
            output.crawl_done(&site_stats.target, site_stats.agent, &site_stats.stats)?;
            sites.push(site_stats);
        }
        Message::Site(record, findings) => {
            for finding in findings {
                *worst = (*worst).max(Some(finding.severity));
                output.finding(finding)?;
            }
            output.site(&record)?;
        }
    }
    Ok(())
}

/// `--stats-json`: every crawl's statistics and their total.
fn write_stats(path: &Path, sites: Vec<SiteStats>, started: Instant, output: &mut Output) {
    let mut total = CrawlStats::default();
    for site in &sites {
        total.merge(&site.stats);
    }
    total.duration_s = started.elapsed().as_secs_f64();
    let file = StatsFile { total, sites };
    let written = serde_json::to_vec_pretty(&file)
        .map_err(|e| e.to_string())
        .and_then(|json| std::fs::write(path, json).map_err(|e| e.to_string()));
    if let Err(e) = written {
        let _ = output.error(
            &path.display().to_string(),
            &format!("cannot write the statistics: {e}"),
        );
    }
}

enum Message {
    Event(String, CrawlEvent),
    Done(SiteStats),
    Site(Box<sitepatrol_core::filing::SiteRecord>, Vec<Finding>),
}

/// What the filing checks of a scan share across sites.
#[derive(Clone)]
struct Filing {
    detector: Arc<Detector>,
    registry: Option<Arc<dyn Registry>>,
    hosted_networks: Arc<Vec<ipnet::IpNet>>,
}

fn load_filing(args: &CrawlArgs) -> Result<Filing, Vec<(String, String)>> {
    let catalog = match &args.services {
        Some(path) => ServiceCatalog::from_path(path),
        None => ServiceCatalog::bundled(),
    }
    .map_err(|errors| {
        let name = args
            .services
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "<bundled>/rulesets/filing/services.toml".into());
        errors
            .into_iter()
            .map(|e| (name.clone(), e))
            .collect::<Vec<_>>()
    })?;
    let registry: Option<Arc<dyn Registry>> = if let Some(path) = &args.registry {
        let registry = CsvRegistry::from_path(path)
            .map_err(|e| vec![(path.display().to_string(), e.to_string())])?;
        Some(Arc::new(registry))
    } else if let Some(template) = &args.registry_url {
        let registry = HttpRegistry::new(HttpRegistryConfig::new(template.clone()))
            .map_err(|e| vec![(template.clone(), e.to_string())])?;
        Some(Arc::new(registry))
    } else {
        None
    };
    Ok(Filing {
        detector: Arc::new(Detector::new(catalog)),
        registry,
        hosted_networks: Arc::new(args.hosted_network.clone()),
    })
}

impl Filing {
    async fn check(
        &self,
        site: &SiteFiling,
        start: &Url,
        resolve: &[ResolveOverride],
    ) -> (sitepatrol_core::filing::SiteRecord, Vec<Finding>) {
        let host = site.host.clone();
        let hosting = if self.hosted_networks.is_empty() {
            Hosting::Assumed
        } else {
            let port = start.port_or_known_default().unwrap_or(80);
            let overridden: Vec<std::net::IpAddr> = resolve
                .iter()
                .filter(|r| r.host.eq_ignore_ascii_case(&host) && r.port == port)
                .map(|r| r.addr)
                .collect();
            if !overridden.is_empty() {
                Hosting::classify(&self.hosted_networks, overridden)
            } else {
                match tokio::net::lookup_host((host.as_str(), port)).await {
                    Ok(addrs) => {
                        Hosting::classify(&self.hosted_networks, addrs.map(|a| a.ip()).collect())
                    }
                    Err(e) => Hosting::Unresolved(e.to_string()),
                }
            }
        };
        let registry = match &self.registry {
            None => RegistryAnswer::None,
            Some(registry) => match registry.lookup(&host).await {
                Ok(Some(record)) => RegistryAnswer::Record {
                    source: registry.describe(),
                    record: Box::new(record),
                },
                Ok(None) => RegistryAnswer::NoRecord {
                    source: registry.describe(),
                },
                Err(e) => RegistryAnswer::Failed(e.to_string()),
            },
        };
        let cx = CheckContext {
            registry,
            hosting,
            catalog: self.detector.catalog(),
            today: sitepatrol_core::clock::today(),
        };
        check_site(site, &cx)
    }
}

fn progress_bar() -> Option<ProgressBar> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    Some(bar)
}
