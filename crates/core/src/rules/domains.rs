//! Domain lists: parsing the formats public lists come in, and one index over the lists of
//! every domain rule, looked up once per URL.
//!
//! A link's host is looked up by walking up its labels (`a.b.example.com`, `b.example.com`,
//! `example.com`, `com`) in one hash map holding every listed domain of every rule, so the
//! cost per link is a handful of hash lookups whatever the size of the lists.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use regex::RegexSet;

/// One entry of a domain list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum DomainPattern {
    /// The domain and every subdomain of it (`example.com` lists `www.example.com`).
    Suffix(String),
    /// Exactly this host (v2fly `full:`).
    Full(String),
    /// Hosts containing this text (v2fly `keyword:`).
    Keyword(String),
    /// Hosts matching this regular expression (v2fly `regexp:`, RE2 syntax like Go's).
    Regex(String),
}

/// What one line of a list said.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    Skip,
    Entry(DomainPattern),
    /// A hosts-file line with several names (aliases): each is an entry.
    Entries(Vec<DomainPattern>),
    /// v2fly `include:NAME`: another list beside this one.
    Include(String),
    /// Not a domain in any format we know; the reason.
    Invalid(String),
}

/// Host names that hosts files map to 0.0.0.0 or 127.0.0.1 for the machine itself.
const HOSTS_FILE_SELF: &[&str] = &[
    "localhost",
    "localhost.localdomain",
    "local",
    "broadcasthost",
    "ip6-localhost",
    "ip6-loopback",
    "0.0.0.0",
];

/// Parse one line of a domain list. Understood: hosts-file lines (`0.0.0.0 example.com`),
/// bare domains, `*.example.com` and `.example.com`, Adblock `||example.com^` host filters,
/// v2fly's `domain:`, `full:`, `keyword:`, `regexp:` and `include:` with `@attribute`
/// suffixes, and comments (`#`, `!`, and `[Adblock ...]` headers).
pub(crate) fn parse_line(raw: &str) -> Line {
    let line = raw.trim().trim_start_matches('\u{FEFF}');
    if line.is_empty() || line.starts_with('#') || line.starts_with('!') || line.starts_with('[') {
        return Line::Skip;
    }
    // Trailing comments: hosts files use `#`, v2fly attributes start with ` @`.
    let line = match line.find(" #").or_else(|| line.find("\t#")) {
        Some(i) => line[..i].trim_end(),
        None => line,
    };
    let line = match line.find(" @") {
        Some(i) => line[..i].trim_end(),
        None => line,
    };
    if let Some((prefix, rest)) = line.split_once(':')
        && matches!(prefix, "domain" | "full" | "keyword" | "regexp" | "include")
    {
        let rest = rest.trim();
        if rest.is_empty() {
            return Line::Invalid(format!("`{prefix}:` with nothing after it"));
        }
        return match prefix {
            "include" => Line::Include(rest.to_string()),
            "keyword" => Line::Entry(DomainPattern::Keyword(rest.to_ascii_lowercase())),
            "regexp" => Line::Entry(DomainPattern::Regex(rest.to_string())),
            "full" => {
                domain(rest).map_or_else(Line::Invalid, |d| Line::Entry(DomainPattern::Full(d)))
            }
            _ => domain(rest).map_or_else(Line::Invalid, |d| Line::Entry(DomainPattern::Suffix(d))),
        };
    }
    if let Some(rest) = line.strip_prefix("||") {
        // Adblock host filter: `||example.com^` with optional `$options`. Path filters
        // (`||example.com/x.js`) name more than a host and are not domain entries.
        let host = rest.split('$').next().unwrap_or("").trim_end_matches('^');
        if host.contains(['/', '*', '^']) {
            return Line::Invalid("an Adblock filter that names more than a host".into());
        }
        return domain(host).map_or_else(Line::Invalid, |d| Line::Entry(DomainPattern::Suffix(d)));
    }
    let mut tokens = line.split_whitespace();
    let first = tokens.next().unwrap_or("");
    if is_ip_literal(first) {
        // A hosts-file line: the address, then one or more names.
        let names: Vec<&str> = tokens
            .filter(|t| !HOSTS_FILE_SELF.iter().any(|s| s.eq_ignore_ascii_case(t)))
            .collect();
        return match names.as_slice() {
            [] => Line::Skip,
            [name] => {
                domain(name).map_or_else(Line::Invalid, |d| Line::Entry(DomainPattern::Suffix(d)))
            }
            names => names
                .iter()
                .map(|n| domain(n).map(DomainPattern::Suffix))
                .collect::<Result<Vec<_>, _>>()
                .map_or_else(Line::Invalid, Line::Entries),
        };
    }
    if tokens.next().is_some() {
        return Line::Invalid("more than one word".into());
    }
    domain(first).map_or_else(Line::Invalid, |d| Line::Entry(DomainPattern::Suffix(d)))
}

