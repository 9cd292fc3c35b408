//! The browser's only way out: an HTTP proxy on loopback that connects under the fetcher's
//! SSRF policy.
//!
//! Chromium is started with `--proxy-server` pointing here and `--proxy-bypass-list=<-loopback>`
//! (which removes its implicit loopback bypass), so every request of the page, its frames,
//! workers and sockets arrives here as `CONNECT host:port` (HTTPS, WebSockets) or as a plain
//! request in absolute form (`GET http://host/path`). Each destination is resolved and checked
//! by the same [`Connector`] the site's fetcher uses (the guard, the site's own allowed origin
//! addresses, `--resolve` overrides, the peer checked again on the socket), so a page can make
//! the browser reach no more of the provider's network than the crawler itself.
//!
//! The proxy does not read what it tunnels: TLS is the browser's own, end to end. A plain
//! request is sent upstream with `Connection: close`, so one upstream connection serves one
//! request and a browser that reuses the proxy connection cannot ride an allowed connection
//! to another host.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::fetch::connect::Connector;

/// A request head longer than this is refused: browsers send a few KiB.
const MAX_HEAD: usize = 64 * 1024;
/// Time the browser gets to send a request head on a new proxy connection.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// A running proxy. Dropping it stops the listener and every tunnel it holds open.
pub struct Proxy {
    addr: SocketAddr,
    _tasks: JoinSet<()>,
    refused: Arc<AtomicU64>,
}

impl Proxy {
    /// Listen on an ephemeral loopback port and connect everything through `connector`.
    pub async fn start(connector: Connector) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let refused = Arc::new(AtomicU64::new(0));
        let mut tasks = JoinSet::new();
        tasks.spawn(accept_loop(listener, connector, refused.clone()));
        Ok(Proxy {
            addr,
            _tasks: tasks,
            refused,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many destinations the policy refused so far (for the render's log line).
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

async fn accept_loop(listener: TcpListener, connector: Connector, refused: Arc<AtomicU64>) {
    // The connections live in this task's own set: when the proxy is dropped and this task is
    // aborted, the set is dropped with it and every tunnel closes.
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let Ok((client, peer)) = accepted else {
            continue;
        };
        // Only this machine's loopback can be the browser; anything else is not ours to serve.
        if !peer.ip().is_loopback() {
            continue;
        }
        connections.spawn(serve(client, connector.clone(), refused.clone()));
    }
}

/// What the browser asked for.
#[derive(Debug, PartialEq, Eq)]
enum Request {
    /// `CONNECT host:port`: a tunnel.
    Connect { host: String, port: u16 },
    /// A plain request: where to, and the head to send upstream (origin form).
    Forward {
        host: String,
        port: u16,
        head: Vec<u8>,
    },
}

async fn serve(mut client: TcpStream, connector: Connector, refused: Arc<AtomicU64>) {
    let Ok(Ok((head, rest))) = tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut client)).await
    else {
        return;
    };
    let request = match parse(&head) {
        Ok(request) => request,
        Err(status) => {
            let _ = client.write_all(answer(status).as_bytes()).await;
            return;
        }
    };
    let (host, port) = match &request {
        Request::Connect { host, port } | Request::Forward { host, port, .. } => {
            (host.clone(), *port)
        }
    };
    let mut upstream = match connector.connect_tcp(&host, port).await {
        Ok((stream, _)) => stream,
        Err(error) => {
            if matches!(error, crate::fetch::connect::ConnectError::Refused(_)) {
                refused.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%host, port, %error, "render proxy: destination refused");
                let _ = client.write_all(answer("403 Forbidden").as_bytes()).await;
            } else {
                let _ = client.write_all(answer("502 Bad Gateway").as_bytes()).await;
            }
            return;
        }
    };
    let sent = match request {
        Request::Connect { .. } => client
            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .await
            .is_ok(),
        Request::Forward { head, .. } => upstream.write_all(&head).await.is_ok(),
    };
    if !sent || upstream.write_all(&rest).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

/// Reads up to the end of the request head; returns the head and any bytes read past it.
async fn read_head(client: &mut TcpStream) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = find_head_end(&buf) {
            let rest = buf.split_off(end);
            return Ok((buf, rest));
        }
        if buf.len() > MAX_HEAD {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
    }
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

fn answer(status: &str) -> String {
    format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
}

/// Reads the request line and rewrites a plain request for the origin server. Anything but
/// `CONNECT` and absolute `http://` requests is refused with the status to answer.
fn parse(head: &[u8]) -> Result<Request, &'static str> {
    let text = std::str::from_utf8(head).map_err(|_| "400 Bad Request")?;
    let (line, headers) = text.split_once("\r\n").ok_or("400 Bad Request")?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("400 Bad Request");
    };
    if method == "CONNECT" {
        let (host, port) = split_authority(target, None).ok_or("400 Bad Request")?;
        return Ok(Request::Connect { host, port });
    }
    let url = url::Url::parse(target).map_err(|_| "400 Bad Request")?;
    if url.scheme() != "http" {
        return Err("405 Method Not Allowed");
    }
    let host = url.host_str().ok_or("400 Bad Request")?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = url.port_or_known_default().unwrap_or(80);
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let mut out = format!("{method} {path} {version}\r\n");
    for header in headers.split("\r\n").filter(|h| !h.is_empty()) {
        let name = header.split(':').next().unwrap_or("").trim();
        // Hop-by-hop headers are the proxy's, not the origin's; the upstream connection
        // serves this one request.
        if [
            "connection",
            "proxy-connection",
            "keep-alive",
            "proxy-authorization",
        ]
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h))
        {
            continue;
        }
        out.push_str(header);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    Ok(Request::Forward {
        host,
        port,
        head: out.into_bytes(),
    })
}

/// `host:port` or `[v6]:port`, the port required unless a default is given.
fn split_authority(authority: &str, default_port: Option<u16>) -> Option<(String, u16)> {
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, port.parse().ok()?),
        _ => (authority, default_port?),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty()).then(|| (host.to_ascii_lowercase(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_requests() {
        assert_eq!(
            parse(b"CONNECT example.cn:443 HTTP/1.1\r\nHost: example.cn:443\r\n\r\n"),
            Ok(Request::Connect {
                host: "example.cn".into(),
                port: 443
            })
        );
        assert_eq!(
            parse(b"CONNECT [::1]:8443 HTTP/1.1\r\n\r\n"),
            Ok(Request::Connect {
                host: "::1".into(),
                port: 8443
            })
        );
        assert!(parse(b"CONNECT example.cn HTTP/1.1\r\n\r\n").is_err());
    }

    #[test]
    fn plain_requests_go_upstream_in_origin_form_and_close() {
        let head = b"GET http://a.test:8080/x?y=1 HTTP/1.1\r\nHost: a.test:8080\r\nProxy-Connection: keep-alive\r\nAccept: */*\r\n\r\n";
        let Ok(Request::Forward { host, port, head }) = parse(head) else {
            panic!("not a forward");
        };
        assert_eq!((host.as_str(), port), ("a.test", 8080));
        assert_eq!(
            String::from_utf8(head).unwrap(),
            "GET /x?y=1 HTTP/1.1\r\nHost: a.test:8080\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn other_requests_are_refused() {
        assert!(parse(b"GET /relative HTTP/1.1\r\n\r\n").is_err());
        assert!(parse(b"GET ftp://a.test/ HTTP/1.1\r\n\r\n").is_err());
        assert!(parse(b"\xff\xfe\r\n\r\n").is_err());
        assert!(parse(b"GET\r\n\r\n").is_err());
    }
}
