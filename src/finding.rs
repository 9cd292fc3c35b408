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
        Severity::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| {
                format!("unknown severity `{s}` (expected info, low, medium, high or critical)")
            })
    }
}

/// One rule's hit on one document, aggregated over identical matches in the same zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
}

impl Finding {
    pub const RECORD_TYPE: &'static str = "finding";
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
