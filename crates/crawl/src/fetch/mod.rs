//! The HTTP client of the crawler: hyper (HTTP/1.1 and HTTP/2, rustls), with every limit a
//! hostile server can push against, and the SSRF guard in the connector.
//!
//! Every response is bounded: connect timeout, time to first byte, total time, body size
//! counted after decompression, number of redirects, URL length. Redirects are followed here,
//! hop by hop, and each hop is a new request through the same checks (scheme, length, the
//! connector's address guard, the caller's politeness gate). Failures come back as a
//! [`FetchError`] with a stable [`ErrorClass`], which crawl statistics count by.

mod body;
pub mod connect;
pub mod guard;
pub mod politeness;
pub mod robots;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, header};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use url::Url;

use connect::{ConnectError, Connector, ConnectorConfig};
pub use connect::{RemoteAddr, ResolveOverride};
use politeness::HostGate;

/// Which user agent a request presents. The letter names WAP/mobile sites, which often serve
/// different content to phones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Agent {
    Desktop,
    Mobile,
}

/// What a request says about who is asking: the User-Agent, and the page the visitor comes
/// from. Crawls present a browser with no Referer; cloaking probes present search spiders and
/// visitors arriving from a search results page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_agent: String,
    pub referer: Option<String>,
}

/// What an earlier fetch of a page said about its version, sent back as `If-None-Match` and
/// `If-Modified-Since` so that a server whose page did not change answers 304 without a body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl Validators {
    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }
}

impl Agent {
    /// What findings seen by this agent carry in `seen_by`.
    pub fn as_str(self) -> &'static str {
        match self {
            Agent::Desktop => "desktop",
            Agent::Mobile => "mobile",
        }
    }
}

#[derive(Debug, Clone)]
pub struct FetchConfig {
    pub connect_timeout: Duration,
    /// From sending the request to the response headers.
    pub first_byte_timeout: Duration,
    /// From sending the first request to the last body byte of the last hop: the whole chain of
    /// redirects, not each hop.
    pub total_timeout: Duration,
    /// Body bytes kept, counted after decompression.
    pub max_body_bytes: usize,
    pub max_redirects: usize,
    pub max_url_len: usize,
    pub user_agent_desktop: String,
    pub user_agent_mobile: String,
    pub allow_private_networks: bool,
    /// Addresses allowed despite the guard (the daemon's own demo site, a test server).
    pub allowed_addresses: Vec<SocketAddr>,
    pub resolve: Vec<ResolveOverride>,
    pub accept_invalid_certs: bool,
    /// Extra trusted CA certificates, besides Mozilla's roots.
    pub ca_certificates: Vec<rustls::pki_types::CertificateDer<'static>>,
}

impl Default for FetchConfig {
    fn default() -> FetchConfig {
        FetchConfig {
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(20),
            total_timeout: Duration::from_secs(60),
            max_body_bytes: 10 << 20,
            max_redirects: 10,
            max_url_len: 4096,
            user_agent_desktop: format!(
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 sitepatrol/{}",
                env!("CARGO_PKG_VERSION")
            ),
            user_agent_mobile: format!(
                "Mozilla/5.0 (Linux; Android 13; Mobile) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36 sitepatrol/{}",
                env!("CARGO_PKG_VERSION")
            ),
            allow_private_networks: false,
            allowed_addresses: Vec::new(),
            resolve: Vec::new(),
            accept_invalid_certs: false,
            ca_certificates: Vec::new(),
        }
    }
}

