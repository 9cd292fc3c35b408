//! `sitepatrol rules check|test|list|eval|lint`.

/// `println!` that does not panic when stdout is closed (`sitepatrol rules list | head`): the
/// rest of the output has nowhere to go, so it is dropped.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

mod corpus;
mod eval;
mod fit;
mod lint;
mod model;

use std::path::PathBuf;

use clap::Subcommand;
use sitepatrol_core::extract::ZoneKind;
use sitepatrol_core::normalize;
use sitepatrol_core::rules::{self, Level, RuleSource};

use super::{Format, RulesArg, exit};

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Validate rulesets and run every rule's examples; report every problem at once.
    Check {
        /// Ruleset files or directories. Default: the bundled rulesets.
        paths: Vec<PathBuf>,
        /// List every domain-list entry the allowlists removed, not just the first few.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Show which rules hit a text, and where.
    Test {
        #[command(flatten)]
        rules: RulesArg,
        /// The zone the text is placed in.
        #[arg(long, default_value = "text", value_parser = parse_zone)]
        zone: ZoneKind,
        /// Read the text from a file instead.
        #[arg(long, value_name = "FILE", conflicts_with = "text")]
        file: Option<PathBuf>,
        /// Treat the text as a whole HTML page (extracted as a scan would, so structural checks
        /// run) instead of placing it in one zone.
        #[arg(long, conflicts_with = "zone")]
        page: bool,
        /// The page's URL, for `--page` (resolves links; sets the page's own site).
        #[arg(long, value_name = "URL", requires = "page")]
        url: Option<url::Url>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// The text to test.
        #[arg(required_unless_present = "file")]
        text: Option<String>,
    },
    /// List the rules: id, category, clause, severity, zones and term counts.
    List {
        #[command(flatten)]
        rules: RulesArg,
    },
    /// Measure the rules on labelled corpora as reviewers would get them: page recall per
    /// category, ordinary pages flagged per 100, a table of thresholds, and every rule's pages.
    Eval(eval::EvalArgs),
    /// Fit signal weights and confident bands on labelled corpora, with cross-validation by
    /// source; write them as a weights file.
    Fit(fit::FitArgs),
    /// Report terms that hit often on a corpus of ordinary pages (candidates for pruning).
    Lint(lint::LintArgs),
}

fn parse_zone(name: &str) -> Result<ZoneKind, String> {
    ZoneKind::parse(name).ok_or_else(|| {
        let names: Vec<&str> = ZoneKind::ALL.iter().map(|z| z.as_str()).collect();
        format!("unknown zone `{name}` (zones: {})", names.join(", "))
    })
}

pub fn run(command: RulesCommand) -> i32 {
    match command {
        RulesCommand::Check { paths, verbose } => check(paths, verbose),
        RulesCommand::Test {
            rules,
            zone,
            file,
            page,
            url,
            format,
            text,
        } => test(rules, zone, file, page.then_some(url), format, text),
        RulesCommand::List { rules } => list(rules),
        RulesCommand::Eval(args) => eval::run(args),
        RulesCommand::Fit(args) => fit::run(args),
        RulesCommand::Lint(args) => lint::run(args),
    }
}

fn check(paths: Vec<PathBuf>, verbose: bool) -> i32 {
    let sources = if paths.is_empty() {
        vec![RuleSource::Bundled]
    } else {
        paths.into_iter().map(RuleSource::Path).collect()
    };
    let (ruleset, diagnostics) = rules::check(&sources);
    for d in &diagnostics {
        out!("{d}");
    }
    let errors = diagnostics
        .iter()
        .filter(|d| d.level == Level::Error)
        .count();
    let warnings = diagnostics.len() - errors;
    if errors > 0 {
        out!("{errors} error(s), {warnings} warning(s)");
        return exit::ERROR;
    }
    let ruleset = ruleset.expect("no errors means the ruleset compiled");
    let examples: usize = ruleset
        .rules()
        .iter()
        .map(|r| r.examples_match.len() + r.examples_no_match.len())
        .sum();
    out!(
        "ok: {} rules, {} patterns, {} regexes, {} listed domains, {} examples passed, {} warning(s)",
        ruleset.rules().len(),
        ruleset.pattern_count(),
        ruleset.regex_count(),
        ruleset.domain_count(),
        examples,
        warnings
    );
    allowlist_report(&ruleset, verbose);
    let waiting: Vec<&str> = ruleset
        .rules()
        .iter()
        .filter(|r| r.operator_list && !r.is_active())
        .map(|r| &*r.id)
        .collect();
    if !waiting.is_empty() {
        out!(
            "{} operator rule(s) wait for their lists (empty terms files): {}",
            waiting.len(),
            waiting.join(", ")
        );
    }
    exit::OK
}

/// Entries shown per list without `--verbose`.
const REMOVED_SHOWN: usize = 8;

