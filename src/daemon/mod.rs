//! `sitepatrol daemon`: patrol every site of the inventory on schedule, keep every flag in the
//! store, and tell Prometheus how it goes.
//!
//! Startup is one straight line, each step logged, and any failure ends it with the reason:
//! configuration → logging → store → rules → metrics → HTTP listeners → demo site → inventory
//! → ready. Then one loop runs the patrol: while crawl slots are free it claims the most
//! overdue sites from the store with a lease (the store is the schedule, shared by every
//! daemon on it: see `lease`), renews the leases of its crawls, takes finished crawls back
//! (their ingest, lease release and next due time already committed), and handles SIGHUP
//! (reload inventory and rules; a bad reload keeps the old ones) and SIGTERM/SIGINT (stop
//! claiming, give in-flight crawls `shutdown_grace`, then cut them and commit what they
//! fetched, release what is still leased, exit 0). The singletons (webhook delivery, body
//! retention, deadline rechecks, fleet gauges) run only while this daemon is the leader.

mod conditional;
mod crawl;
pub mod demo;
mod error;
mod filing;
mod first_run;
mod lease;
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
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinSet;
use tracing::{Instrument, error, info, info_span, warn};

use crate::config::{Config, ReviewConfig};
use crate::inventory::Inventory;
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
use sitepatrol_store::{
    CrawlRequest, PgStore, SiteInfo, SqliteStore, Store, StoreConfig, redact_url,
};

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
    sites: HashMap<Arc<str>, Site>,
    /// The site of each crawl task: the leases to renew, and the site to give back if the
    /// task panics.
    tasks: HashMap<tokio::task::Id, Arc<str>>,
    /// Whether this daemon leads (runs the singletons); the election task keeps it.
    leader: lease::Leader,
    /// Wakes the loop to claim at once (a recrawl request made a site due).
    wake: Arc<Notify>,
    /// When the leader last read the fleet gauges; `None` while they are not shown.
    fleet_gauges_at: Option<std::time::Instant>,
    /// The last claim failed (logged once until one succeeds again).
    claim_failing: bool,
    demo_addr: Option<SocketAddr>,
    /// Tells the HTTP servers to stop.
    stop_servers: watch::Sender<bool>,
    servers: JoinSet<()>,
    /// The webhooks the delivery worker sends to; replaced by a reload.
    webhooks: watch::Sender<webhooks::Hooks>,
}

/// How often the leader reads the fleet gauges again when its own ingests did not ask for it.
const FLEET_GAUGES_EVERY: Duration = Duration::from_secs(10);
/// How often the loop asks the store for due sites while crawl slots are free. Due times and
/// leases are whole seconds.
const CLAIM_EVERY: Duration = Duration::from_secs(1);
/// How often the leader prunes body copies past their retention (every crawl's ingest prunes
/// too; this keeps the promise when no crawl runs).
const PRUNE_EVERY: Duration = Duration::from_secs(600);
/// A crawl that committed nothing is tried again this much later.
const RETRY_AFTER: Duration = Duration::from_secs(60);

