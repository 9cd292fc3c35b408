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

/// Failed authentication attempts, counted per client and per presented-token prefix, so that
/// one client's typos slow that client only.
///
/// Two counters, each a fixed window of `window` from its first failure:
/// - per key, a client's network and the first [`PREFIX_CHARS`] characters of the token it
///   presented (after `spt_`): after `max_failures` failures that key's wrong tokens get 429
///   until its window has passed. A reviewer's typos keep their own token's prefix, so they
///   slow that reviewer alone; a colleague behind the same proxy presents another prefix and
///   is judged on their own counter.
/// - per network, every key together, with a cap [`NETWORK_CAP_FACTOR`] times higher: a
///   guesser who changes the prefix with every guess still gets 429 for every wrong token from
///   the network once it has failed that often.
///
/// The limiter never refuses a valid token: the caller authenticates first and tells it
/// ([`FailureLimiter::attempt`]), so a guesser behind a shared address can never lock the
/// reviewers out. The price is that a wrong token's 429 says it was wrong, as a 401 would: the
/// limiter is a brake on clients that keep failing (and a signal in the logs), not what keeps
/// tokens secret. What does that is their 32 random bytes (2^256 guesses), and the per-client
/// connection cap bounds how fast anyone can ask.
///
/// A client is its network (IPv4 /24, IPv6 /64, [`client_network`]), not its address: one host
/// owns many addresses (40 loopback addresses, or an IPv6 /64) and must not get a fresh budget
/// from each. The prefix is kept only as a salted hash, never as text, so the limiter's memory
/// holds nothing of a token. Memory is bounded: at most `max_entries` windows; when full,
/// expired windows go first, then the older half.
#[derive(Debug)]
pub struct FailureLimiter {
    max_failures: u32,
    /// `max_failures * NETWORK_CAP_FACTOR`.
    max_network_failures: u32,
    window: Duration,
    max_entries: usize,
    /// A random salt for the prefix hashes, per process.
    salt: [u8; 16],
    state: Mutex<HashMap<LimitKey, FailureWindow>>,
}

/// How many times more failures a whole network may have than one of its keys.
pub const NETWORK_CAP_FACTOR: u32 = 10;
/// Characters of a presented token (after `spt_`) that name its key: 8 base64url characters
/// are 48 bits, enough to tell colleagues' tokens apart, far too few to say anything about the
/// remaining 200-odd bits.
pub const PREFIX_CHARS: usize = 8;
/// Windows kept at most.
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum LimitKey {
    /// All failures of a network.
    Network(IpAddr),
    /// The failures of one token prefix (its salted hash) from a network.
    Prefix(IpAddr, [u8; 16]),
}

#[derive(Debug, Clone, Copy)]
struct FailureWindow {
    start: Instant,
    failures: u32,
}

/// Why [`FailureLimiter::attempt`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The client (its key, or its whole network) is over the limit: retry in this many
    /// seconds.
    Limited(u64),
    /// The token was wrong or missing (and the failure counted).
    Wrong,
}

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

/// The part of a presented token that names its limiter key: the first [`PREFIX_CHARS`]
/// characters after `spt_` (of the whole text when it has no `spt_`). Whole characters, so
/// no input can cut one in half.
pub fn token_prefix(presented: &str) -> &str {
    let token = presented.trim();
    let token = token.strip_prefix(TOKEN_PREFIX).unwrap_or(token);
    let end = token
        .char_indices()
        .nth(PREFIX_CHARS)
        .map_or(token.len(), |(at, _)| at);
    &token[..end]
}

