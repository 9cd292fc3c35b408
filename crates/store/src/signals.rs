//! A flag's evidence as the store keeps it: the signals behind one page and category.
//!
//! The scanner reports one finding per page and category whose score passed the threshold,
//! with every contributing signal. Older scanners, and site checks, report one finding per
//! term; [`page_flags`] folds either kind into one flag per category of a page before the
//! store fingerprints it, so the store never depends on which scanner it is fed by.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::fingerprint;
use sitepatrol_core::extract::ZoneKind;
use sitepatrol_core::finding::{Finding, Signal, fold_by_category};

/// Signals kept on one flag. The scanner caps its own lists; this bounds what a fold of many
/// per-term findings (a link farm naming hundreds of listed domains) can add to one row.
pub const MAX_SIGNALS: usize = 100;

/// One piece of evidence behind a flag, as stored (JSON in `flags.signals`) and served.
///
/// Plain strings rather than the scanner's types: rows outlive rule and zone renames, and a
/// flag must still load when its zone is one a later build no longer knows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlagSignal {
    pub rule: String,
    /// The rule's weight in its category; `None` for unscored evidence.
    pub weight: Option<f64>,
    /// What this evidence added to the page's score; `None` for unscored evidence.
    pub contribution: Option<f64>,
    pub zone: Option<String>,
    /// The original text that matched (hostile: escape it).
    pub matched: String,
    pub normalized: String,
    pub snippet: String,
    /// Byte offset of the first occurrence in the zone's original text.
    pub offset: u64,
    /// How many times this match occurs in this zone.
    pub count: u64,
    /// Who saw it where a crawl looked as several visitors (desktop, mobile, a cloaking
    /// probe's spider or search visitor); empty when not recorded. Rows written before this
    /// field read as empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen_by: Vec<String>,
}

impl From<&Signal> for FlagSignal {
    fn from(s: &Signal) -> FlagSignal {
        FlagSignal {
            rule: s.rule.to_string(),
            weight: s.weight.filter(|w| w.is_finite()),
            contribution: s.contribution.filter(|c| c.is_finite()),
            zone: s.zone.map(|z| z.as_str().to_string()),
            matched: s.matched.clone(),
            normalized: s.normalized.clone(),
            snippet: s.snippet.clone(),
            offset: s.offset as u64,
            count: s.count as u64,
            seen_by: s.seen_by.iter().map(|w| w.to_string()).collect(),
        }
    }
}

/// A page's flag in one category, ready to be written: the head quotes the strongest signal.
#[derive(Debug, Clone)]
pub(crate) struct PageFlag {
    pub fingerprint: String,
    pub head: Finding,
    pub score: Option<f64>,
    pub signals: Vec<FlagSignal>,
    pub signals_omitted: u64,
}

impl PageFlag {
    pub fn signals_json(&self) -> serde_json::Result<String> {
        serde_json::to_string(&self.signals)
    }
}

/// The flags of one matched page: its findings folded by category, each fingerprinted by
/// (site, category, URL).
///
/// Every finding is taken to be about `url`, whatever its `target` says: two agents' reports
/// of one URL, or a redirect's final URL, must not split one category into two flags.
pub(crate) fn page_flags(site: &str, url: &str, findings: &[Finding]) -> Vec<PageFlag> {
    let target: Arc<str> = Arc::from(url);
    let findings = findings
        .iter()
        .cloned()
        .map(|mut f| {
            f.target = target.clone();
            f
        })
        .collect();
    fold_by_category(findings)
        .into_iter()
        .map(|head| page_flag(site, url, head))
        .collect()
}

fn page_flag(site: &str, url: &str, mut head: Finding) -> PageFlag {
    let mut signals = distinct_signals(&head.signals);
    let omitted = signals.len().saturating_sub(MAX_SIGNALS);
    signals.truncate(MAX_SIGNALS);
    head.signals = Vec::new();
    PageFlag {
        fingerprint: fingerprint(site, &head.category, url),
        score: head.score.filter(|s| s.is_finite()),
        signals,
        signals_omitted: (head.signals_omitted + omitted) as u64,
        head,
    }
}

/// The signals without repeats: two agents (desktop, mobile) fetching one URL report the same
/// evidence twice, which is one signal, not two (its count is one agent's, not their sum),
/// seen by both.
fn distinct_signals(signals: &[Signal]) -> Vec<FlagSignal> {
    let mut first: HashMap<(Arc<str>, Option<ZoneKind>, &str), usize> =
        HashMap::with_capacity(signals.len());
    let mut out: Vec<FlagSignal> = Vec::with_capacity(signals.len());
    for signal in signals {
        let key = (signal.rule.clone(), signal.zone, signal.normalized.as_str());
        match first.get(&key) {
            Some(&i) => {
                let kept = &mut out[i];
                kept.count = kept.count.max(signal.count as u64);
                for who in &signal.seen_by {
                    if !kept.seen_by.iter().any(|w| **w == **who) {
                        kept.seen_by.push(who.to_string());
                    }
                }
            }
            None => {
                first.insert(key, out.len());
                out.push(FlagSignal::from(signal));
            }
        }
    }
    out
}

