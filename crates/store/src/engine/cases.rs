//! Cases: the crawl's case step, reviewers' case actions, and the queue.

use std::path::Path;

use super::{Ctx, clamp_limit, flag_from_row, severity_from_rank};
use crate::cases::{
    Case, CaseAction, CaseCount, CaseDetail, CaseEvent, CaseEventFilter, CaseEventKind, CaseFilter,
    CaseId, CaseOutcome, CasePage, CaseSignal, CaseState,
};
use crate::db::{Db, DbError, DbResult, Row, Val, Where, vals};
use crate::outbox::{WebhookEvent, WebhookTarget};
use crate::{CRAWLER_ACTOR, Flag, FlagState, Result, StoreError, Timestamp, sql};

pub(super) fn case_from_row(row: &Row) -> DbResult<Case> {
    Ok(Case {
        id: row.get(0)?,
        site: row.get(1)?,
        customer: row.get(2)?,
        category: row.get(3)?,
        clause: row.get(4)?,
        state: row.parse(5)?,
        severity: row.parse(6)?,
        score: row.get(7)?,
        pages: row.count(8)?,
        flags: row.count(9)?,
        assignee: row.get(10)?,
        deadline_at: row.get(11)?,
        recheck_at: row.get(12)?,
        dismissed_score: row.get(13)?,
        version: row.get(14)?,
        created_at: row.get(15)?,
        updated_at: row.get(16)?,
        first_seen_at: row.get(17)?,
        last_seen_at: row.get(18)?,
        confirmed_at: row.get(19)?,
        closed_at: row.get(20)?,
    })
}

fn opt_case_state(row: &Row, idx: usize) -> DbResult<Option<CaseState>> {
    match row.get::<Option<String>>(idx)? {
        None => Ok(None),
        Some(_) => row.parse(idx).map(Some),
    }
}

fn case_event_from_row(row: &Row) -> DbResult<CaseEvent> {
    let kind: String = row.get(4)?;
    Ok(CaseEvent {
        id: row.get(0)?,
        case_id: row.get(1)?,
        at: row.get(2)?,
        actor: row.get(3)?,
        kind: CaseEventKind::parse(&kind).ok_or_else(|| DbError::Value {
            idx: 4,
            message: format!("unknown case event `{kind}`"),
        })?,
        from_state: opt_case_state(row, 5)?,
        to_state: opt_case_state(row, 6)?,
        reason: row.get(7)?,
        run_key: row.get(8)?,
        flags: row.count(9)?,
    })
}

pub(super) fn load_case(conn: &dyn Db, path: &Path, id: CaseId) -> Result<Option<Case>> {
    let q = format!(
        "SELECT {} FROM {} WHERE c.id = ?1",
        sql::CASE_COLUMNS,
        sql::CASE_FROM
    );
    conn.row(&q, vals![id], case_from_row)
        .ctx(path, || format!("reading case {id}"))
}

/// The case, its flags, its strongest signals and its history.
pub(super) fn case_detail(conn: &dyn Db, path: &Path, id: CaseId) -> Result<Option<CaseDetail>> {
    let Some(case) = load_case(conn, path, id)? else {
        return Ok(None);
    };
    let q = format!(
        "SELECT {} FROM {} WHERE f.case_id = ?1{}",
        sql::FLAG_COLUMNS,
        sql::FLAG_FROM,
        sql::FLAGS_OF_CASE_ORDER
    );
    let flags: Vec<Flag> = conn
        .rows(&q, vals![id], flag_from_row)
        .ctx(path, || format!("reading the flags of case {id}"))?;
    let events = conn
        .rows(sql::CASE_EVENTS, vals![id], case_event_from_row)
        .ctx(path, || format!("reading the events of case {id}"))?;
    let top_signals = top_signals(&flags, 10);
    Ok(Some(CaseDetail {
        case,
        flags,
        top_signals,
        events,
    }))
}

