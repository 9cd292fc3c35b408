//! Reading ruleset files and validating them into [`Rule`]s, collecting every problem.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::checks::{Check, CheckKind};
use super::domains::{self, AllowList, DomainPattern};
use super::schema::{
    BrandOpts, Contexts, OneOrMany, RawAllowList, RawCheck, RawContext, RawDefaults, RawExample,
    RawExamples, RawMeta, RawRule,
};
use super::weights::{MAX_WEIGHT, WEIGHTS_FILE, Weights, prior_weight};
use super::{
    AllowlistReport, Context, DEFAULT_ALLOW_LIST, DEFAULT_MAX_GAP, DEFAULT_ZONES, Diagnostic,
    Example, ExampleInput, Level, Location, Rule, RuleSource, Ruleset, URL_ZONES, bundled,
    categories,
};
use crate::extract::ZoneKind;
use crate::finding::Severity;
use crate::normalize::normalize_term;

/// Load, validate and compile rules. On any error, every diagnostic (errors and warnings) is
/// returned and no ruleset is built; on success, the warnings come with the ruleset.
pub fn load(sources: &[RuleSource]) -> Result<(Ruleset, Vec<Diagnostic>), Vec<Diagnostic>> {
    // Each regex is compiled to check it and again to match with it: compile it once.
    let _memo = crate::matcher::RegexMemo::new();
    let mut diagnostics = Vec::new();
    let (mut rules, weights) = read_sources(sources, &mut diagnostics);
    apply_weights(&mut rules, &weights, &mut diagnostics);
    diagnostics.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    if diagnostics.iter().any(|d| d.level == Level::Error) {
        return Err(diagnostics);
    }
    match Ruleset::compile_scored(rules, weights.scoring()) {
        Ok(ruleset) => Ok((ruleset, diagnostics)),
        Err(mut errors) => {
            diagnostics.append(&mut errors);
            Err(diagnostics)
        }
    }
}

/// Everything `load` checks, plus every rule's examples. Returns all diagnostics, sorted by
/// file and line; the rules are usable when none is an error.
pub fn check(sources: &[RuleSource]) -> (Option<Ruleset>, Vec<Diagnostic>) {
    // The cost checks compile every regex once more.
    let _memo = crate::matcher::RegexMemo::new();
    match load(sources) {
        Err(diagnostics) => (None, diagnostics),
        Ok((ruleset, mut diagnostics)) => {
            diagnostics.extend(ruleset.run_examples());
            diagnostics.extend(super::cost::regex_costs(ruleset.rules()));
            diagnostics.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
            (Some(ruleset), diagnostics)
        }
    }
}

/// Fitted weights replace the rules' own; a weight for a rule that is not loaded is stale
/// (the rule was renamed or removed since the fit) and said so.
fn apply_weights(rules: &mut [Rule], weights: &Weights, diagnostics: &mut Vec<Diagnostic>) {
    let mut used = std::collections::HashSet::new();
    for rule in rules.iter_mut() {
        if let Some((w, _, _)) = weights.rules.get(&*rule.id) {
            rule.weight = *w;
            used.insert(&*rule.id);
        }
    }
    let mut stale: Vec<_> = weights
        .rules
        .iter()
        .filter(|(id, _)| !used.contains(id.as_str()))
        .collect();
    stale.sort_by(|a, b| (&a.1.1, a.1.2).cmp(&(&b.1.1, b.1.2)));
    for (id, (_, file, line)) in stale {
        diagnostics.push(Diagnostic {
            level: Level::Warning,
            file: file.clone(),
            line: Some(*line),
            rule: Some(id.clone()),
            message: "weight for a rule that is not loaded (renamed or removed since the fit?)"
                .into(),
        });
    }
}

/// A ruleset file's text and where its relative paths resolve.
struct SourceFile {
    display: String,
    origin: Origin,
    text: String,
    /// A `weights.toml` at the top of a source: weights, not rules.
    is_weights: bool,
}

enum Origin {
    /// The directory the file is in.
    Disk(PathBuf),
    /// The file's directory inside the bundled tree ("" for the top).
    Bundled(String),
}

fn read_sources(sources: &[RuleSource], diagnostics: &mut Vec<Diagnostic>) -> (Vec<Rule>, Weights) {
    let mut files = Vec::new();
    for source in sources {
        collect_files(source, &mut files, diagnostics);
    }
    let mut rules = Vec::new();
    let mut weights = Weights::default();
    let mut seen: HashMap<String, Location> = HashMap::new();
    for file in &files {
        if file.is_weights {
            weights.read(&file.display, &file.text, diagnostics);
        } else {
            rules.extend(parse_file(file, diagnostics, &mut seen));
        }
    }
    if !files.iter().any(|f| !f.is_weights) && diagnostics.is_empty() {
        diagnostics.push(Diagnostic {
            level: Level::Error,
            file: sources
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            line: None,
            rule: None,
            message: "no ruleset files (*.toml) found".into(),
        });
    }
    (rules, weights)
}

/// `rulesets/filing/` holds the data of the filing checks (`crates/core/src/filing`), not rules.
const FILING_DIR: &str = "filing/";
/// `rulesets/lists/` holds the lists and tables rules name (`brands.toml` among them), not rules.
const LISTS_DIR: &str = "lists/";

fn file_error(file: &str, message: String) -> Diagnostic {
    Diagnostic {
        level: Level::Error,
        file: file.to_string(),
        line: None,
        rule: None,
        message,
    }
}

fn collect_files(
    source: &RuleSource,
    files: &mut Vec<SourceFile>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    match source {
        RuleSource::Bundled => {
            for (name, bytes) in bundled::FILES {
                if !name.ends_with(".toml")
                    || name.starts_with(FILING_DIR)
                    || name.starts_with(LISTS_DIR)
                {
                    continue;
                }
                let display = format!("<bundled>/rulesets/{name}");
                match std::str::from_utf8(bytes) {
                    Ok(text) => files.push(SourceFile {
                        display,
                        origin: Origin::Bundled(parent_of(name)),
                        text: text.to_string(),
                        is_weights: *name == WEIGHTS_FILE,
                    }),
                    Err(e) => diagnostics.push(file_error(&display, format!("not UTF-8: {e}"))),
                }
            }
        }
        RuleSource::Text { name, text } => files.push(SourceFile {
            display: name.clone(),
            origin: Origin::Disk(PathBuf::from(".")),
            text: text.clone(),
            is_weights: false,
        }),
        RuleSource::Path(path) => {
            let meta = match std::fs::metadata(path) {
                Ok(meta) => meta,
                Err(e) => {
                    diagnostics.push(file_error(&path.display().to_string(), e.to_string()));
                    return;
                }
            };
            let mut paths = Vec::new();
            let top_weights = meta.is_dir().then(|| path.join(WEIGHTS_FILE));
            if meta.is_dir() {
                let walk = walkdir::WalkDir::new(path)
                    .sort_by_file_name()
                    .into_iter()
                    .filter_entry(|e| {
                        !(e.depth() == 1
                            && e.file_type().is_dir()
                            && (e.file_name() == FILING_DIR.trim_end_matches('/')
                                || e.file_name() == LISTS_DIR.trim_end_matches('/')))
                    });
                for entry in walk {
                    match entry {
                        Ok(entry)
                            if entry.file_type().is_file()
                                && entry.path().extension().is_some_and(|e| e == "toml") =>
                        {
                            paths.push(entry.into_path());
                        }
                        Ok(_) => {}
                        Err(e) => diagnostics.push(file_error(
                            &e.path().unwrap_or(path).display().to_string(),
                            e.to_string(),
                        )),
                    }
                }
            } else {
                paths.push(path.clone());
            }
            for path in paths {
                let display = path.display().to_string();
                match crate::bounded::read(&path, crate::bounded::RULES_BYTES) {
                    Ok(bytes) => match String::from_utf8(bytes) {
                        Ok(text) => files.push(SourceFile {
                            display,
                            origin: Origin::Disk(
                                path.parent().unwrap_or(Path::new(".")).to_path_buf(),
                            ),
                            text,
                            is_weights: top_weights.as_deref() == Some(path.as_path())
                                || (top_weights.is_none()
                                    && path.file_name().is_some_and(|n| n == WEIGHTS_FILE)),
                        }),
                        Err(e) => diagnostics.push(file_error(&display, format!("not UTF-8: {e}"))),
                    },
                    Err(e) => diagnostics.push(file_error(&display, e.to_string())),
                }
            }
        }
    }
}