/// A LIKE pattern (escape character `\`) that matches the stored signals of flags with a
/// signal of `rule`. Each signal object opens with its rule (the field order of
/// [`FlagSignal`]), so `{"rule":<rule as JSON>,` names it exactly: no other rule that merely
/// starts the same, and `_` or `%` in an id are not wildcards. Rule ids are lower case, so
/// SQLite's case-blind LIKE and PostgreSQL's case-sensitive one agree.
pub(crate) fn rule_pattern(rule: &str) -> String {
    let json = serde_json::to_string(rule).unwrap_or_default();
    let mut pattern = String::with_capacity(json.len() + 16);
    pattern.push_str("%{\"rule\":");
    for c in json.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push_str(",%");
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;
    use sitepatrol_core::extract::ZoneKind;
    use sitepatrol_core::finding::Severity;

    fn finding(rule: &str, category: &str, severity: Severity, term: &str) -> Finding {
        Finding {
            record_type: Finding::RECORD_TYPE,
            rule: Arc::from(rule),
            category: Arc::from(category),
            clause: Arc::from("§2 (7)"),
            severity,
            description: Arc::from("d"),
            target: Arc::from("http://elsewhere.test/"),
            zone: Some(ZoneKind::Text),
            matched: term.into(),
            normalized: term.into(),
            snippet: format!("…{term}…"),
            offset: 0,
            count: 1,
            score: None,
            signals: Vec::new(),
            signals_omitted: 0,
        }
    }

    #[test]
    fn per_term_findings_fold_into_one_flag_per_category() {
        let findings = [
            finding("g.casino", "gambling", Severity::High, "百家乐"),
            finding("p.av", "pornography", Severity::Critical, "AV"),
            finding("g.lottery", "gambling", Severity::Critical, "六合彩"),
        ];
        let flags = page_flags("s", "http://a.test/", &findings);
        assert_eq!(flags.len(), 2);
        let g = flags
            .iter()
            .find(|f| &*f.head.category == "gambling")
            .unwrap();
        assert_eq!(&*g.head.rule, "g.lottery", "the most severe is the head");
        assert_eq!(g.signals.len(), 2);
        assert_eq!(g.signals[0].matched, "六合彩");
        assert_eq!(
            g.fingerprint,
            fingerprint("s", "gambling", "http://a.test/")
        );
        assert_eq!(g.score, None);
    }

    #[test]
    fn repeated_evidence_is_one_signal_and_long_lists_are_capped() {
        let one = finding("g.casino", "gambling", Severity::High, "百家乐");
        let flags = page_flags("s", "u", &[one.clone(), one]);
        assert_eq!((flags.len(), flags[0].signals.len()), (1, 1));
        let many: Vec<Finding> = (0..MAX_SIGNALS + 7)
            .map(|i| {
                finding(
                    "g.domain",
                    "gambling",
                    Severity::High,
                    &format!("d{i}.test"),
                )
            })
            .collect();
        let flag = &page_flags("s", "u", &many)[0];
        assert_eq!(flag.signals.len(), MAX_SIGNALS);
        assert_eq!(flag.signals_omitted, 7);
    }

    #[test]
    fn rule_patterns_name_one_rule_exactly() {
        assert_eq!(
            rule_pattern("gambling.bet"),
            "%{\"rule\":\"gambling.bet\",%"
        );
        assert_eq!(rule_pattern("a_b%"), "%{\"rule\":\"a\\_b\\%\",%");
        let signal = FlagSignal::from(&finding("a_b", "x", Severity::Low, "t").own_signal());
        let json = serde_json::to_string(&[signal]).unwrap();
        assert!(json.starts_with("[{\"rule\":\"a_b\","), "{json}");
    }

    #[test]
    fn scored_findings_keep_their_score_and_weights() {
        let mut f = finding("g.casino", "gambling", Severity::High, "百家乐");
        f.score = Some(1.4);
        let mut s = f.own_signal();
        s.weight = Some(0.8);
        s.contribution = Some(f64::NAN);
        f.signals = vec![s];
        let flag = &page_flags("s", "u", &[f])[0];
        assert_eq!(flag.score, Some(1.4));
        assert_eq!(flag.signals[0].weight, Some(0.8));
        assert_eq!(
            flag.signals[0].contribution, None,
            "NaN is no number to store"
        );
    }
}