/// The strongest signals over the case's active flags (all flags when none is active), one
/// per rule: the same injected block on 40 pages is one line of evidence, not 40.
fn top_signals(flags: &[Flag], limit: usize) -> Vec<CaseSignal> {
    let any_active = flags.iter().any(|f| f.state.is_active());
    let mut all: Vec<CaseSignal> = flags
        .iter()
        .filter(|f| !any_active || f.state.is_active())
        .flat_map(|f| {
            f.signals.iter().map(|s| CaseSignal {
                flag_id: f.id,
                url: f.url.clone(),
                signal: s.clone(),
            })
        })
        .collect();
    all.sort_by(|a, b| {
        let strength = |s: &CaseSignal| s.signal.contribution.or(s.signal.weight).unwrap_or(0.0);
        strength(b)
            .total_cmp(&strength(a))
            .then(a.flag_id.cmp(&b.flag_id))
    });
    let mut seen = std::collections::HashSet::new();
    all.retain(|s| seen.insert(s.signal.rule.clone()));
    all.truncate(limit);
    all
}

/// The queue: most severe first, then the most pages, then the oldest, then the id, which
/// makes the order total and the cursor exact.
pub(super) fn list_cases(conn: &dyn Db, path: &Path, filter: &CaseFilter) -> Result<CasePage> {
    let mut w = case_filter_where(filter);
    if let Some(cursor) = &filter.cursor {
        after_case_cursor(&mut w, cursor)?;
    }
    let limit = clamp_limit(filter.limit);
    let q = format!(
        "SELECT {} FROM {}{} ORDER BY c.severity_rank DESC, c.pages DESC, c.created_at, c.id
        LIMIT {}",
        sql::CASE_COLUMNS,
        sql::CASE_FROM,
        w.sql(),
        limit + 1
    );
    let mut cases: Vec<Case> = conn
        .rows(&q, &w.params, case_from_row)
        .ctx(path, || "listing cases".to_string())?;
    let next_cursor = if cases.len() > limit {
        cases.truncate(limit);
        cases.last().map(case_cursor)
    } else {
        None
    };
    Ok(CasePage { cases, next_cursor })
}

fn case_cursor(c: &Case) -> String {
    format!(
        "c{}.{}.{}.{}",
        super::severity_rank(c.severity),
        c.pages,
        c.created_at,
        c.id
    )
}

fn after_case_cursor(w: &mut Where, cursor: &str) -> Result<()> {
    let bad = || StoreError::BadCursor(cursor.to_string());
    let parts: Vec<i64> = cursor
        .strip_prefix('c')
        .ok_or_else(bad)?
        .split('.')
        .map(|p| p.parse::<i64>().map_err(|_| bad()))
        .collect::<Result<_>>()?;
    let [rank, pages, created, id] = parts[..] else {
        return Err(bad());
    };
    let v = Val::Int;
    w.add(
        "(c.severity_rank < {} OR (c.severity_rank = {} AND (c.pages < {} OR (c.pages = {}
            AND (c.created_at > {} OR (c.created_at = {} AND c.id > {}))))))",
        vec![
            v(rank),
            v(rank),
            v(pages),
            v(pages),
            v(created),
            v(created),
            v(id),
        ],
    );
    Ok(())
}

fn case_filter_where(filter: &CaseFilter) -> Where {
    let mut w = Where::default();
    let text = |s: &str| Val::Text(s.to_string());
    w.any_of(
        "c.state",
        filter.states.iter().map(|s| text(s.as_str())).collect(),
    );
    w.any_of(
        "c.category",
        filter.categories.iter().map(|c| text(c)).collect(),
    );
    w.any_of(
        "c.severity",
        filter.severities.iter().map(|s| text(s.as_str())).collect(),
    );
    if let Some(site) = &filter.site {
        w.add("c.site_id = {}", vec![text(site)]);
    }
    if let Some(customer) = &filter.customer {
        w.add("s.customer = {}", vec![text(customer)]);
    }
    if let Some(assignee) = &filter.assignee {
        w.add("c.assignee = {}", vec![text(assignee)]);
    }
    if let Some(now) = filter.overdue_at {
        w.add(
            "(c.state = 'overdue' OR (c.state = 'confirmed' AND c.deadline_at <= {}))",
            vec![Val::Int(now)],
        );
    }
    w
}

