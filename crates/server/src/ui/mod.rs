//! The reviewers' web UI at `/`: server-rendered HTML over the same store calls and token
//! checks as the review API, with a little JavaScript for keyboard shortcuts.
//!
//! Security shape, because evidence is hostile (every flag quotes text an attacker wrote):
//! - templates are rendered by a minijinja environment that HTML-escapes every value of the
//!   `.html` templates; nothing from a crawled page is marked safe, ever;
//! - every response carries a strict Content-Security-Policy without `'unsafe-inline'`, so even
//!   a missed escape could not run a script; the JS and CSS are files under `/assets/`;
//! - the raw page copy is only served by the API's sandboxed `text/plain` handler;
//! - logins become server-side sessions (a random id in an HttpOnly, SameSite=Strict cookie);
//!   every state-changing form carries the session's CSRF token, and a cross-origin `Origin`
//!   is refused on top of that;
//! - a first run without tokens signs in through a one-time link (`GET /login?once=...`):
//!   a random secret the daemon printed, whose hash alone is in the store, used once, within
//!   24 hours, from loopback unless `api.once_login_from` allows more.

mod cases;
pub mod i18n;
mod reports;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::middleware::{Next, from_fn};
use axum::routing::{any, get};
use http::{HeaderValue, Method, Response, StatusCode, header};
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use crate::api::error::{Code, blocking, flag_not_found};
use crate::api::handlers::{existing_site, flag_body, flag_id, flag_screenshot, now};
use crate::api::query::{FLAG_FILTERS, Query, flag_filter};
use crate::api::{Api, ApiError};
use crate::http::{Body, Peer, text};
use crate::review::auth::{Principal, Role, random_string};
use crate::review::export::rfc3339;
use crate::review::notice::TemplateError;
use i18n::{Lang, messages};
use sitepatrol_core::finding::Severity;
use sitepatrol_store::LoginLinkUse;
use sitepatrol_store::{FlagAction, FlagFilter, FlagState, Timestamp};

/// Every template, by name; `.html` names turn HTML auto-escaping on.
pub(crate) const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("login.html", include_str!("templates/login.html")),
    ("error.html", include_str!("templates/error.html")),
    (
        "filter-choices.html",
        include_str!("templates/filter-choices.html"),
    ),
    ("queue.html", include_str!("templates/queue.html")),
    ("cases.html", include_str!("templates/cases.html")),
    ("case.html", include_str!("templates/case.html")),
    ("flag.html", include_str!("templates/flag.html")),
    ("site.html", include_str!("templates/site.html")),
    ("reports.html", include_str!("templates/reports.html")),
];

const CSS: &str = include_str!("assets/ui.css");
const JS: &str = include_str!("assets/ui.js");

/// The policy of every UI response: only this origin's files, no inline script or style, no
/// framing, forms post only here.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

pub const SESSION_COOKIE: &str = "sitepatrol_session";
pub const LANG_COOKIE: &str = "sitepatrol_lang";
pub const LOGIN_COOKIE: &str = "sitepatrol_login";

/// Form bodies larger than this are refused (a comment is at most 10,000 characters).
const MAX_FORM_BYTES: usize = 64 * 1024;
/// Sessions kept at most; at the limit, expired ones go first, then the oldest.
const MAX_SESSIONS: usize = 10_000;
/// Flags per queue page.
const PAGE_SIZE: usize = 50;
/// Longest reason, comment or assignee accepted from a form, in characters (as the API).
const MAX_TEXT_CHARS: usize = 10_000;

struct Session {
    auth: SessionAuth,
    csrf: String,
    expires: Instant,
}

/// What a session was opened with.
enum SessionAuth {
    /// A token, kept in memory only: every request checks it against the current tokens, so a
    /// token removed by a reload ends its sessions at once.
    Token(String),
    /// A first-run link: no token stands behind it, so the session is this principal until it
    /// ends (`session_ttl`, or logout).
    FirstRun(Principal),
}

/// The principal a first-run link signs in as, and the actor its actions are audited under.
pub const FIRST_RUN_ADMIN: &str = "first-run-admin";

/// Whether a first-run link may be used from `client`: from a loopback address always (the
/// link is printed on the daemon's own terminal), from others only inside `allowed`
/// (`api.once_login_from`). An IPv4-mapped IPv6 address counts as its IPv4 address.
pub fn once_login_allowed(client: IpAddr, allowed: &[ipnet::IpNet]) -> bool {
    let client = match client {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(client, IpAddr::V4),
        v4 => v4,
    };
    client.is_loopback() || allowed.iter().any(|net| net.contains(&client))
}

/// The UI's settings from `[review]`.
#[derive(Debug, Clone)]
pub struct UiSettings {
    pub session_ttl: Duration,
    pub secure_cookies: bool,
    /// Networks besides loopback a first-run link may be used from (`api.once_login_from`).
    pub once_login_from: Vec<ipnet::IpNet>,
}

pub struct Ui {
    api: Arc<Api>,
    env: Environment<'static>,
    sessions: Mutex<HashMap<String, Session>>,
    settings: UiSettings,
}

/// What every page knows about its request.
struct Ctx {
    lang: Lang,
    /// Set when `?lang=` chose the language: the cookie to remember it.
    set_lang: bool,
    user: Option<Principal>,
    csrf: String,
    secure: bool,
}

