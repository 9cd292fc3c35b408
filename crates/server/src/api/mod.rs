//! The review API under `/api/v1`, served by the daemon's HTTP server.
//!
//! A small router over raw hyper rather than a framework: the daemon already speaks hyper, the
//! API is a dozen routes, and one table ([`ROUTES`]) that names each route's method, path and
//! the role it needs is what both the dispatcher and the OpenAPI test read, so the document
//! (`openapi.json`, written by hand) cannot drift from what is served.
//!
//! Every request gets an id (the client's `x-request-id` when it is sane, else a random one),
//! echoed in the response and carried by the `api` span of every log line about it. Store calls
//! are blocking and run on `spawn_blocking`.

pub mod error;
pub(crate) mod handlers;
pub mod notice;
pub mod query;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use tokio::sync::{mpsc, oneshot};
use tracing::{Instrument, info, info_span, warn};

use crate::http::{Body, Peer};
use crate::review::auth::{FailureLimiter, Principal, Refused, Role, Tokens, bearer};
pub use error::ApiError;
use sitepatrol_store::Store;

/// Where the API lives.
pub const PREFIX: &str = "/api/v1";

/// The OpenAPI 3 document, served as is at `/api/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Request bodies larger than this are refused (a bulk action of 1,000 ids is ~10 KB).
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// How long a request body may take to arrive.
pub const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Ids one bulk action may name.
pub const MAX_BULK_IDS: usize = 1000;

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    OpenApi,
    ListFlags,
    GetFlag,
    FlagBody,
    Confirm,
    Dismiss,
    Reopen,
    Assign,
    Comment,
    Bulk,
    ListSites,
    GetSite,
    SiteRuns,
    Recrawl,
    Reload,
    Events,
    ExportCsv,
    ExportJsonl,
    WebhookDeliveries,
    Notice,
}

/// One route: the method, the path under [`PREFIX`] with `{name}` segments, and the role it
/// needs (`None`: no token needed).
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub role: Option<Role>,
    pub op: Op,
}

const fn route(method: &'static str, path: &'static str, role: Option<Role>, op: Op) -> Route {
    Route {
        method,
        path,
        role,
        op,
    }
}

const VIEWER: Option<Role> = Some(Role::Viewer);
const REVIEWER: Option<Role> = Some(Role::Reviewer);
const ADMIN: Option<Role> = Some(Role::Admin);

/// Every route the API serves. Literal segments win over `{name}` ones when both match.
pub const ROUTES: &[Route] = &[
    route("GET", "/openapi.json", None, Op::OpenApi),
    route("GET", "/flags", VIEWER, Op::ListFlags),
    route("POST", "/flags/bulk", REVIEWER, Op::Bulk),
    route("GET", "/flags/{id}", VIEWER, Op::GetFlag),
    route("GET", "/flags/{id}/body", VIEWER, Op::FlagBody),
    route("GET", "/flags/{id}/notice", REVIEWER, Op::Notice),
    route("POST", "/flags/{id}/confirm", REVIEWER, Op::Confirm),
    route("POST", "/flags/{id}/dismiss", REVIEWER, Op::Dismiss),
    route("POST", "/flags/{id}/reopen", REVIEWER, Op::Reopen),
    route("POST", "/flags/{id}/assign", REVIEWER, Op::Assign),
    route("POST", "/flags/{id}/comment", REVIEWER, Op::Comment),
    route("GET", "/sites", VIEWER, Op::ListSites),
    route("GET", "/sites/{site}", VIEWER, Op::GetSite),
    route("GET", "/sites/{site}/runs", VIEWER, Op::SiteRuns),
    route("POST", "/sites/{site}/recrawl", ADMIN, Op::Recrawl),
    route("POST", "/reload", ADMIN, Op::Reload),
    route("GET", "/events", VIEWER, Op::Events),
    route("GET", "/export/flags.csv", VIEWER, Op::ExportCsv),
    route("GET", "/export/flags.jsonl", VIEWER, Op::ExportJsonl),
    // Admin: the errors name the operator's receivers (hosts, ports), which is operations
    // detail rather than review material.
    route("GET", "/webhooks/deliveries", ADMIN, Op::WebhookDeliveries),
];

/// A recrawl request for the daemon's schedule loop, which owns the schedule.
pub struct RecrawlRequest {
    pub site: String,
    pub reply: oneshot::Sender<RecrawlOutcome>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecrawlOutcome {
    /// Due now: the next free crawl slot takes it.
    Queued,
    /// A crawl of it is running; it is not started twice.
    Running,
    /// Not in the schedule (removed from the inventory).
    NotScheduled,
}

/// A reload request (rules, tokens, inventory) for the schedule loop, which owns them.
pub struct ReloadRequest {
    pub reply: oneshot::Sender<ReloadReport>,
}

/// What a reload did: for each part, what serves now, or why the old one still does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadReport {
    pub rules: Result<String, String>,
    pub inventory: Result<String, String>,
}

