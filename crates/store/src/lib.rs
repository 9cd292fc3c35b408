//! The durable store: sites, crawl runs, pages, flags and their audit log.
//!
//! The daemon runs for months and the store is the part of it that must never lose a finding:
//! a flag that was ever reported to a reviewer, a metric or a webhook has to be in the store
//! first. Everything else (the schedule, the metrics, the review API) is rebuilt from it after a
//! restart, including a `kill -9`.
//!
//! [`Store`] is the trait the daemon and the review API program against. Its logic is written
//! once ([`Engine`], over the neutral layer of [`db`]) and runs on two backends: [`SqliteStore`],
//! the embedded default, and [`PgStore`], one PostgreSQL database shared by several daemons.
//! The statements live in [`sql`] as plain SQL that both databases run (unix-epoch seconds,
//! `ON CONFLICT` and `RETURNING`), and the behaviour is pinned down by one test suite
//! (`tests/it/store_suite.rs`) that runs on every backend.
//!
//! See the "Store" section of `docs/ARCHITECTURE.md` for the tables and the flag lifecycle.

mod body;
pub mod cases;
pub mod check;
pub mod db;
mod engine;
mod fold;
mod migrate;
pub mod ops;
mod outbox;
mod pg;
pub mod report;
mod signals;
pub mod sql;
mod sqlite;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use sitepatrol_core::finding::{Finding, Severity};

pub use body::{compress_body, decompress_body};
pub use cases::{
    Case, CaseAction, CaseCount, CaseDetail, CaseEvent, CaseEventFilter, CaseEventKind, CaseFilter,
    CaseId, CaseOutcome, CasePage, CaseSignal, CaseState,
};
pub use check::{CheckName, CheckReport, CheckResult, Problem, ProblemKind, check_sqlite_file};
pub use engine::{Backend, Engine};
pub use migrate::SCHEMA_VERSION;
pub use outbox::{Delivery, DeliveryFilter, DeliveryStatus, WebhookEvent, WebhookTarget};
pub use pg::{PgStore, Postgres, redact_url};
pub use report::{CaseFigures, CaseReport, CategoryFigures, ReportQuery};
pub use signals::{FlagSignal, MAX_SIGNALS};
pub use sqlite::{Sqlite, SqliteStore};

/// Seconds since the Unix epoch, UTC. Integers rather than dates in SQL so that comparisons and
/// arithmetic (retention, overdue) are the same in every backend.
pub type Timestamp = i64;

/// A flag's row id.
pub type FlagId = i64;

/// The actor recorded for changes made by crawls rather than by people.
pub const CRAWLER_ACTOR: &str = "crawler";

/// Everything that can go wrong in the store. Each message names the thing it is about (the
/// database path, the migration, the flag or site id), because these end up in logs that
/// operators read without the code at hand.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the directory {} for the store: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the store at {}: {source}", path.display())]
    Open { path: PathBuf, source: db::DbError },
    #[error(
        "the store at {} has schema version {found}, newer than the {supported} this sitepatrol knows; upgrade sitepatrol or restore a matching backup",
        path.display()
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("migration {version} ({name}) failed on the store at {}: {source}", path.display())]
    Migration {
        path: PathBuf,
        version: i64,
        name: &'static str,
        source: db::DbError,
    },
    #[error("database error in the store at {} while {context}: {source}", path.display())]
    Db {
        path: PathBuf,
        context: String,
        source: db::DbError,
    },
    /// What `store check` was pointed at cannot be checked as a store.
    #[error("{} is not a sitepatrol store: {reason}", path.display())]
    NotAStore { path: PathBuf, reason: String },
    #[error("flag {0} does not exist")]
    FlagNotFound(FlagId),
    #[error("site `{0}` is not in the store; upsert it before recording crawls for it")]
    SiteNotFound(String),
    #[error("flag {id} is {from}; cannot {action} it")]
    InvalidTransition {
        id: FlagId,
        from: FlagState,
        action: &'static str,
    },
    #[error("dismissing flag {0} needs a reason (why it is a false positive)")]
    ReasonRequired(FlagId),
    #[error("a comment on flag {0} cannot be empty")]
    EmptyComment(FlagId),
    #[error("case {0} does not exist")]
    CaseNotFound(CaseId),
    #[error("case {id} is {from}; cannot {action} it")]
    InvalidCaseTransition {
        id: CaseId,
        from: CaseState,
        action: &'static str,
    },
    #[error(
        "case {id} changed since it was read (version {expected}, now {actual}); reload it and act again"
    )]
    CaseVersionConflict {
        id: CaseId,
        expected: i64,
        actual: i64,
    },
    #[error(
        "flag {id} changed since it was read (version {expected}, now {actual}); reload it and act again"
    )]
    FlagVersionConflict {
        id: FlagId,
        expected: i64,
        actual: i64,
    },
    #[error(
        "case {id} cannot reopen: case {other} is already active for the same site and category"
    )]
    CaseActiveExists { id: CaseId, other: CaseId },
    #[error("dismissing case {0} needs a reason (why it is a false positive)")]
    CaseReasonRequired(CaseId),
    #[error("a comment on case {0} cannot be empty")]
    CaseEmptyComment(CaseId),
    #[error("invalid {what} `{value}` in the store")]
    Corrupt { what: &'static str, value: String },
    #[error("invalid pagination cursor `{0}`")]
    BadCursor(String),
    #[error("the stored body {sha256} cannot be decompressed: {source}")]
    Body {
        sha256: String,
        source: std::io::Error,
    },
    #[error("cannot encode {what}: {source}")]
    Json {
        what: &'static str,
        source: serde_json::Error,
    },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Where a flag is in its lifecycle.
///
/// ```text
///  (new fingerprint)                  ──crawl──────────────▶ open
///  open, reopened                     ──confirm────────────▶ confirmed   (takedown requested)
///  open, reopened, confirmed          ──dismiss + reason───▶ dismissed   (fingerprint suppressed)
///  open, reopened, confirmed          ──crawl: URL matched,
///                                       category not there─▶ resolved    (the run is the proof)
///  resolved                           ──crawl: found again─▶ reopened    (behaves like open)
///  dismissed                          ──crawl: score above the dismissed one
///                                       + case_rescore_margin▶ reopened
///  confirmed, dismissed, resolved     ──reviewer reopen────▶ reopened
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlagState {
    Open,
    Confirmed,
    Dismissed,
    Resolved,
    Reopened,
}

impl FlagState {
    pub const ALL: [FlagState; 5] = [
        FlagState::Open,
        FlagState::Confirmed,
        FlagState::Dismissed,
        FlagState::Resolved,
        FlagState::Reopened,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FlagState::Open => "open",
            FlagState::Confirmed => "confirmed",
            FlagState::Dismissed => "dismissed",
            FlagState::Resolved => "resolved",
            FlagState::Reopened => "reopened",
        }
    }

    /// States in which the content is believed to be on the site and someone still has to act
    /// (or has acted and waits for the takedown): a crawl that no longer finds it resolves it.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            FlagState::Open | FlagState::Reopened | FlagState::Confirmed
        )
    }
}

