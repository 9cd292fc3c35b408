//! `brand_credentials`: a page that claims to be a brand's (its title, or a short heading or
//! logo text, says "Sign in to your PayPal account", "微信安全中心", "Discord"), asks for a
//! secret (a password, card data, a wallet's seed phrase, an ID number), and is not on one of
//! that brand's own domains.
//!
//! The brands and the words of a claim are data: a brands file (`rulesets/lists/brands.toml`,
//! format in `rulesets/README.md`) lists each brand's names in the languages its imitations
//! use and its official registrable domains, and the words that make a title a login page
//! (`[claim]`) and a form field a secret (`[credentials]`).
//!
//! "Not the brand's domain":
//!
//! * with a page URL (a crawl, `--url`) or a `<base>`: the page's registrable domain is not
//!   within the brand's domains, and the secret goes elsewhere than the brand's domains;
//! * without one (a file on disk): the secret goes elsewhere than the brand's domains. A form
//!   posting to an absolute URL on the brand's domains sends the secret to the brand (a saved
//!   copy of the real page, or a widget), so it does not count; a relative action, a missing
//!   one, or a field posted by script sends it to the page's own host, and a file scan has no
//!   evidence that this host is the brand's. The page's visible links to the brand's domains
//!   are *not* evidence that the page is the brand's: a cloned login page keeps the original's
//!   absolute links (help, terms, "forgot password") because they work. A brand's own site
//!   scanned from disk must be scanned with `--url`.

use std::collections::HashSet;
use std::ops::Range;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, MatchKind};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::{Evidence, Site};
use crate::domain::registrable_domain;
use crate::extract::{Document, Field, ZoneKind};
use crate::normalize::{normalize, normalize_term, shared_or_normalized};
use crate::rules::domains::{self, DomainPattern, host_range, is_within, lookup_host};
use crate::rules::{Diagnostic, Level};

/// What kind of secret a form field asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Credential {
    /// A password, PIN or payment password (an `<input type=password>`, or a field named so).
    Password,
    /// A payment card's number, CVV or expiry.
    Card,
    /// A crypto wallet's seed (recovery) phrase or private key.
    Seed,
    /// A national ID or social security number.
    IdNumber,
}

impl Credential {
    pub const ALL: [Credential; 4] = [
        Credential::Password,
        Credential::Card,
        Credential::Seed,
        Credential::IdNumber,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Credential::Password => "password",
            Credential::Card => "card",
            Credential::Seed => "seed",
            Credential::IdNumber => "id_number",
        }
    }

    pub fn parse(name: &str) -> Option<Credential> {
        Credential::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// Where a page claims a brand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Claim {
    /// The `<title>`.
    Title,
    /// A short line of visible text (a heading, a login box's caption) or an `alt`/`title`
    /// attribute (a logo), not a link's text (share buttons and footer links name brands).
    Heading,
    /// A copyright line naming the brand as the holder (`©2018 Microsoft`, `版权所有 中国工商银行`):
    /// clones copy the original's footer.
    Copyright,
}

impl Claim {
    pub const ALL: [Claim; 3] = [Claim::Title, Claim::Heading, Claim::Copyright];

    pub fn as_str(self) -> &'static str {
        match self {
            Claim::Title => "title",
            Claim::Heading => "heading",
            Claim::Copyright => "copyright",
        }
    }

    pub fn parse(name: &str) -> Option<Claim> {
        Claim::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// Longest visible-text line (in characters, normalized) read as a heading: a caption, not a
/// sentence of an article that mentions the brand.
const MAX_HEADING_CHARS: usize = 40;

/// Headings claiming this many different brands are a share bar or a row of payment logos, not
/// one brand's page.
const MAX_HEADING_BRANDS: usize = 3;

/// The options of a `brand_credentials` check.
#[derive(Debug, Clone)]
pub struct BrandCheck {
    /// The brands file as the rule names it.
    pub brands_file: String,
    pub table: Arc<BrandTable>,
    pub claim: Vec<Claim>,
    pub credentials: Vec<Credential>,
}

impl PartialEq for BrandCheck {
    fn eq(&self, other: &BrandCheck) -> bool {
        self.brands_file == other.brands_file
            && Arc::ptr_eq(&self.table, &other.table)
            && self.claim == other.claim
            && self.credentials == other.credentials
    }
}

impl Eq for BrandCheck {}

impl Serialize for BrandCheck {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("BrandCheck", 4)?;
        st.serialize_field("brands_file", &self.brands_file)?;
        st.serialize_field("brands", &self.table.brands.len())?;
        st.serialize_field("claim", &self.claim)?;
        st.serialize_field("credentials", &self.credentials)?;
        st.end()
    }
}

/// Default claim places: the title only.
pub const DEFAULT_CLAIM: [Claim; 1] = [Claim::Title];
/// Default secrets: a password, card data or a seed phrase.
pub const DEFAULT_CREDENTIALS: [Credential; 3] =
    [Credential::Password, Credential::Card, Credential::Seed];

/// One brand of the table.
#[derive(Debug)]
pub struct Brand {
    pub id: String,
    /// Normalized names (lower case, half-width, Simplified).
    names: Vec<String>,
    domains: Vec<BrandDomain>,
    /// Normalized words that make a line about something else (`ups电源`).
    exclude: Vec<String>,
}

