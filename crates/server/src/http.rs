//! The daemon's HTTP serving: listeners with their connection limits, the operations
//! endpoints (`/metrics`, `/healthz`, `/readyz`), and the body and response helpers every
//! route shares. What each listener serves is one axum router (`crate::router`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::routing::get;
use bytes::Bytes;
use http::{Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::metrics::Metrics;
use crate::review::auth::{FailureLimiter, Refused, bearer};
use sitepatrol_core::secret::Secret;

/// Request and response bodies: whole ([`text`]) or streamed (the review API's exports).
pub type Body = axum::body::Body;

/// A whole body.
pub fn full(body: impl Into<Bytes>) -> Body {
    Body::from(body.into())
}

pub fn text(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    if let Ok(value) = header::HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

/// The client's address, put in every request's extensions by [`serve`] (the review API
/// rate-limits failed authentication per address).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// What the operations endpoints read.
pub struct OpsState {
    pub metrics: Arc<Metrics>,
    /// True once startup is done; false again when shutdown begins.
    pub ready: AtomicBool,
    pub metrics_token: Option<Secret>,
    /// Failed `/metrics` tokens per client and token prefix, as the API counts its own:
    /// without it a scraper could hammer wrong tokens at full speed.
    pub metrics_limiter: FailureLimiter,
    /// This daemon's owner id among the daemons sharing a store (its leases carry it).
    pub owner: String,
}

/// Why the request may not read `/metrics`: the response refusing it, `None` when it may.
/// Wrong tokens count under the API's rules ([`FailureLimiter::attempt`]): the right token
/// always reads, so a scraper is never locked out by a guesser behind the same proxy.
fn metrics_refusal(state: &OpsState, request: &Request) -> Option<Response<Body>> {
    let token = state.metrics_token.as_ref()?;
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let right = token_matches(header, Some(token.expose()));
    let Some(client) = request.extensions().get::<Peer>().map(|p| p.0.ip()) else {
        return (!right).then(unauthorized);
    };
    let presented = header.and_then(bearer);
    match state
        .metrics_limiter
        .attempt(client, presented, right, Instant::now())
    {
        Ok(()) => None,
        Err(Refused::Wrong) => Some(unauthorized()),
        Err(Refused::Limited(wait)) => {
            let mut r = text(
                StatusCode::TOO_MANY_REQUESTS,
                "text/plain; charset=utf-8",
                format!("too many failed tokens from {client}; retry in {wait}s\n"),
            );
            if let Ok(value) = header::HeaderValue::from_str(&wait.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, value);
            }
            Some(r)
        }
    }
}

fn unauthorized() -> Response<Body> {
    let mut r = text(
        StatusCode::UNAUTHORIZED,
        "text/plain; charset=utf-8",
        "a bearer token is required\n",
    );
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    r
}

/// Whether an `Authorization` header value carries `token` (no token configured: anyone). The
/// scheme is case-insensitive, as RFC 9110 has it: Prometheus and curl users write `bearer`.
fn token_matches(header: Option<&str>, token: Option<&str>) -> bool {
    let Some(token) = token else {
        return true;
    };
    let Some(given) = header.and_then(crate::review::auth::bearer) else {
        return false;
    };
    // Compare in constant time, so the token cannot be guessed byte by byte from timings.
    crate::review::auth::constant_time_eq(given.as_bytes(), token.as_bytes())
}

const PLAIN: &str = "text/plain; charset=utf-8";

/// The operations endpoints; other methods than GET and HEAD get 405.
pub fn ops_routes(state: Arc<OpsState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz).fallback(get_only))
        .route("/readyz", get(readyz).fallback(get_only))
        .route("/metrics", get(metrics).fallback(get_only))
        .route("/status", get(status).fallback(get_only))
        .with_state(state)
}

async fn get_only() -> Response<Body> {
    text(StatusCode::METHOD_NOT_ALLOWED, PLAIN, "GET only\n")
}

/// What a listener serving only operations answers everywhere else.
pub async fn ops_not_found() -> Response<Body> {
    text(StatusCode::NOT_FOUND, PLAIN, "not found\n")
}

async fn healthz() -> Response<Body> {
    text(StatusCode::OK, PLAIN, "ok\n")
}

async fn readyz(State(state): State<Arc<OpsState>>) -> Response<Body> {
    if state.ready.load(Ordering::SeqCst) {
        text(StatusCode::OK, PLAIN, "ready\n")
    } else {
        text(StatusCode::SERVICE_UNAVAILABLE, PLAIN, "not ready\n")
    }
}

