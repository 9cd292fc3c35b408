//! A customer's site: as written (`SiteSpec`, in the config's `[[sites]]` and in inventory
//! files alike) and as checked (`Site`), with the crawl choices a site may override. The
//! config and the inventory both read sites; neither owns them.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use url::Url;

use crate::duration::parse_duration;

/// Which browsers a site is fetched as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Agents {
    Desktop,
    Mobile,
    Both,
}

/// Whether a crawl obeys the site's robots.txt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RobotsPolicy {
    Obey,
    Ignore,
}

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
    /// The customer's name, as rectification notices address it (`customer` is the id).
    #[serde(default)]
    pub customer_name: Option<String>,
    /// Where the customer's notices go.
    #[serde(default)]
    pub contact_email: Option<String>,
    #[serde(default)]
    pub contact_phone: Option<String>,
    /// The provider's account manager for the customer.
    #[serde(default)]
    pub account_manager: Option<String>,
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
    /// The customer's details from the row (empty values dropped, text trimmed).
    pub contact: sitepatrol_store::CustomerContact,
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

    /// The server this site's crawls connect to, as the store's leases group sites besides
    /// the host (sites of one origin go to one daemon at a time): none without an `origin`
    /// (the crawl resolves the domains, and the store cannot know the address before it
    /// does). The address alone when the site uses a standard web port (none given, 80 or
    /// 443); `ip:port` (IPv6 in brackets) for any other port.
    ///
    /// Why the port at all: on loopback, distinct ports are distinct server processes (each
    /// test site has its own; the demo server is one, and its sites share one key), and one
    /// key for all of 127.0.0.1 would leave every daemon of a test fleet but one idle. Why
    /// not always: in production the sites on one server share its standard ports, and a
    /// plain-HTTP site (the default scheme, port 80) and an HTTPS site (443) of one origin
    /// are one server, so there the key is the IP.
    pub fn origin_key(&self) -> Option<String> {
        let ip = self.origin?.to_canonical();
        Some(match self.port {
            None | Some(80) | Some(443) => ip.to_string(),
            Some(port) => std::net::SocketAddr::new(ip, port).to_string(),
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
            Err(e) => problem("interval", e.to_string()),
        }
    }
    if spec.max_pages == Some(0) {
        problem("max_pages", "must be at least 1".into());
    }
    if spec.max_bytes == Some(0) {
        problem("max_bytes", "must be at least 1".into());
    }
    check_contact(spec, &mut problem);
}

/// Longest customer name, phone number and account manager, in characters; an e-mail
/// address is capped at RFC 5321's 254.
const MAX_NAME_CHARS: usize = 200;
const MAX_PHONE_CHARS: usize = 40;
const MAX_EMAIL_CHARS: usize = 254;

/// The customer's details: they are printed into legal notices and e-mail headers, so no
/// control characters (a newline in a name would forge a line of the notice), bounded
/// lengths, and an address that looks like one.
fn check_contact(spec: &SiteSpec, problem: &mut impl FnMut(&str, String)) {
    let fields = [
        ("customer_name", &spec.customer_name, MAX_NAME_CHARS),
        ("contact_email", &spec.contact_email, MAX_EMAIL_CHARS),
        ("contact_phone", &spec.contact_phone, MAX_PHONE_CHARS),
        ("account_manager", &spec.account_manager, MAX_NAME_CHARS),
    ];
    for (key, value, max) in fields {
        let Some(value) = value.as_deref().map(str::trim) else {
            continue;
        };
        if value.chars().any(char::is_control) {
            problem(
                key,
                "must not contain control characters (newlines, tabs, ...)".into(),
            );
        } else if value.chars().count() > max {
            problem(key, format!("is longer than {max} characters"));
        }
    }
    if let Some(email) = present(&spec.contact_email)
        && !email.chars().any(char::is_control)
        && let Err(why) = check_email(&email)
    {
        problem(
            "contact_email",
            format!("`{email}` is not an e-mail address: {why}"),
        );
    }
    if let Some(phone) = present(&spec.contact_phone)
        && !phone.chars().all(|c| {
            c.is_ascii_digit()
                || matches!(c, '+' | '-' | ' ' | '(' | ')' | '.' | '/' | ',' | '#' | '*')
        })
    {
        problem(
            "contact_phone",
            format!("`{phone}` may hold only digits, spaces and + - ( ) . / , # *"),
        );
    }
}