#[derive(Debug, PartialEq, Eq)]
enum BrandDomain {
    /// This domain and its subdomains.
    Suffix(String),
    /// `label.*`: any registrable domain `label.<public suffix>` (`google.de`, `google.com.hk`).
    AnySuffix(String),
}

impl Brand {
    /// Whether `host` (a lookup key) is on one of the brand's domains.
    fn owns(&self, host: &str) -> bool {
        self.domains.iter().any(|d| match d {
            BrandDomain::Suffix(d) => is_within(host, d),
            BrandDomain::AnySuffix(label) => registrable_domain(host)
                .and_then(|r| r.split_once('.').map(|(l, _)| l == label))
                .unwrap_or(false),
        })
    }
}

/// A word list matched on normalized text: `contains` anywhere, `words` only as a whole run of
/// ASCII letters and digits (`pin`, not the one in `spinner`).
#[derive(Debug, Default)]
struct WordList {
    contains: Vec<String>,
    words: Vec<String>,
}

impl WordList {
    fn matches(&self, text: &str) -> bool {
        self.contains.iter().any(|c| text.contains(c.as_str()))
            || self.words.iter().any(|w| find_word(text, w).is_some())
    }
}

/// The first occurrence of `word` in `text` not touching another letter or digit of an
/// alphabetic script (Chinese characters do not count, as in rules' `word_boundary`).
fn find_word(text: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = text[from..].find(word) {
        let at = from + i;
        if bounded(text, at..at + word.len()) {
            return Some(at);
        }
        from = at + word.chars().next().map_or(1, char::len_utf8);
    }
    None
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() && (c as u32) < 0x2E80
}

/// Whether a match at `range` of `text` stands as a word at its ASCII ends.
fn bounded(text: &str, range: Range<usize>) -> bool {
    let m = &text[range.clone()];
    let first = m.chars().next();
    let last = m.chars().next_back();
    let before = text[..range.start].chars().next_back();
    let after = text[range.end..].chars().next();
    let joins_before =
        first.is_some_and(|c| c.is_ascii_alphanumeric()) && before.is_some_and(is_word_char);
    let joins_after =
        last.is_some_and(|c| c.is_ascii_alphanumeric()) && after.is_some_and(is_word_char);
    !joins_before && !joins_after
}

/// The brands file: brands, and the words of claims and of secrets.
#[derive(Debug)]
pub struct BrandTable {
    pub brands: Vec<Brand>,
    /// Every brand name, normalized; pattern i is `name_brand[i]`'s.
    finder: AhoCorasick,
    name_brand: Vec<usize>,
    login: Vec<String>,
    about: Vec<String>,
    copyright: Vec<String>,
    via_before: Vec<String>,
    via_after: Vec<String>,
    max_gap: usize,
    credentials: Vec<(Credential, WordList)>,
    input_types: Vec<(Credential, String)>,
    /// A field whose name or hint has one of these asks for a new secret (sign-up, a new
    /// password): not the visitor's existing one.
    new_secret: WordList,
}