pub(super) fn case_counts(conn: &dyn Db, path: &Path) -> Result<Vec<CaseCount>> {
    conn.rows(sql::CASE_COUNTS, &[], |r| {
        Ok(CaseCount {
            state: r.parse(0)?,
            category: r.get(1)?,
            severity: r.parse(2)?,
            count: r.count(3)?,
        })
    })
    .ctx(path, || "counting cases".to_string())
}

pub(super) fn case_events(
    conn: &dyn Db,
    path: &Path,
    filter: &CaseEventFilter,
) -> Result<Vec<CaseEvent>> {
    let (q, w) = super::audit_query(
        "case_events",
        sql::CASE_EVENT_COLUMNS,
        &super::AuditFilter {
            owner: ("case_id", filter.case),
            actor: filter.actor.as_deref(),
            from: filter.from,
            to: filter.to,
            before_id: filter.before_id,
            limit: filter.limit,
        },
    );
    conn.rows(&q, &w.params, case_event_from_row)
        .ctx(path, || "reading the case audit log".into())
}

/// Confirmed cases past their deadline whose recheck was not asked for yet, marked as asked
/// at `now` in the same transaction, so that each deadline causes one recrawl.
pub(super) fn claim_rechecks(
    tx: &dyn Db,
    path: &Path,
    now: Timestamp,
    limit: usize,
) -> Result<Vec<Case>> {
    let ids: Vec<CaseId> = tx
        .rows(
            sql::CASES_DUE_FOR_RECHECK,
            vals![now, clamp_limit(limit)],
            |r| r.get(0),
        )
        .ctx(path, || "reading the cases due for a recheck".to_string())?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        tx.execute(sql::SET_CASE_RECHECK, vals![id, now])
            .ctx(path, || format!("marking the recheck of case {id}"))?;
        if let Some(case) = load_case(tx, path, id)? {
            out.push(case);
        }
    }
    Ok(out)
}

/// The crawl's case step for one site, in the crawl's transaction: the site's active flags
/// that no active case holds join one (or open one), the figures of its active cases are
/// brought up to date, cases with no page left close, and confirmed cases a crawl found past
/// their deadline become overdue.
pub(crate) struct CaseSync<'a> {
    pub tx: &'a dyn Db,
    pub path: &'a Path,
    pub site: &'a str,
    pub at: Timestamp,
    pub run_key: Option<&'a str>,
    /// The crawl saw the site (completed or budget-cut): only then can it prove a case is
    /// still there at the deadline.
    pub saw_site: bool,
    pub margin: f64,
    pub targets: &'a [WebhookTarget],
}

struct Homeless {
    id: i64,
    category: String,
    clause: String,
    severity: String,
    score: Option<f64>,
    case_id: Option<CaseId>,
    url: String,
}

