//! Reading ruleset files and validating them into [`Rule`]s, collecting every problem.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::checks::{Check, CheckKind};
use super::domains::{self, AllowList, DomainPattern};
use super::schema::{
    BrandOpts, Contexts, OneOrMany, RawAllowList, RawCheck, RawContext, RawDefaults, RawExample,
    RawMeta, RawRule,
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
    ok.then_some(out)
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
    raw: RawRule,
    span: std::ops::Range<usize>,
    default_severity: Option<Severity>,
    default_zones: &Option<Vec<ZoneKind>>,
) -> Option<Rule> {
    let errors_before = error_count(cx);
    let id = raw.id.get_ref().clone();
    let rule = Some(id.as_str());
    if !is_valid_rule_id(&id) {
        cx.error_at(
            raw.id.span(),
            rule,
            "rule ids are dotted lower-case words, like `gambling.casino_terms`".into(),
        );
    }
    let category = raw.category.get_ref().clone();
    if categories::find(&category).is_none() {
        let known: Vec<&str> = categories::CATEGORIES.iter().map(|c| c.id).collect();
        cx.error_at(
            raw.category.span(),
            rule,
            format!(
                "unknown category `{category}` (categories: {})",
                known.join(", ")
            ),
        );
    }
    let clause = raw.clause.get_ref().trim().to_string();
    if !categories::is_valid_clause(&clause) {
        cx.error_at(
            raw.clause.span(),
            rule,
            format!("clause `{clause}` is not a clause reference like `§2(7)` or `§3`"),
        );
    }
    let severity = match &raw.severity {
        Some(s) => match s.get_ref().parse::<Severity>() {
            Ok(s) => Some(s),
            Err(message) => {
                cx.error_at(s.span(), rule, message);
                None
            }
        },
        None => default_severity.or_else(|| {
            cx.error_at(
                span.clone(),
                rule,
                "missing `severity` (and no [defaults] severity)".into(),
            );
            None
        }),
    };
    let weight = match raw.weight.or_else(|| cx.defaults.weight.clone()) {
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
    };
    if raw.description.get_ref().trim().is_empty() {
        cx.error_at(
            raw.description.span(),
            rule,
            "`description` is empty".into(),
        );
    }
    let operator_list = raw.operator_list.as_ref().is_some_and(|o| *o.get_ref());
    let check = raw.check.map(|c| validate_check(cx, rule, c, "check"));
    let requires = raw
        .requires
        .map(|c| validate_check(cx, rule, c, "requires"));
    let has_domains = !raw.domains.is_empty() || raw.domains_file.is_some();
    let zones = match (raw.zones, &check) {
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
    };
    let check = check.flatten();
    let requires = requires.flatten();
    let skip_noise = raw.skip_noise.or(cx.defaults.skip_noise).unwrap_or(false);

    if operator_list {
        if let Some(first) = raw.terms.first() {
            cx.error_at(
                first.span(),
                rule,
                "an `operator_list` rule takes its terms from its `terms_file` only".into(),
            );
        }
        if let Some(regex) = &raw.regex {
            cx.error_at(
                regex.span(),
                rule,
                "an `operator_list` rule takes its terms from its `terms_file` only".into(),
            );
        }
        if raw.terms_file.is_none() {
            cx.error_at(
                span.clone(),
                rule,
                "an `operator_list` rule needs a `terms_file` for the operator's list".into(),
            );
        }
    }
    let mut terms = Vec::new();
    collect_terms(cx, rule, raw.terms, skip_noise, &mut terms);
    for file in raw.terms_file.map(OneOrMany::into_vec).unwrap_or_default() {
        load_terms_file(cx, rule, &file, skip_noise, operator_list, &mut terms);
    }
    let mut regex = Vec::new();
    for pattern in raw.regex.map(OneOrMany::into_vec).unwrap_or_default() {
        match crate::matcher::compile_regex(pattern.get_ref()) {
            Ok(_) => {
                let reach = repetition_reach(pattern.get_ref());
                if reach > MAX_REGEX_REACH {
                    cx.error_at(
                        pattern.span(),
                        rule,
                        format!(
                            "the regex repeats up to {reach} times (over {MAX_REGEX_REACH}): on a long page every engine is slow on it (a 90 KB page took 27 s with `(?s).{{0,20000}}澳门`); bound the repetition, or match the parts as terms with `near`"
                        ),
                    );
                    continue;
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
                regex.push(pattern.into_inner())
            }
            Err(message) => cx.error_at(pattern.span(), rule, format!("bad regex: {message}")),
        }
    }
    let mut domain_entries = Vec::new();
    for entry in raw.domains {
        match domains::parse_line(entry.get_ref()) {
            domains::Line::Entry(e) => domain_entries.push(e),
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
    let allow_list_span = raw.allow_list.as_ref().map(|a| a.span());
    let allow = match raw.allow_list {
        Some(spec) => allow_list_files(spec),
        None if raw.domains_file.is_some() => Some(vec![Spanned::new(
            span.clone(),
            DEFAULT_ALLOW_LIST.to_string(),
        )]),
        None => None,
    }
    .map(|files| load_allow_lists(cx, rule, files));
    let mut allowlist = AllowlistReport::default();
    for file in raw
        .domains_file
        .map(OneOrMany::into_vec)
        .unwrap_or_default()
    {
        let mut entries = Vec::new();
        load_domains_file(cx, rule, &file, &mut entries);
        if let Some((allow, _)) = &allow {
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
            if !removed.is_empty() {
                allowlist.removed.push((file.get_ref().clone(), removed));
            }
        }
        domain_entries.extend(entries);
    }
    if let Some((allow, names)) = allow {
        allowlist.lists = names;
        if domain_entries
            .iter()
            .any(|e| matches!(e, DomainPattern::Keyword(_) | DomainPattern::Regex(_)))
        {
            allowlist.keyword_exempt = allow.whole_domains();
        }
    }
    let mut allow_domains = Vec::new();
    for entry in raw.allow_domains {
        match domains::parse_line(entry.get_ref()) {
            domains::Line::Entry(DomainPattern::Suffix(d)) => allow_domains.push(d),
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
    if !allow_domains.is_empty() && !has_domains {
        cx.error_at(
            span.clone(),
            rule,
            "`allow_domains` applies to domain rules; a check takes its own `allow_domains`".into(),
        );
    }
    let segment = match raw.segment {
        Some(explicit) => {
            if *explicit.get_ref() && terms.is_empty() && !operator_list {
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
    };
    if let Some(list_span) = allow_list_span
        && !has_domains
    {
        cx.error_at(
            list_span,
            rule,
            "`allow_list` applies to domain rules; a check takes its own `allow_list`".into(),
        );
    }
    let sources = usize::from(!terms.is_empty() || !regex.is_empty())
        + usize::from(has_domains)
        + usize::from(check.is_some());
    if check.is_some() && sources > 1 {
        cx.error_at(
            span.clone(),
            rule,
            "a `check` rule reports what the check finds; to require a check for terms, \
             domains or regexes, write `requires` instead"
                .into(),
        );
    }
    if requires.is_some() && check.is_some() {
        cx.error_at(
            span.clone(),
            rule,
            "a rule has `check` or `requires`, not both".into(),
        );
    }
    if terms.is_empty()
        && regex.is_empty()
        && !has_domains
        && check.is_none()
        && !operator_list
        && error_count(cx) == errors_before
    {
        cx.error_at(
            span.clone(),
            rule,
            "the rule has no `terms`, `terms_file`, `regex`, `domains`, `domains_file` or \
             `check`: it can never match"
                .into(),
        );
    }
    let near: Vec<Context> = raw
        .near
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
    let exclude_near = raw
        .exclude_near
        .map(|n| validate_context(cx, rule, n, skip_noise, "exclude_near"));
    let mut exclude = Vec::new();
    collect_terms(cx, rule, raw.exclude, skip_noise, &mut exclude);
    let at_least_one = |cx: &mut FileCx<'_>, value: Option<Spanned<u32>>, name: &str| match value {
        Some(m) if *m.get_ref() == 0 => {
            cx.error_at(m.span(), rule, format!("`{name}` must be at least 1"));
            1
        }
        Some(m) => m.into_inner(),
        None => 1,
    };
    let min_hits = at_least_one(cx, raw.min_hits, "min_hits");
    let min_distinct = at_least_one(cx, raw.min_distinct, "min_distinct");
    if check.is_some() {
        let conditions = [
            (!near.is_empty(), "near"),
            (exclude_near.is_some(), "exclude_near"),
            (!exclude.is_empty(), "exclude"),
            (min_hits > 1, "min_hits"),
            (min_distinct > 1, "min_distinct"),
        ];
        for (_, name) in conditions.iter().filter(|(set, _)| *set) {
            cx.error_at(
                span.clone(),
                rule,
                format!("`{name}` does not apply to a `check` rule"),
            );
        }
    }

    let zones = zones.unwrap_or_default();
    let default_zone = zones.first().copied().unwrap_or(ZoneKind::Text);
    let needs_page = check.is_some() || requires.is_some();
    let (mut examples_match, mut examples_no_match) = (Vec::new(), Vec::new());
    if let Some(examples) = raw.examples {
        for (list, out, is_match) in [
            (examples.matches, &mut examples_match, true),
            (examples.no_match, &mut examples_no_match, false),
        ] {
            for example in list {
                let line = cx.lines.line_of(example.span().start);
                let line_span = cx.lines.starts[line - 1]..cx.lines.starts[line - 1];
                let input = match example.into_inner() {
                    RawExample::Text(text) => ExampleInput::Zone {
                        zone: default_zone,
                        text,
                    },
                    RawExample::Zoned(z) => match (z.zone, z.text, z.html, z.url) {
                        (Some(zone), Some(text), None, None) => match ZoneKind::parse(&zone) {
                            Some(zone) => ExampleInput::Zone { zone, text },
                            None => {
                                cx.error_at(
                                    line_span,
                                    rule,
                                    format!("example names an unknown zone `{zone}`"),
                                );
                                continue;
                            }
                        },
                        (None, None, Some(html), url) => {
                            if let Some(u) = &url
                                && url::Url::parse(u).is_err()
                            {
                                cx.error_at(
                                    line_span,
                                    rule,
                                    format!("example `url` {u:?} is not an absolute URL"),
                                );
                                continue;
                            }
                            ExampleInput::Page { html, url }
                        }
                        _ => {
                            cx.error_at(
                                line_span,
                                rule,
                                "an example table is { zone = \"...\", text = \"...\" } or \
                                 { html = \"...\", url = \"...\" } (url optional)"
                                    .into(),
                            );
                            continue;
                        }
                    },
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
    if examples_match.is_empty() && !operator_list {
        cx.report(
            Level::Warning,
            Some(span.clone()),
            rule,
            "no `examples.match`: nothing shows the rule works".into(),
        );
    }
    if error_count(cx) > errors_before {
        return None;
    }
    let severity = severity?;
    let line = cx.lines.line_of(span.start);
    let enabled = raw.enabled.unwrap_or(true);
    if !enabled {
        return None;
    }
    let prior_weight = weight.unwrap_or_else(|| prior_weight(severity));
    Some(Rule {
        id: id.into(),
        category: category.into(),
        clause: clause.into(),
        severity,
        weight: prior_weight,
        prior_weight,
        description: raw.description.into_inner().into(),
        terms,
        regex,
        domain_count: domain_entries.len(),
        domains: domain_entries,
        allow_domains,
        allowlist,
        check,
        requires,
        operator_list,
        zones,
        near,
        min_hits,
        min_distinct,
        exclude,
        exclude_near,
        skip_noise,
        max_gap: raw
            .max_gap
            .or(cx.defaults.max_gap)
            .unwrap_or(DEFAULT_MAX_GAP),
        word_boundary: raw
            .word_boundary
            .or(cx.defaults.word_boundary)
            .unwrap_or(true),
        segment,
        examples_match,
        examples_no_match,
        location: Location {
            file: cx.file.display.clone(),
            line,
        },
    })
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
    let Some(kind) = CheckKind::parse(raw.kind.get_ref()) else {
        let kinds: Vec<&str> = CheckKind::ALL.iter().map(|k| k.as_str()).collect();
        cx.error_at(
            raw.kind.span(),
            rule,
            format!(
                "unknown `{key}` kind `{}` (kinds: {})",
                raw.kind.get_ref(),
                kinds.join(", ")
            ),
        );
        return None;
    };
    let mut check = Check::new(kind);
    let errors_before = error_count(cx);
    let not_for = |cx: &mut FileCx<'_>, name: &str, span: std::ops::Range<usize>| {
        if !kind.options().contains(&name) {
            cx.error_at(
                span,
                rule,
                format!(
                    "`{name}` does not apply to `{key}` kind `{}` (options: {})",
                    kind.as_str(),
                    kind.options().join(", ")
                ),
            );
        }
    };
    if kind == CheckKind::BrandCredentials {
        check.brand = brand_options(cx, rule, &raw.kind, &raw.brand_opts(), key);
    } else {
        for (name, span) in [
            ("brands_file", raw.brands_file.as_ref().map(Spanned::span)),
            ("claim", raw.claim.as_ref().map(Spanned::span)),
            ("credentials", raw.credentials.as_ref().map(Spanned::span)),
        ] {
            if let Some(span) = span {
                not_for(cx, name, span);
            }
        }
    }
    if let Some(v) = raw.foreign_only {
        not_for(cx, "foreign_only", v.span());
        check.foreign_only = v.into_inner();
    }
    if let Some(v) = raw.zero_size_only {
        not_for(cx, "zero_size_only", v.span());
        check.zero_size_only = v.into_inner();
    }
    if let Some(v) = raw.min_links {
        not_for(cx, "min_links", v.span());
        if *v.get_ref() == 0 {
            cx.error_at(v.span(), rule, "`min_links` must be at least 1".into());
        }
        check.min_links = v.into_inner();
    }
    if let Some(v) = raw.min_hosts {
        not_for(cx, "min_hosts", v.span());
        if *v.get_ref() == 0 {
            cx.error_at(v.span(), rule, "`min_hosts` must be at least 1".into());
        }
        check.min_hosts = v.into_inner();
    }
    for entry in raw
        .allow_domains
        .map(Spanned::into_inner)
        .unwrap_or_default()
    {
        match domains::parse_line(entry.get_ref()) {
            domains::Line::Entry(DomainPattern::Suffix(d)) => check.allow_domains.push(d),
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
    if let Some(v) = raw.min_encoded {
        not_for(cx, "min_encoded", v.span());
        if *v.get_ref() == 0 {
            cx.error_at(v.span(), rule, "`min_encoded` must be at least 1".into());
        }
        check.min_encoded = v.into_inner();
    }
    match raw.condition {
        Some(v) => {
            let span = v.span();
            not_for(cx, "condition", span.clone());
            let mut groups = Vec::new();
            for group in v.into_inner() {
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
            match super::checks::Condition::new(groups) {
                Ok(condition) => check.condition = condition,
                Err(e) => cx.error_at(span, rule, format!("`condition`: {e}")),
            }
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
    let warn = |cx: &mut FileCx<'_>, line: Option<usize>, message: String| {
        cx.diagnostics.push(Diagnostic {
            level: Level::Warning,
            file: list.display.clone(),
            line,
            rule: rule.map(str::to_string),
            message,
        });
    };
    for (number, line) in list.text.lines().enumerate() {
        match domains::parse_line(line) {
            domains::Line::Skip => {}
            domains::Line::Entry(DomainPattern::Regex(pattern)) => {
                match crate::matcher::compile_regex(&pattern) {
                    Ok(_) => out.push(DomainPattern::Regex(pattern)),
                    Err(e) => warn(
                        cx,
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
                if depth >= MAX_INCLUDE_DEPTH {
                    warn(
                        cx,
                        Some(number + 1),
                        format!("`include:{name}` nests deeper than {MAX_INCLUDE_DEPTH} lists"),
                    );
                    continue;
                }
                if name.contains(['/', '\\']) || name.starts_with('.') {
                    warn(
                        cx,
                        Some(number + 1),
                        format!("`include:{name}` must name a list in the same directory"),
                    );
                    continue;
                }
                let relative = name.clone();
                // Bundled lists carry a .txt extension (build.rs embeds *.txt); lists on disk
                // keep upstream's names.
                let found = read_list(&list.origin, &relative, "domain list").or_else(|_| {
                    read_list(&list.origin, &format!("{relative}.txt"), "domain list")
                });
                match found {
                    Ok(included) => {
                        if visited.contains(&included.display) {
                            continue;
                        }
                        visited.push(included.display.clone());
                        load_domain_list(cx, rule, included, visited, depth + 1, out);
                    }
                    Err(_) => missing.push(name),
                }
            }
        }
    }
    if invalid_count > 0 {
        let first: Vec<String> = invalid
            .iter()
            .map(|(line, reason)| format!("line {line}: {reason}"))
            .collect();
        warn(
            cx,
            invalid.first().map(|(l, _)| *l),
            format!(
                "skipped {invalid_count} line(s) that are not domains ({})",
                first.join("; ")
            ),
        );
    }
    if !missing.is_empty() {
        let shown: Vec<&str> = missing.iter().take(5).map(String::as_str).collect();
        warn(
            cx,
            None,
            format!(
                "{} `include:` list(s) not found beside it, skipped: {}{}",
                missing.len(),
                shown.join(", "),
                if missing.len() > 5 { ", ..." } else { "" }
            ),
        );
    }
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
