//! Cases: what reviewers work.
//!
//! A flag is one page's standing in one category; a case is one site's problem in one
//! category. Every flag in an active state belongs to a case, and a site has at most one
//! active case per category, so the block an attacker injects into a template shared by 40
//! pages is 40 flags (the evidence, one per page) and one case (the work item). Reviewers
//! confirm, dismiss, assign and comment on the case; the action applies to its flags and is
//! audited once, in the case's own event log.
//!
//! ```text
//!  (flag of a site and category with no active case) ──crawl──▶ open
//!  open, overdue      ──confirm (sets the deadline)────────────▶ confirmed
//!  open, confirmed, overdue ──dismiss + reason─────────────────▶ dismissed
//!  dismissed          ──reviewer reopen────────────────────────▶ open
//!  confirmed          ──crawl at or past the deadline finds it─▶ overdue   (case.overdue)
//!  confirmed, overdue ──crawl finds none of its pages──────────▶ rectified
//!  open               ──crawl finds none of its pages──────────▶ resolved
//! ```
//!
//! A flag found after a dismissal joins the dismissed case (and is dismissed with it) unless
//! its score exceeds what the reviewer dismissed by [`crate::StoreConfig::case_rescore_margin`]:
//! then the site's problem has grown and a new case opens.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{Flag, FlagSignal, Timestamp};
use sitepatrol_core::finding::Severity;

/// A case's row id.
pub type CaseId = i64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaseState {
    /// Found, not yet reviewed.
    Open,
    /// A reviewer confirmed it: takedown requested, the deadline runs.
    Confirmed,
    /// The deadline passed and a crawl still found it.
    Overdue,
    /// Confirmed, then gone: the customer removed it.
    Rectified,
    /// Gone before anyone reviewed it.
    Resolved,
    /// A false positive.
    Dismissed,
}

impl CaseState {
    pub const ALL: [CaseState; 6] = [
        CaseState::Open,
        CaseState::Confirmed,
        CaseState::Overdue,
        CaseState::Rectified,
        CaseState::Resolved,
        CaseState::Dismissed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CaseState::Open => "open",
            CaseState::Confirmed => "confirmed",
            CaseState::Overdue => "overdue",
            CaseState::Rectified => "rectified",
            CaseState::Resolved => "resolved",
            CaseState::Dismissed => "dismissed",
        }
    }

    /// States in which the case gathers the site's new flags of its category.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            CaseState::Open | CaseState::Confirmed | CaseState::Overdue
        )
    }
}

impl fmt::Display for CaseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CaseState {
    type Err = String;

    fn from_str(s: &str) -> Result<CaseState, String> {
        sitepatrol_core::named::parse_named(&CaseState::ALL, CaseState::as_str, "case state", s)
            .map_err(|e| e.to_string())
    }
}

/// A case as stored, with the figures the queue sorts on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Case {
    pub id: CaseId,
    pub site: String,
    pub customer: String,
    pub category: String,
    /// The clause of the responsibility letter its category breaks, as the rules cite it.
    pub clause: String,
    pub state: CaseState,
    /// The strongest severity among its flags (active ones while there are any).
    pub severity: Severity,
    /// The highest page score among its flags, when the flags are scored.
    pub score: Option<f64>,
    /// Pages on which it is present (its flags in an active state); a closed case keeps
    /// the count it had when it closed.
    pub pages: u64,
    /// Every flag it ever gathered.
    pub flags: u64,
    pub assignee: Option<String>,
    /// The rectification deadline, set by confirm.
    pub deadline_at: Option<Timestamp>,
    /// When the recrawl at the deadline was asked for.
    pub recheck_at: Option<Timestamp>,
    /// The score the dismissal covers; a later flag must exceed it by the margin to reopen.
    pub dismissed_score: Option<f64>,
    /// Changes with every action and crawl update: pass it back to act only on what was seen.
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub first_seen_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub confirmed_at: Option<Timestamp>,
    pub closed_at: Option<Timestamp>,
}

impl Case {
    /// Confirmed with its deadline passed at `now`, or already found overdue.
    pub fn is_overdue(&self, now: Timestamp) -> bool {
        self.state == CaseState::Overdue
            || (self.state == CaseState::Confirmed && self.deadline_at.is_some_and(|d| d <= now))
    }
}

