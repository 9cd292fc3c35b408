//! Issue 16 part 5: the hostile servers as one report. Each case is crawled on its own while
//! an ordinary site is crawled over and over beside it (the patrol of other customers must go
//! on); for each case the report gives the outcome, the time and the process's peak resident
//! memory during it, and each must hold its bounds. The report is printed and written to
//! `target/hostile-report.txt`. The test runs in a process of its own (the test binary run
//! again for this one test), so that the peak memory is this test's alone.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use crate::common::crawl::*;
use crate::common::{self, Action, Server, serve};
use sitepatrol_crawl::crawl::CrawlConfig;

/// What a case must come to.
#[derive(Debug)]
enum Expect {
    /// The fetch fails with this error class.
    Fails(&'static str),
    /// The fetch fails, with whatever class the HTTP stack gives (floods, broken framing).
    FailsAny,
    /// The page is fetched (and scanned), perhaps cut at the body cap.
    Fetched,
}

struct Case {
    name: &'static str,
    /// A path on the hostile HTTP server, or `tls-garbage` / `tls-silent` for the listeners
    /// that answer a TLS handshake with plain text or with nothing.
    path: &'static str,
    expect: Expect,
    max_time: Duration,
    /// Peak resident memory the case may add over what the process had before it.
    max_peak_mib: f64,
}

const CAP: usize = 1 << 20;

fn respond(path: &str, bomb: &[u8]) -> Action {
    let html = |body: String| Action::html(body);
    match path {
        "/header-flood" => {
            let mut head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n".to_vec();
            for i in 0..20_000 {
                head.extend_from_slice(format!("X-Flood-{i}: aaaaaaaaaaaaaaaa\r\n").as_bytes());
            }
            head.extend_from_slice(b"Content-Length: 2\r\n\r\nok");
            Action::Raw(head)
        }
        "/endless-header" => Action::Endless {
            head: b"HTTP/1.1 200 OK\r\nX-Endless: ".to_vec(),
            repeat: vec![b'a'; 64 << 10],
        },
        "/endless-status-line" => Action::Endless {
            head: b"HTTP/1.1 200 ".to_vec(),
            repeat: vec![b'O'; 64 << 10],
        },
        "/bad-chunk-size" => Action::Raw(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
                .to_vec(),
        ),
        "/chunk-size-overflow" => Action::Raw(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\nhello\r\n0\r\n\r\n"
                .to_vec(),
        ),
        "/chunk-cut-short" => Action::Raw(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\nonly a little\r\n"
                .to_vec(),
        ),
        "/endless-chunks" => Action::Endless {
            head: b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
                .to_vec(),
            repeat: {
                let mut chunk = b"4000\r\n".to_vec();
                chunk.extend(std::iter::repeat_n(b'x', 0x4000));
                chunk.extend_from_slice(b"\r\n");
                chunk
            },
        },
        "/length-and-chunked" => Action::Raw(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
                .to_vec(),
        ),
        "/gzip-bomb" => Action::Respond {
            status: 200,
            headers: vec![
                ("Content-Type".into(), "text/html".into()),
                ("Content-Encoding".into(), "gzip".into()),
            ],
            body: bomb.to_vec(),
        },
        // Sent as it goes, so the test server itself holds none of it.
        "/huge-body" => Action::Endless {
            head: b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 52428800\r\n\r\n"
                .to_vec(),
            repeat: vec![b'z'; 64 << 10],
        },
        "/drip" => Action::Drip {
            body: vec![b'x'; 100],
            interval: Duration::from_millis(500),
        },
        "/hang" => Action::Hang,
        "/redirect-loop" => Action::redirect(302, "/redirect-loop"),
        "/nul-page" => html("<html><body><!-- \0 --><p>澳门赌场 真人百家乐 网上赌博</p></body></html>".into()),
        "/many-links" => {
            let mut page = String::from("<html><body>");
            for i in 0..100_000 {
                page.push_str(&format!("<a href='/l/{i}'>{i}</a>"));
            }
            html(page)
        }
        "/deep-nesting" => html(format!("{}赌博{}", "<div>".repeat(200_000), "</div>".repeat(10))),
        "/robots.txt" => Action::status(404),
        _ => Action::status(404),
    }
}

fn cases() -> Vec<Case> {
    let s = Duration::from_secs;
    let case = |name, path, expect, max_time, max_peak_mib| Case {
        name,
        path,
        expect,
        max_time,
        max_peak_mib,
    };
    vec![
        case(
            "header flood (20,000 headers)",
            "/header-flood",
            Expect::FailsAny,
            s(10),
            64.0,
        ),
        case(
            "endless header line",
            "/endless-header",
            Expect::FailsAny,
            s(10),
            64.0,
        ),
        case(
            "endless status line",
            "/endless-status-line",
            Expect::FailsAny,
            s(10),
            64.0,
        ),
        case(
            "chunk size not hex",
            "/bad-chunk-size",
            Expect::FailsAny,
            s(10),
            32.0,
        ),
        case(
            "chunk size overflows",
            "/chunk-size-overflow",
            Expect::FailsAny,
            s(10),
            32.0,
        ),
        case(
            "chunked body cut short",
            "/chunk-cut-short",
            Expect::Fails("body_incomplete"),
            s(10),
            32.0,
        ),
        case(
            "endless chunked body",
            "/endless-chunks",
            Expect::Fetched,
            s(10),
            64.0,
        ),
        case(
            "Content-Length with chunked",
            "/length-and-chunked",
            Expect::Fetched,
            s(10),
            32.0,
        ),
        case(
            "gzip bomb (200 MiB in under 1 MiB)",
            "/gzip-bomb",
            Expect::Fetched,
            s(20),
            64.0,
        ),
        case("50 MiB body", "/huge-body", Expect::Fetched, s(20), 64.0),
        case(
            "body dripped (100 bytes, 2/s)",
            "/drip",
            Expect::Fails("total_timeout"),
            s(10),
            32.0,
        ),
        case(
            "server that never answers",
            "/hang",
            Expect::Fails("first_byte_timeout"),
            s(10),
            32.0,
        ),
        case(
            "redirect loop",
            "/redirect-loop",
            Expect::Fails("too_many_redirects"),
            s(10),
            32.0,
        ),
        case(
            "a NUL in an HTML page",
            "/nul-page",
            Expect::Fetched,
            s(10),
            32.0,
        ),
        case(
            "100,000 links on one page",
            "/many-links",
            Expect::Fetched,
            s(30),
            64.0,
        ),
        case(
            "TLS handshake answered in plain text",
            "tls-garbage",
            Expect::Fails("tls"),
            s(10),
            32.0,
        ),
        case(
            "TLS handshake never answered",
            "tls-silent",
            Expect::FailsAny,
            s(10),
            32.0,
        ),
        case(
            "200,000 nested elements",
            "/deep-nesting",
            Expect::Fetched,
            s(30),
            64.0,
        ),
    ]
}

/// A listener for `https:` URLs that answers every connection with `reply` (plain text
/// where a TLS server hello belongs), or holds it open silently when `reply` is empty.
async fn tls_pretender(reply: &'static [u8]) -> std::net::SocketAddr {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                if reply.is_empty() {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                } else {
                    let _ = stream.write_all(reply).await;
                }
            });
        }
    });
    addr
}

