//! The connector: resolve, check every address against the SSRF guard, connect, TLS.
//!
//! hyper-util's pooled client calls this for every new connection, on every redirect hop. The
//! guard sees the addresses that are about to be connected, after resolution (including
//! `--resolve` overrides), so neither a private IP literal in a URL, nor a hostname that
//! resolves to 169.254.169.254, nor a DNS answer that changes between lookups gets through.
//! The connected address is checked once more on the socket itself, and kept with the
//! connection so that responses can report where they came from.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::guard::{self, Refusal};

/// The address a response was served from, as a response extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteAddr(pub SocketAddr);

/// Why a connection could not be made. The fetcher turns these into error classes.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{0}")]
    Refused(Refusal),
    #[error("DNS lookup of {host} failed: {message}")]
    Dns { host: String, message: String },
    #[error("connecting to {addr} timed out after {timeout:?}")]
    Timeout { addr: String, timeout: Duration },
    #[error("connecting to {addr} failed: {source}")]
    Connect { addr: String, source: io::Error },
    #[error("TLS handshake with {host} failed: {source}")]
    Tls { host: String, source: io::Error },
    #[error("the URL has no host: {0}")]
    NoHost(String),
}

/// `--resolve HOST:PORT:ADDR`: connect to ADDR for HOST on PORT, sending HOST as Host and SNI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveOverride {
    pub host: String,
    pub port: u16,
    pub addr: IpAddr,
}

impl std::str::FromStr for ResolveOverride {
    type Err = String;

