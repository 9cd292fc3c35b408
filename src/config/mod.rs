//! The daemon's configuration: one TOML file.
//!
//! Unknown keys are errors (a typo must not silently become a default). Validation collects
//! every problem it can find in one pass, each with the key path it is about
//! (`crawl.max_pages`, `sites[3].domains[0]`), so an operator fixes a file in one round.
//! A section whose types are wrong reports its first type error and is then skipped; the other
//! sections are still checked.

mod secret;
mod webhooks;

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::duration::{format_duration, parse_duration};
pub use sitepatrol_core::secret::Secret;
use sitepatrol_crawl::crawl::probe::{ProbeConfig, SearchEngine, Spider};
use sitepatrol_crawl::crawl::{ScriptLimits, TrapLimits};
pub use webhooks::WebhookConfig;

use crate::site::{Agents, RobotsPolicy, SiteSpec, validate_site};

/// The embedded default: SQLite under `./data/`, the bundled rulesets, and the demo site
/// served by the daemon itself on loopback.
pub const EMBEDDED_DEFAULT: &str = include_str!("embedded.toml");

/// One problem, at a key path (or `file:line` for syntax errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem of one configuration file.
#[derive(Debug, Clone)]
pub struct ConfigErrors {
    pub source: String,
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} error(s)", self.source, self.errors.len())?;
        for e in &self.errors {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// The SQLite database file; its directory is created when missing. Not used when a
    /// PostgreSQL URL is set.
    pub path: PathBuf,
    /// A PostgreSQL URL (`postgres://user:password@host:port/db`) selects the PostgreSQL
    /// store, which several daemons may share (see `[schedule] lease_ttl`): from `url`,
    /// `url_file` (a mounted secret) or `url_env` (the variable naming it, e.g.
    /// `SITEPATROL_STORE_URL`), one of them at most.
    /// It holds a password, so it is a secret: never printed, and logged without it.
    pub url: Option<String>,
    pub url_file: Option<PathBuf>,
    pub url_env: Option<String>,
    /// PostgreSQL connections a daemon opens at most (crawl ingests, API reads, gauges).
    pub pool_size: usize,
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig {
            path: PathBuf::from("data/sitepatrol.db"),
            url: None,
            url_file: None,
            url_env: None,
            pool_size: 8,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Addresses serving /metrics, /healthz and /readyz.
    pub listen: Vec<String>,
    /// A bearer token /metrics requires, when set (from `metrics_token`, `metrics_token_file`
    /// or `metrics_token_env`).
    pub metrics_token: Option<String>,
    pub metrics_token_file: Option<PathBuf>,
    pub metrics_token_env: Option<String>,
    /// How long a client may take to send a request's headers, and its body, on every
    /// listener (operations, API, UI): a client that trickles them is cut off.
    pub header_read_timeout: String,
    pub body_read_timeout: String,
    /// Connections open at once on one listener, and from one client address; a connection
    /// over either is closed at once and counted in
    /// `sitepatrol_http_connections_refused_total`.
    pub max_connections: usize,
    pub max_connections_per_client: usize,
}

impl Default for HttpConfig {
    fn default() -> HttpConfig {
        HttpConfig {
            listen: vec!["127.0.0.1:9187".into()],
            metrics_token: None,
            metrics_token_file: None,
            metrics_token_env: None,
            header_read_timeout: "10s".into(),
            body_read_timeout: "30s".into(),
            max_connections: 1024,
            max_connections_per_client: 128,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// Ruleset files or directories; `"bundled"` names the rulesets compiled into the binary.
    pub paths: Vec<String>,
}

impl Default for RulesConfig {
    fn default() -> RulesConfig {
        RulesConfig {
            paths: vec!["bundled".into()],
        }
    }
}

/// Crawl settings every site starts from; a site may override its budgets, robots policy,
/// agents and private-network permission.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CrawlDefaults {
    pub max_pages: usize,
    pub max_depth: u32,
    pub max_bytes: u64,
    pub max_time: String,
    /// Requests in flight at once over all crawls of the daemon.
    pub concurrency: usize,
    /// Requests in flight to one host at once, over every site on that host.
    pub per_host_concurrency: usize,
    /// Pages of one site in flight at once.
    pub per_site_concurrency: usize,
    /// Time between two requests to one host (robots.txt Crawl-delay can raise it).
    pub delay: String,
    pub robots: RobotsPolicy,
    pub sitemaps: bool,
    pub agents: Agents,
    pub user_agent_desktop: Option<String>,
    pub user_agent_mobile: Option<String>,
    /// Allow loopback, private and link-local addresses for every site. Off: the SSRF guard
    /// protects the provider's own network; sites that need it say so one by one.
    pub allow_private_networks: bool,
    pub connect_timeout: String,
    pub first_byte_timeout: String,
    pub timeout: String,
    pub max_body_size: usize,
    pub max_redirects: usize,
    pub retries: u32,
    /// Flags (page and category) one crawl of one site may record. Pages past it are left
    /// unrecorded for this crawl (their flags neither open nor resolve), and the site gets a
    /// `crawl.flag_cap` info flag.
    pub max_flags_per_crawl: usize,
    /// Time one page's scan may take; where it runs out, the page gets a `crawl.scan_budget`
    /// info flag and counts as read in part (nothing on it resolves).
    pub scan_budget: String,
    /// How often a running crawl saves its frontier to the store, so that a crawl the
    /// daemon did not finish (kill -9, power loss) resumes from it; `0s`: never.
    pub checkpoint_interval: String,
    pub traps: TrapConfig,
    pub probes: ProbesConfig,
    pub scripts: ScriptsConfig,
}

/// `[crawl.scripts]`: the pages' external scripts are fetched and scanned too, since a miner
/// or dropper in a script file is in none of the HTML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScriptsConfig {
    /// The site's own scripts, fetched like its pages.
    pub site: bool,
    /// Third-party scripts fetched per crawl at most, each once (0: none).
    pub third_party: usize,
    /// Bytes of one third-party script scanned at most.
    pub max_bytes: usize,
    /// Hosts (and subdomains) of shared libraries, analytics and ads: not fetched.
    pub common_hosts: Vec<String>,
}

impl Default for ScriptsConfig {
    fn default() -> ScriptsConfig {
        let limits = ScriptLimits::default();
        ScriptsConfig {
            site: limits.site,
            third_party: 10,
            max_bytes: limits.max_bytes,
            common_hosts: limits.common_hosts,
        }
    }
}

impl ScriptsConfig {
    pub fn limits(&self) -> ScriptLimits {
        ScriptLimits {
            site: self.site,
            max_third_party: self.third_party,
            max_bytes: self.max_bytes,
            common_hosts: self
                .common_hosts
                .iter()
                .map(|h| h.trim().trim_end_matches('.').to_ascii_lowercase())
                .collect(),
        }
    }
}

/// `[crawl.probes]`: after each crawl, the start page and a sample of pages are fetched again
/// as search spiders and as visitors from search results pages, to catch sites that show them
/// other content or send them elsewhere (`malware.cloaking`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbesConfig {
    pub enabled: bool,
    /// Pages probed per crawl besides the start page.
    pub sample_pages: usize,
    /// Spiders to present: baiduspider, sogou, 360spider, bytespider, googlebot, bingbot.
    pub spiders: Vec<String>,
    /// Search engines whose results page is the Referer: baidu.com, so.com, sogou.com, sm.cn.
    pub search_engines: Vec<String>,
    /// Also arrive from the search engines as a phone.
    pub mobile_visitors: bool,
    /// Other sites a probe's page must link, and a visitor's not, for links alone to count.
    pub min_new_domains: usize,
}