/// What the allowlists removed from each rule's domain lists.
fn allowlist_report(ruleset: &rules::Ruleset, verbose: bool) {
    let filtered: Vec<&rules::Rule> = ruleset
        .rules()
        .iter()
        .filter(|r| !r.allowlist.lists.is_empty())
        .collect();
    if filtered.is_empty() {
        return;
    }
    let total: usize = filtered.iter().map(|r| r.allowlist.removed_count()).sum();
    let unfiltered: Vec<&str> = ruleset
        .rules()
        .iter()
        .filter(|r| r.domain_count > 0 && r.allowlist.lists.is_empty())
        .map(|r| &*r.id)
        .collect();
    out!(
        "allowlist: {total} domain-list entries removed ({} rule(s) filtered{})",
        filtered.len(),
        if unfiltered.is_empty() {
            String::new()
        } else {
            format!("; `allow_list = false`: {}", unfiltered.join(", "))
        }
    );
    for rule in filtered {
        for (list, removed) in &rule.allowlist.removed {
            let shown = if verbose {
                removed.len()
            } else {
                removed.len().min(REMOVED_SHOWN)
            };
            let more = removed.len() - shown;
            out!(
                "  {}: {list}: {} removed: {}{}",
                rule.id,
                removed.len(),
                removed[..shown].join(", "),
                if more > 0 {
                    format!(", ... (+{more}; --verbose lists all)")
                } else {
                    String::new()
                }
            );
        }
    }
}

pub(super) fn load(rules: &RulesArg) -> Option<rules::Ruleset> {
    match rules::load(&rules.sources()) {
        Ok((ruleset, _)) => Some(ruleset),
        Err(diagnostics) => {
            for d in diagnostics.iter().filter(|d| d.level == Level::Error) {
                eprintln!("{d}");
            }
            eprintln!("error: the rulesets do not load; run `sitepatrol rules check` for details");
            None
        }
    }
}

fn test(
    rules: RulesArg,
    zone: ZoneKind,
    file: Option<PathBuf>,
    page: Option<Option<url::Url>>,
    format: Format,
    text: Option<String>,
) -> i32 {
    let text = match (text, file) {
        (Some(text), _) => text,
        (None, Some(path)) => match std::fs::read(&path) {
            Ok(bytes) => sitepatrol_core::decode::decode(&bytes, &Default::default()).text,
            Err(e) => {
                eprintln!("error: {}: {e}", path.display());
                return exit::ERROR;
            }
        },
        (None, None) => unreachable!("clap requires TEXT or --file"),
    };
    let Some(ruleset) = load(&rules) else {
        return exit::ERROR;
    };
    let evidence = match &page {
        Some(url) => {
            let document = sitepatrol_core::extract::extract_html(&text, url.as_ref());
            ruleset.document_evidence(&document, "<page>")
        }
        None => ruleset.text_evidence(&[(zone, text.as_str())]),
    };
    let target = if page.is_some() { "<page>" } else { "<text>" };
    let hits = ruleset.rule_findings(&evidence, target);
    let flags = ruleset.score(&evidence, target);
    match format {
        Format::Json | Format::Jsonl => {
            let normalized = normalize::normalize(&text).text;
            let value = serde_json::json!({
                "zone": zone,
                "normalized": normalized,
                "hits": hits,
                "flags": flags,
            });
            out!(
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            );
        }
        Format::Table => {
            out!("normalized: {}", normalize::normalize(&text).text);
            if hits.is_empty() {
                out!("no rule hits");
            }
            for f in &hits {
                let zone = f.zone.map_or("-", |z| z.as_str());
                let weight = ruleset.rule(&f.rule).map_or(0.0, |r| r.weight);
                out!(
                    "{:<8} {:<32} w={weight:<5} {} {zone} at byte {}: {:?} (×{}) in {:?}",
                    f.severity.as_str(),
                    f.rule,
                    f.clause,
                    f.offset,
                    f.matched,
                    f.count,
                    f.snippet
                );
            }
            for (category, score) in ruleset.category_scores(&evidence) {
                let scoring = ruleset.scoring(&category);
                let flagged = flags.iter().find(|f| f.category == category);
                out!(
                    "score {:<18} {:.2} (threshold {:.2}): {}",
                    category,
                    score,
                    scoring.threshold,
                    flagged.map_or("no flag".to_string(), |f| format!(
                        "flag, {}",
                        f.severity.as_str()
                    ))
                );
            }
        }
    }
    if flags.is_empty() {
        exit::OK
    } else {
        exit::FINDINGS
    }
}

fn list(rules: RulesArg) -> i32 {
    let Some(ruleset) = load(&rules) else {
        return exit::ERROR;
    };
    out!(
        "{:<40} {:<18} {:<7} {:<9} {:>6} {:>5} {:>7}  zones / check",
        "id",
        "category",
        "clause",
        "severity",
        "terms",
        "regex",
        "domains"
    );
    for r in ruleset.rules() {
        let zones: Vec<&str> = r.zones.iter().map(|z| z.as_str()).collect();
        let mut how = match &r.check {
            Some(check) => format!("check {}", check.kind.as_str()),
            None => zones.join(","),
        };
        if let Some(requires) = &r.requires {
            how.push_str(&format!("; requires {}", requires.kind.as_str()));
        }
        if r.operator_list && !r.is_active() {
            how.push_str("; operator list empty");
        }
        out!(
            "{:<40} {:<18} {:<7} {:<9} {:>6} {:>5} {:>7}  {}",
            r.id,
            r.category,
            r.clause,
            r.severity.as_str(),
            r.terms.len(),
            r.regex.len(),
            r.domain_count,
            how
        );
    }
    exit::OK
}