/// The shape of an address, not its deliverability: one `@`, a local part without spaces,
/// and a domain of dotted labels.
fn check_email(email: &str) -> Result<(), &'static str> {
    let (local, domain) = email.rsplit_once('@').ok_or("no `@`")?;
    if local.is_empty() || local.len() > 64 {
        return Err("the part before `@` must be 1-64 characters");
    }
    if local.contains(['@', ' ', '<', '>', ',', ';', '"']) {
        return Err("the part before `@` has a character that needs quoting");
    }
    if domain.is_empty()
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
        || domain
            .contains(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | ',' | ';' | '[' | ']'))
    {
        return Err("the part after `@` is not a domain");
    }
    Ok(())
}

/// A value given and not blank, trimmed: in CSV an empty cell means "not given".
fn present(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
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

pub(crate) fn into_site(spec: SiteSpec) -> Site {
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
        contact: sitepatrol_store::CustomerContact {
            customer_name: present(&spec.customer_name),
            contact_email: present(&spec.contact_email),
            contact_phone: present(&spec.contact_phone),
            account_manager: present(&spec.account_manager),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `-bad-.test` and `a..b` once passed validation and failed only when resolved.
    #[test]
    fn host_names_have_dns_shape() {
        for good in [
            "a.cn",
            "www.example.test",
            "xn--fiqs8s.cn",
            "中国.cn",
            "a-b.c_d.test",
            "WWW.A.CN",
        ] {
            assert_eq!(check_domain(good), Ok(()), "{good}");
        }
        let long_label = format!("{}.test", "a".repeat(64));
        let long_name = format!("{}test", "abcdefghi.".repeat(26));
        for (bad, why) in [
            ("-bad-.test", "hyphen"),
            ("bad-.test", "hyphen"),
            ("a..b", "empty label"),
            (long_label.as_str(), "63"),
            (long_name.as_str(), "253"),
            ("a!b.test", "letters, digits"),
            ("10.0.0.1", "address"),
            ("http://a.cn", "no scheme"),
        ] {
            let error = check_domain(bad).unwrap_err();
            assert!(error.contains(why), "{bad}: {error}");
        }
    }

    #[test]
    fn origin_keys_are_the_address_with_a_port_that_is_not_a_standard_one() {
        let site = |origin: Option<&str>, scheme: Scheme, port: Option<u16>| Site {
            id: "s".into(),
            customer: "c".into(),
            domains: vec!["a.cn".into()],
            origin: origin.map(|o| o.parse().unwrap()),
            scheme,
            port,
            interval: None,
            max_pages: None,
            max_depth: None,
            max_bytes: None,
            robots: None,
            agents: None,
            allow_private_networks: None,
            demo: false,
            contact: Default::default(),
        };
        use Scheme::{Http, Https};
        for (origin, scheme, port, key) in [
            (None, Https, Some(8443), None),
            (Some("203.0.113.7"), Http, None, Some("203.0.113.7")),
            (Some("203.0.113.7"), Https, None, Some("203.0.113.7")),
            (Some("203.0.113.7"), Https, Some(443), Some("203.0.113.7")),
            (Some("203.0.113.7"), Http, Some(443), Some("203.0.113.7")),
            (Some("203.0.113.7"), Http, Some(80), Some("203.0.113.7")),
            (Some("127.0.0.1"), Http, Some(8080), Some("127.0.0.1:8080")),
            (Some("127.0.0.1"), Http, Some(8081), Some("127.0.0.1:8081")),
            (Some("2001:DB8::1"), Https, None, Some("2001:db8::1")),
            (
                Some("2001:db8::1"),
                Https,
                Some(8443),
                Some("[2001:db8::1]:8443"),
            ),
            (Some("::ffff:203.0.113.7"), Http, None, Some("203.0.113.7")),
        ] {
            assert_eq!(
                site(origin, scheme, port).origin_key().as_deref(),
                key,
                "{origin:?} {scheme:?} {port:?}"
            );
        }
    }
}