/// A snippet cut around its match, each part escaped by the template on its own, so the
/// `<mark>` wraps escaped text and no part of the page's text is ever markup.
#[derive(Serialize, Default)]
struct Snippet {
    before: String,
    hit: String,
    after: String,
}

fn split_snippet(snippet: &str, matched: &str) -> Snippet {
    match (!matched.is_empty())
        .then(|| snippet.find(matched))
        .flatten()
    {
        Some(at) => Snippet {
            before: snippet[..at].to_string(),
            hit: matched.to_string(),
            after: snippet[at + matched.len()..].to_string(),
        },
        // The stored match is not in the snippet (normalized text): show the snippet whole
        // and nothing highlighted rather than guess.
        None => Snippet {
            before: snippet.to_string(),
            ..Snippet::default()
        },
    }
}

/// The page's URL as a link target, for http and https only: a stored `javascript:` or
/// `data:` URL is shown as text and never becomes a link.
fn link_target(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    matches!(parsed.scheme(), "http" | "https").then(|| parsed.to_string())
}

/// A `next` target for redirects after a form: a path on this site only.
fn local_path(next: &str) -> Option<&str> {
    (next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control))
    .then_some(next)
}

fn cookie<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Constant-time equality, for CSRF tokens.
fn same(a: &str, b: &str) -> bool {
    crate::review::auth::constant_time_eq(a.as_bytes(), b.as_bytes())
}

fn form_pairs(body: &[u8]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        // The first value wins: a field cannot be overridden by repeating it.
        out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    out
}

/// A query string of `pairs` (empty values left out).
/// The fields of a flag's or a case's action form, checked as the API checks its bodies.
struct ActionForm<'a>(&'a HashMap<String, String>);

impl ActionForm<'_> {
    /// A text field, trimmed; empty is absent; longer than [`MAX_TEXT_CHARS`] is refused.
    fn text(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            Some(v) if v.chars().count() > MAX_TEXT_CHARS => Err(ApiError::new(
                Code::InvalidBody,
                format!("`{name}` is longer than {MAX_TEXT_CHARS} characters"),
            )),
            other => Ok(other.map(str::to_string)),
        }
    }

    fn number(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.text(name)?
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    ApiError::new(Code::InvalidBody, format!("`{name}` is not a number"))
                })
            })
            .transpose()
    }

    fn dismissal_reason(&self) -> Result<String, ApiError> {
        self.text("reason")?.ok_or_else(|| {
            ApiError::new(
                Code::ReasonRequired,
                "dismissing needs a reason (why it is a false positive)",
            )
        })
    }

    fn comment(&self) -> Result<String, ApiError> {
        self.text("text")?
            .ok_or_else(|| ApiError::new(Code::EmptyComment, "a comment cannot be empty"))
    }

    /// Where to go after the action: a path of this site, or `fallback`.
    fn next_or(&self, fallback: String) -> String {
        self.0
            .get("next")
            .and_then(|n| local_path(n))
            .map(str::to_string)
            .unwrap_or(fallback)
    }
}

/// A list page's filters as the request gave them, for the links that keep them: narrowed
/// to one value, this page (with its cursor), the first page.
struct Filters<'a> {
    base: &'static str,
    current: Vec<(&'a str, String)>,
}

impl<'a> Filters<'a> {
    /// The filters named `names`, read from the query (absent ones empty).
    fn read(base: &'static str, q: &Query, names: &[&'a str]) -> Filters<'a> {
        let current = names
            .iter()
            .map(|name| (*name, q.text(name).ok().flatten().unwrap_or_default()))
            .collect();
        Filters { base, current }
    }

    /// This list with `name` set to `value` instead.
    fn with(&self, name: &str, value: &str) -> String {
        let mut pairs: Vec<(&str, String)> = self
            .current
            .iter()
            .filter(|(k, _)| *k != name)
            .cloned()
            .collect();
        pairs.push((name, value.to_string()));
        query_string(self.base, &pairs)
    }

    /// This page: the filters and the cursor it was reached with.
    fn here(&self, cursor: Option<&String>) -> String {
        let mut pairs = self.current.clone();
        if let Some(cursor) = cursor {
            pairs.push(("cursor", cursor.clone()));
        }
        query_string(self.base, &pairs)
    }

    fn first(&self) -> String {
        query_string(self.base, &self.current)
    }

    /// For the template's form: each filter's value.
    fn view(&self) -> BTreeMap<&'a str, String> {
        self.current.iter().cloned().collect()
    }
}

/// `base` with the non-empty `pairs` as its query.
fn query_string(base: &str, pairs: &[(&str, String)]) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if !v.is_empty() {
            out.append_pair(k, v);
        }
    }
    let q = out.finish();
    if q.is_empty() {
        base.into()
    } else {
        format!("{base}?{q}")
    }
}

/// The pages of the UI, as the router matched them.
enum Page {
    Login,
    Logout,
    /// The case queue.
    Queue,
    /// Every flag, as rows.
    Flags,
    Case(String),
    CaseAction(String, String),
    Flag(String),
    FlagAction(String, String),
    Site(String),
    SiteRecrawl(String),
    /// A customer's rectification notice (`?format=html|pdf|text`).
    CustomerNotice(String),
    /// The case report (`None`), or its CSV or JSON (the file name).
    Report(Option<String>),
    Unknown,
}

