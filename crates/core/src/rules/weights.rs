//! Signal weights and category scoring: how rule hits add up to a flag.
//!
//! Every rule is a signal with a weight in its category. A page's score in a category is the
//! sum of its signals' contributions, where repeats of one signal add less each time (see
//! [`repeat_factor`]); a page is flagged in a category when its score reaches the category's
//! `threshold`, and the flag has the category's severity from `confident` on, one step less
//! below it. A rule's weight is its own `weight`, or the value `rules fit` wrote for it in a
//! `weights.toml` beside the rulesets (data, reviewed in diffs like the rules themselves).
//!
//! ```toml
//! [fit]                        # free-form: how the file was made
//! command = "sitepatrol rules fit ..."
//!
//! [category.gambling]
//! threshold = 1.0              # score that raises a flag
//! confident = 2.0              # score from which the flag has the category's severity
//! severity = "high"
//!
//! [weights]
//! "gambling.online_casino" = 1.4
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::{Diagnostic, Level, categories};
use crate::finding::Severity;

/// The file name, at the top of a rules directory, that holds weights instead of rules.
pub const WEIGHTS_FILE: &str = "weights.toml";

/// Default score that raises a flag: a rule of weight 1.0 flags alone.
pub const DEFAULT_THRESHOLD: f64 = 1.0;
/// Default score from which a flag has its category's full severity.
pub const DEFAULT_CONFIDENT: f64 = 2.0;

/// Largest weight a rule may have, either way: a bound that keeps one mistyped weight from
/// drowning every other signal.
pub const MAX_WEIGHT: f64 = 20.0;

/// The weight of a rule that gives none, from its severity: a `high` rule alone reaches the
/// default threshold, a `critical` one the confident band, a `low` one needs company.
pub fn prior_weight(severity: Severity) -> f64 {
    match severity {
        Severity::Info => 0.2,
        Severity::Low => 0.4,
        Severity::Medium => 0.7,
        Severity::High => 1.0,
        Severity::Critical => 2.0,
    }
}

/// What `n` occurrences of one signal add up to, in units of its weight: 1, 1.5, 1.75, ...
/// bounded by 2, so a page that repeats one word a thousand times is not worth more than two
/// different pieces of evidence.
pub fn repeat_factor(n: usize) -> f64 {
    let n = n.min(64) as i32;
    2.0 * (1.0 - 0.5f64.powi(n))
}

/// The share of occurrences `k..k + count` (in order of strength) in a signal's factor.
pub(crate) fn repeat_share(k: usize, count: usize) -> f64 {
    repeat_factor(k + count) - repeat_factor(k)
}

/// How one category turns a score into a flag and a severity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CategoryScoring {
    pub threshold: f64,
    pub confident: f64,
    pub severity: Severity,
}

impl CategoryScoring {
    pub fn default_for(category: &str) -> CategoryScoring {
        CategoryScoring {
            threshold: DEFAULT_THRESHOLD,
            confident: DEFAULT_CONFIDENT,
            severity: categories::find(category).map_or(Severity::High, |c| c.severity),
        }
    }

    /// The severity of a flag with this score: the category's from `confident` on, one step
    /// less below (never below `low`).
    pub fn severity_at(&self, score: f64) -> Severity {
        if score >= self.confident {
            return self.severity;
        }
        match self.severity {
            Severity::Critical => Severity::High,
            Severity::High => Severity::Medium,
            _ => Severity::Low,
        }
    }
}