impl fmt::Display for FlagState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FlagState {
    type Err = String;

    fn from_str(s: &str) -> Result<FlagState, String> {
        sitepatrol_core::named::parse_named(&FlagState::ALL, FlagState::as_str, "flag state", s)
            .map_err(|e| e.to_string())
    }
}

use sitepatrol_core::digest::hex;
/// Hex SHA-256 of some bytes: the content hash of page bodies.
pub use sitepatrol_core::digest::sha256_hex;

/// The identity of a flag: SHA-256 over (site id, category, URL).
///
/// A flag is a page's standing in one category, not one term: re-crawls that find other
/// terms, other spellings or the same text moved into a hidden block update the one flag of
/// that page and category instead of adding flags, and a dismissal covers the category on
/// that page. Each part is length-prefixed so that no two different tuples hash the same
/// bytes.
pub fn fingerprint(site: &str, category: &str, url: &str) -> String {
    let mut h = Sha256::new();
    for part in [site, category, url] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex(&h.finalize())
}

/// Tunables of a store. The defaults suit the embedded daemon.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Raw page bodies longer than this are cut to it before compression (the flag records
    /// that the copy is truncated, and the full body's hash).
    pub body_cap_bytes: usize,
    /// How long a stored body is kept after the last crawl that saw it; enforced by every
    /// [`Store::record_crawl`] and by [`Store::prune_bodies`]. 0 keeps a copy only until the
    /// end of the crawl that stored it.
    pub body_retention_secs: i64,
    /// How long a writer waits for another connection's lock before failing (SQLite's
    /// `busy_timeout`, PostgreSQL's `lock_timeout`).
    pub busy_timeout_ms: u64,
    /// `synchronous=FULL` instead of `NORMAL` (SQLite): also survive power loss and OS crashes,
    /// at the cost of an fsync per commit. See [`SqliteStore`] for why NORMAL is the default.
    /// PostgreSQL's durability is the server's (`synchronous_commit`).
    pub sync_full: bool,
    /// How far a page's score must rise above what a dismissed case covered before a new
    /// case opens for the site and category (`review.case_rescore_margin`).
    pub case_rescore_margin: f64,
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig {
            body_cap_bytes: 2 * 1024 * 1024,
            body_retention_secs: 180 * 24 * 3600,
            busy_timeout_ms: 5_000,
            sync_full: false,
            case_rescore_margin: 2.0,
        }
    }
}

/// A site as the inventory defines it. Upserting one never touches what the store learned
/// about it (filing status, schedule, last crawl).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteInfo {
    pub id: String,
    pub customer: String,
    pub domains: Vec<String>,
    /// The server the site's crawls connect to, when the inventory names it (its `origin`):
    /// the address, with the port when that tells servers apart (`Site::origin_key` in the
    /// daemon makes it). Leases group sites by it as well as by host: sites of one origin go
    /// to one daemon at a time. `None`: the crawl resolves the domains, and only the host
    /// groups the site. Absent from older JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The customer's details as this site's inventory row gives them (all optional).
    #[serde(flatten, default)]
    pub contact: CustomerContact,
}