/// The UI's routes, everything not served elsewhere falling to its 404 page, inside the layer
/// that gives every UI response its security headers.
pub fn routes(ui: Arc<Ui>) -> Router {
    Router::new()
        .route(
            "/assets/ui.css",
            get(|| async { asset("text/css; charset=utf-8", CSS) }),
        )
        .route(
            "/assets/ui.js",
            get(|| async { asset("text/javascript; charset=utf-8", JS) }),
        )
        .route("/login", any(login_route))
        .route("/logout", any(logout_route))
        .route("/", any(queue_route))
        .route("/flags", any(flags_route))
        .route("/cases/{id}", any(case_route))
        .route("/cases/{id}/{action}", any(case_action_route))
        .route("/flags/{id}", any(flag_route))
        .route("/flags/{id}/{action}", any(flag_action_route))
        .route("/sites/{site}", any(site_route))
        .route("/sites/{site}/recrawl", any(site_recrawl_route))
        .route("/customers/{customer}/notice", any(customer_notice_route))
        .route("/reports", any(report_route))
        .route("/reports/{file}", any(report_file_route))
        .fallback(unknown_route)
        .with_state(ui)
        .layer(from_fn(page_headers))
}

type UiState = State<Arc<Ui>>;
/// A path segment that does not decode (bad escapes, not UTF-8) is no page.
type Segments<T> = Result<Path<T>, PathRejection>;

async fn login_route(State(ui): UiState, request: Request) -> Response<Body> {
    ui.page(request, Page::Login).await
}

async fn logout_route(State(ui): UiState, request: Request) -> Response<Body> {
    ui.page(request, Page::Logout).await
}

async fn queue_route(State(ui): UiState, request: Request) -> Response<Body> {
    ui.page(request, Page::Queue).await
}

async fn flags_route(State(ui): UiState, request: Request) -> Response<Body> {
    ui.page(request, Page::Flags).await
}

async fn case_route(State(ui): UiState, id: Segments<String>, request: Request) -> Response<Body> {
    let page = id.map_or(Page::Unknown, |Path(id)| Page::Case(id));
    ui.page(request, page).await
}

async fn case_action_route(
    State(ui): UiState,
    segments: Segments<(String, String)>,
    request: Request,
) -> Response<Body> {
    let page = segments.map_or(Page::Unknown, |Path((id, action))| {
        Page::CaseAction(id, action)
    });
    ui.page(request, page).await
}

async fn flag_route(State(ui): UiState, id: Segments<String>, request: Request) -> Response<Body> {
    let page = id.map_or(Page::Unknown, |Path(id)| Page::Flag(id));
    ui.page(request, page).await
}

async fn flag_action_route(
    State(ui): UiState,
    segments: Segments<(String, String)>,
    request: Request,
) -> Response<Body> {
    let page = segments.map_or(Page::Unknown, |Path((id, action))| {
        Page::FlagAction(id, action)
    });
    ui.page(request, page).await
}

async fn site_route(
    State(ui): UiState,
    site: Segments<String>,
    request: Request,
) -> Response<Body> {
    let page = site.map_or(Page::Unknown, |Path(site)| Page::Site(site));
    ui.page(request, page).await
}

async fn site_recrawl_route(
    State(ui): UiState,
    site: Segments<String>,
    request: Request,
) -> Response<Body> {
    let page = site.map_or(Page::Unknown, |Path(site)| Page::SiteRecrawl(site));
    ui.page(request, page).await
}

async fn customer_notice_route(
    State(ui): UiState,
    customer: Segments<String>,
    request: Request,
) -> Response<Body> {
    let page = customer.map_or(Page::Unknown, |Path(c)| Page::CustomerNotice(c));
    ui.page(request, page).await
}

async fn report_route(State(ui): UiState, request: Request) -> Response<Body> {
    ui.page(request, Page::Report(None)).await
}

async fn report_file_route(
    State(ui): UiState,
    file: Segments<String>,
    request: Request,
) -> Response<Body> {
    let page = file.map_or(Page::Unknown, |Path(file)| Page::Report(Some(file)));
    ui.page(request, page).await
}

async fn unknown_route(State(ui): UiState, request: Request) -> Response<Body> {
    ui.page(request, Page::Unknown).await
}

/// Every UI response's security headers; a HEAD answer loses its body.
async fn page_headers(request: Request, next: Next) -> Response<Body> {
    let head = request.method() == Method::HEAD;
    let mut response = next.run(request).await;
    security_headers(&mut response);
    if head {
        *response.body_mut() = Body::default();
    }
    response
}