impl CaseSync<'_> {
    pub fn run(&self) -> Result<CaseOutcome> {
        let mut out = CaseOutcome::default();
        for flag in self.homeless_flags()? {
            self.place(flag, &mut out)?;
        }
        let active: Vec<CaseId> = self
            .tx
            .rows(sql::ACTIVE_CASES_OF_SITE, vals![self.site], |r| r.get(0))
            .ctx(self.path, || self.ctx("reading the active cases"))?;
        for id in active {
            self.settle(id, &mut out)?;
        }
        Ok(out)
    }

    fn ctx(&self, what: &str) -> String {
        match self.run_key {
            Some(run) => format!("{what} of site `{}` in crawl run `{run}`", self.site),
            None => format!("{what} of site `{}`", self.site),
        }
    }

    fn homeless_flags(&self) -> Result<Vec<Homeless>> {
        self.tx
            .rows(sql::FLAGS_WITHOUT_ACTIVE_CASE, vals![self.site], |r| {
                Ok(Homeless {
                    id: r.get(0)?,
                    category: r.get(1)?,
                    clause: r.get(2)?,
                    severity: r.get(3)?,
                    score: r.get(4)?,
                    case_id: r.get(5)?,
                    url: r.get(6)?,
                })
            })
            .ctx(self.path, || self.ctx("reading the flags without a case"))
    }

    /// Into the category's active case; else covered by its latest dismissal (unless the
    /// score rose past it by the margin, or the reviewer reopened this very flag); else a new
    /// case.
    fn place(&self, flag: Homeless, out: &mut CaseOutcome) -> Result<()> {
        let active: Option<CaseId> = self
            .tx
            .row(sql::ACTIVE_CASE_OF, vals![self.site, flag.category], |r| {
                r.get(0)
            })
            .ctx(self.path, || self.ctx("looking up the active case"))?;
        if let Some(case) = active {
            self.join(flag.id, case, &flag.url, CaseEventKind::Join, None)?;
            out.joined += 1;
            return Ok(());
        }
        let dismissed: Option<(CaseId, Option<f64>)> = self
            .tx
            .row(
                sql::LATEST_DISMISSED_CASE,
                vals![self.site, flag.category],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .ctx(self.path, || self.ctx("looking up the dismissed case"))?;
        if let Some((case, covered)) = dismissed
            && flag.case_id != Some(case)
            && flag.score.unwrap_or(0.0) <= covered.unwrap_or(0.0) + self.margin
        {
            self.tx
                .execute(sql::COVER_FLAG, vals![flag.id, case, self.at])
                .ctx(self.path, || self.ctx("dismissing a covered flag"))?;
            super::event(
                self.tx,
                self.path,
                flag.id,
                self.at,
                Some(FlagState::Open),
                FlagState::Dismissed,
                &format!("covered by dismissed case {case}"),
                self.run_key.unwrap_or(""),
            )?;
            out.covered_by_dismissal += 1;
            return Ok(());
        }
        let severity: sitepatrol_core::finding::Severity =
            flag.severity.parse().map_err(|_| StoreError::Corrupt {
                what: "severity",
                value: flag.severity.clone(),
            })?;
        let case: CaseId = self
            .tx
            .one(
                sql::INSERT_CASE,
                vals![
                    self.site,
                    flag.category,
                    flag.clause,
                    severity.as_str(),
                    super::severity_rank(severity),
                    flag.score,
                    self.at
                ],
                |r| r.get(0),
            )
            .ctx(self.path, || {
                self.ctx(&format!("opening a {} case", flag.category))
            })?;
        self.join(flag.id, case, &flag.url, CaseEventKind::State, None)?;
        out.opened.push(case);
        Ok(())
    }

    fn join(
        &self,
        flag: i64,
        case: CaseId,
        url: &str,
        kind: CaseEventKind,
        from: Option<CaseState>,
    ) -> Result<()> {
        self.tx
            .execute(sql::SET_FLAG_CASE, vals![flag, case])
            .ctx(self.path, || {
                self.ctx(&format!("adding a page to case {case}"))
            })?;
        let (verb, to) = match kind {
            CaseEventKind::State => ("found on", Some(CaseState::Open)),
            _ => ("also on", None),
        };
        case_event(
            self.tx,
            self.path,
            &EventRow {
                case,
                at: self.at,
                actor: CRAWLER_ACTOR,
                kind,
                from,
                to,
                reason: Some(&format!("{verb} {url}")),
                run_key: self.run_key,
                flags: 1,
            },
        )?;
        Ok(())
    }

    /// Brings an active case's figures up to date, then closes it if no page is left, or
    /// marks it overdue if the deadline passed with pages still there.
    fn settle(&self, id: CaseId, out: &mut CaseOutcome) -> Result<()> {
        let figures = self
            .tx
            .one(sql::CASE_FIGURES, vals![id], |r| {
                Ok(Figures {
                    pages: r.get(0)?,
                    rank: r.get(1)?,
                    score: r.get(2)?,
                    first: r.get(3)?,
                    last: r.get(4)?,
                    old_pages: r.get(5)?,
                    old_rank: r.get(6)?,
                    old_score: r.get(7)?,
                    old_first: r.get(8)?,
                    old_last: r.get(9)?,
                    state: r.parse(10)?,
                    deadline: r.get(11)?,
                })
            })
            .ctx(self.path, || self.ctx(&format!("reading case {id}")))?;
        if figures.pages == 0 {
            let to = match figures.state {
                CaseState::Open => CaseState::Resolved,
                _ => CaseState::Rectified,
            };
            let reason = "none of its pages has it any more";
            self.change_state(id, figures.state, to, reason)?;
            match to {
                CaseState::Resolved => out.resolved.push(id),
                _ => out.rectified.push(id),
            }
            return Ok(());
        }
        if figures.changed() {
            let rank = figures.rank.unwrap_or(figures.old_rank);
            self.tx
                .execute(
                    sql::SET_CASE_FIGURES,
                    vals![
                        id,
                        figures.pages,
                        severity_from_rank(rank).as_str(),
                        rank,
                        figures.score.or(figures.old_score),
                        figures.first.unwrap_or(figures.old_first),
                        figures.last.unwrap_or(figures.old_last)
                    ],
                )
                .ctx(self.path, || self.ctx(&format!("updating case {id}")))?;
        }
        let past_deadline = figures.deadline.is_some_and(|d| d <= self.at);
        if self.saw_site && figures.state == CaseState::Confirmed && past_deadline {
            let reason = format!(
                "still on {} page(s) after the deadline",
                figures.pages.max(0)
            );
            self.change_state(id, figures.state, CaseState::Overdue, &reason)?;
            out.overdue.push(id);
        }
        Ok(())
    }

    fn change_state(&self, id: CaseId, from: CaseState, to: CaseState, reason: &str) -> Result<()> {
        self.tx
            .execute(sql::SET_CASE_STATE, vals![id, to.as_str(), self.at])
            .ctx(self.path, || {
                self.ctx(&format!("setting case {id} to {to}"))
            })?;
        case_event(
            self.tx,
            self.path,
            &EventRow {
                case: id,
                at: self.at,
                actor: CRAWLER_ACTOR,
                kind: CaseEventKind::State,
                from: Some(from),
                to: Some(to),
                reason: Some(reason),
                run_key: self.run_key,
                flags: 0,
            },
        )?;
        let case = load_case(self.tx, self.path, id)?.ok_or(StoreError::CaseNotFound(id))?;
        let change = CaseChange {
            at: self.at,
            actor: CRAWLER_ACTOR,
            from,
            to,
            reason: Some(reason),
            run_key: self.run_key,
        };
        enqueue_case(self.tx, self.path, self.targets, &case, &change)
    }
}