/// A customer's details from an inventory row: whom a rectification notice is addressed to
/// and who hears about it. Every field is optional (older inventories have none), and JSON
/// without them (an older store's or client's) reads as all `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerContact {
    /// The customer's legal or display name (`customer` is its id).
    #[serde(default)]
    pub customer_name: Option<String>,
    #[serde(default)]
    pub contact_email: Option<String>,
    #[serde(default)]
    pub contact_phone: Option<String>,
    /// The provider's account manager for the customer.
    #[serde(default)]
    pub account_manager: Option<String>,
}

impl CustomerContact {
    /// Each field from `self`, or from `other` where `self` has none: a customer's details
    /// gathered over its sites.
    pub fn or(self, other: &CustomerContact) -> CustomerContact {
        CustomerContact {
            customer_name: self.customer_name.or_else(|| other.customer_name.clone()),
            contact_email: self.contact_email.or_else(|| other.contact_email.clone()),
            contact_phone: self.contact_phone.or_else(|| other.contact_phone.clone()),
            account_manager: self
                .account_manager
                .or_else(|| other.account_manager.clone()),
        }
    }
}

/// A site with what the store knows about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteRecord {
    pub id: String,
    pub customer: String,
    pub domains: Vec<String>,
    /// False once the site left the inventory; its flags and history stay.
    pub in_inventory: bool,
    /// Free text set by the filing checks (for example `filed`, `unfiled`, `unknown`); the
    /// `sitepatrol_sites{filing_status}` gauge counts sites by it.
    pub filing_status: String,
    pub filing_checked_at: Option<Timestamp>,
    pub next_due_at: Option<Timestamp>,
    pub last_crawl_at: Option<Timestamp>,
    /// Flags in an active state (open, reopened, confirmed).
    pub active_flags: u64,
    /// The customer's details from the site's inventory row.
    #[serde(flatten, default)]
    pub contact: CustomerContact,
}

/// One crawl of one site, as handed to [`Store::record_crawl`].
#[derive(Debug, Clone, PartialEq)]
pub struct CrawlRun {
    /// Chosen by the caller before the crawl starts and unique over all runs; recording a run
    /// whose key is already in the store changes nothing (the replay after a crash).
    pub key: String,
    pub site: String,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub outcome: CrawlOutcome,
    /// The version of the rulesets the pages were matched with.
    pub rules_version: String,
    /// The crawl's counters, as `sitepatrol scan URL --stats-json` writes them
    /// (`serde_json::to_value(&CrawlStats)`).
    pub stats: serde_json::Value,
    /// The lease the crawl ran under, released in the run's own transaction with the site's
    /// next due time: a daemon killed after the commit leaves no lease to wait out.
    pub release: Option<LeaseRelease>,
}

/// The end of a crawl's lease, recorded with its run: see [`CrawlRun::release`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRelease {
    /// The daemon that holds the lease; a lease another owner took meanwhile (this one ran
    /// out) is left alone, and so is its next due time.
    pub owner: String,
    /// When the site is due again.
    pub next_due: Timestamp,
}

/// A site's lease as [`Store::leases`] lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lease {
    pub site: String,
    pub owner: String,
    pub until: Timestamp,
    /// The host the site's crawls start on: one owner at a time per host.
    pub host: String,
    /// The site's origin key ([`SiteInfo::origin`]), when the inventory names an origin: one
    /// owner at a time per origin too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

/// What [`Store::request_crawl`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrawlRequest {
    /// The site is due now.
    Due,
    /// A daemon holds the site's lease (a crawl is running): nothing changed.
    Leased,
    /// No such site in the inventory.
    NotFound,
}

/// Leader election for the fleet's singletons (the webhook outbox, retention, deadline
/// rechecks, the fleet-wide gauges). On PostgreSQL a session-level advisory lock held on a
/// connection of its own: it is released when that session ends, so a leader that dies
/// (kill -9, a network cut noticed by the server's keepalives) hands over on the next check
/// of another daemon. On SQLite, one daemon per store file: always the leader.
pub trait Elector: Send {
    /// Whether this process leads now: takes the lock when it is free, and checks that the
    /// session holding it is still alive when it holds it (false when it was lost).
    fn lead(&mut self) -> Result<bool>;
    /// Gives the lock up (shutdown), so another daemon takes over at once.
    fn resign(&mut self);
}

/// A crawl run as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CrawlRunRecord {
    pub id: i64,
    pub key: String,
    pub site: String,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub outcome: CrawlOutcome,
    pub rules_version: String,
    pub stats: serde_json::Value,
    pub ingest: IngestOutcome,
}

/// How a crawl ended (the `outcome` label of `sitepatrol_crawls_total`, and a run's column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CrawlOutcome {
    /// The frontier ran dry: every reachable page within scope was seen.
    Completed,
    /// A budget (pages, bytes, wall time) ended it first.
    Budget,
    /// The start page could not be fetched.
    Failed,
    /// Shutdown cut it.
    Interrupted,
}

