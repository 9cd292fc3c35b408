//! The API's operations, one function each. Routing, authentication and roles are done by the
//! time these run (see `mod.rs`); `principal` is the authenticated caller.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::error::{ApiError, Code, blocking, flag_not_found};
use super::query::{FLAG_FILTERS, Query, event_filter, flag_filter};
use super::{
    Api, MAX_BULK_IDS, OPENAPI, Op, RecrawlOutcome, RecrawlRequest, ReloadRequest, json_response,
    read_json,
};
use crate::http::{Body, text};
use crate::review::auth::Principal;
use crate::review::export::{CsvExport, write_jsonl};
use sitepatrol_store::{
    Delivery, DeliveryFilter, DeliveryStatus, Flag, FlagAction, FlagEvent, FlagId, SiteRecord,
    Timestamp,
};

pub(crate) mod cases;
pub(crate) mod report;

/// Longest reason, comment or assignee accepted, in characters.
const MAX_TEXT_CHARS: usize = 10_000;

/// What a handler is given: the path's `{name}` values, the query, the caller, the request.
struct Call {
    params: Vec<String>,
    query: Option<String>,
    actor: String,
    request: Request,
}

impl Call {
    fn param(&self, i: usize) -> String {
        self.params.get(i).cloned().unwrap_or_default()
    }

    fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// The query, refused when it holds a parameter not in `allowed`.
    fn query_with(&self, allowed: &[&str]) -> Result<Query, ApiError> {
        Query::parse(self.query(), allowed)
    }
}

pub(super) async fn handle(
    api: Arc<Api>,
    op: Op,
    params: Vec<String>,
    principal: Option<Principal>,
    request: Request,
) -> Result<Response<Body>, ApiError> {
    let call = Call {
        params,
        query: request.uri().query().map(str::to_string),
        actor: principal.map(|p| p.name).unwrap_or_default(),
        request,
    };
    match op {
        Op::OpenApi => Ok(text(StatusCode::OK, "application/json", OPENAPI)),
        Op::ListFlags => list_flags(&api, call.query()).await,
        Op::GetFlag => get_flag(&api, call).await,
        Op::FlagBody => flag_body(&api, flag_id(&call.param(0))?, call.query()).await,
        Op::FlagScreenshot => flag_screenshot(&api, flag_id(&call.param(0))?, call.query()).await,
        Op::Confirm | Op::Dismiss | Op::Reopen | Op::Assign | Op::Comment => {
            act(&api, op, call).await
        }
        Op::Bulk => {
            call.query_with(&[])?;
            bulk(&api, call.request, call.actor).await
        }
        Op::ListSites => list_sites(&api, call.query()).await,
        Op::GetSite => {
            call.query_with(&[])?;
            let site = existing_site(&api, call.param(0)).await?;
            Ok(json_response(StatusCode::OK, &site))
        }
        Op::SiteRuns => site_runs(&api, call).await,
        Op::Recrawl => {
            call.query_with(&[])?;
            recrawl(&api, call.param(0)).await
        }
        Op::Reload => {
            call.query_with(&[])?;
            reload(&api).await
        }
        Op::Events => events(&api, call).await,
        Op::ExportCsv => export(&api, call.query(), true).await,
        Op::ExportJsonl => export(&api, call.query(), false).await,
        Op::WebhookDeliveries => deliveries(&api, call).await,
        Op::Notice => notice(&api, call).await,
        Op::ListCases => cases::list(&api, call.query()).await,
        Op::GetCase => cases::get(&api, call).await,
        Op::CaseEvents => cases::events(&api, call).await,
        Op::CaseConfirm | Op::CaseDismiss | Op::CaseReopen | Op::CaseAssign | Op::CaseComment => {
            cases::act(&api, op, call).await
        }
        Op::CustomerNotice => customer_notice(&api, call).await,
        Op::CaseReport => report::cases(&api, call.query(), false).await,
        Op::CaseReportCsv => report::cases(&api, call.query(), true).await,
    }
}