// The brands file, as written.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    claim: Spanned<RawClaim>,
    credentials: Spanned<RawCredentials>,
    #[serde(default)]
    brand: Vec<Spanned<RawBrand>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClaim {
    login: Vec<Spanned<String>>,
    #[serde(default)]
    about: Vec<Spanned<String>>,
    #[serde(default)]
    via_before: Vec<Spanned<String>>,
    #[serde(default)]
    via_after: Vec<Spanned<String>>,
    copyright: Vec<Spanned<String>>,
    max_gap: Spanned<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCredentials {
    #[serde(default)]
    new_secret: Vec<Spanned<String>>,
    password: RawWords,
    card: RawWords,
    seed: RawWords,
    id_number: RawWords,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWords {
    #[serde(default)]
    input_types: Vec<Spanned<String>>,
    #[serde(default)]
    contains: Vec<Spanned<String>>,
    #[serde(default)]
    words: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBrand {
    id: Spanned<String>,
    names: Spanned<Vec<Spanned<String>>>,
    domains: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    exclude: Vec<Spanned<String>>,
}

/// Reports problems of one brands file with file and line.
struct Report<'a> {
    file: &'a str,
    text: &'a str,
    rule: Option<&'a str>,
    diagnostics: Vec<Diagnostic>,
}

impl Report<'_> {
    fn at(&mut self, level: Level, span: Option<Range<usize>>, message: String) {
        let line = span.map(|s| {
            1 + memchr::memchr_iter(b'\n', &self.text.as_bytes()[..s.start.min(self.text.len())])
                .count()
        });
        self.diagnostics.push(Diagnostic {
            level,
            file: self.file.to_string(),
            line,
            rule: self.rule.map(str::to_string),
            message,
        });
    }

    fn error(&mut self, span: Range<usize>, message: String) {
        self.at(Level::Error, Some(span), message);
    }

    /// Normalized terms of a list; an empty one is an error.
    fn terms(&mut self, list: &[Spanned<String>], what: &str) -> Vec<String> {
        let mut out = Vec::new();
        for t in list {
            let n = normalize_term(t.get_ref(), false);
            if n.is_empty() {
                self.error(
                    t.span(),
                    format!("{what} {:?} is empty once normalized", t.get_ref()),
                );
            } else if !out.contains(&n) {
                out.push(n);
            }
        }
        out
    }
}

/// `[claim]`, normalized.
struct ClaimWords {
    login: Vec<String>,
    about: Vec<String>,
    via_before: Vec<String>,
    via_after: Vec<String>,
    copyright: Vec<String>,
    max_gap: usize,
}

/// `[credentials]`, normalized.
struct SecretWords {
    credentials: Vec<(Credential, WordList)>,
    input_types: Vec<(Credential, String)>,
    new_secret: WordList,
}

/// The `[[brand]]` tables, and every brand name with its brand's index for one automaton.
struct Brands {
    brands: Vec<Brand>,
    names: Vec<String>,
    name_brand: Vec<usize>,
}

impl Report<'_> {
    fn claim(&mut self, raw: Spanned<RawClaim>) -> ClaimWords {
        let claim_span = raw.span();
        let claim = raw.into_inner();
        let login = self.terms(&claim.login, "claim word");
        if login.is_empty() {
            self.error(claim_span.clone(), "`[claim] login` has no words".into());
        }
        let about = self.terms(&claim.about, "claim word");
        let via_before = self.terms(&claim.via_before, "claim word");
        let via_after = self.terms(&claim.via_after, "claim word");
        let copyright = self.terms(&claim.copyright, "copyright word");
        if copyright.is_empty() {
            self.error(claim_span, "`[claim] copyright` has no words".into());
        }
        let max_gap = *claim.max_gap.get_ref() as usize;
        if max_gap > 20 {
            self.error(
                claim.max_gap.span(),
                "`max_gap` is at most 20 (words or Chinese characters)".into(),
            );
        }
        ClaimWords {
            login,
            about,
            via_before,
            via_after,
            copyright,
            max_gap,
        }
    }

    fn secrets(&mut self, raw: Spanned<RawCredentials>) -> SecretWords {
        let span = raw.span();
        let raw = raw.into_inner();
        let new_secret = WordList {
            contains: self.terms(&raw.new_secret, "new-secret word"),
            words: Vec::new(),
        };
        let mut secrets = SecretWords {
            credentials: Vec::new(),
            input_types: Vec::new(),
            new_secret,
        };
        for (kind, words) in [
            (Credential::Password, raw.password),
            (Credential::Card, raw.card),
            (Credential::Seed, raw.seed),
            (Credential::IdNumber, raw.id_number),
        ] {
            for t in &words.input_types {
                let ty = t.get_ref().trim().to_ascii_lowercase();
                if ty.is_empty() || ty.contains(char::is_whitespace) {
                    self.error(t.span(), format!("{:?} is not an input type", t.get_ref()));
                } else {
                    secrets.input_types.push((kind, ty));
                }
            }
            let list = self.credential_words(kind, &words, &span);
            secrets.credentials.push((kind, list));
        }
        secrets
    }

    /// The words of one kind of secret: `words` are whole ASCII words, `contains` anywhere.
    fn credential_words(
        &mut self,
        kind: Credential,
        words: &RawWords,
        span: &Range<usize>,
    ) -> WordList {
        let contains = self.terms(&words.contains, "credential word");
        let list = self.terms(&words.words, "credential word");
        for (w, raw) in list.iter().zip(&words.words) {
            if !w.bytes().all(|b| b.is_ascii_alphanumeric()) {
                self.error(
                    raw.span(),
                    format!(
                        "{:?} in `words` must be ASCII letters and digits (put it in `contains`)",
                        raw.get_ref()
                    ),
                );
            }
        }
        if contains.is_empty() && list.is_empty() && words.input_types.is_empty() {
            self.error(
                span.clone(),
                format!("`[credentials.{}]` has no words", kind.as_str()),
            );
        }
        WordList {
            contains,
            words: list,
        }
    }

    fn brands(&mut self, raw: &[Spanned<RawBrand>]) -> Brands {
        let mut out = Brands {
            brands: Vec::new(),
            names: Vec::new(),
            name_brand: Vec::new(),
        };
        let mut ids: HashSet<String> = HashSet::new();
        let mut name_owner: std::collections::HashMap<String, String> = Default::default();
        for item in raw {
            let b = item.get_ref();
            let id = b.id.get_ref().trim().to_string();
            if id.is_empty()
                || !id
                    .bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-')
            {
                self.error(
                    b.id.span(),
                    format!("brand id {id:?} must be lower-case letters, digits, `_` and `-`"),
                );
            }
            if !ids.insert(id.clone()) {
                self.error(b.id.span(), format!("duplicate brand id `{id}`"));
            }
            let names = self.brand_names(&id, &b.names, &mut name_owner);
            let domains = self.brand_domains(&id, &b.domains);
            let exclude = self.terms(&b.exclude, "exclude word");
            for n in &names {
                out.names.push(n.clone());
                out.name_brand.push(out.brands.len());
            }
            out.brands.push(Brand {
                id,
                names,
                domains,
                exclude,
            });
        }
        if out.brands.is_empty() {
            self.at(
                Level::Error,
                None,
                "the brands file has no `[[brand]]`".into(),
            );
        }
        out
    }

    /// A brand's names, normalized; a name belongs to one brand (`name_owner`, across brands).
    fn brand_names(
        &mut self,
        id: &str,
        raw: &Spanned<Vec<Spanned<String>>>,
        name_owner: &mut std::collections::HashMap<String, String>,
    ) -> Vec<String> {
        let names = self.terms(raw.get_ref(), "brand name");
        if names.is_empty() {
            self.error(raw.span(), format!("brand `{id}` has no names"));
        }
        for (n, raw) in names.iter().zip(raw.get_ref()) {
            if let Some(other) = name_owner.get(n) {
                if other != id {
                    self.error(
                        raw.span(),
                        format!("name {:?} is also a name of brand `{other}`", raw.get_ref()),
                    );
                }
            } else {
                name_owner.insert(n.clone(), id.to_string());
            }
        }
        names
    }

    /// A brand's official domains: `example.com` and its subdomains, or `label.*` under every
    /// public suffix.
    fn brand_domains(&mut self, id: &str, raw: &Spanned<Vec<Spanned<String>>>) -> Vec<BrandDomain> {
        let mut out = Vec::new();
        for d in raw.get_ref() {
            let text = d.get_ref().trim().to_ascii_lowercase();
            if let Some(label) = text.strip_suffix(".*") {
                if !label.is_empty()
                    && !label.contains('.')
                    && label
                        .bytes()
                        .all(|c| c.is_ascii_alphanumeric() || c == b'-')
                {
                    out.push(BrandDomain::AnySuffix(label.to_string()));
                    continue;
                }
            } else if let domains::Line::Entry(DomainPattern::Suffix(s)) =
                domains::parse_line(&text)
                && s.contains('.')
            {
                out.push(BrandDomain::Suffix(s));
                continue;
            }
            self.error(
                d.span(),
                format!(
                    "{:?} is not a domain (`example.com`, or `label.*` for every public suffix)",
                    d.get_ref()
                ),
            );
        }
        if out.is_empty() {
            self.error(raw.span(), format!("brand `{id}` has no official domains"));
        }
        out
    }
}