fn parent_of(name: &str) -> String {
    match name.rfind('/') {
        Some(i) => name[..i].to_string(),
        None => String::new(),
    }
}

/// Line numbers for byte offsets of one file.
struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    fn new(text: &str) -> Lines {
        let mut starts = vec![0];
        starts.extend(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1));
        Lines { starts }
    }

    fn line_of(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset).max(1)
    }
}

/// Validation state for one file.
struct FileCx<'a> {
    file: &'a SourceFile,
    lines: Lines,
    diagnostics: &'a mut Vec<Diagnostic>,
    defaults: RawDefaults,
}

impl FileCx<'_> {
    fn report(
        &mut self,
        level: Level,
        span: Option<std::ops::Range<usize>>,
        rule: Option<&str>,
        message: String,
    ) {
        self.diagnostics.push(Diagnostic {
            level,
            file: self.file.display.clone(),
            line: span.map(|s| self.lines.line_of(s.start)),
            rule: rule.map(str::to_string),
            message,
        });
    }

    fn error_at(&mut self, span: std::ops::Range<usize>, rule: Option<&str>, message: String) {
        self.report(Level::Error, Some(span), rule, message);
    }

    fn toml_error(
        &mut self,
        error: toml::de::Error,
        rule: Option<&str>,
        fallback: std::ops::Range<usize>,
    ) {
        let span = error.span().unwrap_or(fallback);
        let message = error.message().trim().to_string();
        self.error_at(span, rule, message);
    }
}

/// Rule ids seen so far, across files, with where each was first defined.
type SeenIds = HashMap<String, Location>;

fn parse_file(
    file: &SourceFile,
    diagnostics: &mut Vec<Diagnostic>,
    seen: &mut SeenIds,
) -> Vec<Rule> {
    let mut cx = FileCx {
        file,
        lines: Lines::new(&file.text),
        diagnostics,
        defaults: RawDefaults::default(),
    };
    let (document, errors) = DeTable::parse_recoverable(&file.text);
    if !errors.is_empty() {
        for error in errors {
            cx.toml_error(error, None, 0..0);
        }
        return Vec::new();
    }
    let document = document.into_inner();
    let mut raw_rules: Vec<Spanned<DeValue<'_>>> = Vec::new();
    for (key, value) in document {
        let span = key.span();
        match key.get_ref().as_ref() {
            "ruleset" => {
                if let Err(e) = RawMeta::deserialize_from(value) {
                    cx.toml_error(e, None, span);
                }
            }
            "defaults" => match RawDefaults::deserialize_from(value) {
                Ok(defaults) => cx.defaults = defaults,
                Err(e) => cx.toml_error(e, None, span),
            },
            "rule" => match value.into_inner() {
                DeValue::Array(items) => raw_rules.extend(items.iter().cloned()),
                _ => cx.error_at(
                    span,
                    None,
                    "`rule` must be an array of tables: write [[rule]]".into(),
                ),
            },
            other => cx.error_at(
                span,
                None,
                format!("unknown key `{other}`, expected `ruleset`, `defaults` or `rule`"),
            ),
        }
    }
    let default_severity = validate_default_severity(&mut cx);
    let default_zones = cx
        .defaults
        .zones
        .take()
        .and_then(|z| validate_zones(&mut cx, z, None));
    let mut rules = Vec::new();
    for item in raw_rules {
        let span = item.span();
        let id_hint = rule_id_hint(&item);
        if let Some(id) = &id_hint {
            let here = Location {
                file: file.display.clone(),
                line: cx.lines.line_of(span.start),
            };
            if let Some(first) = seen.get(id) {
                let message = format!(
                    "duplicate rule id, first defined at {}:{}",
                    first.file, first.line
                );
                cx.error_at(span.clone(), Some(id), message);
                continue;
            }
            seen.insert(id.clone(), here);
        }
        match RawRule::deserialize_from(item) {
            Ok(raw) => {
                if let Some(rule) =
                    validate_rule(&mut cx, raw, span, default_severity, &default_zones)
                {
                    rules.push(rule);
                }
            }
            Err(e) => cx.toml_error(e, id_hint.as_deref(), span),
        }
    }
    rules
}

/// The id of a rule that failed to deserialize, to name it in the error.
fn rule_id_hint(item: &Spanned<DeValue<'_>>) -> Option<String> {
    match item.get_ref() {
        DeValue::Table(table) => table
            .iter()
            .find(|(k, _)| k.get_ref().as_ref() == "id")
            .and_then(|(_, v)| v.get_ref().as_str().map(str::to_string)),
        _ => None,
    }
}

trait FromSpannedValue: Sized {
    fn deserialize_from(value: Spanned<DeValue<'_>>) -> Result<Self, toml::de::Error>;
}

impl<T: serde::de::DeserializeOwned> FromSpannedValue for T {
    fn deserialize_from(value: Spanned<DeValue<'_>>) -> Result<T, toml::de::Error> {
        T::deserialize(ValueDeserializer::from(value))
    }
}

fn validate_default_severity(cx: &mut FileCx<'_>) -> Option<Severity> {
    let raw = cx.defaults.severity.take()?;
    match raw.get_ref().parse() {
        Ok(s) => Some(s),
        Err(message) => {
            cx.error_at(raw.span(), None, message);
            None
        }
    }
}

fn validate_zones(
    cx: &mut FileCx<'_>,
    zones: Spanned<Vec<Spanned<String>>>,
    rule: Option<&str>,
) -> Option<Vec<ZoneKind>> {
    let span = zones.span();
    let mut out = Vec::new();
    let mut ok = true;
    for zone in zones.into_inner() {
        match ZoneKind::parse(zone.get_ref()) {
            Some(z) if !out.contains(&z) => out.push(z),
            Some(_) => {}
            None => {
                ok = false;
                let names: Vec<&str> = ZoneKind::ALL.iter().map(|z| z.as_str()).collect();
                cx.error_at(
                    zone.span(),
                    rule,
                    format!(
                        "unknown zone `{}` (zones: {})",
                        zone.get_ref(),
                        names.join(", ")
                    ),
                );
            }
        }
    }
    if ok && out.is_empty() {
        cx.error_at(
            span,
            rule,
            "`zones` is empty: the rule would never apply".into(),
        );
        return None;
    }
    ok.then_some(with_rendered(out))
}

/// A rule for `text` reads `rendered` too: the rendered zone is the visible text once more,
/// as a browser shows it after the page's scripts ran, so every rule written for what a
/// visitor reads must see it, and no ruleset has to be edited for the render stage. A rule
/// may name `rendered` alone to read only what scripts put on screen.
fn with_rendered(mut zones: Vec<ZoneKind>) -> Vec<ZoneKind> {
    if zones.contains(&ZoneKind::Text) && !zones.contains(&ZoneKind::Rendered) {
        zones.push(ZoneKind::Rendered);
    }
    zones
}

fn is_valid_rule_id(id: &str) -> bool {
    let parts: Vec<&str> = id.split('.').collect();
    parts.len() >= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        })
}

