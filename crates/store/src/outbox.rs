//! The webhook outbox: what the store knows of webhooks.
//!
//! The store does not send anything. It is told which webhooks exist and which events each
//! wants ([`WebhookTarget`], via [`super::Store::set_webhook_targets`]) and writes an outbox
//! row for each of them in the same transaction as the flag event that causes it; the
//! daemon's delivery worker then claims due rows, POSTs them and records the outcome. Rows
//! never change their payload, so retries send the same bytes under the same delivery id.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{FlagId, Timestamp};
use sitepatrol_core::finding::Severity;

/// What a webhook can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum WebhookEvent {
    /// A flag was created by a crawl (a new fingerprint).
    #[serde(rename = "flag.new")]
    FlagNew,
    /// A flag changed state: a reviewer's confirm, dismiss or reopen, or a crawl's resolve
    /// or reopen.
    #[serde(rename = "flag.state_changed")]
    FlagStateChanged,
    /// A case changed state: a reviewer's confirm, dismiss or reopen, or a crawl that found
    /// it rectified, resolved or overdue.
    #[serde(rename = "case.state_changed")]
    CaseStateChanged,
    /// A crawl at or after a confirmed case's deadline still found it: what an operator wires
    /// to suspension.
    #[serde(rename = "case.overdue")]
    CaseOverdue,
}

impl WebhookEvent {
    pub const ALL: [WebhookEvent; 4] = [
        WebhookEvent::FlagNew,
        WebhookEvent::FlagStateChanged,
        WebhookEvent::CaseStateChanged,
        WebhookEvent::CaseOverdue,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::FlagNew => "flag.new",
            WebhookEvent::FlagStateChanged => "flag.state_changed",
            WebhookEvent::CaseStateChanged => "case.state_changed",
            WebhookEvent::CaseOverdue => "case.overdue",
        }
    }
}

impl fmt::Display for WebhookEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WebhookEvent {
    type Err = String;

    fn from_str(s: &str) -> Result<WebhookEvent, String> {
        sitepatrol_core::named::parse_named(
            &WebhookEvent::ALL,
            WebhookEvent::as_str,
            "webhook event",
            s,
        )
        .map_err(|e| e.to_string())
    }
}

/// A configured webhook as the store needs it: which rows to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookTarget {
    /// The webhook's configured name: the key of its outbox rows (never its URL, which may
    /// carry a token and changes without the receiver changing).
    pub name: String,
    pub events: Vec<WebhookEvent>,
    /// New flags below this severity are not sent. State changes are sent for every flag.
    pub min_severity: Severity,
}

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Not yet delivered; retried at `next_attempt_at`.
    Pending,
    /// A 2xx answer was received.
    Delivered,
    /// Given up after the webhook's maximum attempts (or the webhook left the config).
    Failed,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 3] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Delivered,
        DeliveryStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeliveryStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<DeliveryStatus, String> {
        sitepatrol_core::named::parse_named(
            &DeliveryStatus::ALL,
            DeliveryStatus::as_str,
            "delivery status",
            s,
        )
        .map_err(|e| e.to_string())
    }
}

/// One outbox row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// The delivery id (`X-Sitepatrol-Delivery`), the same across retries.
    pub id: i64,
    pub webhook: String,
    pub event: WebhookEvent,
    /// The flag of a flag event; for a case event, the case's strongest flag.
    pub flag_id: FlagId,
    /// The case of a case event.
    pub case_id: Option<i64>,
    /// The exact JSON body that is signed and sent.
    #[serde(skip)]
    pub payload: String,
    pub created_at: Timestamp,
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// When a pending delivery is due (or its claim expires); `None` once it is final.
    pub next_attempt_at: Option<Timestamp>,
    /// The HTTP status of the last attempt, if an answer came.
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub delivered_at: Option<Timestamp>,
}

/// Filters of the delivery list, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
    pub webhook: Option<String>,
    pub flag: Option<FlagId>,
    /// Deliveries with an id below this one (the last id of the previous page).
    pub before_id: Option<i64>,
    /// 0 means 100; at most 1000.
    pub limit: usize,
}