async fn metrics(State(state): State<Arc<OpsState>>, request: Request) -> Response<Body> {
    if let Some(refused) = metrics_refusal(&state, &request) {
        return refused;
    }
    match state.metrics.render() {
        Ok((body, content_type)) => text(StatusCode::OK, &content_type, body),
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            PLAIN,
            format!("cannot encode the metrics: {e}\n"),
        ),
    }
}

/// `/status`: this daemon in the fleet, as JSON: its owner id, whether it leads (runs the
/// singletons), the site leases it holds, its crawls in progress, readiness. Behind the
/// metrics token when one is set, like `/metrics`.
async fn status(State(state): State<Arc<OpsState>>, request: Request) -> Response<Body> {
    if let Some(refused) = metrics_refusal(&state, &request) {
        return refused;
    }
    let m = &state.metrics;
    let body = serde_json::json!({
        "owner": state.owner,
        "leader": m.leader.get() == 1,
        "leases_held": m.leases_held.get(),
        "crawls_in_progress": m.crawls_in_progress.get(),
        "ready": state.ready.load(Ordering::SeqCst),
        "version": env!("CARGO_PKG_VERSION"),
    });
    text(StatusCode::OK, "application/json", format!("{body}\n"))
}

/// What bounds one listener's connections.
#[derive(Clone)]
pub struct Limits {
    pub header_read_timeout: Duration,
    /// Connections open at once on the listener, and from one client address.
    pub max_connections: usize,
    pub max_per_client: usize,
    /// Counts connections closed at accept, by `limit` (`listener`, `client`).
    pub refused: prometheus::IntCounterVec,
}

impl Limits {
    fn refuse(&self, limit: &str) {
        self.refused.with_label_values(&[limit]).inc();
    }
}

/// Open connections per client address; a slot is given back when its guard drops.
#[derive(Default)]
struct PerClient(std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>);

struct ClientSlot(Arc<PerClient>, std::net::IpAddr);

impl PerClient {
    fn take(self: &Arc<Self>, ip: std::net::IpAddr, max: usize) -> Option<ClientSlot> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(ClientSlot(self.clone(), ip))
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut map = self.0.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.1);
            }
        }
    }
}

/// Serve HTTP/1.1 on `listener` until `shutdown` turns true. Each connection gets a header
/// read timeout, so idle or slow clients cannot pile up, and connections are capped per
/// listener and per client address: one client trickling hundreds of requests cannot take
/// every slot (handlers bound their body reads in time themselves).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let per_client = Arc::new(PerClient::default());
    {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = shutdown.wait_for(|stop| *stop) => return,
            };
            let (stream, peer) = match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                limits.refuse("listener");
                drop(stream);
                continue;
            };
            let Some(client_slot) = per_client.take(peer.ip(), limits.max_per_client.max(1)) else {
                limits.refuse("client");
                drop(stream);
                continue;
            };
            let app = app.clone();
            let header_read_timeout = limits.header_read_timeout;
            tokio::spawn(async move {
                let _slots = (slot, client_slot);
                let service = service_fn(move |mut request: http::Request<Incoming>| {
                    request.extensions_mut().insert(Peer(peer));
                    // The router answers every request (its error type is Infallible).
                    app.clone().oneshot(request)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(header_read_timeout)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }
}

/// A listener that could not be opened, with its address.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {source}")]
pub struct BindError {
    pub addr: SocketAddr,
    #[source]
    pub source: std::io::Error,
}

/// Bind `addr`, and report the address bound (port 0 picks one).
pub async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), BindError> {
    let bound = TcpListener::bind(addr).await.and_then(|listener| {
        let local = listener.local_addr()?;
        Ok((listener, local))
    });
    bound.map_err(|source| BindError { addr, source })
}

#[cfg(test)]
mod tests {
    use super::token_matches;

    #[test]
    fn the_metrics_token_takes_any_case_of_the_bearer_scheme() {
        // Regression: `bearer s3cret` was refused.
        for header in ["Bearer s3cret", "bearer s3cret", "BEARER  s3cret "] {
            assert!(token_matches(Some(header), Some("s3cret")), "{header}");
        }
        for header in ["Bearer s3cre", "Basic s3cret", "s3cret", "Bearer "] {
            assert!(!token_matches(Some(header), Some("s3cret")), "{header}");
        }
        assert!(!token_matches(None, Some("s3cret")));
        assert!(token_matches(None, None));
    }
}