fn validate_rule(
    cx: &mut FileCx<'_>,
    mut raw: RawRule,
    span: std::ops::Range<usize>,
    default_severity: Option<Severity>,
    default_zones: &Option<Vec<ZoneKind>>,
) -> Option<Rule> {
    // The checks run in the order their errors have always been reported: diagnostics on one
    // line keep it after sorting.
    let errors_before = error_count(cx);
    let id = raw.id.get_ref().clone();
    let rule = Some(id.as_str());
    check_rule_id(cx, &raw.id);
    let category = check_category(cx, rule, &raw.category);
    let clause = check_clause(cx, rule, &raw.clause);
    let severity = rule_severity(cx, rule, raw.severity.as_ref(), default_severity, &span);
    let weight = rule_weight(cx, rule, raw.weight.take());
    check_description(cx, rule, &raw.description);
    let skip_noise = raw.skip_noise.or(cx.defaults.skip_noise).unwrap_or(false);
    let matching = validate_matching(cx, rule, &mut raw, &span, default_zones, skip_noise);
    let ways = matching.ways();
    check_ways_to_match(cx, rule, &span, &ways, errors_before);
    let near = rule_near(cx, rule, &span, raw.near, skip_noise);
    let exclude_near = raw
        .exclude_near
        .map(|n| validate_context(cx, rule, n, skip_noise, "exclude_near"));
    let mut exclude = Vec::new();
    collect_terms(cx, rule, raw.exclude, skip_noise, &mut exclude);
    let min_hits = at_least_one(cx, rule, raw.min_hits, "min_hits");
    let min_distinct = at_least_one(cx, rule, raw.min_distinct, "min_distinct");
    if ways.check {
        let conditions = [
            (!near.is_empty(), "near"),
            (exclude_near.is_some(), "exclude_near"),
            (!exclude.is_empty(), "exclude"),
            (min_hits > 1, "min_hits"),
            (min_distinct > 1, "min_distinct"),
        ];
        check_no_conditions_on_check(cx, rule, &span, &conditions);
    }
    let zones = matching.zones.unwrap_or_default();
    let default_zone = zones.first().copied().unwrap_or(ZoneKind::Text);
    let (examples_match, examples_no_match) =
        rule_examples(cx, rule, &span, raw.examples, default_zone, &ways);
    if error_count(cx) > errors_before || !raw.enabled.unwrap_or(true) {
        return None;
    }
    let severity = severity?;
    let prior_weight = weight.unwrap_or_else(|| prior_weight(severity));
    let defaults = &cx.defaults;
    Some(Rule {
        id: id.into(),
        category: category.into(),
        clause: clause.into(),
        severity,
        weight: prior_weight,
        prior_weight,
        description: raw.description.into_inner().into(),
        terms: matching.terms,
        regex: matching.regex,
        domain_count: matching.domains.len(),
        domains: matching.domains,
        allow_domains: matching.allow_domains,
        allowlist: matching.allowlist,
        check: matching.check,
        requires: matching.requires,
        operator_list: matching.operator_list,
        zones,
        near,
        min_hits,
        min_distinct,
        exclude,
        exclude_near,
        skip_noise,
        max_gap: raw.max_gap.or(defaults.max_gap).unwrap_or(DEFAULT_MAX_GAP),
        word_boundary: raw.word_boundary.or(defaults.word_boundary).unwrap_or(true),
        segment: matching.segment,
        examples_match,
        examples_no_match,
        location: Location {
            file: cx.file.display.clone(),
            line: cx.lines.line_of(span.start),
        },
    })
}

/// What a rule matches on, validated: its literals, domains or check, and where it looks.
struct RuleMatching {
    operator_list: bool,
    check: Option<Check>,
    requires: Option<Check>,
    /// `None` when they are invalid (reported).
    zones: Option<Vec<ZoneKind>>,
    terms: Vec<String>,
    regex: Vec<String>,
    /// The rule has `domains` or a `domains_file`, whether or not they loaded.
    has_domains: bool,
    domains: Vec<DomainPattern>,
    allowlist: AllowlistReport,
    allow_domains: Vec<String>,
    segment: bool,
}

impl RuleMatching {
    fn ways(&self) -> WaysToMatch {
        WaysToMatch {
            literal: !self.terms.is_empty() || !self.regex.is_empty(),
            domains: self.has_domains,
            check: self.check.is_some(),
            requires: self.requires.is_some(),
            operator_list: self.operator_list,
        }
    }
}

/// Takes from `raw` what the rule matches on and validates it.
fn validate_matching(
    cx: &mut FileCx<'_>,
    rule: Option<&str>,
    raw: &mut RawRule,
    span: &std::ops::Range<usize>,
    default_zones: &Option<Vec<ZoneKind>>,
    skip_noise: bool,
) -> RuleMatching {
    let operator_list = raw.operator_list.as_ref().is_some_and(|o| *o.get_ref());
    let check = raw.check.take();
    let check = check.map(|c| validate_check(cx, rule, c, "check"));
    let requires = raw.requires.take();
    let requires = requires.map(|c| validate_check(cx, rule, c, "requires"));
    let has_domains = !raw.domains.is_empty() || raw.domains_file.is_some();
    let zones = rule_zones(
        cx,
        rule,
        raw.zones.take(),
        check.as_ref(),
        has_domains,
        default_zones,
    );
    if operator_list {
        let terms = raw.terms.first().map(Spanned::span);
        let regex = raw.regex.as_ref().map(Spanned::span);
        check_operator_list(cx, rule, span, [terms, regex], raw.terms_file.is_some());
    }
    let terms = std::mem::take(&mut raw.terms);
    let terms = rule_terms(
        cx,
        rule,
        terms,
        raw.terms_file.take(),
        skip_noise,
        operator_list,
    );
    let regex = rule_regexes(cx, rule, raw.regex.take());
    let allow_list_span = raw.allow_list.as_ref().map(Spanned::span);
    let domains = std::mem::take(&mut raw.domains);
    let (allow_list, domains_file) = (raw.allow_list.take(), raw.domains_file.take());
    let (domains, allowlist) = rule_domains(cx, rule, span, domains, allow_list, domains_file);
    let allow_domains = std::mem::take(&mut raw.allow_domains);
    let allow_domains = rule_allow_domains(cx, rule, span, allow_domains, has_domains);
    let without_terms = terms.is_empty() && !operator_list;
    let segment = rule_segment(cx, rule, raw.segment.take(), without_terms);
    if let Some(list_span) = allow_list_span
        && !has_domains
    {
        cx.error_at(
            list_span,
            rule,
            "`allow_list` applies to domain rules; a check takes its own `allow_list`".into(),
        );
    }
    RuleMatching {
        operator_list,
        check: check.flatten(),
        requires: requires.flatten(),
        zones,
        terms,
        regex,
        has_domains,
        domains,
        allowlist,
        allow_domains,
        segment,
    }
}

fn check_rule_id(cx: &mut FileCx<'_>, id: &Spanned<String>) {
    if !is_valid_rule_id(id.get_ref()) {
        cx.error_at(
            id.span(),
            Some(id.get_ref()),
            "rule ids are dotted lower-case words, like `gambling.casino_terms`".into(),
        );
    }
}

fn check_category(cx: &mut FileCx<'_>, rule: Option<&str>, category: &Spanned<String>) -> String {
    let name = category.get_ref().clone();
    if categories::find(&name).is_none() {
        let known: Vec<&str> = categories::CATEGORIES.iter().map(|c| c.id).collect();
        cx.error_at(
            category.span(),
            rule,
            format!(
                "unknown category `{name}` (categories: {})",
                known.join(", ")
            ),
        );
    }
    name
}

fn check_clause(cx: &mut FileCx<'_>, rule: Option<&str>, clause: &Spanned<String>) -> String {
    let text = clause.get_ref().trim().to_string();
    if !categories::is_valid_clause(&text) {
        cx.error_at(
            clause.span(),
            rule,
            format!("clause `{text}` is not a clause reference like `§2(7)` or `§3`"),
        );
    }
    text
}

/// The rule's `severity`, else the file's default; `None` (with an error) when neither is.
fn rule_severity(
    cx: &mut FileCx<'_>,
    rule: Option<&str>,
    severity: Option<&Spanned<String>>,
    default: Option<Severity>,
    span: &std::ops::Range<usize>,
) -> Option<Severity> {
    match severity {
        Some(s) => match s.get_ref().parse::<Severity>() {
            Ok(s) => Some(s),
            Err(message) => {
                cx.error_at(s.span(), rule, message);
                None
            }
        },
        None => default.or_else(|| {
            cx.error_at(
                span.clone(),
                rule,
                "missing `severity` (and no [defaults] severity)".into(),
            );
            None
        }),
    }
}

/// The rule's `weight`, else the file's default; `None` when neither is (or it is invalid,
/// with an error).
fn rule_weight(
    cx: &mut FileCx<'_>,
    rule: Option<&str>,
    weight: Option<Spanned<f64>>,
) -> Option<f64> {
    match weight.or_else(|| cx.defaults.weight.clone()) {
        Some(w) if !w.get_ref().is_finite() || w.get_ref().abs() > MAX_WEIGHT => {
            cx.error_at(
                w.span(),
                rule,
                format!("`weight` must be a number between -{MAX_WEIGHT} and {MAX_WEIGHT}"),
            );
            None
        }
        Some(w) => Some(*w.get_ref()),
        None => None,
    }
}

