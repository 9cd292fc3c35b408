//! `sitepatrol daemon`: patrol every site of the inventory on schedule, keep every flag in the
//! store, and tell Prometheus how it goes.
//!
//! Startup is one straight line, each step logged, and any failure ends it with the reason:
//! configuration → logging → store → rules → metrics → HTTP listeners → demo site → inventory
//! → schedule → ready. Then one loop owns the schedule: it starts the most overdue sites while
//! crawl slots are free, takes finished crawls back (their ingest already committed), and
//! handles SIGHUP (reload inventory and rules; a bad reload keeps the old ones) and
//! SIGTERM/SIGINT (stop scheduling, give in-flight crawls `shutdown_grace`, then cut them and
//! commit what they fetched, exit 0).

mod conditional;
mod crawl;
pub mod demo;
mod error;
mod filing;
mod first_run;
pub mod render;
mod resume;

mod webhooks;

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::signal::unix::SignalKind;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::{Instrument, error, info, info_span, warn};

use crate::config::{Config, ReviewConfig};
use crate::inventory::Inventory;
use crate::schedule::Scheduler;
use crate::site::Site;
use crawl::{CrawlError, CrawlReport, Shared, crawl_site};
pub use error::DaemonError;
pub use filing::FilingSetupError;
use sitepatrol_core::clock::{now_ms, unix_now};
use sitepatrol_core::rules::RuleSource;
use sitepatrol_core::rules::{Level, RulesHandle, sources_version};
use sitepatrol_crawl::fetch::politeness::{HostGate, PolitenessConfig};
use sitepatrol_server::api::notice::NoticeSettings;
use sitepatrol_server::api::{Api, RecrawlOutcome, RecrawlRequest, ReloadReport, ReloadRequest};
use sitepatrol_server::http;
use sitepatrol_server::metrics::Metrics;
use sitepatrol_server::review::auth::FailureLimiter;
use sitepatrol_server::router::{self, Listener};
use sitepatrol_server::ui::{Ui, UiSettings};
use sitepatrol_store::{PgStore, SiteInfo, SqliteStore, Store, StoreConfig, redact_url};

pub struct Daemon {
    shared: Arc<Shared>,
    rules: Arc<RulesHandle>,
    config_path: Option<PathBuf>,
    ops: Arc<http::OpsState>,
    api: Arc<Api>,
    /// Recrawl requests from the API; taken by `run`.
    recrawls: Option<mpsc::Receiver<RecrawlRequest>>,
    /// Reload requests from the API; taken by `run`.
    reloads: Option<mpsc::Receiver<ReloadRequest>>,
    schedule: Scheduler,
    sites: HashMap<Arc<str>, Site>,
    /// The site of each crawl task, to put it back on the schedule if the task panics.
    tasks: HashMap<tokio::task::Id, Arc<str>>,
    demo_addr: Option<SocketAddr>,
    /// Tells the HTTP servers to stop.
    stop_servers: watch::Sender<bool>,
    servers: JoinSet<()>,
    /// The webhooks the delivery worker sends to; replaced by a reload.
    webhooks: watch::Sender<webhooks::Hooks>,
}