impl CrawlOutcome {
    pub const ALL: [CrawlOutcome; 4] = [
        CrawlOutcome::Completed,
        CrawlOutcome::Budget,
        CrawlOutcome::Failed,
        CrawlOutcome::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CrawlOutcome::Completed => "completed",
            CrawlOutcome::Budget => "budget",
            CrawlOutcome::Failed => "failed",
            CrawlOutcome::Interrupted => "interrupted",
        }
    }

    /// Whether the crawl saw the site as far as the site is judged on: filing is checked
    /// after a completed or budget-cut crawl, not after a failed or interrupted one.
    pub fn saw_the_site(self) -> bool {
        matches!(self, CrawlOutcome::Completed | CrawlOutcome::Budget)
    }
}

impl fmt::Display for CrawlOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for CrawlOutcome {
    type Err = String;

    fn from_str(s: &str) -> Result<CrawlOutcome, String> {
        sitepatrol_core::named::parse_named(
            &CrawlOutcome::ALL,
            CrawlOutcome::as_str,
            "crawl outcome",
            s,
        )
        .map_err(|e| e.to_string())
    }
}

/// What happened to one page in a crawl.
#[derive(Debug, Clone, PartialEq)]
pub enum PageScan {
    /// Fetched and matched with the run's rules: these findings are all there is on the URL
    /// now, so the URL's active flags in categories not among them resolve. Findings of one
    /// category are folded into one flag (per-term findings as well as scored ones).
    Matched(Vec<Finding>),
    /// Fetched and matched, but the fetch cannot show that anything is gone (an error
    /// status, a body cut at the cap or damaged): its findings are recorded as `Matched` ones
    /// are, and the URL's other flags are left as they are.
    Partial(Vec<Finding>),
    /// Fetched, but its content hash and the rules version equal what [`Store::page_state`]
    /// returned, so the daemon did not match it again: its flags are still present.
    Unchanged,
    /// Fetched but not scanned (an error status, a content type the scanner skips): recorded,
    /// and its flags are left as they are, because nothing is known about the content.
    NotScanned,
}

/// One fetched page of a crawl. URLs the crawl did not fetch (the budget ran out, robots.txt)
/// are simply absent, and absence resolves nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestPage {
    pub url: String,
    pub http_status: Option<u16>,
    pub fetched_at: Timestamp,
    /// Hex SHA-256 of the raw body ([`sha256_hex`]).
    pub content_sha256: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// The address the page was fetched from, as evidence of where the content was served.
    pub ip: Option<String>,
    /// The raw body. Kept (compressed, capped) only when the page has findings.
    pub body: Option<Vec<u8>>,
    /// The render stage's PNG of the page, kept beside the body's copy (so only with it).
    pub screenshot: Option<Vec<u8>>,
    pub scan: PageScan,
    /// The links the crawl followed from the page, for crawling past a later 304; `None`
    /// when not known. Stored with matched and unchanged pages (replacing what was there)
    /// and left as they were by pages not scanned.
    pub links: Option<Vec<String>>,
}

impl IngestPage {
    /// A matched page, with its content hash computed from `body`.
    pub fn matched(
        url: &str,
        http_status: u16,
        fetched_at: Timestamp,
        body: &[u8],
        findings: Vec<Finding>,
    ) -> IngestPage {
        IngestPage {
            url: url.to_string(),
            http_status: Some(http_status),
            fetched_at,
            content_sha256: sha256_hex(body),
            etag: None,
            last_modified: None,
            ip: None,
            body: Some(body.to_vec()),
            screenshot: None,
            scan: PageScan::Matched(findings),
            links: None,
        }
    }
}

/// What the store remembers of a page, for conditional re-fetch and for skipping the matcher
/// on content it has already judged with the same rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PageState {
    pub content_sha256: Option<String>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// The rules version the content was last matched with; `None` if it never was.
    pub rules_version: Option<String>,
    pub http_status: Option<u16>,
    pub fetched_at: Timestamp,
    /// The links the page's last read followed (see [`IngestPage::links`]).
    pub links: Option<Vec<String>>,
}

/// The saved state of a crawl under way (see [`Store::save_checkpoint`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub site: String,
    /// The run the crawl will be recorded as.
    pub run_key: String,
    pub saved_at: Timestamp,
    /// The caller's own encoding of its state; the store keeps it as it is.
    pub state: String,
}

/// A flag named with what the metrics and webhooks need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagRef {
    pub id: FlagId,
    pub category: String,
    pub severity: Severity,
}

/// The result of [`Store::record_crawl`], committed before it is returned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestOutcome {
    /// New flags (a page newly flagged in a category): what `sitepatrol_findings_total`
    /// counts.
    pub new: Vec<FlagRef>,
    /// Resolved or confirmed... flags found again, now `reopened`.
    pub reopened: Vec<FlagRef>,
    /// Active flags whose URL was matched again without them.
    pub resolved: Vec<FlagRef>,
    /// Dismissed flags (page and category) found again: seen, and not flagged.
    pub suppressed: u64,
    /// Active flags found again (their evidence is updated).
    pub unchanged: u64,
    /// Active flags on pages that were not re-matched (content and rules unchanged).
    pub carried_over: u64,
    /// Pages recorded.
    pub pages: u64,
    /// What the crawl did to the site's cases.
    #[serde(default)]
    pub cases: CaseOutcome,
    /// Bodies newly stored (distinct by hash).
    pub bodies_stored: u64,
    /// True when the run key was already recorded: nothing changed, and the counts are the
    /// ones of the first recording.
    #[serde(default)]
    pub replayed: bool,
}