fn check_description(cx: &mut FileCx<'_>, rule: Option<&str>, description: &Spanned<String>) {
    if description.get_ref().trim().is_empty() {
        cx.error_at(description.span(), rule, "`description` is empty".into());
    }
}

/// The zones a rule applies in. A check looks in its kind's zone, a domain rule in zones of
/// URLs, any other rule where it says or the file's default says. `check` is `Some(None)` for
/// a check that did not validate.
fn rule_zones(
    cx: &mut FileCx<'_>,
    rule: Option<&str>,
    zones: Option<Spanned<Vec<Spanned<String>>>>,
    check: Option<&Option<Check>>,
    has_domains: bool,
    default_zones: &Option<Vec<ZoneKind>>,
) -> Option<Vec<ZoneKind>> {
    match (zones, check) {
        (Some(z), Some(_)) => {
            cx.error_at(
                z.span(),
                rule,
                "`zones` does not apply to a `check` rule: its evidence is in the zone of its kind"
                    .into(),
            );
            None
        }
        (None, Some(Some(check))) => Some(vec![check.kind.zone()]),
        (None, Some(None)) => None,
        (Some(z), None) => {
            let span = z.span();
            let zones = validate_zones(cx, z, rule);
            if has_domains
                && let Some(zones) = &zones
                && let Some(bad) = zones.iter().find(|z| !URL_ZONES.contains(z))
            {
                cx.error_at(
                    span,
                    rule,
                    format!(
                        "a domain rule applies to zones of URLs ({}), not `{}`",
                        zone_names(&URL_ZONES),
                        bad.as_str()
                    ),
                );
            }
            zones
        }
        (None, None) if has_domains => Some(URL_ZONES.to_vec()),
        (None, None) => Some(
            default_zones
                .clone()
                .unwrap_or_else(|| DEFAULT_ZONES.to_vec()),
        ),
    }
}

/// An operator's list rule matches its `terms_file` and nothing else: `inline` are the spans
/// of its `terms` and `regex`, when it has them.
fn check_operator_list(
    cx: &mut FileCx<'_>,
    rule: Option<&str>,
    span: &std::ops::Range<usize>,
    inline: [Option<std::ops::Range<usize>>; 2],
    has_terms_file: bool,
) {
    for inline in inline.into_iter().flatten() {
        cx.error_at(
            inline,
            rule,
            "an `operator_list` rule takes its terms from its `terms_file` only".into(),
        );
    }
    if !has_terms_file {
        cx.error_at(
            span.clone(),
            rule,
            "an `operator_list` rule needs a `terms_file` for the operator's list".into(),
        );
    }
}

/// `terms`, then every `terms_file`'s.
fn rule_terms(
    cx: &mut FileCx<'_>,
    rule: Option<&str>,
    inline: Vec<Spanned<String>>,
    files: Option<Spanned<OneOrMany>>,
    skip_noise: bool,
    operator_list: bool,
) -> Vec<String> {
    let mut terms = Vec::new();
    collect_terms(cx, rule, inline, skip_noise, &mut terms);
    for file in files.map(OneOrMany::into_vec).unwrap_or_default() {
        load_terms_file(cx, rule, &file, skip_noise, operator_list, &mut terms);
    }
    terms
}

/// The `regex` patterns that compile and whose repetitions are bounded enough to scan with.
fn rule_regexes(
    cx: &mut FileCx<'_>,
    rule: Option<&str>,
    patterns: Option<Spanned<OneOrMany>>,
) -> Vec<String> {
    let mut regex = Vec::new();
    for pattern in patterns.map(OneOrMany::into_vec).unwrap_or_default() {
        if check_regex(cx, rule, &pattern) {
            regex.push(pattern.into_inner());
        }
    }
    regex
}

fn check_regex(cx: &mut FileCx<'_>, rule: Option<&str>, pattern: &Spanned<String>) -> bool {
    if let Err(e) = crate::matcher::compile_regex(pattern.get_ref()) {
        cx.error_at(pattern.span(), rule, format!("bad regex: {e}"));
        return false;
    }
    let reach = repetition_reach(pattern.get_ref());
    if reach > MAX_REGEX_REACH {
        cx.error_at(
            pattern.span(),
            rule,
            format!(
                "the regex repeats up to {reach} times (over {MAX_REGEX_REACH}): on a long page every engine is slow on it (a 90 KB page took 27 s with `(?s).{{0,20000}}澳门`); bound the repetition, or match the parts as terms with `near`"
            ),
        );
        return false;
    }
    if reach > WARN_REGEX_REACH {
        cx.report(
            Level::Warning,
            Some(pattern.span()),
            rule,
            format!(
                "the regex repeats up to {reach} times (over {WARN_REGEX_REACH}): it will be slow on long pages; prefer `near` for distance"
            ),
        );
    }
    true
}

/// The rule's `domains`, then its `domains_file` lists less what their allowlist covers, with
/// the report of what it removed.
fn rule_domains(
    cx: &mut FileCx<'_>,
    rule: Option<&str>,
    span: &std::ops::Range<usize>,
    inline: Vec<Spanned<String>>,
    allow_list: Option<Spanned<RawAllowList>>,
    files: Option<Spanned<OneOrMany>>,
) -> (Vec<DomainPattern>, AllowlistReport) {
    let mut entries = inline_domains(cx, rule, inline);
    let allow = match allow_list {
        Some(spec) => allow_list_files(spec),
        None if files.is_some() => Some(vec![Spanned::new(
            span.clone(),
            DEFAULT_ALLOW_LIST.to_string(),
        )]),
        None => None,
    }
    .map(|files| load_allow_lists(cx, rule, files));
    let mut allowlist = AllowlistReport::default();
    for file in files.map(OneOrMany::into_vec).unwrap_or_default() {
        let mut listed = Vec::new();
        load_domains_file(cx, rule, &file, &mut listed);
        if let Some((allow, _)) = &allow {
            let removed = remove_allowed(allow, &mut listed);
            if !removed.is_empty() {
                allowlist.removed.push((file.get_ref().clone(), removed));
            }
        }
        entries.extend(listed);
    }
    if let Some((allow, names)) = allow {
        allowlist.lists = names;
        if entries
            .iter()
            .any(|e| matches!(e, DomainPattern::Keyword(_) | DomainPattern::Regex(_)))
        {
            allowlist.keyword_exempt = allow.whole_domains();
        }
    }
    (entries, allowlist)
}

/// Drops the entries `allow` covers; returns their domains, each once.
fn remove_allowed(allow: &AllowList, entries: &mut Vec<DomainPattern>) -> Vec<String> {
    let mut removed: Vec<String> = Vec::new();
    entries.retain(|entry| match entry {
        DomainPattern::Suffix(d) | DomainPattern::Full(d) if allow.covers_entry(entry) => {
            if !removed.contains(d) {
                removed.push(d.clone());
            }
            false
        }
        _ => true,
    });
    removed
}

fn inline_domains(
    cx: &mut FileCx<'_>,
    rule: Option<&str>,
    inline: Vec<Spanned<String>>,
) -> Vec<DomainPattern> {
    let mut entries = Vec::new();
    for entry in inline {
        match domains::parse_line(entry.get_ref()) {
            domains::Line::Entry(e) => entries.push(e),
            domains::Line::Invalid(reason) => cx.error_at(
                entry.span(),
                rule,
                format!("{:?} in `domains`: {reason}", entry.get_ref()),
            ),
            domains::Line::Entries(_) | domains::Line::Skip | domains::Line::Include(_) => cx
                .error_at(
                    entry.span(),
                    rule,
                    format!(
                        "{:?} in `domains` is not a domain (includes belong in a `domains_file`)",
                        entry.get_ref()
                    ),
                ),
        }
    }
    entries
}

/// A domain rule's `allow_domains`.
fn rule_allow_domains(
    cx: &mut FileCx<'_>,
    rule: Option<&str>,
    span: &std::ops::Range<usize>,
    entries: Vec<Spanned<String>>,
    has_domains: bool,
) -> Vec<String> {
    let mut allow_domains = Vec::new();
    push_allow_domains(cx, rule, entries, &mut allow_domains);
    if !allow_domains.is_empty() && !has_domains {
        cx.error_at(
            span.clone(),
            rule,
            "`allow_domains` applies to domain rules; a check takes its own `allow_domains`".into(),
        );
    }
    allow_domains
}