fn is_ip_literal(s: &str) -> bool {
    s.parse::<std::net::IpAddr>().is_ok()
}

/// A list entry as a lower-case ASCII domain (IDNA for Unicode names), or why it is not one.
fn domain(raw: &str) -> Result<String, String> {
    let d = raw
        .trim()
        .trim_start_matches("*.")
        .trim_start_matches('.')
        .trim_end_matches('.');
    if d.is_empty() {
        return Err("an empty domain".into());
    }
    let ascii = if d.is_ascii() {
        d.to_ascii_lowercase()
    } else {
        to_ascii_host(d).ok_or_else(|| format!("`{d}` is not a valid internationalized domain"))?
    };
    let valid = ascii.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    if !valid || ascii.len() > 253 {
        return Err(format!("`{d}` is not a domain name"));
    }
    Ok(ascii)
}

/// IDNA (punycode) form of a Unicode host, through the `url` crate's host parser.
pub(crate) fn to_ascii_host(host: &str) -> Option<String> {
    match url::Host::parse(host).ok()? {
        url::Host::Domain(d) => Some(d.trim_end_matches('.').to_string()),
        url::Host::Ipv4(ip) => Some(ip.to_string()),
        url::Host::Ipv6(ip) => Some(format!("[{ip}]")),
    }
}

/// The byte range of the host in a URL as zones show it (`scheme://user@host:port/...` or
/// `//host/...`), or `None` for relative and non-network URLs.
pub(crate) fn host_range(url: &str) -> Option<std::ops::Range<usize>> {
    // Byte searches (memchr) rather than `str::find`: every delimiter is ASCII, and this runs
    // on every URL of every page.
    let bytes = url.as_bytes();
    let start = if url.starts_with("//") {
        2
    } else {
        let colon = memchr::memmem::find(bytes, b"://")?;
        let scheme = &bytes[..colon];
        if scheme.is_empty()
            || !scheme
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        {
            return None;
        }
        colon + 3
    };
    let authority_end = bytes[start..]
        .iter()
        .position(|b| matches!(b, b'/' | b'?' | b'#' | b'\\'))
        .map_or(url.len(), |i| start + i);
    let host_start =
        memchr::memrchr(b'@', &bytes[start..authority_end]).map_or(start, |i| start + i + 1);
    let authority = &bytes[host_start..authority_end];
    let host_end = if authority.first() == Some(&b'[') {
        memchr::memchr(b']', authority).map_or(authority_end, |i| host_start + i + 1)
    } else {
        memchr::memchr(b':', authority).map_or(authority_end, |i| host_start + i)
    };
    (host_end > host_start).then_some(host_start..host_end)
}

/// A lookup key for a host as a URL shows it: lower case ASCII (IDNA for Unicode hosts), no
/// trailing dot. `None` when the host is not a valid name.
pub(crate) fn lookup_host(host: &str) -> Option<std::borrow::Cow<'_, str>> {
    let host = host.trim_end_matches('.');
    if host.is_empty() {
        return None;
    }
    if host
        .bytes()
        .all(|b| !b.is_ascii_uppercase() && b.is_ascii())
    {
        Some(std::borrow::Cow::Borrowed(host))
    } else if host.is_ascii() {
        Some(std::borrow::Cow::Owned(host.to_ascii_lowercase()))
    } else {
        to_ascii_host(host).map(std::borrow::Cow::Owned)
    }
}

/// FxHash (rustc's hasher): a multiply and rotate per 8 bytes. Every URL's host is hashed
/// several times (once per label suffix), and SipHash's protection against chosen keys is not
/// needed here: the table's keys are our lists, and a chosen lookup key only costs its own
/// lookup.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(buf));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// The rules a listed domain belongs to.
#[derive(Debug, Default, Clone, PartialEq, Eq, Hash)]
struct Group {
    /// Rules that list the domain and its subdomains.
    suffix: Vec<u32>,
    /// Rules that list exactly this host.
    full: Vec<u32>,
}