async fn get_flag(api: &Api, call: Call) -> Result<Response<Body>, ApiError> {
    let id = flag_id(&call.param(0))?;
    call.query_with(&[])?;
    let store = api.store.clone();
    match blocking(move || Ok(store.flag(id)?)).await? {
        Some(detail) => Ok(json_response(StatusCode::OK, &detail)),
        None => Err(flag_not_found(id)),
    }
}

/// Confirm, dismiss, reopen, assign or comment on one flag.
async fn act(api: &Api, op: Op, call: Call) -> Result<Response<Body>, ApiError> {
    let id = flag_id(&call.param(0))?;
    call.query_with(&[])?;
    let (action, version) = action_from_body(op, call.request, api.body_read_timeout()).await?;
    let store = api.store.clone();
    let actor = call.actor;
    let flag = blocking(move || Ok(store.act(id, &action, &actor, now(), version)?)).await?;
    Ok(json_response(StatusCode::OK, &flag))
}

async fn site_runs(api: &Api, call: Call) -> Result<Response<Body>, ApiError> {
    let q = call.query_with(&["limit"])?;
    let limit = q.integer("limit", 1, 1000)?.unwrap_or(20) as usize;
    let site = existing_site(api, call.param(0)).await?;
    let store = api.store.clone();
    let runs = blocking(move || Ok(store.crawl_runs(&site.id, limit)?)).await?;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "runs": runs }),
    ))
}

async fn events(api: &Api, call: Call) -> Result<Response<Body>, ApiError> {
    let q = call.query_with(&["flag", "actor", "from", "to", "before", "limit"])?;
    let filter = event_filter(&q)?;
    let limit = filter.limit;
    let store = api.store.clone();
    let events = blocking(move || Ok(store.events(&filter)?)).await?;
    let next_before = (events.len() == limit)
        .then(|| events.last().map(|e| e.id))
        .flatten();
    Ok(json_response(
        StatusCode::OK,
        &EventPage {
            events,
            next_before,
        },
    ))
}

async fn deliveries(api: &Api, call: Call) -> Result<Response<Body>, ApiError> {
    let q = call.query_with(&["status", "webhook", "flag", "before", "limit"])?;
    let status = match q.text("status")? {
        None => None,
        Some(s) => Some(
            s.parse::<DeliveryStatus>()
                .map_err(|e| ApiError::invalid_parameter("status", e))?,
        ),
    };
    let filter = DeliveryFilter {
        status,
        webhook: q.text("webhook")?,
        flag: q.integer("flag", 1, i64::MAX)?,
        before_id: q.integer("before", 1, i64::MAX)?,
        limit: q.integer("limit", 1, 1000)?.unwrap_or(100) as usize,
    };
    let limit = filter.limit;
    let store = api.store.clone();
    let deliveries = blocking(move || Ok(store.deliveries(&filter)?)).await?;
    let next_before = (deliveries.len() == limit)
        .then(|| deliveries.last().map(|d| d.id))
        .flatten();
    Ok(json_response(
        StatusCode::OK,
        &DeliveryPage {
            deliveries,
            next_before,
        },
    ))
}

/// The rectification notice of a confirmed flag; a HEAD records nothing.
async fn notice(api: &Api, call: Call) -> Result<Response<Body>, ApiError> {
    let id = flag_id(&call.param(0))?;
    call.query_with(&[])?;
    let record = call.request.method() != http::Method::HEAD;
    let notice = super::notice::generate(api, id, &call.actor, now(), record).await?;
    Ok(text(StatusCode::OK, "text/plain; charset=utf-8", notice))
}

/// The rectification notice of a customer, as text, HTML or PDF; a HEAD records nothing.
async fn customer_notice(api: &Api, call: Call) -> Result<Response<Body>, ApiError> {
    let q = call.query_with(&["format"])?;
    let format = super::notice::customer::NoticeFormat::parse(q.text("format")?.as_deref())?;
    let record = call.request.method() != http::Method::HEAD;
    super::notice::customer::generate(api, call.param(0), &call.actor, now(), record, format).await
}

#[derive(Serialize)]
struct DeliveryPage {
    deliveries: Vec<Delivery>,
    next_before: Option<i64>,
}