/// `allow_domains` of a rule or a check: domain names, each allowing its subdomains too.
fn push_allow_domains(
    cx: &mut FileCx<'_>,
    rule: Option<&str>,
    entries: Vec<Spanned<String>>,
    out: &mut Vec<String>,
) {
    for entry in entries {
        match domains::parse_line(entry.get_ref()) {
            domains::Line::Entry(DomainPattern::Suffix(d)) => out.push(d),
            _ => cx.error_at(
                entry.span(),
                rule,
                format!(
                    "{:?} in `allow_domains` is not a domain name",
                    entry.get_ref()
                ),
            ),
        }
    }
}

/// `segment`, else the file's default; a rule `without_terms` has none to segment.
fn rule_segment(
    cx: &mut FileCx<'_>,
    rule: Option<&str>,
    segment: Option<Spanned<bool>>,
    without_terms: bool,
) -> bool {
    match segment {
        Some(explicit) => {
            if *explicit.get_ref() && without_terms {
                cx.error_at(
                    explicit.span(),
                    rule,
                    "`segment` applies to literal terms (`terms`, `terms_file`); regexes, \
                     domains and checks are not segmented"
                        .into(),
                );
            }
            explicit.into_inner()
        }
        None => cx.defaults.segment.unwrap_or(false),
    }
}

/// What a rule matches on, once validated.
struct WaysToMatch {
    /// Terms or regexes.
    literal: bool,
    domains: bool,
    check: bool,
    requires: bool,
    /// An operator's list, which may still be empty.
    operator_list: bool,
}

/// A `check` rule matches the check alone, and every rule must match something. A rule that
/// already has errors is not told it matches nothing: its sources may be what failed.
fn check_ways_to_match(
    cx: &mut FileCx<'_>,
    rule: Option<&str>,
    span: &std::ops::Range<usize>,
    ways: &WaysToMatch,
    errors_before: usize,
) {
    let sources = usize::from(ways.literal) + usize::from(ways.domains) + usize::from(ways.check);
    if ways.check && sources > 1 {
        cx.error_at(
            span.clone(),
            rule,
            "a `check` rule reports what the check finds; to require a check for terms, \
             domains or regexes, write `requires` instead"
                .into(),
        );
    }
    if ways.requires && ways.check {
        cx.error_at(
            span.clone(),
            rule,
            "a rule has `check` or `requires`, not both".into(),
        );
    }
    if sources == 0 && !ways.operator_list && error_count(cx) == errors_before {
        cx.error_at(
            span.clone(),
            rule,
            "the rule has no `terms`, `terms_file`, `regex`, `domains`, `domains_file` or \
             `check`: it can never match"
                .into(),
        );
    }
}

fn rule_near(
    cx: &mut FileCx<'_>,
    rule: Option<&str>,
    span: &std::ops::Range<usize>,
    near: Option<Spanned<Contexts>>,
    skip_noise: bool,
) -> Vec<Context> {
    let near: Vec<Context> = near
        .map(Contexts::into_vec)
        .unwrap_or_default()
        .into_iter()
        .map(|n| validate_context(cx, rule, n, skip_noise, "near"))
        .collect();
    if near.len() > MAX_NEAR {
        cx.error_at(
            span.clone(),
            rule,
            format!("at most {MAX_NEAR} `near` contexts"),
        );
    }
    near
}

/// `min_hits` and `min_distinct`: 1 when not given, and never 0.
fn at_least_one(
    cx: &mut FileCx<'_>,
    rule: Option<&str>,
    value: Option<Spanned<u32>>,
    name: &str,
) -> u32 {
    match value {
        Some(m) if *m.get_ref() == 0 => {
            cx.error_at(m.span(), rule, format!("`{name}` must be at least 1"));
            1
        }
        Some(m) => m.into_inner(),
        None => 1,
    }
}

/// A check reports what it finds; `(set, name)` are the term conditions it cannot take.
fn check_no_conditions_on_check(
    cx: &mut FileCx<'_>,
    rule: Option<&str>,
    span: &std::ops::Range<usize>,
    conditions: &[(bool, &str)],
) {
    for (_, name) in conditions.iter().filter(|(set, _)| *set) {
        cx.error_at(
            span.clone(),
            rule,
            format!("`{name}` does not apply to a `check` rule"),
        );
    }
}

/// The rule's `examples.match` and `examples.no_match`; an example that is not valid is
/// reported and left out. A rule with no match example (other than an operator's list, which
/// may be empty) is warned about.
fn rule_examples(
    cx: &mut FileCx<'_>,
    rule: Option<&str>,
    span: &std::ops::Range<usize>,
    examples: Option<RawExamples>,
    default_zone: ZoneKind,
    ways: &WaysToMatch,
) -> (Vec<Example>, Vec<Example>) {
    let needs_page = ways.check || ways.requires;
    let (mut matches, mut no_match) = (Vec::new(), Vec::new());
    if let Some(examples) = examples {
        for (list, out, is_match) in [
            (examples.matches, &mut matches, true),
            (examples.no_match, &mut no_match, false),
        ] {
            for example in list {
                let line = cx.lines.line_of(example.span().start);
                let line_span = cx.lines.starts[line - 1]..cx.lines.starts[line - 1];
                let Some(input) =
                    example_input(cx, rule, &line_span, example.into_inner(), default_zone)
                else {
                    continue;
                };
                if is_match && needs_page && !matches!(input, ExampleInput::Page { .. }) {
                    cx.error_at(
                        line_span,
                        rule,
                        "this rule looks at a page's structure: write its match examples as \
                         { html = \"...\" }"
                            .into(),
                    );
                    continue;
                }
                out.push(Example { input, line });
            }
        }
    }
    if matches.is_empty() && !ways.operator_list {
        cx.report(
            Level::Warning,
            Some(span.clone()),
            rule,
            "no `examples.match`: nothing shows the rule works".into(),
        );
    }
    (matches, no_match)
}

/// One example's text in a zone or page; `None` (with an error at `line_span`) when invalid.
fn example_input(
    cx: &mut FileCx<'_>,
    rule: Option<&str>,
    line_span: &std::ops::Range<usize>,
    example: RawExample,
    default_zone: ZoneKind,
) -> Option<ExampleInput> {
    let z = match example {
        RawExample::Text(text) => {
            return Some(ExampleInput::Zone {
                zone: default_zone,
                text,
            });
        }
        RawExample::Zoned(z) => z,
    };
    match (z.zone, z.text, z.html, z.url) {
        (Some(zone), Some(text), None, None) => match ZoneKind::parse(&zone) {
            Some(zone) => Some(ExampleInput::Zone { zone, text }),
            None => {
                cx.error_at(
                    line_span.clone(),
                    rule,
                    format!("example names an unknown zone `{zone}`"),
                );
                None
            }
        },
        (None, None, Some(html), url) => {
            if let Some(u) = &url
                && url::Url::parse(u).is_err()
            {
                cx.error_at(
                    line_span.clone(),
                    rule,
                    format!("example `url` {u:?} is not an absolute URL"),
                );
                return None;
            }
            Some(ExampleInput::Page { html, url })
        }
        _ => {
            cx.error_at(
                line_span.clone(),
                rule,
                "an example table is { zone = \"...\", text = \"...\" } or \
                 { html = \"...\", url = \"...\" } (url optional)"
                    .into(),
            );
            None
        }
    }
}

/// At most this many `near` contexts per rule (each is a role in the automaton's uses).
const MAX_NEAR: usize = 8;