/// A flag: one page (URL) in one category, with its evidence. The fields from `rule` to
/// `count` quote the strongest signal; `signals` holds every one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flag {
    pub id: FlagId,
    pub fingerprint: String,
    pub site: String,
    pub customer: String,
    pub url: String,
    pub rule: String,
    pub category: String,
    pub clause: String,
    pub severity: Severity,
    pub description: String,
    pub zone: Option<String>,
    pub matched: String,
    pub normalized: String,
    pub snippet: String,
    pub offset: u64,
    pub count: u64,
    /// The page's score in the category; `None` for unscored flags (site checks, and flags
    /// from before scoring).
    pub score: Option<f64>,
    /// Every contributing signal, strongest first.
    pub signals: Vec<FlagSignal>,
    /// Signals left out of `signals` to bound the record.
    pub signals_omitted: u64,
    pub state: FlagState,
    pub assignee: Option<String>,
    /// Evidence of the latest sighting while the flag was active: the fetch the head fields
    /// and signals were read from. A dismissed flag keeps the evidence it was dismissed on.
    pub fetched_at: Timestamp,
    pub http_status: Option<u16>,
    pub ip: Option<String>,
    /// SHA-256 of the full raw body; stays after the stored copy is pruned.
    pub body_sha256: String,
    pub created_at: Timestamp,
    /// Time of the last state change.
    pub updated_at: Timestamp,
    /// Time of the last crawl that found it (also while dismissed).
    pub last_seen_at: Timestamp,
    pub first_run: String,
    pub last_run: String,
    /// The case the flag belongs to; `None` only for flags that were never active since
    /// cases exist.
    pub case_id: Option<CaseId>,
    /// Bumped by every change of the flag (review actions, case actions, a crawl refreshing
    /// its evidence or state; not a mere sighting): pass it back to [`Store::act`] to have
    /// the action refused if the flag changed since it was shown.
    pub version: i64,
}

/// One row of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlagEvent {
    pub id: i64,
    pub flag_id: FlagId,
    pub at: Timestamp,
    /// [`CRAWLER_ACTOR`] or a reviewer's token name.
    pub actor: String,
    pub kind: EventKind,
    /// `None` for the event that created the flag, and for assignments and comments.
    pub from_state: Option<FlagState>,
    pub to_state: Option<FlagState>,
    /// Why (for state changes), the comment text, or the assignee.
    pub reason: Option<String>,
    /// The crawl run that caused it, for crawler events: the proof of a resolve.
    pub run_key: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    State,
    Assign,
    Comment,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::State => "state",
            EventKind::Assign => "assign",
            EventKind::Comment => "comment",
        }
    }

    fn parse(s: &str) -> Result<EventKind> {
        match s {
            "state" => Ok(EventKind::State),
            "assign" => Ok(EventKind::Assign),
            "comment" => Ok(EventKind::Comment),
            _ => Err(StoreError::Corrupt {
                what: "event kind",
                value: s.to_string(),
            }),
        }
    }
}

/// A flag with its history, for the flag page and the evidence export.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlagDetail {
    pub flag: Flag,
    pub events: Vec<FlagEvent>,
    /// Whether the body copy is still stored (not pruned) and how it was kept.
    pub body: Option<BodyInfo>,
}

/// What is known of a stored body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BodyInfo {
    pub sha256: String,
    pub original_size: u64,
    pub stored_size: u64,
    pub truncated: bool,
    pub first_stored_at: Timestamp,
    pub last_seen_at: Timestamp,
    /// Set when the retention passed and the copy was dropped (the hash stays).
    pub pruned_at: Option<Timestamp>,
    /// When the render stage's screenshot of this content was taken, while it is stored.
    pub screenshot_taken_at: Option<Timestamp>,
}

/// A decompressed body copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBody {
    pub info: BodyInfo,
    /// The raw bytes, cut to the cap if `info.truncated`.
    pub data: Vec<u8>,
}

/// A reviewer's action on a flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlagAction {
    /// Takedown requested: open or reopened → confirmed.
    Confirm {
        reason: Option<String>,
    },
    /// A false positive: open, reopened or confirmed → dismissed. The reason is required, and
    /// the fingerprint is suppressed until the flag is reopened.
    Dismiss {
        reason: String,
    },
    /// confirmed, dismissed or resolved → reopened.
    Reopen {
        reason: Option<String>,
    },
    /// Set or clear the reviewer the flag is assigned to.
    Assign {
        assignee: Option<String>,
    },
    Comment {
        text: String,
    },
}

impl FlagAction {
    pub fn name(&self) -> &'static str {
        match self {
            FlagAction::Confirm { .. } => "confirm",
            FlagAction::Dismiss { .. } => "dismiss",
            FlagAction::Reopen { .. } => "reopen",
            FlagAction::Assign { .. } => "assign",
            FlagAction::Comment { .. } => "comment",
        }
    }
}