    fn from_str(s: &str) -> Result<ResolveOverride, String> {
        let usage = || format!("`{s}` is not HOST:PORT:ADDR (like curl's --resolve)");
        let (host, rest) = s.split_once(':').ok_or_else(usage)?;
        let (port, addr) = rest.split_once(':').ok_or_else(usage)?;
        let port: u16 = port.parse().map_err(|_| usage())?;
        let addr = addr.trim_start_matches('[').trim_end_matches(']');
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{addr}` in `{s}` is not an IP address"))?;
        if host.is_empty() {
            return Err(usage());
        }
        Ok(ResolveOverride {
            host: host.to_ascii_lowercase(),
            port,
            addr,
        })
    }
}

/// Answers a name lookup in place of the system's resolver: what tests use to be a DNS
/// server whose answers change between lookups (rebinding).
pub type Lookup = Arc<dyn Fn(&str, u16) -> Vec<IpAddr> + Send + Sync>;

pub struct ConnectorConfig {
    pub allow_private_networks: bool,
    pub allowed_addresses: Vec<SocketAddr>,
    pub connect_timeout: Duration,
    pub overrides: Vec<ResolveOverride>,
    pub tls: Arc<rustls::ClientConfig>,
    /// `None`: the system's resolver.
    pub lookup: Option<Lookup>,
}

#[derive(Clone)]
pub struct Connector {
    inner: Arc<Inner>,
}

struct Inner {
    allow_private_networks: bool,
    allowed_addresses: Vec<SocketAddr>,
    connect_timeout: Duration,
    overrides: HashMap<(String, u16), Vec<IpAddr>>,
    tls: TlsConnector,
    lookup: Option<Lookup>,
}

impl Connector {
    pub fn new(config: ConnectorConfig) -> Connector {
        let mut overrides: HashMap<(String, u16), Vec<IpAddr>> = HashMap::new();
        for o in config.overrides {
            overrides.entry((o.host, o.port)).or_default().push(o.addr);
        }
        Connector {
            inner: Arc::new(Inner {
                allow_private_networks: config.allow_private_networks,
                allowed_addresses: config.allowed_addresses,
                connect_timeout: config.connect_timeout,
                overrides,
                tls: TlsConnector::from(config.tls),
                lookup: config.lookup,
            }),
        }
    }
}

impl Inner {
    /// The guard, with the operator's explicit exceptions (`--allow-address`): one known
    /// service, such as the daemon's own demo site, without opening every private range.
    fn check(&self, addr: SocketAddr) -> Result<(), Refusal> {
        if self.allowed_addresses.contains(&addr) {
            return Ok(());
        }
        guard::check(addr.ip(), self.allow_private_networks)
    }

    async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, ConnectError> {
        if let Some(addrs) = self.overrides.get(&(host.to_string(), port)) {
            return Ok(addrs.iter().map(|ip| SocketAddr::new(*ip, port)).collect());
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let dns = |message: String| ConnectError::Dns {
            host: host.to_string(),
            message,
        };
        let addrs: Vec<SocketAddr> = match &self.lookup {
            Some(lookup) => lookup(host, port)
                .into_iter()
                .map(|ip| SocketAddr::new(ip, port))
                .collect(),
            None => {
                tokio::time::timeout(self.connect_timeout, tokio::net::lookup_host((host, port)))
                    .await
                    .map_err(|_| dns(format!("no answer within {:?}", self.connect_timeout)))?
                    .map_err(|e| dns(e.to_string()))?
                    .collect()
            }
        };
        if addrs.is_empty() {
            return Err(dns("no addresses".into()));
        }
        Ok(addrs)
    }

    async fn connect(&self, uri: Uri) -> Result<Transport, ConnectError> {
        let host = uri
            .host()
            .ok_or_else(|| ConnectError::NoHost(uri.to_string()))?
            .to_ascii_lowercase();
        let https = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let (stream, peer) = self.connect_tcp(&host, port).await?;
        if !https {
            return Ok(Transport::Plain(stream, peer));
        }
        let name = rustls::pki_types::ServerName::try_from(host.clone()).map_err(|e| {
            ConnectError::Tls {
                host: host.clone(),
                source: io::Error::new(io::ErrorKind::InvalidInput, e.to_string()),
            }
        })?;
        let handshake = self.tls.connect(name, stream);
        match tokio::time::timeout(self.connect_timeout, handshake).await {
            Err(_) => Err(ConnectError::Timeout {
                addr: format!("{peer} (TLS handshake)"),
                timeout: self.connect_timeout,
            }),
            Ok(Err(source)) => Err(ConnectError::Tls { host, source }),
            Ok(Ok(tls)) => Ok(Transport::Tls(Box::new(tls), peer)),
        }
    }

    /// Resolve, check each address against the guard, connect to the first that answers and
    /// check the socket's peer again: the part of a connection the SSRF policy is about, shared
    /// by the fetcher and the render stage's proxy (which tunnels the browser's TLS itself).
    async fn connect_tcp(
        &self,
        host: &str,
        port: u16,
    ) -> Result<(TcpStream, SocketAddr), ConnectError> {
        let addrs = self.resolve(host, port).await?;
        let mut last_error = None;
        let mut refusal = None;
        for addr in addrs {
            if let Err(r) = self.check(addr) {
                refusal.get_or_insert(r);
                continue;
            }
            let stream =
                match tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr)).await {
                    Err(_) => {
                        last_error = Some(ConnectError::Timeout {
                            addr: addr.to_string(),
                            timeout: self.connect_timeout,
                        });
                        continue;
                    }
                    Ok(Err(source)) => {
                        last_error = Some(ConnectError::Connect {
                            addr: addr.to_string(),
                            source,
                        });
                        continue;
                    }
                    Ok(Ok(stream)) => stream,
                };
            // The socket's own view of its peer: what was really connected.
            let peer = stream.peer_addr().unwrap_or(addr);
            self.check(peer).map_err(ConnectError::Refused)?;
            let _ = stream.set_nodelay(true);
            return Ok((stream, peer));
        }
        Err(match (refusal, last_error) {
            (_, Some(error)) => error,
            (Some(r), None) => ConnectError::Refused(r),
            (None, None) => ConnectError::Dns {
                host: host.to_string(),
                message: "no usable addresses".into(),
            },
        })
    }
}

impl Connector {
    /// A plain TCP connection to `host:port` under the SSRF policy (resolution, overrides, the
    /// guard and the allowed addresses, the peer checked again), without TLS.
    pub async fn connect_tcp(
        &self,
        host: &str,
        port: u16,
    ) -> Result<(TcpStream, SocketAddr), ConnectError> {
        self.inner
            .connect_tcp(&host.to_ascii_lowercase(), port)
            .await
    }
}

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<Transport>;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move { inner.connect(uri).await.map(TokioIo::new) })
    }
}

/// A connection, plain or TLS, with the address it is connected to.
pub enum Transport {
    Plain(TcpStream, SocketAddr),
    Tls(Box<TlsStream<TcpStream>>, SocketAddr),
}

impl Connection for Transport {
    fn connected(&self) -> Connected {
        match self {
            Transport::Plain(_, peer) => Connected::new().extra(RemoteAddr(*peer)),
            Transport::Tls(tls, peer) => {
                let connected = Connected::new().extra(RemoteAddr(*peer));
                if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                    connected.negotiated_h2()
                } else {
                    connected
                }
            }
        }
    }
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s, _) => Pin::new(s).poll_read(cx, buf),
            Transport::Tls(s, _) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(s, _) => Pin::new(s).poll_write(cx, buf),
            Transport::Tls(s, _) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s, _) => Pin::new(s).poll_flush(cx),
            Transport::Tls(s, _) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s, _) => Pin::new(s).poll_shutdown(cx),
            Transport::Tls(s, _) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// TLS settings: Mozilla's roots (webpki-roots), HTTP/2 and HTTP/1.1 by ALPN. With
/// `accept_invalid_certs`, certificates are not verified: a customer's site with an expired or
/// self-signed certificate still publishes content the provider answers for.
pub fn tls_config(
    accept_invalid_certs: bool,
    extra_roots: &[rustls::pki_types::CertificateDer<'static>],
) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions");
    let mut config = if accept_invalid_certs {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        // An operator's own CA (origins behind an internal PKI); a bad one is skipped, not fatal.
        let _ = roots.add_parsable_certificates(extra_roots.iter().cloned());
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config
}

#[derive(Debug)]
struct AcceptAnyCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_overrides_parse_like_curl() {
        let o: ResolveOverride = "Example.CN:443:10.0.0.5".parse().unwrap();
        assert_eq!((o.host.as_str(), o.port), ("example.cn", 443));
        assert_eq!(o.addr, "10.0.0.5".parse::<IpAddr>().unwrap());
        let v6: ResolveOverride = "a.test:80:[::1]".parse().unwrap();
        assert_eq!(v6.addr, "::1".parse::<IpAddr>().unwrap());
        for bad in [
            "a.test:80",
            "a.test:x:1.2.3.4",
            ":80:1.2.3.4",
            "a.test:80:nothost",
        ] {
            assert!(bad.parse::<ResolveOverride>().is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn an_ip_literal_in_a_private_range_is_refused_before_connecting() {
        let connector = Connector::new(ConnectorConfig {
            allow_private_networks: false,
            allowed_addresses: Vec::new(),
            connect_timeout: Duration::from_secs(1),
            overrides: Vec::new(),
            tls: Arc::new(tls_config(false, &[])),
            lookup: None,
        });
        let uri: Uri = "http://169.254.169.254/latest/meta-data/".parse().unwrap();
        match connector.inner.connect(uri).await {
            Err(ConnectError::Refused(r)) => assert_eq!(r.ip.to_string(), "169.254.169.254"),
            Err(other) => panic!("expected a refusal, got {other}"),
            Ok(_) => panic!("connected to the metadata address"),
        }
    }

    #[tokio::test]
    async fn overrides_are_guarded_too() {
        let connector = Connector::new(ConnectorConfig {
            allow_private_networks: false,
            allowed_addresses: Vec::new(),
            connect_timeout: Duration::from_secs(1),
            overrides: vec!["shop.test:80:10.1.2.3".parse().unwrap()],
            tls: Arc::new(tls_config(false, &[])),
            lookup: None,
        });
        let uri: Uri = "http://shop.test/".parse().unwrap();
        assert!(matches!(
            connector.inner.connect(uri).await,
            Err(ConnectError::Refused(_))
        ));
    }

    /// DNS rebinding: a name that resolves to an allowed address for one lookup and to an
    /// internal one for the next. Each connection checks the address it resolved and
    /// connects to that same address (and checks the socket's peer again), so the second
    /// connection is refused and the internal service never sees it.
    #[tokio::test]
    async fn a_name_rebound_to_an_internal_address_is_refused_on_the_lookup_that_says_so() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let allowed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let allowed_addr = allowed.local_addr().unwrap();
        let Ok(internal) = tokio::net::TcpListener::bind(SocketAddr::new(
            "127.0.0.2".parse().unwrap(),
            allowed_addr.port(),
        ))
        .await
        else {
            eprintln!("notice: 127.0.0.2 cannot be bound here; skipping the rebinding test");
            return;
        };
        let internal_hits = Arc::new(AtomicUsize::new(0));
        let hits = internal_hits.clone();
        tokio::spawn(async move {
            while internal.accept().await.is_ok() {
                hits.fetch_add(1, Ordering::SeqCst);
            }
        });
        tokio::spawn(async move { while allowed.accept().await.is_ok() {} });
        let lookups = Arc::new(AtomicUsize::new(0));
        let count = lookups.clone();
        let connector = Connector::new(ConnectorConfig {
            allow_private_networks: false,
            allowed_addresses: vec![allowed_addr],
            connect_timeout: Duration::from_secs(2),
            overrides: Vec::new(),
            tls: Arc::new(tls_config(false, &[])),
            lookup: Some(Arc::new(move |host, _| {
                assert_eq!(host, "rebind.test");
                match count.fetch_add(1, Ordering::SeqCst) {
                    0 => vec!["127.0.0.1".parse().unwrap()],
                    _ => vec!["127.0.0.2".parse().unwrap()],
                }
            })),
        });
        let uri: Uri = format!("http://rebind.test:{}/", allowed_addr.port())
            .parse()
            .unwrap();
        assert!(
            connector.inner.connect(uri.clone()).await.is_ok(),
            "the first answer is the allowed address"
        );
        match connector.inner.connect(uri).await {
            Err(ConnectError::Refused(r)) => assert_eq!(r.ip.to_string(), "127.0.0.2"),
            Err(other) => panic!("expected a refusal, got {other}"),
            Ok(_) => panic!("connected to the rebound internal address"),
        }
        assert_eq!(
            lookups.load(Ordering::SeqCst),
            2,
            "one lookup per connection"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            internal_hits.load(Ordering::SeqCst),
            0,
            "the internal service was reached"
        );
    }
}