struct Finished {
    site: Arc<str>,
    result: Result<CrawlReport, CrawlError>,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, tokio::task::JoinError> {
    tokio::task::spawn_blocking(f).await
}

/// The review side: the API and the UI over the store, and the ends of the API's channels
/// to the schedule loop.
struct Review {
    api: Arc<Api>,
    ui: Arc<Ui>,
    recrawls: mpsc::Receiver<RecrawlRequest>,
    reloads: mpsc::Receiver<ReloadRequest>,
}

/// The HTTP servers, the way to stop them, and the demo site's address when it serves.
struct Servers {
    tasks: JoinSet<()>,
    stop: watch::Sender<bool>,
    stop_rx: watch::Receiver<bool>,
    demo_addr: Option<SocketAddr>,
    /// The bound addresses that serve the UI (`http.listen`, or `api.listen` when set).
    ui_addrs: Vec<SocketAddr>,
}

impl Daemon {
    /// Straight-line startup: the store, the rules, metrics, the review side, the listeners,
    /// the filing checks, the webhook worker, then the inventory. Ready when it returns.
    pub async fn start(
        config: Config,
        config_path: Option<PathBuf>,
    ) -> Result<Daemon, DaemonError> {
        info!(
            version = env!("CARGO_PKG_VERSION"),
            config = %config.source,
            "starting sitepatrol daemon"
        );
        let store = open_store(&config).await?;
        let sources = config.rule_sources();
        let (rules, version, loaded) = load_rules(sources).await?;
        let metrics = Arc::new(Metrics::new()?);
        metrics.rules_loaded.set(loaded as i64);
        let ops = Arc::new(http::OpsState {
            metrics: metrics.clone(),
            ready: AtomicBool::new(false),
            metrics_token: config.metrics_token.clone(),
            metrics_limiter: FailureLimiter::new(
                config.api.max_failures,
                config.times.api_failure_window,
            ),
        });
        let review = review_side(&config, store.clone())?;
        let mut servers = start_servers(&config, &ops, &review, &metrics).await?;
        let filing = {
            let config = config.clone();
            blocking(move || filing::FilingCheck::load(&config)).await??
        };
        match &filing {
            Some(check) => info!(
                registry = %check.describe(),
                hosted_networks = config.hosted_nets.len(),
                "filing checks on"
            ),
            None => info!("filing checks off"),
        }
        // The delivery worker stops with the servers, after the crawls: the outbox rows of
        // the last crawls are in the store, and are sent now or by the next start. Started
        // without webhooks too, so rows of webhooks removed from the config are settled.
        let (webhooks, hooks_rx) = watch::channel(Arc::new(config.webhooks.clone()));
        servers.tasks.spawn(
            webhooks::Worker::new(store.clone(), metrics.clone(), hooks_rx)
                .run(servers.stop_rx.clone()),
        );
        let render = render::setup(&config)?;
        let shared = Arc::new(Shared {
            filing: filing.map(Arc::new),
            render,
            store,
            metrics,
            gate: Arc::new(host_gate(&config)),
            config: config.clone(),
            rules: RwLock::new((rules.current(), version)),
            gauges_dirty: AtomicBool::new(true),
        });
        let mut daemon = Daemon {
            shared,
            rules,
            config_path,
            ops,
            api: review.api,
            recrawls: Some(review.recrawls),
            reloads: Some(review.reloads),
            schedule: Scheduler::new(config.schedule.jitter),
            sites: HashMap::new(),
            tasks: HashMap::new(),
            demo_addr: servers.demo_addr,
            stop_servers: servers.stop,
            servers: servers.tasks,
            webhooks,
        };
        let inventory = daemon.load_inventory(&config).await?;
        daemon.apply_inventory(inventory).await?;
        daemon.refresh_gauges().await;
        if config.api_tokens.is_empty()
            && let Some(ui) = servers.ui_addrs.first().copied()
        {
            daemon.first_run_link(ui, &config).await;
        }
        daemon.ops.ready.store(true, Ordering::SeqCst);
        info!(
            sites = daemon.schedule.len(),
            max_concurrent_crawls = config.schedule.max_concurrent_crawls,
            "ready"
        );
        Ok(daemon)
    }

    /// Without tokens nobody could log in: a one-time admin link, logged and printed to
    /// stdout (the first thing a newcomer running `sitepatrol daemon` needs). A link that
    /// cannot be made is logged, and the daemon patrols on.
    async fn first_run_link(&self, ui: SocketAddr, config: &Config) {
        let store = self.shared.store.clone();
        let made = blocking(move || first_run::create_link(&store, ui, unix_now())).await;
        match made {
            Ok(Ok(url)) => {
                let from = if config.once_login_nets.is_empty() {
                    "loopback only".to_string()
                } else {
                    format!("loopback and {}", config.api.once_login_from.join(", "))
                };
                info!(
                    %url,
                    from,
                    "no API tokens are configured: open the review UI with this one-time admin login link (it works once, within 24 hours; a restart makes a new one)"
                );
                println!("open {url}");
            }
            Ok(Err(e)) => error!(error = %e, "the first-run login link could not be made"),
            Err(e) => error!(error = %e, "the first-run login link could not be made"),
        }
    }

