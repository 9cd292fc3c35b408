//! The report routes: the case report of a period (`/reports/cases`) as JSON, and as CSV for
//! the compliance desk's spreadsheets (`/reports/cases.csv`). The UI's report page reads its
//! query the same way ([`report_query`]).

use http::{HeaderValue, Response, StatusCode, header};

use crate::api::error::{ApiError, blocking};
use crate::api::query::Query;
use crate::api::{Api, json_response};
use crate::http::{Body, text};
use crate::review::export::{date, report_csv};
use sitepatrol_store::{CaseReport, ReportQuery, Timestamp};

/// The query parameters of a report.
pub const REPORT_PARAMS: &[&str] = &["from", "to", "customer"];

/// The period when `from` is not given: the 30 days before `to`.
pub const DEFAULT_REPORT_DAYS: i64 = 30;

/// The longest period a report may cover. A year (and a leap day) is what a compliance desk
/// reports on; longer periods read the whole event log of a large fleet for one request.
pub const MAX_REPORT_DAYS: i64 = 366;

const DAY: i64 = 86_400;

/// A time parameter, where a blank value (what an HTML form sends for an empty field) is
/// the same as none.
fn time_or_blank(query: &Query, name: &str) -> Result<Option<Timestamp>, ApiError> {
    match query.text(name)? {
        None => Ok(None),
        Some(_) => query.time(name),
    }
}

/// The report's period and customer from `query` (which must allow [`REPORT_PARAMS`]): `to`
/// defaults to `now`, `from` to [`DEFAULT_REPORT_DAYS`] before `to`; a period that ends
/// before it starts or is longer than [`MAX_REPORT_DAYS`] is refused.
pub fn report_query(query: &Query, now: Timestamp) -> Result<ReportQuery, ApiError> {
    let to = time_or_blank(query, "to")?.unwrap_or(now);
    let from =
        time_or_blank(query, "from")?.unwrap_or(to.saturating_sub(DEFAULT_REPORT_DAYS * DAY));
    if from > to {
        return Err(ApiError::invalid_parameter("to", "is before `from`"));
    }
    if to.saturating_sub(from) > MAX_REPORT_DAYS * DAY {
        return Err(ApiError::invalid_parameter(
            "from",
            format!("the period is longer than {MAX_REPORT_DAYS} days; report on shorter ones"),
        ));
    }
    Ok(ReportQuery {
        from,
        to,
        customer: query.text("customer")?,
    })
}

/// The report for the query string, read off the async threads.
pub(crate) async fn read_report(
    api: &Api,
    query: Option<&str>,
    now: Timestamp,
) -> Result<CaseReport, ApiError> {
    let q = Query::parse(query, REPORT_PARAMS)?;
    let report_query = report_query(&q, now)?;
    let store = api.store.clone();
    blocking(move || Ok(store.case_report(&report_query)?)).await
}

pub(crate) async fn cases(
    api: &Api,
    query: Option<&str>,
    csv: bool,
) -> Result<Response<Body>, ApiError> {
    let report = read_report(api, query, super::now()).await?;
    if !csv {
        return Ok(json_response(StatusCode::OK, &report));
    }
    let body = report_csv(&report)
        .map_err(|e| ApiError::internal(format!("cannot write the report as CSV: {e}")))?;
    let mut response = text(StatusCode::OK, "text/csv; charset=utf-8", body);
    let name = format!(
        "sitepatrol-cases-{}-{}.csv",
        date(report.from),
        date(report.to)
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::error::Code;

    fn query(text: &str) -> Result<ReportQuery, ApiError> {
        report_query(&Query::parse(Some(text), REPORT_PARAMS)?, 1_795_766_400)
    }

    #[test]
    fn periods_default_and_are_bounded() {
        let q = query("").unwrap();
        assert_eq!((q.from, q.to), (1_795_766_400 - 30 * DAY, 1_795_766_400));
        let q = query("from=&to=&customer=").unwrap();
        assert_eq!((q.to, q.customer), (1_795_766_400, None));
        let q = query("to=2026-11-01&customer=c1").unwrap();
        assert_eq!(q.from, q.to - 30 * DAY);
        assert_eq!(q.customer.as_deref(), Some("c1"));
        let q = query("from=2025-11-01&to=2026-11-02").unwrap();
        assert_eq!(q.to - q.from, 366 * DAY);
        for bad in [
            "from=2026-11-02&to=2026-11-01",
            "from=2025-01-01&to=2026-11-01",
            "from=yesterday",
            "to=1e9",
            "customer=a&customer=b",
            "site=x",
        ] {
            let e = query(bad).expect_err(bad);
            assert_eq!(e.code, Code::InvalidParameter, "{bad}: {}", e.message);
        }
        assert!(query("from=2026-11-02&to=2026-11-02").is_ok());
    }
}
