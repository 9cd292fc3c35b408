//! The inventory: the customer sites the daemon patrols.
//!
//! Sites come from `[[sites]]` in the config and from an inventory file, CSV with a header or
//! JSON lines, that may hold hundreds of thousands of them. Every row is checked, and every
//! problem is reported with its file and line; an inventory with any error is refused whole,
//! so a reload never half-applies (the daemon keeps the inventory it had).

use std::collections::HashMap;
use std::fmt;
use std::io::BufRead;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use url::Url;

use crate::config::{Agents, InventoryFormat, RobotsPolicy, parse_duration};

/// One site as written in the config, a CSV row or a JSON line.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteSpec {
    pub id: String,
    pub customer: String,
    /// The first is where crawls start; the others are the same site under other names. In
    /// CSV: separated by `;`.
    #[serde(deserialize_with = "list_or_string")]
    pub domains: Vec<String>,
    /// Connect here instead of resolving the domains (the origin server behind a CDN, or a
    /// host in the provider's own network): the fetcher's `--resolve`.
    #[serde(default)]
    pub origin: Option<String>,
    /// `http` (the default: plain-HTTP sites that redirect are followed to HTTPS) or `https`.
    #[serde(default)]
    pub scheme: Option<String>,
    #[serde(default)]
    pub port: Option<u16>,
    /// Time between crawls, like `6h`; the schedule's default otherwise.
    #[serde(default)]
    pub interval: Option<String>,
    #[serde(default)]
    pub max_pages: Option<usize>,
    #[serde(default)]
    pub max_depth: Option<u32>,
    #[serde(default)]
    pub max_bytes: Option<u64>,
    #[serde(default)]
    pub robots: Option<RobotsPolicy>,
    #[serde(default)]
    pub agents: Option<Agents>,
    /// Let this site's crawl reach loopback/private addresses (an origin inside the
    /// provider's network, the demo site). The SSRF guard stays on for every other site.
    #[serde(default)]
    pub allow_private_networks: Option<bool>,
    /// Served by the daemon's built-in demo server (config only): origin and port are filled
    /// in when that server is listening.
    #[serde(default)]
    pub demo: bool,
}

fn list_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Either::deserialize(d)? {
        Either::List(list) => list,
        Either::Text(text) => text
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

/// A checked site.
#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    pub id: Arc<str>,
    pub customer: Arc<str>,
    pub domains: Vec<String>,
    pub origin: Option<IpAddr>,
    pub scheme: Scheme,
    pub port: Option<u16>,
    pub interval: Option<Duration>,
    pub max_pages: Option<usize>,
    pub max_depth: Option<u32>,
    pub max_bytes: Option<u64>,
    pub robots: Option<RobotsPolicy>,
    pub agents: Option<Agents>,
    pub allow_private_networks: Option<bool>,
    pub demo: bool,
}

impl Site {
    /// Where crawls start: the first domain's home page.
    pub fn start_url(&self) -> Option<Url> {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        let host = self.domains.first()?;
        let text = match self.port {
            Some(port) => format!("{scheme}://{host}:{port}/"),
            None => format!("{scheme}://{host}/"),
        };
        Url::parse(&text).ok()
    }

    /// The port crawls connect to.
    pub fn effective_port(&self) -> u16 {
        self.port.unwrap_or(match self.scheme {
            Scheme::Http => 80,
            Scheme::Https => 443,
        })
    }
}

/// Check a spec; problems are `(key, message)` pairs.
pub fn validate_site(spec: &SiteSpec, problems: &mut Vec<(String, String)>) {
    let mut problem = |key: &str, message: String| problems.push((key.to_string(), message));
    if spec.id.is_empty()
        || spec.id.len() > 128
        || !spec
            .id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
    {
        problem(
            "id",
            format!(
                "`{}` must be 1-128 characters of A-Z a-z 0-9 - _ . :",
                spec.id
            ),
        );
    }
    if spec.customer.trim().is_empty() {
        problem("customer", "must not be empty".into());
    }
    if spec.domains.is_empty() {
        problem("domains", "needs at least one domain".into());
    }
    for (i, domain) in spec.domains.iter().enumerate() {
        if let Err(e) = check_domain(domain) {
            problem(&format!("domains[{i}]"), e);
        }
    }
    if let Some(origin) = &spec.origin
        && origin.trim().parse::<IpAddr>().is_err()
    {
        problem(
            "origin",
            format!("`{origin}` is not an IP address (the port is `port`)"),
        );
    }
    if let Some(scheme) = &spec.scheme
        && !matches!(scheme.as_str(), "http" | "https")
    {
        problem("scheme", format!("`{scheme}` is not http or https"));
    }
    if spec.port == Some(0) && !spec.demo {
        problem("port", "must be 1-65535".into());
    }
    if let Some(interval) = &spec.interval {
        match parse_duration(interval) {
            Ok(d) if d >= Duration::from_millis(100) => {}
            Ok(_) => problem("interval", "must be at least 100ms".into()),
            Err(e) => problem("interval", e),
        }
    }
    if spec.max_pages == Some(0) {
        problem("max_pages", "must be at least 1".into());
    }
    if spec.max_bytes == Some(0) {
        problem("max_bytes", "must be at least 1".into());
    }
}

