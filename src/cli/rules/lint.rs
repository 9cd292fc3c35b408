//! `sitepatrol rules lint`: which terms hit ordinary pages, so an operator can prune a list.
//!
//! Every term (and regex) of every rule becomes a probe rule: the term alone, in the rule's
//! zones and view, without its conditions. Scanning a corpus of ordinary pages with the probes
//! shows how many pages each term hits by itself; scanning it with the rules as they are shows
//! on how many pages the term is evidence of a real flag: all conditions applied (`near`,
//! `exclude`, `min_distinct` and the rest), and the page flagged in the rule's category. A
//! weak signal that ordinary pages carry without being flagged is working as designed, and so
//! is counter-evidence (a negative weight), which is meant to be on ordinary pages.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use sitepatrol_core::finding::Severity;
use sitepatrol_core::rules::{self, Location, Rule, RuleSource, Ruleset};
use sitepatrol_core::scan::{self, ScanOptions, Scanner};

use crate::cli::{Format, exit};

#[derive(Debug, clap::Args)]
pub struct LintArgs {
    /// Ordinary pages to lint against (repeatable): every regular file is a page.
    #[arg(long, value_name = "DIR", required = true)]
    negatives: Vec<PathBuf>,
    /// A raw term list to lint as well (one term per line, `#` comments), as a rule with
    /// default options would use it.
    #[arg(long, value_name = "FILE")]
    list: Vec<PathBuf>,
    /// Report terms that hit at least this percentage of the pages.
    #[arg(long, value_name = "PERCENT", default_value_t = 2.0)]
    min_rate: f64,
    /// ... and at least this many pages.
    #[arg(long, value_name = "N", default_value_t = 2)]
    min_pages: usize,
    /// `table` (default) or `json`.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Ruleset files or directories. Default: the bundled rulesets (unless only --list is
    /// given).
    paths: Vec<PathBuf>,
}

/// What a probe stands for.
struct Probe {
    rule: String,
    term: String,
    severity: Severity,
    /// The term as the rule's view matches it, to recognise it inside a finding's match.
    normalized: String,
    regex: Option<regex::Regex>,
    skip_noise: bool,
}

#[derive(Debug, Serialize)]
pub struct TermReport {
    pub rule: String,
    pub term: String,
    pub severity: Severity,
    /// Pages the term occurs on, by itself.
    pub raw_pages: usize,
    pub raw_rate: f64,
    /// Pages where the rule's conditions keep it: where it would be evidence of a finding.
    pub finding_pages: usize,
    pub example_page: String,
    pub example: String,
}

#[derive(Debug, Serialize)]
struct LintReport {
    pages: usize,
    terms: usize,
    flagged: Vec<TermReport>,
}

pub fn run(args: LintArgs) -> i32 {
    let Some(base) = base_rules(&args) else {
        return exit::ERROR;
    };
    let (probes, probe_rules) = probes(&base);
    let Some(probe_set) = compile(probe_rules) else {
        return exit::ERROR;
    };
    let Some(rule_set) = compile(base) else {
        return exit::ERROR;
    };
    let mut lint = Lint::new(&probes, probe_set, rule_set);
    for dir in &args.negatives {
        let files = match walk(dir) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::ERROR;
            }
        };
        for path in files {
            if let Err(e) = lint.page(&path) {
                eprintln!("error: {}: {e}", path.display());
                return exit::ERROR;
            }
        }
    }
    let report = lint.report(&args);
    match args.format {
        Format::Json | Format::Jsonl => out!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        ),
        Format::Table => print_table(&report, &args),
    }
    // Terms that only ever hit inside their rule's context are working as designed; terms
    // that would still be findings on ordinary pages need pruning or more context.
    if report.flagged.iter().any(|t| t.finding_pages > 0) {
        exit::FINDINGS
    } else {
        exit::OK
    }
}

/// The rules to lint: the rulesets (bundled unless paths are given, none when only lists
/// are), then each list as a rule. `None` (with the errors printed) when one does not load.
fn base_rules(args: &LintArgs) -> Option<Vec<Rule>> {
    let mut base: Vec<Rule> = Vec::new();
    if !args.paths.is_empty() || args.list.is_empty() {
        let sources = if args.paths.is_empty() {
            vec![RuleSource::Bundled]
        } else {
            args.paths.iter().cloned().map(RuleSource::Path).collect()
        };
        match rules::load(&sources) {
            Ok((ruleset, _)) => base.extend(ruleset.rules().iter().cloned()),
            Err(diagnostics) => {
                for d in diagnostics
                    .iter()
                    .filter(|d| d.level == rules::Level::Error)
                {
                    eprintln!("{d}");
                }
                eprintln!(
                    "error: the rulesets do not load; run `sitepatrol rules check` for details"
                );
                return None;
            }
        }
    }
    for path in &args.list {
        match list_rule(path) {
            Ok(rule) => base.push(rule),
            Err(e) => {
                eprintln!("error: {}: {e}", path.display());
                return None;
            }
        }
    }
    Some(base)
}