#[derive(Serialize)]
struct EventPage {
    events: Vec<FlagEvent>,
    next_before: Option<i64>,
}

#[derive(Serialize)]
struct SitePage {
    sites: Vec<SiteRecord>,
    next_after: Option<String>,
}

pub(crate) fn now() -> Timestamp {
    sitepatrol_core::clock::unix_now()
}

/// Runs a store call off the async threads.
pub(crate) fn flag_id(text: &str) -> Result<FlagId, ApiError> {
    text.parse::<FlagId>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::invalid_parameter("id", format!("`{text}` is not a flag id")))
}

pub(crate) async fn existing_site(api: &Api, id: String) -> Result<SiteRecord, ApiError> {
    let store = api.store.clone();
    let lookup = id.clone();
    blocking(move || Ok(store.site(&lookup)?))
        .await?
        .ok_or_else(|| ApiError::new(Code::SiteNotFound, format!("site `{id}` is not known")))
}

async fn list_flags(api: &Api, query: Option<&str>) -> Result<Response<Body>, ApiError> {
    let mut allowed = FLAG_FILTERS.to_vec();
    allowed.extend(["limit", "cursor"]);
    let q = Query::parse(query, &allowed)?;
    let mut filter = flag_filter(&q)?;
    filter.limit = q.integer("limit", 1, 1000)?.unwrap_or(100) as usize;
    filter.cursor = q.text("cursor")?;
    let store = api.store.clone();
    let page = blocking(move || Ok(store.list_flags(&filter)?)).await?;
    Ok(json_response(StatusCode::OK, &page))
}

async fn list_sites(api: &Api, query: Option<&str>) -> Result<Response<Body>, ApiError> {
    let q = Query::parse(query, &["after", "limit", "include_removed"])?;
    let limit = q.integer("limit", 1, 1000)?.unwrap_or(100) as usize;
    let after = q.text("after")?;
    let include_removed = q.boolean("include_removed")?.unwrap_or(false);
    let store = api.store.clone();
    let mut sites =
        blocking(move || Ok(store.sites(include_removed, after.as_deref(), limit + 1)?)).await?;
    let next_after = if sites.len() > limit {
        sites.truncate(limit);
        sites.last().map(|s| s.id.clone())
    } else {
        None
    };
    Ok(json_response(
        StatusCode::OK,
        &SitePage { sites, next_after },
    ))
}

/// The stored copy of the page a flag was found on, as text. Evidence is hostile: it is
/// served as `text/plain` in a sandbox with sniffing off, so no browser ever runs or renders
/// it as HTML in the API's origin. The bytes are decoded to UTF-8 the way the scanner decoded
/// them (GBK pages would otherwise be mojibake); the hash of the raw bytes is in a header.
pub(crate) async fn flag_body(
    api: &Api,
    id: FlagId,
    query: Option<&str>,
) -> Result<Response<Body>, ApiError> {
    Query::parse(query, &[])?;
    let (flag, body) = flag_and(api, id, |store, sha256| store.body(sha256)).await?;
    let Some(body) = body else {
        return Err(ApiError::new(
            Code::BodyNotStored,
            format!(
                "the page copy of flag {id} (sha256 {}) is not stored: never kept, or pruned after the retention",
                flag.body_sha256
            ),
        ));
    };
    let decoded = sitepatrol_core::decode::decode(
        &body.data,
        &sitepatrol_core::decode::DecodeOptions::default(),
    );
    let mut response = evidence(text(
        StatusCode::OK,
        "text/plain; charset=utf-8",
        decoded.text,
    ));
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&body.info.sha256) {
        headers.insert("x-sitepatrol-body-sha256", v);
    }
    headers.insert(
        "x-sitepatrol-body-truncated",
        HeaderValue::from_static(if body.info.truncated { "true" } else { "false" }),
    );
    headers.insert(
        "x-sitepatrol-body-encoding",
        HeaderValue::from_static(decoded.name),
    );
    Ok(response)
}