impl FailureLimiter {
    /// `max_failures` per key (at least 1) within `window`; the network's cap is
    /// [`NETWORK_CAP_FACTOR`] times that.
    pub fn new(max_failures: u32, window: Duration) -> FailureLimiter {
        let max_failures = max_failures.max(1);
        let mut salt = [0u8; 16];
        // Without randomness the salt stays zero: the hashes are still not the prefix, and
        // they never leave the process.
        let _ = getrandom::fill(&mut salt);
        FailureLimiter {
            max_failures,
            max_network_failures: max_failures.saturating_mul(NETWORK_CAP_FACTOR),
            window,
            max_entries: MAX_ENTRIES,
            salt,
            state: Mutex::new(HashMap::new()),
        }
    }

    /// A limiter that keeps at most `max_entries` windows (for tests of the bound).
    pub fn with_max_entries(mut self, max_entries: usize) -> FailureLimiter {
        self.max_entries = max_entries.max(2);
        self
    }

    /// How many windows are held now.
    pub fn entries(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<LimitKey, FailureWindow>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn keys(&self, client: IpAddr, presented: Option<&str>) -> (LimitKey, LimitKey) {
        let network = client_network(client);
        let mut hasher = Sha256::new();
        hasher.update(self.salt);
        hasher.update(token_prefix(presented.unwrap_or("")).as_bytes());
        let digest: [u8; 32] = hasher.finalize().into();
        let mut short = [0u8; 16];
        short.copy_from_slice(&digest[..16]);
        (LimitKey::Network(network), LimitKey::Prefix(network, short))
    }

    /// Seconds until `key`'s window ends if it holds `max` failures or more now.
    fn over(
        &self,
        state: &HashMap<LimitKey, FailureWindow>,
        key: &LimitKey,
        max: u32,
        now: Instant,
    ) -> Option<u64> {
        let w = state.get(key)?;
        let age = now.saturating_duration_since(w.start);
        (w.failures >= max && age < self.window)
            .then(|| self.window.saturating_sub(age).as_secs().max(1))
    }

    fn limited(
        &self,
        state: &HashMap<LimitKey, FailureWindow>,
        keys: &(LimitKey, LimitKey),
        now: Instant,
    ) -> Option<u64> {
        let network = self.over(state, &keys.0, self.max_network_failures, now);
        let prefix = self.over(state, &keys.1, self.max_failures, now);
        network.max(prefix)
    }

    /// Whether a client presenting `presented` (`None`: no token) would be refused now, without
    /// counting anything; `Err` carries the seconds until it would not. For requests that
    /// bring nothing to check.
    pub fn check(&self, client: IpAddr, presented: Option<&str>, now: Instant) -> Result<(), u64> {
        let keys = self.keys(client, presented);
        match self.limited(&self.lock(), &keys, now) {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    /// One authentication attempt from `client`, for the API, the login form, the first-run
    /// link and `/metrics` alike. The caller has already checked `presented` (`None`: no token
    /// at all): `valid` says whether it was right.
    ///
    /// A valid token always gets in, and clears its own key's failures (a reviewer who mistyped
    /// their token and then got it right starts afresh); the network's count stays, so a
    /// holder of one token cannot reset the network's budget by interleaving good requests.
    /// A wrong token over its key's limit or its network's cap is refused with the seconds to
    /// wait and not counted again (the windows are fixed, so hammering does not extend them);
    /// under them, it counts against both.
    pub fn attempt(
        &self,
        client: IpAddr,
        presented: Option<&str>,
        valid: bool,
        now: Instant,
    ) -> Result<(), Refused> {
        let keys = self.keys(client, presented);
        let mut state = self.lock();
        if valid {
            state.remove(&keys.1);
            return Ok(());
        }
        if let Some(wait) = self.limited(&state, &keys, now) {
            return Err(Refused::Limited(wait));
        }
        self.make_room(&mut state, now);
        for key in [keys.0, keys.1] {
            let w = state.entry(key).or_insert(FailureWindow {
                start: now,
                failures: 0,
            });
            if now.saturating_duration_since(w.start) >= self.window {
                *w = FailureWindow {
                    start: now,
                    failures: 0,
                };
            }
            w.failures = w.failures.saturating_add(1);
        }
        Err(Refused::Wrong)
    }

    /// Room for two new windows: expired ones go first, then the older half, so a flood of
    /// new keys costs one pass over the map per `max_entries / 2` insertions, not one each.
    fn make_room(&self, state: &mut HashMap<LimitKey, FailureWindow>, now: Instant) {
        if state.len() + 2 <= self.max_entries {
            return;
        }
        let window = self.window;
        state.retain(|_, w| now.saturating_duration_since(w.start) < window);
        if state.len() + 2 <= self.max_entries {
            return;
        }
        let mut starts: Vec<Instant> = state.values().map(|w| w.start).collect();
        let middle = starts.len() / 2;
        let (_, cut, _) = starts.select_nth_unstable(middle);
        let cut = *cut;
        state.retain(|_, w| w.start > cut);
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

    const A: &str = "spt_AAAAAAAAxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
    const A_TYPO: &str = "spt_AAAAAAAAyyyyyyyyyyy";
    const B: &str = "spt_BBBBBBBBxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn prefixes_are_whole_characters_after_spt() {
        assert_eq!(token_prefix(" spt_abcdefghijk "), "abcdefgh");
        assert_eq!(token_prefix("s3cret"), "s3cret");
        assert_eq!(token_prefix(""), "");
        // Multi-byte characters are never cut (no panic on hostile input).
        assert_eq!(
            token_prefix("spt_网上赌博网上赌博网上赌博"),
            "网上赌博网上赌博"
        );
        assert_eq!(token_prefix("spt_é"), "é");
    }

    #[test]
    fn repeated_failures_of_one_key_are_refused_with_the_time_to_wait() {
        let limiter = FailureLimiter::new(3, Duration::from_secs(60));
        let client = ip("192.0.2.1");
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(
                limiter.attempt(client, Some(A_TYPO), false, t0),
                Err(Refused::Wrong)
            );
        }
        let t10 = t0 + Duration::from_secs(10);
        assert_eq!(
            limiter.attempt(client, Some(A_TYPO), false, t10),
            Err(Refused::Limited(50))
        );
        // The same prefix with other characters after it is the same key.
        assert_eq!(
            limiter.attempt(client, Some("spt_AAAAAAAAzz"), false, t10),
            Err(Refused::Limited(50))
        );
        assert_eq!(limiter.check(client, Some(A_TYPO), t10), Err(50));
        // Refused attempts are not counted: the window still ends where it did.
        let t61 = t0 + Duration::from_secs(61);
        assert_eq!(limiter.check(client, Some(A_TYPO), t61), Ok(()));
        assert_eq!(
            limiter.attempt(client, Some(A_TYPO), false, t61),
            Err(Refused::Wrong)
        );
    }

    #[test]
    fn a_valid_token_always_gets_in_and_clears_its_own_key() {
        let limiter = FailureLimiter::new(3, Duration::from_secs(60));
        let client = ip("192.0.2.1");
        let t0 = Instant::now();
        // Far past the key's limit and the network's cap, with the valid token's own prefix.
        for _ in 0..100 {
            let _ = limiter.attempt(client, Some(A_TYPO), false, t0);
        }
        for i in 0..50u8 {
            let _ = limiter.attempt(client, Some(&format!("spt_{i:08}")), false, t0);
        }
        assert!(limiter.check(client, Some(B), t0).is_err(), "over the cap");
        assert_eq!(limiter.attempt(client, Some(A), true, t0), Ok(()));
        assert_eq!(limiter.attempt(client, Some(B), true, t0), Ok(()));
        // The network's count stays over its cap.
        assert_eq!(limiter.check(client, Some(A_TYPO), t0), Err(60));
        assert!(limiter.check(client, Some("spt_CCCCCCCC"), t0).is_err());

        // Below the network cap, a success starts the key afresh.
        let limiter = FailureLimiter::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            let _ = limiter.attempt(client, Some(A_TYPO), false, t0);
        }
        assert!(limiter.check(client, Some(A_TYPO), t0).is_err());
        assert_eq!(limiter.attempt(client, Some(A), true, t0), Ok(()));
        assert_eq!(
            limiter.attempt(client, Some(A_TYPO), false, t0),
            Err(Refused::Wrong)
        );
    }

    #[test]
    fn one_clients_failures_do_not_throttle_another_prefix_below_the_network_cap() {
        let limiter = FailureLimiter::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        // A (127.0.0.1) fails until refused; B, same network, another prefix, is not.
        let a = ip("127.0.0.1");
        let b = ip("127.0.0.2");
        for _ in 0..5 {
            let _ = limiter.attempt(a, Some(A_TYPO), false, t0);
        }
        assert_eq!(
            limiter.attempt(a, Some(A_TYPO), false, t0),
            Err(Refused::Limited(60))
        );
        for _ in 0..3 {
            assert_eq!(
                limiter.attempt(b, Some("spt_BBBBBBBBtypo"), false, t0),
                Err(Refused::Wrong)
            );
        }
        // B now reached its own key's limit: refused on its own account.
        assert!(matches!(
            limiter.attempt(b, Some("spt_BBBBBBBBtypo"), false, t0),
            Err(Refused::Limited(_))
        ));
        // No token at all is a key of its own too.
        assert_eq!(limiter.check(b, None, t0), Ok(()));
        // The key is the network's: another loopback address, an IPv4-mapped one, and
        // another address of the IPv6 /64 share it; another network does not.
        assert!(limiter.check(ip("127.0.0.40"), Some(A_TYPO), t0).is_err());
        assert!(
            limiter
                .check(ip("::ffff:127.0.0.9"), Some(A_TYPO), t0)
                .is_err()
        );
        assert!(limiter.check(ip("127.0.1.1"), Some(A_TYPO), t0).is_ok());
        assert_eq!(
            client_network(ip("2001:db8:1:2::1")),
            client_network(ip("2001:db8:1:2:ffff::9"))
        );
    }

    #[test]
    fn the_network_cap_bounds_a_guesser_who_changes_prefix_every_time() {
        let limiter = FailureLimiter::new(2, Duration::from_secs(60));
        let client = ip("198.51.100.7");
        let t0 = Instant::now();
        let cap = 2 * NETWORK_CAP_FACTOR;
        for i in 0..cap {
            assert_eq!(
                limiter.attempt(client, Some(&format!("spt_{i:08}")), false, t0),
                Err(Refused::Wrong),
                "guess {i}"
            );
        }
        // A fresh prefix is refused now: the network is at its cap.
        assert_eq!(
            limiter.attempt(client, Some("spt_fresh123"), false, t0),
            Err(Refused::Limited(60))
        );
        assert!(
            limiter
                .check(ip("198.51.101.7"), Some("spt_fresh123"), t0)
                .is_ok()
        );
        assert!(
            limiter
                .check(client, Some("spt_fresh123"), t0 + Duration::from_secs(60))
                .is_ok()
        );
    }

    #[test]
    fn memory_stays_bounded() {
        let limiter = FailureLimiter::new(3, Duration::from_secs(60)).with_max_entries(100);
        let t0 = Instant::now();
        for i in 0..10_000u32 {
            // Each a network of its own.
            let client = IpAddr::from((i << 8).to_be_bytes());
            let at = t0 + Duration::from_millis(u64::from(i));
            let _ = limiter.attempt(client, Some("spt_guess"), false, at);
            assert!(limiter.entries() <= 100, "{} at {i}", limiter.entries());
        }
        // The newest survive the eviction.
        let last = IpAddr::from((9_999u32 << 8).to_be_bytes());
        let at = t0 + Duration::from_millis(9_999);
        for _ in 0..2 {
            let _ = limiter.attempt(last, Some("spt_guess"), false, at);
        }
        assert!(limiter.check(last, Some("spt_guess"), at).is_err());
    }
}
