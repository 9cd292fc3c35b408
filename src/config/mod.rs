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
    /// The SQLite database file; its directory is created when missing.
    pub path: PathBuf,
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig {
            path: PathBuf::from("data/sitepatrol.db"),
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
}

impl Default for ScheduleConfig {
    fn default() -> ScheduleConfig {
        ScheduleConfig {
            interval: "6h".into(),
            jitter: 0.1,
            max_concurrent_crawls: 4,
            shutdown_grace: "30s".into(),
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
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
    /// Failed authentications from one client address within `failure_window` after which
    /// it is refused (429) until the window has passed.
    pub max_failures: u32,
    pub failure_window: String,
}

impl Default for ApiConfig {
    fn default() -> ApiConfig {
        ApiConfig {
            tokens: Vec::new(),
            listen: Vec::new(),
            max_failures: 10,
            failure_window: "5m".into(),
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
    /// How long a UI login lasts.
    pub session_ttl: String,
    /// Mark the session cookie `Secure`. Set it when the UI is reached over HTTPS (a
    /// TLS-terminating proxy in front of the daemon); a request with
    /// `X-Forwarded-Proto: https` gets it either way.
    pub secure_cookies: bool,
}

impl Default for ReviewConfig {
    fn default() -> ReviewConfig {
        ReviewConfig {
            templates_dir: None,
            notice_deadline_days: 3,
            provider_name: "sitepatrol".into(),
            session_ttl: "8h".into(),
            secure_cookies: false,
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
    pub http: HttpConfig,
    pub listen: Vec<SocketAddr>,
    pub metrics_token: Option<Secret>,
    pub api: ApiConfig,
    /// `api.listen`, parsed.
    pub api_listen: Vec<SocketAddr>,
    /// `api.tokens`, validated.
    pub api_tokens: sitepatrol_server::review::auth::Tokens,
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
    pub demo: DemoConfig,
    pub sites: Vec<SiteSpec>,
    /// `[[webhooks]]`, validated.
    pub webhooks: Vec<WebhookConfig>,
    /// Durations, parsed once.
    pub times: Times,
}

#[derive(Debug, Clone, Copy)]
pub struct Times {
    pub crawl_max_time: Duration,
    pub delay: Duration,
    pub connect_timeout: Duration,
    pub first_byte_timeout: Duration,
    pub timeout: Duration,
    pub scan_budget: Duration,
    pub interval: Duration,
    pub shutdown_grace: Duration,
    pub body_retention: Duration,
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub api_failure_window: Duration,
    pub session_ttl: Duration,
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
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            let location = e
                .span()
                .map(|s| {
                    let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                    format!("line {line}")
                })
                .unwrap_or_default();
            fail(vec![ConfigError {
                path: location,
                message: e.message().trim().to_string(),
            }])
        })?;
        let mut errors = Vec::new();
        for key in table.keys() {
            if !SECTIONS.contains(&key.as_str()) {
                errors.push(ConfigError {
                    path: key.clone(),
                    message: format!("unknown key; expected one of {}", SECTIONS.join(", ")),
                });
            }
        }
        let store: StoreConfig = section(&table, "store", &mut errors);
        let http: HttpConfig = section(&table, "http", &mut errors);
        let api: ApiConfig = section(&table, "api", &mut errors);
        let mut review: ReviewConfig = section(&table, "review", &mut errors);
        let rules: RulesConfig = section(&table, "rules", &mut errors);
        let crawl: CrawlDefaults = section(&table, "crawl", &mut errors);
        let schedule: ScheduleConfig = section(&table, "schedule", &mut errors);
        let inventory: InventoryConfig = section(&table, "inventory", &mut errors);
        let retention: RetentionConfig = section(&table, "retention", &mut errors);
        let hosted_networks: Vec<String> = section(&table, "hosted_networks", &mut errors);
        let filing: FilingConfig = section(&table, "filing", &mut errors);
        let logging: LoggingConfig = section(&table, "logging", &mut errors);
        let demo: DemoConfig = section(&table, "demo", &mut errors);

        let mut sites = Vec::new();
        match table.get("sites") {
            None => {}
            Some(toml::Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let path = format!("sites[{i}]");
                    if let Some(site) =
                        deserialize_entry::<SiteSpec>(item.clone(), &path, &mut errors)
                    {
                        sites.push((path, site));
                    }
                }
            }
            Some(_) => errors.push(ConfigError {
                path: "sites".into(),
                message: "must be an array of tables ([[sites]])".into(),
            }),
        }

        let webhooks = webhooks::parse(table.get("webhooks"), base, &mut errors);

        let mut duration = |path: &str, value: &str, min: Duration| -> Duration {
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
        };
        let ms = Duration::from_millis;
        let times = Times {
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
            interval: duration("schedule.interval", &schedule.interval, ms(100)),
            shutdown_grace: duration("schedule.shutdown_grace", &schedule.shutdown_grace, ms(0)),
            body_retention: duration("retention.body", &retention.body, ms(0)),
            header_read_timeout: duration(
                "http.header_read_timeout",
                &http.header_read_timeout,
                ms(100),
            ),
            body_read_timeout: duration("http.body_read_timeout", &http.body_read_timeout, ms(100)),
            api_failure_window: duration("api.failure_window", &api.failure_window, ms(1000)),
            session_ttl: duration("review.session_ttl", &review.session_ttl, ms(60_000)),
        };

        let mut positive = |path: &str, value: u64| {
            if value == 0 {
                errors.push(ConfigError {
                    path: path.into(),
                    message: "must be at least 1".into(),
                });
            }
        };
        positive("crawl.max_pages", crawl.max_pages as u64);
        positive("http.max_connections", http.max_connections as u64);
        positive(
            "http.max_connections_per_client",
            http.max_connections_per_client as u64,
        );
        positive("crawl.max_bytes", crawl.max_bytes);
        positive("crawl.concurrency", crawl.concurrency as u64);
        positive(
            "crawl.per_host_concurrency",
            crawl.per_host_concurrency as u64,
        );
        positive(
            "crawl.per_site_concurrency",
            crawl.per_site_concurrency as u64,
        );
        positive("crawl.max_body_size", crawl.max_body_size as u64);
        positive(
            "crawl.max_flags_per_crawl",
            crawl.max_flags_per_crawl as u64,
        );
        positive(
            "schedule.max_concurrent_crawls",
            schedule.max_concurrent_crawls as u64,
        );
        if !(0.0..=0.5).contains(&schedule.jitter) {
            errors.push(ConfigError {
                path: "schedule.jitter".into(),
                message: format!(
                    "{} is not a fraction between 0 and 0.5 of the interval",
                    schedule.jitter
                ),
            });
        }
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

        let mut listen = Vec::new();
        if http.listen.is_empty() {
            errors.push(ConfigError {
                path: "http.listen".into(),
                message: "needs at least one address (HOST:PORT)".into(),
            });
        }
        for (i, address) in http.listen.iter().enumerate() {
            match address.parse::<SocketAddr>() {
                Ok(addr) => listen.push(addr),
                Err(_) => errors.push(ConfigError {
                    path: format!("http.listen[{i}]"),
                    message: format!("`{address}` is not IP:PORT"),
                }),
            }
        }
        let mut api_listen = Vec::new();
        for (i, address) in api.listen.iter().enumerate() {
            match address.parse::<SocketAddr>() {
                Ok(addr) => api_listen.push(addr),
                Err(_) => errors.push(ConfigError {
                    path: format!("api.listen[{i}]"),
                    message: format!("`{address}` is not IP:PORT"),
                }),
            }
        }
        positive_api(api.max_failures, &mut errors);
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
        let api_tokens = match sitepatrol_server::review::auth::Tokens::new(&api.tokens) {
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
        };
        let metrics_token = match secret::resolve_secret(
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
        };
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
        let mut hosted_nets = Vec::new();
        for (i, cidr) in hosted_networks.iter().enumerate() {
            match parse_cidr(cidr) {
                Ok((addr, prefix)) => {
                    if let Ok(net) = ipnet::IpNet::new(addr, prefix) {
                        hosted_nets.push(net.trunc());
                    }
                }
                Err(e) => errors.push(ConfigError {
                    path: format!("hosted_networks[{i}]"),
                    message: e.to_string(),
                }),
            }
        }
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
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&logging.level) {
            errors.push(ConfigError {
                path: "logging.level".into(),
                message: format!("`{}` is not a log filter: {e}", logging.level),
            });
        }

        let mut ids = HashSet::new();
        let mut valid_sites = Vec::new();
        for (path, site) in sites {
            let mut problems = Vec::new();
            validate_site(&site, &mut problems);
            if site.demo && !demo.enabled {
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

        if !errors.is_empty() {
            return Err(fail(errors));
        }
        Ok(Config {
            source: source.to_string(),
            store,
            http,
            listen,
            metrics_token,
            api,
            api_listen,
            api_tokens,
            review,
            rules,
            crawl,
            schedule,
            inventory,
            retention,
            hosted_networks,
            hosted_nets,
            filing: FilingConfig {
                registry_file: filing.registry_file.map(|p| base.join(p)),
                services: filing.services.map(|p| base.join(p)),
                ..filing
            },
            logging,
            demo,
            sites: valid_sites,
            webhooks,
            times,
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
