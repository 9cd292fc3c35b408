//! Ruleset files → a compiled ruleset.
//!
//! Rulesets are data: TOML files of `[[rule]]` tables (format in `rulesets/README.md`). Loading
//! validates every file and every rule and reports *every* problem at once, each naming the
//! file, line and rule, so an operator fixes a broken list in one round. A ruleset that has any
//! error is never half-loaded.
//!
//! Compilation puts all literal terms of all rules into one automaton per text view (plain, or
//! noise-skipping) and all regexes into one set; [`Ruleset::scan_document`] then scans each zone
//! once, whatever the number of rules, and evaluates the rules' context conditions
//! (`near`, `exclude`, `min_hits`) on the hits.

mod budget;
mod bundled;
pub mod categories;
mod checks;
mod compile;
pub mod cost;
mod domains;
mod eval;
mod load;
mod reload;
mod schema;

pub mod weights;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use crate::extract::ZoneKind;
use crate::finding::Severity;

pub use budget::Budget;
pub use checks::{Check, CheckKind};
pub use compile::Ruleset;
pub use domains::{AllowList, DomainPattern};
pub use eval::Evidence;
pub use load::{check, load};
pub use reload::{ReloadOutcome, RulesHandle, sources_version};
pub use weights::{CategoryScoring, Weights};

/// Where rules come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleSource {
    /// The rulesets compiled into the binary from the repository's `rulesets/`.
    Bundled,
    /// A ruleset file, or a directory walked for `*.toml` files.
    Path(PathBuf),
    /// Ruleset text held in memory (tests, fuzzing). `name` labels diagnostics; `terms_file`
    /// resolves against the current directory.
    Text { name: String, text: String },
}

impl fmt::Display for RuleSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleSource::Bundled => f.write_str("the bundled rulesets"),
            RuleSource::Path(p) => write!(f, "{}", p.display()),
            RuleSource::Text { name, .. } => f.write_str(name),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Warning,
    Error,
}

/// One problem in a ruleset, located as precisely as the input allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub level: Level,
    pub file: String,
    pub line: Option<usize>,
    pub rule: Option<String>,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        let level = match self.level {
            Level::Warning => "warning",
            Level::Error => "error",
        };
        write!(f, ": {level}")?;
        if let Some(rule) = &self.rule {
            write!(f, ": rule `{rule}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Where a rule was defined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    pub file: String,
    pub line: usize,
}

/// Terms that must (`near`) or must not (`exclude_near`) occur close to a hit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Context {
    pub terms: Vec<String>,
    /// Characters between the hit and the context term, in the normalized text.
    pub within: u32,
}

/// An example that a rule must (or must not) hit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Example {
    pub input: ExampleInput,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExampleInput {
    /// Text placed in one zone.
    Zone { zone: ZoneKind, text: String },
    /// A whole HTML page, extracted as a scan would, with its URL when given.
    Page { html: String, url: Option<String> },
}

impl Example {
    /// The example's text or page, for messages.
    pub fn text(&self) -> &str {
        match &self.input {
            ExampleInput::Zone { text, .. } => text,
            ExampleInput::Page { html, .. } => html,
        }
    }
}

