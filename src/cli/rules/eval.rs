//! `sitepatrol rules eval`: recall on labelled positives, false positives per 100 pages on
//! negatives, per rule and per category.
//!
//! Positives are `DIR/<category>/<page>`: the folder names the category the page must be
//! found in. An optional `DIR/<category>/labels.toml` adds, per page, the page URL and the
//! rule ids that must fire (`[[page]] file = "x.html", url = "...", rules = ["..."]`).
//! Negatives are directories of ordinary pages; every regular file in them is a page.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sitepatrol::finding::{Finding, Severity};
use sitepatrol::rules::categories;
use sitepatrol::scan::{self, ScanOptions, Scanner};

use crate::cli::{Format, RulesArg, exit};

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    #[command(flatten)]
    rules: RulesArg,
    /// Labelled positives: one folder per category id, holding pages that must be found.
    #[arg(long, value_name = "DIR")]
    positives: Vec<PathBuf>,
    /// Ordinary pages (repeatable; each is reported on its own and all together).
    #[arg(long, value_name = "DIR")]
    negatives: Vec<PathBuf>,
    /// `table` (default) or `json`.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Exit 1 when the recall over all positives is below this fraction (e.g. 0.95).
    #[arg(long, value_name = "FRACTION")]
    min_recall: Option<f64>,
    /// Exit 1 when a negative corpus has more high and critical findings than this per 100
    /// pages.
    #[arg(long, value_name = "N")]
    max_high_per_100: Option<f64>,
}

