//! The case routes: the queue reviewers work, one case, and the actions on it.

use http::{Response, StatusCode};
use serde::Deserialize;

use super::{Call, assignee, check_len, now, reason_required};
use crate::api::error::{ApiError, Code, blocking};
use crate::api::query::Query;
use crate::api::{Api, Op, json_response, read_json};
use crate::http::Body;
use sitepatrol_store::{
    CaseAction, CaseEvent, CaseEventFilter, CaseFilter, CaseId, CaseState, Timestamp,
};

/// The longest deadline a confirmation may give, in days.
pub(crate) const MAX_DEADLINE_DAYS: i64 = 365;

/// The filter parameters of the case queue.
pub const CASE_FILTERS: &[&str] = &[
    "state", "category", "severity", "site", "customer", "assignee", "overdue",
];

/// The queue's filter from `query` (which must allow [`CASE_FILTERS`]), overdue as of `now`.
pub fn case_filter(query: &Query, now: Timestamp) -> Result<CaseFilter, ApiError> {
    Ok(CaseFilter {
        states: query.list("state", |s| s.parse::<CaseState>())?,
        categories: query.categories()?,
        severities: query.severities()?,
        site: query.text("site")?,
        customer: query.text("customer")?,
        assignee: query.text("assignee")?,
        overdue_at: query.boolean("overdue")?.filter(|o| *o).map(|_| now),
        limit: 100,
        cursor: None,
    })
}

pub(super) async fn list(api: &Api, query: Option<&str>) -> Result<Response<Body>, ApiError> {
    let mut allowed = CASE_FILTERS.to_vec();
    allowed.extend(["limit", "cursor"]);
    let q = Query::parse(query, &allowed)?;
    let mut filter = case_filter(&q, now())?;
    filter.limit = q.integer("limit", 1, 1000)?.unwrap_or(100) as usize;
    filter.cursor = q.text("cursor")?;
    let store = api.store.clone();
    let page = blocking(move || Ok(store.list_cases(&filter)?)).await?;
    Ok(json_response(StatusCode::OK, &page))
}

pub(super) async fn get(api: &Api, call: Call) -> Result<Response<Body>, ApiError> {
    let id = case_id(&call.param(0))?;
    call.query_with(&[])?;
    let store = api.store.clone();
    match blocking(move || Ok(store.case(id)?)).await? {
        Some(detail) => Ok(json_response(StatusCode::OK, &detail)),
        None => Err(case_not_found(id)),
    }
}

#[derive(serde::Serialize)]
struct CaseEventPage {
    events: Vec<CaseEvent>,
    /// Pass as `before` for the next page; `None` on the last.
    next_before: Option<i64>,
}

/// The case audit log: every reviewer's case action once, and the crawls' case changes.
pub(super) async fn events(api: &Api, call: Call) -> Result<Response<Body>, ApiError> {
    let q = call.query_with(&["case", "actor", "from", "to", "before", "limit"])?;
    let filter = CaseEventFilter {
        case: q.integer("case", 1, i64::MAX)?,
        actor: q.text("actor")?,
        from: q.time("from")?,
        to: q.time("to")?,
        before_id: q.integer("before", 1, i64::MAX)?,
        limit: q.integer("limit", 1, 1000)?.unwrap_or(100) as usize,
    };
    let limit = filter.limit;
    let store = api.store.clone();
    let events = blocking(move || Ok(store.case_events(&filter)?)).await?;
    let next_before = (events.len() == limit)
        .then(|| events.last().map(|e| e.id))
        .flatten();
    Ok(json_response(
        StatusCode::OK,
        &CaseEventPage {
            events,
            next_before,
        },
    ))
}

pub(crate) fn case_id(text: &str) -> Result<CaseId, ApiError> {
    text.parse::<CaseId>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::invalid_parameter("id", format!("`{text}` is not a case id")))
}