/// Stable names for what went wrong, for statistics and `--stats-json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The SSRF guard refused the address.
    Refused,
    Dns,
    Connect,
    ConnectTimeout,
    Tls,
    FirstByteTimeout,
    TotalTimeout,
    TooManyRedirects,
    UrlTooLong,
    UnsupportedScheme,
    /// The server broke HTTP, or the connection dropped before the headers.
    Protocol,
    /// The connection dropped in the middle of the body.
    BodyIncomplete,
    /// The body went over the size cap and was cut (the page is still scanned).
    BodyTooLarge,
    /// The compressed body was damaged (what came before the damage is scanned).
    BadEncoding,
    /// 429/503 until the retries ran out.
    RateLimited,
    /// A 4xx/5xx answer.
    HttpStatus,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Refused => "refused",
            ErrorClass::Dns => "dns",
            ErrorClass::Connect => "connect",
            ErrorClass::ConnectTimeout => "connect_timeout",
            ErrorClass::Tls => "tls",
            ErrorClass::FirstByteTimeout => "first_byte_timeout",
            ErrorClass::TotalTimeout => "total_timeout",
            ErrorClass::TooManyRedirects => "too_many_redirects",
            ErrorClass::UrlTooLong => "url_too_long",
            ErrorClass::UnsupportedScheme => "unsupported_scheme",
            ErrorClass::Protocol => "protocol",
            ErrorClass::BodyIncomplete => "body_incomplete",
            ErrorClass::BodyTooLarge => "body_too_large",
            ErrorClass::BadEncoding => "bad_encoding",
            ErrorClass::RateLimited => "rate_limited",
            ErrorClass::HttpStatus => "http_status",
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{url}: {message}")]
pub struct FetchError {
    pub class: ErrorClass,
    pub url: String,
    pub message: String,
}

impl FetchError {
    fn new(class: ErrorClass, url: &Url, message: impl Into<String>) -> FetchError {
        FetchError {
            class,
            url: url.to_string(),
            message: message.into(),
        }
    }
}

/// One hop of a redirect chain.
#[derive(Debug, Clone, Serialize)]
pub struct Hop {
    pub url: String,
    pub status: u16,
}

/// A response after redirects, with its body decompressed.
#[derive(Debug)]
pub struct Response {
    /// The URL that answered (after redirects).
    pub url: Url,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// The body was cut at the size cap.
    pub truncated: bool,
    /// The compressed body was damaged.
    pub damaged: bool,
    pub remote_addr: Option<SocketAddr>,
    /// The redirects followed to get here, first request first.
    pub redirects: Vec<Hop>,
    pub elapsed: Duration,
}

impl Response {
    pub fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn content_type(&self) -> Option<&str> {
        self.header(header::CONTENT_TYPE)
    }

    /// `Retry-After` in seconds or as an HTTP date.
    pub fn retry_after(&self) -> Option<Duration> {
        let value = self.header(header::RETRY_AFTER)?.trim();
        if let Ok(seconds) = value.parse::<u64>() {
            return Some(Duration::from_secs(seconds));
        }
        let when = httpdate_parse(value)?;
        Some(
            when.duration_since(std::time::SystemTime::now())
                .unwrap_or_default(),
        )
    }
}

/// An HTTP-date in any of the three forms RFC 9110 asks recipients to read.
fn httpdate_parse(value: &str) -> Option<std::time::SystemTime> {
    httpdate::parse_http_date(value.trim()).ok()
}

/// Why a CA bundle (`--ca-file`) cannot be used; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum CaFileError {
    #[error("{}: {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: sitepatrol_core::bounded::ReadError,
    },
    #[error("{}: not a PEM certificate file: {source}", path.display())]
    NotPem {
        path: std::path::PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("{}: no certificates in the file", path.display())]
    Empty { path: std::path::PathBuf },
}