impl BrandTable {
    /// Parse a brands file (`display` names it in diagnostics). Every problem is reported with
    /// its line; the table is returned only when there is no error.
    pub fn parse(
        display: &str,
        text: &str,
        rule: Option<&str>,
    ) -> (Option<BrandTable>, Vec<Diagnostic>) {
        let mut report = Report {
            file: display,
            text,
            rule,
            diagnostics: Vec::new(),
        };
        let raw: RawTable = match toml::from_str(text) {
            Ok(raw) => raw,
            Err(e) => {
                report.at(Level::Error, e.span(), e.message().trim().to_string());
                return (None, report.diagnostics);
            }
        };
        let claim = report.claim(raw.claim);
        let secrets = report.secrets(raw.credentials);
        let brands = report.brands(&raw.brand);
        if report.diagnostics.iter().any(|d| d.level == Level::Error) {
            return (None, report.diagnostics);
        }
        let finder = match AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&brands.names)
        {
            Ok(f) => f,
            Err(e) => {
                report.at(Level::Error, None, format!("brand names: {e}"));
                return (None, report.diagnostics);
            }
        };
        let table = BrandTable {
            brands: brands.brands,
            finder,
            name_brand: brands.name_brand,
            login: claim.login,
            about: claim.about,
            copyright: claim.copyright,
            via_before: claim.via_before,
            via_after: claim.via_after,
            max_gap: claim.max_gap,
            credentials: secrets.credentials,
            input_types: secrets.input_types,
            new_secret: secrets.new_secret,
        };
        (Some(table), report.diagnostics)
    }

    /// The secrets a field asks for.
    fn field_credentials(&self, field: &Field, out: &mut Vec<Credential>) {
        let text = normalize(&format!("{} {}", field.name, field.hint)).text;
        if self.new_secret.matches(&text) {
            return;
        }
        for (kind, ty) in &self.input_types {
            if field.kind == *ty && !out.contains(kind) {
                out.push(*kind);
            }
        }
        for (kind, words) in &self.credentials {
            if !out.contains(kind) && words.matches(&text) {
                out.push(*kind);
            }
        }
    }

    /// Brands a line claims: `(brand, normalized range of the name)`.
    fn claims(&self, line: &str, whole_line_limit: Option<usize>) -> Vec<(usize, Range<usize>)> {
        let mut out: Vec<(usize, Range<usize>)> = Vec::new();
        if let Some(limit) = whole_line_limit
            && line.chars().count() > limit
        {
            return out;
        }
        // Most lines name no brand: look for one before the costlier word tests.
        let named: Vec<aho_corasick::Match> = self.finder.find_iter(line).collect();
        if named.is_empty() || self.about.iter().any(|a| contains_word(line, a)) {
            return out;
        }
        for m in named {
            let brand = self.name_brand[m.pattern().as_usize()];
            let range = m.range();
            if !bounded(line, range.clone()) || out.iter().any(|(b, _)| *b == brand) {
                continue;
            }
            let b = &self.brands[brand];
            if b.exclude.iter().any(|e| line.contains(e.as_str())) {
                continue;
            }
            if self.via(line, range.clone()) {
                continue;
            }
            let segment = segment_of(line, range.clone());
            let seg_text = line[segment.clone()].trim_matches(is_trim);
            let name = &line[range.clone()];
            // A title part that is the brand; a heading line that is the brand.
            let part = if whole_line_limit.is_some() {
                line.trim_matches(is_trim)
            } else {
                seg_text
            };
            let whole = part == name
                || b.names.iter().any(|n| n == part)
                || (!name.is_ascii() && part.strip_suffix(name).is_some_and(is_place_prefix));
            if whole || self.login_near(line, segment, range.clone()) {
                out.push((brand, range));
            }
        }
        out
    }

    /// Brands a line names as the copyright holder: a brand within `max_gap` words of a
    /// copyright word, years and other numbers not counted.
    fn copyright_claims(&self, line: &str) -> Vec<(usize, Range<usize>)> {
        let mut out: Vec<(usize, Range<usize>)> = Vec::new();
        let named: Vec<aho_corasick::Match> = self.finder.find_iter(line).collect();
        if named.is_empty() {
            return out;
        }
        let marks: Vec<Range<usize>> = self
            .copyright
            .iter()
            .flat_map(|c| line.match_indices(c.as_str()).map(|(i, m)| i..i + m.len()))
            .filter(|r| bounded(line, r.clone()))
            .collect();
        if marks.is_empty() || self.about.iter().any(|a| contains_word(line, a)) {
            return out;
        }
        for m in named {
            let brand = self.name_brand[m.pattern().as_usize()];
            let range = m.range();
            if !bounded(line, range.clone()) || out.iter().any(|(b, _)| *b == brand) {
                continue;
            }
            if self.brands[brand]
                .exclude
                .iter()
                .any(|e| line.contains(e.as_str()))
            {
                continue;
            }
            let near = marks.iter().any(|mark| {
                let gap = if mark.end <= range.start {
                    &line[mark.end..range.start]
                } else if range.end <= mark.start {
                    &line[range.end..mark.start]
                } else {
                    return false;
                };
                word_tokens(gap) <= self.max_gap
            });
            if near {
                out.push((brand, range));
            }
        }
        out
    }

    /// Whether the brand at `range` is a third-party login button's ("使用QQ登录", "Sign in
    /// with Google"): right after a `via_before` word or right before a `via_after` one.
    ///
    /// A `via_before` word of two or more characters anywhere before the brand in the line
    /// counts ("也可以使用支付宝登录、微信登录、QQ登录" lists third-party logins); a one-character
    /// one (`用`) only right before it.
    fn via(&self, line: &str, range: Range<usize>) -> bool {
        let before = line[..range.start].trim_end();
        let after = line[range.end..].trim_start();
        self.via_before.iter().any(|v| {
            if v.chars().count() > 1 {
                find_word(before, v).is_some()
            } else {
                before.ends_with(v.as_str())
                    && bounded(before, before.len() - v.len()..before.len())
            }
        }) || self.via_after.iter().any(|v| after.starts_with(v.as_str()))
    }

    /// Whether a login word is in the segment within `max_gap` words (or Chinese characters)
    /// of the brand name.
    fn login_near(&self, line: &str, segment: Range<usize>, name: Range<usize>) -> bool {
        let seg = &line[segment.clone()];
        self.login.iter().any(|w| {
            let mut from = 0;
            while let Some(i) = seg[from..].find(w.as_str()) {
                let at = segment.start + from + i;
                let end = at + w.len();
                from += i + w.len().max(1);
                if !bounded(line, at..end) || (at < name.end && end > name.start) {
                    continue;
                }
                let gap = if end <= name.start {
                    &line[end..name.start]
                } else {
                    &line[name.end..at]
                };
                if tokens(gap) <= self.max_gap {
                    return true;
                }
            }
            false
        })
    }
}