/// The process's peak resident memory in MiB, after resetting it to the current size when
/// `reset` (Linux: `clear_refs` 5); `None` where /proc does not say.
fn peak_mib(reset: bool) -> Option<f64> {
    if reset {
        std::fs::write("/proc/self/clear_refs", "5").ok()?;
    }
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// An ordinary 20-page site, crawled again and again until `stop`; counts whole crawls and
/// any crawl that was not whole.
async fn patrol(
    server: Server,
    stop: Arc<AtomicBool>,
    whole: Arc<AtomicUsize>,
    broken: Arc<AtomicUsize>,
) {
    while !stop.load(SeqCst) {
        let out = crawl(&server).await;
        if out.pages.len() == 20 && out.failures.is_empty() {
            whole.fetch_add(1, SeqCst);
        } else {
            broken.fetch_add(1, SeqCst);
        }
    }
}

fn ordinary(path: &str) -> Action {
    let n: usize = path
        .trim_start_matches("/p/")
        .trim_end_matches(".html")
        .parse()
        .unwrap_or(0);
    match path {
        "/" => Action::html("<a href='/p/1.html'>1</a>"),
        p if p.starts_with("/p/") && n < 19 => Action::html(format!(
            "<p>本地新闻 第{n}页</p><a href='/p/{}.html'>next</a>",
            n + 1
        )),
        p if p.starts_with("/p/") && n == 19 => Action::html("<p>最后一页</p>"),
        _ => Action::status(404),
    }
}

/// Set in the child process that runs the report.
const ALONE: &str = "SITEPATROL_HOSTILE_REPORT_ALONE";

/// The peaks are the process's, and the integration tests share one process: so the test runs
/// the test binary again with only itself selected, and in that child it makes the report.
#[test]
fn hostile_servers_in_one_report_each_within_its_bounds() {
    if std::env::var_os(ALONE).is_some() {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(report());
        return;
    }
    let name = "hostile_report::hostile_servers_in_one_report_each_within_its_bounds";
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            name,
            "--nocapture",
            "--test-threads=1",
            "--quiet",
        ])
        .env(ALONE, "1")
        .output()
        .expect("the test binary runs again");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The report (and on failure the panic), without the child's own test-runner lines.
    for line in stdout.lines().filter(|l| {
        !(l.is_empty() || *l == "." || l.starts_with("running ") || l.starts_with("test result:"))
    }) {
        println!("{line}");
    }
    eprint!("{stderr}");
    assert!(
        out.status.success(),
        "the report's process failed: {}",
        out.status
    );
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "the child ran no report:\n{stdout}"
    );
}