/// Read PEM certificates (a CA bundle) for [`FetchConfig::ca_certificates`].
pub fn read_pem_certificates(
    path: &std::path::Path,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, CaFileError> {
    use rustls::pki_types::pem::PemObject;
    let bytes = sitepatrol_core::bounded::read(path, sitepatrol_core::bounded::CONFIG_BYTES)
        .map_err(|source| CaFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    let certs: Vec<_> = rustls::pki_types::CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|source| CaFileError::NotPem {
            path: path.to_path_buf(),
            source,
        })?;
    if certs.is_empty() {
        return Err(CaFileError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// The crawler's HTTP client. Cheap to clone; connections are pooled per host.
#[derive(Clone)]
pub struct Fetcher {
    client: Client<Connector, Empty<Bytes>>,
    connector: Connector,
    config: Arc<FetchConfig>,
}

impl Fetcher {
    pub fn new(config: FetchConfig) -> Fetcher {
        let connector = Connector::new(ConnectorConfig {
            allow_private_networks: config.allow_private_networks,
            allowed_addresses: config.allowed_addresses.clone(),
            connect_timeout: config.connect_timeout,
            overrides: config.resolve.clone(),
            tls: Arc::new(connect::tls_config(
                config.accept_invalid_certs,
                &config.ca_certificates,
            )),
            lookup: None,
        });
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(8)
            .build(connector.clone());
        Fetcher {
            client,
            connector,
            config: Arc::new(config),
        }
    }

    pub fn config(&self) -> &FetchConfig {
        &self.config
    }

    /// The connector, with this fetcher's SSRF policy: what the render stage's proxy connects
    /// the browser through, so the browser reaches exactly what the fetcher may.
    pub fn connector(&self) -> Connector {
        self.connector.clone()
    }

    /// GET `url` as `agent`, following redirects; each hop waits at `gate` for its host.
    pub async fn get(
        &self,
        url: &Url,
        agent: Agent,
        gate: &HostGate,
    ) -> Result<Response, FetchError> {
        self.get_as(url, &self.identity(agent), gate).await
    }

    /// The identity a crawl as `agent` presents: its configured User-Agent, no Referer.
    pub fn identity(&self, agent: Agent) -> Identity {
        let user_agent = match agent {
            Agent::Desktop => &self.config.user_agent_desktop,
            Agent::Mobile => &self.config.user_agent_mobile,
        };
        Identity {
            user_agent: user_agent.clone(),
            referer: None,
        }
    }

    /// GET `url` presenting `identity` (a search spider, a visitor from a results page),
    /// following redirects under the same limits as [`Fetcher::get`]. The Referer goes with
    /// the first request only: a browser following a redirect sends none of its own.
    pub async fn get_as(
        &self,
        url: &Url,
        identity: &Identity,
        gate: &HostGate,
    ) -> Result<Response, FetchError> {
        self.get_with(url, identity, None, gate).await
    }

    /// GET `url` as `agent`, asking the server to answer 304 when the page still matches
    /// `validators`. They go with the first request only: they describe `url`, not where a
    /// redirect leads.
    pub async fn get_if_changed(
        &self,
        url: &Url,
        agent: Agent,
        validators: &Validators,
        gate: &HostGate,
    ) -> Result<Response, FetchError> {
        let validators = (!validators.is_empty()).then_some(validators);
        self.get_with(url, &self.identity(agent), validators, gate)
            .await
    }

    async fn get_with(
        &self,
        url: &Url,
        identity: &Identity,
        validators: Option<&Validators>,
        gate: &HostGate,
    ) -> Result<Response, FetchError> {
        let started = Instant::now();
        let mut current = url.clone();
        let mut redirects: Vec<Hop> = Vec::new();
        // `total_timeout` bounds the whole chain of redirects, not each hop: five slow hops
        // must not take five times as long. Waiting at the host gate is our own politeness
        // and does not count.
        let mut budget = self.config.total_timeout;
        loop {
            self.check_url(&current)?;
            if budget.is_zero() {
                return Err(FetchError::new(
                    ErrorClass::TotalTimeout,
                    url,
                    format!(
                        "{} redirects used up the {:?} the fetch may take (last to {current})",
                        redirects.len(),
                        self.config.total_timeout
                    ),
                ));
            }
            let host = current.host_str().unwrap_or_default().to_string();
            let hop = {
                let _permit = gate.acquire(&host).await;
                let hop_started = Instant::now();
                let first = redirects.is_empty();
                let referer = identity.referer.as_deref().filter(|_| first);
                let conditions = validators.filter(|_| first);
                let hop = self
                    .get_once(&current, &identity.user_agent, referer, conditions, budget)
                    .await;
                budget = budget.saturating_sub(hop_started.elapsed());
                hop?
            };
            let (status, headers, body, remote_addr) = hop;
            // 304 is in the 3xx range but is no redirect: it says the page is as it was.
            let location = ((300..400).contains(&status) && status != 304)
                .then(|| headers.get(header::LOCATION))
                .flatten()
                .and_then(|v| location_url(&current, v));
            match location {
                Some(next) => {
                    redirects.push(Hop {
                        url: current.to_string(),
                        status,
                    });
                    if redirects.len() > self.config.max_redirects {
                        return Err(FetchError::new(
                            ErrorClass::TooManyRedirects,
                            url,
                            format!(
                                "more than {} redirects (last to {next})",
                                self.config.max_redirects
                            ),
                        ));
                    }
                    current = next;
                }
                None => {
                    let encoding = headers
                        .get(header::CONTENT_ENCODING)
                        .and_then(|v| v.to_str().ok());
                    let decompressed =
                        body::decompress(body.0, encoding, self.config.max_body_bytes);
                    return Ok(Response {
                        url: current,
                        status,
                        body: decompressed.bytes,
                        truncated: body.1 || decompressed.truncated,
                        damaged: decompressed.damaged,
                        headers,
                        remote_addr,
                        redirects,
                        elapsed: started.elapsed(),
                    });
                }
            }
        }
    }

    fn check_url(&self, url: &Url) -> Result<(), FetchError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchError::new(
                ErrorClass::UnsupportedScheme,
                url,
                format!("the scheme `{}` is not fetched", url.scheme()),
            ));
        }
        let len = url.as_str().len();
        if len > self.config.max_url_len {
            return Err(FetchError::new(
                ErrorClass::UrlTooLong,
                url,
                format!(
                    "the URL is {len} bytes, over the limit of {}",
                    self.config.max_url_len
                ),
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(FetchError::new(
                ErrorClass::Protocol,
                url,
                "the URL has no host",
            ));
        }
        Ok(())
    }

    /// One request: status, headers, raw (still compressed) body and whether it was cut.
    #[allow(clippy::type_complexity)]
    async fn get_once(
        &self,
        url: &Url,
        user_agent: &str,
        referer: Option<&str>,
        validators: Option<&Validators>,
        budget: Duration,
    ) -> Result<(u16, HeaderMap, (Vec<u8>, bool), Option<SocketAddr>), FetchError> {
        let mut request = Request::get(url.as_str());
        if let Some(referer) = referer.and_then(|r| HeaderValue::from_str(r).ok()) {
            request = request.header(header::REFERER, referer);
        }
        // Validators came from a server's headers; one that cannot be a header value again is
        // left out, and the request is then an ordinary one.
        if let Some(v) = validators {
            let etag = v
                .etag
                .as_deref()
                .and_then(|e| HeaderValue::from_str(e).ok());
            let since = v
                .last_modified
                .as_deref()
                .and_then(|m| HeaderValue::from_str(m).ok());
            if let Some(etag) = etag {
                request = request.header(header::IF_NONE_MATCH, etag);
            }
            if let Some(since) = since {
                request = request.header(header::IF_MODIFIED_SINCE, since);
            }
        }
        let request = request
            .header(
                header::USER_AGENT,
                HeaderValue::from_str(user_agent).unwrap_or(HeaderValue::from_static("sitepatrol")),
            )
            .header(
                header::ACCEPT,
                "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.8",
            )
            .header(header::ACCEPT_ENCODING, "gzip, deflate, br")
            .header(header::ACCEPT_LANGUAGE, "zh-CN,zh;q=0.9,en;q=0.5")
            .body(Empty::<Bytes>::new())
            .map_err(|e| FetchError::new(ErrorClass::Protocol, url, format!("bad request: {e}")))?;
        let deadline = tokio::time::Instant::now() + budget;
        let first_byte = self.config.first_byte_timeout.min(budget);
        let response = match tokio::time::timeout(first_byte, self.client.request(request)).await {
            Err(_) if budget < self.config.first_byte_timeout => {
                return Err(FetchError::new(
                    ErrorClass::TotalTimeout,
                    url,
                    format!(
                        "no response headers within the {budget:?} left of the fetch's {:?}",
                        self.config.total_timeout
                    ),
                ));
            }
            Err(_) => {
                return Err(FetchError::new(
                    ErrorClass::FirstByteTimeout,
                    url,
                    format!("no response headers within {first_byte:?}"),
                ));
            }
            Ok(Err(e)) => return Err(classify_client_error(url, &e)),
            Ok(Ok(response)) => response,
        };
        let status = response.status().as_u16();
        let remote = response.extensions().get::<RemoteAddr>().map(|r| r.0);
        let (parts, mut body) = response.into_parts();
        let cap = self.config.max_body_bytes;
        let mut bytes = Vec::new();
        let mut truncated = false;
        loop {
            let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
                Err(_) => {
                    return Err(FetchError::new(
                        ErrorClass::TotalTimeout,
                        url,
                        format!(
                            "the response took longer than {:?} ({} body bytes by then)",
                            self.config.total_timeout,
                            bytes.len()
                        ),
                    ));
                }
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    return Err(FetchError::new(
                        ErrorClass::BodyIncomplete,
                        url,
                        format!(
                            "the connection failed after {} body bytes: {e}",
                            bytes.len()
                        ),
                    ));
                }
                Ok(Some(Ok(frame))) => frame,
            };
            if let Ok(data) = frame.into_data() {
                let room = cap.saturating_sub(bytes.len());
                if data.len() > room {
                    bytes.extend_from_slice(&data[..room]);
                    truncated = true;
                    break;
                }
                bytes.extend_from_slice(&data);
            }
        }
        Ok((status, parts.headers, (bytes, truncated), remote))
    }
}

fn location_url(base: &Url, value: &HeaderValue) -> Option<Url> {
    // Servers send raw UTF-8 in Location more often than they should.
    let text = String::from_utf8_lossy(value.as_bytes());
    base.join(text.trim()).ok()
}

/// Dig our own connector error out of hyper-util's wrapper.
fn classify_client_error(url: &Url, error: &hyper_util::client::legacy::Error) -> FetchError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(err) = source {
        if let Some(connect) = err.downcast_ref::<ConnectError>() {
            let class = match connect {
                ConnectError::Refused(_) => ErrorClass::Refused,
                ConnectError::Dns { .. } | ConnectError::NoHost(_) => ErrorClass::Dns,
                ConnectError::Timeout { .. } => ErrorClass::ConnectTimeout,
                ConnectError::Connect { .. } => ErrorClass::Connect,
                ConnectError::Tls { .. } => ErrorClass::Tls,
            };
            return FetchError::new(class, url, connect.to_string());
        }
        source = err.source();
    }
    let class = if error.is_connect() {
        ErrorClass::Connect
    } else {
        ErrorClass::Protocol
    };
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(err) = source {
        message.push_str(": ");
        message.push_str(&err.to_string());
        source = err.source();
    }
    FetchError::new(class, url, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_parse() {
        let t = httpdate_parse("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(
            t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(),
            784111777
        );
        // The obsolete forms RFC 9110 still asks recipients to read.
        assert_eq!(httpdate_parse("Sunday, 06-Nov-94 08:49:37 GMT"), Some(t));
        assert_eq!(httpdate_parse("Sun Nov  6 08:49:37 1994"), Some(t));
        assert!(httpdate_parse("garbage").is_none());
        assert!(httpdate_parse("Sun, 31 Feb 1994 08:49:37 GMT").is_none());
    }

    #[test]
    fn error_class_names_are_snake_case() {
        assert_eq!(ErrorClass::FirstByteTimeout.as_str(), "first_byte_timeout");
        assert_eq!(
            serde_json::to_string(&ErrorClass::BodyTooLarge).unwrap(),
            "\"body_too_large\""
        );
    }
}
