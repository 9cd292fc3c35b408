//! The case report of a period: what the compliance desk did and what patrolling covered.
//!
//! Figures are counted from the cases' own event log (`case_events`), not from the cases'
//! current state, so that a report of last month says what happened last month: a case opened
//! in October and confirmed in November counts as confirmed in November, and a case that was
//! open on 30 November counts as open at the end of November even if it was rectified since.
//!
//! For a period `[from, to)` and each category:
//!
//! - `opened`: cases created in the period (their first state event, none → open). A dismissed
//!   case a reviewer reopens is not opened again.
//! - `confirmed`, `rectified`, `resolved`, `dismissed`, `overdue`: cases with at least one state
//!   event into that state in the period. A case counts once per figure however often it moved
//!   there (confirmed, overdue, confirmed again with a new deadline is one confirmed case), and
//!   in every figure it moved into (confirmed and rectified in one period counts in both).
//! - `open_at_end`: cases in an active state (open, confirmed, overdue) at `to`, that is by
//!   their last state event before `to`.
//! - `overdue_at_end`: of those, cases overdue at `to`: found overdue by a crawl, or confirmed
//!   with the deadline at or before `to` (as the queue's overdue filter counts them; the
//!   deadline is the case's current one, which a later re-confirmation may have moved).
//! - `median_seconds_to_confirm`: over cases whose *first* confirmation is in the period, the
//!   median of (first confirmation − creation). A re-confirmation does not enter it again.
//! - `median_seconds_to_rectify`: over cases rectified in the period, the median of
//!   (rectification − first confirmation): how long the customer took once told.
//!
//! Medians are of the exact durations (the mean of the two middle ones for an even count) and
//! `None` when no case qualifies. The total row applies the same definitions to all categories
//! at once, so its medians are over every case, not a median of the categories' medians.
//!
//! Beside the cases, `sites_patrolled` counts the distinct sites with a crawl run that finished
//! in the period (whatever its outcome), and `pages_scanned` sums `pages_scanned` of those runs'
//! stats. With a customer, only that customer's sites (by the sites' current customer) count.
//!
//! The rows are read by the backend ([`crate::Store::case_report`]); the arithmetic is here, so
//! every backend reports the same figures for the same history.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::Timestamp;
use crate::cases::{CaseId, CaseState};

/// What a report covers: the period `[from, to)`, and one customer or the whole fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportQuery {
    pub from: Timestamp,
    pub to: Timestamp,
    /// The customer id as in the inventory; `None` is the whole fleet.
    pub customer: Option<String>,
}

/// The figures of one category, or of all of them (the total).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CaseFigures {
    pub opened: u64,
    pub confirmed: u64,
    pub rectified: u64,
    pub resolved: u64,
    pub dismissed: u64,
    pub overdue: u64,
    pub open_at_end: u64,
    pub overdue_at_end: u64,
    pub median_seconds_to_confirm: Option<f64>,
    pub median_seconds_to_rectify: Option<f64>,
}

impl CaseFigures {
    fn is_empty(&self) -> bool {
        *self == CaseFigures::default()
    }
}

/// One category's row of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CategoryFigures {
    pub category: String,
    #[serde(flatten)]
    pub figures: CaseFigures,
}

/// The report of a period; see the module documentation for what each figure counts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseReport {
    pub from: Timestamp,
    pub to: Timestamp,
    pub customer: Option<String>,
    /// Categories with any figure, by category id.
    pub categories: Vec<CategoryFigures>,
    pub total: CaseFigures,
    pub sites_patrolled: u64,
    pub pages_scanned: u64,
}

/// One state event of a case, as the backend reads it: every state event before `to` of the
/// cases that may figure in the report, ordered by case, then time, then event id.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportEvent {
    pub case_id: CaseId,
    pub category: String,
    pub created_at: Timestamp,
    pub deadline_at: Option<Timestamp>,
    pub at: Timestamp,
    pub from_state: Option<CaseState>,
    pub to_state: CaseState,
}

/// Builds a [`CaseReport`] from the rows a backend reads: [`ReportBuilder::event`] for each
/// state event (in the order [`ReportEvent`] names), [`ReportBuilder::run`] for each crawl
/// run finished in the period.
pub struct ReportBuilder {
    query: ReportQuery,
    categories: BTreeMap<String, Tally>,
    current: Option<CaseTrack>,
    sites: BTreeSet<String>,
    pages_scanned: u64,
}

/// Counts and durations of one category (or of all).
#[derive(Default)]
struct Tally {
    figures: CaseFigures,
    to_confirm: Vec<i64>,
    to_rectify: Vec<i64>,
}

/// One case's events so far.
struct CaseTrack {
    id: CaseId,
    category: String,
    created_at: Timestamp,
    deadline_at: Option<Timestamp>,
    state: Option<CaseState>,
    first_confirm: Option<Timestamp>,
    /// States it moved into in the period.
    entered: BTreeSet<CaseState>,
    opened: bool,
    to_confirm: Option<i64>,
    to_rectify: Option<i64>,
}

impl ReportBuilder {
    pub fn new(query: ReportQuery) -> ReportBuilder {
        ReportBuilder {
            query,
            categories: BTreeMap::new(),
            current: None,
            sites: BTreeSet::new(),
            pages_scanned: 0,
        }
    }