fn compile(rules: Vec<Rule>) -> Option<Ruleset> {
    match Ruleset::compile(rules) {
        Ok(r) => Some(r),
        Err(diagnostics) => {
            for d in diagnostics {
                eprintln!("{d}");
            }
            None
        }
    }
}

/// The pages linted so far, and per probe how many it hit alone and as evidence of a flag.
struct Lint<'p> {
    probes: &'p [Probe],
    probe_scanner: Scanner,
    rule_scanner: Scanner,
    /// The probes of each rule, by rule id.
    by_rule: HashMap<&'p str, Vec<usize>>,
    pages: usize,
    raw_pages: Vec<usize>,
    finding_pages: Vec<usize>,
    /// Per probe: the first page it hit, and the snippet.
    examples: Vec<Option<(String, String)>>,
}

impl<'p> Lint<'p> {
    fn new(probes: &'p [Probe], probe_set: Ruleset, rule_set: Ruleset) -> Lint<'p> {
        let mut by_rule: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, p) in probes.iter().enumerate() {
            by_rule.entry(p.rule.as_str()).or_default().push(i);
        }
        Lint {
            probes,
            probe_scanner: Scanner::new(Arc::new(probe_set), ScanOptions::default()),
            rule_scanner: Scanner::new(Arc::new(rule_set), ScanOptions::default()),
            by_rule,
            pages: 0,
            raw_pages: vec![0; probes.len()],
            finding_pages: vec![0; probes.len()],
            examples: vec![None; probes.len()],
        }
    }

    /// Scan one page with the probes, then with the rules.
    fn page(&mut self, path: &Path) -> std::io::Result<()> {
        let bytes = std::fs::read(path)?;
        let target = path.display().to_string();
        let kind = scan::kind_for_path(path);
        let report = self
            .probe_scanner
            .scan_bytes(&bytes, kind, &target, None, None);
        if report.document.is_none() {
            return Ok(());
        }
        self.pages += 1;
        let mut seen = HashSet::new();
        for f in &report.evidence {
            let rule = &self.probe_scanner.ruleset().rules()[f.rule as usize];
            let Some(index) = parse_probe_id(&rule.id) else {
                continue;
            };
            if seen.insert(index) {
                self.raw_pages[index] += 1;
                self.examples[index].get_or_insert_with(|| (target.clone(), f.snippet.clone()));
            }
        }
        let report = self
            .rule_scanner
            .scan_bytes(&bytes, kind, &target, None, None);
        let mut seen = HashSet::new();
        for f in &report.evidence {
            let rule = &self.rule_scanner.ruleset().rules()[f.rule as usize];
            let flagged = rule.weight > 0.0
                && report
                    .findings
                    .iter()
                    .any(|flag| flag.category == rule.category);
            if !flagged {
                continue;
            }
            for &index in self.by_rule.get(&*rule.id).map_or(&[][..], Vec::as_slice) {
                if self.probes[index].is_evidence_in(&f.normalized) && seen.insert(index) {
                    self.finding_pages[index] += 1;
                }
            }
        }
        Ok(())
    }

    /// The probes that hit at least `--min-pages` pages and `--min-rate` of them, those that
    /// are evidence of flags first.
    fn report(&self, args: &LintArgs) -> LintReport {
        let pages = self.pages;
        let mut flagged: Vec<TermReport> = self
            .probes
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let raw_pages = self.raw_pages[i];
                let rate = if pages == 0 {
                    0.0
                } else {
                    raw_pages as f64 * 100.0 / pages as f64
                };
                if raw_pages < args.min_pages || rate < args.min_rate {
                    return None;
                }
                let (example_page, example) = self.examples[i].clone().unwrap_or_default();
                Some(TermReport {
                    rule: p.rule.clone(),
                    term: p.term.clone(),
                    severity: p.severity,
                    raw_pages,
                    raw_rate: rate,
                    finding_pages: self.finding_pages[i],
                    example_page,
                    example,
                })
            })
            .collect();
        flagged.sort_by(|a, b| {
            (b.finding_pages, b.raw_pages, &a.rule, &a.term).cmp(&(
                a.finding_pages,
                a.raw_pages,
                &b.rule,
                &b.term,
            ))
        });
        LintReport {
            pages,
            terms: self.probes.len(),
            flagged,
        }
    }
}