impl Ui {
    pub fn new(api: Arc<Api>, settings: UiSettings) -> Result<Ui, TemplateError> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(minijinja::default_auto_escape_callback);
        // A misspelt key or field is an error (caught by the tests' page loads), not a blank.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.add_filter("time", |ts: Option<Timestamp>| {
            ts.map(rfc3339).unwrap_or_else(|| "-".into())
        });
        env.add_filter("urlencode", |text: &str| path_segment(text));
        env.add_filter("score", score);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .map_err(|e| TemplateError::Syntax {
                    name: format!("UI template {name}"),
                    line: e.line().unwrap_or(0),
                    message: e.to_string(),
                })?;
        }
        Ok(Ui {
            api,
            env,
            sessions: Mutex::new(HashMap::new()),
            settings,
        })
    }

    async fn page(&self, request: Request, page: Page) -> Response<Body> {
        let method = request.method().clone();
        let path = request.uri().path().to_string();
        let query = request.uri().query().map(str::to_string);
        let lang_param = query.as_deref().and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "lang")
                .and_then(|(_, v)| Lang::parse(&v))
        });
        let lang = lang_param
            .or_else(|| cookie(&request, LANG_COOKIE).and_then(Lang::parse))
            .unwrap_or(Lang::Zh);
        let secure = self.settings.secure_cookies
            || request
                .headers()
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.eq_ignore_ascii_case("https"));
        let mut ctx = Ctx {
            lang,
            set_lang: lang_param.is_some(),
            user: None,
            csrf: String::new(),
            secure,
        };
        let session_id = cookie(&request, SESSION_COOKIE).map(str::to_string);
        if let Some((user, csrf)) = session_id.as_deref().and_then(|id| self.session(id)) {
            ctx.user = Some(user);
            ctx.csrf = csrf;
        }
        let mut response = match self
            .route(
                request,
                &method,
                &path,
                page,
                query.as_deref(),
                session_id,
                &mut ctx,
            )
            .await
        {
            Ok(response) => response,
            Err(e) => self.error_page(&ctx, &e),
        };
        if ctx.set_lang {
            set_cookie(
                &mut response,
                &format!(
                    "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Strict; HttpOnly{}",
                    ctx.lang.as_str(),
                    if ctx.secure { "; Secure" } else { "" }
                ),
            );
        }
        response
    }

    #[allow(clippy::too_many_arguments)]
    async fn route(
        &self,
        request: Request,
        method: &Method,
        path: &str,
        page: Page,
        query: Option<&str>,
        session_id: Option<String>,
        ctx: &mut Ctx,
    ) -> Result<Response<Body>, ApiError> {
        let get = method == Method::GET || method == Method::HEAD;
        let post = method == Method::POST;
        match page {
            Page::Login => {
                let once = query.and_then(|q| {
                    url::form_urlencoded::parse(q.as_bytes())
                        .find(|(k, _)| k == "once")
                        .map(|(_, v)| v.into_owned())
                });
                return match (get, post, once) {
                    // GET only: a HEAD (a link checker, a preview) must not use the link up.
                    (true, _, Some(secret)) if method == Method::GET => {
                        let client = request.extensions().get::<Peer>().map(|p| p.0.ip());
                        self.once_login(client, ctx, &secret).await
                    }
                    (true, _, _) => self.login_form(ctx, StatusCode::OK, None),
                    (_, true, _) => self.login(request, ctx).await,
                    _ => Err(method_not_allowed()),
                };
            }
            // A path that is no page is 404 for everyone, logged in or not (the ops
            // listener's unknown paths stay 404 now that the UI answers them).
            Page::Unknown => return Err(not_found(path)),
            _ => {}
        }
        let Some(user) = ctx.user.clone() else {
            // Not logged in (or the session ended): every page but the login sends there.
            return Ok(redirect("/login"));
        };
        if post {
            let form = self.form(request, ctx).await?;
            return match page {
                Page::Logout => {
                    if let Some(id) = session_id {
                        self.lock().remove(&id);
                    }
                    let mut response = redirect("/login");
                    set_cookie(&mut response, &self.session_cookie("", 0, ctx.secure));
                    Ok(response)
                }
                Page::FlagAction(id, action) => self.act(&user, &id, &action, &form).await,
                Page::CaseAction(id, action) => self.case_act(&user, &id, &action, &form).await,
                Page::SiteRecrawl(site) => self.recrawl(&user, site).await,
                _ => Err(not_found(path)),
            };
        }
        if !get {
            return Err(method_not_allowed());
        }
        match page {
            Page::Queue => self.case_queue(ctx, query).await,
            Page::Flags => self.queue(ctx, query).await,
            Page::Case(id) => self.case_page(ctx, &id).await,
            Page::Flag(id) => self.flag_page(ctx, &id).await,
            Page::FlagAction(id, action) if action == "notice" => {
                need(&user, Role::Reviewer)?;
                let id = flag_id(&id)?;
                let record = method != Method::HEAD;
                let notice =
                    crate::api::notice::generate(&self.api, id, &user.name, now(), record).await?;
                Ok(text(StatusCode::OK, "text/plain; charset=utf-8", notice))
            }
            // The API's own handler: text/plain, CSP sandbox, nosniff.
            Page::FlagAction(id, action) if action == "snapshot" => {
                flag_body(&self.api, flag_id(&id)?, None).await
            }
            // The render's screenshot, through the API's handler (checked to be a PNG).
            Page::FlagAction(id, action) if action == "screenshot" => {
                flag_screenshot(&self.api, flag_id(&id)?, None).await
            }
            Page::Site(site) => self.site_page(ctx, site).await,
            Page::SiteRecrawl(_) => Err(method_not_allowed()),
            // The API's generator: the HTML one under its own sandbox policy (kept by the
            // UI's header layer), recorded once per reviewer, never on HEAD.
            Page::CustomerNotice(customer) => {
                need(&user, Role::Reviewer)?;
                let q = crate::api::query::Query::parse(query, &["format"])?;
                let format = crate::api::notice::customer::NoticeFormat::parse(
                    q.text("format")?.as_deref(),
                )?;
                let record = method != Method::HEAD;
                crate::api::notice::customer::generate(
                    &self.api,
                    customer,
                    &user.name,
                    now(),
                    record,
                    format,
                )
                .await
            }
            Page::Report(file) => self.report_page(ctx, query, file.as_deref()).await,
            _ => Err(not_found(path)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The user and CSRF token of a live session.
    fn session(&self, id: &str) -> Option<(Principal, String)> {
        let mut sessions = self.lock();
        let session = sessions.get(id)?;
        if session.expires <= Instant::now() {
            sessions.remove(id);
            return None;
        }
        let user = match &session.auth {
            SessionAuth::Token(token) => self.api.principal_of(token),
            SessionAuth::FirstRun(user) => Some(user.clone()),
        };
        match user {
            Some(user) => Some((user, session.csrf.clone())),
            None => {
                sessions.remove(id);
                None
            }
        }
    }

    fn session_cookie(&self, id: &str, max_age: u64, secure: bool) -> String {
        format!(
            "{SESSION_COOKIE}={id}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{}",
            if secure { "; Secure" } else { "" }
        )
    }

    async fn login(&self, request: Request, ctx: &mut Ctx) -> Result<Response<Body>, ApiError> {
        let client = request
            .extensions()
            .get::<Peer>()
            .map(|p| p.0.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        check_origin(&request)?;
        let login_cookie = cookie(&request, LOGIN_COOKIE).map(str::to_string);
        let form = read_form(request, self.api.body_read_timeout()).await?;
        // Login CSRF (a forged form logging the victim into someone else's session): the
        // form's token must equal the cookie the login page set (double submit; the cookie
        // is SameSite=Strict, so another site can neither read nor send it).
        match (login_cookie, form.get("csrf")) {
            (Some(c), Some(f)) if !c.is_empty() && same(&c, f) => {}
            _ => {
                return Err(ApiError::new(
                    Code::Csrf,
                    "the login form is stale or was not sent from this site; reload it and try again",
                ));
            }
        }
        let t = messages(ctx.lang);
        let started = Instant::now();
        // The same limiter as the API: a valid token always signs in; a wrong one counts there
        // too, and is refused with 429 once its key or the network failed too often.
        let token = form.get("token").map(|t| t.trim()).unwrap_or("");
        let user = match self.api.sign_in(client, token, started) {
            Ok(user) => user,
            Err(refused) if refused.status() == StatusCode::TOO_MANY_REQUESTS => {
                let mut response =
                    self.login_form(ctx, StatusCode::TOO_MANY_REQUESTS, Some(t["rate_limited"]))?;
                if let Some(wait) = refused.retry_after {
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(wait));
                }
                return Ok(response);
            }
            Err(_) => {
                return self.login_form(ctx, StatusCode::UNAUTHORIZED, Some(t["login_failed"]));
            }
        };
        tracing::info!(actor = %user.name, role = %user.role, "ui login");
        self.open_session(SessionAuth::Token(token.to_string()), ctx)
    }

    /// A new session, and the redirect to the queue that sets its cookie.
    fn open_session(&self, auth: SessionAuth, ctx: &Ctx) -> Result<Response<Body>, ApiError> {
        let id = random_string(32).map_err(|e| ApiError::internal(e.to_string()))?;
        let csrf = random_string(32).map_err(|e| ApiError::internal(e.to_string()))?;
        {
            let mut sessions = self.lock();
            if sessions.len() >= MAX_SESSIONS {
                let now = Instant::now();
                sessions.retain(|_, s| s.expires > now);
                if sessions.len() >= MAX_SESSIONS
                    && let Some(oldest) = sessions
                        .iter()
                        .min_by_key(|(_, s)| s.expires)
                        .map(|(k, _)| k.clone())
                {
                    sessions.remove(&oldest);
                }
            }
            sessions.insert(
                id.clone(),
                Session {
                    auth,
                    csrf,
                    expires: Instant::now() + self.settings.session_ttl,
                },
            );
        }
        let mut response = redirect("/");
        set_cookie(
            &mut response,
            &self.session_cookie(&id, self.settings.session_ttl.as_secs(), ctx.secure),
        );
        Ok(response)
    }

    /// `GET /login?once=SECRET`: the first-run link. The address is checked first (a link
    /// seen from elsewhere is not used up by the attempt), then the link is used in the store
    /// in one statement, so it opens one session at most. A good link always gets in, as a
    /// valid token does; every refusal counts as a failed login under the API's limiter.
    async fn once_login(
        &self,
        client: Option<IpAddr>,
        ctx: &Ctx,
        secret: &str,
    ) -> Result<Response<Body>, ApiError> {
        // No peer (never so on a listener): no loopback either, so refused.
        let client = client.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let t = messages(ctx.lang);
        let started = Instant::now();
        let refused = |status: StatusCode, message: &str| -> Result<Response<Body>, ApiError> {
            self.api.login_failed(client, secret, started)?;
            tracing::warn!(%client, status = status.as_u16(), "first-run login link refused");
            Ok(self.render(
                ctx,
                status,
                "error.html",
                minijinja::context! { status => status.as_u16(), message },
            ))
        };
        if !once_login_allowed(client, &self.settings.once_login_from) {
            return refused(StatusCode::FORBIDDEN, t["once_remote"]);
        }
        let hash = sitepatrol_store::sha256_hex(secret.as_bytes());
        let store = self.api.store.clone();
        let outcome = blocking(move || Ok(store.consume_login_link(&hash, now())?)).await?;
        let (status, message) = match outcome {
            LoginLinkUse::Used => {
                self.api.login_succeeded(client, secret, started);
                let user = Principal {
                    name: FIRST_RUN_ADMIN.into(),
                    role: Role::Admin,
                };
                tracing::info!(actor = %user.name, role = %user.role, %client, "ui login with the first-run link");
                return self.open_session(SessionAuth::FirstRun(user), ctx);
            }
            LoginLinkUse::Unknown => (StatusCode::FORBIDDEN, t["once_wrong"]),
            LoginLinkUse::AlreadyUsed => (StatusCode::GONE, t["once_used"]),
            LoginLinkUse::Expired => (StatusCode::GONE, t["once_expired"]),
            LoginLinkUse::Superseded => (StatusCode::GONE, t["once_superseded"]),
        };
        refused(status, message)
    }

    /// An admin's recrawl from the site page, through the API's own handler (the same checks
    /// and the same message to the schedule loop); back to the site page.
    async fn recrawl(&self, user: &Principal, site: String) -> Result<Response<Body>, ApiError> {
        need(user, Role::Admin)?;
        let target = format!("/sites/{}", path_segment(&site));
        crate::api::handlers::recrawl(&self.api, site).await?;
        Ok(redirect(&target))
    }

    /// The login page, with a fresh login CSRF token in its form and in a cookie.
    fn login_form(
        &self,
        ctx: &Ctx,
        status: StatusCode,
        error: Option<&str>,
    ) -> Result<Response<Body>, ApiError> {
        let token = random_string(32).map_err(|e| ApiError::internal(e.to_string()))?;
        let mut response = self.render(
            ctx,
            status,
            "login.html",
            minijinja::context! { error, login_csrf => token.clone() },
        );
        set_cookie(
            &mut response,
            &format!(
                "{LOGIN_COOKIE}={token}; Path=/login; Max-Age=3600; HttpOnly; SameSite=Strict{}",
                if ctx.secure { "; Secure" } else { "" }
            ),
        );
        Ok(response)
    }

    /// A state-changing form: same origin, and the session's CSRF token.
    async fn form(&self, request: Request, ctx: &Ctx) -> Result<HashMap<String, String>, ApiError> {
        check_origin(&request)?;
        let form = read_form(request, self.api.body_read_timeout()).await?;
        match form.get("csrf") {
            Some(token) if !ctx.csrf.is_empty() && same(token, &ctx.csrf) => Ok(form),
            _ => Err(ApiError::new(
                Code::Csrf,
                "the form's CSRF token does not match this session; reload the page and try again",
            )),
        }
    }

    async fn act(
        &self,
        user: &Principal,
        id: &str,
        action: &str,
        form: &HashMap<String, String>,
    ) -> Result<Response<Body>, ApiError> {
        need(user, Role::Reviewer)?;
        let id = flag_id(id)?;
        let form = ActionForm(form);
        let field = |name: &str| form.text(name);
        let action = match action {
            "confirm" => FlagAction::Confirm {
                reason: field("reason")?,
            },
            "dismiss" => FlagAction::Dismiss {
                reason: form.dismissal_reason()?,
            },
            "reopen" => FlagAction::Reopen {
                reason: field("reason")?,
            },
            "assign" => FlagAction::Assign {
                assignee: field("assignee")?,
            },
            "comment" => FlagAction::Comment {
                text: form.comment()?,
            },
            other => return Err(not_found(&format!("/flags/{id}/{other}"))),
        };
        // The version the form showed: a flag that changed since (another reviewer, a crawl)
        // is a conflict, shown as such, rather than an action on something not seen.
        let version = form.number("version")?;
        let store = self.api.store.clone();
        let actor = user.name.clone();
        blocking(move || Ok(store.act(id, &action, &actor, now(), version)?)).await?;
        let next = form.next_or(format!("/flags/{id}"));
        Ok(redirect(&next))
    }

    async fn queue(&self, ctx: &Ctx, query: Option<&str>) -> Result<Response<Body>, ApiError> {
        let mut allowed = FLAG_FILTERS.to_vec();
        allowed.extend(["cursor", "lang"]);
        let q = Query::parse(query, &allowed)?;
        let mut filter = flag_filter(&q)?;
        filter.limit = PAGE_SIZE;
        filter.cursor = q.text("cursor")?;
        let filters = Filters::read("/flags", &q, FLAG_FILTERS);
        let store = self.api.store.clone();
        let list_filter = filter.clone();
        let (page, counts) =
            blocking(move || Ok((store.list_flags(&list_filter)?, store.flag_counts()?))).await?;
        // Counts over the flags in the chosen states (all states when none is chosen), by
        // category and by severity; each links to the queue narrowed to it.
        let mut by_category: BTreeMap<String, u64> = BTreeMap::new();
        let mut by_severity: BTreeMap<Severity, u64> = BTreeMap::new();
        for c in counts {
            if filter.states.is_empty() || filter.states.contains(&c.state) {
                *by_category.entry(c.category.clone()).or_default() += c.count;
                *by_severity.entry(c.severity).or_default() += c.count;
            }
        }
        let with = |name: &str, value: &str| filters.with(name, value);
        let category_counts: Vec<_> = by_category
            .iter()
            .map(
                |(name, count)| minijinja::context! { name, count, href => with("category", name) },
            )
            .collect();
        let severity_counts: Vec<_> = by_severity
            .iter()
            .rev()
            .map(|(s, count)| minijinja::context! { name => s.to_string(), count, href => with("severity", &s.to_string()) })
            .collect();
        let categories: Vec<String> = by_category.keys().cloned().collect();
        let here = filters.here(filter.cursor.as_ref());
        let next_href = page.next_cursor.as_ref().map(|c| with("cursor", c));
        Ok(self.render(
            ctx,
            StatusCode::OK,
            "queue.html",
            minijinja::context! {
                flags => ser(&page.flags),
                filter => filters.view(),
                states => FlagState::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                severities => Severity::ALL.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                categories,
                category_counts,
                severity_counts,
                cursor => filter.cursor,
                first_href => filters.first(),
                next_href,
                here,
                error => None::<String>,
            },
        ))
    }

    async fn flag_page(&self, ctx: &Ctx, id: &str) -> Result<Response<Body>, ApiError> {
        let id = flag_id(id)?;
        let store = self.api.store.clone();
        let (detail, site) = blocking(move || {
            let Some(detail) = store.flag(id)? else {
                return Err(flag_not_found(id));
            };
            let site = store.site(&detail.flag.site)?;
            Ok((detail, site))
        })
        .await?;
        let snippet = split_snippet(&detail.flag.snippet, &detail.flag.matched);
        let url_link = link_target(&detail.flag.url);
        let has_body = detail.body.as_ref().is_some_and(|b| b.pruned_at.is_none());
        // Shown only while stored: it goes with the page copy when the retention passes.
        let screenshot_taken_at = detail
            .body
            .as_ref()
            .filter(|b| b.pruned_at.is_none())
            .and_then(|b| b.screenshot_taken_at);
        Ok(self.render(
            ctx,
            StatusCode::OK,
            "flag.html",
            minijinja::context! {
                flag => ser(&detail.flag),
                events => ser(&detail.events),
                snippet => ser(&snippet),
                url_link,
                has_body,
                screenshot_taken_at,
                site => ser(&site),
            },
        ))
    }

    async fn site_page(&self, ctx: &Ctx, id: String) -> Result<Response<Body>, ApiError> {
        let site = existing_site(&self.api, id).await?;
        let store = self.api.store.clone();
        let site_id = site.id.clone();
        let (runs, flags) = blocking(move || {
            let runs = store.crawl_runs(&site_id, 10)?;
            let flags = store.list_flags(&FlagFilter {
                site: Some(site_id.clone()),
                states: vec![FlagState::Open, FlagState::Reopened, FlagState::Confirmed],
                limit: 200,
                ..FlagFilter::default()
            })?;
            Ok((runs, flags.flags))
        })
        .await?;
        Ok(self.render(
            ctx,
            StatusCode::OK,
            "site.html",
            minijinja::context! { site => ser(&site), runs => ser(&runs), flags => ser(&flags) },
        ))
    }

    fn error_page(&self, ctx: &Ctx, e: &ApiError) -> Response<Body> {
        if e.status().is_server_error() {
            tracing::warn!(code = e.code.as_str(), error = %e.message, "ui request failed");
        }
        let mut response = self.render(
            ctx,
            e.status(),
            "error.html",
            minijinja::context! { status => e.status().as_u16(), message => e.message.clone() },
        );
        if let Some(wait) = e.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait));
        }
        response
    }

    fn render(
        &self,
        ctx: &Ctx,
        status: StatusCode,
        name: &str,
        page: minijinja::Value,
    ) -> Response<Body> {
        let user = ctx.user.as_ref();
        let base = minijinja::context! {
            t => messages(ctx.lang),
            lang => ctx.lang.as_str(),
            html_lang => ctx.lang.html(),
            other_lang => ctx.lang.other().as_str(),
            user => ser(&user),
            csrf => ctx.csrf.clone(),
            can_act => user.is_some_and(|u| u.role.allows(Role::Reviewer)),
            can_admin => user.is_some_and(|u| u.role.allows(Role::Admin)),
        };
        let context = minijinja::value::merge_maps([page, base]);
        let rendered = self.env.get_template(name).and_then(|t| t.render(context));
        match rendered {
            Ok(html) => text(status, "text/html; charset=utf-8", html),
            Err(e) => {
                tracing::error!(template = name, error = %e, "ui template failed");
                text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain; charset=utf-8",
                    format!("the UI template {name} failed: {e}\n"),
                )
            }
        }
    }
}