fn check_domain(domain: &str) -> Result<(), String> {
    let lower = domain.trim().to_ascii_lowercase();
    if lower.is_empty()
        || lower.contains("://")
        || lower.contains(['/', ':', ' ', '?', '#', '@'])
        || lower.starts_with('.')
        || lower.ends_with('.')
    {
        return Err(format!(
            "`{domain}` is not a host name (no scheme, port or path)"
        ));
    }
    match url::Host::parse(&lower) {
        Ok(url::Host::Domain(ascii)) => check_labels(domain, &ascii),
        Ok(_) => Err(format!(
            "`{domain}` is an address; name the domain and put the address in `origin`"
        )),
        Err(e) => Err(format!("`{domain}` is not a host name: {e}")),
    }
}

/// DNS's shape for a host name (RFC 1123), on the name's ASCII form (an IDN is punycode by
/// now): labels of 1-63 letters, digits and hyphens, neither starting nor ending with a
/// hyphen, 253 characters in all. `url` lets `a..b` and `-bad-.test` through, and neither can
/// be resolved. Underscores pass: some real sites' subdomains carry them and browsers reach
/// them.
fn check_labels(domain: &str, ascii: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("`{domain}` is not a host name: {why}"));
    if ascii.len() > 253 {
        return bad("longer than 253 characters");
    }
    for label in ascii.split('.') {
        if label.is_empty() {
            return bad("an empty label (two dots in a row)");
        }
        if label.len() > 63 {
            return bad("a label longer than 63 characters");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return bad("a label starts or ends with a hyphen");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return bad("only letters, digits and hyphens may form a label");
        }
    }
    Ok(())
}

fn into_site(spec: SiteSpec) -> Site {
    Site {
        id: Arc::from(spec.id.as_str()),
        customer: Arc::from(spec.customer.as_str()),
        domains: spec
            .domains
            .iter()
            .map(|d| d.trim().to_ascii_lowercase())
            .collect(),
        origin: spec.origin.as_deref().and_then(|o| o.trim().parse().ok()),
        scheme: match spec.scheme.as_deref() {
            Some("https") => Scheme::Https,
            _ => Scheme::Http,
        },
        port: spec.port,
        interval: spec
            .interval
            .as_deref()
            .and_then(|i| parse_duration(i).ok()),
        max_pages: spec.max_pages,
        max_depth: spec.max_depth,
        max_bytes: spec.max_bytes,
        robots: spec.robots,
        agents: spec.agents,
        allow_private_networks: spec.allow_private_networks,
        demo: spec.demo,
    }
}

/// A problem in an inventory file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryError {
    /// `file:line`, or `config: sites[i]`.
    pub location: String,
    pub message: String,
}

impl fmt::Display for InventoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Errors shown at most; a broken 100k-line file would otherwise flood the log.
pub const MAX_ERRORS: usize = 100;

/// Every problem of a load (the first [`MAX_ERRORS`]) and how many there were.
#[derive(Debug, Clone)]
pub struct InventoryErrors {
    pub errors: Vec<InventoryError>,
    pub total: usize,
}

impl fmt::Display for InventoryErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the inventory has {} error(s)", self.total)?;
        for e in &self.errors {
            write!(f, "\n  {e}")?;
        }
        if self.total > self.errors.len() {
            write!(f, "\n  ... and {} more", self.total - self.errors.len())?;
        }
        Ok(())
    }
}

impl std::error::Error for InventoryErrors {}

/// The sites to patrol, config sites first, then the file's in file order.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub sites: Vec<Site>,
}

struct Collector {
    errors: Vec<InventoryError>,
    total: usize,
}

impl Collector {
    fn push(&mut self, location: String, message: String) {
        self.total += 1;
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(InventoryError { location, message });
        }
    }
}

