//! Bearer tokens and roles for the review API and UI.
//!
//! The config holds only each token's SHA-256, never the token: a leaked config file does not
//! let anyone in. Tokens are 32 random bytes, so a plain (unsalted) hash is enough; there is
//! nothing to brute-force. Presented tokens are hashed and compared in constant time.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a token may do; each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read flags, sites, runs and the audit log.
    Viewer,
    /// Act on flags: confirm, dismiss, reopen, assign, comment.
    Reviewer,
    /// Inventory changes, recrawls, tokens.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Reviewer, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Reviewer => "reviewer",
            Role::Admin => "admin",
        }
    }

    /// Whether this role may do what `needed` may.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role `{s}` (expected viewer, reviewer or admin)"))
    }
}

/// The prefix of every token, so that a token found in a log or a paste is recognisable.
pub const TOKEN_PREFIX: &str = "spt_";
const HASH_PREFIX: &str = "sha256:";

/// A token as the config holds it: its name (the actor recorded on every action), its role,
/// and the SHA-256 of the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    pub name: String,
    pub role: Role,
    /// `sha256:` and 64 hex digits.
    pub hash: String,
}

impl TokenEntry {
    /// The problem with this entry, if any.
    pub fn validate(&self) -> Result<(), TokenEntryError> {
        if self.name.trim().is_empty() {
            return Err(TokenEntryError::NoName);
        }
        parse_hash(&self.hash)
            .map(|_| ())
            .map_err(TokenEntryError::BadHash)
    }
}

/// What is wrong with a `[[api.tokens]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenEntryError {
    #[error("the token has no name")]
    NoName,
    #[error("{0}")]
    BadHash(String),
}

/// The operating system gave no random bytes: no token, session or CSRF value can be made.
#[derive(Debug, thiserror::Error)]
#[error("no randomness from the OS: {0}")]
pub struct NoRandomness(getrandom::Error);

fn parse_hash(text: &str) -> Result<[u8; 32], String> {
    let hex = text.strip_prefix(HASH_PREFIX).ok_or_else(|| {
        format!(
            "`{text}` is not a token hash (`sha256:` and 64 hex digits; see `sitepatrol token new`)"
        )
    })?;
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "`{text}` is not a token hash (`sha256:` and 64 hex digits)"
        ));
    }
    let mut out = [0u8; 32];
    for (i, chunk) in hex.as_bytes().chunks(2).enumerate() {
        let pair = std::str::from_utf8(chunk).map_err(|e| e.to_string())?;
        out[i] = u8::from_str_radix(pair, 16).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// `sha256:<hex>` of a token.
pub fn hash_token(token: &str) -> String {
    format!(
        "{HASH_PREFIX}{}",
        sitepatrol_core::digest::sha256_hex(token.as_bytes())
    )
}

/// Whether two secrets (tokens, digests, signatures) are equal, in time that depends on their
/// lengths only, so timings do not reveal how much of a guess was right (`subtle`).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

/// A new random token: `spt_` and 43 URL-safe characters (32 bytes).
pub fn new_token() -> Result<String, NoRandomness> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(NoRandomness)?;
    Ok(format!("{TOKEN_PREFIX}{}", base64url(&bytes)))
}

/// Random bytes as URL-safe text, for session ids and CSRF tokens.
pub fn random_string(bytes: usize) -> Result<String, NoRandomness> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(NoRandomness)?;
    Ok(base64url(&buf))
}

fn base64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The config line that holds a token, for `sitepatrol token new`.
pub fn config_line(name: &str, role: Role, token: &str) -> String {
    format!(
        "[[api.tokens]]\nname = {}\nrole = \"{}\"\nhash = \"{}\"",
        toml_string(name),
        role,
        hash_token(token)
    )
}

fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Who a request is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    pub name: String,
    pub role: Role,
}

/// The configured tokens, ready for lookups.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    entries: Vec<(TokenEntry, [u8; 32])>,
}