async fn report() {
    let bomb = Arc::new(common::gzip(&vec![b'a'; 200 << 20]));
    // Rules loaded before the first measurement, so no case pays for them.
    let _ = scanner();
    let body = bomb.clone();
    let hostile = serve(move |r| respond(&r.path, &body)).await;
    let other = serve(|r| ordinary(&r.path)).await;
    let garbage = tls_pretender(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nnot tls").await;
    let silent = tls_pretender(b"").await;

    let stop = Arc::new(AtomicBool::new(false));
    let whole = Arc::new(AtomicUsize::new(0));
    let broken = Arc::new(AtomicUsize::new(0));
    let patrol = tokio::spawn(patrol(other, stop.clone(), whole.clone(), broken.clone()));

    let mut report = vec![format!(
        "{:<36} {:<46} {:>8} {:>10}",
        "case", "outcome", "time", "peak MiB"
    )];
    let mut failures = Vec::new();
    for case in cases() {
        let before = peak_mib(true);
        let mut fetch = fetch_config(&hostile);
        fetch.max_body_bytes = CAP;
        fetch.total_timeout = Duration::from_secs(5);
        let config = CrawlConfig {
            max_pages: 3,
            ..crawl_config()
        };
        let out = match case.path {
            "tls-garbage" | "tls-silent" => {
                let addr = if case.path == "tls-garbage" {
                    garbage
                } else {
                    silent
                };
                fetch.allowed_addresses = vec![addr];
                fetch.connect_timeout = Duration::from_secs(2);
                crawl_url(&format!("https://{addr}/"), fetch, config).await
            }
            path => crawl_from(&hostile, path, fetch, config).await,
        };
        // The TLS cases' pages are named by URL, not path.
        let path = if case.path.starts_with("tls-") {
            "/"
        } else {
            case.path
        };
        let peak = peak_mib(false);
        let outcome = match out.failed(path) {
            Some((_, class, message)) => format!("failed: {class} ({})", first_words(message)),
            None if out.fetched(path) => format!(
                "fetched, {} bytes read{}",
                out.stats.bytes,
                if out.stats.errors.contains_key("body_too_large") {
                    ", cut at the cap"
                } else {
                    ""
                }
            ),
            None => "neither fetched nor failed".to_string(),
        };
        let added = match (before, peak) {
            (Some(b), Some(p)) => Some(p - b),
            _ => None,
        };
        report.push(format!(
            "{:<36} {:<46} {:>7.2}s {:>10}",
            case.name,
            outcome,
            out.elapsed.as_secs_f64(),
            peak.map_or("n/a".into(), |p| format!(
                "{p:.1} (+{:.1})",
                added.unwrap_or(0.0)
            ))
        ));
        let held = match &case.expect {
            Expect::Fails(class) => out.failed(path).is_some_and(|(_, c, _)| c == class),
            Expect::FailsAny => out.failed(path).is_some(),
            Expect::Fetched => out.fetched(path) && out.stats.bytes <= 3 * CAP as u64,
        };
        if !held {
            failures.push(format!(
                "{}: expected {:?}, got {outcome}",
                case.name, case.expect
            ));
        }
        if out.elapsed > case.max_time {
            failures.push(format!(
                "{}: took {:?} (bound {:?})",
                case.name, out.elapsed, case.max_time
            ));
        }
        if let Some(added) = added
            && added > case.max_peak_mib
        {
            failures.push(format!(
                "{}: peak memory rose {added:.1} MiB (bound {} MiB)",
                case.name, case.max_peak_mib
            ));
        }
    }
    stop.store(true, SeqCst);
    patrol.await.expect("the patrol task");
    report.push(format!(
        "meanwhile, an ordinary 20-page site: {} whole crawls, {} not whole",
        whole.load(SeqCst),
        broken.load(SeqCst)
    ));
    let text = report.join("\n");
    println!("{text}");
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    let _ = std::fs::write(target.join("hostile-report.txt"), format!("{text}\n"));
    assert!(failures.is_empty(), "{text}\n\n{failures:#?}");
    assert!(whole.load(SeqCst) >= 1, "{text}");
    assert_eq!(broken.load(SeqCst), 0, "{text}");
}

fn first_words(message: &str) -> String {
    let words: Vec<&str> = message.split_whitespace().take(4).collect();
    words.join(" ")
}