fn zone_names(zones: &[ZoneKind]) -> String {
    zones
        .iter()
        .map(|z| z.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Validate `check = {...}` or `requires = {...}`. `None` (with errors reported) when invalid.
fn validate_check(
    cx: &mut FileCx<'_>,
    rule: Option<&str>,
    raw: Spanned<RawCheck>,
    key: &str,
) -> Option<Check> {
    let raw = raw.into_inner();
    let kind = check_kind(cx, rule, &raw.kind, key)?;
    let options = CheckOptions { rule, key, kind };
    let mut check = Check::new(kind);
    let errors_before = error_count(cx);
    if kind == CheckKind::BrandCredentials {
        check.brand = brand_options(cx, rule, &raw.kind, &raw.brand_opts(), key);
    } else {
        for (name, span) in [
            ("brands_file", raw.brands_file.as_ref().map(Spanned::span)),
            ("claim", raw.claim.as_ref().map(Spanned::span)),
            ("credentials", raw.credentials.as_ref().map(Spanned::span)),
        ] {
            if let Some(span) = span {
                options.check_applies(cx, name, span);
            }
        }
    }
    if let Some(v) = raw.foreign_only {
        options.check_applies(cx, "foreign_only", v.span());
        check.foreign_only = v.into_inner();
    }
    if let Some(v) = raw.zero_size_only {
        options.check_applies(cx, "zero_size_only", v.span());
        check.zero_size_only = v.into_inner();
    }
    if let Some(v) = raw.min_links {
        check.min_links = options.minimum(cx, "min_links", v);
    }
    if let Some(v) = raw.min_hosts {
        check.min_hosts = options.minimum(cx, "min_hosts", v);
    }
    let allow_domains = raw.allow_domains.map(Spanned::into_inner);
    push_allow_domains(
        cx,
        rule,
        allow_domains.unwrap_or_default(),
        &mut check.allow_domains,
    );
    if let Some(v) = raw.min_encoded {
        check.min_encoded = options.minimum(cx, "min_encoded", v);
    }
    match raw.condition {
        Some(v) => {
            options.check_applies(cx, "condition", v.span());
            check.condition = check_condition(cx, rule, v);
        }
        None if kind == CheckKind::ScriptBranch => cx.error_at(
            raw.kind.span(),
            rule,
            "`script_branch` needs a `condition`: groups of terms the `if` must test, like \
             [[\"document.referrer\"], [\"baidu\", \"sogou\"]]"
                .into(),
        ),
        None => {}
    }
    if let Some(files) = raw.allow_list.and_then(allow_list_files) {
        let (allow, names) = load_allow_lists(cx, rule, files);
        check.allow_lists = names;
        check.allow_list = Some(std::sync::Arc::new(allow));
    }
    (error_count(cx) == errors_before).then_some(check)
}

fn check_kind(
    cx: &mut FileCx<'_>,
    rule: Option<&str>,
    kind: &Spanned<String>,
    key: &str,
) -> Option<CheckKind> {
    let parsed = CheckKind::parse(kind.get_ref());
    if parsed.is_none() {
        let kinds: Vec<&str> = CheckKind::ALL.iter().map(|k| k.as_str()).collect();
        cx.error_at(
            kind.span(),
            rule,
            format!(
                "unknown `{key}` kind `{}` (kinds: {})",
                kind.get_ref(),
                kinds.join(", ")
            ),
        );
    }
    parsed
}

/// The options of one `check` (or `requires`, the `key`) table, whose kind decides which apply.
struct CheckOptions<'a> {
    rule: Option<&'a str>,
    key: &'a str,
    kind: CheckKind,
}

impl CheckOptions<'_> {
    fn check_applies(&self, cx: &mut FileCx<'_>, name: &str, span: std::ops::Range<usize>) {
        let kind = self.kind;
        if !kind.options().contains(&name) {
            cx.error_at(
                span,
                self.rule,
                format!(
                    "`{name}` does not apply to `{}` kind `{}` (options: {})",
                    self.key,
                    kind.as_str(),
                    kind.options().join(", ")
                ),
            );
        }
    }

    /// A `min_*` count, which must apply and be at least 1.
    fn minimum(&self, cx: &mut FileCx<'_>, name: &str, value: Spanned<u32>) -> u32 {
        self.check_applies(cx, name, value.span());
        if *value.get_ref() == 0 {
            cx.error_at(
                value.span(),
                self.rule,
                format!("`{name}` must be at least 1"),
            );
        }
        value.into_inner()
    }
}

/// `condition`: groups of terms, none empty (each problem is reported).
fn check_condition(
    cx: &mut FileCx<'_>,
    rule: Option<&str>,
    condition: Spanned<Vec<Vec<Spanned<String>>>>,
) -> super::checks::Condition {
    let span = condition.span();
    let mut groups = Vec::new();
    for group in condition.into_inner() {
        let mut terms = Vec::new();
        for term in group {
            if term.get_ref().trim().is_empty() {
                cx.error_at(term.span(), rule, "an empty `condition` term".into());
            } else {
                terms.push(term.into_inner());
            }
        }
        if terms.is_empty() {
            cx.error_at(
                span.clone(),
                rule,
                "a `condition` group has no terms".into(),
            );
        }
        groups.push(terms);
    }
    if groups.is_empty() {
        cx.error_at(span.clone(), rule, "`condition` has no groups".into());
    }
    super::checks::Condition::new(groups)
}

/// `brand_credentials` options: the brands file (read relative to the rule's file, its
/// problems reported at its own lines), the claim places and the secrets.
fn brand_options(
    cx: &mut FileCx<'_>,
    rule: Option<&str>,
    kind: &Spanned<String>,
    raw: &BrandOpts<'_>,
    key: &str,
) -> Option<super::checks::brands::BrandCheck> {
    use super::checks::brands::{BrandCheck, BrandTable, Claim, Credential};
    let Some(file) = raw.brands_file else {
        cx.error_at(
            kind.span(),
            rule,
            format!("`{key}` kind `brand_credentials` needs `brands_file`"),
        );
        return None;
    };
    let mut ok = true;
    let mut names = |cx: &mut FileCx<'_>,
                     list: Option<&Spanned<Vec<Spanned<String>>>>,
                     what: &str,
                     known: &[&str]|
     -> Option<Vec<String>> {
        let list = list?;
        if list.get_ref().is_empty() {
            cx.error_at(list.span(), rule, format!("`{what}` is empty"));
            ok = false;
        }
        let mut out = Vec::new();
        for item in list.get_ref() {
            if known.contains(&item.get_ref().as_str()) {
                out.push(item.get_ref().clone());
            } else {
                cx.error_at(
                    item.span(),
                    rule,
                    format!(
                        "unknown `{what}` {:?} (one of: {})",
                        item.get_ref(),
                        known.join(", ")
                    ),
                );
                ok = false;
            }
        }
        Some(out)
    };
    let claim_names: Vec<&str> = Claim::ALL.iter().map(|c| c.as_str()).collect();
    let credential_names: Vec<&str> = Credential::ALL.iter().map(|c| c.as_str()).collect();
    let claim = names(cx, raw.claim, "claim", &claim_names)
        .map(|v| v.iter().filter_map(|n| Claim::parse(n)).collect())
        .unwrap_or_else(|| super::checks::brands::DEFAULT_CLAIM.to_vec());
    let credentials = names(cx, raw.credentials, "credentials", &credential_names)
        .map(|v| v.iter().filter_map(|n| Credential::parse(n)).collect())
        .unwrap_or_else(|| super::checks::brands::DEFAULT_CREDENTIALS.to_vec());
    let list = match read_list(&cx.file.origin, file.get_ref(), "brands file") {
        Ok(list) => list,
        Err(message) => {
            cx.error_at(file.span(), rule, message);
            return None;
        }
    };
    let (table, diagnostics) = BrandTable::parse(&list.display, &list.text, rule);
    cx.diagnostics.extend(diagnostics);
    let table = table?;
    ok.then(|| BrandCheck {
        brands_file: file.get_ref().clone(),
        table: std::sync::Arc::new(table),
        claim,
        credentials,
    })
}

fn error_count(cx: &FileCx<'_>) -> usize {
    cx.diagnostics
        .iter()
        .filter(|d| d.level == Level::Error)
        .count()
}

fn collect_terms(
    cx: &mut FileCx<'_>,
    rule: Option<&str>,
    raw: Vec<Spanned<String>>,
    skip_noise: bool,
    out: &mut Vec<String>,
) {
    for term in raw {
        if normalize_term(term.get_ref(), skip_noise).is_empty() {
            cx.error_at(
                term.span(),
                rule,
                format!("term {:?} is empty once normalized", term.get_ref()),
            );
        } else {
            out.push(term.into_inner());
        }
    }
}

fn validate_context(
    cx: &mut FileCx<'_>,
    rule: Option<&str>,
    raw: Spanned<RawContext>,
    skip_noise: bool,
    name: &str,
) -> Context {
    let span = raw.span();
    let raw = raw.into_inner();
    let mut terms = Vec::new();
    collect_terms(cx, rule, raw.terms, skip_noise, &mut terms);
    if let Some(file) = raw.terms_file {
        load_terms_file(cx, rule, &file, skip_noise, false, &mut terms);
    }
    if terms.is_empty() {
        cx.error_at(span, rule, format!("`{name}` has no terms"));
    }
    Context {
        terms,
        within: raw.within,
    }
}