impl Default for ReloadReport {
    fn default() -> ReloadReport {
        ReloadReport {
            rules: Err("not reloaded".into()),
            inventory: Err("not reloaded".into()),
        }
    }
}

/// What the API handlers share.
pub struct Api {
    pub(crate) store: Arc<dyn Store>,
    tokens: RwLock<Tokens>,
    limiter: FailureLimiter,
    pub(crate) recrawl: mpsc::Sender<RecrawlRequest>,
    pub(crate) reload: mpsc::Sender<ReloadRequest>,
    /// The rectification notice template and its settings; replaced on reload.
    notices: RwLock<Arc<notice::NoticeSettings>>,
    /// How long a request body may take to arrive (`http.body_read_timeout`).
    body_read_timeout: std::time::Duration,
}

impl Api {
    pub fn new(
        store: Arc<dyn Store>,
        tokens: Tokens,
        limiter: FailureLimiter,
        recrawl: mpsc::Sender<RecrawlRequest>,
        reload: mpsc::Sender<ReloadRequest>,
    ) -> Api {
        Api {
            store,
            tokens: RwLock::new(tokens),
            limiter,
            recrawl,
            reload,
            notices: RwLock::new(Arc::new(notice::NoticeSettings::default())),
            body_read_timeout: BODY_READ_TIMEOUT,
        }
    }

    /// How long a request body (JSON or form) may take to arrive ([`BODY_READ_TIMEOUT`] unless
    /// set here).
    pub fn with_body_read_timeout(mut self, timeout: std::time::Duration) -> Api {
        self.body_read_timeout = timeout;
        self
    }

    pub(crate) fn body_read_timeout(&self) -> std::time::Duration {
        self.body_read_timeout
    }

    /// The notice template and settings from the config (the bundled ones until called).
    pub fn set_notices(&self, settings: notice::NoticeSettings) {
        *self.notices.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(settings);
    }

    pub(crate) fn notices(&self) -> Arc<notice::NoticeSettings> {
        self.notices
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// New tokens after a reload; requests in flight finish with the old ones.
    pub fn set_tokens(&self, tokens: Tokens) {
        *self.tokens.write().unwrap_or_else(|e| e.into_inner()) = tokens;
    }

    /// Serve one request whose path is under [`PREFIX`] (anything else: `no_route`).
    pub async fn handle(self: Arc<Self>, request: Request<Incoming>) -> Response<Body> {
        let started = Instant::now();
        let request_id = request
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| sane_request_id(v))
            .map(str::to_string)
            .unwrap_or_else(|| format!("{:016x}", fastrand::u64(..)));
        let span = info_span!(
            "api",
            request_id = %request_id,
            method = %request.method(),
            path = %request.uri().path(),
        );
        async move {
            let (result, actor) = self.dispatch(request).await;
            let mut response = match result {
                Ok(response) => response,
                Err(e) => {
                    if e.status.is_server_error() {
                        warn!(code = e.code, error = %e.message, "api request failed");
                    }
                    error_response(&e)
                }
            };
            let headers = response.headers_mut();
            if let Ok(value) = HeaderValue::from_str(&request_id) {
                headers.insert("x-request-id", value);
            }
            // Flags and evidence are sensitive: no proxy or browser cache keeps them, and no
            // browser second-guesses a content type.
            headers
                .entry(header::CACHE_CONTROL)
                .or_insert(HeaderValue::from_static("no-store"));
            headers.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            info!(
                status = response.status().as_u16(),
                actor = actor.as_deref().unwrap_or("-"),
                took_ms = started.elapsed().as_millis() as u64,
                "api request"
            );
            response
        }
        .instrument(span)
        .await
    }

    async fn dispatch(
        self: &Arc<Self>,
        request: Request<Incoming>,
    ) -> (Result<Response<Body>, ApiError>, Option<String>) {
        let path = request.uri().path().to_string();
        let method = request.method().clone();
        let head = method == Method::HEAD;
        let found = match path.strip_prefix(PREFIX).filter(|r| r.starts_with('/')) {
            Some(rest) => find_route(if head { &Method::GET } else { &method }, rest),
            None => Err(no_route(&path)),
        };
        let (route, params) = match found {
            Ok(found) => found,
            // Unknown routes and methods need a token too: without one, nothing is revealed,
            // not even which paths exist.
            Err(e) => {
                return match self.authenticate(&request) {
                    Ok(principal) => (Err(e), Some(principal.name)),
                    Err(auth) => (Err(auth), None),
                };
            }
        };
        let principal = match route.role {
            None => None,
            Some(needed) => match self.authenticate(&request) {
                Ok(principal) if principal.role.allows(needed) => Some(principal),
                Ok(principal) => {
                    return (
                        Err(ApiError::new(
                            StatusCode::FORBIDDEN,
                            "forbidden",
                            format!(
                                "the token `{}` has the role {}; this needs {needed}",
                                principal.name, principal.role
                            ),
                        )),
                        Some(principal.name),
                    );
                }
                Err(e) => return (Err(e), None),
            },
        };
        let actor = principal.as_ref().map(|p| p.name.clone());
        let result = handlers::handle(self.clone(), route.op, params, principal, request).await;
        let result = result.map(|mut response| {
            if head {
                *response.body_mut() = crate::http::full(Bytes::new());
            }
            response
        });
        (result, actor)
    }