/// A case with its flags and history, for the case page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseDetail {
    pub case: Case,
    /// Its flags, active ones first, then by score.
    pub flags: Vec<Flag>,
    /// The strongest signals over its active flags, strongest first, with the page each was
    /// seen on.
    pub top_signals: Vec<CaseSignal>,
    pub events: Vec<CaseEvent>,
}

/// A signal of one of a case's flags.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseSignal {
    pub flag_id: i64,
    pub url: String,
    #[serde(flatten)]
    pub signal: FlagSignal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaseEventKind {
    State,
    Assign,
    Comment,
    /// A crawl added a page (flag) to the case.
    Join,
}

impl CaseEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseEventKind::State => "state",
            CaseEventKind::Assign => "assign",
            CaseEventKind::Comment => "comment",
            CaseEventKind::Join => "join",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<CaseEventKind> {
        [
            CaseEventKind::State,
            CaseEventKind::Assign,
            CaseEventKind::Comment,
            CaseEventKind::Join,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One row of a case's audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseEvent {
    pub id: i64,
    pub case_id: CaseId,
    pub at: Timestamp,
    /// [`crate::CRAWLER_ACTOR`] or a reviewer's token name.
    pub actor: String,
    pub kind: CaseEventKind,
    pub from_state: Option<CaseState>,
    pub to_state: Option<CaseState>,
    /// Why, the comment, the assignee, or the page that joined.
    pub reason: Option<String>,
    pub run_key: Option<String>,
    /// How many of the case's flags the event changed.
    pub flags: u64,
}

/// A reviewer's action on a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseAction {
    /// Takedown requested: open or overdue → confirmed, its active flags confirmed, and the
    /// customer given until `deadline_at`.
    Confirm {
        reason: Option<String>,
        deadline_at: Timestamp,
    },
    /// A false positive: open, confirmed or overdue → dismissed, its active flags dismissed.
    Dismiss {
        reason: String,
    },
    /// dismissed → open, its dismissed flags reopened.
    Reopen {
        reason: Option<String>,
    },
    /// Sets or clears the reviewer of the case and of its flags.
    Assign {
        assignee: Option<String>,
    },
    Comment {
        text: String,
    },
}

impl CaseAction {
    pub fn name(&self) -> &'static str {
        match self {
            CaseAction::Confirm { .. } => "confirm",
            CaseAction::Dismiss { .. } => "dismiss",
            CaseAction::Reopen { .. } => "reopen",
            CaseAction::Assign { .. } => "assign",
            CaseAction::Comment { .. } => "comment",
        }
    }
}

/// Filters of the case queue; empty vectors and `None` mean "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseFilter {
    pub states: Vec<CaseState>,
    pub categories: Vec<String>,
    pub severities: Vec<Severity>,
    pub site: Option<String>,
    pub customer: Option<String>,
    pub assignee: Option<String>,
    /// Only cases overdue at this time (overdue, or confirmed with the deadline passed).
    pub overdue_at: Option<Timestamp>,
    /// At most this many per page (clamped to 1..=1000; 0 means 100).
    pub limit: usize,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Filters of the case audit log, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseEventFilter {
    pub case: Option<CaseId>,
    pub actor: Option<String>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    /// Events with an id below this one (the last id of the previous page).
    pub before_id: Option<i64>,
    /// 0 means 100; at most 1000.
    pub limit: usize,
}

/// One page of the queue: most severe first, then most pages, then oldest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CasePage {
    pub cases: Vec<Case>,
    pub next_cursor: Option<String>,
}

/// One cell of the `sitepatrol_cases{state,category,severity}` gauge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseCount {
    pub state: CaseState,
    pub category: String,
    pub severity: Severity,
    pub count: u64,
}

/// What the crawl's case step did, for the run's outcome and the daemon's log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseOutcome {
    pub opened: Vec<CaseId>,
    pub joined: u64,
    pub overdue: Vec<CaseId>,
    pub rectified: Vec<CaseId>,
    pub resolved: Vec<CaseId>,
    /// Flags dismissed on arrival because a dismissed case covers them.
    pub covered_by_dismissal: u64,
}
