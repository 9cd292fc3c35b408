//! The report page (`/reports`): the case report of a period for the whole fleet or one
//! customer, with the same query and store call as the API's `/reports/cases`, and its CSV
//! and JSON served here too (`/reports/cases.csv`, `/reports/cases.json`), so that a reviewer
//! signed in to the UI downloads them with the session rather than a bearer token.

use http::{Response, StatusCode};

use super::{Ctx, Ui, not_found, query_string, ser};
use crate::api::error::{ApiError, blocking};
use crate::api::handlers::now;
use crate::api::handlers::report::{self, REPORT_PARAMS, report_query};
use crate::api::query::Query;
use crate::http::Body;
use crate::review::export::rfc3339;
use sitepatrol_store::CaseFigures;

/// A duration for people: `3d 04:05:06`, `00:25:00`; `-` for none.
fn duration(seconds: Option<f64>) -> String {
    let Some(seconds) = seconds else {
        return "-".into();
    };
    let s = seconds.round().max(0.0) as u64;
    let (days, rest) = (s / 86_400, s % 86_400);
    let clock = format!(
        "{:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    );
    if days > 0 {
        format!("{days}d {clock}")
    } else {
        clock
    }
}

/// One table row: the figures, and the medians both as text and as seconds.
fn row(label: &str, f: &CaseFigures) -> minijinja::Value {
    minijinja::context! {
        label,
        f => ser(f),
        to_confirm => duration(f.median_seconds_to_confirm),
        to_rectify => duration(f.median_seconds_to_rectify),
    }
}

impl Ui {
    pub(super) async fn report_page(
        &self,
        ctx: &Ctx,
        query: Option<&str>,
        file: Option<&str>,
    ) -> Result<Response<Body>, ApiError> {
        match file {
            None => {}
            Some("cases.csv") => return report::cases(&self.api, query, true).await,
            Some("cases.json") => return report::cases(&self.api, query, false).await,
            Some(other) => return Err(not_found(&format!("/reports/{other}"))),
        }
        let mut allowed = REPORT_PARAMS.to_vec();
        allowed.push("lang");
        let q = Query::parse(query, &allowed)?;
        let at = now();
        // The API's own reading of the period: the page, its CSV and its JSON agree.
        let period = report_query(&q, at)?;
        let pairs = vec![
            ("from", rfc3339(period.from)),
            ("to", rfc3339(period.to)),
            ("customer", period.customer.clone().unwrap_or_default()),
        ];
        let store = self.api.store.clone();
        let report = blocking(move || Ok(store.case_report(&period)?)).await?;
        // The categories, then the total (its label empty).
        let mut rows: Vec<_> = report
            .categories
            .iter()
            .map(|c| row(&c.category, &c.figures))
            .collect();
        rows.push(row("", &report.total));
        Ok(self.render(
            ctx,
            StatusCode::OK,
            "reports.html",
            minijinja::context! {
                from => rfc3339(report.from),
                to => rfc3339(report.to),
                customer => report.customer.clone().unwrap_or_default(),
                rows,
                has_categories => !report.categories.is_empty(),
                sites_patrolled => report.sites_patrolled,
                pages_scanned => report.pages_scanned,
                csv_href => query_string("/reports/cases.csv", &pairs),
                json_href => query_string("/reports/cases.json", &pairs),
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration(None), "-");
        assert_eq!(duration(Some(1_500.0)), "00:25:00");
        assert_eq!(duration(Some(1_500.5)), "00:25:01");
        assert_eq!(duration(Some(3.0 * 86_400.0 + 14_706.0)), "3d 04:05:06");
    }
}