struct Figures {
    pages: i64,
    rank: Option<i64>,
    score: Option<f64>,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    old_pages: i64,
    old_rank: i64,
    old_score: Option<f64>,
    old_first: Timestamp,
    old_last: Timestamp,
    state: CaseState,
    deadline: Option<Timestamp>,
}

impl Figures {
    fn changed(&self) -> bool {
        self.pages != self.old_pages
            || self.rank.is_some_and(|r| r != self.old_rank)
            || (self.score.is_some() && self.score != self.old_score)
            || self.first.is_some_and(|f| f != self.old_first)
            || self.last.is_some_and(|l| l != self.old_last)
    }
}

/// One row of a case's audit log.
pub(super) struct EventRow<'a> {
    pub case: CaseId,
    pub at: Timestamp,
    pub actor: &'a str,
    pub kind: CaseEventKind,
    pub from: Option<CaseState>,
    pub to: Option<CaseState>,
    pub reason: Option<&'a str>,
    pub run_key: Option<&'a str>,
    pub flags: u64,
}

/// Writes one case event; its id.
pub(super) fn case_event(tx: &dyn Db, path: &Path, e: &EventRow<'_>) -> Result<i64> {
    tx.one(
        sql::INSERT_CASE_EVENT,
        vals![
            e.case,
            e.at,
            e.actor,
            e.kind.as_str(),
            e.from.map(|s| s.as_str()),
            e.to.map(|s| s.as_str()),
            e.reason,
            e.run_key,
            e.flags
        ],
        |r| r.get(0),
    )
    .ctx(path, || {
        format!("recording the {} event of case {}", e.kind.as_str(), e.case)
    })
}