/// The render stage's screenshot of the flag's page (stored beside its page copy), as
/// `image/png`. The bytes are checked to be a PNG before they are served with that type, so
/// whatever the store holds is never sent as anything a browser would run; `nosniff` and
/// `CSP: sandbox` as for the page copy.
pub(crate) async fn flag_screenshot(
    api: &Api,
    id: FlagId,
    query: Option<&str>,
) -> Result<Response<Body>, ApiError> {
    Query::parse(query, &[])?;
    let (flag, png) = flag_and(api, id, |store, sha256| store.screenshot(sha256)).await?;
    let Some(png) = png.filter(|p| p.starts_with(PNG_SIGNATURE)) else {
        return Err(ApiError::new(
            Code::ScreenshotNotStored,
            format!(
                "no screenshot of flag {id}'s page (sha256 {}) is stored: the render stage is \
                 off, did not render it, or the copy was pruned after the retention",
                flag.body_sha256
            ),
        ));
    };
    Ok(evidence(text(StatusCode::OK, "image/png", png)))
}

/// Flag `id` and what `read` gets from the store by its page copy's hash.
async fn flag_and<T: Send + 'static>(
    api: &Api,
    id: FlagId,
    read: impl FnOnce(&dyn sitepatrol_store::Store, &str) -> sitepatrol_store::Result<T>
    + Send
    + 'static,
) -> Result<(Flag, T), ApiError> {
    let store = api.store.clone();
    blocking(move || {
        let Some(detail) = store.flag(id)? else {
            return Err(flag_not_found(id));
        };
        let found = read(store.as_ref(), &detail.flag.body_sha256)?;
        Ok((detail.flag, found))
    })
    .await
}