impl Tokens {
    /// Every bad entry is reported, each with its index.
    pub fn new(entries: &[TokenEntry]) -> Result<Tokens, Vec<String>> {
        let mut errors = Vec::new();
        let mut parsed = Vec::new();
        let mut names = std::collections::HashSet::new();
        for (i, entry) in entries.iter().enumerate() {
            if let Err(e) = entry.validate() {
                errors.push(format!("api.tokens[{i}]: {e}"));
                continue;
            }
            if !names.insert(entry.name.clone()) {
                errors.push(format!(
                    "api.tokens[{i}]: the name `{}` is used twice",
                    entry.name
                ));
            }
            if let Ok(hash) = parse_hash(&entry.hash) {
                parsed.push((entry.clone(), hash));
            }
        }
        if errors.is_empty() {
            Ok(Tokens { entries: parsed })
        } else {
            Err(errors)
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The principal a presented token belongs to. Every entry is compared, in constant time,
    /// so the answer's timing says nothing about which entry (or how much of one) matched.
    pub fn authenticate(&self, presented: &str) -> Option<Principal> {
        let digest: [u8; 32] = Sha256::digest(presented.trim().as_bytes()).into();
        let mut found = None;
        for (entry, hash) in &self.entries {
            let same = constant_time_eq(hash, &digest);
            if same && found.is_none() {
                found = Some(Principal {
                    name: entry.name.clone(),
                    role: entry.role,
                });
            }
        }
        found
    }
}

/// The token of an `Authorization: Bearer ...` header value.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

/// Failed authentication attempts per client network, so that guessing tokens is slow: after
/// `max_failures` within `window`, the network is refused until the window has passed.
///
/// Keyed by network (IPv4 /24, IPv6 /64), not by address: one host owns many addresses (40
/// loopback addresses, or an IPv6 /64) and must not get a fresh budget from each. So that one
/// reviewer's typos behind a shared proxy do not lock out everyone, a token that has already
/// authenticated from the network (`vouch`) still gets in while the network is refused; a
/// guesser cannot tell, because every other token gets the same refusal without being counted.
#[derive(Debug)]
pub struct FailureLimiter {
    max_failures: u32,
    window: Duration,
    /// Bounded: when full, the oldest windows are dropped first.
    max_clients: usize,
    state: Mutex<HashMap<IpAddr, (Instant, u32)>>,
    /// (network, principal name) → last success.
    vouched: Mutex<HashMap<(IpAddr, String), Instant>>,
}

/// Why [`FailureLimiter::attempt`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The network is over the limit: retry in this many seconds.
    Limited(u64),
    /// The token was wrong or missing (and the failure counted).
    Wrong,
}

/// How long a success from a network vouches for its token there.
const VOUCH_TTL: Duration = Duration::from_secs(24 * 3600);

/// The network an address counts in: IPv4 /24, IPv6 /64 (IPv4-mapped IPv6 as IPv4).
pub fn client_network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, 0))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => client_network(IpAddr::V4(v4)),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl FailureLimiter {
    pub fn new(max_failures: u32, window: Duration) -> FailureLimiter {
        FailureLimiter {
            max_failures: max_failures.max(1),
            window,
            max_clients: 100_000,
            state: Mutex::new(HashMap::new()),
            vouched: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `client` may try now; `Err` carries the seconds until it may.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), u64> {
        let client = client_network(client);
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match state.get(&client) {
            Some((start, failures))
                if *failures >= self.max_failures && now.duration_since(*start) < self.window =>
            {
                let left = self.window.saturating_sub(now.duration_since(*start));
                Err(left.as_secs().max(1))
            }
            _ => Ok(()),
        }
    }

    pub fn failed(&self, client: IpAddr, now: Instant) {
        let client = client_network(client);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.len() >= self.max_clients && !state.contains_key(&client) {
            let window = self.window;
            state.retain(|_, (start, _)| now.duration_since(*start) < window);
            if state.len() >= self.max_clients {
                // Still full of live windows: forget the oldest.
                if let Some(oldest) = state.iter().min_by_key(|(_, (s, _))| *s).map(|(ip, _)| *ip) {
                    state.remove(&oldest);
                }
            }
        }
        let entry = state.entry(client).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }

    /// One authentication attempt from `client`, for the API, the login form and `/metrics`
    /// alike: `who` names the principal whose token was presented, `None` when it was wrong
    /// or missing. A network over the limit is refused unless `who` authenticated from it
    /// before, and nothing counts then: a guess gets the same refusal whether it is right or
    /// wrong. Under the limit a failure counts against the network and a success vouches for
    /// `who` there; a success does not clear the failures, so a holder of one valid token
    /// cannot guess others at full speed by interleaving good requests.
    pub fn attempt(&self, client: IpAddr, who: Option<&str>, now: Instant) -> Result<(), Refused> {
        if let Err(wait) = self.check(client, now) {
            return match who {
                Some(name) if self.vouched(client, name, now) => Ok(()),
                _ => Err(Refused::Limited(wait)),
            };
        }
        match who {
            Some(name) => {
                self.vouch(client, name, now);
                Ok(())
            }
            None => {
                self.failed(client, now);
                Err(Refused::Wrong)
            }
        }
    }

    /// `name`'s token authenticated from `client`'s network.
    pub fn vouch(&self, client: IpAddr, name: &str, now: Instant) {
        let mut vouched = self.vouched.lock().unwrap_or_else(|e| e.into_inner());
        if vouched.len() >= self.max_clients {
            vouched.retain(|_, last| now.duration_since(*last) < VOUCH_TTL);
            if vouched.len() >= self.max_clients {
                vouched.clear();
            }
        }
        vouched.insert((client_network(client), name.to_string()), now);
    }

    /// Whether `name`'s token authenticated from `client`'s network within the last day.
    pub fn vouched(&self, client: IpAddr, name: &str, now: Instant) -> bool {
        let vouched = self.vouched.lock().unwrap_or_else(|e| e.into_inner());
        vouched
            .get(&(client_network(client), name.to_string()))
            .is_some_and(|last| now.duration_since(*last) < VOUCH_TTL)
    }

    pub fn succeeded(&self, client: IpAddr) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.remove(&client_network(client));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_include_the_ones_below() {
        assert!(Role::Admin.allows(Role::Reviewer) && Role::Reviewer.allows(Role::Viewer));
        assert!(!Role::Viewer.allows(Role::Reviewer) && !Role::Reviewer.allows(Role::Admin));
        assert_eq!("reviewer".parse::<Role>(), Ok(Role::Reviewer));
        assert!("root".parse::<Role>().unwrap_err().contains("root"));
    }

    #[test]
    fn new_tokens_are_random_prefixed_and_authenticate_by_hash_only() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_ne!(a, b);
        assert!(
            a.starts_with(TOKEN_PREFIX) && a.len() == TOKEN_PREFIX.len() + 43,
            "{a}"
        );
        let entries = vec![
            TokenEntry {
                name: "王五".into(),
                role: Role::Reviewer,
                hash: hash_token(&a),
            },
            TokenEntry {
                name: "ops".into(),
                role: Role::Admin,
                hash: hash_token(&b),
            },
        ];
        let tokens = Tokens::new(&entries).unwrap();
        assert_eq!(
            tokens.authenticate(&a),
            Some(Principal {
                name: "王五".into(),
                role: Role::Reviewer
            })
        );
        assert_eq!(tokens.authenticate(&b).map(|p| p.role), Some(Role::Admin));
        assert_eq!(tokens.authenticate("spt_wrong"), None);
        assert_eq!(tokens.authenticate(""), None);
        // The hash itself is not a token.
        assert_eq!(tokens.authenticate(&hash_token(&a)), None);
    }

    #[test]
    fn the_known_digest() {
        assert_eq!(
            hash_token("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn bad_entries_are_all_reported() {
        let entries = vec![
            TokenEntry {
                name: "".into(),
                role: Role::Viewer,
                hash: hash_token("x"),
            },
            TokenEntry {
                name: "a".into(),
                role: Role::Viewer,
                hash: "md5:00".into(),
            },
            TokenEntry {
                name: "b".into(),
                role: Role::Viewer,
                hash: hash_token("y"),
            },
            TokenEntry {
                name: "b".into(),
                role: Role::Admin,
                hash: hash_token("z"),
            },
        ];
        let errors = Tokens::new(&entries).unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].starts_with("api.tokens[0]") && errors[1].starts_with("api.tokens[1]"));
        assert!(errors[2].contains("used twice"));
    }

    #[test]
    fn the_config_line_parses_back() {
        let token = new_token().unwrap();
        let line = config_line("张三 \"QA\"", Role::Viewer, &token);
        #[derive(Deserialize)]
        struct Api {
            tokens: Vec<TokenEntry>,
        }
        #[derive(Deserialize)]
        struct File {
            api: Api,
        }
        let file: File = toml::from_str(&line).unwrap();
        let tokens = Tokens::new(&file.api.tokens).unwrap();
        assert_eq!(tokens.authenticate(&token).unwrap().name, "张三 \"QA\"");
    }

    #[test]
    fn bearer_headers() {
        assert_eq!(bearer("Bearer spt_abc"), Some("spt_abc"));
        assert_eq!(bearer("bearer  spt_abc "), Some("spt_abc"));
        assert_eq!(bearer("Basic dXNlcg=="), None);
        assert_eq!(bearer("Bearer "), None);
    }

    #[test]
    fn failures_are_rate_limited_per_address() {
        let limiter = FailureLimiter::new(3, Duration::from_secs(60));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.3.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check(ip, t0).is_ok());
            limiter.failed(ip, t0);
        }
        let wait = limiter.check(ip, t0 + Duration::from_secs(10)).unwrap_err();
        assert_eq!(wait, 50);
        assert!(limiter.check(other, t0).is_ok());
        assert!(limiter.check(ip, t0 + Duration::from_secs(61)).is_ok());
        limiter.succeeded(ip);
        assert!(limiter.check(ip, t0 + Duration::from_secs(10)).is_ok());
    }

    #[test]
    fn failures_count_per_network_and_a_vouched_token_is_not_locked_out() {
        let limiter = FailureLimiter::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        // Three loopback addresses, one host: one budget.
        for last in 1..=3u8 {
            limiter.failed(IpAddr::from([127, 0, 0, last]), t0);
        }
        assert!(limiter.check(IpAddr::from([127, 0, 0, 40]), t0).is_err());
        let mapped: IpAddr = "::ffff:127.0.0.9".parse().unwrap();
        assert!(limiter.check(mapped, t0).is_err());
        assert!(limiter.check(IpAddr::from([127, 0, 1, 1]), t0).is_ok());
        let v6a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert_eq!(client_network(v6a), client_network(v6b));
        // A reviewer who logged in from the network before keeps getting in; others do not.
        limiter.vouch(IpAddr::from([127, 0, 0, 7]), "王五", t0);
        assert!(limiter.vouched(IpAddr::from([127, 0, 0, 8]), "王五", t0));
        assert!(!limiter.vouched(IpAddr::from([127, 0, 0, 8]), "李四", t0));
        assert!(!limiter.vouched(IpAddr::from([10, 0, 0, 8]), "王五", t0));
        assert!(!limiter.vouched(IpAddr::from([127, 0, 0, 8]), "王五", t0 + VOUCH_TTL));
    }
}
