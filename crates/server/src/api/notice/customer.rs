//! The rectification notice to a customer (整改通知, one per customer): every confirmed and
//! overdue case of the customer's sites in one letter. The facts come from the store (cases,
//! their flags and strongest signals, the sites' customer details), the wording from the
//! operator's templates (`review::customer_notice`), the PDF from `review::pdf`. Issuing it
//! is recorded on each case it lists, so every case's history says which notice asked for
//! its takedown.

use http::{HeaderValue, Response, StatusCode, header};

use crate::api::error::blocking;
use crate::api::{Api, ApiError, Code};
use crate::http::{Body, text};
use crate::review::clause::cite;
use crate::review::customer_notice::{CaseFacts, CustomerNoticeFacts, EvidenceFacts, PageFacts};
use crate::review::export::{date, rfc3339};
use crate::review::pdf::render_pdf;
use sitepatrol_store::{
    Case, CaseAction, CaseDetail, CaseEventKind, CaseFilter, CaseState, CustomerContact, FlagState,
    SiteRecord, Store, Timestamp,
};

/// Pages listed per case; a template injected into a whole site lists the first ones and
/// counts the rest (the audit log has them all).
const PAGES_PER_CASE: usize = 30;
/// Signals quoted per case, strongest first.
const EVIDENCE_PER_CASE: usize = 5;
/// Cases one notice lists at most; a customer with more gets them most severe first.
const MAX_CASES: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeFormat {
    Text,
    Html,
    Pdf,
}

impl NoticeFormat {
    pub fn parse(text: Option<&str>) -> Result<NoticeFormat, ApiError> {
        match text.unwrap_or("text") {
            "text" | "txt" => Ok(NoticeFormat::Text),
            "html" => Ok(NoticeFormat::Html),
            "pdf" => Ok(NoticeFormat::Pdf),
            other => Err(ApiError::invalid_parameter(
                "format",
                format!("`{other}` is not text, html or pdf"),
            )),
        }
    }
}

/// The notice number of a customer notice: `ZG-<year>-C<first case id>`. Stable for the
/// customer's current confirmed cases (issued twice, it carries the same number, so the
/// customer's reply can cite it), and apart from the per-flag notices' `ZG-<year>-<flag id>`
/// by its `C`.
pub fn customer_notice_id(cases: &[Case], issued: Timestamp) -> String {
    let first = cases.iter().map(|c| c.id).min().unwrap_or(0);
    format!("ZG-{}-C{first:06}", date(issued).get(..4).unwrap_or("0000"))
}

/// Renders the notice of `customer` in `format` for `actor` and, with `record`, writes one
/// comment event on each case it lists (once per notice number and reviewer: reading it
/// again writes nothing). Nothing is recorded unless the notice rendered.
pub async fn generate(
    api: &Api,
    customer: String,
    actor: &str,
    now: Timestamp,
    record: bool,
    format: NoticeFormat,
) -> Result<Response<Body>, ApiError> {
    let settings = api.notices();
    let store = api.store.clone();
    let actor = actor.to_string();
    blocking(move || {
        let sites = store.customer_sites(&customer)?;
        if sites.is_empty() {
            return Err(ApiError::new(
                Code::CustomerNotFound,
                format!("no site of the inventory belongs to customer `{customer}`"),
            ));
        }
        let cases = customer_cases(store.as_ref(), &customer)?;
        if cases.is_empty() {
            return Err(ApiError::new(
                Code::NotConfirmed,
                format!(
                    "customer `{customer}` has no confirmed or overdue case; a rectification notice lists confirmed cases only"
                ),
            ));
        }
        let number = customer_notice_id(&cases, now);
        let contact = sites
            .iter()
            .fold(CustomerContact::default(), |acc, s| acc.or(&s.contact));
        let mut details = Vec::with_capacity(cases.len());
        for case in &cases {
            if let Some(detail) = store.case(case.id)? {
                details.push(detail);
            }
        }
        let facts = CustomerNoticeFacts {
            notice_id: number.clone(),
            provider: settings.provider.clone(),
            customer: customer.clone(),
            customer_name: contact
                .customer_name
                .clone()
                .unwrap_or_else(|| customer.clone()),
            contact_email: contact.contact_email.clone(),
            contact_phone: contact.contact_phone.clone(),
            account_manager: contact.account_manager.clone(),
            reviewer: actor.clone(),
            issued_at: date(now),
            cases: details
                .iter()
                .map(|d| case_facts(d, &sites, &settings, now))
                .collect(),
        };
        let failed = |e: &dyn std::fmt::Display| {
            ApiError::internal(format!(
                "the rectification notice of customer `{customer}` cannot be rendered: {e}"
            ))
        };
        let text_notice = settings.customer.render_text(&facts).map_err(|e| failed(&e))?;
        let response = match format {
            NoticeFormat::Text => text(StatusCode::OK, "text/plain; charset=utf-8", text_notice),
            NoticeFormat::Html => {
                let html = settings.customer.render_html(&facts).map_err(|e| failed(&e))?;
                sandboxed(text(StatusCode::OK, "text/html; charset=utf-8", html))
            }
            NoticeFormat::Pdf => {
                let font = settings
                    .font()
                    .map_err(|e| ApiError::new(Code::Unavailable, e.to_string()))?;
                let pdf = render_pdf(&text_notice, &font, &number).map_err(|e| failed(&e))?;
                let mut response = text(StatusCode::OK, "application/pdf", pdf);
                if let Ok(value) =
                    HeaderValue::from_str(&format!("inline; filename=\"{number}.pdf\""))
                {
                    response
                        .headers_mut()
                        .insert(header::CONTENT_DISPOSITION, value);
                }
                response
            }
        };
        if record {
            record_issue(store.as_ref(), &details, &number, &customer, &actor, now)?;
        }
        Ok(response)
    })
    .await
}