/// A validated rule.
#[derive(Debug, Clone, Serialize)]
pub struct Rule {
    pub id: Arc<str>,
    pub category: Arc<str>,
    pub clause: Arc<str>,
    pub severity: Severity,
    /// The rule's weight as a signal in its category: its `weight`, or the prior from its
    /// severity, unless a weights file gives another (see `weights.rs`).
    pub weight: f64,
    /// The weight the rule file gives (or its severity implies), before any weights file:
    /// what `rules fit` starts from and pulls towards.
    pub prior_weight: f64,
    pub description: Arc<str>,
    /// The literal terms as written (from `terms` and `terms_file`).
    pub terms: Vec<String>,
    pub regex: Vec<String>,
    /// Listed domains (from `domains` and `domains_file`), matched against the hosts of the
    /// URLs in the rule's zones. Compiling moves them into the ruleset's domain index, so a
    /// compiled rule's list is empty and `domain_count` keeps the number.
    #[serde(skip)]
    pub domains: Vec<DomainPattern>,
    pub domain_count: usize,
    /// Domains (and subdomains) a domain rule never reports.
    pub allow_domains: Vec<String>,
    /// What the allowlist (`allow_list`) did to a domain rule's lists.
    pub allowlist: AllowlistReport,
    /// A structural check whose evidence is the rule's findings.
    pub check: Option<Check>,
    /// A structural check that must find something on the page for the rule to report.
    pub requires: Option<Check>,
    /// The terms come from operator-supplied files, which may be empty until the operator
    /// loads a list (the rule then matches nothing).
    pub operator_list: bool,
    pub zones: Vec<ZoneKind>,
    /// Every context must hold for a hit to count.
    pub near: Vec<Context>,
    pub min_hits: u32,
    /// The rule reports only when its kept hits include this many different matches.
    pub min_distinct: u32,
    /// Contexts that cancel a hit they contain (路口交通 cancels 口交).
    pub exclude: Vec<String>,
    pub exclude_near: Option<Context>,
    pub skip_noise: bool,
    pub max_gap: u32,
    pub word_boundary: bool,
    /// Matches of Chinese terms that the word segmenter cuts across words do not count.
    pub segment: bool,
    pub examples_match: Vec<Example>,
    pub examples_no_match: Vec<Example>,
    pub location: Location,
}

impl Rule {
    pub(crate) fn zone_mask(&self) -> u16 {
        self.zones.iter().fold(0, |m, z| m | z.bit())
    }

    /// Whether the rule can report anything: an operator rule whose lists are still empty
    /// cannot.
    pub fn is_active(&self) -> bool {
        !self.terms.is_empty()
            || !self.regex.is_empty()
            || self.domain_count > 0
            || self.check.is_some()
    }
}

/// The allowlist of a domain rule and the list entries it removed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AllowlistReport {
    /// The allowlist files, as the rule names them (`bundled:` for the binary's own copy).
    pub lists: Vec<String>,
    /// Per domain list (as the rule names it), the entries the allowlist removed.
    #[serde(skip)]
    pub removed: Vec<(String, Vec<String>)>,
    /// The allowlist's whole-domain entries, when the rule's lists have `keyword:` or
    /// `regexp:` entries: those name no host to remove, so lookups skip these domains for them.
    #[serde(skip)]
    pub(crate) keyword_exempt: Vec<String>,
}

impl AllowlistReport {
    /// Entries removed across the rule's lists.
    pub fn removed_count(&self) -> usize {
        self.removed.iter().map(|(_, r)| r.len()).sum()
    }
}

/// The allowlist a domain rule uses unless it says otherwise (`allow_list = true`).
pub const DEFAULT_ALLOW_LIST: &str = "bundled:lists/allow/benign-domains.txt";

/// Zones whose lines are URLs (the first word of a `link` line; `script` lines that are a
/// lone URL): the zones a domain rule may apply to.
pub const URL_ZONES: [ZoneKind; 5] = [
    ZoneKind::Link,
    ZoneKind::Script,
    ZoneKind::Iframe,
    ZoneKind::Form,
    ZoneKind::Redirect,
];

/// Zones a rule applies to when it names none: the places a visitor reads text, and a
/// template's `code`, whose `echo` strings are what its visitors get. Links, scripts and the
/// other structural zones are opted into by rules written for them, so that anchor text
/// already present in `text` is not reported twice. `rendered` is here because it is the
/// visible text again, as a browser shows it once the page's scripts ran.
pub const DEFAULT_ZONES: [ZoneKind; 8] = [
    ZoneKind::Text,
    ZoneKind::Rendered,
    ZoneKind::Title,
    ZoneKind::Meta,
    ZoneKind::Attr,
    ZoneKind::HiddenText,
    ZoneKind::Plain,
    ZoneKind::Code,
];

/// Default for `max_gap`: how many noise characters a `skip_noise` rule skips between two
/// characters of a term. Evasion inserts one or two; a larger gap starts joining words of
/// different sentences.
pub const DEFAULT_MAX_GAP: u32 = 3;