/// Orders of a flag list. Every order ends on the flag id, so a cursor is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagSort {
    /// Newest first (descending id).
    #[default]
    Newest,
    Oldest,
    /// Most severe first, newest first within a severity.
    Severity,
}

/// Filters of a flag list; empty vectors and `None` mean "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlagFilter {
    pub states: Vec<FlagState>,
    pub categories: Vec<String>,
    pub severities: Vec<Severity>,
    /// Flags with a signal of this rule (the strongest or another).
    pub rule: Option<String>,
    pub site: Option<String>,
    pub customer: Option<String>,
    /// Flags created at or after this time.
    pub created_from: Option<Timestamp>,
    /// Flags created before this time.
    pub created_to: Option<Timestamp>,
    pub sort: FlagSort,
    /// At most this many per page (clamped to 1..=1000; 0 means 100).
    pub limit: usize,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of flags.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlagPage {
    pub flags: Vec<Flag>,
    /// Pass back in [`FlagFilter::cursor`] for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// One cell of the `sitepatrol_flags{state,category,severity}` gauge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlagCount {
    pub state: FlagState,
    pub category: String,
    pub severity: Severity,
    pub count: u64,
}

/// Filters of the audit log, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub flag: Option<FlagId>,
    pub actor: Option<String>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    /// Events with an id below this one (the last id of the previous page).
    pub before_id: Option<i64>,
    /// 0 means 100; at most 1000.
    pub limit: usize,
}

/// The durable store behind the daemon and the review API.
///
/// Why a trait: the embedded default is SQLite, and providers that run several daemons share
/// one PostgreSQL database. Both must behave identically, which `tests/it/store_suite.rs`
/// checks by running one suite over `&dyn Store` on each.
///
/// Why synchronous: every method is a short transaction on a local database; the daemon calls
/// them from `spawn_blocking` or a writer thread, and tests and tools call them directly.
///
/// Why `record_crawl` takes a whole crawl: the ingest of a crawl (pages, new and reopened
/// flags with their events, resolves, the run's stats) commits in one transaction *before*
/// the daemon counts or reports anything, so after a `kill -9` the store either has all of a
/// crawl or none of it, and nothing was reported that the store does not have. Recording the
/// same run key again changes nothing, and flags are keyed by [`fingerprint`], so a replay
/// after a restart creates no duplicates.
///
/// Times are always passed in by the caller (`now`, `at`), never read from the clock inside,
/// so behaviour is reproducible in tests and the same across backends.
pub trait Store: Send + Sync {
    /// Adds sites or updates their customer and domains, and marks them in the inventory.
    /// One transaction for the whole batch (an inventory has 100k+ sites).
    fn upsert_sites(&self, sites: &[SiteInfo], now: Timestamp) -> Result<()>;

    /// Marks sites as no longer in the inventory. Their flags, pages and runs stay: the
    /// record of what was found must outlive the customer relationship. Returns how many
    /// sites changed.
    fn remove_sites(&self, ids: &[String], now: Timestamp) -> Result<u64>;

    fn site(&self, id: &str) -> Result<Option<SiteRecord>>;

