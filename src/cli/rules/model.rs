//! The scoring model as `rules eval` and `rules fit` see it: per-rule weights and per-category
//! settings applied to the occurrence counts of scanned pages. It computes exactly what the
//! scanner's [`Ruleset::score`] computes (a rule's evidence adds up to its weight times
//! [`repeat_factor`] of its occurrences), without scanning again, so many weightings can be
//! tried on one scan.

use sitepatrol_core::finding::Severity;
use sitepatrol_core::rules::weights::{CategoryScoring, repeat_factor};
use sitepatrol_core::rules::{Ruleset, categories};

use super::corpus::Scanned;

#[derive(Debug, Clone)]
pub struct Model {
    /// Weight of each rule, by rule index.
    pub weights: Vec<f64>,
    /// Category index of each rule.
    pub category_of: Vec<usize>,
    /// Category ids, in [`categories::CATEGORIES`] order.
    pub categories: Vec<&'static str>,
    pub scoring: Vec<CategoryScoring>,
}

/// A page's flag in one category.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Flag {
    pub category: usize,
    pub score: f64,
    pub severity: Severity,
}

impl Model {
    pub fn of(ruleset: &Ruleset) -> Model {
        let categories: Vec<&'static str> = categories::CATEGORIES.iter().map(|c| c.id).collect();
        let category_of = ruleset
            .rules()
            .iter()
            .map(|r| {
                categories
                    .iter()
                    .position(|c| *c == &*r.category)
                    .expect("rules are validated against the categories")
            })
            .collect();
        Model {
            weights: ruleset.rules().iter().map(|r| r.weight).collect(),
            category_of,
            scoring: categories.iter().map(|c| ruleset.scoring(c)).collect(),
            categories,
        }
    }

    pub fn category_index(&self, id: &str) -> Option<usize> {
        self.categories.iter().position(|c| *c == id)
    }

    /// Score of each category with evidence on the page, and whether any signal was for it.
    pub fn scores(&self, page: &Scanned) -> Vec<(usize, f64, bool)> {
        let mut out: Vec<(usize, f64, bool)> = Vec::new();
        for &(rule, n) in &page.hits {
            let category = self.category_of[rule];
            let contribution = self.weights[rule] * repeat_factor(n);
            match out.iter_mut().find(|(c, _, _)| *c == category) {
                Some((_, score, positive)) => {
                    *score += contribution;
                    *positive |= contribution > 0.0;
                }
                None => out.push((category, contribution, contribution > 0.0)),
            }
        }
        out
    }

    /// The page's flags, with every category's threshold multiplied by `scale` (1.0: as
    /// configured).
    pub fn flags_scaled(&self, page: &Scanned, scale: f64) -> Vec<Flag> {
        self.scores(page)
            .into_iter()
            .filter_map(|(category, score, positive)| {
                let s = &self.scoring[category];
                let scaled = CategoryScoring {
                    threshold: s.threshold * scale,
                    confident: s.confident * scale,
                    severity: s.severity,
                };
                (positive && score + 1e-9 >= scaled.threshold).then(|| Flag {
                    category,
                    score,
                    severity: scaled.severity_at(score),
                })
            })
            .collect()
    }

    pub fn flags(&self, page: &Scanned) -> Vec<Flag> {
        self.flags_scaled(page, 1.0)
    }

    /// Rules of a category, by index.
    pub fn rules_of(&self, category: usize) -> impl Iterator<Item = usize> + '_ {
        (0..self.weights.len()).filter(move |&r| self.category_of[r] == category)
    }
}