impl Default for ProbesConfig {
    fn default() -> ProbesConfig {
        let defaults = ProbeConfig::default();
        ProbesConfig {
            enabled: true,
            sample_pages: defaults.sample_pages,
            spiders: defaults
                .spiders
                .iter()
                .map(|s| s.as_str().to_string())
                .collect(),
            search_engines: defaults
                .search_engines
                .iter()
                .map(|e| e.domain().to_string())
                .collect(),
            mobile_visitors: defaults.mobile_visitors,
            min_new_domains: defaults.min_new_domains,
        }
    }
}

impl ProbesConfig {
    /// The probes to run, `None` when they are off; every unknown name is an error.
    pub fn probe_config(&self, errors: &mut Vec<ConfigError>) -> Option<ProbeConfig> {
        let spiders = parse_names::<Spider>("crawl.probes.spiders", &self.spiders, errors);
        let search_engines = parse_names::<SearchEngine>(
            "crawl.probes.search_engines",
            &self.search_engines,
            errors,
        );
        if self.min_new_domains == 0 {
            errors.push(ConfigError {
                path: "crawl.probes.min_new_domains".into(),
                message: "must be at least 1".into(),
            });
        }
        self.enabled.then_some(ProbeConfig {
            sample_pages: self.sample_pages,
            spiders,
            search_engines,
            mobile_visitors: self.mobile_visitors,
            min_new_domains: self.min_new_domains.max(1),
        })
    }
}

fn parse_names<T: std::str::FromStr<Err = String>>(
    path: &str,
    names: &[String],
    errors: &mut Vec<ConfigError>,
) -> Vec<T> {
    let mut out = Vec::new();
    for (i, name) in names.iter().enumerate() {
        match name.parse() {
            Ok(value) => out.push(value),
            Err(message) => errors.push(ConfigError {
                path: format!("{path}[{i}]"),
                message,
            }),
        }
    }
    out
}

/// `[crawl.traps]`: the defences against URL spaces that never end. The site's page, byte and
/// time budgets stay the hard bound; these only stop a crawl from spending them on a trap.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrapConfig {
    pub max_path_len: usize,
    pub max_query_len: usize,
    /// A path segment may occur this many times; more is a loop (`/a/b/a/b/a/b`).
    pub max_segment_repeats: usize,
    /// Query variants of one path and parameter-name set, however different their pages.
    pub max_query_variants: usize,
    /// Fetched variants after which a path whose pages are three in four near-duplicates
    /// takes no more.
    pub duplicate_window: u32,
    /// Years in a date's place from this one to `years_ahead` past the current year are real;
    /// others are an endless calendar.
    pub first_year: u32,
    pub years_ahead: u32,
}

impl Default for TrapConfig {
    fn default() -> TrapConfig {
        let limits = TrapLimits::default();
        TrapConfig {
            max_path_len: limits.max_path_len,
            max_query_len: limits.max_query_len,
            max_segment_repeats: limits.max_segment_repeats,
            max_query_variants: limits.max_query_variants,
            duplicate_window: limits.duplicate_window,
            first_year: limits.year_range.0,
            years_ahead: limits
                .year_range
                .1
                .saturating_sub(sitepatrol_core::clock::current_year()),
        }
    }
}

impl TrapConfig {
    pub fn limits(&self) -> TrapLimits {
        TrapLimits {
            max_path_len: self.max_path_len,
            max_query_len: self.max_query_len,
            max_segment_repeats: self.max_segment_repeats,
            max_query_variants: self.max_query_variants,
            duplicate_window: self.duplicate_window,
            year_range: (
                self.first_year,
                sitepatrol_core::clock::current_year().saturating_add(self.years_ahead),
            ),
        }
    }
}