fn print_table(report: &LintReport, args: &LintArgs) {
    out!(
        "{} terms linted on {} pages; {} hit at least {}% of the pages (and {} pages)",
        report.terms,
        report.pages,
        report.flagged.len(),
        args.min_rate,
        args.min_pages
    );
    if report.flagged.is_empty() {
        return;
    }
    out!(
        "{:<8} {:<36} {:<16} {:>10} {:>9}  example",
        "verdict",
        "rule",
        "term",
        "raw pages",
        "findings"
    );
    for t in &report.flagged {
        let verdict = if t.finding_pages > 0 {
            "PRUNE"
        } else {
            "context"
        };
        out!(
            "{:<8} {:<36} {:<16} {:>5} {:>3.0}% {:>9}  {}: {:?}",
            verdict,
            t.rule,
            t.term,
            t.raw_pages,
            t.raw_rate,
            t.finding_pages,
            t.example_page,
            t.example
        );
    }
    out!(
        "PRUNE: the term is evidence in a flag on ordinary pages; drop it or add context. \
         context: it hits ordinary pages, but its rule's conditions cancel every hit or the \
         pages are not flagged (a weak signal without company, or counter-evidence)."
    );
}

const PROBE_PREFIX: &str = "lint.probe";

fn parse_probe_id(id: &str) -> Option<usize> {
    id.strip_prefix(PROBE_PREFIX)?.parse().ok()
}

impl Probe {
    /// Whether a finding's normalized match holds this term (merged hits of one rule may span
    /// several of its terms).
    fn is_evidence_in(&self, matched: &str) -> bool {
        match &self.regex {
            Some(regex) => regex.is_match(matched),
            None => sitepatrol_core::normalize::normalize_term(matched, self.skip_noise)
                .contains(&self.normalized),
        }
    }
}

/// One probe rule per term of each rule (see the module docs).
fn probes(base: &[Rule]) -> (Vec<Probe>, Vec<Rule>) {
    let mut probes = Vec::new();
    let mut rules = Vec::new();
    for rule in base.iter().filter(|r| r.check.is_none()) {
        let terms = rule.terms.iter().map(|t| (t, false));
        let regexes = rule.regex.iter().map(|r| (r, true));
        for (term, is_regex) in terms.chain(regexes) {
            let index = probes.len();
            probes.push(Probe {
                rule: rule.id.to_string(),
                term: term.clone(),
                severity: rule.severity,
                normalized: sitepatrol_core::normalize::normalize_term(term, rule.skip_noise),
                regex: if is_regex {
                    sitepatrol_core::matcher::compile_regex(term).ok()
                } else {
                    None
                },
                skip_noise: rule.skip_noise,
            });
            let mut probe = rule.clone();
            probe.id = format!("{PROBE_PREFIX}{index}").into();
            probe.terms = if is_regex {
                Vec::new()
            } else {
                vec![term.clone()]
            };
            probe.regex = if is_regex {
                vec![term.clone()]
            } else {
                Vec::new()
            };
            probe.domains = Vec::new();
            probe.domain_count = 0;
            probe.min_hits = 1;
            probe.min_distinct = 1;
            probe.near = Vec::new();
            probe.exclude = Vec::new();
            probe.exclude_near = None;
            probe.requires = None;
            probe.examples_match = Vec::new();
            probe.examples_no_match = Vec::new();
            rules.push(probe);
        }
    }
    (probes, rules)
}

/// A raw list as a rule with the defaults a rule without options would have.
fn list_rule(path: &std::path::Path) -> Result<Rule, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let mut terms: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    for line in text.lines() {
        let term = line.trim().trim_start_matches('\u{FEFF}');
        if term.is_empty() || term.starts_with('#') {
            continue;
        }
        if sitepatrol_core::normalize::normalize_term(term, false).is_empty() {
            continue;
        }
        if seen.insert(term.to_string()) {
            terms.push(term.to_string());
        }
    }
    let name = path.display().to_string();
    Ok(Rule {
        id: format!("list:{name}").into(),
        category: "other_prohibited".into(),
        clause: "§2(11)".into(),
        severity: Severity::Medium,
        weight: rules::weights::prior_weight(Severity::Medium),
        prior_weight: rules::weights::prior_weight(Severity::Medium),
        description: name.clone().into(),
        terms,
        regex: Vec::new(),
        domains: Vec::new(),
        domain_count: 0,
        allow_domains: Vec::new(),
        allowlist: Default::default(),
        check: None,
        requires: None,
        operator_list: false,
        zones: rules::DEFAULT_ZONES.to_vec(),
        near: Vec::new(),
        min_hits: 1,
        min_distinct: 1,
        exclude: Vec::new(),
        exclude_near: None,
        skip_noise: false,
        max_gap: rules::DEFAULT_MAX_GAP,
        word_boundary: true,
        segment: false,
        examples_match: Vec::new(),
        examples_no_match: Vec::new(),
        location: Location {
            file: name,
            line: 1,
        },
    })
}

fn walk(dir: &std::path::Path) -> Result<Vec<PathBuf>, String> {
    if !dir.is_dir() {
        return Err(format!("{}: not a directory", dir.display()));
    }
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        let name = entry.file_name().to_string_lossy();
        if entry.file_type().is_file() && !name.starts_with('.') && name != "labels.toml" {
            out.push(entry.into_path());
        }
    }
    Ok(out)
}