/// A score, weight or contribution as reviewers read it: two decimals, `-` when unscored.
fn score(value: Option<f64>) -> String {
    value
        .map(|v| format!("{v:.2}"))
        .unwrap_or_else(|| "-".into())
}

fn ser<T: Serialize>(value: &T) -> minijinja::Value {
    minijinja::Value::from(minijinja::value::Serde(value))
}

fn need(user: &Principal, role: Role) -> Result<(), ApiError> {
    if user.role.allows(role) {
        Ok(())
    } else {
        Err(ApiError::new(
            Code::Forbidden,
            format!(
                "the token `{}` has the role {}; this needs {role}",
                user.name, user.role
            ),
        ))
    }
}

fn not_found(path: &str) -> ApiError {
    ApiError::new(Code::NoRoute, format!("no page {path}"))
}

fn method_not_allowed() -> ApiError {
    ApiError::new(
        Code::MethodNotAllowed,
        "this page takes GET, or POST from its forms",
    )
}

/// A cross-origin POST is refused even before the CSRF token is looked at; browsers send
/// `Origin` on every POST, other clients may leave it out.
fn check_origin(request: &Request) -> Result<(), ApiError> {
    let Some(origin) = request.headers().get(header::ORIGIN) else {
        return Ok(());
    };
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let origin = origin.to_str().unwrap_or("");
    // `Referrer-Policy: no-referrer` makes browsers send `Origin: null` on their own forms,
    // so null proves nothing either way; the CSRF tokens decide.
    if origin == "null" {
        return Ok(());
    }
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or("");
    if !host.is_empty() && origin_host.eq_ignore_ascii_case(host) {
        Ok(())
    } else {
        Err(ApiError::new(
            Code::Csrf,
            format!("a form posted from `{origin}` is not accepted here"),
        ))
    }
}

