//! The webhook delivery worker: sends what the store's outbox holds.
//!
//! The outbox rows are written by the store in the transaction of each flag event, so this
//! worker only has to be *at least once*: it claims due rows (a lease, so a worker that dies
//! mid-send leaves them to be retried after it), POSTs each, and records a 2xx as delivered
//! or anything else as a failed attempt, retried with exponential backoff until the
//! webhook's `max_attempts`. All of that state is in the store, so a restart picks up where
//! the last process stopped. A delivery can be sent twice only if the process dies between
//! the receiver's 2xx and the store's commit; receivers dedupe on `X-Sitepatrol-Delivery`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::config::WebhookConfig;
use sitepatrol_core::clock::unix_now;
use sitepatrol_crawl::fetch::connect::{Connector, ConnectorConfig, tls_config};
use sitepatrol_server::metrics::{Metrics, WEBHOOK_DELIVERED, WEBHOOK_FAILED, WEBHOOK_RETRY};
use sitepatrol_server::review::webhook::{
    DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, backoff, sign,
};
use sitepatrol_store::{Delivery, Store};

/// How often the outbox is polled for due deliveries. Due times are whole seconds.
const POLL: Duration = Duration::from_secs(1);
/// Deliveries claimed per poll.
const BATCH: usize = 64;
/// How often the outbox gauge is read back from the store when nothing was sent (new rows
/// come from ingests and reviews, which the worker does not see).
const GAUGE_EVERY: Duration = Duration::from_secs(10);

type HttpClient = Client<Connector, Full<Bytes>>;

/// The configured webhooks; replaced on a reload (SIGHUP, `POST /reload`).
pub(crate) type Hooks = Arc<Vec<WebhookConfig>>;

pub(crate) struct Worker {
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    hooks: watch::Receiver<Hooks>,
    client: HttpClient,
}