/// Hostile evidence as a response: a sandbox, no sniffing, no use from other origins.
fn evidence(mut response: Response<Body>) -> Response<Body> {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// The eight bytes every PNG starts with.
const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReasonBody {
    #[serde(default)]
    reason: Option<String>,
    /// The flag's version the action was meant for; a flag that changed since is a 409.
    #[serde(default)]
    version: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignBody {
    /// `null` or absent clears the assignment.
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
enum BulkAction {
    Confirm,
    Dismiss,
    Reopen,
    Assign,
    Comment,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkBody {
    action: BulkAction,
    ids: Vec<FlagId>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    assignee: Option<String>,
    #[serde(default)]
    text: Option<String>,
    /// Flag id → the version the action was meant for (JSON object keys are the ids as
    /// strings); a listed flag that changed since fails on its own with `conflict`.
    #[serde(default)]
    versions: std::collections::BTreeMap<FlagId, i64>,
}

fn check_len(name: &str, value: &Option<String>) -> Result<(), ApiError> {
    match value {
        Some(v) if v.chars().count() > MAX_TEXT_CHARS => Err(ApiError::new(
            Code::InvalidBody,
            format!("`{name}` is longer than {MAX_TEXT_CHARS} characters"),
        )),
        _ => Ok(()),
    }
}

/// A dismissal without a reason is refused before the store sees it, with the same code the
/// store's refusal maps to.
fn reason_required(reason: &Option<String>) -> Result<String, ApiError> {
    match reason {
        Some(r) if !r.trim().is_empty() => Ok(r.clone()),
        _ => Err(ApiError::new(
            Code::ReasonRequired,
            "dismissing needs a reason (why it is a false positive)",
        )),
    }
}

fn assignee(value: Option<String>) -> Result<Option<String>, ApiError> {
    match value {
        Some(a) if a.trim().is_empty() => Err(ApiError::new(
            Code::InvalidBody,
            "`assignee` is empty; send null to clear the assignment",
        )),
        Some(a) if a.chars().count() > 200 => Err(ApiError::new(
            Code::InvalidBody,
            "`assignee` is longer than 200 characters",
        )),
        other => Ok(other),
    }
}

/// A flag action from its request body, with the version it was meant for.
async fn action_from_body(
    op: Op,
    request: Request,
    timeout: std::time::Duration,
) -> Result<(FlagAction, Option<i64>), ApiError> {
    Ok(match op {
        Op::Confirm | Op::Dismiss | Op::Reopen => {
            let body: ReasonBody = read_json(request, timeout).await?;
            check_len("reason", &body.reason)?;
            let action = match op {
                Op::Confirm => FlagAction::Confirm {
                    reason: body.reason,
                },
                Op::Dismiss => FlagAction::Dismiss {
                    reason: reason_required(&body.reason)?,
                },
                _ => FlagAction::Reopen {
                    reason: body.reason,
                },
            };
            (action, body.version)
        }
        Op::Assign => {
            let body: AssignBody = read_json(request, timeout).await?;
            let action = FlagAction::Assign {
                assignee: assignee(body.assignee)?,
            };
            (action, body.version)
        }
        _ => {
            let body: CommentBody = read_json(request, timeout).await?;
            check_len("text", &Some(body.text.clone()))?;
            (FlagAction::Comment { text: body.text }, body.version)
        }
    })
}

#[derive(Serialize)]
struct BulkResult {
    id: FlagId,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    flag: Option<Flag>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<serde_json::Value>,
}

async fn bulk(api: &Api, request: Request, actor: String) -> Result<Response<Body>, ApiError> {
    let body: BulkBody = read_json(request, api.body_read_timeout()).await?;
    if body.ids.is_empty() {
        return Err(ApiError::new(Code::InvalidBody, "`ids` is empty"));
    }
    if body.ids.len() > MAX_BULK_IDS {
        return Err(ApiError::new(
            Code::TooManyIds,
            format!(
                "{} ids; a bulk action takes at most {MAX_BULK_IDS}",
                body.ids.len()
            ),
        ));
    }
    check_len("reason", &body.reason)?;
    check_len("text", &body.text)?;
    let misplaced = |name: &str, given: bool| -> Result<(), ApiError> {
        if given {
            Err(ApiError::new(
                Code::InvalidBody,
                format!("`{name}` does not go with the action {:?}", body.action),
            ))
        } else {
            Ok(())
        }
    };
    let action = match body.action {
        BulkAction::Confirm | BulkAction::Reopen | BulkAction::Dismiss => {
            misplaced("assignee", body.assignee.is_some())?;
            misplaced("text", body.text.is_some())?;
            match body.action {
                BulkAction::Confirm => FlagAction::Confirm {
                    reason: body.reason.clone(),
                },
                BulkAction::Reopen => FlagAction::Reopen {
                    reason: body.reason.clone(),
                },
                _ => FlagAction::Dismiss {
                    reason: reason_required(&body.reason)?,
                },
            }
        }
        BulkAction::Assign => {
            misplaced("reason", body.reason.is_some())?;
            misplaced("text", body.text.is_some())?;
            FlagAction::Assign {
                assignee: assignee(body.assignee.clone())?,
            }
        }
        BulkAction::Comment => {
            misplaced("reason", body.reason.is_some())?;
            misplaced("assignee", body.assignee.is_some())?;
            match &body.text {
                Some(t) => FlagAction::Comment { text: t.clone() },
                None => {
                    return Err(ApiError::new(Code::InvalidBody, "a comment needs `text`"));
                }
            }
        }
    };
    if let Some(id) = body.versions.keys().find(|id| !body.ids.contains(id)) {
        return Err(ApiError::new(
            Code::InvalidBody,
            format!("`versions` names flag {id}, which is not in `ids`"),
        ));
    }
    let ids = body.ids;
    let versions: Vec<(FlagId, i64)> = body.versions.into_iter().collect();
    let store = api.store.clone();
    let outcomes =
        blocking(move || Ok(store.act_many(&ids, &action, &actor, now(), &versions)?)).await?;
    let mut succeeded = 0;
    let results: Vec<BulkResult> = outcomes
        .into_iter()
        .map(|(id, outcome)| match outcome {
            Ok(flag) => {
                succeeded += 1;
                BulkResult {
                    id,
                    ok: true,
                    flag: Some(flag),
                    error: None,
                }
            }
            Err(e) => BulkResult {
                id,
                ok: false,
                flag: None,
                error: Some(ApiError::from(e).body()["error"].clone()),
            },
        })
        .collect();
    let failed = results.len() - succeeded;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({
            "action": body.action,
            "succeeded": succeeded,
            "failed": failed,
            "results": results,
        }),
    ))
}

/// Reload rules, tokens and inventory as SIGHUP does, and say how each part went.
async fn reload(api: &Api) -> Result<Response<Body>, ApiError> {
    let (reply, answer) = oneshot::channel();
    let unavailable = || {
        ApiError::new(
            Code::Unavailable,
            "the daemon is stopping; nothing was reloaded",
        )
    };
    if api.reload.send(ReloadRequest { reply }).await.is_err() {
        return Err(unavailable());
    }
    // Loading rules can take seconds; the schedule loop answers when it is done.
    let report = match tokio::time::timeout(Duration::from_secs(120), answer).await {
        Ok(Ok(report)) => report,
        _ => return Err(unavailable()),
    };
    let part = |r: &Result<String, String>| match r {
        Ok(m) => serde_json::json!({"ok": true, "message": m}),
        Err(m) => serde_json::json!({"ok": false, "message": m}),
    };
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({
            "rules": part(&report.rules),
            "inventory": part(&report.inventory),
        }),
    ))
}