async fn read_form(
    request: Request,
    timeout: std::time::Duration,
) -> Result<HashMap<String, String>, ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(ApiError::new(
            Code::UnsupportedMediaType,
            format!("a form must be application/x-www-form-urlencoded, not `{content_type}`"),
        ));
    }
    let body = crate::api::read_body(request, MAX_FORM_BYTES, timeout, "form").await?;
    Ok(form_pairs(&body))
}

/// `text` as one URL path segment: everything but unreserved characters percent-encoded.
fn path_segment(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, NOT_UNRESERVED).to_string()
}

/// RFC 3986's unreserved characters are the only ones a path segment keeps as they are.
const NOT_UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn redirect(to: &str) -> Response<Body> {
    let mut response = text(StatusCode::SEE_OTHER, "text/plain; charset=utf-8", "");
    if let Ok(value) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

fn set_cookie(response: &mut Response<Body>, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

fn asset(content_type: &str, body: &'static str) -> Response<Body> {
    text(StatusCode::OK, content_type, body)
}

fn security_headers(response: &mut Response<Body>) {
    let headers = response.headers_mut();
    // The snapshot handler sets its own `sandbox` policy; keep it.
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(CSP));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_split_around_the_match_and_missing_matches_highlight_nothing() {
        let s = split_snippet("前文<b>网上赌博</b>后文", "网上赌博");
        assert_eq!(
            (s.before.as_str(), s.hit.as_str(), s.after.as_str()),
            ("前文<b>", "网上赌博", "</b>后文")
        );
        let s = split_snippet("abc", "zz");
        assert_eq!((s.before.as_str(), s.hit.as_str()), ("abc", ""));
        let s = split_snippet("abc", "");
        assert_eq!(s.before, "abc");
    }

    #[test]
    fn only_http_urls_become_links() {
        assert!(link_target("http://a.example/x").is_some());
        assert!(link_target("https://a.example/x#filing").is_some());
        for bad in [
            "javascript:alert(1)",
            "data:text/html,<script>",
            "vbscript:x",
            "nope",
        ] {
            assert_eq!(link_target(bad), None, "{bad}");
        }
    }

    #[test]
    fn first_run_links_work_from_loopback_and_configured_networks_only() {
        let ip = |t: &str| t.parse::<IpAddr>().unwrap();
        for local in ["127.0.0.1", "127.3.2.1", "::1", "::ffff:127.0.0.1"] {
            assert!(once_login_allowed(ip(local), &[]), "{local}");
        }
        for remote in [
            "10.1.2.3",
            "192.0.2.1",
            "2001:db8::1",
            "::ffff:10.1.2.3",
            "0.0.0.0",
        ] {
            assert!(!once_login_allowed(ip(remote), &[]), "{remote}");
        }
        let allowed: Vec<ipnet::IpNet> = vec![
            "10.0.0.0/8".parse().unwrap(),
            "2001:db8::/32".parse().unwrap(),
        ];
        for inside in ["10.1.2.3", "::ffff:10.1.2.3", "2001:db8::1", "127.0.0.1"] {
            assert!(once_login_allowed(ip(inside), &allowed), "{inside}");
        }
        for outside in ["11.0.0.1", "192.0.2.1", "2001:db9::1"] {
            assert!(!once_login_allowed(ip(outside), &allowed), "{outside}");
        }
    }

    #[test]
    fn redirects_stay_on_this_site() {
        assert_eq!(local_path("/?state=open"), Some("/?state=open"));
        for bad in [
            "//evil.example/",
            "https://evil.example/",
            "/\\evil",
            "x",
            "/a\nb",
        ] {
            assert_eq!(local_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_template_compiles_with_auto_escape() {
        let mut env = Environment::new();
        env.add_filter("urlencode", |text: &str| path_segment(text));
        env.add_filter("score", score);
        for (name, source) in TEMPLATES {
            env.add_template(name, source).unwrap();
        }
        let t = env
            .template_from_named_str("x.html", "{{ v }}")
            .unwrap()
            .render(minijinja::context! { v => "<script>alert(1)</script>" })
            .unwrap();
        assert_eq!(t, "&lt;script&gt;alert(1)&lt;&#x2f;script&gt;");
    }
}