/// A state change of a case, as a webhook reports it.
pub(super) struct CaseChange<'a> {
    pub at: Timestamp,
    pub actor: &'a str,
    pub from: CaseState,
    pub to: CaseState,
    pub reason: Option<&'a str>,
    pub run_key: Option<&'a str>,
}

/// The outbox rows of a case's state change: `case.overdue` for a case found past its
/// deadline (what an operator wires to suspension), `case.state_changed` for every change.
pub(super) fn enqueue_case(
    tx: &dyn Db,
    path: &Path,
    targets: &[WebhookTarget],
    case: &Case,
    change: &CaseChange<'_>,
) -> Result<()> {
    let mut events = vec![WebhookEvent::CaseStateChanged];
    if change.to == CaseState::Overdue {
        events.push(WebhookEvent::CaseOverdue);
    }
    let flag: Option<i64> = tx
        .row(sql::STRONGEST_FLAG_OF_CASE, vals![case.id], |r| r.get(0))
        .ctx(path, || {
            format!("reading the strongest flag of case {}", case.id)
        })?;
    // A case always holds a flag; one without (a hand-edited database) is not worth failing
    // a crawl over, and no receiver could open it anyway.
    let Some(flag) = flag else { return Ok(()) };
    for event in events {
        let wanted: Vec<&WebhookTarget> = targets
            .iter()
            .filter(|t| t.events.contains(&event))
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let payload = serde_json::to_string(&serde_json::json!({
            "event": event,
            "at": change.at,
            "actor": change.actor,
            "from_state": change.from,
            "to_state": change.to,
            "reason": change.reason,
            "run_key": change.run_key,
            "case": case,
        }))
        .map_err(|source| StoreError::Json {
            what: "a webhook payload",
            source,
        })?;
        for target in wanted {
            tx.execute(
                sql::INSERT_CASE_OUTBOX,
                vals![
                    target.name,
                    event.as_str(),
                    flag,
                    case.id,
                    payload,
                    change.at
                ],
            )
            .ctx(path, || {
                format!(
                    "queueing the {event} of case {} for webhook `{}`",
                    case.id, target.name
                )
            })?;
        }
    }
    Ok(())
}