pub(crate) async fn recrawl(api: &Api, id: String) -> Result<Response<Body>, ApiError> {
    let site = existing_site(api, id).await?;
    let not_scheduled = || {
        ApiError::new(
            Code::NotScheduled,
            format!(
                "site `{}` is not in the schedule (removed from the inventory, or the daemon is stopping)",
                site.id
            ),
        )
    };
    if !site.in_inventory {
        return Err(not_scheduled());
    }
    let (reply, answer) = oneshot::channel();
    let request = RecrawlRequest {
        site: site.id.clone(),
        reply,
    };
    // The schedule loop answers within one turn; it is gone only while shutting down.
    if api.recrawl.send(request).await.is_err() {
        return Err(not_scheduled());
    }
    let outcome = match tokio::time::timeout(Duration::from_secs(30), answer).await {
        Ok(Ok(outcome)) => outcome,
        _ => return Err(not_scheduled()),
    };
    let status = match outcome {
        RecrawlOutcome::Queued => "queued",
        RecrawlOutcome::Running => "running",
        RecrawlOutcome::NotScheduled => return Err(not_scheduled()),
    };
    Ok(json_response(
        StatusCode::ACCEPTED,
        &serde_json::json!({ "site": site.id, "status": status }),
    ))
}

/// Matching flags as CSV or JSON lines, streamed: a page of 1,000 flags at a time is read,
/// written and sent, so an export of the whole store needs no more memory than one page. The
/// first page is read before answering, so a bad filter or a store that is down is still a
/// proper error; a failure later cuts the connection, so the client sees an incomplete
/// transfer rather than a short file that looks whole.
async fn export(api: &Api, query: Option<&str>, csv: bool) -> Result<Response<Body>, ApiError> {
    let q = Query::parse(query, FLAG_FILTERS)?;
    let mut filter = flag_filter(&q)?;
    filter.limit = 1000;
    let store = api.store.clone();
    let (first, filter) = blocking(move || {
        let page = store.list_flags(&filter)?;
        Ok((page, filter))
    })
    .await?;
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let store = api.store.clone();
    tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter(tx.clone());
        let result = (|| -> std::io::Result<()> {
            let mut page = first;
            let mut filter = filter;
            let mut csv_out = if csv {
                Some(CsvExport::new(&mut out)?)
            } else {
                None
            };
            let mut jsonl = Vec::new();
            loop {
                for flag in &page.flags {
                    match &mut csv_out {
                        Some(export) => export.write(flag)?,
                        None => write_jsonl(&mut jsonl, flag)?,
                    }
                }
                if !jsonl.is_empty() {
                    out_send(&tx, std::mem::take(&mut jsonl))?;
                }
                let Some(cursor) = page.next_cursor.take() else {
                    break;
                };
                filter.cursor = Some(cursor);
                page = store
                    .list_flags(&filter)
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
            }
            if let Some(export) = csv_out {
                export.finish()?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            // The client went away (nothing to tell), or the store failed mid-export: the
            // error frame makes the server cut the response.
            tracing::warn!(error = %e, "export stopped");
            let _ = tx.blocking_send(Err(e));
        }
    });
    let (content_type, name) = if csv {
        ("text/csv; charset=utf-8", "sitepatrol-flags.csv")
    } else {
        ("application/jsonl; charset=utf-8", "sitepatrol-flags.jsonl")
    };
    let mut response = Response::new(Body::new(ChannelBody(rx)));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

fn out_send(
    tx: &mpsc::Sender<Result<Bytes, std::io::Error>>,
    bytes: Vec<u8>,
) -> std::io::Result<()> {
    tx.blocking_send(Ok(Bytes::from(bytes)))
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away"))
}

/// Bytes written here are sent to the response body (the CSV writer writes its 8 KB buffer
/// at a time). Blocks while the client is slower than the store: that is the back-pressure.
struct ChannelWriter(mpsc::Sender<Result<Bytes, std::io::Error>>);

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        out_send(&self.0, buf.to_vec())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A response body fed by a channel.
struct ChannelBody(mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|item| item.map(|r| r.map(hyper::body::Frame::data)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::auth::{FailureLimiter, Tokens};
    use http_body_util::BodyExt;
    use sitepatrol_core::finding::{Finding, Severity};
    use sitepatrol_store::{CrawlRun, IngestPage, SiteInfo, SqliteStore, Store, StoreConfig};

    /// A store with `n` flags, one per page.
    fn store_with_flags(n: usize) -> Arc<dyn Store> {
        let store = SqliteStore::open_in_memory(StoreConfig::default()).unwrap();
        store
            .upsert_sites(
                &[SiteInfo {
                    id: "s".into(),
                    customer: "示例客户".into(),
                    domains: vec!["s.example.test".into()],
                    origin: None,
                    contact: Default::default(),
                }],
                0,
            )
            .unwrap();
        let pages: Vec<IngestPage> = (0..n)
            .map(|i| {
                let url = format!("http://s.example.test/{i}.html");
                let finding = Finding {
                    record_type: Finding::RECORD_TYPE,
                    rule: "gambling.casino".into(),
                    category: "gambling".into(),
                    clause: "§2(7)".into(),
                    severity: Severity::High,
                    description: "网络赌场".into(),
                    target: url.as_str().into(),
                    zone: None,
                    matched: "在线赌博".into(),
                    normalized: "在线赌博".into(),
                    snippet: format!("第{i}页 在线赌博"),
                    offset: 0,
                    count: 1,
                    score: None,
                    signals: Vec::new(),
                    signals_omitted: 0,
                };
                IngestPage::matched(&url, 200, 10, format!("page {i}").as_bytes(), vec![finding])
            })
            .collect();
        let run = CrawlRun {
            key: "r1".into(),
            site: "s".into(),
            started_at: 10,
            finished_at: 20,
            outcome: sitepatrol_store::CrawlOutcome::Completed,
            rules_version: "v".into(),
            stats: serde_json::json!({}),
            release: None,
        };
        store.record_crawl(&run, &pages).unwrap();
        Arc::new(store)
    }

    fn api(store: Arc<dyn Store>) -> Api {
        Api::new(
            store,
            Tokens::default(),
            FailureLimiter::new(10, Duration::from_secs(60)),
            mpsc::channel(1).0,
            mpsc::channel(1).0,
        )
    }

    #[tokio::test]
    async fn exports_stream_every_page_of_flags() {
        let api = api(store_with_flags(2_345));
        let response = export(&api, Some("sort=oldest"), true).await.unwrap();
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/csv; charset=utf-8"
        );
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
        let mut reader = csv::Reader::from_reader(&bytes[3..]);
        let ids: Vec<i64> = reader
            .records()
            .map(|r| r.unwrap()[0].parse().unwrap())
            .collect();
        assert_eq!(ids.len(), 2_345);
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "in order, each once");

        let response = export(&api, Some("state=open"), false).await.unwrap();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(bytes.iter().filter(|b| **b == b'\n').count(), 2_345);
        let err = export(&api, Some("state=gone"), false).await.err().unwrap();
        assert_eq!(err.code, Code::InvalidParameter);
    }
}