    /// Read the inventory `config` names, with demo sites pointed at the demo server.
    async fn load_inventory(&self, config: &Config) -> Result<Inventory, DaemonError> {
        let specs = config.sites.clone();
        let file = config
            .inventory
            .file
            .clone()
            .map(|f| (f, config.inventory.format));
        let mut inventory = blocking(move || {
            Inventory::load(&specs, file.as_ref().map(|(p, f)| (p.as_path(), *f)))
        })
        .await??;
        for site in &mut inventory.sites {
            if site.demo {
                let addr = self
                    .demo_addr
                    .ok_or_else(|| DaemonError::DemoServerOff(site.id.to_string()))?;
                site.origin = Some(addr.ip());
                site.port = Some(addr.port());
            }
        }
        Ok(inventory)
    }

    /// Make the store and the schedule hold exactly `inventory`, keeping what they know of
    /// sites that stay (due times, running crawls, flags).
    async fn apply_inventory(&mut self, inventory: Inventory) -> Result<(), DaemonError> {
        let now = unix_now();
        let infos: Vec<SiteInfo> = inventory
            .sites
            .iter()
            .map(|s| SiteInfo {
                id: s.id.to_string(),
                customer: s.customer.to_string(),
                domains: s.domains.clone(),
                contact: s.contact.clone(),
            })
            .collect();
        let wanted: HashSet<String> = infos.iter().map(|s| s.id.clone()).collect();
        let store = self.shared.store.clone();
        let (removed, due) = blocking(move || -> Result<_, sitepatrol_store::StoreError> {
            store.upsert_sites(&infos, now)?;
            let gone: Vec<String> = store
                .sites(false, None, 0)?
                .into_iter()
                .map(|s| s.id)
                .filter(|id| !wanted.contains(id))
                .collect();
            let removed = store.remove_sites(&gone, now)?;
            let due: HashMap<String, i64> = store.all_next_due()?.into_iter().collect();
            Ok((removed, due))
        })
        .await?
        .map_err(|e| DaemonError::InventoryStore(Box::new(e)))?;
        let default_interval = self.shared.config.times.interval;
        let report = self.schedule.sync(
            inventory
                .sites
                .iter()
                .map(|s| (s.id.clone(), s.interval.unwrap_or(default_interval))),
            &|id: &str| due.get(id).map(|secs| (*secs).max(0) as u64 * 1000),
            now_ms(),
        );
        self.sites = inventory
            .sites
            .into_iter()
            .map(|s| (s.id.clone(), s))
            .collect();
        self.shared
            .metrics
            .sites_scheduled
            .set(self.schedule.len() as i64);
        self.shared.gauges_dirty.store(true, Ordering::SeqCst);
        info!(
            sites = self.schedule.len(),
            added = report.added,
            kept = report.kept,
            removed = report.removed,
            removed_in_store = removed,
            resumed = due.len(),
            "inventory applied"
        );
        Ok(())
    }

    async fn refresh_gauges(&self) {
        if !self.shared.gauges_dirty.swap(false, Ordering::SeqCst) {
            return;
        }
        let store = self.shared.store.clone();
        let counts = blocking(move || {
            let flags = store.flag_counts()?;
            let cases = store.case_counts()?;
            let sites = store.site_counts_by_filing_status()?;
            Ok::<_, sitepatrol_store::StoreError>((flags, cases, sites))
        })
        .await;
        match counts {
            Ok(Ok((flags, cases, sites))) => {
                self.shared.metrics.set_case_counts(cases.iter().map(|c| {
                    (
                        c.state.as_str(),
                        c.category.as_str(),
                        c.severity.as_str(),
                        c.count,
                    )
                }));
                self.shared.metrics.set_flag_counts(flags.iter().map(|c| {
                    (
                        c.state.as_str(),
                        c.category.as_str(),
                        c.severity.as_str(),
                        c.count,
                    )
                }));
                self.shared
                    .metrics
                    .set_site_counts(sites.iter().map(|(s, n)| (s.as_str(), *n)));
            }
            Ok(Err(e)) => {
                self.shared.metrics.store_errors.inc();
                self.shared.gauges_dirty.store(true, Ordering::SeqCst);
                warn!(error = %e, "cannot read the flag and site counts");
            }
            Err(e) => warn!(error = %e, "cannot read the flag and site counts"),
        }
    }

