//! `sitepatrol rules eval`: what reviewers would get from these rules on labelled corpora.
//!
//! Everything is counted per page, as the review queue sees it: a positive page is found when
//! it is flagged in its folder's category (any severity), an ordinary page counts once however
//! many flags it has. The threshold table shows recall and false flags with every category's
//! threshold (and confident band) scaled, so a precision goal can be read off it. Corpora are
//! described in `corpus.rs`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use sitepatrol_core::finding::Severity;

use super::corpus::{self, Scanned};
use super::model::{Flag, Model};
use crate::cli::{Format, RulesArg, exit};

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    #[command(flatten)]
    rules: RulesArg,
    /// Labelled positives: one folder per category id, holding pages that must be flagged.
    #[arg(long, value_name = "DIR")]
    positives: Vec<PathBuf>,
    /// Ordinary pages (repeatable; each is reported on its own and all together).
    #[arg(long, value_name = "DIR")]
    negatives: Vec<PathBuf>,
    /// `table` (default) or `json`.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Exit 1 when the page recall over all positives is below this fraction (e.g. 0.95).
    #[arg(long, value_name = "FRACTION")]
    min_recall: Option<f64>,
    /// Exit 1 when a negative corpus has more pages with a high or critical flag than this
    /// per 100 pages.
    #[arg(long, value_name = "N")]
    max_high_per_100: Option<f64>,
}

#[derive(Debug, Default, Serialize)]
pub struct CategoryRecall {
    pub pages: usize,
    /// Pages flagged in this category.
    pub detected: usize,
    pub recall: f64,
    /// Pages not flagged in this category, with their best category scores.
    pub missed: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct RuleStats {
    pub category: String,
    pub weight: f64,
    pub prior_weight: f64,
    /// Positive pages this rule has evidence on (any folder), and those of its own category.
    pub positive_pages: usize,
    pub own_category_pages: usize,
    /// Positive pages whose labels expect this rule, and how many of them it fired on.
    pub expected: usize,
    pub expected_found: usize,
    /// Negative pages it has evidence on, per corpus.
    pub negative_pages: BTreeMap<String, usize>,
}

#[derive(Debug, Default, Serialize)]
pub struct NegativeStats {
    pub pages: usize,
    /// Files the scanner skipped (binary).
    pub skipped: usize,
    /// Pages with at least one flag, and per 100 pages.
    pub pages_flagged: usize,
    pub flagged_per_100: f64,
    /// Pages with a high or critical flag, and per 100 pages: the figure CI bounds.
    pub pages_high: usize,
    pub high_per_100: f64,
    /// Flags per category (a page flagged in two categories counts in both).
    pub by_category: BTreeMap<String, usize>,
    /// Every flag, worst first.
    pub flagged: Vec<FlaggedPage>,
}

#[derive(Debug, Serialize)]
pub struct FlaggedPage {
    pub page: String,
    pub category: String,
    pub severity: Severity,
    pub score: f64,
    /// The strongest signals: `rule "matched"`.
    pub signals: Vec<String>,
}

/// Recall and false flags with every threshold scaled by `scale`.
#[derive(Debug, Serialize)]
pub struct ThresholdRow {
    pub scale: f64,
    pub recall: f64,
    pub flagged_per_100: f64,
    pub high_per_100: f64,
    /// Flagged positives (in their category) over all flagged pages of the corpora given.
    /// It depends on how many positives and negatives were given; compare rows, not runs.
    pub precision: f64,
}

/// Recall on one positives corpus.
#[derive(Debug, Default, Serialize)]
pub struct CorpusRecall {
    pub pages: usize,
    pub detected: usize,
    pub recall: f64,
    pub categories: BTreeMap<String, CategoryRecall>,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub positives: usize,
    pub detected: usize,
    pub recall: f64,
    /// Every positives corpus together, per category.
    pub categories: BTreeMap<String, CategoryRecall>,
    /// Each positives corpus on its own (real pages and our own corpus tell different things).
    pub corpora: BTreeMap<String, CorpusRecall>,
    pub negatives: BTreeMap<String, NegativeStats>,
    pub thresholds: Vec<ThresholdRow>,
    pub rules: BTreeMap<String, RuleStats>,
    pub errors: Vec<String>,
}

pub const ALL_NEGATIVES: &str = "(all negatives)";
const SCALES: [f64; 9] = [0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0];

pub fn run(args: EvalArgs) -> i32 {
    if args.positives.is_empty() && args.negatives.is_empty() {
        eprintln!("error: give --positives DIR and/or --negatives DIR");
        return exit::ERROR;
    }
    let Some(ruleset) = super::load(&args.rules) else {
        return exit::ERROR;
    };
    let ruleset = Arc::new(ruleset);
    let pages = match corpus::load(&args.positives, &args.negatives) {
        Ok(pages) => pages,
        Err(errors) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            return exit::ERROR;
        }
    };
    let (scanned, errors) = corpus::scan_all(Arc::clone(&ruleset), pages);
    let model = Model::of(&ruleset);
    let mut report = evaluate(&model, &ruleset, &scanned);
    report.errors = errors;
    match args.format {
        Format::Json | Format::Jsonl => out!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        ),
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
                    "fail: {name}: {:.2} pages with a high or critical flag per 100, above {max}",
                    stats.high_per_100
                );
                failed = true;
            }
        }
    }
    if failed { exit::FINDINGS } else { exit::OK }
}