/// The lists' `regexp:` entries do not compile as one set (each compiled alone when its list
/// was loaded).
#[derive(Debug, thiserror::Error)]
#[error("the domain regexes do not compile together: {0}")]
pub(crate) struct RegexesTogether(#[source] regex::Error);

/// Every domain entry of every domain rule.
pub(crate) struct DomainIndex {
    map: FxMap<Box<str>, u32>,
    groups: Vec<Group>,
    keywords: Vec<(Box<str>, u32)>,
    regex: Option<(RegexSet, Vec<u32>)>,
    /// Per rule: domains its lists over-block (`allow_domains`). A host within one is reported
    /// only by an entry more specific than the allowed domain: allowing `fc2.com` drops the
    /// list's `fc2.com` entry for `blog5.fc2.com`, but `video.fc2.com` stays listed.
    allow: FxMap<Box<str>, Vec<u32>>,
}

impl DomainIndex {
    /// Build from `(rule index, entries, allowed domains)`, taking the entries' strings as the
    /// map's keys (a 200k-entry list allocates each name once). Errors are regexes that do not
    /// compile together (each was checked alone when its list was loaded).
    pub fn new(
        rules: impl IntoIterator<Item = (u32, Vec<DomainPattern>, Vec<String>)>,
    ) -> Result<DomainIndex, RegexesTogether> {
        let mut map: FxMap<Box<str>, u32> = FxMap::default();
        let mut groups: Vec<Group> = Vec::new();
        let mut interned: FxMap<Group, u32> = FxMap::default();
        let mut intern = |group: Group, groups: &mut Vec<Group>| -> u32 {
            *interned.entry(group.clone()).or_insert_with(|| {
                groups.push(group);
                (groups.len() - 1) as u32
            })
        };
        let mut keywords = Vec::new();
        let mut regexes = Vec::new();
        let mut regex_rules = Vec::new();
        let mut allow: FxMap<Box<str>, Vec<u32>> = FxMap::default();
        for (rule, entries, allowed) in rules {
            // Most domains belong to one rule: their group is this rule's, looked up once.
            let only = |full: bool| Group {
                suffix: if full { vec![] } else { vec![rule] },
                full: if full { vec![rule] } else { vec![] },
            };
            let single_suffix = intern(only(false), &mut groups);
            let single_full = intern(only(true), &mut groups);
            map.reserve(entries.len());
            for entry in entries {
                let (name, full) = match entry {
                    DomainPattern::Suffix(d) => (d, false),
                    DomainPattern::Full(d) => (d, true),
                    DomainPattern::Keyword(k) => {
                        keywords.push((k.into_boxed_str(), rule));
                        continue;
                    }
                    DomainPattern::Regex(r) => {
                        regexes.push(r);
                        regex_rules.push(rule);
                        continue;
                    }
                };
                match map.entry(name.into_boxed_str()) {
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        slot.insert(if full { single_full } else { single_suffix });
                    }
                    std::collections::hash_map::Entry::Occupied(mut slot) => {
                        let mut group = groups[*slot.get() as usize].clone();
                        let list = if full {
                            &mut group.full
                        } else {
                            &mut group.suffix
                        };
                        if !list.contains(&rule) {
                            list.push(rule);
                            *slot.get_mut() = intern(group, &mut groups);
                        }
                    }
                }
            }
            for d in allowed {
                let rules = allow.entry(d.into_boxed_str()).or_default();
                if !rules.contains(&rule) {
                    rules.push(rule);
                }
            }
        }
        let regex = if regexes.is_empty() {
            None
        } else {
            let set = regex::RegexSetBuilder::new(&regexes)
                .size_limit(32 << 20)
                .dfa_size_limit(32 << 20)
                .build()
                .map_err(RegexesTogether)?;
            Some((set, regex_rules))
        };
        Ok(DomainIndex {
            map,
            groups,
            keywords,
            regex,
            allow,
        })
    }

    /// Distinct listed domains (suffix and full entries).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Calls `sink(rule)` for each rule that lists `host` (a lookup key from
    /// [`lookup_host`]), at most once per rule.
    pub fn lookup(&self, host: &str, sink: &mut dyn FnMut(u32)) {
        // (rule, length of its most specific entry that matched); 0 for keywords and regexes.
        let mut found: Vec<(u32, usize)> = Vec::new();
        let push = |rule: u32, len: usize, found: &mut Vec<(u32, usize)>| match found
            .iter_mut()
            .find(|(r, _)| *r == rule)
        {
            Some(entry) => entry.1 = entry.1.max(len),
            None => found.push((rule, len)),
        };
        let mut suffix = host;
        let mut exact = true;
        loop {
            if let Some(&id) = self.map.get(suffix) {
                let group = &self.groups[id as usize];
                for &rule in &group.suffix {
                    push(rule, suffix.len(), &mut found);
                }
                if exact {
                    for &rule in &group.full {
                        push(rule, suffix.len(), &mut found);
                    }
                }
            }
            match suffix.find('.') {
                Some(i) => suffix = &suffix[i + 1..],
                None => break,
            }
            exact = false;
        }
        for (keyword, rule) in &self.keywords {
            if host.contains(&**keyword) {
                push(*rule, 0, &mut found);
            }
        }
        // Almost no host matches; `is_match` stops at the first state that decides it, while
        // `matches` runs every pattern to the end.
        if let Some((set, rules)) = &self.regex
            && set.is_match(host)
        {
            for i in set.matches(host).iter() {
                push(rules[i], 0, &mut found);
            }
        }
        if found.is_empty() {
            return;
        }
        if !self.allow.is_empty() {
            let mut suffix = host;
            loop {
                if let Some(allowed) = self.allow.get(suffix) {
                    found.retain(|(r, len)| !(allowed.contains(r) && *len <= suffix.len()));
                }
                match suffix.find('.') {
                    Some(i) => suffix = &suffix[i + 1..],
                    None => break,
                }
            }
        }
        for (rule, _) in found {
            sink(rule);
        }
    }
}