    /// The scheduling loop, until SIGTERM or SIGINT has drained the crawls.
    pub async fn run(mut self) -> Result<(), DaemonError> {
        let listen = |signal: &'static str, kind: SignalKind| {
            tokio::signal::unix::signal(kind)
                .map_err(|source| DaemonError::Signal { signal, source })
        };
        let mut hangup = listen("SIGHUP", SignalKind::hangup())?;
        let mut terminate = listen("SIGTERM", SignalKind::terminate())?;
        let mut interrupt = listen("SIGINT", SignalKind::interrupt())?;
        let (cancel, cancel_rx) = watch::channel(false);
        let mut crawls: JoinSet<Finished> = JoinSet::new();
        let mut recrawls = self.recrawls.take().unwrap_or_else(|| mpsc::channel(1).1);
        let mut reloads = self.reloads.take().unwrap_or_else(|| mpsc::channel(1).1);
        let cap = self.shared.config.schedule.max_concurrent_crawls;
        let mut gauges = tokio::time::interval(Duration::from_secs(2));
        gauges.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut deadlines = tokio::time::interval(self.shared.config.times.deadline_check_interval);
        deadlines.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let now = now_ms();
            while crawls.len() < cap {
                let Some(id) = self.schedule.pop_due(now) else {
                    break;
                };
                self.start_crawl(&mut crawls, id, cancel_rx.clone(), now);
            }
            self.shared
                .metrics
                .sites_overdue
                .set(self.schedule.overdue(now) as i64);
            self.shared
                .metrics
                .crawls_in_progress
                .set(crawls.len() as i64);
            // At capacity, only a finished crawl (or a signal) can change anything.
            let wait = match self.schedule.next_due() {
                Some(due) if crawls.len() < cap => {
                    Duration::from_millis(due.saturating_sub(now)).min(Duration::from_secs(5))
                }
                _ => Duration::from_secs(5),
            };
            tokio::select! {
                Some(joined) = crawls.join_next_with_id() => {
                    self.finished(joined);
                    self.refresh_gauges().await;
                }
                _ = tokio::time::sleep(wait) => {}
                _ = gauges.tick() => self.refresh_gauges().await,
                _ = deadlines.tick() => self.recheck_deadlines().await,
                _ = hangup.recv() => { self.reload("SIGHUP").await; }
                Some(request) = reloads.recv() => {
                    let report = self.reload("api").await;
                    let _ = request.reply.send(report);
                }
                Some(request) = recrawls.recv() => self.recrawl(request),
                _ = terminate.recv() => { info!(signal = "SIGTERM", "shutting down"); break; }
                _ = interrupt.recv() => { info!(signal = "SIGINT", "shutting down"); break; }
            }
        }