/// Weights and category settings read from `weights.toml` files, later files overriding
/// earlier ones key by key.
#[derive(Debug, Clone, Default)]
pub struct Weights {
    pub categories: HashMap<String, CategoryOverride>,
    /// Rule id → weight, with where it was written (for stale-entry warnings).
    pub rules: HashMap<String, (f64, String, usize)>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CategoryOverride {
    pub threshold: Option<f64>,
    pub confident: Option<f64>,
    pub severity: Option<Severity>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWeights {
    #[serde(default)]
    #[allow(dead_code)]
    fit: Option<toml::Table>,
    #[serde(default)]
    category: HashMap<String, Spanned<RawCategory>>,
    #[serde(default)]
    weights: HashMap<String, Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCategory {
    threshold: Option<Spanned<f64>>,
    confident: Option<Spanned<f64>>,
    severity: Option<Spanned<String>>,
}

impl Weights {
    /// Read one weights file into `self`, reporting every problem with its line.
    pub fn read(&mut self, file: &str, text: &str, diagnostics: &mut Vec<Diagnostic>) {
        let lines = LineIndex::new(text);
        let mut error = |span: std::ops::Range<usize>, message: String| {
            diagnostics.push(Diagnostic {
                level: Level::Error,
                file: file.to_string(),
                line: Some(lines.line_of(span.start)),
                rule: None,
                message,
            })
        };
        let raw: RawWeights = match toml::from_str(text) {
            Ok(raw) => raw,
            Err(e) => {
                error(e.span().unwrap_or(0..0), e.message().trim().to_string());
                return;
            }
        };
        for (id, spanned) in raw.category {
            let span = spanned.span();
            let raw = spanned.into_inner();
            if categories::find(&id).is_none() {
                error(span, format!("unknown category `{id}`"));
                continue;
            }
            let entry = self.categories.entry(id.clone()).or_default();
            for (value, slot, name) in [
                (raw.threshold, &mut entry.threshold, "threshold"),
                (raw.confident, &mut entry.confident, "confident"),
            ] {
                if let Some(v) = value {
                    let x = *v.get_ref();
                    if x.is_finite() && x > 0.0 && x <= 1000.0 {
                        *slot = Some(x);
                    } else {
                        error(v.span(), format!("`{name}` of `{id}` must be above 0"));
                    }
                }
            }
            if let Some(s) = raw.severity {
                match s.get_ref().parse::<Severity>() {
                    Ok(sev) => entry.severity = Some(sev),
                    Err(message) => error(s.span(), message),
                }
            }
            if let (Some(t), Some(c)) = (entry.threshold, entry.confident)
                && c < t
            {
                error(
                    span,
                    format!("`confident` ({c}) of `{id}` is below its `threshold` ({t})"),
                );
            }
        }
        for (id, w) in raw.weights {
            let value = *w.get_ref();
            if !value.is_finite() || value.abs() > MAX_WEIGHT {
                error(
                    w.span(),
                    format!(
                        "weight of `{id}` must be a number between -{MAX_WEIGHT} and {MAX_WEIGHT}"
                    ),
                );
                continue;
            }
            let line = lines.line_of(w.span().start);
            self.rules.insert(id, (value, file.to_string(), line));
        }
    }

    /// The scoring of every category, defaults overridden by the files.
    pub fn scoring(&self) -> HashMap<Arc<str>, CategoryScoring> {
        categories::CATEGORIES
            .iter()
            .map(|c| {
                let mut s = CategoryScoring::default_for(c.id);
                if let Some(o) = self.categories.get(c.id) {
                    s.threshold = o.threshold.unwrap_or(s.threshold);
                    s.confident = o.confident.unwrap_or(s.confident.max(s.threshold));
                    s.severity = o.severity.unwrap_or(s.severity);
                }
                s.confident = s.confident.max(s.threshold);
                (Arc::from(c.id), s)
            })
            .collect()
    }
}

struct LineIndex(Vec<usize>);

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1));
        LineIndex(starts)
    }

    fn line_of(&self, offset: usize) -> usize {
        self.0.partition_point(|&s| s <= offset).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_add_less_each_time_and_stay_bounded() {
        assert_eq!(repeat_factor(0), 0.0);
        assert_eq!(repeat_factor(1), 1.0);
        assert_eq!(repeat_factor(2), 1.5);
        assert!(repeat_factor(1_000_000) <= 2.0);
        assert!((repeat_share(1, 2) - 0.75).abs() < 1e-12);
    }

    #[test]
    fn severity_follows_the_band() {
        let s = CategoryScoring {
            threshold: 1.0,
            confident: 2.0,
            severity: Severity::High,
        };
        assert_eq!(s.severity_at(1.2), Severity::Medium);
        assert_eq!(s.severity_at(2.0), Severity::High);
    }

    #[test]
    fn reads_weights_and_reports_every_error_with_its_line() {
        let mut w = Weights::default();
        let mut d = Vec::new();
        w.read(
            "w.toml",
            "[category.gambling]\nthreshold = 1.5\n\n[category.nope]\nthreshold = 1\n\n\
             [weights]\n\"a.b\" = 0.5\n\"c.d\" = inf\n",
            &mut d,
        );
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(
            d.iter()
                .any(|e| e.message.contains("nope") && e.line == Some(4))
        );
        assert!(
            d.iter()
                .any(|e| e.message.contains("c.d") && e.line == Some(9))
        );
        assert_eq!(w.rules["a.b"].0, 0.5);
        let scoring = w.scoring();
        assert_eq!(scoring["gambling"].threshold, 1.5);
        assert_eq!(scoring["gambling"].confident, 2.0);
    }

    #[test]
    fn confident_below_threshold_is_an_error() {
        let mut d = Vec::new();
        Weights::default().read(
            "w.toml",
            "[category.gambling]\nthreshold = 3\nconfident = 2\n",
            &mut d,
        );
        assert_eq!(d.len(), 1, "{d:?}");
    }
}