    /// The principal of the request's bearer token; failures count against the client's
    /// network, and a network over the limit is refused unless the token already
    /// authenticated from it (`FailureLimiter`).
    fn authenticate(&self, request: &Request<Incoming>) -> Result<Principal, ApiError> {
        let client = request
            .extensions()
            .get::<Peer>()
            .map(|p| p.0.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let now = Instant::now();
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer);
        let no_tokens = self.tokens_empty();
        match presented {
            Some(presented) if !no_tokens => self.sign_in(client, presented, now),
            // Nothing to check a token against: still refused first when over the limit.
            _ => {
                self.check_limiter(client, now)?;
                Err(unauthorized(if no_tokens {
                    "no API tokens are configured; add [[api.tokens]] lines from `sitepatrol token new` to the daemon's config"
                } else {
                    "a bearer token is required (Authorization: Bearer spt_...)"
                }))
            }
        }
    }

    fn tokens_empty(&self) -> bool {
        self.tokens
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }

    /// A presented token checked under the failed-auth limiter
    /// ([`FailureLimiter::attempt`]), for the API and the login form alike: guessing through
    /// the form is exactly as slow as through the API.
    pub(crate) fn sign_in(
        &self,
        client: IpAddr,
        presented: &str,
        now: Instant,
    ) -> Result<Principal, ApiError> {
        let principal = self.principal_of(presented);
        let who = principal.as_ref().map(|p| p.name.as_str());
        match (self.limiter.attempt(client, who, now), principal) {
            (Ok(()), Some(principal)) => Ok(principal),
            (Err(Refused::Limited(wait)), _) => Err(rate_limited(client, wait)),
            _ => Err(unauthorized("the bearer token is not valid")),
        }
    }

    /// Whether `client` is over the failed-auth limit now (`Err`: a 429 to answer with).
    fn check_limiter(&self, client: IpAddr, now: Instant) -> Result<(), ApiError> {
        self.limiter
            .check(client, now)
            .map_err(|wait| rate_limited(client, wait))
    }

    /// The principal a token stands for now, without touching the limiter: a UI session
    /// re-checks the token it was opened with on every request, so a token removed by a
    /// reload ends its sessions too.
    pub(crate) fn principal_of(&self, token: &str) -> Option<Principal> {
        self.tokens
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .authenticate(token)
    }
}

fn rate_limited(client: IpAddr, wait: u64) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("too many failed authentications from {client}; retry in {wait}s"),
    );
    e.retry_after = Some(wait);
    e
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

fn no_route(path: &str) -> ApiError {
    ApiError::not_found(
        "no_route",
        format!("no API route {path}; see {PREFIX}/openapi.json"),
    )
}

/// Request ids the client may choose: short, and safe in a header and a log line.
fn sane_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// The route for `method` and `path` (under the prefix), with its `{name}` values decoded.
pub fn find_route(method: &Method, path: &str) -> Result<(Route, Vec<String>), ApiError> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut best: Option<(usize, Route, Vec<String>)> = None;
    let mut allowed: Vec<&str> = Vec::new();
    for route in ROUTES {
        let pattern: Vec<&str> = route.path.trim_start_matches('/').split('/').collect();
        if pattern.len() != segments.len() {
            continue;
        }
        let mut params = Vec::new();
        let mut literals = 0;
        let mut ok = true;
        for (p, s) in pattern.iter().zip(&segments) {
            if p.starts_with('{') {
                match percent_decode(s) {
                    Some(value) if !value.is_empty() => params.push(value),
                    _ => {
                        ok = false;
                        break;
                    }
                }
            } else if p == s {
                literals += 1;
            } else {
                ok = false;
                break;
            }
        }
        if !ok {
            continue;
        }
        if route.method != method.as_str() {
            allowed.push(route.method);
            continue;
        }
        if best.as_ref().is_none_or(|(l, _, _)| literals > *l) {
            best = Some((literals, *route, params));
        }
    }
    match best {
        Some((_, route, params)) => Ok((route, params)),
        None if !allowed.is_empty() => {
            allowed.sort_unstable();
            allowed.dedup();
            Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{method} is not allowed here; use {}", allowed.join(" or ")),
            ))
        }
        None => Err(no_route(&format!("{PREFIX}{path}"))),
    }
}