        // Shutdown: nothing new starts; in-flight crawls get the grace period to finish, then
        // are cut and commit what they fetched. Recrawl requests are refused from now on.
        drop(recrawls);
        drop(reloads);
        self.ops.ready.store(false, Ordering::SeqCst);
        let grace = self.shared.config.times.shutdown_grace;
        info!(
            in_flight = crawls.len(),
            grace_ms = grace.as_millis() as u64,
            "stopped scheduling; waiting for in-flight crawls"
        );
        let deadline = tokio::time::sleep(grace);
        tokio::pin!(deadline);
        let mut cut = false;
        loop {
            tokio::select! {
                joined = crawls.join_next_with_id() => match joined {
                    Some(joined) => self.finished(joined),
                    None => break,
                },
                _ = &mut deadline, if !cut => {
                    cut = true;
                    warn!(in_flight = crawls.len(), "grace period over: interrupting crawls and committing what they fetched");
                    let _ = cancel.send(true);
                }
                _ = terminate.recv() => {
                    warn!("second SIGTERM: exiting without waiting for the crawls (their runs are not committed and will be redone)");
                    break;
                }
            }
        }
        self.refresh_gauges().await;
        let _ = self.stop_servers.send(true);
        while self.servers.join_next().await.is_some() {}
        info!("stopped");
        Ok(())
    }

    fn start_crawl(
        &mut self,
        crawls: &mut JoinSet<Finished>,
        id: Arc<str>,
        cancel: watch::Receiver<bool>,
        now: u64,
    ) {
        let Some(site) = self.sites.get(&id).cloned() else {
            return;
        };
        let Some(start) = site.start_url() else {
            warn!(site = %id, "no start URL can be made from the site's domain; skipped");
            self.schedule.finish(&id, now);
            return;
        };
        let shared = self.shared.clone();
        let span = info_span!("crawl", site = %id, url = %start);
        let task_site = id.clone();
        let handle = crawls.spawn(
            async move {
                info!("crawl started");
                let result = crawl_site(shared, site, start, cancel).await;
                match &result {
                    Ok(report) => info!(
                        outcome = report.outcome.as_str(),
                        pages = report.pages,
                        new_flags = report.ingest.new.len(),
                        reopened = report.ingest.reopened.len(),
                        resolved = report.ingest.resolved.len(),
                        updated = report.ingest.unchanged,
                        suppressed = report.ingest.suppressed,
                        carried_over = report.ingest.carried_over,
                        "crawl committed"
                    ),
                    Err(e) => error!(error = %e, "crawl not committed"),
                }
                Finished {
                    site: task_site,
                    result,
                }
            }
            .instrument(span),
        );
        self.tasks.insert(handle.id(), id);
    }

    /// Confirmed cases whose deadline passed: their sites are crawled at once, and that
    /// crawl finds each case rectified (gone) or overdue (still there, `case.overdue`).
    async fn recheck_deadlines(&mut self) {
        let store = self.shared.store.clone();
        let now = (now_ms() / 1000) as i64;
        let due = match blocking(move || store.claim_case_rechecks(now, 1000)).await {
            Ok(Ok(due)) => due,
            Ok(Err(e)) => {
                self.shared.metrics.store_errors.inc();
                warn!(error = %e, "cannot read the cases past their deadline");
                return;
            }
            Err(e) => {
                warn!(error = %e, "cannot read the cases past their deadline");
                return;
            }
        };
        for case in due {
            info!(case = case.id, site = %case.site, category = %case.category,
                deadline = ?case.deadline_at, "rectification deadline passed; rechecking the site");
            let (reply, _) = tokio::sync::oneshot::channel();
            self.recrawl(RecrawlRequest {
                site: case.site,
                reply,
            });
        }
        // Case states move with reviewers' actions too; the gauge follows at this pace.
        self.shared.gauges_dirty.store(true, Ordering::SeqCst);
    }

    /// An API recrawl request: the site becomes due now (and is persisted so, in case the
    /// daemon restarts first); a site being crawled is not started twice.
    fn recrawl(&mut self, request: RecrawlRequest) {
        let now = now_ms();
        let outcome = match self.schedule.is_running(&request.site) {
            None => RecrawlOutcome::NotScheduled,
            Some(true) => RecrawlOutcome::Running,
            Some(false) => {
                self.schedule.due_now(&request.site, now);
                let store = self.shared.store.clone();
                let site = request.site.clone();
                tokio::task::spawn_blocking(move || {
                    if let Err(e) = store.set_next_due(&site, (now / 1000) as i64) {
                        warn!(site = %site, error = %e, "cannot persist the recrawl's due time");
                    }
                });
                RecrawlOutcome::Queued
            }
        };
        info!(site = %request.site, outcome = ?outcome, "recrawl requested");
        let _ = request.reply.send(outcome);
    }

    fn finished(&mut self, joined: Result<(tokio::task::Id, Finished), tokio::task::JoinError>) {
        let finished = match joined {
            Ok((task, finished)) => {
                self.tasks.remove(&task);
                finished
            }
            Err(e) => {
                // A crawl task that panicked committed nothing: its site goes back on the
                // schedule as a failed crawl, rather than staying "running" for ever.
                let Some(site) = self.tasks.remove(&e.id()) else {
                    error!(error = %e, "a crawl task failed");
                    return;
                };
                error!(site = %site, error = %e, "a crawl task failed");
                Finished {
                    site,
                    result: Err(CrawlError::Task(e)),
                }
            }
        };
        let now = now_ms();
        let next = match &finished.result {
            Ok(_) => self.schedule.finish(&finished.site, now),
            Err(_) => {
                self.shared.metrics.store_errors.inc();
                self.shared
                    .metrics
                    .crawls
                    .with_label_values(&["failed"])
                    .inc();
                // Nothing was committed: try again soon rather than an interval later.
                self.schedule.finish(&finished.site, now).map(|_| {
                    let retry = now + 60_000;
                    self.schedule.due_at(&finished.site, retry);
                    retry
                })
            }
        };
        if let Some(due) = next {
            let store = self.shared.store.clone();
            let site = finished.site.to_string();
            let secs = due.div_ceil(1000) as i64;
            tokio::task::spawn_blocking(move || {
                if let Err(e) = store.set_next_due(&site, secs) {
                    warn!(site = %site, error = %e, "cannot persist the next due time");
                }
            });
        }
    }

    /// SIGHUP, or an admin's `POST /api/v1/reload`: rules, then the config's tokens and the
    /// inventory. Each part that fails keeps what was serving; the report says which did.
    async fn reload(&mut self, trigger: &str) -> ReloadReport {
        info!(trigger, "reloading rules and inventory");
        let rules = self.reload_rules().await;
        let inventory = self.reload_inventory().await;
        if let Err(why) = &inventory {
            self.inventory_reload_failed(why);
        }
        ReloadReport { rules, inventory }
    }

    /// The rules from their sources, or why the old ones keep serving.
    async fn reload_rules(&mut self) -> Result<String, String> {
        let rules = self.rules.clone();
        let refused = |why: String| {
            self.shared
                .metrics
                .rules_reloads
                .with_label_values(&["error"])
                .inc();
            error!("rules reload refused, the old rules keep serving: {why}");
            Err(why)
        };
        let outcome = match blocking(move || rules.reload()).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(diagnostics)) => return refused(rules_errors(&diagnostics)),
            Err(e) => return refused(DaemonError::from(e).to_string()),
        };
        let version = sources_version(self.rules.sources());
        {
            let mut current = self.shared.rules.write().unwrap_or_else(|e| e.into_inner());
            *current = (self.rules.current(), version.clone());
        }
        self.shared.metrics.rules_loaded.set(outcome.rules as i64);
        self.shared
            .metrics
            .rules_reloads
            .with_label_values(&["ok"])
            .inc();
        info!(
            rules = outcome.rules,
            generation = outcome.generation,
            version = %version,
            "rules reloaded"
        );
        Ok(format!("{} rules, version {version}", outcome.rules))
    }

    /// The config file again (tokens, webhooks, notice templates: the parts that apply
    /// without a restart), then its inventory.
    async fn reload_inventory(&mut self) -> Result<String, String> {
        let config = match &self.config_path {
            Some(path) => {
                let path = path.clone();
                let config = blocking(move || Config::load(&path))
                    .await
                    .map_err(|e| DaemonError::from(e).to_string())?
                    .map_err(|e| e.to_string())?;
                self.apply_reloaded_config(&config);
                config
            }
            None => self.shared.config.clone(),
        };
        let inventory = self
            .load_inventory(&config)
            .await
            .map_err(|e| e.to_string())?;
        self.apply_inventory(inventory)
            .await
            .map_err(|e| e.to_string())?;
        self.shared
            .metrics
            .inventory_reloads
            .with_label_values(&["ok"])
            .inc();
        Ok(format!("{} sites", self.schedule.len()))
    }

    /// New tokens apply at once; listen addresses and limits at a restart.
    fn apply_reloaded_config(&self, config: &Config) {
        self.api.set_tokens(config.api_tokens.clone());
        info!(tokens = config.api.tokens.len(), "api tokens reloaded");
        // Events from now on queue for the new set; queued deliveries of a removed webhook
        // are settled as failed by the worker.
        let targets: Vec<_> = config.webhooks.iter().map(|h| h.target()).collect();
        self.shared.store.set_webhook_targets(&targets);
        self.webhooks
            .send_replace(Arc::new(config.webhooks.clone()));
        info!(webhooks = config.webhooks.len(), "webhooks reloaded");
        // The notice template is the operator's to edit; a broken edit keeps the previous one.
        match notice_settings(&config.review) {
            Ok(settings) => self.api.set_notices(settings),
            Err(e) => error!(error = %e, "notice settings reload failed, the old ones stay"),
        }
    }

    fn inventory_reload_failed(&self, why: &str) {
        self.shared
            .metrics
            .inventory_reloads
            .with_label_values(&["error"])
            .inc();
        error!("inventory reload refused, the old inventory stays: {why}");
    }
}

