//! `sitepatrol rules fit`: signal weights and confident bands fitted on labelled pages, with
//! cross-validation by source, written as data (`weights.toml`) for review in diffs.
//!
//! For each category, a logistic model over the category's signals: the probability that a
//! page belongs in the category is `σ(a · (score − threshold))`, where the score is what the
//! scanner computes (each rule's weight times the repeat factor of its occurrences) and `a` a
//! fixed sharpness. So the flag threshold keeps its meaning and only the weights move. The
//! weights are pulled towards the rules' own (`weight`, or the prior their severity implies)
//! by an L2 penalty, keep their sign, and stay within the weight bounds: with a few dozen
//! positives per category, a weight the data cannot support stays where a person put it,
//! and a signal seen only on the pages of one source cannot grow on those pages alone when
//! that source is held out.
//!
//! Positives of a category are weighted so that all of them together count `1 / fp_cost` of
//! all negatives together: a false flag on an ordinary page costs a reviewer more than a
//! miss costs the patrol (the page is crawled again). Positives of other categories take no
//! part in a category's fit (a porn forum carrying a sex-drug ad is not a negative for
//! `sex_products`).
//!
//! The confident band of each category (from which a flag has the category's full severity)
//! is set above all but the top 0.5% of the ordinary pages' scores in that category, and at
//! least 1.5 times the threshold.
//!
//! Cross-validation: the pages' sources (see `corpus.rs`) are dealt into folds, largest
//! first, so siblings never sit on both sides; each fold is evaluated with weights fitted on
//! the others. The figures it reports are what to expect on pages nobody tuned on.
//!
//! The solver is coordinate descent with a Newton step per weight, clamped to the sign and
//! bounds: a few dozen weights per category make anything heavier pointless, and the prior
//! and sign constraints are what general-purpose logistic regression crates do not offer.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use sitepatrol_core::rules::Ruleset;
use sitepatrol_core::rules::weights::{MAX_WEIGHT, repeat_factor};

use super::corpus::{self, Scanned};
use super::eval::{self, CategoryRecall, CorpusRecall, NegativeStats};
use super::model::Model;
use crate::cli::{Format, RulesArg, exit};

