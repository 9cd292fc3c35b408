//! Running the real `sitepatrol daemon` binary in tests: a temporary directory with a config,
//! a store and rules; the daemon's log collected; signals; /metrics over plain TCP.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sitepatrol_core::extract::ZoneKind;
use sitepatrol_core::finding::{Finding, Severity};
use sitepatrol_store::{
    CrawlRun, CrawlRunRecord, Flag, FlagFilter, FlagId, IngestPage, SiteInfo, SqliteStore, Store,
    StoreConfig,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use super::{Action, serve};

/// Rules the daemon tests use: small (fast to load), and one rule per thing a test serves.
/// Each flags alone: gambling at its category's full severity (high), pornography one step
/// below (medium).
pub const RULES: &str = r#"
[ruleset]
description = "daemon test rules"

[[rule]]
id = "test.gambling"
category = "gambling"
clause = "§2(7)"
severity = "high"
weight = 2.0
description = "网上赌博"
terms = ["网上赌博"]
examples.match = ["欢迎来到网上赌博平台"]

[[rule]]
id = "test.porn"
category = "pornography"
clause = "§3"
severity = "medium"
weight = 1.0
description = "色情视频"
terms = ["色情视频"]
examples.match = ["免费色情视频"]
"#;

/// A ruleset the loader refuses (a rule without its required keys).
pub const BROKEN_RULES: &str = "[[rule]]\nid = \"broken\"\nterms = 3\n";

/// How long any wait in these tests may take before it fails: generous, because CI shares
/// two cores with builds.
pub const PATIENCE: Duration = Duration::from_secs(90);

pub struct Setup {
    pub dir: tempfile::TempDir,
}

impl Setup {
    pub fn new() -> Setup {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("rules")).expect("rules dir");
        std::fs::write(dir.path().join("rules/test.toml"), RULES).expect("rules");
        Setup { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn store_path(&self) -> PathBuf {
        self.path("data/sitepatrol.db")
    }

    /// Write `config.toml`: the store and rules in the temp dir, HTTP on a free port, and
    /// `extra` appended (sections, sites).
    pub fn write_config(&self, extra: &str) -> PathBuf {
        self.write_config_with_http("", extra)
    }

    /// [`Setup::write_config`] with `http` lines added to the `[http]` section.
    pub fn write_config_with_http(&self, http: &str, extra: &str) -> PathBuf {
        let text = format!(
            r#"
[store]
path = "{store}"
[http]
listen = ["127.0.0.1:0"]
{http}
[rules]
paths = ["{rules}"]
[logging]
level = "info"
{extra}
"#,
            store = self.store_path().display(),
            rules = self.path("rules").display(),
        );
        let path = self.path("config.toml");
        std::fs::write(&path, text).expect("config");
        path
    }

    pub fn store(&self) -> SqliteStore {
        SqliteStore::open(self.store_path(), StoreConfig::default()).expect("open the store")
    }
}

/// Records, straight into the store, a crawl of `site` that found one scored gambling flag on
/// `url`, as the page-level scanner reports it: the head quotes the first of `signals`, each
/// `(rule, matched text, contribution)`. For tests of scores and signals in what serves flags.
pub fn seed_scored_flag(
    setup: &Setup,
    site: &str,
    url: &str,
    signals: &[(&str, &str, f64)],
) -> FlagId {
    let store = setup.store();
    let domain = url::Url::parse(url)
        .unwrap()
        .host_str()
        .unwrap()
        .to_string();
    store
        .upsert_sites(
            &[SiteInfo {
                id: site.into(),
                customer: format!("customer-{site}"),
                domains: vec![domain],
                origin: None,
                contact: Default::default(),
            }],
            1,
        )
        .expect("seed the site");
    let finding = |(rule, matched, contribution): (&str, &str, f64)| {
        let mut f = Finding {
            record_type: Finding::RECORD_TYPE,
            rule: rule.into(),
            category: "gambling".into(),
            clause: "§2(7)".into(),
            severity: Severity::High,
            description: "网上赌博".into(),
            target: url.into(),
            zone: Some(ZoneKind::Text),
            matched: matched.into(),
            normalized: matched.to_lowercase(),
            snippet: format!("前文{matched}后文"),
            offset: 6,
            count: 1,
            score: None,
            signals: Vec::new(),
            signals_omitted: 0,
        };
        let mut signal = f.own_signal();
        signal.weight = Some(contribution);
        signal.contribution = Some(contribution);
        f.signals = vec![signal];
        f
    };
    let mut head = finding(signals[0]);
    head.score = Some(signals.iter().map(|s| s.2).sum());
    head.signals = signals.iter().flat_map(|s| finding(*s).signals).collect();
    let run = CrawlRun {
        key: format!("seed-{site}"),
        site: site.into(),
        started_at: 1,
        finished_at: 2,
        outcome: sitepatrol_store::CrawlOutcome::Completed,
        rules_version: "seed".into(),
        stats: serde_json::json!({}),
        release: None,
    };
    let page = IngestPage::matched(url, 200, 1, b"<p>seeded</p>", vec![head]);
    store
        .record_crawl(&run, &[page])
        .expect("seed the flag")
        .new[0]
        .id
}

/// A site entry on the loopback server at `port`.
pub fn site(id: &str, domain: &str, port: u16, interval: &str) -> String {
    format!(
        r#"
[[sites]]
id = "{id}"
customer = "customer-{id}"
domains = ["{domain}"]
origin = "127.0.0.1"
port = {port}
interval = "{interval}"
robots = "ignore"
allow_private_networks = true
"#
    )
}

pub struct Daemon {
    pub child: Child,
    pub http: SocketAddr,
    pub log: Arc<Mutex<String>>,
    /// What it printed to stdout (the first-run login link).
    pub stdout: Arc<Mutex<String>>,
}

impl Daemon {
    pub async fn start(config: &Path) -> Daemon {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sitepatrol"))
            .args(["daemon", "--config"])
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the daemon");
        let log = Arc::new(Mutex::new(String::new()));
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        tokio::spawn(collect_lines(stderr, log.clone()));
        let out = child.stdout.take().expect("piped stdout");
        tokio::spawn(collect_lines(out, stdout.clone()));
        let started = Instant::now();
        let http = loop {
            let found = log
                .lock()
                .unwrap()
                .lines()
                .find(|l| l.contains("http server listening"))
                .and_then(|l| l.split("addr=").nth(1))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|a| a.parse::<SocketAddr>().ok());
            if let Some(addr) = found {
                break addr;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "the daemon exited ({status}) before listening:\n{}",
                    log.lock().unwrap()
                );
            }
            assert!(
                started.elapsed() < PATIENCE,
                "the daemon never listened:\n{}",
                log.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let daemon = Daemon {
            child,
            http,
            log,
            stdout,
        };
        daemon.wait_log("sitepatrol::daemon: ready").await;
        daemon
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// Wait until the log has a line containing `needle`, `times` times.
    pub async fn wait_log_n(&self, needle: &str, times: usize) {
        let started = Instant::now();
        while self.log().matches(needle).count() < times {
            assert!(
                started.elapsed() < PATIENCE,
                "`{needle}` not logged {times} time(s):\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn wait_log(&self, needle: &str) {
        self.wait_log_n(needle, 1).await
    }

    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("running");
        let status = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal} {pid}");
    }

    /// Wait for the exit, at most `within`.
    pub async fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        match tokio::time::timeout(within, self.child.wait()).await {
            Ok(status) => status.expect("wait"),
            Err(_) => panic!("the daemon did not exit within {within:?}:\n{}", self.log()),
        }
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        get(self.http, path).await
    }
}

/// Every line of `from`, appended to `into` as it comes.
async fn collect_lines(from: impl tokio::io::AsyncRead + Unpin, into: Arc<Mutex<String>>) {
    let mut lines = BufReader::new(from).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let mut text = into.lock().unwrap();
        text.push_str(&line);
        text.push('\n');
    }
}

/// GET over HTTP/1.0 (the server closes after the response).
pub async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let (status, response) = get_with(addr, path, "").await;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// GET with extra header lines (each ending in `\r\n`): the status and the whole response,
/// head and body.
pub async fn get_with(addr: SocketAddr, path: &str, headers: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: test\r\n{headers}\r\n").as_bytes())
        .await
        .expect("send");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// The value of one sample line of a metrics text, like `sitepatrol_sites_scheduled` or
/// `sitepatrol_rules_reloads_total{result="error"}`.
pub fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Poll `/metrics` until `series` satisfies `ok`.
pub async fn wait_metric(daemon: &Daemon, series: &str, ok: impl Fn(f64) -> bool) -> String {
    let started = Instant::now();
    loop {
        let (_, metrics) = daemon.get("/metrics").await;
        if sample(&metrics, series).is_some_and(&ok) {
            return metrics;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "{series} never got there:\n{metrics}\nlog:\n{}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Poll the store until `site` has at least `n` committed crawl runs; newest first.
pub async fn wait_runs(store: &dyn Store, site: &str, n: usize) -> Vec<CrawlRunRecord> {
    let started = Instant::now();
    loop {
        let runs = store.crawl_runs(site, 1000).expect("crawl runs");
        if runs.len() >= n {
            return runs;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "site {site} has {} runs, not {n}",
            runs.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn flags(store: &dyn Store, site: &str) -> Vec<Flag> {
    store
        .list_flags(&FlagFilter {
            site: Some(site.to_string()),
            limit: 1000,
            ..FlagFilter::default()
        })
        .expect("list flags")
        .flags
}

/// A site whose pages the test can change while the daemon crawls it.
pub type Pages = Arc<Mutex<HashMap<String, String>>>;

pub async fn serve_pages(pages: &Pages) -> super::Server {
    let pages = pages.clone();
    serve(move |request| {
        let path = request.path.split('?').next().unwrap_or("/").to_string();
        match pages.lock().unwrap().get(&path) {
            Some(body) => Action::html(body.clone()),
            None => Action::status(404),
        }
    })
    .await
}

pub fn page(text: &str, links: &[&str]) -> String {
    let links: String = links
        .iter()
        .map(|l| format!("<a href='{l}'>{l}</a>"))
        .collect();
    format!("<html><head><title>t</title></head><body><p>{text}</p>{links}</body></html>")
}

/// A daemon started on a config (`config.toml` in the setup's directory) without schedule
/// jitter or filing checks: `schedule` holds more `[schedule]` keys, `rest` more sections and
/// the sites. The setup must outlive the daemon: it holds the store and the rules.
pub async fn start_daemon(schedule: &str, rest: &str) -> (Setup, Daemon, SqliteStore) {
    let setup = Setup::new();
    let config = setup.write_config(&format!(
        "[schedule]\njitter = 0.0\n{schedule}[filing]\nenabled = false\n{rest}"
    ));
    let daemon = Daemon::start(&config).await;
    let store = setup.store();
    (setup, daemon, store)
}

/// SIGTERM: the daemon exits 0 within 30 s.
pub async fn stop(mut daemon: Daemon) {
    daemon.signal("TERM");
    let status = daemon.wait_exit(Duration::from_secs(30)).await;
    assert!(status.success(), "{status}\n{}", daemon.log());
}

/// Wait for two more committed crawls of `site` than it has now; newest first. The first may
/// have begun before what the test just changed, the second began after it.
pub async fn wait_two_more_runs(store: &dyn Store, site: &str) -> Vec<CrawlRunRecord> {
    let now = store.crawl_runs(site, 1000).expect("crawl runs").len();
    wait_runs(store, site, now + 2).await
}

/// The `open http://.../login?once=SECRET` line the daemon printed to stdout: the path and
/// query to request, and the address it names.
pub fn printed_link(daemon: &Daemon) -> (SocketAddr, String) {
    let out = daemon.stdout();
    let line = out
        .lines()
        .rev()
        .find(|l| l.starts_with("open http://"))
        .unwrap_or_else(|| panic!("no link printed:\n{out}\nlog:\n{}", daemon.log()));
    let url = url::Url::parse(line.trim_start_matches("open ")).expect("a URL");
    assert_eq!(url.path(), "/login", "{line}");
    let secret = url
        .query_pairs()
        .find(|(k, _)| k == "once")
        .map(|(_, v)| v.into_owned())
        .expect("a once parameter");
    assert!(secret.len() >= 43, "32 random bytes: {secret}");
    // Logged too, with the same URL.
    assert!(daemon.log().contains(url.as_str()), "{}", daemon.log());
    let addr = SocketAddr::new(
        url.host_str().unwrap().parse().unwrap(),
        url.port().unwrap(),
    );
    (addr, format!("/login?once={secret}"))
}