impl Inventory {
    /// Build the inventory from the config's sites (already validated) and the file, if any.
    pub fn load(
        config_sites: &[SiteSpec],
        file: Option<(&Path, InventoryFormat)>,
    ) -> Result<Inventory, InventoryErrors> {
        let mut errors = Collector {
            errors: Vec::new(),
            total: 0,
        };
        let mut sites = Vec::with_capacity(config_sites.len());
        let mut seen: HashMap<Arc<str>, String> = HashMap::new();
        let mut add = |location: String, spec: SiteSpec, errors: &mut Collector| {
            let mut problems = Vec::new();
            validate_site(&spec, &mut problems);
            if spec.demo && !location.starts_with("config") {
                problems.push((
                    "demo".into(),
                    "only sites in the config can be demo sites".into(),
                ));
            }
            if !problems.is_empty() {
                for (key, message) in problems {
                    errors.push(location.clone(), format!("{key}: {message}"));
                }
                return;
            }
            let site = into_site(spec);
            if let Some(first) = seen.get(&site.id) {
                errors.push(
                    location,
                    format!("id: `{}` is already used at {first}", site.id),
                );
                return;
            }
            seen.insert(site.id.clone(), location);
            sites.push(site);
        };
        for (i, spec) in config_sites.iter().enumerate() {
            add(format!("config: sites[{i}]"), spec.clone(), &mut errors);
        }
        if let Some((path, format)) = file {
            let format = match format {
                InventoryFormat::Auto
                    if path
                        .extension()
                        .is_some_and(|e| e.eq_ignore_ascii_case("csv")) =>
                {
                    InventoryFormat::Csv
                }
                InventoryFormat::Auto => InventoryFormat::Jsonl,
                other => other,
            };
            let name = path.display().to_string();
            match std::fs::File::open(path) {
                Err(e) => errors.push(name, format!("cannot open the inventory: {e}")),
                Ok(file) => {
                    let reader = std::io::BufReader::with_capacity(1 << 16, file);
                    match format {
                        InventoryFormat::Csv => read_csv(reader, &name, &mut errors, &mut add),
                        _ => read_jsonl(reader, &name, &mut errors, &mut add),
                    }
                }
            }
        }
        if errors.total > 0 {
            return Err(InventoryErrors {
                errors: errors.errors,
                total: errors.total,
            });
        }
        Ok(Inventory { sites })
    }
}

fn read_csv(
    reader: impl std::io::Read,
    name: &str,
    errors: &mut Collector,
    add: &mut impl FnMut(String, SiteSpec, &mut Collector),
) {
    let mut csv = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(reader);
    let headers = match csv.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            errors.push(format!("{name}:1"), format!("cannot read the header: {e}"));
            return;
        }
    };
    let mut record = csv::StringRecord::new();
    loop {
        let line = csv.position().line();
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map(|p| p.line()).unwrap_or(line);
                // Empty cells are absent values, so optional columns can be left blank.
                match record.deserialize::<SiteSpec>(Some(&headers)) {
                    Ok(spec) => add(format!("{name}:{line}"), spec, errors),
                    Err(e) => errors.push(format!("{name}:{line}"), csv_message(&e, &headers)),
                }
            }
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(line);
                errors.push(format!("{name}:{line}"), csv_message(&e, &headers));
                if !matches!(e.kind(), csv::ErrorKind::UnequalLengths { .. }) {
                    break;
                }
            }
        }
    }
}

fn csv_message(e: &csv::Error, headers: &csv::StringRecord) -> String {
    match e.kind() {
        csv::ErrorKind::Deserialize { err, .. } => {
            match err.field().and_then(|i| headers.get(i as usize)) {
                Some(column) => format!("{column}: {}", err.kind()),
                None => err.kind().to_string(),
            }
        }
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} fields where the header has {expected_len}"),
        _ => e.to_string(),
    }
}

fn read_jsonl(
    reader: impl BufRead,
    name: &str,
    errors: &mut Collector,
    add: &mut impl FnMut(String, SiteSpec, &mut Collector),
) {
    for (i, line) in reader.lines().enumerate() {
        let location = format!("{name}:{}", i + 1);
        let line = match line {
            Ok(line) => line,
            Err(e) => {
                errors.push(location, format!("cannot read: {e}"));
                return;
            }
        };
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut de = serde_json::Deserializer::from_str(trimmed);
        match serde_path_to_error::deserialize::<_, SiteSpec>(&mut de) {
            Ok(spec) => add(location, spec, errors),
            Err(e) => {
                let path = e.path().to_string();
                let inner = e.into_inner();
                let message = strip_json_position(&inner.to_string());
                let message = if path == "." {
                    message
                } else {
                    format!("{path}: {message}")
                };
                errors.push(location, message);
            }
        }
    }
}

/// serde_json appends "at line 1 column N"; the line is the file's, reported already.
fn strip_json_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests;