/// `%XX` escapes decoded; `None` for a bad escape or bytes that are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

pub fn json_response(status: StatusCode, value: &impl serde::Serialize) -> Response<Body> {
    match serde_json::to_vec(value) {
        Ok(mut body) => {
            body.push(b'\n');
            crate::http::text(status, "application/json", body)
        }
        Err(e) => error_response(&ApiError::internal(format!(
            "cannot encode the response: {e}"
        ))),
    }
}

pub fn error_response(e: &ApiError) -> Response<Body> {
    let mut body = e.body().to_string().into_bytes();
    body.push(b'\n');
    let mut response = crate::http::text(e.status, "application/json", body);
    let headers = response.headers_mut();
    if e.status == StatusCode::UNAUTHORIZED {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    if let Some(wait) = e.retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(wait));
    }
    if e.status == StatusCode::METHOD_NOT_ALLOWED
        && let Some(methods) = e.message.rsplit("use ").next()
        && let Ok(value) = HeaderValue::from_str(&methods.replace(" or ", ", "))
    {
        headers.insert(header::ALLOW, value);
    }
    response
}

/// The request body, at most `limit` bytes (`what` names it in errors: "body", "form").
/// Bounded in time as well as size: a client that trickles its body (before any login, for
/// the UI's form) does not hold a handler and its connection forever.
pub(crate) async fn read_body(
    request: Request<Incoming>,
    limit: usize,
    timeout: std::time::Duration,
    what: &str,
) -> Result<Bytes, ApiError> {
    let collected =
        tokio::time::timeout(timeout, Limited::new(request.into_body(), limit).collect())
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "request_timeout",
                    format!("the {what} did not arrive within {timeout:?}"),
                )
            })?;
    let collected = collected.map_err(|e| {
        if e.is::<http_body_util::LengthLimitError>() {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the {what} is over {limit} bytes"),
            )
        } else {
            ApiError::bad_request("invalid_body", format!("cannot read the {what}: {e}"))
        }
    })?;
    Ok(collected.to_bytes())
}

/// The request body as JSON of type `T`; an empty body is `{}` (actions whose fields are all
/// optional may be posted bare).
pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
    request: Request<Incoming>,
    timeout: std::time::Duration,
) -> Result<T, ApiError> {
    if let Some(ct) = request.headers().get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("");
        let essence = ct.split(';').next().unwrap_or("").trim();
        if !essence.eq_ignore_ascii_case("application/json") {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!("the body must be application/json, not `{ct}`"),
            ));
        }
    }
    let body = read_body(request, MAX_BODY_BYTES, timeout, "body").await?;
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        &body
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let at = if path == "." {
            String::new()
        } else {
            format!(" at `{path}`")
        };
        ApiError::bad_request("invalid_body", format!("invalid JSON body{at}: {inner}"))
    })?;
    // One JSON value and nothing after it but whitespace: `{"a":1} junk` or `{}{}` is not a
    // body whose meaning anyone can be sure of.
    de.end().map_err(|e| {
        ApiError::bad_request(
            "invalid_body",
            format!("invalid JSON body: trailing characters after the value: {e}"),
        )
    })?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_segments_win_and_methods_are_checked() {
        let (r, p) = find_route(&Method::POST, "/flags/bulk").unwrap();
        assert_eq!(r.op, Op::Bulk);
        assert!(p.is_empty());
        let (r, p) = find_route(&Method::GET, "/flags/42").unwrap();
        assert_eq!((r.op, p), (Op::GetFlag, vec!["42".to_string()]));
        let (r, p) = find_route(&Method::GET, "/sites/%E7%A4%BA%E4%BE%8B/runs").unwrap();
        assert_eq!((r.op, p), (Op::SiteRuns, vec!["示例".to_string()]));
        let e = find_route(&Method::DELETE, "/flags/42").unwrap_err();
        assert_eq!(
            (e.status, e.code),
            (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
        );
        assert_eq!(
            find_route(&Method::GET, "/nope").unwrap_err().code,
            "no_route"
        );
        assert_eq!(
            find_route(&Method::GET, "/flags/").unwrap_err().code,
            "no_route"
        );
        assert_eq!(
            find_route(&Method::GET, "/sites/%ZZ").unwrap_err().code,
            "no_route"
        );
    }

    #[test]
    fn every_route_is_unique() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(
                    (a.method, a.path) != (b.method, b.path),
                    "{} {} twice",
                    a.method,
                    a.path
                );
            }
        }
    }

    #[test]
    fn request_ids() {
        assert!(sane_request_id("abc-123_x.y:z"));
        assert!(!sane_request_id(""));
        assert!(!sane_request_id("a b"));
        assert!(!sane_request_id(&"x".repeat(65)));
    }
}