/// Domains that a third-party list names by mistake or too broadly: public-sector zones, web
/// standards hosts, major portals, CDNs (`rulesets/lists/allow/`). Domain rules drop the list
/// entries it covers when they load; structural checks do not count targets it covers.
///
/// Two kinds of entry, because a platform and an organization are allowed differently: an
/// organization's domain (`w3.org`, `gov.cn`) is benign with every subdomain, while a platform
/// that gives each user a subdomain (`blogspot.com`, `github.io`) is allowed only as itself
/// (`full:blogspot.com`), so a list's entries for users' subdomains keep working.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AllowList {
    /// The domain and every subdomain of it.
    whole: std::collections::HashSet<Box<str>, BuildHasherDefault<FxHasher>>,
    /// Exactly this host.
    exact: std::collections::HashSet<Box<str>, BuildHasherDefault<FxHasher>>,
    /// Domains inside a whole-domain entry that it must not cover (`except:academia.edu`: a
    /// company that kept its .edu name from before the zone was restricted).
    except: std::collections::HashSet<Box<str>, BuildHasherDefault<FxHasher>>,
}

/// A `keyword:` or `regexp:` line in an allowlist, which names domains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an allowlist takes domains, not `keyword:` or `regexp:`")]
pub(crate) struct NotADomainEntry;

impl AllowList {
    /// Add an exception: the domain and its subdomains are not covered by a broader entry.
    pub(crate) fn add_exception(&mut self, domain: String) {
        self.except.insert(domain.into_boxed_str());
    }

    /// Add one entry; keyword and regexp entries are refused (an allowlist names domains).
    pub(crate) fn add(&mut self, entry: DomainPattern) -> Result<(), NotADomainEntry> {
        match entry {
            DomainPattern::Suffix(d) => {
                self.whole.insert(d.into_boxed_str());
            }
            DomainPattern::Full(d) => {
                self.exact.insert(d.into_boxed_str());
            }
            DomainPattern::Keyword(_) | DomainPattern::Regex(_) => {
                return Err(NotADomainEntry);
            }
        }
        Ok(())
    }