/// The page-level report of `model` on scanned pages.
pub fn evaluate(
    model: &Model,
    ruleset: &sitepatrol_core::rules::Ruleset,
    scanned: &[Scanned],
) -> Report {
    evaluate_each(&|_| model, ruleset, scanned)
}

/// The page-level report with each page judged by its own model (cross-validation: the
/// model fitted without the page's source).
pub fn evaluate_each<'m>(
    model_of: &dyn Fn(usize) -> &'m Model,
    ruleset: &sitepatrol_core::rules::Ruleset,
    scanned: &[Scanned],
) -> Report {
    let model = model_of(0);
    let mut report = Report::default();
    for (i, rule) in ruleset.rules().iter().enumerate() {
        report.rules.insert(
            rule.id.to_string(),
            RuleStats {
                category: rule.category.to_string(),
                weight: model.weights[i],
                prior_weight: rule.prior_weight,
                positive_pages: 0,
                own_category_pages: 0,
                expected: 0,
                expected_found: 0,
                negative_pages: BTreeMap::new(),
            },
        );
    }
    let mut all = NegativeStats::default();
    for (i, page) in scanned.iter().enumerate() {
        let model = model_of(i);
        let flags = model.flags(page);
        match &page.page.label {
            Some(label) => positive(&mut report, model, ruleset, page, label, &flags),
            None => {
                let stats = report
                    .negatives
                    .entry(page.page.corpus.clone())
                    .or_default();
                negative(stats, model, ruleset, page, &flags);
                negative(&mut all, model, ruleset, page, &flags);
                for &(rule, _) in &page.hits {
                    if let Some(stats) = report.rules.get_mut(&*ruleset.rules()[rule].id) {
                        *stats
                            .negative_pages
                            .entry(page.page.corpus.clone())
                            .or_default() += 1;
                    }
                }
            }
        }
    }
    for c in report.categories.values_mut() {
        c.recall = ratio(c.detected, c.pages);
    }
    for corpus in report.corpora.values_mut() {
        for c in corpus.categories.values_mut() {
            c.recall = ratio(c.detected, c.pages);
        }
        corpus.pages = corpus.categories.values().map(|c| c.pages).sum();
        corpus.detected = corpus.categories.values().map(|c| c.detected).sum();
        corpus.recall = ratio(corpus.detected, corpus.pages);
    }
    report.positives = report.categories.values().map(|c| c.pages).sum();
    report.detected = report.categories.values().map(|c| c.detected).sum();
    report.recall = ratio(report.detected, report.positives);
    if report.negatives.len() > 1 {
        report.negatives.insert(ALL_NEGATIVES.into(), all);
    }
    for stats in report.negatives.values_mut() {
        stats.flagged_per_100 = per_100(stats.pages_flagged, stats.pages);
        stats.high_per_100 = per_100(stats.pages_high, stats.pages);
        stats.flagged.sort_by(|a, b| {
            (b.severity, b.score)
                .partial_cmp(&(a.severity, a.score))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
    }
    report.thresholds = SCALES
        .iter()
        .map(|&scale| threshold_row(model_of, scanned, scale))
        .collect();
    report
}

fn positive(
    report: &mut Report,
    model: &Model,
    ruleset: &sitepatrol_core::rules::Ruleset,
    page: &Scanned,
    label: &str,
    flags: &[Flag],
) {
    let own = model.category_index(label);
    let found = flags.iter().any(|f| Some(f.category) == own);
    let corpus = report.corpora.entry(page.page.corpus.clone()).or_default();
    for entry in [
        report.categories.entry(label.to_string()).or_default(),
        corpus.categories.entry(label.to_string()).or_default(),
    ] {
        entry.pages += 1;
        if found {
            entry.detected += 1;
        } else {
            entry.missed.push(format!(
                "{} ({})",
                page.display(),
                describe_scores(model, page)
            ));
        }
    }
    for &(rule, _) in &page.hits {
        let stats = report
            .rules
            .get_mut(&*ruleset.rules()[rule].id)
            .expect("every rule has stats");
        stats.positive_pages += 1;
        if Some(model.category_of[rule]) == own {
            stats.own_category_pages += 1;
        }
    }
    for expected in &page.page.expected_rules {
        match report.rules.get_mut(expected.as_str()) {
            Some(stats) => {
                stats.expected += 1;
                let fired = page
                    .hits
                    .iter()
                    .any(|&(r, _)| &*ruleset.rules()[r].id == expected);
                if fired {
                    stats.expected_found += 1;
                }
            }
            None => report.errors.push(format!(
                "{}: labels expect rule `{expected}`, which is not loaded",
                page.display()
            )),
        }
    }
}

fn negative(
    stats: &mut NegativeStats,
    model: &Model,
    ruleset: &sitepatrol_core::rules::Ruleset,
    page: &Scanned,
    flags: &[Flag],
) {
    if page.skipped {
        stats.skipped += 1;
        return;
    }
    stats.pages += 1;
    if !flags.is_empty() {
        stats.pages_flagged += 1;
    }
    if flags.iter().any(|f| f.severity >= Severity::High) {
        stats.pages_high += 1;
    }
    for flag in flags {
        let category = model.categories[flag.category];
        *stats.by_category.entry(category.to_string()).or_default() += 1;
        stats.flagged.push(FlaggedPage {
            page: page.display(),
            category: category.to_string(),
            severity: flag.severity,
            score: round(flag.score),
            signals: strongest_signals(model, ruleset, page, flag.category, 3),
        });
    }
}

/// `rule "matched"` of the strongest rules of a category on a page.
pub fn strongest_signals(
    model: &Model,
    ruleset: &sitepatrol_core::rules::Ruleset,
    page: &Scanned,
    category: usize,
    n: usize,
) -> Vec<String> {
    let mut rules: Vec<(f64, usize)> = page
        .hits
        .iter()
        .filter(|(r, _)| model.category_of[*r] == category)
        .map(|&(r, count)| {
            (
                model.weights[r] * sitepatrol_core::rules::weights::repeat_factor(count),
                r,
            )
        })
        .collect();
    rules.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
    rules
        .into_iter()
        .take(n)
        .map(|(c, r)| {
            let matched = page.example(r).map_or("", |(m, _)| m);
            format!(
                "{} {c:+.2} {:?}",
                ruleset.rules()[r].id,
                matched.chars().take(60).collect::<String>()
            )
        })
        .collect()
}

/// The page's category scores, best first: why a positive was missed.
fn describe_scores(model: &Model, page: &Scanned) -> String {
    let mut scores = model.scores(page);
    if scores.is_empty() {
        return "no evidence".into();
    }
    scores.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal));
    scores
        .iter()
        .take(3)
        .map(|(c, s, _)| format!("{} {:.2}", model.categories[*c], s))
        .collect::<Vec<_>>()
        .join(", ")
}