#[derive(Debug, clap::Args)]
pub struct FitArgs {
    #[command(flatten)]
    rules: RulesArg,
    /// Labelled positives: one folder per category id.
    #[arg(long, value_name = "DIR")]
    positives: Vec<PathBuf>,
    /// Ordinary pages (repeatable).
    #[arg(long, value_name = "DIR")]
    negatives: Vec<PathBuf>,
    /// Folds of the cross-validation (sources are never split across folds).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(2..=50))]
    folds: u32,
    /// How strongly weights are pulled towards the rules' own weights.
    #[arg(long, default_value_t = DEFAULT_PRIOR_STRENGTH)]
    prior_strength: f64,
    /// How much more a false flag on an ordinary page costs than a missed positive.
    #[arg(long, default_value_t = DEFAULT_FP_COST)]
    fp_cost: f64,
    /// Write the fitted weights to this file (e.g. rulesets/weights.toml).
    #[arg(long, value_name = "FILE")]
    write: Option<PathBuf>,
    /// `table` (default) or `json`.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

pub const DEFAULT_PRIOR_STRENGTH: f64 = 0.3;
pub const DEFAULT_FP_COST: f64 = 4.0;
/// Logit per unit of score: a page at threshold + 0.5 is a positive at σ(2) ≈ 0.88.
const SHARPNESS: f64 = 4.0;
/// Share of ordinary pages allowed at or above the confident band, in the fit's data.
const CONFIDENT_QUANTILE: f64 = 0.005;
const MIN_CONFIDENT: f64 = 1.5;
const MAX_CONFIDENT: f64 = 5.0;

#[derive(Debug, Clone, Copy)]
pub struct FitOptions {
    pub prior_strength: f64,
    pub fp_cost: f64,
}

#[derive(Debug, Serialize)]
pub struct FitReport {
    pub folds: u32,
    pub prior_strength: f64,
    pub fp_cost: f64,
    /// Cross-validated: each page judged by weights fitted without its source.
    pub cv_recall: f64,
    pub cv_positives: usize,
    pub cv_detected: usize,
    pub cv_categories: BTreeMap<String, CategoryRecall>,
    pub cv_corpora: BTreeMap<String, CorpusRecall>,
    pub cv_negatives: BTreeMap<String, NegativeStats>,
    /// Fitted on every page: what would be written.
    pub weights: Vec<WeightRow>,
    pub confident: BTreeMap<String, f64>,
    pub errors: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct WeightRow {
    pub rule: String,
    pub category: String,
    pub prior: f64,
    pub fitted: f64,
    pub positive_pages: usize,
    pub negative_pages: usize,
}

pub fn run(args: FitArgs) -> i32 {
    if args.positives.is_empty() || args.negatives.is_empty() {
        eprintln!("error: give --positives DIR and --negatives DIR");
        return exit::ERROR;
    }
    if !(args.prior_strength > 0.0 && args.fp_cost > 0.0) {
        eprintln!("error: --prior-strength and --fp-cost must be above 0");
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
    let options = FitOptions {
        prior_strength: args.prior_strength,
        fp_cost: args.fp_cost,
    };
    let mut report = fit_report(&ruleset, &scanned, args.folds as usize, options);
    report.errors = errors;
    match args.format {
        Format::Json | Format::Jsonl => out!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        ),
        Format::Table => print_report(&report),
    }
    for e in &report.errors {
        eprintln!("error: {e}");
    }
    if !report.errors.is_empty() {
        return exit::ERROR;
    }
    if let Some(path) = &args.write {
        let command = fit_command(&args);
        let text = weights_file(&report, &scanned, &command);
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("error: {}: {e}", path.display());
            return exit::ERROR;
        }
        eprintln!("wrote {}", path.display());
    }
    exit::OK
}

/// Cross-validate, then fit on everything.
pub fn fit_report(
    ruleset: &Ruleset,
    scanned: &[Scanned],
    folds: usize,
    options: FitOptions,
) -> FitReport {
    let base = Model::of(ruleset);
    let priors: Vec<f64> = ruleset.rules().iter().map(|r| r.prior_weight).collect();
    let fold_of = assign_folds(scanned, folds);
    let fold_models: Vec<Model> = (0..folds)
        .map(|f| {
            let train: Vec<&Scanned> = scanned
                .iter()
                .zip(&fold_of)
                .filter(|(_, k)| **k != f)
                .map(|(p, _)| p)
                .collect();
            fit(&base, &priors, &train, options)
        })
        .collect();
    let cv = eval::evaluate_each(&|i| &fold_models[fold_of[i]], ruleset, scanned);
    let all: Vec<&Scanned> = scanned.iter().collect();
    let fitted = fit(&base, &priors, &all, options);
    let weights = weight_rows(ruleset, &fitted, &priors, scanned);
    let confident = fitted
        .categories
        .iter()
        .zip(&fitted.scoring)
        .filter(|(c, _)| {
            fitted
                .rules_of(fitted.category_index(c).unwrap_or(0))
                .count()
                > 0
        })
        .map(|(c, s)| (c.to_string(), s.confident))
        .collect();
    FitReport {
        folds: folds as u32,
        prior_strength: options.prior_strength,
        fp_cost: options.fp_cost,
        cv_recall: cv.recall,
        cv_positives: cv.positives,
        cv_detected: cv.detected,
        cv_categories: cv.categories,
        cv_corpora: cv.corpora,
        cv_negatives: cv.negatives,
        weights,
        confident,
        errors: Vec::new(),
    }
}

/// Deals sources into folds, largest first, each to the fold with the fewest pages: every
/// fold gets a share of the big sources and no source is split.
pub fn assign_folds(scanned: &[Scanned], folds: usize) -> Vec<usize> {
    let mut sizes: HashMap<&str, usize> = HashMap::new();
    for p in scanned {
        *sizes.entry(p.page.group.as_str()).or_default() += 1;
    }
    let mut groups: Vec<(&str, usize)> = sizes.into_iter().collect();
    groups.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut load = vec![0usize; folds];
    let mut fold_of_group: HashMap<&str, usize> = HashMap::new();
    for (group, size) in groups {
        let fold = (0..folds).min_by_key(|&f| (load[f], f)).unwrap_or(0);
        load[fold] += size;
        fold_of_group.insert(group, fold);
    }
    scanned
        .iter()
        .map(|p| fold_of_group[p.page.group.as_str()])
        .collect()
}

/// Weights and confident bands fitted on `train`.
pub fn fit(base: &Model, priors: &[f64], train: &[&Scanned], options: FitOptions) -> Model {
    let mut model = base.clone();
    model.weights = priors.to_vec();
    for category in 0..model.categories.len() {
        let rules: Vec<usize> = model.rules_of(category).collect();
        if rules.is_empty() {
            continue;
        }
        fit_category(&mut model, category, &rules, train, options);
        set_confident(&mut model, category, train);
    }
    model
}

/// One page's features in one category: `(position in rules, repeat factor)`.
struct Sample {
    features: Vec<(usize, f64)>,
    positive: bool,
    weight: f64,
}

fn samples(
    model: &Model,
    category: usize,
    rules: &[usize],
    train: &[&Scanned],
    fp_cost: f64,
) -> Vec<Sample> {
    let position: HashMap<usize, usize> = rules.iter().enumerate().map(|(i, &r)| (r, i)).collect();
    let label = model.categories[category];
    let mut out: Vec<Sample> = train
        .iter()
        .filter(|p| !p.skipped)
        .filter(|p| p.page.label.as_deref().is_none_or(|l| l == label))
        .map(|p| Sample {
            features: p
                .hits
                .iter()
                .filter_map(|&(r, n)| position.get(&r).map(|&i| (i, repeat_factor(n))))
                .collect(),
            positive: p.page.label.is_some(),
            weight: 1.0,
        })
        .collect();
    let positives = out.iter().filter(|s| s.positive).count();
    let negatives = out.len() - positives;
    if positives > 0 {
        let w = negatives.max(1) as f64 / positives as f64 / fp_cost;
        for s in out.iter_mut().filter(|s| s.positive) {
            s.weight = w;
        }
    }
    out
}

fn fit_category(
    model: &mut Model,
    category: usize,
    rules: &[usize],
    train: &[&Scanned],
    options: FitOptions,
) {
    let data = samples(model, category, rules, train, options.fp_cost);
    if !data.iter().any(|s| s.positive) || data.is_empty() {
        return;
    }
    let total: f64 = data.iter().map(|s| s.weight).sum();
    let threshold = model.scoring[category].threshold;
    let prior: Vec<f64> = rules.iter().map(|&r| model.weights[r]).collect();
    let mut w = prior.clone();
    // Which samples each feature occurs in, for the coordinate steps.
    let mut occurs: Vec<Vec<(usize, f64)>> = vec![Vec::new(); rules.len()];
    for (i, s) in data.iter().enumerate() {
        for &(f, x) in &s.features {
            occurs[f].push((i, x));
        }
    }
    let mut score: Vec<f64> = data
        .iter()
        .map(|s| s.features.iter().map(|&(f, x)| w[f] * x).sum())
        .collect();
    let lambda = options.prior_strength;
    for _sweep in 0..500 {
        let mut largest_step: f64 = 0.0;
        for f in 0..rules.len() {
            if occurs[f].is_empty() {
                continue;
            }
            let (mut gradient, mut curvature) = (0.0, 0.0);
            for &(i, x) in &occurs[f] {
                let p = sigmoid(SHARPNESS * (score[i] - threshold));
                let y = if data[i].positive { 1.0 } else { 0.0 };
                gradient += data[i].weight * (p - y) * SHARPNESS * x;
                curvature += data[i].weight * p * (1.0 - p) * SHARPNESS * SHARPNESS * x * x;
            }
            gradient = gradient / total + lambda * (w[f] - prior[f]);
            curvature = curvature / total + lambda;
            let (low, high) = if prior[f] >= 0.0 {
                (0.0, MAX_WEIGHT)
            } else {
                (-MAX_WEIGHT, 0.0)
            };
            let next = (w[f] - gradient / curvature).clamp(low, high);
            let step = next - w[f];
            if step != 0.0 {
                for &(i, x) in &occurs[f] {
                    score[i] += step * x;
                }
                w[f] = next;
            }
            largest_step = largest_step.max(step.abs());
        }
        if largest_step < 1e-7 {
            break;
        }
    }
    for (f, &r) in rules.iter().enumerate() {
        model.weights[r] = w[f];
    }
}

fn set_confident(model: &mut Model, category: usize, train: &[&Scanned]) {
    let mut negative_scores: Vec<f64> = train
        .iter()
        .filter(|p| p.page.label.is_none() && !p.skipped)
        .map(|p| {
            model
                .scores(p)
                .into_iter()
                .find(|(c, _, _)| *c == category)
                .map_or(0.0, |(_, s, _)| s)
        })
        .collect();
    negative_scores.sort_by(|a, b| b.partial_cmp(a).unwrap_or(std::cmp::Ordering::Equal));
    let allowed = (negative_scores.len() as f64 * CONFIDENT_QUANTILE).floor() as usize;
    let above = negative_scores.get(allowed).copied().unwrap_or(0.0);
    let threshold = model.scoring[category].threshold;
    let confident = ((above + 0.01).max(MIN_CONFIDENT * threshold)).min(MAX_CONFIDENT * threshold);
    model.scoring[category].confident = round(confident);
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn weight_rows(
    ruleset: &Ruleset,
    fitted: &Model,
    priors: &[f64],
    scanned: &[Scanned],
) -> Vec<WeightRow> {
    let mut positive_pages = vec![0usize; priors.len()];
    let mut negative_pages = vec![0usize; priors.len()];
    for page in scanned {
        for &(r, _) in &page.hits {
            match &page.page.label {
                Some(label) if label.as_str() == fitted.categories[fitted.category_of[r]] => {
                    positive_pages[r] += 1
                }
                Some(_) => {}
                None => negative_pages[r] += 1,
            }
        }
    }
    ruleset
        .rules()
        .iter()
        .enumerate()
        .map(|(i, r)| WeightRow {
            rule: r.id.to_string(),
            category: r.category.to_string(),
            prior: priors[i],
            fitted: round(fitted.weights[i]),
            positive_pages: positive_pages[i],
            negative_pages: negative_pages[i],
        })
        .collect()
}

fn fit_command(args: &FitArgs) -> String {
    let mut command = String::from("sitepatrol rules fit");
    for p in &args.positives {
        let _ = write!(command, " --positives {}", p.display());
    }
    for n in &args.negatives {
        let _ = write!(command, " --negatives {}", n.display());
    }
    let _ = write!(
        command,
        " --folds {} --prior-strength {} --fp-cost {}",
        args.folds, args.prior_strength, args.fp_cost
    );
    command
}

/// The weights file: every rule that had evidence in the fit's pages, with its prior and the
/// pages behind it as a comment, so a diff shows what moved and why.
fn weights_file(report: &FitReport, scanned: &[Scanned], command: &str) -> String {
    let positives = scanned.iter().filter(|p| p.page.label.is_some()).count();
    let negatives = scanned.len() - positives;
    let mut out = String::new();
    out.push_str(
        "# Signal weights and confident bands fitted by `sitepatrol rules fit` (rulesets/README.md,\n\
         # \"Scores and weights\"). Data like the rules: review changes in diffs, and fit again when\n\
         # rules or corpora change. A rule not listed keeps its own weight.\n\n",
    );
    out.push_str("[fit]\n");
    let _ = writeln!(out, "command = {:?}", command);
    let _ = writeln!(out, "positives = {positives}\nnegatives = {negatives}");
    let _ = writeln!(
        out,
        "folds = {}\nprior_strength = {}\nfp_cost = {}",
        report.folds, report.prior_strength, report.fp_cost
    );
    let _ = writeln!(
        out,
        "cv_recall = {:.3}\ncv_high_per_100 = {:.3}\ncv_flagged_per_100 = {:.3}\n",
        report.cv_recall,
        report
            .cv_negatives
            .get(eval::ALL_NEGATIVES)
            .or_else(|| report.cv_negatives.values().next())
            .map_or(0.0, |n| n.high_per_100),
        report
            .cv_negatives
            .get(eval::ALL_NEGATIVES)
            .or_else(|| report.cv_negatives.values().next())
            .map_or(0.0, |n| n.flagged_per_100),
    );
    out.push_str("[fit.cv_recall_by_corpus]\n");
    for (corpus, recall) in &report.cv_corpora {
        let _ = writeln!(out, "{:?} = {:.3}", corpus, recall.recall);
    }
    out.push('\n');
    for (category, confident) in &report.confident {
        let _ = writeln!(out, "[category.{category}]\nconfident = {confident}\n");
    }
    out.push_str("[weights]\n");
    for row in &report.weights {
        if row.positive_pages + row.negative_pages == 0 {
            continue;
        }
        let _ = writeln!(
            out,
            "{:<48} = {:<6} # prior {}; {} positive / {} ordinary page(s)",
            format!("{:?}", row.rule),
            row.fitted,
            row.prior,
            row.positive_pages,
            row.negative_pages
        );
    }
    out
}

fn print_report(report: &FitReport) {
    out!(
        "Cross-validated page recall ({} folds by source; each page judged by weights fitted without its source)",
        report.folds
    );
    eval::print_recall(
        &report.cv_categories,
        report.cv_positives,
        report.cv_detected,
    );
    out!();
    out!("Cross-validated ordinary pages flagged");
    eval::print_negatives(&report.cv_negatives);
    out!();
    out!("Weights fitted on every page (prior → fitted; pages with evidence)");
    for row in &report.weights {
        if row.positive_pages + row.negative_pages == 0 {
            continue;
        }
        out!(
            "{:<42} {:>6.2} → {:>6.2}  pos {:>4}  neg {:>4}",
            row.rule,
            row.prior,
            row.fitted,
            row.positive_pages,
            row.negative_pages
        );
    }
    out!();
    out!("Confident bands (score from which a flag has the category's severity)");
    for (category, c) in &report.confident {
        out!("{category:<20} {c:.2}");
    }
}