/// A reviewer's action on a case, in the caller's transaction: one case event, however many
/// flags it moves.
#[allow(clippy::too_many_arguments)]
pub(super) fn act_on_case(
    tx: &dyn Db,
    path: &Path,
    targets: &[WebhookTarget],
    id: CaseId,
    action: &CaseAction,
    actor: &str,
    at: Timestamp,
    expected_version: Option<i64>,
) -> Result<Case> {
    let (state, version, site, category): (CaseState, i64, String, String) = tx
        .row(sql::CASE_STATE_VERSION, vals![id], |r| {
            Ok((r.parse(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .ctx(path, || format!("reading case {id}"))?
        .ok_or(StoreError::CaseNotFound(id))?;
    if let Some(expected) = expected_version
        && expected != version
    {
        return Err(StoreError::CaseVersionConflict {
            id,
            expected,
            actual: version,
        });
    }
    let invalid = || StoreError::InvalidCaseTransition {
        id,
        from: state,
        action: action.name(),
    };
    let trimmed = |s: &Option<String>| {
        s.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    // First what the action is (refused here, before anything is written), then its event,
    // then the moves that name the event.
    let (kind, to, text) = match action {
        CaseAction::Confirm { reason, .. } => {
            if !matches!(state, CaseState::Open | CaseState::Overdue) {
                return Err(invalid());
            }
            (
                CaseEventKind::State,
                Some(CaseState::Confirmed),
                trimmed(reason),
            )
        }
        CaseAction::Dismiss { reason } => {
            let reason = reason.trim();
            if reason.is_empty() {
                return Err(StoreError::CaseReasonRequired(id));
            }
            if !state.is_active() {
                return Err(invalid());
            }
            let reason = Some(reason.to_string());
            (CaseEventKind::State, Some(CaseState::Dismissed), reason)
        }
        CaseAction::Reopen { reason } => {
            if state != CaseState::Dismissed {
                return Err(invalid());
            }
            let other: Option<CaseId> = tx
                .row(sql::ACTIVE_CASE_OF, vals![site, category], |r| r.get(0))
                .ctx(path, || {
                    format!("looking up the active case beside case {id}")
                })?;
            if let Some(other) = other {
                return Err(StoreError::CaseActiveExists { id, other });
            }
            (CaseEventKind::State, Some(CaseState::Open), trimmed(reason))
        }
        CaseAction::Assign { assignee } => (CaseEventKind::Assign, None, trimmed(assignee)),
        CaseAction::Comment { text } => {
            let text = text.trim();
            if text.is_empty() {
                return Err(StoreError::CaseEmptyComment(id));
            }
            (CaseEventKind::Comment, None, Some(text.to_string()))
        }
    };
    let event = case_event(
        tx,
        path,
        &EventRow {
            case: id,
            at,
            actor,
            kind,
            from: to.map(|_| state),
            to,
            reason: text.as_deref(),
            run_key: None,
            flags: 0,
        },
    )?;
    let move_flags = |statement: &str, to: FlagState| -> Result<u64> {
        tx.execute(statement, vals![id, to.as_str(), at, event])
            .ctx(path, || format!("moving the flags of case {id} to {to}"))
    };
    let flags = match action {
        CaseAction::Confirm { deadline_at, .. } => {
            tx.execute(sql::CONFIRM_CASE, vals![id, deadline_at, at])
                .ctx(path, || format!("setting the deadline of case {id}"))?;
            move_flags(sql::CASE_FLAGS_OPEN_TO, FlagState::Confirmed)?
        }
        CaseAction::Dismiss { .. } => {
            tx.execute(sql::DISMISS_CASE, vals![id])
                .ctx(path, || format!("recording the dismissal of case {id}"))?;
            move_flags(sql::CASE_FLAGS_ACTIVE_TO, FlagState::Dismissed)?
        }
        CaseAction::Reopen { .. } => {
            tx.execute(sql::REOPEN_CASE, vals![id])
                .ctx(path, || format!("reopening case {id}"))?;
            move_flags(sql::CASE_FLAGS_DISMISSED_TO, FlagState::Reopened)?
        }
        CaseAction::Assign { .. } => {
            tx.execute(sql::ASSIGN_CASE, vals![id, text, at])
                .ctx(path, || format!("assigning case {id}"))?;
            tx.execute(sql::ASSIGN_CASE_FLAGS, vals![id, text, event])
                .ctx(path, || format!("assigning the flags of case {id}"))?
        }
        CaseAction::Comment { .. } => {
            tx.execute(sql::TOUCH_CASE, vals![id, at])
                .ctx(path, || format!("commenting on case {id}"))?;
            0
        }
    };
    if flags > 0 {
        tx.execute(sql::SET_CASE_EVENT_FLAGS, vals![event, flags])
            .ctx(path, || format!("recording the flags of case {id}'s event"))?;
    }
    if let Some(to) = to {
        tx.execute(sql::SET_CASE_STATE, vals![id, to.as_str(), at])
            .ctx(path, || format!("setting case {id} to {to}"))?;
    }
    if to == Some(CaseState::Open) {
        // Reopened: its figures are those of the flags that came back.
        CaseSync {
            tx,
            path,
            site: &site,
            at,
            run_key: None,
            saw_site: false,
            margin: 0.0,
            targets,
        }
        .settle(id, &mut CaseOutcome::default())?;
    }
    let case = load_case(tx, path, id)?.ok_or(StoreError::CaseNotFound(id))?;
    if let Some(to) = to {
        let change = CaseChange {
            at,
            actor,
            from: state,
            to,
            reason: text.as_deref(),
            run_key: None,
        };
        enqueue_case(tx, path, targets, &case, &change)?;
    }
    Ok(case)
}
