//! Webhooks end to end: the real `sitepatrol daemon` binary, a crawled loopback site with
//! findings, a loopback receiver that fails at first (500) and one that is not listening at
//! first (connection refused). The delivery is retried until it
//! succeeds, its signature verifies, its id stays the same across retries, and a restart in
//! the middle loses nothing and sends no successful delivery twice.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::daemon::*;
use crate::common::{self, Action, serve};
use sitepatrol_server::review::auth::{Role, config_line, new_token};
use sitepatrol_server::review::webhook::verify;
use sitepatrol_store::{DeliveryFilter, DeliveryStatus, Store, WebhookEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const SECRET: &str = "webhook-test-secret";

/// One POST the receiver got, and the status it answered.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    answered: u16,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }
}

/// A receiver on loopback that answers 500 to its first `failures` requests, then 204.
pub(crate) struct Receiver {
    pub(crate) addr: SocketAddr,
    got: Arc<Mutex<Vec<Received>>>,
}

pub(crate) async fn receiver(failures: usize) -> Receiver {
    receiver_at("127.0.0.1:0", failures).await
}

async fn receiver_at(addr: &str, failures: usize) -> Receiver {
    let listener = TcpListener::bind(addr).await.expect("bind");
    let addr = listener.local_addr().unwrap();
    let got: Arc<Mutex<Vec<Received>>> = Arc::default();
    let remaining = Arc::new(AtomicUsize::new(failures));
    let sink = got.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let sink = sink.clone();
            let remaining = remaining.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let split = loop {
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i;
                    }
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                };
                let head = String::from_utf8_lossy(&buf[..split]).to_string();
                let headers: Vec<(String, String)> = head
                    .split("\r\n")
                    .skip(1)
                    .filter_map(|l| l.split_once(':'))
                    .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
                    .collect();
                let length: usize = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                let mut body = buf[split + 4..].to_vec();
                while body.len() < length {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => body.extend_from_slice(&chunk[..n]),
                    }
                }
                let fail = remaining
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                let answered = if fail { 500 } else { 204 };
                sink.lock().unwrap().push(Received {
                    headers,
                    body,
                    answered,
                });
                let response = format!(
                    "HTTP/1.1 {answered} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    Receiver { addr, got }
}

