//! The daemon's Prometheus metrics.
//!
//! Names follow `sitepatrol_<name>_<unit>[_total]`. Every label has a small fixed set of
//! values (fetch results, crawl outcomes, rule categories, severities, flag states, filing
//! statuses): a URL or a site id as a label would make one series per customer page and sink
//! the Prometheus server, so per-site detail lives in the store and the review API instead.
//!
//! Counters count events after they are committed to the store (a new flag is counted once the
//! ingest that created it has committed), so a restart never makes them claim more than the
//! store holds. Gauges about flags and sites are read back from the store.

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    pub pages_fetched: IntCounterVec,
    pub fetch_duration: Histogram,
    pub fetched_bytes: IntCounter,
    pub crawls: IntCounterVec,
    pub crawl_duration: Histogram,
    pub crawls_in_progress: IntGauge,
    pub sites_overdue: IntGauge,
    pub sites_scheduled: IntGauge,
    /// 1 on the daemon that holds the leader lock (runs the singletons), 0 elsewhere.
    pub leader: IntGauge,
    /// Site leases this daemon holds (its crawls in progress, as the store records them).
    pub leases_held: IntGauge,
    pub findings: IntCounterVec,
    pub flags: IntGaugeVec,
    pub cases: IntGaugeVec,
    pub sites: IntGaugeVec,
    pub rules_loaded: IntGauge,
    pub rules_reloads: IntCounterVec,
    pub inventory_reloads: IntCounterVec,
    pub pages_unchanged: IntCounter,
    pub probed_pages: IntCounterVec,
    pub rendered_pages: IntCounterVec,
    pub pages_not_modified: IntCounter,
    pub crawls_resumed: IntCounter,
    pub last_crawl_completed: Gauge,
    pub store_errors: IntCounter,
    pub flag_cap_hits: IntCounter,
    pub scan_budget_hits: IntCounter,
    pub connections_refused: IntCounterVec,
    pub build_info: IntGaugeVec,
    pub webhook_deliveries: IntCounterVec,
    pub webhook_outbox: IntGaugeVec,
}

/// Values of `sitepatrol_webhook_deliveries_total{result}`: one per attempt.
pub const WEBHOOK_DELIVERED: &str = "delivered";
/// The attempt failed and the delivery will be retried.
pub const WEBHOOK_RETRY: &str = "retry";
/// The attempt failed and the delivery was given up (its attempts ran out).
pub const WEBHOOK_FAILED: &str = "failed";

fn counter_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntCounterVec> {
    let c = IntCounterVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(c.clone()))?;
    Ok(c)
}

fn gauge_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntGaugeVec> {
    let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(g.clone()))?;
    Ok(g)
}

fn int_gauge(registry: &Registry, name: &str, help: &str) -> prometheus::Result<IntGauge> {
    let g = IntGauge::new(name, help)?;
    registry.register(Box::new(g.clone()))?;
    Ok(g)
}

fn histogram(
    registry: &Registry,
    name: &str,
    help: &str,
    buckets: Vec<f64>,
) -> prometheus::Result<Histogram> {
    let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))?;
    registry.register(Box::new(h.clone()))?;
    Ok(h)
}

/// Values of `sitepatrol_pages_fetched_total{result}` besides the fetch error classes.
pub const RESULT_OK: &str = "ok";
pub const RESULT_CLIENT_ERROR: &str = "http_4xx";
pub const RESULT_SERVER_ERROR: &str = "http_5xx";

/// The `result` label of a fetched page's status.
pub fn status_result(status: u16) -> &'static str {
    match status {
        400..=499 => RESULT_CLIENT_ERROR,
        500..=599 => RESULT_SERVER_ERROR,
        _ => RESULT_OK,
    }
}

