//! The review API under `/api/v1`, served by the daemon's HTTP server.
//!
//! One table ([`ROUTES`]) names each route's method, path and the role it needs; [`routes`]
//! builds the axum router from it, and the OpenAPI test reads the same table, so the document
//! (`openapi.json`, written by hand) cannot drift from what is served. Roles are checked by a
//! route layer, before the handler runs; paths and methods that are not served still need a
//! token, so that nothing, not even which paths exist, is told to a stranger.
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

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::IntoResponse;
use axum::routing::{MethodFilter, MethodRouter, any, on};
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use tokio::sync::{mpsc, oneshot};
use tracing::{Instrument, info, info_span};

use crate::http::{Body, Peer};
use crate::review::auth::{FailureLimiter, Principal, Refused, Role, Tokens, bearer};
pub use error::{ApiError, Code};
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
    FlagScreenshot,
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
    ListCases,
    GetCase,
    CaseConfirm,
    CaseDismiss,
    CaseReopen,
    CaseAssign,
    CaseComment,
    CustomerNotice,
    CaseEvents,
    CaseReport,
    CaseReportCsv,
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
    route("GET", "/flags/{id}/screenshot", VIEWER, Op::FlagScreenshot),
    route("GET", "/flags/{id}/notice", REVIEWER, Op::Notice),
    route("POST", "/flags/{id}/confirm", REVIEWER, Op::Confirm),
    route("POST", "/flags/{id}/dismiss", REVIEWER, Op::Dismiss),
    route("POST", "/flags/{id}/reopen", REVIEWER, Op::Reopen),
    route("POST", "/flags/{id}/assign", REVIEWER, Op::Assign),
    route("POST", "/flags/{id}/comment", REVIEWER, Op::Comment),
    route("GET", "/cases", VIEWER, Op::ListCases),
    route("GET", "/cases/{id}", VIEWER, Op::GetCase),
    route("GET", "/case-events", VIEWER, Op::CaseEvents),
    route("POST", "/cases/{id}/confirm", REVIEWER, Op::CaseConfirm),
    route("POST", "/cases/{id}/dismiss", REVIEWER, Op::CaseDismiss),
    route("POST", "/cases/{id}/reopen", REVIEWER, Op::CaseReopen),
    route("POST", "/cases/{id}/assign", REVIEWER, Op::CaseAssign),
    route("POST", "/cases/{id}/comment", REVIEWER, Op::CaseComment),
    route(
        "GET",
        "/customers/{customer}/notice",
        REVIEWER,
        Op::CustomerNotice,
    ),
    route("GET", "/reports/cases", VIEWER, Op::CaseReport),
    route("GET", "/reports/cases.csv", VIEWER, Op::CaseReportCsv),
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

    /// The principal of the request's bearer token. The token is checked first: a valid one
    /// always gets in. A wrong one counts against the client and its prefix
    /// (`FailureLimiter`), and is refused with 429 once that key, or the client's whole
    /// network, failed too often.
    fn authenticate(&self, request: &Request) -> Result<Principal, ApiError> {
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
            // Nothing to check a token against: not counted (a browser or a probe without a
            // token is no guess), but refused first when its key is over the limit.
            _ => {
                self.limiter
                    .check(client, presented, now)
                    .map_err(|wait| rate_limited(client, wait))?;
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

    /// A presented token checked, then counted under the failed-auth limiter
    /// ([`FailureLimiter::attempt`]), for the API and the login form alike: guessing through
    /// the form is exactly as slow as through the API, and a valid token is never refused.
    pub(crate) fn sign_in(
        &self,
        client: IpAddr,
        presented: &str,
        now: Instant,
    ) -> Result<Principal, ApiError> {
        let principal = self.principal_of(presented);
        let attempt = self
            .limiter
            .attempt(client, Some(presented), principal.is_some(), now);
        match (attempt, principal) {
            (Ok(()), Some(principal)) => Ok(principal),
            (Err(Refused::Limited(wait)), _) => Err(rate_limited(client, wait)),
            _ => Err(unauthorized("the bearer token is not valid")),
        }
    }

    /// A failed login by other means than a token (the first-run link), counted under the
    /// same limiter as tokens, with `presented` naming its key; `Err` is the 429 to answer
    /// with when the key or the network is over the limit.
    pub(crate) fn login_failed(
        &self,
        client: IpAddr,
        presented: &str,
        now: Instant,
    ) -> Result<(), ApiError> {
        match self.limiter.attempt(client, Some(presented), false, now) {
            Err(Refused::Limited(wait)) => Err(rate_limited(client, wait)),
            _ => Ok(()),
        }
    }

    /// A successful login by other means than a token: clears the key's failures as a valid
    /// token would.
    pub(crate) fn login_succeeded(&self, client: IpAddr, presented: &str, now: Instant) {
        let _ = self.limiter.attempt(client, Some(presented), true, now);
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
        Code::RateLimited,
        format!(
            "too many failed authentications from {client} (this token, or this network); retry in {wait}s"
        ),
    );
    e.retry_after = Some(wait);
    e
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(Code::Unauthorized, message)
}

fn no_route(path: &str) -> ApiError {
    ApiError::new(
        Code::NoRoute,
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

/// The API's routes (under [`PREFIX`]) and its fallbacks, inside the layer that gives every
/// API response its request id, its log line and its cache and sniffing headers. With
/// `ops_paths`, the operations paths are the API's too (a listener of the API's own: they
/// answer 401 or 404 there, as any other path the API does not serve).
pub fn routes(api: Arc<Api>, ops_paths: bool) -> Router {
    let mut router = Router::new();
    let paths: std::collections::BTreeSet<&'static str> = ROUTES.iter().map(|r| r.path).collect();
    for path in paths {
        let here: Vec<&Route> = ROUTES.iter().filter(|r| r.path == path).collect();
        let mut methods = MethodRouter::new();
        for route in &here {
            methods = methods.merge(method_route(&api, **route));
        }
        let allow = allowed_methods(&here);
        let fallback = move |State(api): State<Arc<Api>>, request: Request| {
            let allow = allow.clone();
            async move { refuse_after_auth(&api, &request, method_not_allowed(&request, allow)) }
        };
        router = router.route(&format!("{PREFIX}{path}"), methods.fallback(fallback));
    }
    let not_served = |State(api): State<Arc<Api>>, request: Request| async move {
        let e = no_route(request.uri().path());
        refuse_after_auth(&api, &request, e)
    };
    router = router
        .route("/api", any(not_served))
        .route("/api/", any(not_served))
        .route("/api/{*rest}", any(not_served));
    if ops_paths {
        for path in ["/metrics", "/healthz", "/readyz", "/status"] {
            router = router.route(path, any(not_served));
        }
    }
    router.with_state(api).layer(from_fn(envelope))
}

/// One route of the table: its handler, behind its role's check.
fn method_route(api: &Arc<Api>, route: Route) -> MethodRouter<Arc<Api>> {
    let handler = move |State(api): State<Arc<Api>>,
                        params: Result<
        Path<Vec<(String, String)>>,
        axum::extract::rejection::PathRejection,
    >,
                        request: Request| async move {
        // A `{name}` segment that does not decode (bad escapes, not UTF-8) is no route.
        let Ok(Path(params)) = params else {
            return Err(no_route(request.uri().path()));
        };
        let params = params.into_iter().map(|(_, value)| value).collect();
        let principal = request.extensions().get::<Principal>().cloned();
        handlers::handle(api, route.op, params, principal, request).await
    };
    let filter = method_filter(route.method);
    let methods = on(filter, handler);
    match route.role {
        None => methods,
        Some(role) => methods.route_layer(from_fn_with_state(
            RoleGate {
                api: api.clone(),
                role,
            },
            require_role,
        )),
    }
}

fn method_filter(method: &str) -> MethodFilter {
    match method {
        "POST" => MethodFilter::POST,
        "PUT" => MethodFilter::PUT,
        "DELETE" => MethodFilter::DELETE,
        "PATCH" => MethodFilter::PATCH,
        // GET routes answer HEAD too, without the body.
        _ => MethodFilter::GET,
    }
}

/// The `Allow` header of a path: its methods, and HEAD wherever GET is.
fn allowed_methods(routes: &[&Route]) -> String {
    let mut methods: Vec<&str> = routes.iter().map(|r| r.method).collect();
    if methods.contains(&"GET") {
        methods.push("HEAD");
    }
    methods.sort_unstable();
    methods.dedup();
    methods.join(", ")
}

fn method_not_allowed(request: &Request, allow: String) -> ApiError {
    let mut e = ApiError::new(
        Code::MethodNotAllowed,
        format!("{} is not allowed here; use {allow}", request.method()),
    );
    e.allow = Some(allow);
    e
}

/// The answer to a request the API does not serve: the error when the caller has a valid
/// token, else the authentication error (unknown paths reveal nothing to strangers).
fn refuse_after_auth(api: &Api, request: &Request, e: ApiError) -> Response<Body> {
    match api.authenticate(request) {
        Ok(principal) => with_actor(e.into_response(), principal.name),
        Err(auth) => auth.into_response(),
    }
}

/// Who a response was for, read by [`envelope`]'s log line.
#[derive(Clone)]
struct Actor(String);

fn with_actor(mut response: Response<Body>, name: String) -> Response<Body> {
    response.extensions_mut().insert(Actor(name));
    response
}

#[derive(Clone)]
struct RoleGate {
    api: Arc<Api>,
    role: Role,
}

/// The route layer of every route that needs a role: the bearer token's principal, which the
/// handler finds in the request's extensions, or 401, 403 or 429.
async fn require_role(
    State(gate): State<RoleGate>,
    mut request: Request,
    next: Next,
) -> Response<Body> {
    let principal = match gate.api.authenticate(&request) {
        Ok(principal) => principal,
        Err(e) => return e.into_response(),
    };
    let name = principal.name.clone();
    if !principal.role.allows(gate.role) {
        let e = ApiError::new(
            Code::Forbidden,
            format!(
                "the token `{}` has the role {}; this needs {}",
                principal.name, principal.role, gate.role
            ),
        );
        return with_actor(e.into_response(), name);
    }
    request.extensions_mut().insert(principal);
    with_actor(next.run(request).await, name)
}

/// Around every API request: its id (in the response and in the `api` span of every log line
/// about it), one log line when it is answered, and the headers every API response carries.
async fn envelope(request: Request, next: Next) -> Response<Body> {
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
        let mut response = next.run(request).await;
        let actor = response.extensions().get::<Actor>().map(|a| a.0.clone());
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
    let mut response = crate::http::text(e.status(), "application/json", body);
    let headers = response.headers_mut();
    if e.status() == StatusCode::UNAUTHORIZED {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    if let Some(wait) = e.retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(wait));
    }
    if let Some(allow) = e
        .allow
        .as_deref()
        .and_then(|a| HeaderValue::from_str(a).ok())
    {
        headers.insert(header::ALLOW, allow);
    }
    response
}

/// The request body, at most `limit` bytes (`what` names it in errors: "body", "form").
/// Bounded in time as well as size: a client that trickles its body (before any login, for
/// the UI's form) does not hold a handler and its connection forever.
pub(crate) async fn read_body(
    request: Request,
    limit: usize,
    timeout: std::time::Duration,
    what: &str,
) -> Result<Bytes, ApiError> {
    let collected =
        tokio::time::timeout(timeout, Limited::new(request.into_body(), limit).collect())
            .await
            .map_err(|_| {
                ApiError::new(
                    Code::RequestTimeout,
                    format!("the {what} did not arrive within {timeout:?}"),
                )
            })?;
    let collected = collected.map_err(|e| {
        if e.is::<http_body_util::LengthLimitError>() {
            ApiError::new(
                Code::PayloadTooLarge,
                format!("the {what} is over {limit} bytes"),
            )
        } else {
            ApiError::new(Code::InvalidBody, format!("cannot read the {what}: {e}"))
        }
    })?;
    Ok(collected.to_bytes())
}

/// The request body as JSON of type `T`; an empty body is `{}` (actions whose fields are all
/// optional may be posted bare).
pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
    request: Request,
    timeout: std::time::Duration,
) -> Result<T, ApiError> {
    if let Some(ct) = request.headers().get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("");
        let essence = ct.split(';').next().unwrap_or("").trim();
        if !essence.eq_ignore_ascii_case("application/json") {
            return Err(ApiError::new(
                Code::UnsupportedMediaType,
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
        ApiError::new(Code::InvalidBody, format!("invalid JSON body{at}: {inner}"))
    })?;
    // One JSON value and nothing after it but whitespace: `{"a":1} junk` or `{}{}` is not a
    // body whose meaning anyone can be sure of.
    de.end().map_err(|e| {
        ApiError::new(
            Code::InvalidBody,
            format!("invalid JSON body: trailing characters after the value: {e}"),
        )
    })?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::review::auth::{TokenEntry, hash_token};
    use sitepatrol_store::{SqliteStore, StoreConfig};
    use tower::ServiceExt;

    /// The API's router over an empty store, with a viewer's token `v` and a reviewer's `r`.
    fn router() -> Router {
        let store = SqliteStore::open_in_memory(StoreConfig::default()).unwrap();
        let entry = |name: &str, role| TokenEntry {
            name: name.into(),
            role,
            hash: hash_token(name),
        };
        let tokens = Tokens::new(&[entry("v", Role::Viewer), entry("r", Role::Reviewer)]).unwrap();
        let api = Api::new(
            Arc::new(store),
            tokens,
            FailureLimiter::new(100, std::time::Duration::from_secs(60)),
            mpsc::channel(1).0,
            mpsc::channel(1).0,
        );
        routes(Arc::new(api), false)
    }

    /// Status, error code (empty for a success) and `Allow` of one request.
    async fn ask(method: &str, path: &str, token: Option<&str>) -> (u16, String, String) {
        let mut request = http::Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response = router()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let allow = response
            .headers()
            .get(header::ALLOW)
            .map_or(String::new(), |v| v.to_str().unwrap().to_string());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let code = value["error"]["code"].as_str().unwrap_or("").to_string();
        (status, code, allow)
    }

    #[tokio::test]
    async fn routes_decode_their_segments_and_literal_segments_win() {
        let site = ask("GET", "/api/v1/sites/%E7%A4%BA%E4%BE%8B/runs", Some("v")).await;
        assert_eq!((site.0, site.1.as_str()), (404, "site_not_found"));
        // `bulk` is the literal route, not a flag id: a viewer may not post to it.
        let bulk = ask("POST", "/api/v1/flags/bulk", Some("v")).await;
        assert_eq!((bulk.0, bulk.1.as_str()), (403, "forbidden"));
        let flag = ask("GET", "/api/v1/flags/42", Some("v")).await;
        assert_eq!((flag.0, flag.1.as_str()), (404, "flag_not_found"));
        let openapi = ask("GET", "/api/v1/openapi.json", None).await;
        assert_eq!(openapi.0, 200);
    }

    #[tokio::test]
    async fn wrong_methods_get_405_with_the_paths_methods_after_authentication() {
        let delete = ask("DELETE", "/api/v1/flags/42", Some("v")).await;
        assert_eq!(
            delete,
            (405, "method_not_allowed".into(), "GET, HEAD".into())
        );
        // A viewer asking a reviewer's route with the wrong method learns the method, not
        // the role: the role layer runs only on the route's own method.
        let get_bulk = ask("GET", "/api/v1/flags/bulk", Some("v")).await;
        assert_eq!(get_bulk, (405, "method_not_allowed".into(), "POST".into()));
        let stranger = ask("DELETE", "/api/v1/flags/42", None).await;
        assert_eq!((stranger.0, stranger.1.as_str()), (401, "unauthorized"));
    }

    #[tokio::test]
    async fn unknown_paths_are_no_route_for_token_holders_only() {
        for path in [
            "/api/v1/nope",
            "/api/v1/flags/",
            "/api",
            "/api/",
            "/api/v2/flags",
        ] {
            let known = ask("GET", path, Some("v")).await;
            assert_eq!((known.0, known.1.as_str()), (404, "no_route"), "{path}");
            let stranger = ask("GET", path, None).await;
            assert_eq!(
                (stranger.0, stranger.1.as_str()),
                (401, "unauthorized"),
                "{path}"
            );
        }
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