    /// Sites ordered by id, `limit` after `after_id` (0 means all).
    fn sites(
        &self,
        include_removed: bool,
        after_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<SiteRecord>>;

    /// Every site of `customer` (removed ones too: a notice may concern a site that left the
    /// inventory after its case was confirmed), ordered by id; empty for an unknown customer.
    fn customer_sites(&self, customer: &str) -> Result<Vec<SiteRecord>>;

    /// Records the result of a filing (ICP) check of a site.
    fn set_filing_status(&self, site: &str, status: &str, checked_at: Timestamp) -> Result<()>;

    /// Sites in the inventory by filing status, for the `sitepatrol_sites` gauge.
    fn site_counts_by_filing_status(&self) -> Result<Vec<(String, u64)>>;

    fn next_due(&self, site: &str) -> Result<Option<Timestamp>>;

    fn set_next_due(&self, site: &str, at: Timestamp) -> Result<()>;

    /// Many next-due times in one transaction (the scheduler after a reload).
    fn set_next_due_many(&self, due: &[(String, Timestamp)]) -> Result<()>;

    /// Next-due times of every site in the inventory that has one, for the scheduler's start.
    fn all_next_due(&self) -> Result<Vec<(String, Timestamp)>>;

    /// Leases at most `limit` due sites to `owner` until `until`, most overdue first, and
    /// returns their ids. A site is due at its next due time (or when it never had one), and
    /// claimable when its lease is free or ran out by `now` and no other owner holds an
    /// unexpired lease on a site of the same host. Daemons claiming at once get disjoint sites
    /// (PostgreSQL: `FOR UPDATE SKIP LOCKED` under a claim lock; SQLite: one IMMEDIATE
    /// transaction).
    fn claim_due_sites(
        &self,
        owner: &str,
        now: Timestamp,
        limit: usize,
        until: Timestamp,
    ) -> Result<Vec<String>>;

    /// Extends `owner`'s leases of `sites` to `until`; returns the sites it still held (a
    /// lease that ran out and was taken by another owner is not renewed).
    fn renew_leases(&self, owner: &str, sites: &[String], until: Timestamp) -> Result<Vec<String>>;

    /// Releases `owner`'s leases of `sites`, leaving their next due times (a shutdown: the
    /// sites are claimable at once). Returns how many were released.
    fn release_leases(&self, owner: &str, sites: &[String]) -> Result<u64>;

    /// Releases `owner`'s lease of `site` and sets its next due time, in one transaction (a
    /// crawl that recorded nothing). False when `owner` no longer held it.
    fn finish_lease(&self, site: &str, owner: &str, next_due: Timestamp) -> Result<bool>;

    /// Ends every lease, whoever holds it; returns how many. For a store one daemon uses
    /// (SQLite), at its start: the leases there are a killed predecessor's, which would
    /// otherwise hold its sites until they run out.
    fn clear_leases(&self) -> Result<u64>;

    /// A recrawl request: the site is due at `now` unless a lease runs on it.
    fn request_crawl(&self, site: &str, now: Timestamp) -> Result<CrawlRequest>;

    /// The leases unexpired at `now`, by site id.
    fn leases(&self, now: Timestamp) -> Result<Vec<Lease>>;

    /// Sites in the inventory that are due at `now` and not leased: the fleet's backlog.
    fn overdue_sites(&self, now: Timestamp) -> Result<u64>;

    /// The leader election over this store; see [`Elector`].
    fn elector(&self) -> Result<Box<dyn Elector>>;

    /// What the store remembers of a page, for conditional requests and for skipping the
    /// matcher when neither the content nor the rules changed.
    fn page_state(&self, site: &str, url: &str) -> Result<Option<PageState>>;

    /// Every page of a site, for a crawl to load once at its start.
    fn page_states(&self, site: &str) -> Result<Vec<(String, PageState)>>;

    /// Records a whole crawl in one transaction; see the trait's documentation. The same
    /// transaction drops body copies whose retention passed by the run's end, as
    /// [`Store::prune_bodies`]`(run.finished_at)` would: retention is a promise to the
    /// customers whose pages are copied, so it is kept by every crawl rather than left to a
    /// timer someone has to remember to start.
    fn record_crawl(&self, run: &CrawlRun, pages: &[IngestPage]) -> Result<IngestOutcome>;

    /// Saves the state of a crawl under way, replacing the site's previous checkpoint (one
    /// crawl of a site runs at a time). [`Store::record_crawl`] of any run of the site
    /// deletes it in its own transaction, so a checkpoint outlives only a crawl that was
    /// never recorded (kill -9, power loss), which the next crawl resumes from.
    fn save_checkpoint(&self, checkpoint: &Checkpoint) -> Result<()>;

    /// The site's checkpoint, if a crawl left one.
    fn checkpoint(&self, site: &str) -> Result<Option<Checkpoint>>;

    /// Drops the site's checkpoint (one that cannot be used); true if there was one.
    fn delete_checkpoint(&self, site: &str) -> Result<bool>;

    /// The latest runs of a site, newest first.
    fn crawl_runs(&self, site: &str, limit: usize) -> Result<Vec<CrawlRunRecord>>;

    fn flag(&self, id: FlagId) -> Result<Option<FlagDetail>>;

    fn flag_by_fingerprint(&self, fingerprint: &str) -> Result<Option<Flag>>;

    fn list_flags(&self, filter: &FlagFilter) -> Result<FlagPage>;

    /// Flags grouped by state, category and severity.
    fn flag_counts(&self) -> Result<Vec<FlagCount>>;

    /// A reviewer's action, with its event, in one transaction. Returns the flag after it.
    /// With `expected_version`, a flag that changed since (another reviewer, a case action, a
    /// crawl) refuses the action with [`StoreError::FlagVersionConflict`] and nothing is
    /// applied. Concurrent actions on one flag are ordered by its row lock, so of two made on
    /// the same version exactly one applies.
    fn act(
        &self,
        id: FlagId,
        action: &FlagAction,
        actor: &str,
        at: Timestamp,
        expected_version: Option<i64>,
    ) -> Result<Flag>;

    /// The same action on many flags in one transaction; each id succeeds or fails on its own
    /// (a flag in the wrong state, or changed since the version `expected_versions` gives for
    /// it, does not stop the others). Flags not in `expected_versions` are acted on whatever
    /// their version.
    fn act_many(
        &self,
        ids: &[FlagId],
        action: &FlagAction,
        actor: &str,
        at: Timestamp,
        expected_versions: &[(FlagId, i64)],
    ) -> Result<Vec<(FlagId, Result<Flag>)>>;

    fn events(&self, filter: &EventFilter) -> Result<Vec<FlagEvent>>;

    /// The stored copy of a body, decompressed; `None` if never stored or pruned.
    fn body(&self, sha256: &str) -> Result<Option<StoredBody>>;

    /// The screenshot stored beside the body copy `sha256` (a PNG); `None` if the page was
    /// never rendered or its copy was pruned.
    fn screenshot(&self, sha256: &str) -> Result<Option<Vec<u8>>>;

    /// Drops body copies (and the screenshots beside them) not seen by any crawl for the
    /// configured retention. The flags keep the hash. Returns how many copies were dropped.
    fn prune_bodies(&self, now: Timestamp) -> Result<u64>;

    /// The schema version the store is at.
    fn schema_version(&self) -> Result<i64>;

    /// The webhooks that [`Store::record_crawl`], [`Store::act`] and [`Store::act_many`]
    /// write outbox rows for, in the transaction of the flag event itself (so that a crash
    /// can neither lose nor invent a notification). Replaces the previous set (a reload);
    /// rows already written stay. None by default.
    fn set_webhook_targets(&self, targets: &[WebhookTarget]);

    /// Pending deliveries due at `now`, oldest first, at most `limit`. Each is claimed until
    /// `lease_until`: not due again before then, so a worker that dies mid-send leaves it to
    /// be retried after the lease, never lost.
    fn claim_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<Delivery>>;

    /// Records a successful attempt (a 2xx answer). Returns false if the delivery is not
    /// pending (already final, or unknown), in which case nothing changed.
    fn mark_delivered(&self, id: i64, at: Timestamp, http_status: u16) -> Result<bool>;

    /// Records a failed attempt: retried at `retry_at`, or with `None` given up as `failed`.
    /// Returns false if the delivery is not pending, in which case nothing changed.
    fn mark_attempt_failed(
        &self,
        id: i64,
        http_status: Option<u16>,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> Result<bool>;

    /// Deliveries, newest first.
    fn deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<Delivery>>;

    /// Deliveries by status, for the `sitepatrol_webhook_outbox` gauge. Every status is
    /// listed, with 0 when it has none.
    fn delivery_counts(&self) -> Result<Vec<(DeliveryStatus, u64)>>;

    /// The case queue (see [`CaseFilter`] for its order).
    fn list_cases(&self, filter: &CaseFilter) -> Result<CasePage>;

    fn case(&self, id: CaseId) -> Result<Option<CaseDetail>>;

    /// A reviewer's action on a case and its flags, with one case event, in one transaction.
    /// With `expected_version`, a case that changed since (another reviewer, a crawl) refuses
    /// the action with [`StoreError::CaseVersionConflict`] and nothing is applied.
    fn act_on_case(
        &self,
        id: CaseId,
        action: &CaseAction,
        actor: &str,
        at: Timestamp,
        expected_version: Option<i64>,
    ) -> Result<Case>;

    /// Cases grouped by state, category and severity.
    fn case_counts(&self) -> Result<Vec<CaseCount>>;

    /// The case audit log (reviewers' case actions and the crawls' case changes), newest
    /// first.
    fn case_events(&self, filter: &CaseEventFilter) -> Result<Vec<CaseEvent>>;

    /// Confirmed cases whose deadline passed by `now` and whose recheck was not asked for,
    /// at most `limit`; each is marked as asked at `now`, so a deadline causes one recrawl.
    fn claim_case_rechecks(&self, now: Timestamp, limit: usize) -> Result<Vec<Case>>;

    /// Records a one-time login link by `hash`, the SHA-256 (hex) of its secret: the secret
    /// itself is never stored. Every older link not used yet is superseded in the same
    /// transaction, so only the newest link works. A hash recorded before is an error.
    fn create_login_link(
        &self,
        hash: &str,
        created_at: Timestamp,
        expires_at: Timestamp,
    ) -> Result<()>;

    /// Uses the link whose secret hashes to `hash`: [`LoginLinkUse::Used`] if it was unused,
    /// not superseded and `now` is before its expiry, and then it is marked used in the same
    /// statement (two requests with one link cannot both succeed); otherwise why not.
    fn consume_login_link(&self, hash: &str, now: Timestamp) -> Result<LoginLinkUse>;

    /// The case report of `[query.from, query.to)`, for the whole fleet or one customer: per
    /// category, the cases that moved into each state in the period (from the case events,
    /// so a case confirmed in the period counts whenever it was opened), those open and
    /// overdue at `to`, the median times to confirm and to rectify, and the sites patrolled
    /// and pages scanned by the runs that finished in the period. One read snapshot; see
    /// [`report`] for the exact definitions.
    fn case_report(&self, query: &ReportQuery) -> Result<CaseReport>;
}

/// What [`Store::consume_login_link`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginLinkUse {
    /// The link was good and is used now.
    Used,
    /// No link has this hash.
    Unknown,
    /// It was used before.
    AlreadyUsed,
    /// Its time had passed.
    Expired,
    /// A newer link replaced it before it was used.
    Superseded,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_separates_its_parts() {
        let a = fingerprint("s", "ab", "u");
        assert_eq!(a, fingerprint("s", "ab", "u"));
        assert_ne!(a, fingerprint("sa", "b", "u"));
        assert_ne!(a, fingerprint("s", "ab", "u/"));
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn sha256_hex_is_the_standard_digest() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn flag_states_round_trip() {
        for s in FlagState::ALL {
            assert_eq!(s.as_str().parse::<FlagState>(), Ok(s));
        }
        assert!("closed".parse::<FlagState>().is_err());
    }
}