async fn open_store(config: &Config) -> Result<Arc<dyn Store>, DaemonError> {
    let store_config = StoreConfig {
        body_cap_bytes: config.retention.max_body_bytes,
        body_retention_secs: config.times.body_retention.as_secs() as i64,
        case_rescore_margin: config.review.case_rescore_margin,
        ..StoreConfig::default()
    };
    // Opened, migrated and asked its schema version off the async workers: the PostgreSQL
    // client blocks (and must not run on a runtime's worker thread at all).
    let store: Arc<dyn Store> = match &config.store_url {
        Some(url) => {
            let url = url.clone();
            let shown = PathBuf::from(redact_url(url.expose()));
            let pool_size = config.store.pool_size;
            let failed = |source| DaemonError::Store {
                path: shown.clone(),
                source: Box::new(source),
            };
            let (store, schema) = blocking(move || {
                let store = PgStore::open(url.expose(), pool_size, store_config)?;
                let schema = store.schema_version()?;
                Ok::<_, sitepatrol_store::StoreError>((store, schema))
            })
            .await?
            .map_err(failed)?;
            info!(url = %shown.display(), schema, pool_size, "store open (PostgreSQL)");
            Arc::new(store)
        }
        None => {
            let path = config.store.path.clone();
            let failed = |source| DaemonError::Store {
                path: config.store.path.clone(),
                source: Box::new(source),
            };
            let (store, schema) = blocking(move || {
                let store = SqliteStore::open(&path, store_config)?;
                let schema = store.schema_version()?;
                Ok::<_, sitepatrol_store::StoreError>((store, schema))
            })
            .await?
            .map_err(failed)?;
            info!(path = %config.store.path.display(), schema, "store open (SQLite, WAL)");
            Arc::new(store)
        }
    };
    // Before anything can ingest or act: every flag event from now on queues its
    // deliveries in its own transaction.
    let targets: Vec<_> = config.webhooks.iter().map(|h| h.target()).collect();
    store.set_webhook_targets(&targets);
    Ok(store)
}