/// The files of an `allow_list` value: `None` for `false`, the default allowlist for `true`.
fn allow_list_files(spec: Spanned<RawAllowList>) -> Option<Vec<Spanned<String>>> {
    let span = spec.span();
    match spec.into_inner() {
        RawAllowList::Flag(false) => None,
        RawAllowList::Flag(true) => Some(vec![Spanned::new(span, DEFAULT_ALLOW_LIST.into())]),
        RawAllowList::Files(files) => Some(
            files
                .into_iter()
                .map(|f| {
                    if f.span().is_empty() {
                        Spanned::new(span.clone(), f.into_inner())
                    } else {
                        f
                    }
                })
                .collect(),
        ),
    }
}

/// Read allowlist files (domain-list formats: a bare domain allows it with its subdomains,
/// `full:` one host). Returns the merged list and the files' names as written.
fn load_allow_lists(
    cx: &mut FileCx<'_>,
    rule: Option<&str>,
    files: Vec<Spanned<String>>,
) -> (AllowList, Vec<String>) {
    let mut allow = AllowList::default();
    let mut names = Vec::new();
    for file in files {
        names.push(file.get_ref().clone());
        let list = match read_list(&cx.file.origin, file.get_ref(), "allowlist") {
            Ok(list) => list,
            Err(message) => {
                cx.error_at(file.span(), rule, message);
                continue;
            }
        };
        let mut bad: Vec<String> = Vec::new();
        let mut bad_count = 0usize;
        for (number, line) in list.text.lines().enumerate() {
            if let Some(rest) = line.trim().strip_prefix(EXCEPT_PREFIX) {
                match domains::parse_line(rest) {
                    domains::Line::Entry(DomainPattern::Suffix(d)) => allow.add_exception(d),
                    _ => {
                        bad_count += 1;
                        bad.push(format!("line {}: `except:` takes a domain", number + 1));
                    }
                }
                continue;
            }
            let entries = match domains::parse_line(line) {
                domains::Line::Skip => continue,
                domains::Line::Entry(e) => vec![e],
                domains::Line::Entries(e) => e,
                domains::Line::Include(_) => {
                    bad_count += 1;
                    bad.push(format!(
                        "line {}: `include:` is not supported here",
                        number + 1
                    ));
                    continue;
                }
                domains::Line::Invalid(reason) => {
                    bad_count += 1;
                    bad.push(format!("line {}: {reason}", number + 1));
                    continue;
                }
            };
            for entry in entries {
                if let Err(reason) = allow.add(entry) {
                    bad_count += 1;
                    bad.push(format!("line {}: {reason}", number + 1));
                }
            }
        }
        // An allowlist is short and written by hand: a line it cannot read is a mistake to
        // fix, not upstream noise to put up with.
        if bad_count > 0 {
            bad.truncate(3);
            cx.diagnostics.push(Diagnostic {
                level: Level::Error,
                file: list.display.clone(),
                line: None,
                rule: rule.map(str::to_string),
                message: format!(
                    "{bad_count} line(s) of the allowlist are not domains ({})",
                    bad.join("; ")
                ),
            });
        }
    }
    (allow, names)
}

/// An allowlist line that carves a domain out of a broader entry.
const EXCEPT_PREFIX: &str = "except:";

/// The prefix of a list path in the bundled rulesets (`bundled:lists/...`).
const BUNDLED_PREFIX: &str = "bundled:";

/// Where a list file named by a rule is, and its text.
struct ListFile {
    display: String,
    /// Where `include:` names resolve: the list's directory.
    origin: Origin,
    text: String,
}

/// Read a list file (terms or domains) named relative to `dir`, as UTF-8.
fn read_list(origin: &Origin, relative: &str, what: &str) -> Result<ListFile, String> {
    // `bundled:` names the binary's own copy of the shipped rulesets, so an operator's rules
    // in another directory can use a shipped list without copying it.
    let top = Origin::Bundled(String::new());
    let (origin, relative) = match relative.strip_prefix(BUNDLED_PREFIX) {
        Some(rest) => (&top, rest),
        None => (origin, relative),
    };
    let (display, contents, list_origin) = match origin {
        Origin::Disk(dir) => {
            let full = dir.join(relative);
            let display = full.display().to_string();
            let parent = full.parent().unwrap_or(Path::new(".")).to_path_buf();
            let bytes = crate::bounded::read(&full, crate::bounded::RULES_BYTES);
            (
                display,
                bytes.map_err(|e| e.to_string()),
                Origin::Disk(parent),
            )
        }
        Origin::Bundled(dir) => {
            let joined = join_bundled(dir, relative);
            let display = format!("<bundled>/rulesets/{joined}");
            let found = bundled::FILES
                .iter()
                .find(|(name, _)| *name == joined)
                .map(|(_, bytes)| bytes.to_vec())
                .ok_or_else(|| "no such file in the bundled rulesets".to_string());
            (display, found, Origin::Bundled(parent_of(&joined)))
        }
    };
    let bytes = contents.map_err(|e| format!("cannot read {what} {display}: {e}"))?;
    let text =
        String::from_utf8(bytes).map_err(|e| format!("{what} {display} is not UTF-8: {e}"))?;
    let text = match text.strip_prefix('\u{FEFF}') {
        Some(rest) => rest.to_string(),
        None => text,
    };
    Ok(ListFile {
        display,
        origin: list_origin,
        text,
    })
}

/// Load a terms file: one term per line, `#` starts a comment line, blank lines skipped. An
/// operator's list may be empty (the rule waits for it); any other empty list is a warning.
fn load_terms_file(
    cx: &mut FileCx<'_>,
    rule: Option<&str>,
    path: &Spanned<String>,
    skip_noise: bool,
    may_be_empty: bool,
    out: &mut Vec<String>,
) {
    let list = match read_list(&cx.file.origin, path.get_ref(), "terms file") {
        Ok(list) => list,
        Err(message) => {
            cx.error_at(path.span(), rule, message);
            return;
        }
    };
    let before = out.len();
    for (number, line) in list.text.lines().enumerate() {
        let term = line.trim();
        if term.is_empty() || term.starts_with('#') {
            continue;
        }
        if normalize_term(term, skip_noise).is_empty() {
            cx.diagnostics.push(Diagnostic {
                level: Level::Error,
                file: list.display.clone(),
                line: Some(number + 1),
                rule: rule.map(str::to_string),
                message: format!("term {term:?} is empty once normalized"),
            });
            continue;
        }
        out.push(term.to_string());
    }
    if out.len() == before && !may_be_empty {
        cx.report(
            Level::Warning,
            Some(path.span()),
            rule,
            format!("terms file {} has no terms", list.display),
        );
    }
}

/// Includes nest at most this deep (v2fly's lists nest two or three levels).
const MAX_INCLUDE_DEPTH: usize = 8;

/// Load a domain list (formats in `domains::parse_line`), following `include:` lines to lists
/// beside it. Lines that are not domains are skipped with one warning per file that names the
/// first few, because public lists carry stray lines and one should not reject the rest.
fn load_domains_file(
    cx: &mut FileCx<'_>,
    rule: Option<&str>,
    path: &Spanned<String>,
    out: &mut Vec<DomainPattern>,
) {
    let list = match read_list(&cx.file.origin, path.get_ref(), "domain list") {
        Ok(list) => list,
        Err(message) => {
            cx.error_at(path.span(), rule, message);
            return;
        }
    };
    let before = out.len();
    let mut visited = vec![list.display.clone()];
    load_domain_list(cx, rule, list, &mut visited, 0, out);
    if out.len() == before {
        cx.report(
            Level::Warning,
            Some(path.span()),
            rule,
            format!("domain list {} has no domains", visited[0]),
        );
    }
}