/// The customer's confirmed and overdue cases, most severe first (the queue's order).
fn customer_cases(store: &dyn Store, customer: &str) -> Result<Vec<Case>, ApiError> {
    let mut cases = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.list_cases(&CaseFilter {
            states: vec![CaseState::Confirmed, CaseState::Overdue],
            customer: Some(customer.to_string()),
            limit: 1000,
            cursor,
            ..CaseFilter::default()
        })?;
        cases.extend(page.cases);
        match page.next_cursor {
            Some(next) if cases.len() < MAX_CASES => cursor = Some(next),
            _ => break,
        }
    }
    cases.truncate(MAX_CASES);
    Ok(cases)
}

fn case_facts(
    detail: &CaseDetail,
    sites: &[SiteRecord],
    settings: &super::NoticeSettings,
    now: Timestamp,
) -> CaseFacts {
    let case = &detail.case;
    let host = sites
        .iter()
        .find(|s| s.id == case.site)
        .and_then(|s| s.domains.first().cloned())
        .unwrap_or_else(|| case.site.clone());
    let clause_cited = cite(&case.clause);
    let clause_text = settings
        .template
        .clause_text(&case.clause)
        .map(str::to_string)
        .unwrap_or_else(|| format!("（见责任书{clause_cited}）"));
    let description = sitepatrol_core::rules::categories::find(&case.category)
        .map(|c| c.description.to_string())
        .unwrap_or_else(|| case.category.clone());
    // The pages where it is now: the case's flags in an active state (a confirmed case's
    // flags are confirmed; ones resolved meanwhile are not asked to be removed again).
    let active: Vec<_> = detail
        .flags
        .iter()
        .filter(|f| {
            matches!(
                f.state,
                FlagState::Confirmed | FlagState::Open | FlagState::Reopened
            )
        })
        .collect();
    let pages = active
        .iter()
        .take(PAGES_PER_CASE)
        .map(|f| PageFacts {
            url: f.url.clone(),
            fetched_at: rfc3339(f.fetched_at),
            http_status: f.http_status,
            ip: f.ip.clone(),
            body_sha256: Some(f.body_sha256.clone()).filter(|h| !h.is_empty()),
        })
        .collect();
    let evidence = detail
        .top_signals
        .iter()
        .take(EVIDENCE_PER_CASE)
        .map(|s| EvidenceFacts {
            url: s.url.clone(),
            rule: s.signal.rule.clone(),
            matched: s.signal.matched.clone(),
            snippet: s.signal.snippet.clone(),
        })
        .collect();
    let deadline = case
        .deadline_at
        .unwrap_or(now + i64::from(settings.deadline_days) * 86_400);
    CaseFacts {
        case_id: case.id,
        site_id: case.site.clone(),
        host,
        category: case.category.clone(),
        description,
        clause: case.clause.clone(),
        clause_cited,
        clause_text,
        severity: case.severity.to_string(),
        overdue: case.is_overdue(now),
        deadline: date(deadline),
        page_count: active.len() as u64,
        pages,
        pages_omitted: active.len().saturating_sub(PAGES_PER_CASE) as u64,
        evidence,
    }
}

/// One comment event on each case the notice lists, by the reviewer who issued it, naming
/// the notice and the case's deadline; a case that has this reviewer's event for this
/// number already gets none.
fn record_issue(
    store: &dyn Store,
    details: &[CaseDetail],
    number: &str,
    customer: &str,
    actor: &str,
    now: Timestamp,
) -> Result<(), ApiError> {
    let prefix = format!("整改通知 {number} generated");
    let cases = details.len();
    for detail in details {
        let recorded = detail.events.iter().any(|e| {
            e.kind == CaseEventKind::Comment
                && e.actor == actor
                && e.reason.as_deref().is_some_and(|r| r.starts_with(&prefix))
        });
        if recorded {
            continue;
        }
        let deadline = detail
            .case
            .deadline_at
            .map(date)
            .unwrap_or_else(|| "-".into());
        store.act_on_case(
            detail.case.id,
            &CaseAction::Comment {
                text: format!(
                    "{prefix} for customer {customer} ({cases} case(s); this case's deadline {deadline})"
                ),
            },
            actor,
            now,
            None,
        )?;
    }
    Ok(())
}

/// An HTML notice quotes hostile pages: even escaped, it runs nothing and loads nothing.
fn sandboxed(mut response: Response<Body>) -> Response<Body> {
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'; style-src 'unsafe-inline'"),
    );
    response
}