/// One page to scan, and what it should produce.
#[derive(Debug, Clone)]
struct Page {
    path: PathBuf,
    /// For positives: the category folder.
    category: Option<String>,
    url: Option<url::Url>,
    expected_rules: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Labels {
    #[serde(default)]
    page: Vec<PageLabel>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageLabel {
    file: String,
    url: Option<String>,
    #[serde(default)]
    rules: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct CategoryRecall {
    pub pages: usize,
    pub detected: usize,
    pub recall: f64,
    /// Pages not found in their category.
    pub missed: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct RuleStats {
    pub category: String,
    pub severity: Severity,
    /// Positive pages this rule fired on (any folder).
    pub positive_pages: usize,
    /// Positive pages whose labels expect this rule, and how many of them it fired on.
    pub expected: usize,
    pub expected_found: usize,
    /// Negative pages it fired on, and its findings there, per corpus.
    pub negative_pages: BTreeMap<String, usize>,
    pub negative_findings: BTreeMap<String, usize>,
}

#[derive(Debug, Default, Serialize)]
pub struct NegativeStats {
    pub pages: usize,
    /// Files the scanner skipped (binary).
    pub skipped: usize,
    pub pages_with_findings: usize,
    pub findings: BTreeMap<Severity, usize>,
    pub findings_per_100: BTreeMap<Severity, f64>,
    /// High and critical findings per 100 pages: the figure CI bounds.
    pub high_per_100: f64,
    /// Pages with a high or critical finding, with those findings' rules.
    pub flagged: Vec<FlaggedPage>,
}

#[derive(Debug, Serialize)]
pub struct FlaggedPage {
    pub page: String,
    pub rule: String,
    pub severity: Severity,
    pub matched: String,
    pub snippet: String,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub positives: usize,
    pub detected: usize,
    pub recall: f64,
    pub categories: BTreeMap<String, CategoryRecall>,
    pub rules: BTreeMap<String, RuleStats>,
    pub negatives: BTreeMap<String, NegativeStats>,
    pub errors: Vec<String>,
}

pub fn run(args: EvalArgs) -> i32 {
    if args.positives.is_empty() && args.negatives.is_empty() {
        eprintln!("error: give --positives DIR and/or --negatives DIR");
        return exit::ERROR;
    }
    let Some(ruleset) = super::load(&args.rules) else {
        return exit::ERROR;
    };
    let scanner = Scanner::new(Arc::new(ruleset), ScanOptions::default());
    let mut report = Report::default();
    for (id, rule) in scanner
        .ruleset()
        .rules()
        .iter()
        .map(|r| (r.id.to_string(), r))
    {
        report.rules.insert(
            id,
            RuleStats {
                category: rule.category.to_string(),
                severity: rule.severity,
                positive_pages: 0,
                expected: 0,
                expected_found: 0,
                negative_pages: BTreeMap::new(),
                negative_findings: BTreeMap::new(),
            },
        );
    }
    let mut positives = Vec::new();
    for dir in &args.positives {
        match positive_pages(dir) {
            Ok(pages) => positives.extend(pages),
            Err(errors) => report.errors.extend(errors),
        }
    }
    if !report.errors.is_empty() {
        for e in &report.errors {
            eprintln!("error: {e}");
        }
        return exit::ERROR;
    }
    for page in &positives {
        let category = page.category.clone().unwrap_or_default();
        let findings = match scan_page(&scanner, page) {
            Ok(f) => f,
            Err(e) => {
                report.errors.push(e);
                continue;
            }
        };
        let entry = report.categories.entry(category.clone()).or_default();
        entry.pages += 1;
        if findings.iter().any(|f| *f.category == *category) {
            entry.detected += 1;
        } else {
            entry.missed.push(display(&page.path));
        }
        let fired = fired_rules(&findings);
        for rule in &fired {
            if let Some(stats) = report.rules.get_mut(*rule) {
                stats.positive_pages += 1;
            }
        }
        for expected in &page.expected_rules {
            match report.rules.get_mut(expected.as_str()) {
                Some(stats) => {
                    stats.expected += 1;
                    if fired.contains(&expected.as_str()) {
                        stats.expected_found += 1;
                    }
                }
                None => report.errors.push(format!(
                    "{}: labels expect rule `{expected}`, which is not loaded",
                    display(&page.path)
                )),
            }
        }
    }
    for c in report.categories.values_mut() {
        c.recall = ratio(c.detected, c.pages);
    }
    report.positives = report.categories.values().map(|c| c.pages).sum();
    report.detected = report.categories.values().map(|c| c.detected).sum();
    report.recall = ratio(report.detected, report.positives);

    let mut all = NegativeStats::default();
    let corpora: Vec<(String, &PathBuf)> = args.negatives.iter().map(|d| (display(d), d)).collect();
    for (name, dir) in &corpora {
        let mut stats = NegativeStats::default();
        let pages = match negative_pages(dir) {
            Ok(pages) => pages,
            Err(e) => {
                report.errors.push(e);
                continue;
            }
        };
        for page in &pages {
            let findings = match scan_page(&scanner, page) {
                Ok(f) => f,
                Err(e) if e.ends_with(SKIPPED) => {
                    stats.skipped += 1;
                    continue;
                }
                Err(e) => {
                    report.errors.push(e);
                    continue;
                }
            };
            stats.pages += 1;
            if !findings.is_empty() {
                stats.pages_with_findings += 1;
            }
            for f in &findings {
                *stats.findings.entry(f.severity).or_default() += 1;
                if f.severity >= Severity::High {
                    stats.flagged.push(FlaggedPage {
                        page: display(&page.path),
                        rule: f.rule.to_string(),
                        severity: f.severity,
                        matched: f.matched.clone(),
                        snippet: f.snippet.clone(),
                    });
                }
                if let Some(rule) = report.rules.get_mut(&*f.rule) {
                    *rule.negative_findings.entry(name.clone()).or_default() += 1;
                }
            }
            for rule in fired_rules(&findings) {
                if let Some(stats) = report.rules.get_mut(rule) {
                    *stats.negative_pages.entry(name.clone()).or_default() += 1;
                }
            }
        }
        finish_negative(&mut stats);
        all.pages += stats.pages;
        all.skipped += stats.skipped;
        all.pages_with_findings += stats.pages_with_findings;
        for (s, n) in &stats.findings {
            *all.findings.entry(*s).or_default() += n;
        }
        report.negatives.insert(name.clone(), stats);
    }
    if corpora.len() > 1 {
        finish_negative(&mut all);
        report.negatives.insert("(all negatives)".into(), all);
    }

    match args.format {
        Format::Json | Format::Jsonl => {
            out!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
        }
        Format::Table => print_table(&report),
    }
    for e in &report.errors {
        eprintln!("error: {e}");
    }
    if !report.errors.is_empty() {
        return exit::ERROR;
    }
    let mut failed = false;
    if let Some(min) = args.min_recall
        && report.positives > 0
        && report.recall < min
    {
        eprintln!(
            "fail: recall {:.1}% is below {:.1}%",
            report.recall * 100.0,
            min * 100.0
        );
        failed = true;
    }
    if let Some(max) = args.max_high_per_100 {
        for (name, stats) in &report.negatives {
            if stats.high_per_100 > max {
                eprintln!(
                    "fail: {name}: {:.2} high/critical findings per 100 pages, above {max}",
                    stats.high_per_100
                );
                failed = true;
            }
        }
    }
    if failed { exit::FINDINGS } else { exit::OK }
}

fn finish_negative(stats: &mut NegativeStats) {
    let per_100 = |n: usize| {
        if stats.pages == 0 {
            0.0
        } else {
            n as f64 * 100.0 / stats.pages as f64
        }
    };
    stats.findings_per_100 = stats
        .findings
        .iter()
        .map(|(s, n)| (*s, per_100(*n)))
        .collect();
    let high: usize = stats
        .findings
        .iter()
        .filter(|(s, _)| **s >= Severity::High)
        .map(|(_, n)| n)
        .sum();
    stats.high_per_100 = per_100(high);
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

fn fired_rules(findings: &[Finding]) -> Vec<&str> {
    let mut rules: Vec<&str> = findings.iter().map(|f| &*f.rule).collect();
    rules.sort_unstable();
    rules.dedup();
    rules
}

const SKIPPED: &str = "skipped by the scanner";

fn scan_page(scanner: &Scanner, page: &Page) -> Result<Vec<Finding>, String> {
    let bytes = std::fs::read(&page.path).map_err(|e| format!("{}: {e}", display(&page.path)))?;
    let report = scanner.scan_bytes(
        &bytes,
        scan::kind_for_path(&page.path),
        &display(&page.path),
        page.url.as_ref(),
        None,
    );
    if report.document.is_none() {
        return Err(format!("{}: {SKIPPED}", display(&page.path)));
    }
    Ok(report.findings)
}

/// Files that describe a corpus rather than being pages of it.
fn is_corpus_metadata(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.starts_with('.')
        || name == "labels.toml"
        || name.eq_ignore_ascii_case("README.md")
        || name.eq_ignore_ascii_case("README.txt")
        || name.starts_with("LICENSE")
        || name.starts_with("SOURCE")
}

fn files_under(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.map_err(|e| format!("{}: {e}", display(dir)))?;
        if entry.file_type().is_file() && !is_corpus_metadata(entry.path()) {
            out.push(entry.into_path());
        }
    }
    Ok(out)
}

fn negative_pages(dir: &Path) -> Result<Vec<Page>, String> {
    if !dir.is_dir() {
        return Err(format!("{}: not a directory", display(dir)));
    }
    Ok(files_under(dir)?
        .into_iter()
        .map(|path| Page {
            path,
            category: None,
            url: None,
            expected_rules: Vec::new(),
        })
        .collect())
}

/// Pages under `DIR/<category>/`, with their labels. Every problem is reported, each naming
/// its file.
fn positive_pages(dir: &Path) -> Result<Vec<Page>, Vec<String>> {
    let mut errors = Vec::new();
    let mut pages = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => return Err(vec![format!("{}: {e}", display(dir))]),
    };
    let mut folders: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    folders.sort();
    for folder in folders {
        let category = folder
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        if categories::find(&category).is_none() {
            errors.push(format!(
                "{}: the folder name is not a category id",
                display(&folder)
            ));
            continue;
        }
        let labels = match read_labels(&folder) {
            Ok(labels) => labels,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let mut labelled: HashMap<&str, &PageLabel> =
            labels.page.iter().map(|l| (l.file.as_str(), l)).collect();
        let files = match files_under(&folder) {
            Ok(files) => files,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        for path in files {
            let relative = path
                .strip_prefix(&folder)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            let label = labelled.remove(relative.as_str());
            let url = match label.and_then(|l| l.url.as_deref()) {
                Some(u) => match url::Url::parse(u) {
                    Ok(u) => Some(u),
                    Err(e) => {
                        errors.push(format!(
                            "{}/labels.toml: page {relative}: url {u:?}: {e}",
                            display(&folder)
                        ));
                        None
                    }
                },
                None => None,
            };
            pages.push(Page {
                path,
                category: Some(category.clone()),
                url,
                expected_rules: label.map(|l| l.rules.clone()).unwrap_or_default(),
            });
        }
        let mut unknown: Vec<&str> = labelled.into_keys().collect();
        unknown.sort();
        for file in unknown {
            errors.push(format!(
                "{}/labels.toml: labels a page that does not exist: {file}",
                display(&folder)
            ));
        }
    }
    if errors.is_empty() {
        Ok(pages)
    } else {
        Err(errors)
    }
}

fn read_labels(folder: &Path) -> Result<Labels, String> {
    let path = folder.join("labels.toml");
    if !path.exists() {
        return Ok(Labels { page: Vec::new() });
    }
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", display(&path)))?;
    toml::from_str(&text).map_err(|e| format!("{}: {}", display(&path), e.to_string().trim()))
}

fn print_table(report: &Report) {
    if report.positives > 0 {
        out!("Recall on positives (a page counts when it has a finding of its folder's category)");
        out!(
            "{:<20} {:>6} {:>9} {:>8}",
            "category",
            "pages",
            "detected",
            "recall"
        );
        for (category, c) in &report.categories {
            out!(
                "{:<20} {:>6} {:>9} {:>7.1}%",
                category,
                c.pages,
                c.detected,
                c.recall * 100.0
            );
        }
        out!(
            "{:<20} {:>6} {:>9} {:>7.1}%",
            "all",
            report.positives,
            report.detected,
            report.recall * 100.0
        );
        for c in report.categories.values() {
            for missed in &c.missed {
                out!("  missed: {missed}");
            }
        }
        out!();
    }
    if !report.negatives.is_empty() {
        out!("False positives on negatives (findings per 100 pages)");
        out!(
            "{:<44} {:>6} {:>7} {:>7} {:>7} {:>7} {:>7} {:>9}",
            "corpus",
            "pages",
            "flagged",
            "info",
            "low",
            "medium",
            "high",
            "critical"
        );
        for (name, n) in &report.negatives {
            let at = |s: Severity| n.findings_per_100.get(&s).copied().unwrap_or(0.0);
            out!(
                "{:<44} {:>6} {:>7} {:>7.2} {:>7.2} {:>7.2} {:>7.2} {:>9.2}",
                name,
                n.pages,
                n.pages_with_findings,
                at(Severity::Info),
                at(Severity::Low),
                at(Severity::Medium),
                at(Severity::High),
                at(Severity::Critical)
            );
        }
        for (name, n) in &report.negatives {
            if name.starts_with('(') {
                continue;
            }
            for f in &n.flagged {
                out!(
                    "  {} {}: {} {:?} in {:?}",
                    f.severity,
                    f.page,
                    f.rule,
                    f.matched,
                    f.snippet
                );
            }
        }
        out!();
    }
    out!("Per rule");
    out!(
        "{:<40} {:<9} {:>9} {:>9} {:>9} {:>9}",
        "rule",
        "severity",
        "pos.pages",
        "expected",
        "neg.pages",
        "neg.finds"
    );
    for (id, r) in &report.rules {
        let neg_pages: usize = r.negative_pages.values().sum();
        let neg_findings: usize = r.negative_findings.values().sum();
        let expected = if r.expected > 0 {
            format!("{}/{}", r.expected_found, r.expected)
        } else {
            "-".into()
        };
        out!(
            "{:<40} {:<9} {:>9} {:>9} {:>9} {:>9}",
            id,
            r.severity.as_str(),
            r.positive_pages,
            expected,
            neg_pages,
            neg_findings
        );
    }
}