    pub fn event(&mut self, e: ReportEvent) {
        if self.current.as_ref().is_some_and(|c| c.id != e.case_id) {
            self.finish_case();
        }
        let case = self.current.get_or_insert_with(|| CaseTrack {
            id: e.case_id,
            category: e.category.clone(),
            created_at: e.created_at,
            deadline_at: e.deadline_at,
            state: None,
            first_confirm: None,
            entered: BTreeSet::new(),
            opened: false,
            to_confirm: None,
            to_rectify: None,
        });
        // Events at or after `to` are not the backend's to send; ignored if sent anyway.
        if e.at >= self.query.to {
            return;
        }
        let in_period = e.at >= self.query.from;
        let first_confirm = e.to_state == CaseState::Confirmed && case.first_confirm.is_none();
        if first_confirm {
            case.first_confirm = Some(e.at);
        }
        if in_period {
            case.entered.insert(e.to_state);
            if e.from_state.is_none() && e.to_state == CaseState::Open {
                case.opened = true;
            }
            if first_confirm {
                case.to_confirm = Some(e.at - case.created_at);
            }
            if e.to_state == CaseState::Rectified {
                case.to_rectify = case.first_confirm.map(|c| e.at - c);
            }
        }
        case.state = Some(e.to_state);
    }

    /// A crawl run of `site` that finished in the period, with its stats' `pages_scanned`.
    pub fn run(&mut self, site: &str, pages_scanned: u64) {
        self.sites.insert(site.to_string());
        self.pages_scanned = self.pages_scanned.saturating_add(pages_scanned);
    }

    fn finish_case(&mut self) {
        let Some(case) = self.current.take() else {
            return;
        };
        let to = self.query.to;
        let tally = self.categories.entry(case.category).or_default();
        let f = &mut tally.figures;
        f.opened += u64::from(case.opened);
        for state in &case.entered {
            match state {
                CaseState::Confirmed => f.confirmed += 1,
                CaseState::Rectified => f.rectified += 1,
                CaseState::Resolved => f.resolved += 1,
                CaseState::Dismissed => f.dismissed += 1,
                CaseState::Overdue => f.overdue += 1,
                CaseState::Open => {}
            }
        }
        if let Some(state) = case.state.filter(|s| s.is_active()) {
            f.open_at_end += 1;
            let past_deadline = case.deadline_at.is_some_and(|d| d <= to);
            if state == CaseState::Overdue || (state == CaseState::Confirmed && past_deadline) {
                f.overdue_at_end += 1;
            }
        }
        tally.to_confirm.extend(case.to_confirm);
        tally.to_rectify.extend(case.to_rectify);
    }

    pub fn finish(mut self) -> CaseReport {
        self.finish_case();
        let mut all = Tally::default();
        let mut categories = Vec::new();
        for (category, mut tally) in self.categories {
            tally.figures.median_seconds_to_confirm = median(&mut tally.to_confirm.clone());
            tally.figures.median_seconds_to_rectify = median(&mut tally.to_rectify.clone());
            let (f, t) = (&tally.figures, &mut all.figures);
            t.opened += f.opened;
            t.confirmed += f.confirmed;
            t.rectified += f.rectified;
            t.resolved += f.resolved;
            t.dismissed += f.dismissed;
            t.overdue += f.overdue;
            t.open_at_end += f.open_at_end;
            t.overdue_at_end += f.overdue_at_end;
            all.to_confirm.append(&mut tally.to_confirm);
            all.to_rectify.append(&mut tally.to_rectify);
            if !tally.figures.is_empty() {
                categories.push(CategoryFigures {
                    category,
                    figures: tally.figures,
                });
            }
        }
        all.figures.median_seconds_to_confirm = median(&mut all.to_confirm);
        all.figures.median_seconds_to_rectify = median(&mut all.to_rectify);
        CaseReport {
            from: self.query.from,
            to: self.query.to,
            customer: self.query.customer,
            categories,
            total: all.figures,
            sites_patrolled: self.sites.len() as u64,
            pages_scanned: self.pages_scanned,
        }
    }
}

/// The median of `values` (the mean of the middle two for an even count); `None` when empty.
fn median(values: &mut [i64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid] as f64
    } else {
        // Halved before adding: two durations near i64::MAX do not overflow.
        values[mid - 1] as f64 / 2.0 + values[mid] as f64 / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [7]), Some(7.0));
        assert_eq!(median(&mut [9, 1, 4]), Some(4.0));
        assert_eq!(median(&mut [10, 1, 4, 3]), Some(3.5));
    }

    fn ev(case: CaseId, at: Timestamp, from: Option<CaseState>, to: CaseState) -> ReportEvent {
        ReportEvent {
            case_id: case,
            category: "gambling".into(),
            created_at: 100,
            deadline_at: Some(500),
            at,
            from_state: from,
            to_state: to,
        }
    }

    #[test]
    fn a_case_counts_once_per_state_it_entered_in_the_period() {
        use CaseState::*;
        let mut b = ReportBuilder::new(ReportQuery {
            from: 200,
            to: 1_000,
            customer: None,
        });
        // Opened before the period, confirmed, overdue, confirmed again, all in it.
        b.event(ev(1, 100, None, Open));
        b.event(ev(1, 300, Some(Open), Confirmed));
        b.event(ev(1, 600, Some(Confirmed), Overdue));
        b.event(ev(1, 700, Some(Overdue), Confirmed));
        // An event past the period changes nothing.
        b.event(ev(1, 1_000, Some(Confirmed), Rectified));
        let r = b.finish();
        let f = &r.categories[0].figures;
        assert_eq!(
            (f.opened, f.confirmed, f.overdue, f.rectified),
            (0, 1, 1, 0)
        );
        assert_eq!((f.open_at_end, f.overdue_at_end), (1, 1));
        assert_eq!(f.median_seconds_to_confirm, Some(200.0));
        assert_eq!(r.total, *f);
    }
}