/// What may stand before a Chinese brand name in a part that claims it: nothing much (two
/// characters: 安徽政务服务网), or a place (北京市人社局, 某省政务服务网), not a phrase
/// (算算我的个人所得税).
fn is_place_prefix(prefix: &str) -> bool {
    let n = prefix.chars().count();
    n <= 2
        || (n <= 8
            && prefix
                .chars()
                .next_back()
                .is_some_and(|c| "省市区县州盟旗镇乡".contains(c)))
}

fn is_trim(c: char) -> bool {
    c.is_whitespace() || is_separator(c) || matches!(c, '.' | '。' | '!' | '?' | '"' | '\'')
}

/// Separators between the parts of a title: `Log In - PayPal`, `微信安全中心-登录`,
/// `Revolut | Home`. A hyphen or underscore between two ASCII letters or digits joins a word
/// (`sign-in`, `12-word`).
fn is_separator(c: char) -> bool {
    matches!(
        c,
        '|' | '-'
            | '_'
            | '–'
            | '—'
            | '·'
            | '•'
            | ':'
            | ','
            | '、'
            | ';'
            | '/'
            | '\\'
            | '('
            | ')'
            | '['
            | ']'
            | '【'
            | '】'
            | '<'
            | '>'
            | '《'
            | '》'
            | '「'
            | '」'
            | '~'
    )
}