impl Worker {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        hooks: watch::Receiver<Hooks>,
    ) -> Worker {
        // Webhook URLs are the operator's, often an internal service: the SSRF guard that
        // keeps crawls of customers' sites out of private networks does not apply (as for
        // the filing registry's HTTP client).
        // A reload may bring longer timeouts; each attempt is bounded by its own timeout
        // anyway, so this only has to be a sane connect bound.
        let longest = hooks
            .borrow()
            .iter()
            .map(|h| h.timeout)
            .max()
            .unwrap_or(Duration::from_secs(10))
            .max(Duration::from_secs(10));
        let connector = Connector::new(ConnectorConfig {
            allow_private_networks: true,
            allowed_addresses: Vec::new(),
            connect_timeout: longest,
            overrides: Vec::new(),
            tls: Arc::new(tls_config(false, &[])),
            lookup: None,
        });
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(2)
            .build(connector);
        Worker {
            store,
            metrics,
            hooks,
            client,
        }
    }

    /// Sends due deliveries until `stop` turns true; an attempt in flight then finishes
    /// (bounded by its timeout) and is recorded, so a SIGTERM never leaves a sent delivery
    /// marked pending unless the process is killed. Only while `leader` is true: one daemon
    /// of a fleet sends the outbox (the claims' leases would keep two apart, but one sender
    /// keeps the order and the load in one place); the others wait for their turn.
    pub(crate) async fn run(
        self,
        mut stop: watch::Receiver<bool>,
        mut leader: watch::Receiver<bool>,
    ) {
        let worker = Arc::new(self);
        info!(
            webhooks = worker.hooks.borrow().len(),
            "webhook delivery worker started"
        );
        let mut last_gauge: Option<tokio::time::Instant> = None;
        loop {
            if *stop.borrow() {
                break;
            }
            if !*leader.borrow_and_update() {
                // Not leading: the outbox gauge is the leader's to show.
                worker.metrics.webhook_outbox.reset();
                last_gauge = None;
                tokio::select! {
                    _ = leader.changed() => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            let sent = worker.clone().deliver_due().await;
            if sent > 0 || last_gauge.is_none_or(|t| t.elapsed() >= GAUGE_EVERY) {
                worker.refresh_gauge().await;
                last_gauge = Some(tokio::time::Instant::now());
            }
            if sent >= BATCH {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = stop.changed() => {}
            }
        }
        if *leader.borrow() {
            worker.refresh_gauge().await;
        }
        info!("webhook delivery worker stopped");
    }

    /// One round: claims what is due and sends it, concurrently. Returns how many were sent.
    async fn deliver_due(self: Arc<Self>) -> usize {
        let now = unix_now();
        let store = self.store.clone();
        // A claim holds longer than any attempt of this round can take (the timeouts are the
        // current ones: a reload may change them), and no longer: a process killed mid-send
        // leaves its claims to the next start, which retries them once the lease passes.
        let longest = self
            .hooks
            .borrow()
            .iter()
            .map(|h| h.timeout.as_secs() as i64 + 1)
            .max()
            .unwrap_or(0);
        let lease = now + longest + 60;
        let claimed =
            match tokio::task::spawn_blocking(move || store.claim_deliveries(now, lease, BATCH))
                .await
            {
                Ok(Ok(claimed)) => claimed,
                Ok(Err(e)) => {
                    self.metrics.store_errors.inc();
                    warn!(error = %e, "cannot claim webhook deliveries");
                    return 0;
                }
                Err(e) => {
                    warn!(error = %e, "claiming webhook deliveries failed");
                    return 0;
                }
            };
        let n = claimed.len();
        let hooks: HashMap<String, WebhookConfig> = self
            .hooks
            .borrow()
            .iter()
            .map(|h| (h.name.clone(), h.clone()))
            .collect();
        let hooks = Arc::new(hooks);
        let mut attempts = JoinSet::new();
        for delivery in claimed {
            let worker = self.clone();
            let hooks = hooks.clone();
            attempts.spawn(async move { worker.attempt(&hooks, delivery).await });
        }
        while attempts.join_next().await.is_some() {}
        n
    }

    async fn attempt(&self, hooks: &HashMap<String, WebhookConfig>, delivery: Delivery) {
        let id = delivery.id;
        let Some(hook) = hooks.get(&delivery.webhook) else {
            // Its webhook left the config: there is nowhere to send it, and keeping it
            // pending would hold the outbox gauge (and its alert) up forever.
            let error = format!("webhook `{}` is no longer configured", delivery.webhook);
            self.record(id, &delivery, None, Err((None, error, None)))
                .await;
            return;
        };
        let result = self.post(hook, &delivery).await;
        let attempts = delivery.attempts + 1;
        let outcome = match result {
            Ok(status) if (200..300).contains(&status) => Ok(status),
            failure => {
                let (status, error) = match failure {
                    Ok(status) => (Some(status), format!("HTTP {status}")),
                    Err(error) => (None, error),
                };
                let retry_at = (attempts < hook.max_attempts).then(|| {
                    let delay = backoff(attempts - 1, hook.retry_base, hook.retry_max);
                    unix_now() + delay.as_secs().max(1) as i64
                });
                Err((status, error, retry_at))
            }
        };
        self.record(id, &delivery, Some(hook), outcome).await;
    }

    /// Records an attempt's outcome in the store, and counts and logs it.
    async fn record(
        &self,
        id: i64,
        delivery: &Delivery,
        hook: Option<&WebhookConfig>,
        outcome: Result<u16, (Option<u16>, String, Option<i64>)>,
    ) {
        let store = self.store.clone();
        let stored = {
            let outcome = outcome.clone();
            tokio::task::spawn_blocking(move || match outcome {
                Ok(status) => store.mark_delivered(id, unix_now(), status),
                Err((status, error, retry_at)) => {
                    store.mark_attempt_failed(id, status, &error, retry_at)
                }
            })
            .await
        };
        match stored {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                self.metrics.store_errors.inc();
                warn!(delivery = id, error = %e, "cannot record a webhook attempt; it is retried after its lease");
                return;
            }
            Err(e) => {
                warn!(delivery = id, error = %e, "recording a webhook attempt failed");
                return;
            }
        }
        let webhook = delivery.webhook.as_str();
        let event = delivery.event.as_str();
        let attempt = delivery.attempts + 1;
        match outcome {
            Ok(status) => {
                self.metrics
                    .webhook_deliveries
                    .with_label_values(&[WEBHOOK_DELIVERED])
                    .inc();
                info!(
                    delivery = id,
                    webhook, event, attempt, status, "webhook delivered"
                );
            }
            Err((status, error, Some(retry_at))) => {
                self.metrics
                    .webhook_deliveries
                    .with_label_values(&[WEBHOOK_RETRY])
                    .inc();
                warn!(delivery = id, webhook, event, attempt, status, %error, retry_at, "webhook attempt failed; retrying");
            }
            Err((status, error, None)) => {
                self.metrics
                    .webhook_deliveries
                    .with_label_values(&[WEBHOOK_FAILED])
                    .inc();
                let max_attempts = hook.map(|h| h.max_attempts);
                warn!(delivery = id, webhook, event, attempt, status, %error, max_attempts, "webhook delivery failed; giving up");
            }
        }
    }

    /// One POST: the answer's status, or why there was none. Errors name the webhook, not
    /// its URL (which may carry a token and ends up in the API's `last_error`).
    async fn post(&self, hook: &WebhookConfig, delivery: &Delivery) -> Result<u16, String> {
        let timestamp = unix_now();
        let body = Bytes::from(delivery.payload.clone());
        let signature = sign(hook.secret.expose().as_bytes(), timestamp, &body);
        let request = Request::post(hook.url.as_str())
            .header(header::CONTENT_TYPE, "application/json")
            .header(
                header::USER_AGENT,
                HeaderValue::from_static(concat!("sitepatrol/", env!("CARGO_PKG_VERSION"))),
            )
            .header(SIGNATURE_HEADER, signature)
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(EVENT_HEADER, delivery.event.as_str())
            .header(DELIVERY_HEADER, delivery.id.to_string())
            .body(Full::new(body))
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| error_chain(&e))?;
            let status = response.status().as_u16();
            // The body is read (and dropped) so the connection can be reused.
            let _ = response.into_body().collect().await;
            Ok(status)
        };
        match tokio::time::timeout(hook.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {:?}", hook.timeout)),
        }
    }

    async fn refresh_gauge(&self) {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || store.delivery_counts()).await {
            Ok(Ok(counts)) => {
                for (status, n) in counts {
                    self.metrics
                        .webhook_outbox
                        .with_label_values(&[status.as_str()])
                        .set(n as i64);
                }
            }
            Ok(Err(e)) => {
                self.metrics.store_errors.inc();
                warn!(error = %e, "cannot count the webhook outbox");
            }
            Err(e) => warn!(error = %e, "counting the webhook outbox failed"),
        }
    }
}

/// An error with its causes, for `last_error`.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(err) = source {
        message.push_str(": ");
        message.push_str(&err.to_string());
        source = err.source();
    }
    message
}