fn threshold_row<'m>(
    model_of: &dyn Fn(usize) -> &'m Model,
    scanned: &[Scanned],
    scale: f64,
) -> ThresholdRow {
    let (mut positives, mut found, mut negatives, mut neg_flagged, mut neg_high) = (0, 0, 0, 0, 0);
    for (i, page) in scanned.iter().enumerate().filter(|(_, p)| !p.skipped) {
        let model = model_of(i);
        let flags = model.flags_scaled(page, scale);
        match &page.page.label {
            Some(label) => {
                positives += 1;
                let own = model.category_index(label);
                if flags.iter().any(|f| Some(f.category) == own) {
                    found += 1;
                }
            }
            None => {
                negatives += 1;
                if !flags.is_empty() {
                    neg_flagged += 1;
                }
                if flags.iter().any(|f| f.severity >= Severity::High) {
                    neg_high += 1;
                }
            }
        }
    }
    ThresholdRow {
        scale,
        recall: round(ratio(found, positives)),
        flagged_per_100: round(per_100(neg_flagged, negatives)),
        high_per_100: round(per_100(neg_high, negatives)),
        precision: round(ratio(found, found + neg_flagged)),
    }
}

pub fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

pub fn per_100(a: usize, b: usize) -> f64 {
    ratio(a, b) * 100.0
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

pub fn print_recall(
    categories: &BTreeMap<String, CategoryRecall>,
    positives: usize,
    detected: usize,
) {
    out!(
        "{:<20} {:>6} {:>9} {:>8}",
        "category",
        "pages",
        "flagged",
        "recall"
    );
    for (category, c) in categories {
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
        positives,
        detected,
        ratio(detected, positives) * 100.0
    );
    for c in categories.values() {
        for missed in &c.missed {
            out!("  missed: {missed}");
        }
    }
}

/// Recall per positives corpus, then (with more than one) all together.
pub fn print_corpora(
    corpora: &BTreeMap<String, CorpusRecall>,
    all: &BTreeMap<String, CategoryRecall>,
    positives: usize,
    detected: usize,
) {
    for (name, corpus) in corpora {
        out!("{name}");
        print_recall(&corpus.categories, corpus.pages, corpus.detected);
    }
    if corpora.len() > 1 {
        out!("all positives");
        let mut summary = BTreeMap::new();
        for (category, c) in all {
            summary.insert(
                category.clone(),
                CategoryRecall {
                    pages: c.pages,
                    detected: c.detected,
                    recall: c.recall,
                    missed: Vec::new(),
                },
            );
        }
        print_recall(&summary, positives, detected);
    }
}

pub fn print_negatives(negatives: &BTreeMap<String, NegativeStats>) {
    out!(
        "{:<48} {:>6} {:>8} {:>9} {:>8} {:>9}",
        "corpus",
        "pages",
        "flagged",
        "per 100",
        "high+",
        "per 100"
    );
    for (name, n) in negatives {
        out!(
            "{:<48} {:>6} {:>8} {:>9.2} {:>8} {:>9.2}",
            name,
            n.pages,
            n.pages_flagged,
            n.flagged_per_100,
            n.pages_high,
            n.high_per_100
        );
    }
    for (name, n) in negatives {
        if name == ALL_NEGATIVES {
            continue;
        }
        for f in &n.flagged {
            out!(
                "  {} {} {:.2} {}: {}",
                f.severity,
                f.category,
                f.score,
                f.page,
                f.signals.join("; ")
            );
        }
    }
}

fn print_table(report: &Report) {
    if report.positives > 0 {
        out!("Page recall (a positive counts when it is flagged in its folder's category)");
        print_corpora(
            &report.corpora,
            &report.categories,
            report.positives,
            report.detected,
        );
        out!();
    }
    if !report.negatives.is_empty() {
        out!("Ordinary pages flagged (pages with any flag, and with a high or critical flag)");
        print_negatives(&report.negatives);
        out!();
    }
    out!("Thresholds scaled (every category's threshold and confident band times the scale)");
    out!(
        "{:>6} {:>8} {:>10} {:>10} {:>10}",
        "scale",
        "recall",
        "flagged/100",
        "high+/100",
        "precision"
    );
    for row in &report.thresholds {
        out!(
            "{:>6.2} {:>7.1}% {:>10.2} {:>10.2} {:>9.1}%",
            row.scale,
            row.recall * 100.0,
            row.flagged_per_100,
            row.high_per_100,
            row.precision * 100.0
        );
    }
    out!();
    out!("Per rule (pages with evidence of the rule)");
    out!(
        "{:<42} {:>7} {:>7} {:>9} {:>9} {:>9} {:>9}",
        "rule",
        "weight",
        "prior",
        "pos.pages",
        "own cat.",
        "expected",
        "neg.pages"
    );
    for (id, r) in &report.rules {
        let neg_pages: usize = r.negative_pages.values().sum();
        let expected = if r.expected > 0 {
            format!("{}/{}", r.expected_found, r.expected)
        } else {
            "-".into()
        };
        out!(
            "{:<42} {:>7.2} {:>7.2} {:>9} {:>9} {:>9} {:>9}",
            id,
            r.weight,
            r.prior_weight,
            r.positive_pages,
            r.own_category_pages,
            expected,
            neg_pages
        );
    }
}