impl Receiver {
    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// The `X-Sitepatrol-Delivery` ids of the requests received, repeats included.
    pub(crate) fn delivery_ids(&self) -> Vec<i64> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter_map(|r| {
                r.headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("x-sitepatrol-delivery"))
                    .and_then(|(_, v)| v.parse().ok())
            })
            .collect()
    }

    async fn wait(&self, what: &str, ok: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let got = self.got();
            if ok(&got) {
                return got;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "the receiver never got {what}: {got:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Checks one received POST: headers, signature over `<timestamp>.<body>`, payload shape.
fn check_signed(r: &Received) -> serde_json::Value {
    assert_eq!(r.header("content-type"), "application/json");
    let timestamp: i64 = r
        .header("x-sitepatrol-timestamp")
        .parse()
        .expect("timestamp");
    let signature = r.header("x-sitepatrol-signature");
    assert!(
        verify(SECRET.as_bytes(), timestamp, &r.body, signature),
        "the signature does not verify: {r:?}"
    );
    assert!(
        !verify(b"another secret", timestamp, &r.body, signature),
        "the signature must depend on the secret"
    );
    let payload: serde_json::Value = serde_json::from_slice(&r.body).expect("a JSON body");
    assert_eq!(payload["event"], r.header("x-sitepatrol-event"));
    payload
}

async fn api_get(addr: SocketAddr, path: &str, token: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request =
        format!("GET {path} HTTP/1.0\r\nHost: test\r\nAuthorization: Bearer {token}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string());
    (status, body.unwrap_or_default())
}

async fn api_post(addr: SocketAddr, path: &str, token: &str, body: &str) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "POST {path} HTTP/1.0\r\nHost: test\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    String::from_utf8_lossy(&raw)
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_retried_signed_and_survive_a_restart() {
    // A high (gambling) and a medium (porn) finding: only the high one is at min_severity.
    let site = serve(|_| {
        Action::html("<html><body><p>欢迎来到网上赌博平台</p><p>免费色情视频</p></body></html>")
    })
    .await;
    let hook = receiver(2).await;
    // A port nothing listens on until the daemon's first run is over: connection refused.
    let late_addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let admin = new_token().unwrap();
    let viewer = new_token().unwrap();
    let reviewer = new_token().unwrap();
    let setup = Setup::new();
    let extra = format!(
        r#"
[filing]
enabled = false
{tokens}

[[webhooks]]
name = "soc"
url = "http://{addr}/hooks/sitepatrol?token=abc"
secret = "{SECRET}"
min_severity = "high"
events = ["flag.new", "flag.state_changed"]
timeout = "5s"
max_attempts = 10
retry_base = "1s"
retry_max = "2s"

[[webhooks]]
name = "late"
url = "http://{late_addr}/"
secret = "{SECRET}"
min_severity = "medium"
events = ["flag.new"]
timeout = "5s"
retry_base = "1s"
retry_max = "2s"
{site}
"#,
        tokens = [
            config_line("ops", Role::Admin, &admin),
            config_line("watcher", Role::Viewer, &viewer),
            config_line("alice", Role::Reviewer, &reviewer),
        ]
        .join("\n"),
        addr = hook.addr,
        site = common::daemon::site("s1", "hooked.example.cn", site.addr.port(), "1h"),
    );
    let config = setup.write_config(&extra);

    // First run: the crawl's new high flag is queued; the receiver fails the first attempt;
    // the daemon stops (SIGTERM) before the retry.
    let mut daemon = Daemon::start(&config).await;
    let first = hook.wait("a first attempt", |g| !g.is_empty()).await;
    {
        // The refused attempts of `late` are recorded too (in the same round as `soc`'s).
        let store = setup.store();
        let started = Instant::now();
        while !store
            .deliveries(&DeliveryFilter {
                webhook: Some("late".into()),
                ..Default::default()
            })
            .unwrap()
            .iter()
            .all(|d| d.attempts >= 1)
        {
            assert!(started.elapsed() < PATIENCE, "late was never attempted");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    daemon.signal("TERM");
    assert!(
        daemon.wait_exit(PATIENCE).await.success(),
        "{}",
        daemon.log()
    );
    assert_eq!(first[0].answered, 500);
    let delivery_id = first[0].header("x-sitepatrol-delivery").to_string();
    {
        let store = setup.store();
        let flags = flags(&store, "s1");
        assert_eq!(flags.len(), 2, "{flags:?}");
        let late = store
            .deliveries(&DeliveryFilter {
                webhook: Some("late".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            late.len(),
            2,
            "both flags are at `late`'s min_severity: {late:?}"
        );
        for d in &late {
            assert_eq!(d.status, DeliveryStatus::Pending, "{d:?}");
            assert_eq!(d.last_status, None, "no answer from a closed port: {d:?}");
            assert!(d.last_error.is_some(), "{d:?}");
        }
        let queued = store
            .deliveries(&DeliveryFilter {
                webhook: Some("soc".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            queued.len(),
            1,
            "only the high flag is sent to soc: {queued:?}"
        );
        assert_eq!(queued[0].id.to_string(), delivery_id);
        assert_eq!(queued[0].webhook, "soc");
        assert_eq!(queued[0].event, WebhookEvent::FlagNew);
        assert_eq!(queued[0].status, DeliveryStatus::Pending, "{queued:?}");
        assert!(queued[0].attempts >= 1);
        assert_eq!(queued[0].last_status, Some(500));
        let error = queued[0].last_error.as_deref().unwrap_or_default();
        assert!(!error.contains("token=abc"), "no URL in errors: {error}");
    }

    // Second run: the pending delivery is retried (500 again), then delivered; `late` now
    // listens and gets both of its deliveries.
    let late = receiver_at(&late_addr.to_string(), 0).await;
    let daemon = Daemon::start(&config).await;
    let late_got = late.wait("both late deliveries", |g| g.len() >= 2).await;
    let mut late_ids: Vec<&str> = late_got
        .iter()
        .map(|r| r.header("x-sitepatrol-delivery"))
        .collect();
    late_ids.sort();
    late_ids.dedup();
    assert_eq!(late_ids.len(), 2, "{late_got:?}");
    for r in &late_got {
        check_signed(r);
    }
    let got = hook
        .wait("a successful attempt", |g| {
            g.iter().any(|r| r.answered == 204)
        })
        .await;
    assert!(got.len() >= 3, "two failures, then success: {got:?}");
    for r in &got {
        assert_eq!(
            r.header("x-sitepatrol-delivery"),
            delivery_id,
            "one delivery id across retries"
        );
        assert_eq!(r.header("x-sitepatrol-event"), "flag.new");
        let payload = check_signed(r);
        assert_eq!(payload["flag"]["rule"], "test.gambling");
        assert_eq!(payload["flag"]["severity"], "high");
        // The flag as the API shows it, with its score and signals.
        assert_eq!(payload["flag"]["score"], 2.0, "{payload:#}");
        assert_eq!(payload["flag"]["signals"][0]["rule"], "test.gambling");
        assert_eq!(payload["flag"]["signals_omitted"], 0);
        assert_eq!(payload["to_state"], "open");
        assert_eq!(r.body, got[0].body, "every attempt sends the same bytes");
    }
    let metrics = wait_metric(
        &daemon,
        "sitepatrol_webhook_outbox{status=\"delivered\"}",
        |v| v == 3.0,
    )
    .await;
    assert_eq!(
        sample(
            &metrics,
            "sitepatrol_webhook_deliveries_total{result=\"delivered\"}"
        ),
        Some(3.0)
    );
    assert!(
        sample(
            &metrics,
            "sitepatrol_webhook_deliveries_total{result=\"retry\"}"
        )
        .is_some_and(|v| v >= 1.0)
    );
    assert_eq!(
        sample(&metrics, "sitepatrol_webhook_outbox{status=\"pending\"}"),
        Some(0.0)
    );

    // The API lists it (admin only).
    let (status, body) = api_get(
        daemon.http,
        "/api/v1/webhooks/deliveries?status=delivered&webhook=soc",
        &admin,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["deliveries"][0]["id"].to_string(), delivery_id);
    assert_eq!(page["deliveries"][0]["status"], "delivered");
    assert_eq!(page["deliveries"][0]["attempts"], got.len());
    assert_eq!(page["deliveries"][0]["last_status"], 204);
    assert!(page["deliveries"][0].get("payload").is_none());
    assert_eq!(
        api_get(daemon.http, "/api/v1/webhooks/deliveries", &viewer)
            .await
            .0,
        403
    );
    assert_eq!(
        api_get(
            daemon.http,
            "/api/v1/webhooks/deliveries?status=sent",
            &admin
        )
        .await
        .0,
        400
    );

    // A reviewer's confirm is a state change, delivered on its own id.
    let flag_id = {
        let store = setup.store();
        flags(&store, "s1")
            .into_iter()
            .find(|f| f.rule == "test.gambling")
            .unwrap()
            .id
    };
    assert_eq!(
        api_post(
            daemon.http,
            &format!("/api/v1/flags/{flag_id}/confirm"),
            &reviewer,
            "{}"
        )
        .await,
        200
    );
    let got = hook
        .wait("the state change", |g| {
            g.iter()
                .any(|r| r.header("x-sitepatrol-event") == "flag.state_changed")
        })
        .await;
    let change = got
        .iter()
        .find(|r| r.header("x-sitepatrol-event") == "flag.state_changed")
        .unwrap();
    assert_ne!(change.header("x-sitepatrol-delivery"), delivery_id);
    let payload = check_signed(change);
    assert_eq!(payload["from_state"], "open");
    assert_eq!(payload["to_state"], "confirmed");
    assert_eq!(payload["actor"], "alice");
    assert_eq!(payload["flag"]["id"], flag_id);

    // Another restart: nothing delivered is sent again. The worker polls every second, so
    // a few seconds of a running daemon would have re-sent anything it was going to.
    let mut daemon = daemon;
    daemon.signal("TERM");
    assert!(daemon.wait_exit(PATIENCE).await.success());
    let before = hook.got().len();
    let daemon = Daemon::start(&config).await;
    wait_metric(
        &daemon,
        "sitepatrol_webhook_outbox{status=\"delivered\"}",
        |v| v == 4.0,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = hook.got();
    assert_eq!(
        after.len(),
        before,
        "a delivered delivery was sent again: {after:?}"
    );
    assert_eq!(late.got().len(), 2, "a delivered delivery was sent again");
    let successes = after
        .iter()
        .filter(|r| r.answered == 204 && r.header("x-sitepatrol-delivery") == delivery_id)
        .count();
    assert_eq!(successes, 1);
    let store = setup.store();
    let all = store.deliveries(&DeliveryFilter::default()).unwrap();
    assert!(
        all.iter().all(|d| d.status == DeliveryStatus::Delivered),
        "{all:?}"
    );

    // A reload (SIGHUP) brings a new webhook: the next state change goes to it too.
    setup.write_config(&format!(
        r#"{extra}
[[webhooks]]
name = "added"
url = "http://{late_addr}/added"
secret = "{SECRET}"
events = ["flag.state_changed"]
retry_base = "1s"
"#
    ));
    daemon.signal("HUP");
    daemon.wait_log("webhooks reloaded").await;
    assert_eq!(
        api_post(
            daemon.http,
            &format!("/api/v1/flags/{flag_id}/reopen"),
            &reviewer,
            "{}"
        )
        .await,
        200
    );
    let got = late
        .wait("the reopen on the added webhook", |g| {
            g.iter()
                .any(|r| r.header("x-sitepatrol-event") == "flag.state_changed")
        })
        .await;
    let reopened = got
        .iter()
        .find(|r| r.header("x-sitepatrol-event") == "flag.state_changed")
        .unwrap();
    let payload = check_signed(reopened);
    assert_eq!(payload["to_state"], "reopened");
    let added = store
        .deliveries(&DeliveryFilter {
            webhook: Some("added".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(added.len(), 1, "{added:?}");
}

/// Issue 14's test of the review flow: the same injected block on 40 pages is one case in
/// the queue; confirmed with a deadline that passes while the block is still there, the
/// deadline's recheck makes it `overdue` and fires `case.overdue`; with the block removed,
/// the next crawl finds it `rectified`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_injected_block_is_one_case_that_goes_overdue_then_rectified() {
    let injected = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let serving = injected.clone();
    let site = serve(move |request| {
        let path = request.path.split('?').next().unwrap_or("/").to_string();
        let block = if serving.load(Ordering::SeqCst) {
            "<div class='footer'>欢迎来到网上赌博平台</div>"
        } else {
            ""
        };
        if path == "/" {
            let links: String = (0..40)
                .map(|i| format!("<a href='/p{i}.html'>第{i}篇</a>"))
                .collect();
            return Action::html(format!("<html><body><p>新闻</p>{links}</body></html>"));
        }
        match path
            .strip_prefix("/p")
            .and_then(|p| p.strip_suffix(".html"))
            .and_then(|n| n.parse::<u32>().ok())
        {
            Some(n) if n < 40 => Action::html(format!(
                "<html><body><p>第{n}篇 正文</p>{block}</body></html>"
            )),
            _ => Action::status(404),
        }
    })
    .await;
    let hook = receiver(0).await;
    let (admin, reviewer) = (new_token().unwrap(), new_token().unwrap());
    let setup = Setup::new();
    let extra = format!(
        r#"
[filing]
enabled = false
[review]
deadline_check_interval = "1s"
{tokens}

[[webhooks]]
name = "suspend"
url = "http://{addr}/suspend"
secret = "{SECRET}"
events = ["case.overdue"]
timeout = "5s"
retry_base = "1s"
retry_max = "2s"
{site}
"#,
        tokens = [
            config_line("ops", Role::Admin, &admin),
            config_line("alice", Role::Reviewer, &reviewer),
        ]
        .join("\n"),
        addr = hook.addr,
        site = common::daemon::site("news", "news.example.cn", site.addr.port(), "1h"),
    );
    let config = setup.write_config(&extra);
    let daemon = Daemon::start(&config).await;
    wait_runs(&setup.store(), "news", 1).await;

    // One case, not 40 rows.
    let (status, body) = api_get(daemon.http, "/api/v1/cases?state=open", &reviewer).await;
    assert_eq!(status, 200, "{body}");
    let queue: serde_json::Value = serde_json::from_str(&body).unwrap();
    let cases = queue["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 1, "{queue:#}");
    let case = &cases[0];
    assert_eq!(
        (case["pages"].as_u64(), case["flags"].as_u64()),
        (Some(40), Some(40))
    );
    let id = case["id"].as_i64().unwrap();

    // Confirmed with a deadline three seconds away; one audit event for its 40 flags.
    let deadline = sitepatrol_core::clock::unix_now() + 3;
    let status = api_post(
        daemon.http,
        &format!("/api/v1/cases/{id}/confirm"),
        &reviewer,
        &format!(
            r#"{{"reason": "赌博推广", "deadline_at": {deadline}, "version": {}}}"#,
            case["version"]
        ),
    )
    .await;
    assert_eq!(status, 200);
    let detail = setup.store().case(id).unwrap().unwrap();
    assert!(
        detail
            .flags
            .iter()
            .all(|f| f.state == sitepatrol_store::FlagState::Confirmed)
    );
    let confirms: Vec<_> = detail
        .events
        .iter()
        .filter(|e| e.actor == "alice")
        .collect();
    assert_eq!(confirms.len(), 1, "{:?}", detail.events);
    assert_eq!(confirms[0].flags, 40);
    // Acting again on the version seen before is a conflict.
    let status = api_post(
        daemon.http,
        &format!("/api/v1/cases/{id}/comment"),
        &reviewer,
        &format!(r#"{{"text": "x", "version": {}}}"#, case["version"]),
    )
    .await;
    assert_eq!(status, 409);

    // The deadline passes with the block in place: the recheck finds it overdue.
    let got = hook
        .wait("case.overdue", |g| g.iter().any(|r| r.answered == 204))
        .await;
    let payload = check_signed(&got[0]);
    assert_eq!(payload["event"], "case.overdue");
    assert_eq!(payload["case"]["id"], id);
    assert_eq!(payload["case"]["state"], "overdue");
    assert_eq!(payload["case"]["pages"], 40);
    let runs = setup.store().crawl_runs("news", 10).unwrap();
    assert!(
        runs.iter().any(|r| r.finished_at >= deadline),
        "overdue without a crawl after the deadline"
    );
    let (_, metrics) = api_get(daemon.http, "/metrics", &admin).await;
    let overdue_gauge = metrics
        .lines()
        .find(|l| l.starts_with("sitepatrol_cases{") && l.contains("state=\"overdue\""));
    // The gauge follows at the deadline check's pace.
    if overdue_gauge.is_none() {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    let (_, metrics) = api_get(daemon.http, "/metrics", &admin).await;
    assert!(
        metrics.lines().any(|l| l.starts_with("sitepatrol_cases{")
            && l.contains("state=\"overdue\"")
            && l.ends_with(" 1")),
        "{metrics}"
    );

    // The customer removes the block; the next crawl rectifies the case.
    injected.store(false, Ordering::SeqCst);
    let status = api_post(daemon.http, "/api/v1/sites/news/recrawl", &admin, "").await;
    assert_eq!(status, 202);
    let started = Instant::now();
    loop {
        let case = setup.store().case(id).unwrap().unwrap().case;
        if case.state == sitepatrol_store::CaseState::Rectified {
            // A closed case keeps the pages it closed with, for the record.
            assert_eq!(case.pages, 40);
            assert!(case.closed_at.is_some());
            break;
        }
        assert!(started.elapsed() < PATIENCE, "never rectified: {case:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        hook.got().len(),
        1,
        "only case.overdue was subscribed to, and it fired once"
    );
}
