//! Findings: what matched, where, and under which rule.
//!
//! A finding is what a reviewer acts on, so it carries the evidence as the page had it: the
//! original text that matched, a snippet around it, and the byte offset of the match in its
//! zone's original text. The normalized form is kept beside it for deduplication.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::extract::ZoneKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Severity, String> {
        crate::named::parse_named(&Severity::ALL, Severity::as_str, "severity", s)
            .map_err(|e| e.to_string())
    }
}

/// A flag on one document in one category: the page's score there passed the category's
/// threshold. The fields from `rule` to `count` quote the strongest signal, so a reader of
/// one line sees the best evidence; `signals` holds every contributing signal.
///
/// Findings about a site or page as a whole (a missing filing, a robots.txt that shuts the
/// crawler out) are not scored: their `score` is `None` and their only signal is their own
/// evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Always `"finding"`, so JSON lines of different record types can be told apart.
    #[serde(rename = "type")]
    pub record_type: &'static str,
    pub rule: Arc<str>,
    pub category: Arc<str>,
    pub clause: Arc<str>,
    pub severity: Severity,
    pub description: Arc<str>,
    /// The file path or URL that was scanned.
    pub target: Arc<str>,
    /// The zone the match is in; `None` for findings about a site or page as a whole (a
    /// robots.txt that shuts the crawler out, a missing filing).
    pub zone: Option<ZoneKind>,
    /// The original text that matched.
    pub matched: String,
    /// The normalized form of the match, the same for every evasion of one term.
    pub normalized: String,
    /// Original text around the match, on the match's line.
    pub snippet: String,
    /// Byte offset of the first occurrence in the zone's original text.
    pub offset: usize,
    /// How many times this match occurs in this zone.
    pub count: usize,
    /// The page's score in the category: the sum of its signals' contributions. A flag is
    /// raised at the category's threshold (1.0 unless the weights file says otherwise).
    pub score: Option<f64>,
    /// Every contributing signal, strongest first (capped: see `signals_omitted`).
    pub signals: Vec<Signal>,
    /// Signals left out of `signals` to bound the record (a page linking thousands of listed
    /// domains); their contributions are in `score`.
    #[serde(skip_serializing_if = "is_zero")]
    pub signals_omitted: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Finding {
    pub const RECORD_TYPE: &'static str = "finding";

    /// The finding's own evidence as its only signal: for findings that are not scored (site
    /// checks), so every finding lists its signals the same way.
    pub fn own_signal(&self) -> Signal {
        Signal {
            rule: self.rule.clone(),
            weight: None,
            contribution: None,
            zone: self.zone,
            matched: self.matched.clone(),
            normalized: self.normalized.clone(),
            snippet: self.snippet.clone(),
            offset: self.offset,
            count: self.count,
            seen_by: Vec::new(),
        }
    }
}

/// An info finding of the `crawl` category (§8) about what a crawl or scan could not do on
/// `target` (a site or page as a whole: no zone, no score), with `why` as its evidence.
pub fn crawl_finding(rule: &str, description: &str, target: &str, why: String) -> Finding {
    Finding {
        record_type: Finding::RECORD_TYPE,
        rule: rule.into(),
        category: "crawl".into(),
        clause: "§8".into(),
        severity: Severity::Info,
        description: description.into(),
        target: target.into(),
        zone: None,
        matched: why.clone(),
        normalized: why.clone(),
        snippet: why,
        offset: 0,
        count: 1,
        score: None,
        signals: Vec::new(),
        signals_omitted: 0,
    }
}

/// One piece of evidence behind a flag: a rule's distinct match in one zone (or a
/// structural check's evidence), with what it added to the score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    pub rule: Arc<str>,
    /// The rule's weight in its category; `None` for unscored findings.
    pub weight: Option<f64>,
    /// What this evidence added to the page's score (repeats of one rule add less each
    /// time); `None` for unscored findings.
    pub contribution: Option<f64>,
    pub zone: Option<ZoneKind>,
    /// The original text that matched.
    pub matched: String,
    /// The normalized form of the match.
    pub normalized: String,
    pub snippet: String,
    /// Byte offset of the first occurrence in the zone's original text.
    pub offset: usize,
    /// How many times this match occurs in this zone.
    pub count: usize,
    /// Who saw it, where a crawl looked as several visitors: `desktop`, `mobile`, or a cloaking
    /// probe's label (`baiduspider`, `search:baidu.com`). Empty for files and stdin.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen_by: Vec<Arc<str>>,
}

impl Signal {
    /// Add `who` to the visitors that saw this evidence, once.
    pub fn seen_by(&mut self, who: &Arc<str>) {
        if !self.seen_by.contains(who) {
            self.seen_by.push(who.clone());
        }
    }
}

impl Finding {
    /// Mark every signal of this finding as seen by `who` (see [`Signal::seen_by`]). A finding
    /// without signals gets its own evidence as its signal first, so the mark is kept.
    pub fn seen_by(&mut self, who: &Arc<str>) {
        if self.signals.is_empty() {
            self.signals.push(self.own_signal());
        }
        for signal in &mut self.signals {
            signal.seen_by(who);
        }
    }
}

/// Folds findings of one target and category into one: the most severe is the head and the
/// others join its signals. The scanner already reports one finding per page and category;
/// this makes site checks (several filing checks on one pseudo-page) obey the same rule, so
/// one problem is one flag.
pub fn fold_by_category(findings: Vec<Finding>) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::with_capacity(findings.len());
    for mut finding in findings {
        if finding.signals.is_empty() {
            finding.signals.push(finding.own_signal());
        }
        match out
            .iter_mut()
            .find(|f| f.target == finding.target && f.category == finding.category)
        {
            None => out.push(finding),
            Some(head) => {
                if finding.severity > head.severity {
                    std::mem::swap(head, &mut finding);
                }
                head.signals.append(&mut finding.signals);
                head.signals_omitted += finding.signals_omitted;
                head.score = match (head.score, finding.score) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
            }
        }
    }
    out
}

/// Up to `context` characters either side of `range` in `text`, not crossing a line break.
pub fn snippet(text: &str, range: std::ops::Range<usize>, context: usize) -> String {
    let before = &text[..range.start];
    let mut start = range.start;
    for (taken, (i, c)) in before.char_indices().rev().enumerate() {
        if c == '\n' || taken >= context {
            break;
        }
        start = i;
    }
    let after = &text[range.end..];
    let mut end = range.end;
    for (taken, (i, c)) in after.char_indices().enumerate() {
        if c == '\n' || taken >= context {
            break;
        }
        end = range.end + i + c.len_utf8();
    }
    text[start..end].trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_orders_and_parses() {
        assert!(Severity::Critical > Severity::High && Severity::Low > Severity::Info);
        assert_eq!("medium".parse::<Severity>(), Ok(Severity::Medium));
        assert!("severe".parse::<Severity>().unwrap_err().contains("severe"));
    }

    #[test]
    fn snippet_stays_on_the_line_and_within_context() {
        let text = "第一行\n前面的文字在线赌博平台后面的文字\n第三行";
        let at = text.find("赌博").unwrap();
        assert_eq!(snippet(text, at..at + 6, 3), "字在线赌博平台后");
        assert_eq!(
            snippet(text, at..at + 6, 100),
            "前面的文字在线赌博平台后面的文字"
        );
    }

    #[test]
    fn snippet_at_the_edges() {
        assert_eq!(snippet("赌博", 0..6, 10), "赌博");
    }
}