struct Finished {
    site: Arc<str>,
    result: Result<CrawlReport, CrawlError>,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, tokio::task::JoinError> {
    tokio::task::spawn_blocking(f).await
}

/// Runs a store call off the async workers. When it fails (the store's error, or the task's),
/// the failure is logged after `cannot` and a store error counted, and there is no value: the
/// loop's periodic jobs only try again at their next turn.
async fn store_call<T: Send + 'static>(
    metrics: &Metrics,
    cannot: &'static str,
    f: impl FnOnce() -> Result<T, sitepatrol_store::StoreError> + Send + 'static,
) -> Option<T> {
    match blocking(f).await {
        Ok(Ok(value)) => Some(value),
        Ok(Err(e)) => {
            metrics.store_errors.inc();
            warn!(error = %e, "cannot {cannot}");
            None
        }
        Err(e) => {
            warn!(error = %e, "cannot {cannot}");
            None
        }
    }
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
        let owner: Arc<str> = Arc::from(lease::owner_id());
        info!(
            owner = %owner,
            lease_ttl_ms = config.times.lease_ttl.as_millis() as u64,
            lease_renew_ms = config.times.lease_renew_interval.as_millis() as u64,
            "owner id (site leases in the store carry it)"
        );
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
            owner: owner.to_string(),
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
        // The election first: the webhook worker and the singletons follow its answer. It
        // stops with the servers, after the crawls, and gives the lock up then.
        let (elector, leads) = lease::first_check(store.clone())
            .await
            .map_err(DaemonError::Election)?;
        let leads = leads.unwrap_or_else(|e| {
            warn!(error = %e, "cannot check the leader lock; starting as a follower");
            false
        });
        let (leader_tx, leader) = watch::channel(false);
        lease::publish(&leader_tx, &metrics, &owner, leads);
        servers.tasks.spawn(lease::elect(
            elector,
            config.times.leader_check_interval,
            owner.clone(),
            metrics.clone(),
            leader_tx,
            servers.stop_rx.clone(),
        ));
        let (webhooks, hooks_rx) = watch::channel(Arc::new(config.webhooks.clone()));
        servers.tasks.spawn(
            webhooks::Worker::new(store.clone(), metrics.clone(), hooks_rx)
                .run(servers.stop_rx.clone(), leader.clone()),
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
            owner: owner.clone(),
        });
        let mut daemon = Daemon {
            shared,
            rules,
            config_path,
            ops,
            api: review.api,
            recrawls: Some(review.recrawls),
            reloads: Some(review.reloads),
            sites: HashMap::new(),
            tasks: HashMap::new(),
            leader,
            wake: Arc::new(Notify::new()),
            fleet_gauges_at: None,
            claim_failing: false,
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
            sites = daemon.sites.len(),
            max_concurrent_crawls = config.schedule.max_concurrent_crawls,
            owner = %owner,
            leader = leads,
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
                origin: s.origin_key(),
                contact: s.contact.clone(),
            })
            .collect();
        let wanted: HashSet<String> = infos.iter().map(|s| s.id.clone()).collect();
        let store = self.shared.store.clone();
        let (removed, resumed) = blocking(move || -> Result<_, sitepatrol_store::StoreError> {
            store.upsert_sites(&infos, now)?;
            let gone: Vec<String> = store
                .sites(false, None, 0)?
                .into_iter()
                .map(|s| s.id)
                .filter(|id| !wanted.contains(id))
                .collect();
            let removed = store.remove_sites(&gone, now)?;
            // Sites with a due time from an earlier run: only counted, for the log.
            let resumed = store.all_next_due()?.len();
            Ok((removed, resumed))
        })
        .await?
        .map_err(|e| DaemonError::InventoryStore(Box::new(e)))?;
        // The store holds the schedule (next due times, leases): the daemon keeps only what
        // a crawl needs of each site. A site new to the store is due at once; one that left
        // is never claimed again, and a crawl of it that runs ends normally.
        let sites: HashMap<Arc<str>, Site> = inventory
            .sites
            .into_iter()
            .map(|s| (s.id.clone(), s))
            .collect();
        let kept = sites
            .keys()
            .filter(|id| self.sites.contains_key(*id))
            .count();
        let added = sites.len() - kept;
        let dropped = self.sites.len() - kept;
        self.sites = sites;
        self.shared
            .metrics
            .sites_scheduled
            .set(self.sites.len() as i64);
        self.shared.gauges_dirty.store(true, Ordering::SeqCst);
        info!(
            sites = self.sites.len(),
            added,
            kept,
            removed = dropped,
            removed_in_store = removed,
            resumed,
            "inventory applied"
        );
        Ok(())
    }

    /// The gauges that describe the whole fleet (flags, cases, sites by filing status, the
    /// backlog), read from the store by the leader only: every daemon exporting them would
    /// count each flag once per daemon in a `sum()`. The leader reads them again after its
    /// own ingests and at least every [`FLEET_GAUGES_EVERY`] (the others' ingests); a daemon
    /// that stops leading clears them.
    async fn refresh_gauges(&mut self) {
        if !*self.leader.borrow() {
            if self.fleet_gauges_at.take().is_some() {
                let m = &self.shared.metrics;
                m.flags.reset();
                m.cases.reset();
                m.sites.reset();
                m.sites_overdue.set(0);
            }
            return;
        }
        let stale = self
            .fleet_gauges_at
            .is_none_or(|at| at.elapsed() >= FLEET_GAUGES_EVERY);
        if !self.shared.gauges_dirty.swap(false, Ordering::SeqCst) && !stale {
            return;
        }
        self.fleet_gauges_at = Some(std::time::Instant::now());
        let store = self.shared.store.clone();
        let now = unix_now();
        let counts = blocking(move || {
            let flags = store.flag_counts()?;
            let cases = store.case_counts()?;
            let sites = store.site_counts_by_filing_status()?;
            let overdue = store.overdue_sites(now)?;
            Ok::<_, sitepatrol_store::StoreError>((flags, cases, sites, overdue))
        })
        .await;
        match counts {
            Ok(Ok((flags, cases, sites, overdue))) => {
                self.shared.metrics.sites_overdue.set(overdue as i64);
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
        let mut claims = tokio::time::interval(CLAIM_EVERY);
        claims.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut renewals = tokio::time::interval(self.shared.config.times.lease_renew_interval);
        renewals.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut prunes = tokio::time::interval(PRUNE_EVERY);
        prunes.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let wake = self.wake.clone();
        // Claim at once, then whenever a slot frees, the claim tick comes, or a recrawl
        // request made a site due.
        let mut claim = true;
        loop {
            if claim && crawls.len() < cap {
                claim = false;
                self.claim_and_start(&mut crawls, cap, &cancel_rx).await;
            }
            self.shared
                .metrics
                .crawls_in_progress
                .set(crawls.len() as i64);
            self.shared.metrics.leases_held.set(self.tasks.len() as i64);
            tokio::select! {
                Some(joined) = crawls.join_next_with_id() => {
                    self.finished(joined).await;
                    self.refresh_gauges().await;
                    claim = true;
                }
                _ = claims.tick() => claim = true,
                _ = wake.notified() => claim = true,
                _ = renewals.tick() => self.renew_leases().await,
                _ = gauges.tick() => self.refresh_gauges().await,
                _ = deadlines.tick() => self.recheck_deadlines().await,
                _ = prunes.tick() => self.prune_bodies().await,
                _ = hangup.recv() => { self.reload("SIGHUP").await; claim = true; }
                Some(request) = reloads.recv() => {
                    let report = self.reload("api").await;
                    let _ = request.reply.send(report);
                    claim = true;
                }
                Some(request) = recrawls.recv() => self.recrawl(request),
                _ = terminate.recv() => { info!(signal = "SIGTERM", "shutting down"); break; }
                _ = interrupt.recv() => { info!(signal = "SIGINT", "shutting down"); break; }
            }
        }

        // Shutdown: nothing new is claimed; in-flight crawls get the grace period to finish
        // (their leases renewed meanwhile), then are cut and commit what they fetched.
        // Recrawl requests are refused from now on.
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
                    Some(joined) => self.finished(joined).await,
                    None => break,
                },
                _ = renewals.tick() => self.renew_leases().await,
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
        // Crawls given up on (a second SIGTERM) leave their sites due as they were, free for
        // the other daemons at once rather than after the lease.
        self.release_leases().await;
        self.shared.metrics.leases_held.set(0);
        self.refresh_gauges().await;
        let _ = self.stop_servers.send(true);
        while self.servers.join_next().await.is_some() {}
        info!("stopped");
        Ok(())
    }

    /// Claims due sites for the free slots and starts their crawls. The store decides which
    /// sites (most overdue first, none leased to another daemon, one daemon per host); a site
    /// this daemon does not know (another daemon's newer inventory) goes back a minute later.
    async fn claim_and_start(
        &mut self,
        crawls: &mut JoinSet<Finished>,
        cap: usize,
        cancel: &watch::Receiver<bool>,
    ) {
        let free = cap.saturating_sub(crawls.len());
        let store = self.shared.store.clone();
        let owner = self.shared.owner.clone();
        let now = unix_now();
        let until = now + lease_secs(self.shared.config.times.lease_ttl);
        let claimed = match blocking(move || store.claim_due_sites(&owner, now, free, until)).await
        {
            Ok(Ok(claimed)) => {
                if self.claim_failing {
                    info!("claiming due sites works again");
                    self.claim_failing = false;
                }
                claimed
            }
            Ok(Err(e)) => {
                self.shared.metrics.store_errors.inc();
                if !self.claim_failing {
                    warn!(error = %e, "cannot claim due sites; trying again every second");
                    self.claim_failing = true;
                }
                return;
            }
            Err(e) => {
                warn!(error = %e, "claiming due sites failed");
                return;
            }
        };
        let now_ms = now_ms();
        for id in claimed {
            let running = self.tasks.values().any(|s| **s == *id);
            match self.sites.get_key_value(id.as_str()) {
                // Ours already (a lease renewed too late and claimed again): one crawl.
                _ if running => {}
                Some((key, _)) => {
                    let key = key.clone();
                    self.start_crawl(crawls, key, cancel.clone(), now_ms).await;
                }
                None => {
                    warn!(site = %id, "claimed a site this daemon's inventory does not have (the daemons' inventories differ); handing it back for a minute");
                    self.end_lease(&id, now + RETRY_AFTER.as_secs() as i64)
                        .await;
                }
            }
        }
    }

    /// Ends this daemon's lease of `site`, due again at `next_due`.
    async fn end_lease(&self, site: &str, next_due: sitepatrol_store::Timestamp) {
        let store = self.shared.store.clone();
        let owner = self.shared.owner.clone();
        let site = site.to_string();
        store_call(
            &self.shared.metrics,
            "end a lease; it runs out by itself",
            move || store.finish_lease(&site, &owner, next_due),
        )
        .await;
    }

    /// Extends the leases of the running crawls. A lease found lost (this daemon stalled past
    /// its end and another claimed the site) is logged: that crawl still commits, and the
    /// other daemon's too.
    async fn renew_leases(&self) {
        let held: Vec<String> = self.tasks.values().map(|s| s.to_string()).collect();
        if held.is_empty() {
            return;
        }
        let store = self.shared.store.clone();
        let owner = self.shared.owner.clone();
        let until = unix_now() + lease_secs(self.shared.config.times.lease_ttl);
        let asked = held.clone();
        let renewed = store_call(&self.shared.metrics, "renew the site leases", move || {
            store.renew_leases(&owner, &asked, until)
        })
        .await;
        if let Some(renewed) = renewed
            && renewed.len() < held.len()
        {
            let lost: Vec<&String> = held.iter().filter(|s| !renewed.contains(s)).collect();
            warn!(
                ?lost,
                "site leases lost: renewed too late, or the site left the store"
            );
        }
    }

    /// Releases every lease this daemon still holds (shutdown).
    async fn release_leases(&self) {
        let held: Vec<String> = self.tasks.values().map(|s| s.to_string()).collect();
        if held.is_empty() {
            return;
        }
        let store = self.shared.store.clone();
        let owner = self.shared.owner.clone();
        let released = store_call(
            &self.shared.metrics,
            "release the site leases; they run out by themselves",
            move || store.release_leases(&owner, &held),
        )
        .await;
        if let Some(n) = released {
            info!(released = n, "site leases released");
        }
    }

    async fn start_crawl(
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
            let interval = site.interval.unwrap_or(self.shared.config.times.interval);
            let due = lease::next_due(now, interval, self.shared.config.schedule.jitter);
            self.end_lease(&id, due).await;
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
    /// crawl finds each case rectified (gone) or overdue (still there, `case.overdue`). The
    /// leader's job: the claim marks each case, so one daemon asks once per deadline.
    async fn recheck_deadlines(&mut self) {
        if !*self.leader.borrow() {
            return;
        }
        let store = self.shared.store.clone();
        let now = (now_ms() / 1000) as i64;
        let Some(due) = store_call(
            &self.shared.metrics,
            "read the cases past their deadline",
            move || store.claim_case_rechecks(now, 1000),
        )
        .await
        else {
            return;
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

    /// Body copies past their retention, dropped by the leader (each ingest prunes too).
    async fn prune_bodies(&self) {
        if !*self.leader.borrow() {
            return;
        }
        let store = self.shared.store.clone();
        let now = unix_now();
        let pruned = store_call(&self.shared.metrics, "prune body copies", move || {
            store.prune_bodies(now)
        })
        .await;
        if let Some(n) = pruned.filter(|n| *n > 0) {
            info!(pruned = n, "body copies past their retention dropped");
        }
    }

    /// An API recrawl request: the site becomes due now in the store, where whichever daemon
    /// claims next takes it; a site being crawled (leased) is not started twice.
    fn recrawl(&mut self, request: RecrawlRequest) {
        if !self.sites.contains_key(request.site.as_str()) {
            info!(site = %request.site, outcome = ?RecrawlOutcome::NotScheduled, "recrawl requested");
            let _ = request.reply.send(RecrawlOutcome::NotScheduled);
            return;
        }
        let store = self.shared.store.clone();
        let wake = self.wake.clone();
        let metrics = self.shared.metrics.clone();
        tokio::spawn(async move {
            let site = request.site.clone();
            let now = unix_now();
            let outcome = match blocking(move || store.request_crawl(&site, now)).await {
                Ok(Ok(CrawlRequest::Due)) => {
                    wake.notify_one();
                    RecrawlOutcome::Queued
                }
                Ok(Ok(CrawlRequest::Leased)) => RecrawlOutcome::Running,
                Ok(Ok(CrawlRequest::NotFound)) => RecrawlOutcome::NotScheduled,
                Ok(Err(e)) => {
                    metrics.store_errors.inc();
                    warn!(site = %request.site, error = %e, "cannot make the site due");
                    // Dropping the reply answers the API with an error.
                    return;
                }
                Err(e) => {
                    warn!(site = %request.site, error = %e, "making the site due failed");
                    return;
                }
            };
            info!(site = %request.site, outcome = ?outcome, "recrawl requested");
            let _ = request.reply.send(outcome);
        });
    }

    /// A crawl task ended. A committed crawl released its lease with its run (and set the
    /// next due time); one that committed nothing ends its lease here, due again soon.
    async fn finished(
        &mut self,
        joined: Result<(tokio::task::Id, Finished), tokio::task::JoinError>,
    ) {
        let finished = match joined {
            Ok((task, finished)) => {
                self.tasks.remove(&task);
                finished
            }
            Err(e) => {
                // A crawl task that panicked committed nothing: its site goes back as a
                // failed crawl, rather than staying leased until the lease runs out.
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
        if finished.result.is_err() {
            self.shared.metrics.store_errors.inc();
            self.shared
                .metrics
                .crawls
                .with_label_values(&["failed"])
                .inc();
            // Nothing was committed: try again soon rather than an interval later.
            let retry = unix_now() + RETRY_AFTER.as_secs() as i64;
            self.end_lease(&finished.site, retry).await;
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
        Ok(format!("{} sites", self.sites.len()))
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
            // One daemon per SQLite file: a lease left there is a killed predecessor's, and
            // its sites are due now rather than when the lease would run out.
            let (store, schema, cleared) = blocking(move || {
                let store = SqliteStore::open(&path, store_config)?;
                let schema = store.schema_version()?;
                let cleared = store.clear_leases()?;
                Ok::<_, sitepatrol_store::StoreError>((store, schema, cleared))
            })
            .await?
            .map_err(failed)?;
            info!(path = %config.store.path.display(), schema, "store open (SQLite, WAL)");
            if cleared > 0 {
                info!(leases = cleared, "leases of a previous run released");
            }
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

/// A lease's length in whole seconds (leases are stored so), at least one.
fn lease_secs(ttl: Duration) -> i64 {
    (ttl.as_millis().div_ceil(1000) as i64).max(1)
}