/// The part of `line` between the separators around `range`.
fn segment_of(line: &str, range: Range<usize>) -> Range<usize> {
    let splits = |i: usize, c: char| -> bool {
        if !is_separator(c) {
            return false;
        }
        if matches!(c, '-' | '_') {
            let before = line[..i].chars().next_back();
            let after = line[i + c.len_utf8()..].chars().next();
            return !(before.is_some_and(|b| b.is_ascii_alphanumeric())
                && after.is_some_and(|a| a.is_ascii_alphanumeric()));
        }
        true
    };
    let start = line[..range.start]
        .char_indices()
        .rev()
        .find(|&(i, c)| splits(i, c))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let end = line[range.end..]
        .char_indices()
        .find(|&(i, c)| splits(range.end + i, c))
        .map_or(line.len(), |(i, _)| range.end + i);
    start..end
}

/// Words (runs of letters and digits of alphabetic scripts) plus other non-space,
/// non-separator characters (each Chinese character is one).
fn tokens(text: &str) -> usize {
    let mut count = 0;
    let mut in_word = false;
    for c in text.chars() {
        if is_word_char(c) {
            if !in_word {
                count += 1;
            }
            in_word = true;
        } else {
            in_word = false;
            if !c.is_whitespace() && !c.is_ascii_punctuation() && !is_separator(c) {
                count += 1;
            }
        }
    }
    count
}

/// [`tokens`] without numbers (years in a copyright line).
fn word_tokens(text: &str) -> usize {
    let numbers = text
        .split(|c: char| !is_word_char(c))
        .filter(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_digit()))
        .count();
    tokens(text).saturating_sub(numbers)
}

fn contains_word(text: &str, word: &str) -> bool {
    find_word(text, word).is_some()
}

/// Run the check on a document. `own` is the page's registrable domain when known. Reports
/// at most one piece of evidence: the first claim (in the order of the check's `claim`) of a
/// brand whose domains the page and its secrets are off.
pub(crate) fn run(check: &BrandCheck, document: &Document, site: &Site<'_>) -> Vec<Evidence> {
    let own = site.own();
    let table = &check.table;
    // Where each asked secret goes (None: the page's own host).
    let mut asked: Vec<Option<String>> = Vec::new();
    let mut kinds = Vec::new();
    for field in &document.fields {
        kinds.clear();
        table.field_credentials(field, &mut kinds);
        if !kinds.iter().any(|k| check.credentials.contains(k)) {
            continue;
        }
        let target = field
            .form
            .and_then(|i| document.forms.get(i))
            .and_then(|f| host_range(&f.action).map(|r| f.action[r].to_string()))
            .and_then(|h| lookup_host(&h).map(|h| h.into_owned()));
        if !asked.contains(&target) {
            asked.push(target);
        }
    }
    if asked.is_empty() {
        return Vec::new();
    }
    let off_brand = |brand: usize| {
        let b = &table.brands[brand];
        !own.is_some_and(|o| b.owns(o))
            && asked.iter().any(|target| match target {
                Some(host) => !b.owns(host),
                None => true,
            })
    };
    for claim in &check.claim {
        let found = match claim {
            Claim::Title => zone_claims(document, site, ZoneKind::Title, |line| {
                table.claims(line, None)
            }),
            Claim::Copyright => zone_claims(document, site, ZoneKind::Text, |line| {
                table.copyright_claims(line)
            }),
            Claim::Heading => {
                // Normalizing every link's text is wasted on the many pages whose lines
                // claim no brand.
                let links = std::cell::OnceCell::new();
                let links = || {
                    links.get_or_init(|| -> HashSet<String> {
                        document
                            .links
                            .iter()
                            .filter(|l| !l.hidden)
                            .map(|l| normalize(&l.text).text.trim().to_string())
                            .filter(|t| !t.is_empty())
                            .collect()
                    })
                };
                let mut found = Vec::new();
                for zone in [ZoneKind::Text, ZoneKind::Attr] {
                    found.extend(zone_claims(document, site, zone, |line| {
                        let claims = table.claims(line, Some(MAX_HEADING_CHARS));
                        if claims.is_empty() || links().contains(line.trim()) {
                            Vec::new()
                        } else {
                            claims
                        }
                    }));
                }
                let brands: HashSet<usize> = found.iter().map(|(b, _, _)| *b).collect();
                if brands.len() >= MAX_HEADING_BRANDS {
                    found.clear();
                }
                found
            }
        };
        if let Some((_, zone, range)) = found.into_iter().find(|(b, _, _)| off_brand(*b)) {
            return vec![Evidence {
                zone,
                range,
                count: 1,
            }];
        }
    }
    Vec::new()
}