pub(crate) fn case_not_found(id: CaseId) -> ApiError {
    ApiError::new(Code::CaseNotFound, format!("case {id} does not exist"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmBody {
    #[serde(default)]
    reason: Option<String>,
    /// Days until the rectification deadline; `review.notice_deadline_days` when absent.
    #[serde(default)]
    deadline_days: Option<i64>,
    /// The deadline itself (Unix seconds), instead of `deadline_days`: a date agreed with
    /// the customer.
    #[serde(default)]
    deadline_at: Option<Timestamp>,
    #[serde(default)]
    version: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReasonBody {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    version: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignBody {
    #[serde(default)]
    assignee: Option<String>,
    #[serde(default)]
    version: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommentBody {
    text: String,
    #[serde(default)]
    version: Option<i64>,
}

/// The deadline of a confirmation at `at`: the time asked for, the days asked for, or the
/// configured default, never in the past nor more than [`MAX_DEADLINE_DAYS`] ahead.
pub(crate) fn deadline(
    at: Timestamp,
    days: Option<i64>,
    deadline_at: Option<Timestamp>,
    default_days: u32,
) -> Result<Timestamp, ApiError> {
    if let Some(when) = deadline_at {
        if days.is_some() {
            return Err(ApiError::new(
                Code::InvalidBody,
                "give `deadline_days` or `deadline_at`, not both",
            ));
        }
        if when <= at || when > at + MAX_DEADLINE_DAYS * 86_400 {
            return Err(ApiError::new(
                Code::InvalidBody,
                format!(
                    "`deadline_at` must be after now and at most {MAX_DEADLINE_DAYS} days ahead"
                ),
            ));
        }
        return Ok(when);
    }
    let days = days.unwrap_or(i64::from(default_days));
    if !(1..=MAX_DEADLINE_DAYS).contains(&days) {
        return Err(ApiError::new(
            Code::InvalidBody,
            format!("`deadline_days` must be from 1 to {MAX_DEADLINE_DAYS}, not {days}"),
        ));
    }
    Ok(at + days * 86_400)
}

/// A case action from its request body, with the version it was meant for.
async fn action_from_body(
    api: &Api,
    op: Op,
    request: axum::extract::Request,
    at: Timestamp,
) -> Result<(CaseAction, Option<i64>), ApiError> {
    let timeout = api.body_read_timeout();
    Ok(match op {
        Op::CaseConfirm => {
            let body: ConfirmBody = read_json(request, timeout).await?;
            check_len("reason", &body.reason)?;
            let deadline_at = deadline(
                at,
                body.deadline_days,
                body.deadline_at,
                api.notices().deadline_days,
            )?;
            let action = CaseAction::Confirm {
                reason: body.reason,
                deadline_at,
            };
            (action, body.version)
        }
        Op::CaseDismiss | Op::CaseReopen => {
            let body: ReasonBody = read_json(request, timeout).await?;
            check_len("reason", &body.reason)?;
            let action = if op == Op::CaseDismiss {
                CaseAction::Dismiss {
                    reason: reason_required(&body.reason)?,
                }
            } else {
                CaseAction::Reopen {
                    reason: body.reason,
                }
            };
            (action, body.version)
        }
        Op::CaseAssign => {
            let body: AssignBody = read_json(request, timeout).await?;
            let action = CaseAction::Assign {
                assignee: assignee(body.assignee)?,
            };
            (action, body.version)
        }
        _ => {
            let body: CommentBody = read_json(request, timeout).await?;
            check_len("text", &Some(body.text.clone()))?;
            (CaseAction::Comment { text: body.text }, body.version)
        }
    })
}

/// Confirm, dismiss, reopen, assign or comment on a case; the action applies to its flags.
pub(super) async fn act(api: &Api, op: Op, call: Call) -> Result<Response<Body>, ApiError> {
    let id = case_id(&call.param(0))?;
    call.query_with(&[])?;
    let at = now();
    let (action, version) = action_from_body(api, op, call.request, at).await?;
    let store = api.store.clone();
    let actor = call.actor;
    let case = blocking(move || Ok(store.act_on_case(id, &action, &actor, at, version)?)).await?;
    Ok(json_response(StatusCode::OK, &case))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_default_and_stay_in_range() {
        assert_eq!(deadline(1_000, None, None, 3).unwrap(), 1_000 + 3 * 86_400);
        assert_eq!(
            deadline(1_000, Some(10), None, 3).unwrap(),
            1_000 + 10 * 86_400
        );
        assert_eq!(deadline(1_000, None, Some(1_002), 3).unwrap(), 1_002);
        for bad in [0, -1, MAX_DEADLINE_DAYS + 1] {
            let e = deadline(1_000, Some(bad), None, 3).unwrap_err();
            assert_eq!(e.code, Code::InvalidBody, "{bad}");
        }
        for bad in [999, 1_000, 1_000 + MAX_DEADLINE_DAYS * 86_400 + 1] {
            assert!(deadline(1_000, None, Some(bad), 3).is_err(), "{bad}");
        }
        assert!(deadline(1_000, Some(1), Some(2_000), 3).is_err());
    }

    #[test]
    fn queue_filters_parse_strictly() {
        let q = Query::parse(
            Some("state=open,overdue&severity=high&overdue=true"),
            CASE_FILTERS,
        )
        .unwrap();
        let f = case_filter(&q, 77).unwrap();
        assert_eq!(f.states, vec![CaseState::Open, CaseState::Overdue]);
        assert_eq!(f.overdue_at, Some(77));
        let q = Query::parse(Some("overdue=false"), CASE_FILTERS).unwrap();
        assert_eq!(case_filter(&q, 77).unwrap().overdue_at, None);
        let q = Query::parse(Some("state=opne"), CASE_FILTERS).unwrap();
        assert!(case_filter(&q, 77).is_err());
        assert!(Query::parse(Some("sort=x"), CASE_FILTERS).is_err());
    }
}