impl Default for CrawlDefaults {
    fn default() -> CrawlDefaults {
        CrawlDefaults {
            max_pages: 1000,
            max_depth: 20,
            max_bytes: 1 << 30,
            max_time: "30m".into(),
            concurrency: 32,
            per_host_concurrency: 4,
            per_site_concurrency: 8,
            delay: "0s".into(),
            robots: RobotsPolicy::Obey,
            sitemaps: true,
            agents: Agents::Desktop,
            user_agent_desktop: None,
            user_agent_mobile: None,
            allow_private_networks: false,
            connect_timeout: "10s".into(),
            first_byte_timeout: "20s".into(),
            timeout: "60s".into(),
            max_body_size: 10 << 20,
            max_redirects: 10,
            retries: 3,
            max_flags_per_crawl: 2000,
            scan_budget: "10s".into(),
            checkpoint_interval: "30s".into(),
            traps: TrapConfig::default(),
            probes: ProbesConfig::default(),
            scripts: ScriptsConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleConfig {
    /// Time between two crawls of a site, unless the site sets its own.
    pub interval: String,
    /// Each next-due time moves by up to this fraction of the interval, either way, so sites
    /// added together do not stay in lockstep.
    pub jitter: f64,
    /// Site crawls running at once.
    pub max_concurrent_crawls: usize,
    /// On SIGTERM, how long in-flight crawls may run before they are cut and checkpointed.
    pub shutdown_grace: String,
    /// How long a daemon's claim on a site (its lease in the store) lasts unless renewed: a
    /// daemon that dies loses its sites to the others after this long.
    pub lease_ttl: String,
    /// How often a daemon renews the leases of the sites it is crawling; shorter than
    /// `lease_ttl` (a third of it leaves two renewals to miss).
    pub lease_renew_interval: String,
    /// How often a daemon checks the leader lock (PostgreSQL): a daemon takes over the
    /// singletons (webhooks, retention, deadline rechecks, fleet gauges) this long at most
    /// after the leader died.
    pub leader_check_interval: String,
}

impl Default for ScheduleConfig {
    fn default() -> ScheduleConfig {
        ScheduleConfig {
            interval: "6h".into(),
            jitter: 0.1,
            max_concurrent_crawls: 4,
            shutdown_grace: "30s".into(),
            lease_ttl: "5m".into(),
            lease_renew_interval: "1m".into(),
            leader_check_interval: "5s".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InventoryFormat {
    /// By extension: `.csv` is CSV, anything else JSON lines.
    Auto,
    Csv,
    Jsonl,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InventoryConfig {
    /// A CSV or JSON lines file of sites, reloaded on SIGHUP.
    pub file: Option<PathBuf>,
    pub format: InventoryFormat,
}

impl Default for InventoryConfig {
    fn default() -> InventoryConfig {
        InventoryConfig {
            file: None,
            format: InventoryFormat::Auto,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// How long the compressed copy of a flagged page's body is kept.
    pub body: String,
    /// Body bytes kept per page (before compression).
    pub max_body_bytes: usize,
}

impl Default for RetentionConfig {
    fn default() -> RetentionConfig {
        RetentionConfig {
            body: "180d".into(),
            max_body_bytes: 2 << 20,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    pub format: LogFormat,
    /// A `tracing` filter: `info`, `sitepatrol=debug,hyper=warn`, ...
    pub level: String,
}

impl Default for LoggingConfig {
    fn default() -> LoggingConfig {
        LoggingConfig {
            format: LogFormat::Human,
            level: "info".into(),
        }
    }
}

/// The review API (`/api/v1`): who may use it, where it listens, how failed logins slow down.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Bearer tokens, as `sitepatrol token new` prints them (name, role, SHA-256 of the
    /// token). None: every API request but the OpenAPI document is refused with 401.
    pub tokens: Vec<sitepatrol_server::review::auth::TokenEntry>,
    /// Addresses serving the API alone. Empty (the default): the API is served on the
    /// `[http] listen` addresses beside /metrics and /healthz; set, those keep only the
    /// operations endpoints, so they can stay on an internal interface.
    pub listen: Vec<String>,
    /// Failed authentications of one token prefix from one client network within
    /// `failure_window` after which that key's wrong tokens are refused (429) until the window
    /// has passed; the whole network's cap is ten times this. Valid tokens always get in.
    pub max_failures: u32,
    pub failure_window: String,
    /// Networks (CIDR, or single addresses) besides loopback from which the first-run login
    /// link (printed when the daemon starts without tokens) may be used. Empty (the default):
    /// loopback only, so the link works on the daemon's own machine.
    pub once_login_from: Vec<String>,
}

impl Default for ApiConfig {
    fn default() -> ApiConfig {
        ApiConfig {
            tokens: Vec::new(),
            listen: Vec::new(),
            max_failures: 10,
            failure_window: "5m".into(),
            once_login_from: Vec::new(),
        }
    }
}

/// The reviewers' web UI at `/` and the rectification notices (整改通知).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReviewConfig {
    /// A directory holding `rectification-notice.txt.j2` and/or `clauses.toml`; a file
    /// missing there comes from the bundled copy. Relative to the config file's directory.
    pub templates_dir: Option<PathBuf>,
    /// Days from the day a notice is issued to its rectification deadline.
    pub notice_deadline_days: u32,
    /// The provider's name, signed under every notice.
    pub provider_name: String,
    /// The CJK font PDF notices are set in (.ttf, .otf or a .ttc collection); without it the
    /// usual system paths are searched at the first PDF. Relative to the config file's
    /// directory.
    pub notice_font: Option<PathBuf>,
    /// The face of a `.ttc` collection; without it, its Simplified Chinese face.
    pub notice_font_index: Option<u32>,
    /// How long a UI login lasts.
    pub session_ttl: String,
    /// Mark the session cookie `Secure`. Set it when the UI is reached over HTTPS (a
    /// TLS-terminating proxy in front of the daemon); a request with
    /// `X-Forwarded-Proto: https` gets it either way.
    pub secure_cookies: bool,
    /// How far a page's score must rise above what a dismissed case covered before the
    /// site's category opens a new case (a dismissal is not forever if the site gets worse).
    pub case_rescore_margin: f64,
    /// How often the daemon looks for confirmed cases whose deadline passed, to recrawl
    /// their sites at once.
    pub deadline_check_interval: String,
}

impl Default for ReviewConfig {
    fn default() -> ReviewConfig {
        ReviewConfig {
            templates_dir: None,
            notice_deadline_days: 3,
            provider_name: "sitepatrol".into(),
            notice_font: None,
            notice_font_index: None,
            session_ttl: "8h".into(),
            secure_cookies: false,
            case_rescore_margin: 2.0,
            deadline_check_interval: "1m".into(),
        }
    }
}

/// ICP filing checks after each crawl (issue 4's checks, run by the daemon).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilingConfig {
    pub enabled: bool,
    /// The provider's filing registry as CSV (see the README's filing section).
    pub registry_file: Option<PathBuf>,
    /// An HTTP JSON lookup service: a URL with `{domain}` where the domain goes.
    pub registry_url: Option<String>,
    /// Regulated-service signals; the bundled `rulesets/filing/services.toml` otherwise.
    pub services: Option<PathBuf>,
}

impl Default for FilingConfig {
    fn default() -> FilingConfig {
        FilingConfig {
            enabled: true,
            registry_file: None,
            registry_url: None,
            services: None,
        }
    }
}

/// `[render]`: the optional render stage (headless chromium, see
/// `sitepatrol_crawl::render`): after a site's crawl, its home page and flagged pages are
/// loaded in a browser, the text shown after scripts ran is scanned as the `rendered` zone,
/// and a screenshot is kept beside the page copy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RenderSection {
    pub enabled: bool,
    /// The browser; without it, `chromium` (or `chromium-browser`) on `PATH`.
    pub browser: Option<PathBuf>,
    /// One page's budget, from navigation to screenshot.
    pub timeout: String,
    /// The browser's memory, all its processes together (proportional set size: shared
    /// pages counted once), in MiB. Chromium on a blank page takes about 400.
    pub memory_mb: u64,
    /// Pages rendered per crawl of a site: the home page first, then flagged pages.
    pub max_pages: usize,
    pub viewport_width: u32,
    pub viewport_height: u32,
}

impl Default for RenderSection {
    fn default() -> RenderSection {
        RenderSection {
            enabled: false,
            browser: None,
            timeout: "30s".into(),
            memory_mb: 1024,
            max_pages: 5,
            viewport_width: 1280,
            viewport_height: 800,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct DemoConfig {
    /// Serve the bundled demo site on a loopback port; sites marked `demo = true` crawl it.
    pub enabled: bool,
}

/// A parsed and validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it came from (a path, or "embedded default").
    pub source: String,
    pub store: StoreConfig,
    /// `store.url` (or `url_file`, `url_env`), validated: the PostgreSQL store when set.
    pub store_url: Option<Secret>,
    pub http: HttpConfig,
    pub listen: Vec<SocketAddr>,
    pub metrics_token: Option<Secret>,
    pub api: ApiConfig,
    /// `api.listen`, parsed.
    pub api_listen: Vec<SocketAddr>,
    /// `api.tokens`, validated.
    pub api_tokens: sitepatrol_server::review::auth::Tokens,
    /// `api.once_login_from`, parsed.
    pub once_login_nets: Vec<ipnet::IpNet>,
    pub review: ReviewConfig,
    pub rules: RulesConfig,
    pub crawl: CrawlDefaults,
    pub schedule: ScheduleConfig,
    pub inventory: InventoryConfig,
    pub retention: RetentionConfig,
    pub hosted_networks: Vec<String>,
    /// `hosted_networks`, parsed.
    pub hosted_nets: Vec<ipnet::IpNet>,
    pub filing: FilingConfig,
    pub logging: LoggingConfig,
    pub render: RenderSection,
    pub demo: DemoConfig,
    pub sites: Vec<SiteSpec>,
    /// `[[webhooks]]`, validated.
    pub webhooks: Vec<WebhookConfig>,
    /// Durations, parsed once.
    pub times: Times,
    /// `[crawl.probes]`, parsed; `None` when probes are off.
    pub probes: Option<ProbeConfig>,
}

#[derive(Debug, Clone, Copy)]
pub struct Times {
    pub crawl_max_time: Duration,
    pub delay: Duration,
    pub connect_timeout: Duration,
    pub first_byte_timeout: Duration,
    pub timeout: Duration,
    pub scan_budget: Duration,
    pub checkpoint_interval: Duration,
    pub interval: Duration,
    pub shutdown_grace: Duration,
    pub body_retention: Duration,
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub api_failure_window: Duration,
    pub session_ttl: Duration,
    pub render_timeout: Duration,
    pub deadline_check_interval: Duration,
    pub lease_ttl: Duration,
    pub lease_renew_interval: Duration,
    pub leader_check_interval: Duration,
}

const SECTIONS: &[&str] = &[
    "store",
    "http",
    "api",
    "review",
    "rules",
    "crawl",
    "schedule",
    "inventory",
    "retention",
    "hosted_networks",
    "filing",
    "logging",
    "render",
    "demo",
    "sites",
    "webhooks",
];

impl Config {
    /// Read and validate a file.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let source = path.display().to_string();
        let text =
            sitepatrol_core::bounded::read_text(path, sitepatrol_core::bounded::CONFIG_BYTES)
                .map_err(|message| ConfigErrors {
                    source: source.clone(),
                    errors: vec![ConfigError {
                        path: String::new(),
                        message: message.to_string(),
                    }],
                })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::parse(&text, &source, base)
    }

    /// The configuration `sitepatrol daemon` runs without `--config`.
    pub fn embedded_default() -> Result<Config, ConfigErrors> {
        Config::parse(EMBEDDED_DEFAULT, "embedded default", Path::new("."))
    }

    /// Parse and validate TOML text. Relative paths of `*_file` secrets resolve against
    /// `base` (the file's directory).
    pub fn parse(text: &str, source: &str, base: &Path) -> Result<Config, ConfigErrors> {
        let fail = |errors| ConfigErrors {
            source: source.to_string(),
            errors,
        };
        let table = parse_table(text).map_err(|e| fail(vec![e]))?;
        // Every step pushes into one list, so that a file's problems are reported at once, in
        // the order of these steps.
        let mut errors = Vec::new();
        check_section_names(&table, &mut errors);
        let mut sections = Sections::read(&table, &mut errors);
        let sites = read_sites(&table, &mut errors);
        let webhooks = webhooks::parse(table.get("webhooks"), base, &mut errors);
        let times = Times::read(&sections, &mut errors);
        check_lease_times(&times, &mut errors);
        check_counts(&sections, &mut errors);
        check_user_agents(&sections.crawl, &mut errors);
        let probes = sections.crawl.probes.probe_config(&mut errors);
        let listen = http_listen(&sections.http, &mut errors);
        let api_listen = socket_addresses("api.listen", &sections.api.listen, &mut errors);
        positive_api(sections.api.max_failures, &mut errors);
        resolve_templates_dir(&mut sections.review, base, &mut errors);
        let api_tokens = api_tokens(&sections.api, &mut errors);
        let once_login_nets = networks(
            "api.once_login_from",
            &sections.api.once_login_from,
            &mut errors,
        );
        let metrics_token = metrics_token(&sections.http, base, &mut errors);
        let store_url = store_url(&sections.store, base, &mut errors);
        check_rule_paths(&sections.rules, &mut errors);
        let hosted_nets = hosted_nets(&sections.hosted_networks, &mut errors);
        check_filing(&sections.filing, base, &mut errors);
        check_log_filter(&sections.logging, &mut errors);
        check_render(&sections.render, &mut errors);
        let sites = validate_sites(sites, sections.demo.enabled, &mut errors);
        if !errors.is_empty() {
            return Err(fail(errors));
        }
        Ok(Config {
            source: source.to_string(),
            // The URL is kept only as the secret (whose Debug hides it).
            store: StoreConfig {
                url: None,
                ..sections.store
            },
            store_url,
            http: sections.http,
            listen,
            metrics_token,
            api: sections.api,
            api_listen,
            api_tokens,
            once_login_nets,
            review: sections.review,
            rules: sections.rules,
            crawl: sections.crawl,
            schedule: sections.schedule,
            inventory: sections.inventory,
            retention: sections.retention,
            hosted_networks: sections.hosted_networks,
            hosted_nets,
            filing: FilingConfig {
                registry_file: sections.filing.registry_file.map(|p| base.join(p)),
                services: sections.filing.services.map(|p| base.join(p)),
                ..sections.filing
            },
            logging: sections.logging,
            render: RenderSection {
                browser: sections.render.browser.map(|p| base.join(p)),
                ..sections.render
            },
            demo: sections.demo,
            sites,
            webhooks,
            times,
            probes,
        })
    }

    /// The rule sources `rules.paths` names.
    pub fn rule_sources(&self) -> Vec<sitepatrol_core::rules::RuleSource> {
        self.rules
            .paths
            .iter()
            .map(|p| {
                if p == "bundled" {
                    sitepatrol_core::rules::RuleSource::Bundled
                } else {
                    sitepatrol_core::rules::RuleSource::Path(PathBuf::from(p))
                }
            })
            .collect()
    }
}

/// The TOML table of a config file; a syntax error names its line.
fn parse_table(text: &str) -> Result<toml::Table, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let location = e
            .span()
            .map(|s| {
                let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                format!("line {line}")
            })
            .unwrap_or_default();
        ConfigError {
            path: location,
            message: e.message().trim().to_string(),
        }
    })
}

fn check_section_names(table: &toml::Table, errors: &mut Vec<ConfigError>) {
    for key in table.keys() {
        if !SECTIONS.contains(&key.as_str()) {
            errors.push(ConfigError {
                path: key.clone(),
                message: format!("unknown key; expected one of {}", SECTIONS.join(", ")),
            });
        }
    }
}

/// The config's sections as written, each its default when missing or invalid.
struct Sections {
    store: StoreConfig,
    http: HttpConfig,
    api: ApiConfig,
    review: ReviewConfig,
    rules: RulesConfig,
    crawl: CrawlDefaults,
    schedule: ScheduleConfig,
    inventory: InventoryConfig,
    retention: RetentionConfig,
    hosted_networks: Vec<String>,
    filing: FilingConfig,
    logging: LoggingConfig,
    render: RenderSection,
    demo: DemoConfig,
}

impl Sections {
    fn read(table: &toml::Table, errors: &mut Vec<ConfigError>) -> Sections {
        Sections {
            store: section(table, "store", errors),
            http: section(table, "http", errors),
            api: section(table, "api", errors),
            review: section(table, "review", errors),
            rules: section(table, "rules", errors),
            crawl: section(table, "crawl", errors),
            schedule: section(table, "schedule", errors),
            inventory: section(table, "inventory", errors),
            retention: section(table, "retention", errors),
            hosted_networks: section(table, "hosted_networks", errors),
            filing: section(table, "filing", errors),
            logging: section(table, "logging", errors),
            render: section(table, "render", errors),
            demo: section(table, "demo", errors),
        }
    }
}

/// `[[sites]]` that deserialize, with their key paths; they are validated later.
fn read_sites(table: &toml::Table, errors: &mut Vec<ConfigError>) -> Vec<(String, SiteSpec)> {
    let mut sites = Vec::new();
    match table.get("sites") {
        None => {}
        Some(toml::Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let path = format!("sites[{i}]");
                if let Some(site) = deserialize_entry::<SiteSpec>(item.clone(), &path, errors) {
                    sites.push((path, site));
                }
            }
        }
        Some(_) => errors.push(ConfigError {
            path: "sites".into(),
            message: "must be an array of tables ([[sites]])".into(),
        }),
    }
    sites
}

impl Times {
    fn read(s: &Sections, errors: &mut Vec<ConfigError>) -> Times {
        let mut duration = |path: &str, value: &str, min: Duration| -> Duration {
            at_least(path, value, min, errors)
        };
        let ms = Duration::from_millis;
        let (crawl, http) = (&s.crawl, &s.http);
        Times {
            crawl_max_time: duration("crawl.max_time", &crawl.max_time, ms(100)),
            delay: duration("crawl.delay", &crawl.delay, Duration::ZERO),
            connect_timeout: duration("crawl.connect_timeout", &crawl.connect_timeout, ms(10)),
            first_byte_timeout: duration(
                "crawl.first_byte_timeout",
                &crawl.first_byte_timeout,
                ms(10),
            ),
            timeout: duration("crawl.timeout", &crawl.timeout, ms(10)),
            scan_budget: duration("crawl.scan_budget", &crawl.scan_budget, ms(10)),
            checkpoint_interval: duration(
                "crawl.checkpoint_interval",
                &crawl.checkpoint_interval,
                Duration::ZERO,
            ),
            interval: duration("schedule.interval", &s.schedule.interval, ms(100)),
            shutdown_grace: duration("schedule.shutdown_grace", &s.schedule.shutdown_grace, ms(0)),
            body_retention: duration("retention.body", &s.retention.body, ms(0)),
            header_read_timeout: duration(
                "http.header_read_timeout",
                &http.header_read_timeout,
                ms(100),
            ),
            body_read_timeout: duration("http.body_read_timeout", &http.body_read_timeout, ms(100)),
            api_failure_window: duration("api.failure_window", &s.api.failure_window, ms(1000)),
            session_ttl: duration("review.session_ttl", &s.review.session_ttl, ms(60_000)),
            render_timeout: duration("render.timeout", &s.render.timeout, ms(1000)),
            deadline_check_interval: duration(
                "review.deadline_check_interval",
                &s.review.deadline_check_interval,
                ms(1000),
            ),
            // Leases are stored in whole seconds.
            lease_ttl: duration("schedule.lease_ttl", &s.schedule.lease_ttl, ms(2000)),
            lease_renew_interval: duration(
                "schedule.lease_renew_interval",
                &s.schedule.lease_renew_interval,
                ms(100),
            ),
            leader_check_interval: duration(
                "schedule.leader_check_interval",
                &s.schedule.leader_check_interval,
                ms(100),
            ),
        }
    }
}

/// The duration `value` at key `path`; `min` (with an error) when it is not one or is shorter.
fn at_least(path: &str, value: &str, min: Duration, errors: &mut Vec<ConfigError>) -> Duration {
    match parse_duration(value) {
        Ok(d) if d >= min => d,
        Ok(_) => {
            errors.push(ConfigError {
                path: path.into(),
                message: format!("must be at least {}", format_duration(min)),
            });
            min
        }
        Err(e) => {
            errors.push(ConfigError {
                path: path.into(),
                message: e.to_string(),
            });
            min
        }
    }
}

/// Counts and limits that must be at least 1, and the schedule's jitter.
fn check_counts(s: &Sections, errors: &mut Vec<ConfigError>) {
    let (crawl, http, schedule) = (&s.crawl, &s.http, &s.schedule);
    for (path, value) in [
        ("crawl.max_pages", crawl.max_pages as u64),
        ("http.max_connections", http.max_connections as u64),
        (
            "http.max_connections_per_client",
            http.max_connections_per_client as u64,
        ),
        ("crawl.max_bytes", crawl.max_bytes),
        ("crawl.concurrency", crawl.concurrency as u64),
        (
            "crawl.per_host_concurrency",
            crawl.per_host_concurrency as u64,
        ),
        (
            "crawl.per_site_concurrency",
            crawl.per_site_concurrency as u64,
        ),
        ("crawl.max_body_size", crawl.max_body_size as u64),
        ("crawl.scripts.max_bytes", crawl.scripts.max_bytes as u64),
        (
            "crawl.max_flags_per_crawl",
            crawl.max_flags_per_crawl as u64,
        ),
        (
            "schedule.max_concurrent_crawls",
            schedule.max_concurrent_crawls as u64,
        ),
        ("crawl.traps.max_path_len", crawl.traps.max_path_len as u64),
        (
            "crawl.traps.max_query_len",
            crawl.traps.max_query_len as u64,
        ),
        (
            "crawl.traps.max_segment_repeats",
            crawl.traps.max_segment_repeats as u64,
        ),
        (
            "crawl.traps.max_query_variants",
            crawl.traps.max_query_variants as u64,
        ),
        (
            "crawl.traps.duplicate_window",
            u64::from(crawl.traps.duplicate_window),
        ),
    ] {
        if value == 0 {
            errors.push(ConfigError {
                path: path.into(),
                message: "must be at least 1".into(),
            });
        }
    }
    let margin = s.review.case_rescore_margin;
    if !(margin.is_finite() && margin >= 0.0) {
        errors.push(ConfigError {
            path: "review.case_rescore_margin".into(),
            message: format!("{margin} is not a score margin of 0 or more"),
        });
    }
    if !(1..=365).contains(&s.review.notice_deadline_days) {
        errors.push(ConfigError {
            path: "review.notice_deadline_days".into(),
            message: format!(
                "{} is not a number of days from 1 to 365",
                s.review.notice_deadline_days
            ),
        });
    }
    if !(0.0..=0.5).contains(&schedule.jitter) {
        errors.push(ConfigError {
            path: "schedule.jitter".into(),
            message: format!(
                "{} is not a fraction between 0 and 0.5 of the interval",
                schedule.jitter
            ),
        });
    }
}

/// A lease renewed less often than it lasts: at least once with a second to spare, or a
/// daemon crawling normally would lose its sites to the others.
fn check_lease_times(times: &Times, errors: &mut Vec<ConfigError>) {
    if times.lease_renew_interval + Duration::from_secs(1) > times.lease_ttl {
        errors.push(ConfigError {
            path: "schedule.lease_renew_interval".into(),
            message: format!(
                "must be at least 1s shorter than schedule.lease_ttl ({}); a third of it is usual",
                format_duration(times.lease_ttl)
            ),
        });
    }
}

fn check_user_agents(crawl: &CrawlDefaults, errors: &mut Vec<ConfigError>) {
    for (name, ua) in [
        ("crawl.user_agent_desktop", &crawl.user_agent_desktop),
        ("crawl.user_agent_mobile", &crawl.user_agent_mobile),
    ] {
        if let Some(ua) = ua
            && (ua.is_empty() || ua.chars().any(|c| c.is_control()))
        {
            errors.push(ConfigError {
                path: name.into(),
                message: "must be non-empty and free of control characters".into(),
            });
        }
    }
}

/// `http.listen`, which needs at least one address.
fn http_listen(http: &HttpConfig, errors: &mut Vec<ConfigError>) -> Vec<SocketAddr> {
    if http.listen.is_empty() {
        errors.push(ConfigError {
            path: "http.listen".into(),
            message: "needs at least one address (HOST:PORT)".into(),
        });
    }
    socket_addresses("http.listen", &http.listen, errors)
}

/// The addresses of the list at `key` that parse; each other is an error.
fn socket_addresses(
    key: &str,
    addresses: &[String],
    errors: &mut Vec<ConfigError>,
) -> Vec<SocketAddr> {
    let mut parsed = Vec::new();
    for (i, address) in addresses.iter().enumerate() {
        match address.parse::<SocketAddr>() {
            Ok(addr) => parsed.push(addr),
            Err(_) => errors.push(ConfigError {
                path: format!("{key}[{i}]"),
                message: format!("`{address}` is not IP:PORT"),
            }),
        }
    }
    parsed
}

/// `review.templates_dir`, made relative to the config file's directory.
fn resolve_templates_dir(review: &mut ReviewConfig, base: &Path, errors: &mut Vec<ConfigError>) {
    if let Some(dir) = &review.templates_dir {
        let dir = base.join(dir);
        if !dir.is_dir() {
            errors.push(ConfigError {
                path: "review.templates_dir".into(),
                message: format!("`{}` is not a directory", dir.display()),
            });
        }
        review.templates_dir = Some(dir);
    }
    if let Some(font) = &review.notice_font {
        let font = base.join(font);
        if !font.is_file() {
            errors.push(ConfigError {
                path: "review.notice_font".into(),
                message: format!("`{}` is not a font file", font.display()),
            });
        }
        review.notice_font = Some(font);
    } else if review.notice_font_index.is_some() {
        errors.push(ConfigError {
            path: "review.notice_font_index".into(),
            message: "needs review.notice_font (the collection it picks a face of)".into(),
        });
    }
}

fn api_tokens(
    api: &ApiConfig,
    errors: &mut Vec<ConfigError>,
) -> sitepatrol_server::review::auth::Tokens {
    match sitepatrol_server::review::auth::Tokens::new(&api.tokens) {
        Ok(tokens) => tokens,
        Err(problems) => {
            // Each problem reads `api.tokens[i]: message`; keep the key path apart.
            for problem in problems {
                let (path, message) = problem
                    .split_once(": ")
                    .map(|(p, m)| (p.to_string(), m.to_string()))
                    .unwrap_or_else(|| ("api.tokens".to_string(), problem.clone()));
                errors.push(ConfigError { path, message });
            }
            sitepatrol_server::review::auth::Tokens::default()
        }
    }
}

fn metrics_token(http: &HttpConfig, base: &Path, errors: &mut Vec<ConfigError>) -> Option<Secret> {
    match secret::resolve_secret(
        "http.metrics_token",
        http.metrics_token.as_deref(),
        http.metrics_token_file.as_deref(),
        http.metrics_token_env.as_deref(),
        base,
    ) {
        Ok(secret) => secret,
        Err(e) => {
            errors.push(e);
            None
        }
    }
}

/// The PostgreSQL URL, when one is set: a `postgres://` or `postgresql://` URL (the value
/// itself is never put in an error: it holds a password).
fn store_url(store: &StoreConfig, base: &Path, errors: &mut Vec<ConfigError>) -> Option<Secret> {
    if !(1..=1000).contains(&store.pool_size) {
        errors.push(ConfigError {
            path: "store.pool_size".into(),
            message: format!("must be 1 to 1000, not {}", store.pool_size),
        });
    }
    let url = match secret::resolve_secret(
        "store.url",
        store.url.as_deref(),
        store.url_file.as_deref(),
        store.url_env.as_deref(),
        base,
    ) {
        Ok(url) => url?,
        Err(e) => {
            errors.push(e);
            return None;
        }
    };
    let scheme = url.expose().split_once("://").map(|(s, _)| s);
    if !matches!(scheme, Some("postgres" | "postgresql")) {
        errors.push(ConfigError {
            path: "store.url".into(),
            message: format!(
                "must be a postgres:// or postgresql:// URL (scheme {})",
                scheme.map_or("missing".to_string(), |s| format!("`{s}`"))
            ),
        });
        return None;
    }
    Some(url)
}

fn check_rule_paths(rules: &RulesConfig, errors: &mut Vec<ConfigError>) {
    if rules.paths.is_empty() {
        errors.push(ConfigError {
            path: "rules.paths".into(),
            message: "needs at least one path, or \"bundled\"".into(),
        });
    }
    for (i, p) in rules.paths.iter().enumerate() {
        if p != "bundled" && !Path::new(p).exists() {
            errors.push(ConfigError {
                path: format!("rules.paths[{i}]"),
                message: format!("`{p}` does not exist"),
            });
        }
    }
}

/// `hosted_networks`, parsed and truncated to their prefixes.
fn hosted_nets(hosted_networks: &[String], errors: &mut Vec<ConfigError>) -> Vec<ipnet::IpNet> {
    networks("hosted_networks", hosted_networks, errors)
}

/// A list of networks (CIDR, or single addresses) at the key `key`; each bad one is an error
/// at `key[i]`.
fn networks(key: &str, list: &[String], errors: &mut Vec<ConfigError>) -> Vec<ipnet::IpNet> {
    let mut nets = Vec::new();
    for (i, cidr) in list.iter().enumerate() {
        match parse_cidr(cidr) {
            Ok((addr, prefix)) => {
                if let Ok(net) = ipnet::IpNet::new(addr, prefix) {
                    nets.push(net.trunc());
                }
            }
            Err(e) => errors.push(ConfigError {
                path: format!("{key}[{i}]"),
                message: e.to_string(),
            }),
        }
    }
    nets
}

/// The render stage's limits: a browser needs some memory and a visible window.
fn check_render(render: &RenderSection, errors: &mut Vec<ConfigError>) {
    let mut bad = |path: &str, message: &str| {
        errors.push(ConfigError {
            path: path.into(),
            message: message.into(),
        })
    };
    if render.memory_mb < 128 {
        bad("render.memory_mb", "must be at least 128 (MiB)");
    }
    if render.max_pages == 0 {
        bad("render.max_pages", "must be at least 1");
    }
    for (path, value) in [
        ("render.viewport_width", render.viewport_width),
        ("render.viewport_height", render.viewport_height),
    ] {
        if !(100..=8192).contains(&value) {
            bad(path, "must be between 100 and 8192 (pixels)");
        }
    }
}

fn check_filing(filing: &FilingConfig, base: &Path, errors: &mut Vec<ConfigError>) {
    if filing.registry_file.is_some() && filing.registry_url.is_some() {
        errors.push(ConfigError {
            path: "filing.registry_url".into(),
            message: "set registry_file or registry_url, not both".into(),
        });
    }
    if let Some(url) = &filing.registry_url
        && !url.contains("{domain}")
    {
        errors.push(ConfigError {
            path: "filing.registry_url".into(),
            message: format!("`{url}` has no {{domain}} placeholder"),
        });
    }
    for (key, path) in [
        ("filing.registry_file", &filing.registry_file),
        ("filing.services", &filing.services),
    ] {
        if let Some(path) = path
            && !base.join(path).is_file()
        {
            errors.push(ConfigError {
                path: key.into(),
                message: format!("`{}` is not a file", path.display()),
            });
        }
    }
}

fn check_log_filter(logging: &LoggingConfig, errors: &mut Vec<ConfigError>) {
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&logging.level) {
        errors.push(ConfigError {
            path: "logging.level".into(),
            message: format!("`{}` is not a log filter: {e}", logging.level),
        });
    }
}

/// Every site, its problems reported under its key path: what `validate_site` finds, a demo
/// site without the demo, and an id used twice.
fn validate_sites(
    sites: Vec<(String, SiteSpec)>,
    demo_enabled: bool,
    errors: &mut Vec<ConfigError>,
) -> Vec<SiteSpec> {
    let mut ids = HashSet::new();
    let mut valid_sites = Vec::new();
    for (path, site) in sites {
        let mut problems = Vec::new();
        validate_site(&site, &mut problems);
        if site.demo && !demo_enabled {
            problems.push((
                "demo".to_string(),
                "a demo site needs [demo] enabled = true".to_string(),
            ));
        }
        if !ids.insert(site.id.clone()) {
            problems.push((
                "id".into(),
                format!("`{}` is used by another site", site.id),
            ));
        }
        for (key, message) in &problems {
            errors.push(ConfigError {
                path: join_path(&path, key),
                message: message.clone(),
            });
        }
        valid_sites.push(site);
    }
    valid_sites
}

fn positive_api(max_failures: u32, errors: &mut Vec<ConfigError>) {
    if max_failures == 0 {
        errors.push(ConfigError {
            path: "api.max_failures".into(),
            message: "must be at least 1".into(),
        });
    }
}

fn join_path(prefix: &str, inner: &str) -> String {
    match (prefix.is_empty(), inner.is_empty()) {
        (_, true) => prefix.to_string(),
        (true, false) => inner.to_string(),
        (false, false) if inner.starts_with('[') => format!("{prefix}{inner}"),
        (false, false) => format!("{prefix}.{inner}"),
    }
}

/// Deserialize one section; on error, record it with its key path and use the default.
fn section<T: DeserializeOwned + Default>(
    table: &toml::Table,
    key: &str,
    errors: &mut Vec<ConfigError>,
) -> T {
    let Some(value) = table.get(key) else {
        return T::default();
    };
    deserialize_entry(value.clone(), key, errors).unwrap_or_default()
}

/// Deserialize one table of the config (a section, a site, a webhook), pushing every key's
/// error under `prefix`, not only the first: serde stops at the first bad key, so the bad
/// key is set aside and the rest tried again, until the others pass. `None` when any failed.
pub(crate) fn deserialize_entry<T: DeserializeOwned>(
    mut value: toml::Value,
    prefix: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<T> {
    let mut set_aside: Vec<String> = Vec::new();
    loop {
        let (inner, message) = match deserialize::<T>(value.clone()) {
            Ok(v) if set_aside.is_empty() => return Some(v),
            Ok(_) => return None,
            Err(e) => e,
        };
        // Setting a required key aside makes it missing; that is not another error.
        let missing_set_aside = set_aside
            .iter()
            .any(|key| message == format!("missing field `{key}`"));
        if !missing_set_aside {
            errors.push(ConfigError {
                path: join_path(prefix, &inner),
                message,
            });
        }
        let key = top_key(&inner);
        let removed = match (&mut value, key) {
            (toml::Value::Table(table), Some(key)) => table.remove(key).is_some(),
            _ => false,
        };
        if !removed || missing_set_aside {
            return None;
        }
        set_aside.push(key.unwrap_or_default().to_string());
    }
}

/// The table key a serde path starts with: `port` of `port`, `a` of `a.b` or `a[0]`.
fn top_key(path: &str) -> Option<&str> {
    let end = path.find(['.', '[']).unwrap_or(path.len());
    (end > 0).then(|| &path[..end])
}

/// Deserialize with the path of the failing key (relative to `value`).
pub(crate) fn deserialize<T: DeserializeOwned>(value: toml::Value) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        (path, e.into_inner().message().trim().to_string())
    })
}

/// A `hosted_networks` entry that [`parse_cidr`] does not read, quoted in the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("`{text}` is not a CIDR (ADDRESS/PREFIX)")]
    Address {
        text: String,
        #[source]
        source: std::net::AddrParseError,
    },
    #[error("`{text}`: the prefix must be 0..={max}")]
    Prefix { text: String, max: u8 },
}

/// `10.0.0.0/8`, `2001:db8::/32` or a bare address.
pub fn parse_cidr(text: &str) -> Result<(std::net::IpAddr, u8), CidrError> {
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let addr: std::net::IpAddr = addr.trim().parse().map_err(|source| CidrError::Address {
        text: text.to_string(),
        source,
    })?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(p) => p
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| CidrError::Prefix {
                text: text.to_string(),
                max,
            })?,
    };
    Ok((addr, prefix))
}

#[cfg(test)]
mod tests;
