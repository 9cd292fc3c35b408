//! The case report in SQLite: the rows of [`crate::report`], read in one snapshot.

use std::path::Path;

use rusqlite::types::Value;
use rusqlite::{Connection, Row};
use serde::Deserialize;

use super::{Ctx, parse_col};
use crate::report::{CaseReport, ReportBuilder, ReportEvent, ReportQuery};
use crate::{Result, sql};

/// The one field of a run's stats the report reads; the others (and stats of older builds
/// without it) are ignored.
#[derive(Deserialize)]
struct RunStats {
    #[serde(default)]
    pages_scanned: u64,
}

fn event_from_row(row: &Row<'_>) -> rusqlite::Result<ReportEvent> {
    let from_state = match row.get::<_, Option<String>>(5)? {
        None => None,
        Some(_) => Some(parse_col(row, 5)?),
    };
    Ok(ReportEvent {
        case_id: row.get(0)?,
        category: row.get(1)?,
        created_at: row.get(2)?,
        deadline_at: row.get(3)?,
        at: row.get(4)?,
        from_state,
        to_state: parse_col(row, 6)?,
    })
}

pub(super) fn case_report(
    conn: &Connection,
    path: &Path,
    query: &ReportQuery,
) -> Result<CaseReport> {
    // One read transaction: the events and the runs of one snapshot, even while a crawl
    // commits in between. Dropped (rolled back) at the end.
    let tx = conn
        .unchecked_transaction()
        .ctx(path, || "starting to read the case report".into())?;
    let mut params = vec![Value::Integer(query.from), Value::Integer(query.to)];
    let (events_sql, runs_sql) = match &query.customer {
        Some(customer) => {
            params.push(Value::Text(customer.clone()));
            (
                sql::REPORT_CASE_EVENTS_OF_CUSTOMER,
                sql::REPORT_RUNS_OF_CUSTOMER,
            )
        }
        None => (sql::REPORT_CASE_EVENTS, sql::REPORT_RUNS),
    };
    let mut report = ReportBuilder::new(query.clone());
    let mut st = tx
        .prepare_cached(events_sql)
        .ctx(path, || "preparing the case report's events".into())?;
    let rows = st
        .query_map(rusqlite::params_from_iter(params.iter()), event_from_row)
        .ctx(path, || "reading the case report's events".into())?;
    // Streamed: a year of a large fleet's case events is not held in memory at once.
    for row in rows {
        report.event(row.ctx(path, || "reading a case event for the report".into())?);
    }
    let mut st = tx
        .prepare_cached(runs_sql)
        .ctx(path, || "preparing the case report's crawl runs".into())?;
    let rows = st
        .query_map(rusqlite::params_from_iter(params.iter()), |r| {
            let site: String = r.get(0)?;
            let stats: String = r.get(1)?;
            Ok((site, stats))
        })
        .ctx(path, || "reading the crawl runs for the report".into())?;
    for row in rows {
        let (site, stats) = row.ctx(path, || "reading a crawl run for the report".into())?;
        // A run whose stats cannot be read still patrolled its site; it adds no pages rather
        // than failing every report of the period.
        let pages = serde_json::from_str::<RunStats>(&stats)
            .map(|s| s.pages_scanned)
            .unwrap_or(0);
        report.run(&site, pages);
    }
    Ok(report.finish())
}