/// The rules, their version, and how many loaded.
async fn load_rules(
    sources: Vec<RuleSource>,
) -> Result<(Arc<RulesHandle>, String, usize), DaemonError> {
    let version = sources_version(&sources);
    let (rules, outcome) = blocking(move || RulesHandle::new(sources))
        .await?
        .map_err(|diagnostics| DaemonError::Rules(rules_errors(&diagnostics)))?;
    info!(
        rules = outcome.rules,
        version = %version,
        took_ms = outcome.took.as_millis() as u64,
        "rules loaded"
    );
    Ok((Arc::new(rules), version, outcome.rules))
}

fn review_side(config: &Config, store: Arc<dyn Store>) -> Result<Review, DaemonError> {
    let (recrawl_tx, recrawls) = mpsc::channel(64);
    let (reload_tx, reloads) = mpsc::channel(4);
    let api = Arc::new(
        Api::new(
            store,
            config.api_tokens.clone(),
            FailureLimiter::new(config.api.max_failures, config.times.api_failure_window),
            recrawl_tx,
            reload_tx,
        )
        .with_body_read_timeout(config.times.body_read_timeout),
    );
    api.set_notices(notice_settings(&config.review)?);
    let settings = UiSettings {
        session_ttl: config.times.session_ttl,
        secure_cookies: config.review.secure_cookies,
        once_login_from: config.once_login_nets.clone(),
    };
    let ui = Arc::new(Ui::new(api.clone(), settings)?);
    if config.api_tokens.is_empty() {
        warn!(
            "no API tokens are configured ([[api.tokens]], see `sitepatrol token new`): the review API refuses every request but /api/v1/openapi.json with 401; the UI opens with the one-time link printed at startup"
        );
    }
    Ok(Review {
        api,
        ui,
        recrawls,
        reloads,
    })
}