/// The claims of each line of a zone: `(brand, zone, range in the zone's original text)`.
fn zone_claims(
    document: &Document,
    site: &Site<'_>,
    kind: ZoneKind,
    mut claims: impl FnMut(&str) -> Vec<(usize, Range<usize>)>,
) -> Vec<(usize, ZoneKind, Range<usize>)> {
    let Some(index) = document.zones.iter().position(|z| z.kind == kind) else {
        return Vec::new();
    };
    let zone = &document.zones[index];
    let normalized = shared_or_normalized(site.normalized(index), &zone.text);
    let mut out = Vec::new();
    let mut start = 0;
    for line in normalized.text.split('\n') {
        let line_start = start;
        start += line.len() + 1;
        for (brand, range) in claims(line) {
            let range = line_start + range.start..line_start + range.end;
            out.push((brand, kind, normalized.source_range(range, &zone.text)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::extract_html;

    const TABLE: &str = r#"
[claim]
login = ["sign in", "log in", "login", "account", "verify", "登录", "帐号", "账号", "安全中心", "网上银行"]
about = ["how to", "phishing", "hacked", "如何", "钓鱼", "诈骗"]
via_before = ["with", "使用", "用"]
via_after = ["快捷登录", "互联"]
copyright = ["©", "copyright", "版权所有"]
max_gap = 3

[credentials]
new_secret = ["choose a", "new password", "confirm", "设置", "确认"]

[credentials.password]
input_types = ["password"]
contains = ["password", "pwd", "密码"]
words = ["pin", "pass"]

[credentials.card]
contains = ["cc_number", "card number", "cvv", "卡号"]

[credentials.seed]
contains = ["seed phrase", "12-word", "助记词"]

[credentials.id_number]
contains = ["身份证", "idcard"]

[[brand]]
id = "paypal"
names = ["PayPal"]
domains = ["paypal.com", "paypal.*"]

[[brand]]
id = "tencent"
names = ["QQ", "微信", "微信安全中心"]
domains = ["qq.com"]
exclude = ["qq群"]

[[brand]]
id = "cn-gov"
names = ["政务服务网"]
domains = ["gov.cn"]

[[brand]]
id = "ups"
names = ["UPS"]
domains = ["ups.com"]
exclude = ["电源"]
"#;

    fn table() -> Arc<BrandTable> {
        let (table, diagnostics) = BrandTable::parse("brands.toml", TABLE, None);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        Arc::new(table.unwrap())
    }

    fn check(claim: &[Claim], credentials: &[Credential]) -> BrandCheck {
        BrandCheck {
            brands_file: "brands.toml".into(),
            table: table(),
            claim: claim.to_vec(),
            credentials: credentials.to_vec(),
        }
    }

    fn found(check: &BrandCheck, html: &str, url: Option<&str>) -> Vec<String> {
        let page = url.map(|u| url::Url::parse(u).unwrap());
        let doc = extract_html(html, page.as_ref());
        run(check, &doc, &Site::of(&doc, url))
            .into_iter()
            .map(|e| doc.zone(e.zone).unwrap().text[e.range].to_string())
            .collect()
    }

    const LOGIN: &str = r#"<form action="login.php" method="post"><input name="u"><input type="password" name="p"></form>"#;

    #[test]
    fn title_claims_with_a_password_off_the_brand() {
        let c = check(&DEFAULT_CLAIM, &DEFAULT_CREDENTIALS);
        for title in [
            "Log in to your PayPal account",
            "PayPal - Log In",
            "Pay\u{200B}Pal",
            "ＰａｙＰａｌ",
            "QQ帐号安全登录",
            "微信安全中心-登录",
            "核实登记 - 微信安全中心 - 安全连接一切",
        ] {
            let html = format!("<title>{title}</title>{LOGIN}");
            assert_eq!(found(&c, &html, None).len(), 1, "{title}");
            assert_eq!(
                found(&c, &html, Some("http://evil.test/x")).len(),
                1,
                "{title}"
            );
        }
    }

    #[test]
    fn titles_that_are_not_claims() {
        let c = check(&DEFAULT_CLAIM, &DEFAULT_CREDENTIALS);
        for title in [
            "Sign in with PayPal - Shop",
            "使用QQ登录 - 论坛",
            "会员登录 - QQ个性签名网",
            "QQ个性签名网会员登录",
            "How to log in to PayPal",
            "PayPal phishing: hacked accounts",
            "QQ群 登录",
            "UPS电源 登录",
            "Payments - Shop",
            "---算算我的个人所得税",
        ] {
            let html = format!("<title>{title}</title>{LOGIN}");
            assert!(found(&c, &html, None).is_empty(), "{title}");
        }
    }

    #[test]
    fn the_brands_own_domain_or_form_target_is_not_a_claim() {
        let c = check(&DEFAULT_CLAIM, &DEFAULT_CREDENTIALS);
        let html = format!("<title>PayPal - Log In</title>{LOGIN}");
        assert!(found(&c, &html, Some("https://www.paypal.com/signin")).is_empty());
        assert!(found(&c, &html, Some("https://www.paypal.de/signin")).is_empty());
        assert_eq!(
            found(&c, &html, Some("https://paypal.com.evil.test/")).len(),
            1
        );
        let to_brand = r#"<title>PayPal - Log In</title><form action="https://www.paypal.com/signin"><input type=password></form>"#;
        assert!(found(&c, to_brand, None).is_empty());
        let elsewhere = r#"<title>PayPal - Log In</title><a href="https://www.paypal.com/help">Help</a><form action="https://collect.evil.test/"><input type=password></form>"#;
        assert_eq!(found(&c, elsewhere, None), vec!["PayPal".to_string()]);
        // Visible links to the brand do not make a file the brand's (clones keep them).
        let linked = format!(
            r#"<title>PayPal - Log In</title><a href="https://www.paypal.com/">PayPal</a>{LOGIN}"#
        );
        assert_eq!(found(&c, &linked, None).len(), 1);
        // Without a secret there is nothing to report.
        assert!(
            found(
                &c,
                "<title>PayPal - Log In</title><form><input name=q></form>",
                None
            )
            .is_empty()
        );
    }

    #[test]
    fn secrets_by_type_name_and_hint() {
        let c = check(&DEFAULT_CLAIM, &DEFAULT_CREDENTIALS);
        for form in [
            r#"<input type="number" placeholder="请输入支付密码">"#,
            r#"<input name="cc_number">"#,
            r#"<textarea placeholder="Enter your 12-Word phrase"></textarea>"#,
            r#"<input name="pin">"#,
        ] {
            let html = format!("<title>PayPal - Log In</title>{form}");
            assert_eq!(found(&c, &html, None).len(), 1, "{form}");
        }
        for form in [
            r#"<input name="spinner">"#,
            r#"<input name="passport">"#,
            r#"<input type="hidden" name="password" value="x">"#,
            r#"<input placeholder="身份证号">"#,
            r#"<input type="password" placeholder="Choose a password">"#,
            r#"<input type="password" name="pwd2" placeholder="确认密码">"#,
        ] {
            let html = format!("<title>PayPal - Log In</title>{form}");
            assert!(found(&c, &html, None).is_empty(), "{form}");
        }
        let id = check(&DEFAULT_CLAIM, &[Credential::IdNumber]);
        let html =
            r#"<title>生育补助 - 安徽政务服务网</title><input placeholder="请输入身份证号">"#;
        assert_eq!(found(&id, html, None), vec!["政务服务网".to_string()]);
        assert!(found(&id, html, Some("https://zwfw.ah.gov.cn/x")).is_empty());
    }

    #[test]
    fn heading_claims_are_short_lines_and_logos() {
        let c = check(&[Claim::Heading], &DEFAULT_CREDENTIALS);
        let html = format!(r#"<h1>微信安全中心</h1>{LOGIN}"#);
        assert_eq!(found(&c, &html, None), vec!["微信安全中心".to_string()]);
        let logo = format!(r#"<img src="l.png" alt="PayPal">{LOGIN}"#);
        assert_eq!(found(&c, &logo, None), vec!["PayPal".to_string()]);
        let long = format!(
            "<p>昨天我在论坛里看到有人说微信安全中心的账号登录页面改版了，大家觉得新版本好用吗？欢迎讨论</p>{LOGIN}"
        );
        assert!(found(&c, &long, None).is_empty());
        // The title is not a heading.
        let title = format!("<title>PayPal</title>{LOGIN}");
        assert!(found(&c, &title, None).is_empty());
    }

    #[test]
    fn share_bars_and_link_texts_are_not_headings() {
        let c = check(&[Claim::Heading], &DEFAULT_CREDENTIALS);
        let share = format!(r#"<div>PayPal</div><div>UPS</div><div>微信</div>{LOGIN}"#);
        assert!(found(&c, &share, None).is_empty());
        let link = format!(r#"<p><a href="https://www.paypal.com/">PayPal</a></p>{LOGIN}"#);
        assert!(found(&c, &link, None).is_empty());
        for line in [
            "支持7天无理由退换，支付宝、微信支付均可。会员登录享九折。",
            "也可以使用支付宝登录、微信登录、QQ登录。",
            "用户登录 | 微信支付",
        ] {
            let html = format!("<p>{line}</p>{LOGIN}");
            assert!(found(&c, &html, None).is_empty(), "{line}");
        }
    }

    #[test]
    fn copyright_lines_name_the_holder() {
        let c = check(&[Claim::Copyright], &DEFAULT_CREDENTIALS);
        for line in [
            "©2018 PayPal Terms of use",
            "Copyright © 1999-2024 PayPal, Inc. All rights reserved.",
            "版权所有 © 微信安全中心",
        ] {
            let html = format!("<p>{line}</p>{LOGIN}");
            assert_eq!(found(&c, &html, None).len(), 1, "{line}");
        }
        for line in [
            "© 2024 Example Shop. Pay with PayPal, Visa and more",
            "PayPal is a trademark of its owner",
            "© 2024 某网站 | 如何注册PayPal",
        ] {
            let html = format!("<p>{line}</p>{LOGIN}");
            assert!(found(&c, &html, None).is_empty(), "{line}");
        }
    }

    #[test]
    fn bad_tables_are_reported_with_lines() {
        let bad = r#"
[claim]
login = ["登录"]
copyright = ["©"]
max_gap = 3
[credentials.password]
contains = ["密码"]
words = ["p w"]
[credentials.card]
contains = ["卡号"]
[credentials.seed]
contains = ["助记词"]
[credentials.id_number]
contains = ["身份证"]
[[brand]]
id = "x"
names = ["X"]
domains = ["not a domain"]
[[brand]]
id = "x"
names = ["X"]
domains = ["x.com"]
"#;
        let (table, diagnostics) = BrandTable::parse("b.toml", bad, Some("r"));
        assert!(table.is_none());
        let lines: Vec<Option<usize>> = diagnostics.iter().map(|d| d.line).collect();
        assert!(lines.contains(&Some(8)), "{diagnostics:?}");
        assert!(lines.contains(&Some(18)), "{diagnostics:?}");
        assert!(lines.contains(&Some(20)), "{diagnostics:?}");
        assert!(diagnostics.iter().all(|d| d.file == "b.toml"));
        let (table, diagnostics) = BrandTable::parse("b.toml", "[claim]\nlogin = 3\n", None);
        assert!(table.is_none());
        assert_eq!(diagnostics[0].line, Some(2), "{diagnostics:?}");
    }
}
