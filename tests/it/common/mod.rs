//! A loopback HTTP server for crawl tests, written on raw TCP so that a test can misbehave in
//! every way a hostile server does: drip bytes, never answer, reset mid-body, lie about the
//! charset, send a decompression bomb.

#![allow(dead_code)]

pub mod crawl;
pub mod daemon;
pub mod pg;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sitepatrol_core::extract::ZoneKind;
use sitepatrol_core::finding::{Finding, Severity};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the server does for one request.
pub enum Action {
    /// A complete response.
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Headers, then the body one chunk per interval.
    Drip { body: Vec<u8>, interval: Duration },
    /// Read the request and never answer.
    Hang,
    /// Headers announcing `length` bytes, `sent` bytes of body, then a TCP reset.
    ResetAfter { length: usize, sent: Vec<u8> },
    /// Wait, then answer as `then` does.
    Delayed { delay: Duration, then: Box<Action> },
    /// These bytes as the whole response, whatever they are (malformed framing, floods).
    Raw(Vec<u8>),
    /// `head`, then `repeat` again and again until the client goes away.
    Endless { head: Vec<u8>, repeat: Vec<u8> },
}

impl Action {
    pub fn html(body: impl Into<String>) -> Action {
        Action::with_type(200, "text/html; charset=utf-8", body.into().into_bytes())
    }

    pub fn with_type(status: u16, content_type: &str, body: Vec<u8>) -> Action {
        Action::Respond {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body,
        }
    }

    pub fn redirect(status: u16, location: &str) -> Action {
        Action::Respond {
            status,
            headers: vec![("Location".into(), location.into())],
            body: Vec::new(),
        }
    }

    pub fn status(status: u16) -> Action {
        Action::with_type(
            status,
            "text/plain",
            format!("status {status}").into_bytes(),
        )
    }
}

/// A request as the handler sees it.
pub struct Request {
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub struct Server {
    pub addr: SocketAddr,
    pub requests: Arc<AtomicUsize>,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

/// Start a server on 127.0.0.1 with a random port; it lives as long as the test's runtime.
pub async fn serve<F>(handler: F) -> Server
where
    F: Fn(&Request) -> Action + Send + Sync + 'static,
{
    serve_on("127.0.0.1", handler).await
}

/// [`serve`] on another loopback address (`127.0.0.2`, `::1`).
pub async fn serve_on<F>(ip: &str, handler: F) -> Server
where
    F: Fn(&Request) -> Action + Send + Sync + 'static,
{
    let ip = ip.parse().expect("an IP address");
    serve_at(SocketAddr::new(ip, 0), handler)
        .await
        .expect("bind loopback")
}

/// [`serve`] on exactly `addr` (a port another server has on another address), or the error
/// when it cannot be bound (no IPv6 loopback, the port taken).
pub async fn serve_at<F>(addr: SocketAddr, handler: F) -> std::io::Result<Server>
where
    F: Fn(&Request) -> Action + Send + Sync + 'static,
{
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let requests = Arc::new(AtomicUsize::new(0));
    let handler = Arc::new(handler);
    let counter = requests.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let handler = handler.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                let _ = handle(stream, handler.as_ref(), counter).await;
            });
        }
    });
    Ok(Server { addr, requests })
}

async fn handle<F>(
    mut stream: TcpStream,
    handler: &F,
    counter: Arc<AtomicUsize>,
) -> std::io::Result<()>
where
    F: Fn(&Request) -> Action,
{
    // One request per connection (Connection: close): simple, and the client must cope.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 || buf.len() > 64 << 10 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    counter.fetch_add(1, Ordering::SeqCst);
    let head = String::from_utf8_lossy(&buf).to_string();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    let path = request_line.split(' ').nth(1).unwrap_or("/").to_string();
    let headers = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let request = Request { path, headers };
    let mut action = handler(&request);
    while let Action::Delayed { delay, then } = action {
        tokio::time::sleep(delay).await;
        action = *then;
    }
    match action {
        Action::Respond {
            status,
            headers,
            body,
        } => {
            let mut head = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("\r\n");
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(&body).await?;
            stream.shutdown().await?;
        }
        Action::Drip { body, interval } => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).await?;
            for byte in body {
                stream.write_all(&[byte]).await?;
                tokio::time::sleep(interval).await;
            }
        }
        Action::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        Action::ResetAfter { length, sent } => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
            );
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(&sent).await?;
            stream.flush().await?;
            // SO_LINGER 0 turns the close into a reset.
            stream.set_zero_linger()?;
            drop(stream);
        }
        Action::Raw(bytes) => {
            stream.write_all(&bytes).await?;
            stream.shutdown().await?;
        }
        Action::Endless { head, repeat } => {
            stream.write_all(&head).await?;
            loop {
                stream.write_all(&repeat).await?;
            }
        }
        Action::Delayed { .. } => unreachable!("unwrapped above"),
    }
    Ok(())
}

/// gzip of `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).expect("in memory");
    e.finish().expect("in memory")
}

/// A finding of `rule` in the text zone of `url`, as the store tests record them.
pub fn finding(
    rule: &str,
    category: &str,
    severity: Severity,
    matched: &str,
    url: &str,
) -> Finding {
    Finding {
        record_type: Finding::RECORD_TYPE,
        rule: Arc::from(rule),
        category: Arc::from(category),
        clause: Arc::from("§2 (9)"),
        severity,
        description: Arc::from("测试规则"),
        target: Arc::from(url),
        zone: Some(ZoneKind::Text),
        matched: matched.to_string(),
        normalized: matched.to_lowercase(),
        snippet: format!("……{matched}……"),
        offset: 3,
        count: 1,
        score: None,
        signals: Vec::new(),
        signals_omitted: 0,
    }
}
