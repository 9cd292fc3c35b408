//! TLS on loopback: HTTP/2 by ALPN, SNI and Host from `--resolve`, certificate checks.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sitepatrol_crawl::fetch::politeness::{HostGate, PolitenessConfig};
use sitepatrol_crawl::fetch::{Agent, ErrorClass, FetchConfig, Fetcher};
use tokio::net::TcpListener;
use url::Url;

const HOST: &str = "www.customer.test";

struct Pki {
    ca: CertificateDer<'static>,
    leaf: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

fn pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec![HOST.to_string()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    Pki {
        ca: ca.der().clone(),
        leaf: leaf.der().clone(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
    }
}

/// An HTTPS server (HTTP/1.1 and HTTP/2) answering with the protocol version and Host header.
async fn serve_tls(pki: &Pki) -> SocketAddr {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![pki.leaf.clone()], pki.key.clone_key())
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service = service_fn(
                    |request: hyper::Request<hyper::body::Incoming>| async move {
                        let host = request
                            .headers()
                            .get("host")
                            .and_then(|h| h.to_str().ok())
                            .map(str::to_string)
                            .or_else(|| request.uri().authority().map(|a| a.to_string()))
                            .unwrap_or_default();
                        let body = format!("<p>{:?} {host}</p>", request.version());
                        Ok::<_, Infallible>(
                            hyper::Response::builder()
                                .header("content-type", "text/html; charset=utf-8")
                                .body(Full::new(Bytes::from(body)))
                                .unwrap(),
                        )
                    },
                );
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    addr
}

fn config(addr: SocketAddr) -> FetchConfig {
    FetchConfig {
        connect_timeout: Duration::from_secs(3),
        first_byte_timeout: Duration::from_secs(3),
        total_timeout: Duration::from_secs(5),
        allowed_addresses: vec![addr],
        resolve: vec![format!("{HOST}:{}:127.0.0.1", addr.port()).parse().unwrap()],
        ..FetchConfig::default()
    }
}

#[tokio::test]
async fn https_with_http2_sni_and_host_from_resolve() {
    let pki = pki();
    let addr = serve_tls(&pki).await;
    let fetcher = Fetcher::new(FetchConfig {
        ca_certificates: vec![pki.ca.clone()],
        ..config(addr)
    });
    let gate = HostGate::new(PolitenessConfig::default());
    let url = Url::parse(&format!("https://{HOST}:{}/", addr.port())).unwrap();
    let response = fetcher
        .get(&url, Agent::Desktop, &gate)
        .await
        .expect("the fetch succeeds");
    let body = String::from_utf8(response.body).unwrap();
    // The certificate names www.customer.test: it verified, so SNI carried the host, and the
    // server negotiated HTTP/2 by ALPN.
    assert!(body.contains("HTTP/2.0"), "{body}");
    assert!(body.contains(HOST), "{body}");
    assert_eq!(
        response.remote_addr.map(|a| a.ip().to_string()).as_deref(),
        Some("127.0.0.1")
    );
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_tls_error_unless_invalid_certs_are_accepted() {
    let pki = pki();
    let addr = serve_tls(&pki).await;
    let gate = HostGate::new(PolitenessConfig::default());
    let url = Url::parse(&format!("https://{HOST}:{}/", addr.port())).unwrap();
    let strict = Fetcher::new(config(addr));
    let error = strict
        .get(&url, Agent::Desktop, &gate)
        .await
        .expect_err("not trusted");
    assert_eq!(error.class, ErrorClass::Tls, "{error}");
    let lenient = Fetcher::new(FetchConfig {
        accept_invalid_certs: true,
        ..config(addr)
    });
    let response = lenient
        .get(&url, Agent::Desktop, &gate)
        .await
        .expect("accepted");
    assert_eq!(response.status, 200);
}
