//! The case report's reads: the rows of [`crate::report`], read in one snapshot.

use std::path::Path;

use serde::Deserialize;

use super::Ctx;
use crate::db::{Db, DbResult, Row, Val};
use crate::report::{CaseReport, ReportBuilder, ReportEvent, ReportQuery};
use crate::{Result, sql};

/// The one field of a run's stats the report reads; the others (and stats of older builds
/// without it) are ignored.
#[derive(Deserialize)]
struct RunStats {
    #[serde(default)]
    pages_scanned: u64,
}

fn event_from_row(row: &Row) -> DbResult<ReportEvent> {
    let from_state = row.parse_opt(5)?;
    Ok(ReportEvent {
        case_id: row.get(0)?,
        category: row.get(1)?,
        created_at: row.get(2)?,
        deadline_at: row.get(3)?,
        at: row.get(4)?,
        from_state,
        to_state: row.parse(6)?,
    })
}

pub(super) fn case_report(db: &dyn Db, path: &Path, query: &ReportQuery) -> Result<CaseReport> {
    // The caller reads in one snapshot: the events and the runs as of one moment.
    let mut params = vec![Val::Int(query.from), Val::Int(query.to)];
    let (events_sql, runs_sql) = match &query.customer {
        Some(customer) => {
            params.push(Val::Text(customer.clone()));
            (
                sql::REPORT_CASE_EVENTS_OF_CUSTOMER,
                sql::REPORT_RUNS_OF_CUSTOMER,
            )
        }
        None => (sql::REPORT_CASE_EVENTS, sql::REPORT_RUNS),
    };
    let mut report = ReportBuilder::new(query.clone());
    // Streamed: a year of a large fleet's case events is not held in memory at once.
    db.query_each(events_sql, &params, &mut |row| {
        report.event(event_from_row(&row)?);
        Ok(())
    })
    .ctx(path, || "reading the case report's events".into())?;
    db.query_each(runs_sql, &params, &mut |row| {
        let site: String = row.get(0)?;
        let stats: String = row.get(1)?;
        // A run whose stats cannot be read still patrolled its site; it adds no pages rather
        // than failing every report of the period.
        let pages = serde_json::from_str::<RunStats>(&stats)
            .map(|s| s.pages_scanned)
            .unwrap_or(0);
        report.run(&site, pages);
        Ok(())
    })
    .ctx(path, || "reading the crawl runs for the report".into())?;
    Ok(report.finish())
}