/// The operations listeners (with the API and UI unless the API has listeners of its own),
/// the API's own listeners, and the demo site on a loopback port.
async fn start_servers(
    config: &Config,
    ops: &Arc<http::OpsState>,
    review: &Review,
    metrics: &Metrics,
) -> Result<Servers, DaemonError> {
    let (stop, stop_rx) = watch::channel(false);
    let limits = listener_limits(config, metrics);
    let mut tasks = JoinSet::new();
    let shared_api = config.api_listen.is_empty();
    let mut ui_addrs = Vec::new();
    for addr in &config.listen {
        let (listener, bound) = http::bind(*addr).await?;
        let (serves, app) = if shared_api {
            let app = router::app(Listener::OpsAndReview {
                ops: ops.clone(),
                api: review.api.clone(),
                ui: review.ui.clone(),
            });
            ("/metrics /healthz /readyz /api/v1 / (ui)", app)
        } else {
            (
                "/metrics /healthz /readyz",
                router::app(Listener::Ops(ops.clone())),
            )
        };
        if shared_api {
            ui_addrs.push(bound);
        }
        info!(addr = %bound, url = %format!("http://{bound}/metrics"), serves, "http server listening");
        tasks.spawn(http::serve(listener, app, limits.clone(), stop_rx.clone()));
    }
    for addr in &config.api_listen {
        let (listener, bound) = http::bind(*addr).await?;
        ui_addrs.push(bound);
        info!(addr = %bound, url = %format!("http://{bound}/api/v1/openapi.json"), "api server listening");
        let app = router::app(Listener::Review {
            api: review.api.clone(),
            ui: review.ui.clone(),
        });
        tasks.spawn(http::serve(listener, app, limits.clone(), stop_rx.clone()));
    }
    let demo_addr = if config.demo.enabled {
        let (listener, bound) = http::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
        info!(addr = %bound, "demo site listening (the bundled examples/demo-site, loopback only)");
        tasks.spawn(http::serve(
            listener,
            demo::app(),
            limits.clone(),
            stop_rx.clone(),
        ));
        Some(bound)
    } else {
        None
    };
    Ok(Servers {
        tasks,
        stop,
        stop_rx,
        demo_addr,
        ui_addrs,
    })
}

/// Politeness across every crawl of the daemon: one gate, so sites on one host share it.
fn host_gate(config: &Config) -> HostGate {
    HostGate::new(PolitenessConfig {
        global_concurrency: config.crawl.concurrency,
        per_host_concurrency: config.crawl.per_host_concurrency,
        min_delay: config.times.delay,
        ..PolitenessConfig::default()
    })
}

/// The `[review]` section's notice settings: the operator's templates, or the bundled ones,
/// and the PDF font when one is configured (loaded now: a font that cannot be used stops the
/// start with an error naming `review.notice_font`).
fn notice_settings(review: &ReviewConfig) -> Result<NoticeSettings, DaemonError> {
    let settings = NoticeSettings::new(
        review.templates_dir.as_deref(),
        review.provider_name.clone(),
        review.notice_deadline_days,
    )?;
    Ok(match &review.notice_font {
        Some(font) => settings.with_font(font, review.notice_font_index)?,
        None => settings,
    })
}

fn listener_limits(config: &Config, metrics: &Metrics) -> http::Limits {
    http::Limits {
        header_read_timeout: config.times.header_read_timeout,
        max_connections: config.http.max_connections,
        max_per_client: config.http.max_connections_per_client,
        refused: metrics.connections_refused.clone(),
    }
}

fn rules_errors(diagnostics: &[sitepatrol_core::rules::Diagnostic]) -> String {
    let errors: Vec<String> = diagnostics
        .iter()
        .filter(|d| d.level == Level::Error)
        .map(|d| d.to_string())
        .collect();
    format!("{} error(s): {}", errors.len(), errors.join("; "))
}

/// Check a configuration and its inventory without starting anything: `--check-config`.
pub fn check(path: Option<&Path>) -> Result<String, DaemonError> {
    let config = match path {
        Some(path) => Config::load(path),
        None => Config::embedded_default(),
    }?;
    let file = config
        .inventory
        .file
        .as_deref()
        .map(|f| (f, config.inventory.format));
    let inventory = Inventory::load(&config.sites, file)?;
    // `[render] enabled` needs its browser: the same check as at startup.
    render::setup(&config)?;
    // The notice templates and a configured PDF font load as they would at startup.
    notice_settings(&config.review)?;
    Ok(format!(
        "{}: ok ({} sites)",
        config.source,
        inventory.sites.len()
    ))
}