impl Metrics {
    pub fn new() -> prometheus::Result<Metrics> {
        let r = Registry::new();
        let pages_fetched = counter_vec(
            &r,
            "sitepatrol_pages_fetched_total",
            "Pages fetched by crawls, by result: ok, http_4xx, http_5xx, or the fetch error class (dns, connect, refused, ...).",
            &["result"],
        )?;
        let fetch_duration = histogram(
            &r,
            "sitepatrol_fetch_duration_seconds",
            "Time to fetch one page, redirects and politeness waits included.",
            vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0],
        )?;
        let fetched_bytes = IntCounter::new(
            "sitepatrol_fetched_bytes_total",
            "Body bytes fetched by crawls (after decompression).",
        )?;
        r.register(Box::new(fetched_bytes.clone()))?;
        let crawls = counter_vec(
            &r,
            "sitepatrol_crawls_total",
            "Site crawls that ended, by outcome: completed, budget (a budget cut it short), failed (the start page could not be fetched), interrupted (shutdown).",
            &["outcome"],
        )?;
        let crawl_duration = histogram(
            &r,
            "sitepatrol_crawl_duration_seconds",
            "Wall time of one site crawl, every agent included.",
            vec![0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0],
        )?;
        let crawls_in_progress = int_gauge(
            &r,
            "sitepatrol_crawls_in_progress",
            "Site crawls running now.",
        )?;
        let sites_overdue = int_gauge(
            &r,
            "sitepatrol_sites_overdue",
            "Sites past their next-due time that are waiting for a crawl slot.",
        )?;
        let sites_scheduled = int_gauge(
            &r,
            "sitepatrol_sites_scheduled",
            "Sites in the inventory, on the schedule.",
        )?;
        let leader = int_gauge(
            &r,
            "sitepatrol_leader",
            "1 on the daemon that holds the leader lock and runs the fleet's singletons (webhook delivery, body retention, deadline rechecks, the fleet-wide gauges), 0 on the others.",
        )?;
        let leases_held = int_gauge(
            &r,
            "sitepatrol_leases_held",
            "Site leases this daemon holds in the store: the sites it is crawling.",
        )?;
        let findings = counter_vec(
            &r,
            "sitepatrol_findings_total",
            "New flags (a page newly flagged in a category), counted after they are committed to the store.",
            &["category", "severity"],
        )?;
        let flags = gauge_vec(
            &r,
            "sitepatrol_flags",
            "Flags in the store, by state, category and severity.",
            &["state", "category", "severity"],
        )?;
        let cases = gauge_vec(
            &r,
            "sitepatrol_cases",
            "Cases (a site's problem in one category) in the store, by state, category and severity.",
            &["state", "category", "severity"],
        )?;
        let sites = gauge_vec(
            &r,
            "sitepatrol_sites",
            "Sites in the inventory, by filing status.",
            &["filing_status"],
        )?;
        let rules_loaded = int_gauge(
            &r,
            "sitepatrol_rules_loaded",
            "Rules in the ruleset serving now.",
        )?;
        let rules_reloads = counter_vec(
            &r,
            "sitepatrol_rules_reloads_total",
            "Ruleset reloads, by result (ok, error: the old rules kept serving).",
            &["result"],
        )?;
        let inventory_reloads = counter_vec(
            &r,
            "sitepatrol_inventory_reloads_total",
            "Inventory reloads, by result (ok, error: the old inventory was kept).",
            &["result"],
        )?;
        let pages_unchanged = IntCounter::new(
            "sitepatrol_pages_unchanged_total",
            "Fetched pages not matched again: content and rules unchanged since the last crawl.",
        )?;
        r.register(Box::new(pages_unchanged.clone()))?;
        let probed_pages = IntCounterVec::new(
            Opts::new(
                "sitepatrol_probed_pages_total",
                "Pages fetched again as search spiders and search visitors, by result: clean, cloaked, or incomplete (a probe failed).",
            ),
            &["result"],
        )?;
        r.register(Box::new(probed_pages.clone()))?;
        let rendered_pages = IntCounterVec::new(
            Opts::new(
                "sitepatrol_rendered_pages_total",
                "Pages loaded in the headless browser by the render stage, by result: ok, or failed (time or memory budget, browser error).",
            ),
            &["result"],
        )?;
        r.register(Box::new(rendered_pages.clone()))?;
        let pages_not_modified = IntCounter::new(
            "sitepatrol_pages_not_modified_total",
            "Pages asked for with their ETag or Last-Modified that answered 304 Not Modified.",
        )?;
        r.register(Box::new(pages_not_modified.clone()))?;
        let crawls_resumed = IntCounter::new(
            "sitepatrol_crawls_resumed_total",
            "Crawls resumed from the checkpoint of a crawl the daemon did not finish.",
        )?;
        r.register(Box::new(crawls_resumed.clone()))?;
        let last_crawl_completed = Gauge::new(
            "sitepatrol_last_crawl_completed_timestamp_seconds",
            "Unix time at which the last site crawl was committed to the store.",
        )?;
        r.register(Box::new(last_crawl_completed.clone()))?;
        let store_errors = IntCounter::new(
            "sitepatrol_store_errors_total",
            "Store operations that failed (the crawl is retried at its next due time).",
        )?;
        r.register(Box::new(store_errors.clone()))?;
        let flag_cap_hits = IntCounter::new(
            "sitepatrol_flag_cap_hits_total",
            "Crawls that found more flags than crawl.max_flags_per_crawl (pages past the cap \
             were not recorded).",
        )?;
        r.register(Box::new(flag_cap_hits.clone()))?;
        let scan_budget_hits = IntCounter::new(
            "sitepatrol_scan_budget_hits_total",
            "Pages whose scan ran out of crawl.scan_budget (matching stopped; the page got a \
             crawl.scan_budget info flag).",
        )?;
        r.register(Box::new(scan_budget_hits.clone()))?;
        let connections_refused = counter_vec(
            &r,
            "sitepatrol_http_connections_refused_total",
            "Connections closed at accept because a listener was at http.max_connections \
             (limit=listener) or the client at http.max_connections_per_client (limit=client).",
            &["limit"],
        )?;
        let build_info = gauge_vec(
            &r,
            "sitepatrol_build_info",
            "Always 1; the version of the running binary is the label.",
            &["version"],
        )?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        // Labelled by result and status only: a URL or webhook name as a label is the
        // operator's free text and may carry a token.
        let webhook_deliveries = counter_vec(
            &r,
            "sitepatrol_webhook_deliveries_total",
            "Webhook delivery attempts, by result: delivered (2xx), retry (failed, will be retried), failed (failed, attempts exhausted).",
            &["result"],
        )?;
        let webhook_outbox = gauge_vec(
            &r,
            "sitepatrol_webhook_outbox",
            "Webhook deliveries in the store's outbox, by status: pending, delivered, failed.",
            &["status"],
        )?;
        for result in [WEBHOOK_DELIVERED, WEBHOOK_RETRY, WEBHOOK_FAILED] {
            webhook_deliveries.with_label_values(&[result]).inc_by(0);
        }
        for status in sitepatrol_store::DeliveryStatus::ALL {
            webhook_outbox.with_label_values(&[status.as_str()]).set(0);
        }
        // Every outcome and result exists from the start, so rate() and alerts see zeros
        // rather than absent series.
        for outcome in sitepatrol_store::CrawlOutcome::ALL {
            crawls.with_label_values(&[outcome.as_str()]).inc_by(0);
        }
        for result in ["ok", "error"] {
            rules_reloads.with_label_values(&[result]).inc_by(0);
            inventory_reloads.with_label_values(&[result]).inc_by(0);
        }
        for result in [RESULT_OK, RESULT_CLIENT_ERROR, RESULT_SERVER_ERROR] {
            pages_fetched.with_label_values(&[result]).inc_by(0);
        }
        for result in ["clean", "cloaked", "incomplete"] {
            probed_pages.with_label_values(&[result]).inc_by(0);
        }
        for result in ["ok", "failed"] {
            rendered_pages.with_label_values(&[result]).inc_by(0);
        }
        Ok(Metrics {
            registry: r,
            pages_fetched,
            fetch_duration,
            fetched_bytes,
            crawls,
            crawl_duration,
            crawls_in_progress,
            sites_overdue,
            sites_scheduled,
            leader,
            leases_held,
            findings,
            flags,
            cases,
            sites,
            rules_loaded,
            rules_reloads,
            inventory_reloads,
            pages_unchanged,
            probed_pages,
            rendered_pages,
            pages_not_modified,
            crawls_resumed,
            last_crawl_completed,
            store_errors,
            flag_cap_hits,
            scan_budget_hits,
            connections_refused,
            build_info,
            webhook_deliveries,
            webhook_outbox,
        })
    }

    /// Replace the flag gauge with the store's counts.
    pub fn set_flag_counts<'a>(
        &self,
        counts: impl IntoIterator<Item = (&'a str, &'a str, &'a str, u64)>,
    ) {
        self.flags.reset();
        for (state, category, severity, n) in counts {
            self.flags
                .with_label_values(&[state, category, severity])
                .set(n as i64);
        }
    }

    /// Replace the case gauge with the store's counts.
    pub fn set_case_counts<'a>(
        &self,
        counts: impl IntoIterator<Item = (&'a str, &'a str, &'a str, u64)>,
    ) {
        self.cases.reset();
        for (state, category, severity, n) in counts {
            self.cases
                .with_label_values(&[state, category, severity])
                .set(n as i64);
        }
    }

    /// Replace the site gauge with the store's counts by filing status.
    pub fn set_site_counts<'a>(&self, counts: impl IntoIterator<Item = (&'a str, u64)>) {
        self.sites.reset();
        for (status, n) in counts {
            self.sites.with_label_values(&[status]).set(n as i64);
        }
    }

    /// The text exposition format, for `/metrics`.
    pub fn render(&self) -> Result<(Vec<u8>, String), prometheus::Error> {
        let encoder = TextEncoder::new();
        let mut out = Vec::new();
        encoder.encode(&self.registry.gather(), &mut out)?;
        Ok((out, encoder.format_type().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_of_the_issue_is_exposed_with_bounded_labels() {
        let m = Metrics::new().unwrap();
        m.findings.with_label_values(&["gambling", "high"]).inc();
        m.set_flag_counts([("open", "gambling", "high", 3)]);
        m.set_case_counts([("overdue", "gambling", "high", 1)]);
        m.set_site_counts([("unknown", 2)]);
        m.fetch_duration.observe(0.2);
        m.crawl_duration.observe(2.0);
        let (text, content_type) = m.render().unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        for family in [
            "sitepatrol_pages_fetched_total",
            "sitepatrol_fetch_duration_seconds",
            "sitepatrol_fetched_bytes_total",
            "sitepatrol_crawls_total",
            "sitepatrol_crawl_duration_seconds",
            "sitepatrol_sites_overdue",
            "sitepatrol_findings_total",
            "sitepatrol_flags",
            "sitepatrol_cases",
            "sitepatrol_sites",
            "sitepatrol_rules_loaded",
            "sitepatrol_rules_reloads_total",
            "sitepatrol_last_crawl_completed_timestamp_seconds",
            "sitepatrol_build_info",
            "sitepatrol_webhook_deliveries_total",
            "sitepatrol_webhook_outbox",
            "sitepatrol_probed_pages_total",
            "sitepatrol_rendered_pages_total",
        ] {
            assert!(
                text.contains(&format!("# TYPE {family} ")),
                "{family}:\n{text}"
            );
        }
        assert!(
            text.contains(
                "sitepatrol_flags{category=\"gambling\",severity=\"high\",state=\"open\"} 3"
            ),
            "{text}"
        );
        assert!(text.contains(&format!(
            "sitepatrol_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )));
        // A later count without the cell drops it.
        m.set_flag_counts([("resolved", "gambling", "high", 3)]);
        let text = String::from_utf8(m.render().unwrap().0).unwrap();
        assert!(!text.contains("state=\"open\""), "{text}");
    }

    /// The alerts and the dashboard use only families the daemon exports, so a renamed metric
    /// cannot silently leave an alert that never fires.
    #[test]
    fn alerts_and_dashboard_use_only_exported_families() {
        let m = Metrics::new().unwrap();
        // Vector families are gathered only once they have a cell.
        m.flags.with_label_values(&["open", "x", "low"]).set(1);
        m.cases.with_label_values(&["overdue", "x", "low"]).set(1);
        m.sites.with_label_values(&["unknown"]).set(1);
        m.findings.with_label_values(&["x", "low"]).inc();
        let exported: std::collections::HashSet<String> = m
            .registry
            .gather()
            .iter()
            .map(|f| f.name().to_string())
            .collect();
        let names = regex::Regex::new(r"sitepatrol_[a-z_]+").unwrap();
        for (file, text) in [
            (
                "config/prometheus/alerts.yml",
                include_str!("../../../../config/prometheus/alerts.yml"),
            ),
            (
                "config/grafana/sitepatrol.json",
                include_str!("../../../../config/grafana/sitepatrol.json"),
            ),
        ] {
            let mut used = 0;
            for name in names.find_iter(text).map(|m| m.as_str()) {
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|suffix| name.strip_suffix(suffix))
                    .unwrap_or(name);
                assert!(
                    exported.contains(family),
                    "{file} uses {name}, which the daemon does not export"
                );
                used += 1;
            }
            assert!(used > 5, "{file} uses {used} metrics");
        }
    }

    #[test]
    fn status_results() {
        assert_eq!(status_result(200), "ok");
        assert_eq!(status_result(304), "ok");
        assert_eq!(status_result(404), "http_4xx");
        assert_eq!(status_result(503), "http_5xx");
    }
}