    /// Entries in the list.
    pub fn len(&self) -> usize {
        self.whole.len() + self.exact.len() + self.except.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a host (a lookup key) is allowed: an exact entry, or within a whole-domain
    /// entry and not within an exception more specific than it.
    pub fn covers(&self, host: &str) -> bool {
        if self.exact.contains(host) {
            return true;
        }
        let mut suffix = host;
        loop {
            // Walking from the most specific name up, an exception is met before any broader
            // whole-domain entry it carves out of.
            if self.except.contains(suffix) {
                return false;
            }
            if self.whole.contains(suffix) {
                return true;
            }
            match suffix.find('.') {
                Some(i) => suffix = &suffix[i + 1..],
                None => return false,
            }
        }
    }

    /// Whether a list entry names only allowed hosts, so that the list is better without it.
    /// Keyword and regexp entries are never dropped: they name no host (lookups skip hosts
    /// under whole-domain entries for them instead, see [`AllowList::whole_domains`]).
    pub fn covers_entry(&self, entry: &DomainPattern) -> bool {
        match entry {
            DomainPattern::Suffix(d) | DomainPattern::Full(d) => self.covers(d),
            DomainPattern::Keyword(_) | DomainPattern::Regex(_) => false,
        }
    }

    /// The whole-domain entries, sorted.
    pub fn whole_domains(&self) -> Vec<String> {
        let mut out: Vec<String> = self.whole.iter().map(|d| d.to_string()).collect();
        out.sort();
        out
    }
}

/// Whether `host` equals `domain` or is a subdomain of it (both lookup keys).
pub(crate) fn is_within(host: &str, domain: &str) -> bool {
    host == domain
        || host
            .strip_suffix(domain)
            .is_some_and(|rest| rest.ends_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `host_range` as it was written with `str` searches, before the byte searches.
    fn host_range_by_str(url: &str) -> Option<std::ops::Range<usize>> {
        let start = if let Some(rest) = url.strip_prefix("//") {
            url.len() - rest.len()
        } else {
            let colon = url.find("://")?;
            let scheme = &url[..colon];
            if scheme.is_empty()
                || !scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
            {
                return None;
            }
            colon + 3
        };
        let authority_end = url[start..]
            .find(['/', '?', '#', '\\'])
            .map_or(url.len(), |i| start + i);
        let authority = &url[start..authority_end];
        let host_start = authority.rfind('@').map_or(start, |i| start + i + 1);
        let authority = &url[host_start..authority_end];
        let host_end = if authority.starts_with('[') {
            authority
                .find(']')
                .map_or(authority_end, |i| host_start + i + 1)
        } else {
            authority
                .find(':')
                .map_or(authority_end, |i| host_start + i)
        };
        (host_end > host_start).then_some(host_start..host_end)
    }

    #[test]
    fn host_range_is_the_str_search() {
        use proptest::prelude::*;
        let pieces = prop::sample::select(vec![
            "http", "https", "://", "//", ":", "/", "?", "#", "\\", "@", "[", "]", "::1", "a",
            "例子", ".", "-", "+", "8080", " ", "ｈ", "user", "%", "é",
        ]);
        proptest!(ProptestConfig::with_cases(3000), |(parts in prop::collection::vec(pieces, 0..10))| {
            let url: String = parts.concat();
            prop_assert_eq!(host_range(&url), host_range_by_str(&url), "{:?}", url);
        });
    }

    fn entry(line: &str) -> DomainPattern {
        match parse_line(line) {
            Line::Entry(e) => e,
            other => panic!("{line:?} gave {other:?}"),
        }
    }

    #[test]
    fn list_formats() {
        use DomainPattern::*;
        assert_eq!(entry("0.0.0.0 Example.COM"), Suffix("example.com".into()));
        assert_eq!(
            entry("127.0.0.1\tads.example.com # tracker"),
            Suffix("ads.example.com".into())
        );
        assert_eq!(entry("example.cn"), Suffix("example.cn".into()));
        assert_eq!(entry("*.example.cn"), Suffix("example.cn".into()));
        assert_eq!(
            entry("||miner.example^$third-party"),
            Suffix("miner.example".into())
        );
        assert_eq!(entry("domain:x.example @ads"), Suffix("x.example".into()));
        assert_eq!(entry("full:www.x.example"), Full("www.x.example".into()));
        assert_eq!(entry("keyword:porn"), Keyword("porn".into()));
        assert_eq!(
            entry(r"regexp:(^|\.)x[0-9]\.com$"),
            Regex(r"(^|\.)x[0-9]\.com$".into())
        );
        assert_eq!(entry("赌场.com"), Suffix("xn--mes317j.com".into()));
        assert_eq!(
            parse_line("include:other-list"),
            Line::Include("other-list".into())
        );
        for skip in [
            "",
            "   ",
            "# comment",
            "! adblock comment",
            "[Adblock Plus 2.0]",
            "0.0.0.0 localhost",
            "127.0.0.1 localhost",
        ] {
            assert_eq!(parse_line(skip), Line::Skip, "{skip:?}");
        }
        for bad in [
            "not a domain",
            "exa mple",
            "||x.example/path.js",
            "a..b",
            "full:",
            "x_!.com",
        ] {
            assert!(matches!(parse_line(bad), Line::Invalid(_)), "{bad:?}");
        }
    }

    #[test]
    fn hosts_of_zone_urls() {
        fn host(u: &str) -> Option<&str> {
            host_range(u).map(|r| &u[r])
        }
        assert_eq!(host("https://www.example.com/a?b"), Some("www.example.com"));
        assert_eq!(
            host("http://user:pw@x.example.cn:8080/"),
            Some("x.example.cn")
        );
        assert_eq!(host("//cdn.example.cn/x.js"), Some("cdn.example.cn"));
        assert_eq!(host("http://赌场.com/赌博"), Some("赌场.com"));
        assert_eq!(host("http://[::1]:80/"), Some("[::1]"));
        assert_eq!(host("http://x.example?q"), Some("x.example"));
        assert_eq!(host("/relative/path"), None);
        assert_eq!(host("javascript:void(0)"), None);
        assert_eq!(host("mailto:a@b.cn"), None);
        assert_eq!(lookup_host("赌场.com").as_deref(), Some("xn--mes317j.com"));
        assert_eq!(
            lookup_host("WWW.Example.com.").as_deref(),
            Some("www.example.com")
        );
    }

    fn rules_for(index: &DomainIndex, host: &str) -> Vec<u32> {
        let mut out = Vec::new();
        index.lookup(host, &mut |r| out.push(r));
        out.sort();
        out
    }

    #[test]
    fn allowlists_cover_whole_domains_exact_hosts_and_not_exceptions() {
        use DomainPattern::*;
        let mut allow = AllowList::default();
        for line in [
            "gov.cn",
            "edu",
            "gmpg.org",
            "full:blogspot.com",
            "refinery29.com",
        ] {
            allow.add(entry(line)).unwrap();
        }
        allow.add_exception("academia.edu".into());
        assert!(allow.add(Keyword("x".into())).is_err());
        for covered in [
            "gmpg.org",
            "www.sxxx.gov.cn",
            "gov.cn",
            "www.refinery29.com",
            "blogspot.com",
            "www.mit.edu",
        ] {
            assert!(allow.covers(covered), "{covered}");
        }
        for kept in [
            "pornhub.com",
            "xxx-hentai.blogspot.com",
            "gov.cn.example.com",
            "notgmpg.org",
            "academia.edu",
            "x.academia.edu",
        ] {
            assert!(!allow.covers(kept), "{kept}");
        }
        assert!(allow.covers_entry(&Full("gmpg.org".into())));
        assert!(!allow.covers_entry(&Keyword("gov.cn".into())));
        assert_eq!(
            allow.whole_domains(),
            ["edu", "gmpg.org", "gov.cn", "refinery29.com"]
        );
    }

    #[test]
    fn suffix_full_keyword_regex_and_allow() {
        use DomainPattern::*;
        let a = vec![Suffix("bad.example".into()), Full("only.example".into())];
        let b = vec![
            Suffix("example".into()),
            Keyword("casino".into()),
            Regex(r"^x[0-9]+\.test$".into()),
            Suffix("bad.example".into()),
            Suffix("listed.good.example".into()),
        ];
        let allow_b = vec!["good.example".to_string()];
        let index = DomainIndex::new([(0, a, vec![]), (1, b, allow_b)]).unwrap();
        assert_eq!(rules_for(&index, "bad.example"), vec![0, 1]);
        assert_eq!(rules_for(&index, "www.bad.example"), vec![0, 1]);
        assert_eq!(rules_for(&index, "notbad.example"), vec![1]);
        assert_eq!(rules_for(&index, "only.example"), vec![0, 1]);
        assert_eq!(rules_for(&index, "www.only.example"), vec![1]);
        assert_eq!(rules_for(&index, "www.good.example"), Vec::<u32>::new());
        assert_eq!(rules_for(&index, "good.example"), Vec::<u32>::new());
        // Allowing a domain drops the broader entries, not the list's own subdomain entries.
        assert_eq!(rules_for(&index, "a.listed.good.example"), vec![1]);
        assert_eq!(rules_for(&index, "bestcasino.org"), vec![1]);
        assert_eq!(rules_for(&index, "x42.test"), vec![1]);
        assert_eq!(rules_for(&index, "y42.test"), Vec::<u32>::new());
        assert!(is_within("a.b.example", "b.example"));
        assert!(!is_within("ab.example", "b.example"));
    }
}