fn load_domain_list(
    cx: &mut FileCx<'_>,
    rule: Option<&str>,
    list: ListFile,
    visited: &mut Vec<String>,
    depth: usize,
    out: &mut Vec<DomainPattern>,
) {
    let mut invalid: Vec<(usize, String)> = Vec::new();
    let mut invalid_count = 0usize;
    let mut missing: Vec<String> = Vec::new();
    for (number, line) in list.text.lines().enumerate() {
        match domains::parse_line(line) {
            domains::Line::Skip => {}
            domains::Line::Entry(DomainPattern::Regex(pattern)) => {
                match crate::matcher::compile_regex(&pattern) {
                    Ok(_) => out.push(DomainPattern::Regex(pattern)),
                    Err(e) => list_warning(
                        cx,
                        rule,
                        &list,
                        Some(number + 1),
                        format!("skipped `regexp:` that does not compile: {e}"),
                    ),
                }
            }
            domains::Line::Entry(entry) => out.push(entry),
            domains::Line::Entries(entries) => out.extend(entries),
            domains::Line::Invalid(reason) => {
                invalid_count += 1;
                if invalid.len() < 3 {
                    invalid.push((number + 1, reason));
                }
            }
            domains::Line::Include(name) => {
                match find_include(cx, rule, &list, &name, number + 1, depth) {
                    Include::Found(included) => {
                        if !visited.contains(&included.display) {
                            visited.push(included.display.clone());
                            load_domain_list(cx, rule, included, visited, depth + 1, out);
                        }
                    }
                    Include::Missing => missing.push(name),
                    Include::Refused => {}
                }
            }
        }
    }
    if invalid_count > 0 {
        let first: Vec<String> = invalid
            .iter()
            .map(|(line, reason)| format!("line {line}: {reason}"))
            .collect();
        list_warning(
            cx,
            rule,
            &list,
            invalid.first().map(|(l, _)| *l),
            format!(
                "skipped {invalid_count} line(s) that are not domains ({})",
                first.join("; ")
            ),
        );
    }
    warn_missing_includes(cx, rule, &list, &missing);
}

/// What an `include:` line of a domain list leads to.
enum Include {
    Found(ListFile),
    /// No such list beside the including one.
    Missing,
    /// Too deep, or not a name in the same directory (warned about).
    Refused,
}

/// The list an `include:` on line `line` of `list` names.
fn find_include(
    cx: &mut FileCx<'_>,
    rule: Option<&str>,
    list: &ListFile,
    name: &str,
    line: usize,
    depth: usize,
) -> Include {
    if depth >= MAX_INCLUDE_DEPTH {
        list_warning(
            cx,
            rule,
            list,
            Some(line),
            format!("`include:{name}` nests deeper than {MAX_INCLUDE_DEPTH} lists"),
        );
        return Include::Refused;
    }
    if name.contains(['/', '\\']) || name.starts_with('.') {
        list_warning(
            cx,
            rule,
            list,
            Some(line),
            format!("`include:{name}` must name a list in the same directory"),
        );
        return Include::Refused;
    }
    // Bundled lists carry a .txt extension (build.rs embeds *.txt); lists on disk keep
    // upstream's names.
    match read_list(&list.origin, name, "domain list")
        .or_else(|_| read_list(&list.origin, &format!("{name}.txt"), "domain list"))
    {
        Ok(found) => Include::Found(found),
        Err(_) => Include::Missing,
    }
}

fn warn_missing_includes(
    cx: &mut FileCx<'_>,
    rule: Option<&str>,
    list: &ListFile,
    missing: &[String],
) {
    if missing.is_empty() {
        return;
    }
    let shown: Vec<&str> = missing.iter().take(5).map(String::as_str).collect();
    list_warning(
        cx,
        rule,
        list,
        None,
        format!(
            "{} `include:` list(s) not found beside it, skipped: {}{}",
            missing.len(),
            shown.join(", "),
            if missing.len() > 5 { ", ..." } else { "" }
        ),
    );
}

/// A warning about a line of a domain list (its own file, not the rule's).
fn list_warning(
    cx: &mut FileCx<'_>,
    rule: Option<&str>,
    list: &ListFile,
    line: Option<usize>,
    message: String,
) {
    cx.diagnostics.push(Diagnostic {
        level: Level::Warning,
        file: list.display.clone(),
        line,
        rule: rule.map(str::to_string),
        message,
    });
}

fn join_bundled(dir: &str, relative: &str) -> String {
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for part in relative.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// A regex whose repetitions reach further than this is refused, and one beyond the warning
/// bound is reported: bounded repetitions are unrolled into the automaton, and each match
/// attempt may walk the whole reach, so `.{0,20000}` costs thousands of steps per position.
const MAX_REGEX_REACH: u64 = 10_000;
const WARN_REGEX_REACH: u64 = 1_000;

/// The largest product of nested repetition bounds in the pattern (an unbounded `*` counts
/// its minimum): how many times one part may repeat within one match.
fn repetition_reach(pattern: &str) -> u64 {
    use regex_syntax::hir::{Hir, HirKind};
    fn reach(hir: &Hir) -> u64 {
        match hir.kind() {
            HirKind::Repetition(r) => {
                let bound = u64::from(r.max.unwrap_or(r.min)).max(1);
                bound.saturating_mul(reach(&r.sub).max(1))
            }
            HirKind::Capture(c) => reach(&c.sub),
            HirKind::Concat(parts) | HirKind::Alternation(parts) => {
                parts.iter().map(reach).max().unwrap_or(0)
            }
            _ => 0,
        }
    }
    regex_syntax::ParserBuilder::new()
        .build()
        .parse(pattern)
        .map_or(0, |hir| reach(&hir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_id_shapes() {
        assert!(is_valid_rule_id("gambling.casino_terms"));
        assert!(is_valid_rule_id("a.b.c-2"));
        for bad in ["gambling", "Gambling.x", "a..b", ".a", "a.", "a.b c"] {
            assert!(!is_valid_rule_id(bad), "{bad}");
        }
    }

    /// What the render stage scans (`rendered`) is read by rules for `text`, whether they
    /// name it or take the default zones, and by a rule naming `rendered` alone; a rule for
    /// scripts does not read it.
    #[test]
    fn text_rules_read_the_rendered_zone() {
        let text = r#"
[defaults]
severity = "high"

[[rule]]
id = "t.named"
category = "gambling"
clause = "§2(7)"
description = "d"
terms = ["网上赌场"]
zones = ["text", "title"]

[[rule]]
id = "t.default"
category = "gambling"
clause = "§2(7)"
description = "d"
terms = ["真人荷官"]

[[rule]]
id = "t.only"
category = "gambling"
clause = "§2(7)"
description = "d"
terms = ["百家乐"]
zones = ["rendered"]

[[rule]]
id = "t.script"
category = "gambling"
clause = "§2(7)"
description = "d"
terms = ["六合彩"]
zones = ["script"]
"#;
        let source = RuleSource::Text {
            name: "t.toml".into(),
            text: text.into(),
        };
        let (ruleset, _) = load(&[source]).expect("the ruleset loads");
        let document = crate::extract::rendered_document("网上赌场 真人荷官 百家乐 六合彩");
        let mut rules: Vec<String> = ruleset
            .rule_findings_document(&document, "https://x.test/")
            .iter()
            .map(|f| {
                assert_eq!(f.zone, Some(ZoneKind::Rendered));
                f.rule.to_string()
            })
            .collect();
        rules.sort();
        assert_eq!(rules, ["t.default", "t.named", "t.only"]);
    }

    #[test]
    fn bundled_paths_join() {
        assert_eq!(join_bundled("", "lists/x.txt"), "lists/x.txt");
        assert_eq!(join_bundled("sub", "../lists/x.txt"), "lists/x.txt");
        assert_eq!(join_bundled("a/b", "./c.txt"), "a/b/c.txt");
    }

    #[test]
    fn lines_of_offsets() {
        let lines = Lines::new("a\nbb\n\nc");
        assert_eq!(lines.line_of(0), 1);
        assert_eq!(lines.line_of(2), 2);
        assert_eq!(lines.line_of(5), 3);
        assert_eq!(lines.line_of(6), 4);
    }

    #[test]
    fn nested_bounds_multiply_and_stars_count_their_minimum() {
        assert_eq!(repetition_reach(r"(?s).{0,20000}澳门"), 20_000);
        assert_eq!(repetition_reach(r"(?:a{0,100}b){0,50}"), 5_000);
        assert_eq!(repetition_reach(r"a{10}|[^\n]{0,700}"), 700);
        assert_eq!(repetition_reach(r"x+\d*"), 1);
        assert_eq!(repetition_reach(r"澳门"), 0);
    }
}
