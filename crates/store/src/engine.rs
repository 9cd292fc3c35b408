//! The store's logic, written once over the neutral database layer ([`crate::db`]): the
//! ingest of a crawl, flag actions, the case step and case actions (`engine/cases.rs`), the
//! lists, the outbox, checkpoints, login links and the case report (`engine/report.rs`).
//!
//! [`Engine`] implements [`Store`] for any [`Backend`]: a backend only opens transactions
//! (read, read in one snapshot, write) and names its database in errors. `SqliteStore` and
//! `PgStore` are this engine over SQLite and PostgreSQL; the storage suite runs on both.

mod cases;
mod report;

use std::collections::HashMap;
use std::path::Path;
use std::sync::RwLock;

use super::db::{Db, DbError, DbResult, Dialect, Row, Val, Where, vals};
use super::signals::{PageFlag, page_flags, rule_pattern};
use super::sql;
use super::{
    BodyInfo, CRAWLER_ACTOR, Case, CaseAction, CaseCount, CaseDetail, CaseEvent, CaseEventFilter,
    CaseFilter, CaseId, CasePage, Checkpoint, CrawlRequest, CrawlRun, CrawlRunRecord,
    CustomerContact, Delivery, DeliveryFilter, DeliveryStatus, EventFilter, EventKind, Flag,
    FlagAction, FlagCount, FlagDetail, FlagEvent, FlagFilter, FlagId, FlagPage, FlagRef, FlagSort,
    FlagState, IngestOutcome, IngestPage, Lease, PageScan, PageState, Result, SiteInfo, SiteRecord,
    Store, StoreConfig, StoreError, StoredBody, Timestamp, WebhookEvent, WebhookTarget,
    compress_body, decompress_body,
};
use sitepatrol_core::finding::Severity;

pub(crate) use cases::CaseSync;

/// The first key of the claim lock (`pg_advisory_xact_lock(key, schema)`): "spcl".
const CLAIM_LOCK: i64 = 0x7370_636c;

/// What the engine needs of a database: transactions, and a name for errors.
///
/// Every method runs `f` on one transaction and ends it: `write` commits when `f` returns
/// `Ok` and rolls back otherwise (a crawl is all or nothing); `read` reads committed data;
/// `snapshot` reads several statements from one snapshot (a flag with its events, the case
/// report), so a crawl committing in between cannot make them disagree.
pub trait Backend: Send + Sync {
    /// The database as errors name it: the file, or the URL without its password.
    fn path(&self) -> &Path;

    fn write<T>(&self, context: &str, f: impl Fn(&dyn Db) -> Result<T>) -> Result<T>;

    fn read<T>(&self, context: &str, f: impl Fn(&dyn Db) -> Result<T>) -> Result<T>;

    fn snapshot<T>(&self, context: &str, f: impl FnOnce(&dyn Db) -> Result<T>) -> Result<T>;

    /// The leader election over this database (see [`crate::Elector`]).
    fn elector(&self) -> Result<Box<dyn crate::Elector>>;
}

/// The run's lease ends in its transaction, with the site's next due time.
fn release_with_run(tx: &dyn Db, path: &Path, run: &CrawlRun) -> Result<()> {
    if let Some(release) = &run.release {
        tx.execute(
            sql::FINISH_LEASE,
            vals![run.site, release.owner, release.next_due],
        )
        .ctx(path, || format!("ending the lease of site `{}`", run.site))?;
    }
    Ok(())
}

/// The host a site's crawls start on, as leases group sites: the first domain, lower case.
fn host_key(domains: &[String]) -> String {
    domains
        .first()
        .map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase())
        .unwrap_or_default()
}

/// The origin a site's crawls connect to, as leases group sites (besides the host): the
/// inventory's key as given, trimmed and in lower case (IPv6 hex digits); none when empty.
fn origin_key(origin: Option<&str>) -> Option<String> {
    origin
        .map(|o| o.trim().to_ascii_lowercase())
        .filter(|o| !o.is_empty())
}

/// The store over a backend; see the module's documentation.
pub struct Engine<B> {
    pub(crate) db: B,
    pub(crate) config: StoreConfig,
    /// The webhooks flag events write outbox rows for.
    webhooks: RwLock<Vec<WebhookTarget>>,
}

impl<B: Backend> Engine<B> {
    pub(crate) fn new(db: B, config: StoreConfig) -> Engine<B> {
        Engine {
            db,
            config,
            webhooks: RwLock::new(Vec::new()),
        }
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }
}

/// A query's error as [`StoreError::Db`]: the store's path and what was being done.
pub(crate) trait Ctx<T> {
    fn ctx(self, path: &Path, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: Into<DbError>> Ctx<T> for std::result::Result<T, E> {
    fn ctx(self, path: &Path, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| StoreError::Db {
            path: path.to_path_buf(),
            context: context(),
            source: source.into(),
        })
    }
}

/// The severity of a `severity_rank` column (ranks out of range clamp to the ends).
fn severity_from_rank(rank: i64) -> Severity {
    match rank {
        i64::MIN..=0 => Severity::Info,
        1 => Severity::Low,
        2 => Severity::Medium,
        3 => Severity::High,
        _ => Severity::Critical,
    }
}

fn severity_rank(s: Severity) -> i64 {
    match s {
        Severity::Info => 0,
        Severity::Low => 1,
        Severity::Medium => 2,
        Severity::High => 3,
        Severity::Critical => 4,
    }
}

fn status_col(row: &Row, idx: usize) -> DbResult<Option<u16>> {
    Ok(row
        .get::<Option<i64>>(idx)?
        .and_then(|v| u16::try_from(v).ok()))
}

fn flag_from_row(row: &Row) -> DbResult<Flag> {
    Ok(Flag {
        id: row.get(0)?,
        fingerprint: row.get(1)?,
        site: row.get(2)?,
        customer: row.get(3)?,
        url: row.get(4)?,
        rule: row.get(5)?,
        category: row.get(6)?,
        clause: row.get(7)?,
        severity: row.parse(8)?,
        description: row.get(9)?,
        zone: row.get(10)?,
        matched: row.get(11)?,
        normalized: row.get(12)?,
        snippet: row.get(13)?,
        offset: row.count(14)?,
        count: row.count(15)?,
        score: row.get(27)?,
        signals: row.json(28)?,
        signals_omitted: row.count(29)?,
        state: row.parse(16)?,
        assignee: row.get(17)?,
        fetched_at: row.get(18)?,
        http_status: status_col(row, 19)?,
        ip: row.get(20)?,
        body_sha256: row.get(21)?,
        created_at: row.get(22)?,
        updated_at: row.get(23)?,
        last_seen_at: row.get(24)?,
        first_run: row.get(25)?,
        last_run: row.get(26)?,
        case_id: row.get(30)?,
        version: row.get(31)?,
    })
}

fn event_from_row(row: &Row) -> DbResult<FlagEvent> {
    let kind: String = row.get(4)?;
    Ok(FlagEvent {
        id: row.get(0)?,
        flag_id: row.get(1)?,
        at: row.get(2)?,
        actor: row.get(3)?,
        kind: EventKind::parse(&kind).map_err(|e| DbError::Value {
            idx: 4,
            message: e.to_string(),
        })?,
        from_state: row.parse_opt(5)?,
        to_state: row.parse_opt(6)?,
        reason: row.get(7)?,
        run_key: row.get(8)?,
    })
}

fn site_from_row(row: &Row) -> DbResult<SiteRecord> {
    Ok(SiteRecord {
        id: row.get(0)?,
        customer: row.get(1)?,
        domains: row.json(2)?,
        in_inventory: row.get(3)?,
        filing_status: row.get(4)?,
        filing_checked_at: row.get(5)?,
        next_due_at: row.get(6)?,
        last_crawl_at: row.get(7)?,
        active_flags: row.count(8)?,
        contact: CustomerContact {
            customer_name: row.get(9)?,
            contact_email: row.get(10)?,
            contact_phone: row.get(11)?,
            account_manager: row.get(12)?,
        },
    })
}

fn page_state_from_row(row: &Row, o: usize) -> DbResult<PageState> {
    Ok(PageState {
        content_sha256: row.get(o)?,
        etag: row.get(o + 1)?,
        last_modified: row.get(o + 2)?,
        rules_version: row.get(o + 3)?,
        http_status: status_col(row, o + 4)?,
        fetched_at: row.get(o + 5)?,
        links: links_col(row, o + 6)?,
    })
}

/// The stored links of a page. Links are a hint for crawling past a 304, never evidence: a
/// value that does not parse reads as unknown (the page is then fetched whole), not as an
/// error that would stop the crawl.
fn links_col(row: &Row, idx: usize) -> DbResult<Option<Vec<String>>> {
    let text: Option<String> = row.get(idx)?;
    Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
}

/// A page's links as stored: JSON, or NULL when not known.
fn links_json(links: &Option<Vec<String>>) -> Option<String> {
    links.as_ref().and_then(|l| serde_json::to_string(l).ok())
}

fn body_info_from_row(row: &Row) -> DbResult<BodyInfo> {
    Ok(BodyInfo {
        sha256: row.get(0)?,
        original_size: row.count(1)?,
        stored_size: row.count(2)?,
        truncated: row.get(3)?,
        first_stored_at: row.get(4)?,
        last_seen_at: row.get(5)?,
        pruned_at: row.get(6)?,
        screenshot_taken_at: row.get(7)?,
    })
}

/// The statements that find a page or its flags by URL, as `db`'s dialect spells them (see
/// `sql::ByUrl`: PostgreSQL indexes a URL by its MD5).
fn by_url(db: &dyn Db) -> &'static sql::ByUrl {
    match db.dialect() {
        Dialect::Sqlite => &sql::BY_URL_SQLITE,
        Dialect::Postgres => &sql::BY_URL_POSTGRES,
    }
}

/// The filters both audit logs (flag events and case events) take.
pub(super) struct AuditFilter<'a> {
    /// The column naming whose events these are, and the one asked for.
    pub owner: (&'static str, Option<i64>),
    pub actor: Option<&'a str>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub before_id: Option<i64>,
    pub limit: usize,
}

/// An audit log's page, newest first: the statement and its parameters.
pub(super) fn audit_query(table: &str, columns: &str, f: &AuditFilter<'_>) -> (String, Where) {
    let mut w = Where::default();
    if let (column, Some(owner)) = f.owner {
        w.add(&format!("{column} = {{}}"), vec![Val::Int(owner)]);
    }
    if let Some(actor) = f.actor {
        w.add("actor = {}", vec![Val::Text(actor.to_string())]);
    }
    if let Some(from) = f.from {
        w.add("at >= {}", vec![Val::Int(from)]);
    }
    if let Some(to) = f.to {
        w.add("at < {}", vec![Val::Int(to)]);
    }
    if let Some(before) = f.before_id {
        w.add("id < {}", vec![Val::Int(before)]);
    }
    let q = format!(
        "SELECT {columns} FROM {table}{} ORDER BY id DESC LIMIT {}",
        w.sql(),
        clamp_limit(f.limit)
    );
    (q, w)
}

fn clamp_limit(limit: usize) -> usize {
    match limit {
        0 => 100,
        n => n.min(1000),
    }
}

impl<B: Backend> Engine<B> {
    fn db_path(&self) -> &Path {
        self.db.path()
    }

    fn webhook_targets(&self) -> Vec<WebhookTarget> {
        self.webhooks
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn load_flag(&self, db: &dyn Db, id: FlagId) -> Result<Option<Flag>> {
        load_flag(db, self.db_path(), id)
    }

    fn act_in(
        &self,
        tx: &dyn Db,
        id: FlagId,
        action: &FlagAction,
        actor: &str,
        at: Timestamp,
        expected_version: Option<i64>,
    ) -> Result<Flag> {
        let path = self.db_path();
        // Refused (a conflict, an unknown flag, a wrong state) before anything is written:
        // `act_many` keeps going after a refusal in the same transaction.
        let (state, version): (FlagState, i64) = tx
            .row(sql::LOCK_FLAG, vals![id], |r| Ok((r.parse(0)?, r.get(1)?)))
            .ctx(path, || format!("reading the state of flag {id}"))?
            .ok_or(StoreError::FlagNotFound(id))?;
        if let Some(expected) = expected_version
            && expected != version
        {
            return Err(StoreError::FlagVersionConflict {
                id,
                expected,
                actual: version,
            });
        }
        let step = step(tx, path, id, state, action)?;
        if step.kind == EventKind::Comment {
            tx.execute(sql::BUMP_FLAG_VERSION, vals![id])
                .ctx(path, || format!("commenting on flag {id}"))?;
        }
        if let Some(to) = step.to {
            tx.execute(sql::SET_FLAG_STATE, vals![id, to.as_str(), at])
                .ctx(path, || format!("setting flag {id} to {to}"))?;
        }
        let (from_s, to_s) = match step.to {
            Some(to) => (Some(state.as_str()), Some(to.as_str())),
            None => (None, None),
        };
        tx.execute(
            sql::INSERT_EVENT,
            vals![
                id,
                at,
                actor,
                step.kind.as_str(),
                from_s,
                to_s,
                step.text,
                Option::<String>::None
            ],
        )
        .ctx(path, || {
            format!("recording the {} of flag {id}", action.name())
        })?;
        let flag = self
            .load_flag(tx, id)?
            .ok_or(StoreError::FlagNotFound(id))?;
        if let Some(to) = step.to {
            let change = Change {
                at,
                actor,
                from: Some(state),
                to,
                reason: step.text.as_deref(),
                run_key: None,
            };
            enqueue(tx, path, &self.webhook_targets(), &flag, &change)?;
            // A flag a reviewer reopened belongs in the site's active case.
            cases::CaseSync {
                tx,
                path,
                site: &flag.site,
                at,
                run_key: None,
                saw_site: false,
                margin: self.config.case_rescore_margin,
                targets: &self.webhook_targets(),
            }
            .run()?;
            return self.load_flag(tx, id)?.ok_or(StoreError::FlagNotFound(id));
        }
        Ok(flag)
    }
}

/// What an action does to a flag: the event it records, the state it moves the flag to (none
/// for an assignment or a comment), and the event's text.
struct Step {
    kind: EventKind,
    to: Option<FlagState>,
    text: Option<String>,
}

/// The step `action` takes from `state`, when the flag's lifecycle allows it. An assignment
/// is written here, being no state change.
fn step(
    tx: &dyn Db,
    path: &Path,
    id: FlagId,
    state: FlagState,
    action: &FlagAction,
) -> Result<Step> {
    let invalid = || StoreError::InvalidTransition {
        id,
        from: state,
        action: action.name(),
    };
    let nonempty = |s: &Option<String>| {
        s.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let state_change = |to: FlagState, text: Option<String>| Step {
        kind: EventKind::State,
        to: Some(to),
        text,
    };
    Ok(match action {
        FlagAction::Confirm { reason } => {
            if !matches!(state, FlagState::Open | FlagState::Reopened) {
                return Err(invalid());
            }
            state_change(FlagState::Confirmed, nonempty(reason))
        }
        FlagAction::Dismiss { reason } => {
            let reason = reason.trim();
            if reason.is_empty() {
                return Err(StoreError::ReasonRequired(id));
            }
            if !state.is_active() {
                return Err(invalid());
            }
            state_change(FlagState::Dismissed, Some(reason.to_string()))
        }
        FlagAction::Reopen { reason } => {
            if !matches!(
                state,
                FlagState::Confirmed | FlagState::Dismissed | FlagState::Resolved
            ) {
                return Err(invalid());
            }
            state_change(FlagState::Reopened, nonempty(reason))
        }
        FlagAction::Assign { assignee } => {
            let assignee = nonempty(assignee);
            tx.execute(sql::SET_FLAG_ASSIGNEE, vals![id, assignee])
                .ctx(path, || format!("assigning flag {id}"))?;
            Step {
                kind: EventKind::Assign,
                to: None,
                text: assignee,
            }
        }
        FlagAction::Comment { text } => {
            let text = text.trim();
            if text.is_empty() {
                return Err(StoreError::EmptyComment(id));
            }
            Step {
                kind: EventKind::Comment,
                to: None,
                text: Some(text.to_string()),
            }
        }
    })
}

/// The conditions of a flag list's filters (not its cursor).
fn flag_filter_where(filter: &FlagFilter) -> Where {
    let mut w = Where::default();
    w.any_of(
        "f.state",
        filter
            .states
            .iter()
            .map(|s| Val::Text(s.as_str().into()))
            .collect(),
    );
    w.any_of(
        "f.category",
        filter
            .categories
            .iter()
            .map(|c| Val::Text(c.clone()))
            .collect(),
    );
    w.any_of(
        "f.severity",
        filter
            .severities
            .iter()
            .map(|s| Val::Text(s.as_str().into()))
            .collect(),
    );
    if let Some(rule) = &filter.rule {
        // Any signal of the rule, not only the strongest: a rule being tuned is judged on
        // every flag it contributed to.
        w.add(
            "(f.rule = {} OR f.signals LIKE {} ESCAPE '\\')",
            vec![Val::Text(rule.clone()), Val::Text(rule_pattern(rule))],
        );
    }
    if let Some(site) = &filter.site {
        w.add("f.site_id = {}", vec![Val::Text(site.clone())]);
    }
    if let Some(customer) = &filter.customer {
        w.add("s.customer = {}", vec![Val::Text(customer.clone())]);
    }
    if let Some(from) = filter.created_from {
        w.add("f.created_at >= {}", vec![Val::Int(from)]);
    }
    if let Some(to) = filter.created_to {
        w.add("f.created_at < {}", vec![Val::Int(to)]);
    }
    w
}

/// Continue a list after `cursor` (`n:ID`, `o:ID` or `s:RANK:ID`, as the sort wrote it).
fn after_cursor(w: &mut Where, sort: FlagSort, cursor: &str) -> Result<()> {
    let prefix = match sort {
        FlagSort::Newest => "n",
        FlagSort::Oldest => "o",
        FlagSort::Severity => "s",
    };
    let bad = || StoreError::BadCursor(cursor.to_string());
    let mut parts = cursor.split(':');
    if parts.next() != Some(prefix) {
        return Err(bad());
    }
    let mut num = || -> Result<i64> { parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad) };
    match sort {
        FlagSort::Newest => {
            let id = num()?;
            w.add("f.id < {}", vec![Val::Int(id)]);
        }
        FlagSort::Oldest => {
            let id = num()?;
            w.add("f.id > {}", vec![Val::Int(id)]);
        }
        FlagSort::Severity => {
            let rank = num()?;
            let id = num()?;
            w.add(
                "(f.severity_rank < {} OR (f.severity_rank = {} AND f.id < {}))",
                vec![Val::Int(rank), Val::Int(rank), Val::Int(id)],
            );
        }
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(())
}

struct ExistingFlag {
    id: FlagId,
    state: FlagState,
    category: String,
    severity: Severity,
    /// The stored score: for a dismissed flag, the one the reviewer dismissed.
    score: Option<f64>,
}

impl<B: Backend> Store for Engine<B> {
    fn upsert_sites(&self, sites: &[SiteInfo], now: Timestamp) -> Result<()> {
        self.db.write("the inventory upsert", |tx| {
            for s in sites {
                let domains =
                    serde_json::to_string(&s.domains).map_err(|source| StoreError::Json {
                        what: "site domains",
                        source,
                    })?;
                let c = &s.contact;
                tx.execute(
                    sql::UPSERT_SITE,
                    vals![
                        s.id,
                        s.customer,
                        domains,
                        now,
                        c.customer_name,
                        c.contact_email,
                        c.contact_phone,
                        c.account_manager,
                        host_key(&s.domains),
                        origin_key(s.origin.as_deref())
                    ],
                )
                .ctx(self.db_path(), || format!("upserting site `{}`", s.id))?;
            }
            Ok(())
        })
    }

    fn remove_sites(&self, ids: &[String], now: Timestamp) -> Result<u64> {
        self.db.write("the inventory removal", |tx| {
            let mut n = 0;
            for id in ids {
                n += tx
                    .execute(sql::REMOVE_SITE, vals![id, now])
                    .ctx(self.db_path(), || format!("removing site `{id}`"))?;
            }
            Ok(n)
        })
    }

    fn site(&self, id: &str) -> Result<Option<SiteRecord>> {
        let q = format!("SELECT {} FROM sites s WHERE s.id = ?1", sql::SITE_COLUMNS);
        self.db.read("reading a site", |db| {
            db.row(&q, vals![id], site_from_row)
                .ctx(self.db_path(), || format!("reading site `{id}`"))
        })
    }

    fn sites(
        &self,
        include_removed: bool,
        after_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<SiteRecord>> {
        let mut w = Where::default();
        if !include_removed {
            w.clauses.push("s.in_inventory = 1".into());
        }
        if let Some(after) = after_id {
            w.add("s.id > {}", vec![Val::Text(after.to_string())]);
        }
        let mut q = format!(
            "SELECT {} FROM sites s{} ORDER BY s.id",
            sql::SITE_COLUMNS,
            w.sql()
        );
        if limit > 0 {
            q.push_str(&format!(" LIMIT {limit}"));
        }
        self.db.read("the site list", |db| {
            db.rows(&q, &w.params, site_from_row)
                .ctx(self.db_path(), || "listing sites".into())
        })
    }

    fn customer_sites(&self, customer: &str) -> Result<Vec<SiteRecord>> {
        let q = format!(
            "SELECT {} FROM sites s WHERE s.customer = ?1 ORDER BY s.id",
            sql::SITE_COLUMNS
        );
        self.db.read("the customer's sites", |db| {
            db.rows(&q, vals![customer], site_from_row)
                .ctx(self.db_path(), || {
                    format!("listing the sites of customer `{customer}`")
                })
        })
    }

    fn set_filing_status(&self, site: &str, status: &str, checked_at: Timestamp) -> Result<()> {
        let n = self.db.write("a filing status", |tx| {
            tx.execute(sql::SET_FILING, vals![site, status, checked_at])
                .ctx(self.db_path(), || {
                    format!("setting the filing status of site `{site}`")
                })
        })?;
        if n == 0 {
            return Err(StoreError::SiteNotFound(site.to_string()));
        }
        Ok(())
    }

    fn site_counts_by_filing_status(&self) -> Result<Vec<(String, u64)>> {
        self.db.read("the filing counts", |db| {
            db.rows(sql::SITES_BY_FILING, &[], |r| Ok((r.get(0)?, r.count(1)?)))
                .ctx(self.db_path(), || "counting sites by filing status".into())
        })
    }

    fn next_due(&self, site: &str) -> Result<Option<Timestamp>> {
        self.db
            .read("a next due time", |db| {
                db.row(sql::NEXT_DUE, vals![site], |r| r.get::<Option<i64>>(0))
                    .ctx(self.db_path(), || {
                        format!("reading the next due time of site `{site}`")
                    })
            })?
            .ok_or_else(|| StoreError::SiteNotFound(site.to_string()))
    }

    fn set_next_due(&self, site: &str, at: Timestamp) -> Result<()> {
        let n = self.db.write("a next due time", |tx| {
            tx.execute(sql::SET_NEXT_DUE, vals![site, at])
                .ctx(self.db_path(), || {
                    format!("setting the next due time of site `{site}`")
                })
        })?;
        if n == 0 {
            return Err(StoreError::SiteNotFound(site.to_string()));
        }
        Ok(())
    }

    fn set_next_due_many(&self, due: &[(String, Timestamp)]) -> Result<()> {
        self.db.write("the next due times", |tx| {
            for (site, at) in due {
                // Sites that left the inventory meanwhile are skipped, not an error: the
                // scheduler's view may be a reload behind.
                tx.execute(sql::SET_NEXT_DUE, vals![site, at])
                    .ctx(self.db_path(), || {
                        format!("setting the next due time of site `{site}`")
                    })?;
            }
            Ok(())
        })
    }

    fn all_next_due(&self) -> Result<Vec<(String, Timestamp)>> {
        self.db.read("the next due list", |db| {
            db.rows(sql::ALL_NEXT_DUE, &[], |r| Ok((r.get(0)?, r.get(1)?)))
                .ctx(self.db_path(), || "reading the next due times".into())
        })
    }

    fn claim_due_sites(
        &self,
        owner: &str,
        now: Timestamp,
        limit: usize,
        until: Timestamp,
    ) -> Result<Vec<String>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let path = self.db_path();
        let limit = limit as i64;
        self.db
            .write("a claim of due sites", |tx| match tx.dialect() {
                Dialect::Postgres => {
                    // Claims are serialized (a transaction lock per schema, held for the one
                    // statement): SKIP LOCKED alone keeps two daemons off one row, but not off
                    // two rows of one host picked at once, each unaware of the other's claim.
                    tx.execute(
                        "SELECT pg_advisory_xact_lock(?1, hashtext(current_schema()))",
                        vals![CLAIM_LOCK],
                    )
                    .ctx(path, || "taking the claim lock".into())?;
                    let mut ids: Vec<String> = tx
                        .rows(sql::CLAIM_POSTGRES, vals![owner, now, limit, until], |r| {
                            r.get(0)
                        })
                        .ctx(path, || "claiming due sites".into())?;
                    ids.sort();
                    Ok(ids)
                }
                Dialect::Sqlite => {
                    let mut ids: Vec<String> = tx
                        .rows(sql::CLAIM_CANDIDATES, vals![owner, now, limit], |r| {
                            r.get(0)
                        })
                        .ctx(path, || "reading due sites".into())?;
                    ids.sort();
                    for id in &ids {
                        tx.execute(sql::TAKE_LEASE, vals![id, owner, until])
                            .ctx(path, || format!("leasing site `{id}`"))?;
                    }
                    Ok(ids)
                }
            })
    }

    fn renew_leases(&self, owner: &str, sites: &[String], until: Timestamp) -> Result<Vec<String>> {
        if sites.is_empty() {
            return Ok(Vec::new());
        }
        self.db.write("a lease renewal", |tx| {
            let mut held = Vec::new();
            for site in sites {
                let n = tx
                    .execute(sql::RENEW_LEASE, vals![site, owner, until])
                    .ctx(self.db_path(), || format!("renewing the lease of `{site}`"))?;
                if n > 0 {
                    held.push(site.clone());
                }
            }
            Ok(held)
        })
    }

    fn release_leases(&self, owner: &str, sites: &[String]) -> Result<u64> {
        if sites.is_empty() {
            return Ok(0);
        }
        self.db.write("a lease release", |tx| {
            let mut n = 0;
            for site in sites {
                n += tx
                    .execute(sql::RELEASE_LEASE, vals![site, owner])
                    .ctx(self.db_path(), || {
                        format!("releasing the lease of `{site}`")
                    })?;
            }
            Ok(n)
        })
    }

    fn finish_lease(&self, site: &str, owner: &str, next_due: Timestamp) -> Result<bool> {
        let n = self.db.write("a lease's end", |tx| {
            tx.execute(sql::FINISH_LEASE, vals![site, owner, next_due])
                .ctx(self.db_path(), || format!("ending the lease of `{site}`"))
        })?;
        Ok(n > 0)
    }

    fn clear_leases(&self) -> Result<u64> {
        self.db.write("clearing the leases", |tx| {
            tx.execute(sql::CLEAR_LEASES, &[])
                .ctx(self.db_path(), || "clearing the leases".into())
        })
    }

    fn request_crawl(&self, site: &str, now: Timestamp) -> Result<CrawlRequest> {
        let path = self.db_path();
        self.db.write("a recrawl request", |tx| {
            let n = tx
                .execute(sql::MAKE_DUE, vals![site, now])
                .ctx(path, || format!("making site `{site}` due"))?;
            if n > 0 {
                return Ok(CrawlRequest::Due);
            }
            let row: Option<i64> = tx
                .row(sql::SITE_LEASE, vals![site], |r| r.get(0))
                .ctx(path, || format!("reading the lease of `{site}`"))?;
            Ok(match row {
                Some(1) => CrawlRequest::Leased,
                _ => CrawlRequest::NotFound,
            })
        })
    }

    fn leases(&self, now: Timestamp) -> Result<Vec<Lease>> {
        self.db.read("the leases", |db| {
            db.rows(sql::LEASES, vals![now], |r| {
                Ok(Lease {
                    site: r.get(0)?,
                    owner: r.get(1)?,
                    until: r.get(2)?,
                    host: r.get(3)?,
                    origin: r.get(4)?,
                })
            })
            .ctx(self.db_path(), || "reading the leases".into())
        })
    }

    fn overdue_sites(&self, now: Timestamp) -> Result<u64> {
        self.db.read("the backlog", |db| {
            db.one(sql::OVERDUE_SITES, vals![now], |r| r.count(0))
                .ctx(self.db_path(), || "counting overdue sites".into())
        })
    }

    fn elector(&self) -> Result<Box<dyn crate::Elector>> {
        self.db.elector()
    }

    fn page_state(&self, site: &str, url: &str) -> Result<Option<PageState>> {
        self.db.read("a page", |db| {
            db.row(by_url(db).page_state, vals![site, url], |r| {
                page_state_from_row(r, 0)
            })
            .ctx(self.db_path(), || {
                format!("reading page {url} of site `{site}`")
            })
        })
    }

    fn page_states(&self, site: &str) -> Result<Vec<(String, PageState)>> {
        self.db.read("the page list", |db| {
            db.rows(sql::PAGE_STATES, vals![site], |r| {
                Ok((r.get(0)?, page_state_from_row(r, 1)?))
            })
            .ctx(self.db_path(), || {
                format!("reading the pages of site `{site}`")
            })
        })
    }

    fn save_checkpoint(&self, checkpoint: &Checkpoint) -> Result<()> {
        let c = checkpoint;
        let context = format!("the checkpoint of crawl run `{}`", c.run_key);
        self.db.write(&context, |tx| {
            tx.execute(
                sql::SAVE_CHECKPOINT,
                vals![c.site, c.run_key, c.saved_at, c.state],
            )
            .ctx(self.db_path(), || {
                format!("saving the checkpoint of site `{}`", c.site)
            })?;
            Ok(())
        })
    }

    fn checkpoint(&self, site: &str) -> Result<Option<Checkpoint>> {
        self.db.read("a checkpoint", |db| {
            db.row(sql::CHECKPOINT, vals![site], |r| {
                Ok(Checkpoint {
                    site: r.get(0)?,
                    run_key: r.get(1)?,
                    saved_at: r.get(2)?,
                    state: r.get(3)?,
                })
            })
            .ctx(self.db_path(), || {
                format!("reading the checkpoint of site `{site}`")
            })
        })
    }

    fn delete_checkpoint(&self, site: &str) -> Result<bool> {
        self.db.write("a checkpoint", |tx| {
            let n = tx
                .execute(sql::DELETE_CHECKPOINT, vals![site])
                .ctx(self.db_path(), || {
                    format!("deleting the checkpoint of site `{site}`")
                })?;
            Ok(n > 0)
        })
    }

    fn record_crawl(&self, run: &CrawlRun, pages: &[IngestPage]) -> Result<IngestOutcome> {
        let path = self.db_path();
        let context = format!("crawl run `{}` of site `{}`", run.key, run.site);
        self.db.write(&context, |tx| {
            let prior: Option<String> = tx
                .row(sql::RUN_INGEST_BY_KEY, vals![run.key], |r| r.get(0))
                .ctx(path, || format!("looking up {context}"))?;
            if let Some(prior) = prior {
                let mut out: IngestOutcome =
                    serde_json::from_str(&prior).map_err(|_| StoreError::Corrupt {
                        what: "ingest outcome",
                        value: prior.clone(),
                    })?;
                out.replayed = true;
                release_with_run(tx, path, run)?;
                return Ok(out);
            }
            let exists: i64 = tx
                .one(sql::SITE_EXISTS, vals![run.site], |r| r.get(0))
                .ctx(path, || format!("looking up site `{}`", run.site))?;
            if exists == 0 {
                return Err(StoreError::SiteNotFound(run.site.clone()));
            }
            let mut out = IngestOutcome::default();
            for page in pages {
                ingest_page(tx, path, &self.config, run, page, &mut out)?;
            }
            let targets = self.webhook_targets();
            out.cases = cases::CaseSync {
                tx,
                path,
                site: &run.site,
                at: run.finished_at,
                run_key: Some(&run.key),
                saw_site: run.outcome.saw_the_site(),
                margin: self.config.case_rescore_margin,
                targets: &targets,
            }
            .run()?;
            if !targets.is_empty() {
                // The run's own state events (run keys are unique and a replay returned
                // above): each becomes the outbox rows of the webhooks that want it.
                let events: Vec<FlagEvent> = tx
                    .rows(sql::STATE_EVENTS_OF_RUN, vals![run.key], event_from_row)
                    .ctx(path, || format!("reading the events of {context}"))?;
                for ev in events {
                    let flag = self
                        .load_flag(tx, ev.flag_id)?
                        .ok_or(StoreError::FlagNotFound(ev.flag_id))?;
                    let Some(to) = ev.to_state else { continue };
                    let change = Change {
                        at: ev.at,
                        actor: &ev.actor,
                        from: ev.from_state,
                        to,
                        reason: ev.reason.as_deref(),
                        run_key: ev.run_key.as_deref(),
                    };
                    enqueue(tx, path, &targets, &flag, &change)?;
                }
            }
            let cutoff = run
                .finished_at
                .saturating_sub(self.config.body_retention_secs);
            // Not reported in the outcome: the review API serves the outcome under a fixed
            // schema, and prune_bodies answers the count when someone needs it.
            tx.execute(sql::PRUNE_BODIES, vals![run.finished_at, cutoff])
                .ctx(path, || format!("pruning bodies in {context}"))?;
            // The crawl is recorded: a checkpoint of it has nothing left to resume.
            tx.execute(sql::DELETE_CHECKPOINT, vals![run.site])
                .ctx(path, || format!("deleting the checkpoint of {context}"))?;
            tx.execute(sql::SET_LAST_CRAWL, vals![run.site, run.finished_at])
                .ctx(path, || {
                    format!("updating the last crawl of site `{}`", run.site)
                })?;
            release_with_run(tx, path, run)?;
            let stats = serde_json::to_string(&run.stats).map_err(|source| StoreError::Json {
                what: "crawl stats",
                source,
            })?;
            let ingest = serde_json::to_string(&out).map_err(|source| StoreError::Json {
                what: "ingest outcome",
                source,
            })?;
            tx.execute(
                sql::INSERT_RUN,
                vals![
                    run.key,
                    run.site,
                    run.started_at,
                    run.finished_at,
                    run.outcome.as_str(),
                    run.rules_version,
                    stats,
                    ingest
                ],
            )
            .ctx(path, || format!("recording {context}"))?;
            Ok(out)
        })
    }

    fn crawl_runs(&self, site: &str, limit: usize) -> Result<Vec<CrawlRunRecord>> {
        self.db.read("the run list", |db| {
            db.rows(sql::RUNS_OF_SITE, vals![site, clamp_limit(limit)], |r| {
                Ok(CrawlRunRecord {
                    id: r.get(0)?,
                    key: r.get(1)?,
                    site: r.get(2)?,
                    started_at: r.get(3)?,
                    finished_at: r.get(4)?,
                    outcome: r.parse(5)?,
                    rules_version: r.get(6)?,
                    stats: r.json(7)?,
                    ingest: r.json(8)?,
                })
            })
            .ctx(self.db_path(), || {
                format!("listing the crawl runs of site `{site}`")
            })
        })
    }

    fn flag(&self, id: FlagId) -> Result<Option<FlagDetail>> {
        // One snapshot: the flag, its events and its body as of one moment, even while a
        // crawl's ingest commits in between.
        self.db.snapshot(&format!("reading flag {id}"), |db| {
            let Some(flag) = self.load_flag(db, id)? else {
                return Ok(None);
            };
            let events = db
                .rows(sql::EVENTS_OF_FLAG, vals![id], event_from_row)
                .ctx(self.db_path(), || {
                    format!("reading the history of flag {id}")
                })?;
            let q = format!("SELECT {} FROM bodies WHERE sha256 = ?1", sql::BODY_COLUMNS);
            let body = db
                .row(&q, vals![flag.body_sha256], body_info_from_row)
                .ctx(self.db_path(), || format!("reading the body of flag {id}"))?;
            Ok(Some(FlagDetail { flag, events, body }))
        })
    }

    fn flag_by_fingerprint(&self, fingerprint: &str) -> Result<Option<Flag>> {
        let q = format!(
            "SELECT {} FROM {} WHERE f.fingerprint = ?1",
            sql::FLAG_COLUMNS,
            sql::FLAG_FROM
        );
        self.db.read("a flag", |db| {
            db.row(&q, vals![fingerprint], flag_from_row)
                .ctx(self.db_path(), || {
                    format!("reading the flag with fingerprint {fingerprint}")
                })
        })
    }

    fn list_flags(&self, filter: &FlagFilter) -> Result<FlagPage> {
        let mut w = flag_filter_where(filter);
        let order = match filter.sort {
            FlagSort::Newest => "f.id DESC",
            FlagSort::Oldest => "f.id ASC",
            FlagSort::Severity => "f.severity_rank DESC, f.id DESC",
        };
        if let Some(cursor) = &filter.cursor {
            after_cursor(&mut w, filter.sort, cursor)?;
        }
        let limit = clamp_limit(filter.limit);
        let q = format!(
            "SELECT {} FROM {}{} ORDER BY {order} LIMIT {}",
            sql::FLAG_COLUMNS,
            sql::FLAG_FROM,
            w.sql(),
            limit + 1
        );
        let mut flags: Vec<Flag> = self.db.read("the flag list", |db| {
            db.rows(&q, &w.params, flag_from_row)
                .ctx(self.db_path(), || "listing flags".into())
        })?;
        let next_cursor = if flags.len() > limit {
            flags.truncate(limit);
            flags.last().map(|f| match filter.sort {
                FlagSort::Newest => format!("n:{}", f.id),
                FlagSort::Oldest => format!("o:{}", f.id),
                FlagSort::Severity => format!("s:{}:{}", severity_rank(f.severity), f.id),
            })
        } else {
            None
        };
        Ok(FlagPage { flags, next_cursor })
    }

    fn flag_counts(&self) -> Result<Vec<FlagCount>> {
        self.db.read("the flag counts", |db| {
            db.rows(sql::FLAG_COUNTS, &[], |r| {
                Ok(FlagCount {
                    state: r.parse(0)?,
                    category: r.get(1)?,
                    severity: r.parse(2)?,
                    count: r.count(3)?,
                })
            })
            .ctx(self.db_path(), || "counting flags".into())
        })
    }

    fn act(
        &self,
        id: FlagId,
        action: &FlagAction,
        actor: &str,
        at: Timestamp,
        expected_version: Option<i64>,
    ) -> Result<Flag> {
        self.db
            .write(&format!("the {} of flag {id}", action.name()), |tx| {
                self.act_in(tx, id, action, actor, at, expected_version)
            })
    }

    fn act_many(
        &self,
        ids: &[FlagId],
        action: &FlagAction,
        actor: &str,
        at: Timestamp,
        expected_versions: &[(FlagId, i64)],
    ) -> Result<Vec<(FlagId, Result<Flag>)>> {
        let expected: HashMap<FlagId, i64> = expected_versions.iter().copied().collect();
        self.db.write(&format!("a bulk {}", action.name()), |tx| {
            let mut out = Vec::with_capacity(ids.len());
            for &id in ids {
                // Per-flag failures (wrong state, unknown id, a stale version) are answers,
                // not reasons to roll back the others; database failures still abort the
                // whole batch.
                match self.act_in(tx, id, action, actor, at, expected.get(&id).copied()) {
                    Err(e @ (StoreError::Db { .. } | StoreError::Json { .. })) => return Err(e),
                    r => out.push((id, r)),
                }
            }
            Ok(out)
        })
    }

    fn events(&self, filter: &EventFilter) -> Result<Vec<FlagEvent>> {
        let (q, w) = audit_query(
            "flag_events",
            sql::EVENT_COLUMNS,
            &AuditFilter {
                owner: ("flag_id", filter.flag),
                actor: filter.actor.as_deref(),
                from: filter.from,
                to: filter.to,
                before_id: filter.before_id,
                limit: filter.limit,
            },
        );
        self.db.read("the audit log", |db| {
            db.rows(&q, &w.params, event_from_row)
                .ctx(self.db_path(), || "reading the audit log".into())
        })
    }

    fn body(&self, sha256: &str) -> Result<Option<StoredBody>> {
        let q = format!(
            "SELECT {}, data FROM bodies WHERE sha256 = ?1",
            sql::BODY_COLUMNS
        );
        let row = self.db.read("a body", |db| {
            db.row(&q, vals![sha256], |r| {
                Ok((body_info_from_row(r)?, r.get::<Option<Vec<u8>>>(8)?))
            })
            .ctx(self.db_path(), || format!("reading body {sha256}"))
        })?;
        let Some((info, Some(data))) = row else {
            return Ok(None);
        };
        let data = decompress_body(&data, info.original_size as usize).map_err(|source| {
            StoreError::Body {
                sha256: sha256.to_string(),
                source,
            }
        })?;
        Ok(Some(StoredBody { info, data }))
    }

    fn screenshot(&self, sha256: &str) -> Result<Option<Vec<u8>>> {
        let png: Option<Option<Vec<u8>>> = self.db.read("a screenshot", |db| {
            db.row(sql::SCREENSHOT, vals![sha256], |r| r.get(0))
                .ctx(self.db_path(), || {
                    format!("reading the screenshot of body {sha256}")
                })
        })?;
        Ok(png.flatten())
    }

    fn prune_bodies(&self, now: Timestamp) -> Result<u64> {
        let cutoff = now.saturating_sub(self.config.body_retention_secs);
        self.db.write("pruning bodies", |tx| {
            tx.execute(sql::PRUNE_BODIES, vals![now, cutoff])
                .ctx(self.db_path(), || "pruning bodies".into())
        })
    }

    fn set_webhook_targets(&self, targets: &[WebhookTarget]) {
        *self
            .webhooks
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = targets.to_vec();
    }

    fn claim_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<Delivery>> {
        let path = self.db_path();
        self.db.write("claiming webhook deliveries", |tx| {
            let ids: Vec<i64> = tx
                .rows(sql::OUTBOX_DUE, vals![now, clamp_limit(limit)], |r| {
                    r.get(0)
                })
                .ctx(path, || "finding due webhook deliveries".into())?;
            let mut out = Vec::with_capacity(ids.len());
            let q = format!("SELECT {} FROM outbox WHERE id = ?1", sql::OUTBOX_COLUMNS);
            for id in ids {
                tx.execute(sql::OUTBOX_CLAIM, vals![id, lease_until])
                    .ctx(path, || format!("claiming webhook delivery {id}"))?;
                let d = tx
                    .one(&q, vals![id], delivery_from_row)
                    .ctx(path, || format!("reading webhook delivery {id}"))?;
                out.push(d);
            }
            Ok(out)
        })
    }

    fn mark_delivered(&self, id: i64, at: Timestamp, http_status: u16) -> Result<bool> {
        let path = self.db_path();
        self.db.write(&format!("webhook delivery {id}"), |tx| {
            tx.execute(sql::OUTBOX_DELIVERED, vals![id, at, http_status])
                .map(|n| n > 0)
                .ctx(path, || format!("marking webhook delivery {id} delivered"))
        })
    }

    fn mark_attempt_failed(
        &self,
        id: i64,
        http_status: Option<u16>,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> Result<bool> {
        let path = self.db_path();
        self.db.write(&format!("webhook delivery {id}"), |tx| {
            match retry_at {
                Some(at) => tx.execute(sql::OUTBOX_RETRY, vals![id, at, http_status, error]),
                None => tx.execute(sql::OUTBOX_GIVE_UP, vals![id, http_status, error]),
            }
            .map(|n| n > 0)
            .ctx(path, || {
                format!("recording a failed attempt of webhook delivery {id}")
            })
        })
    }

    fn deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<Delivery>> {
        let mut w = Where::default();
        if let Some(status) = filter.status {
            w.add("status = {}", vec![Val::Text(status.as_str().into())]);
        }
        if let Some(webhook) = &filter.webhook {
            w.add("webhook = {}", vec![Val::Text(webhook.clone())]);
        }
        if let Some(flag) = filter.flag {
            w.add("flag_id = {}", vec![Val::Int(flag)]);
        }
        if let Some(before) = filter.before_id {
            w.add("id < {}", vec![Val::Int(before)]);
        }
        let q = format!(
            "SELECT {} FROM outbox{} ORDER BY id DESC LIMIT {}",
            sql::OUTBOX_COLUMNS,
            w.sql(),
            clamp_limit(filter.limit)
        );
        self.db.read("the delivery list", |db| {
            db.rows(&q, &w.params, delivery_from_row)
                .ctx(self.db_path(), || "listing webhook deliveries".into())
        })
    }

    fn delivery_counts(&self) -> Result<Vec<(DeliveryStatus, u64)>> {
        let found: HashMap<String, i64> = self.db.read("the delivery counts", |db| {
            db.rows(sql::OUTBOX_COUNTS, &[], |r| Ok((r.get(0)?, r.get(1)?)))
                .map(|rows| rows.into_iter().collect())
                .ctx(self.db_path(), || "counting webhook deliveries".into())
        })?;
        Ok(DeliveryStatus::ALL
            .into_iter()
            .map(|s| (s, found.get(s.as_str()).copied().unwrap_or(0).max(0) as u64))
            .collect())
    }

    fn list_cases(&self, filter: &CaseFilter) -> Result<CasePage> {
        self.db.read("the case queue", |db| {
            cases::list_cases(db, self.db_path(), filter)
        })
    }

    fn case(&self, id: CaseId) -> Result<Option<CaseDetail>> {
        self.db.snapshot(&format!("reading case {id}"), |db| {
            cases::case_detail(db, self.db_path(), id)
        })
    }

    fn act_on_case(
        &self,
        id: CaseId,
        action: &CaseAction,
        actor: &str,
        at: Timestamp,
        expected_version: Option<i64>,
    ) -> Result<Case> {
        let targets = self.webhook_targets();
        self.db
            .write(&format!("the {} of case {id}", action.name()), |tx| {
                cases::act_on_case(
                    tx,
                    self.db_path(),
                    &targets,
                    id,
                    action,
                    actor,
                    at,
                    expected_version,
                )
            })
    }

    fn case_counts(&self) -> Result<Vec<CaseCount>> {
        self.db.read("the case counts", |db| {
            cases::case_counts(db, self.db_path())
        })
    }

    fn case_events(&self, filter: &CaseEventFilter) -> Result<Vec<CaseEvent>> {
        self.db.read("the case audit log", |db| {
            cases::case_events(db, self.db_path(), filter)
        })
    }

    fn claim_case_rechecks(&self, now: Timestamp, limit: usize) -> Result<Vec<Case>> {
        self.db.write("claiming the case rechecks", |tx| {
            cases::claim_rechecks(tx, self.db_path(), now, limit)
        })
    }

    fn schema_version(&self) -> Result<i64> {
        self.db.read("the schema version", |db| {
            db.one(sql::SCHEMA_VERSION, &[], |r| r.get(0))
                .ctx(self.db_path(), || "reading the schema version".into())
        })
    }

    fn create_login_link(
        &self,
        hash: &str,
        created_at: Timestamp,
        expires_at: Timestamp,
    ) -> Result<()> {
        let path = self.db_path();
        self.db.write("a login link", |tx| {
            tx.execute(sql::LOGIN_LINKS_SUPERSEDE, vals![created_at])
                .ctx(path, || "superseding the older login links".into())?;
            tx.execute(sql::LOGIN_LINK_INSERT, vals![hash, created_at, expires_at])
                .ctx(path, || "recording a login link".into())?;
            Ok(())
        })
    }

    fn consume_login_link(&self, hash: &str, now: Timestamp) -> Result<super::LoginLinkUse> {
        let path = self.db_path();
        self.db.write("a login link's use", |tx| {
            let used = tx
                .execute(sql::LOGIN_LINK_CONSUME, vals![hash, now])
                .ctx(path, || "using a login link".into())?;
            if used > 0 {
                return Ok(super::LoginLinkUse::Used);
            }
            // Why not, for the page that says so; in the same transaction as the attempt.
            let row: Option<(Timestamp, Option<Timestamp>, Option<Timestamp>)> = tx
                .row(sql::LOGIN_LINK_GET, vals![hash], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .ctx(path, || "reading a login link".into())?;
            Ok(match row {
                None => super::LoginLinkUse::Unknown,
                Some((_, Some(_), _)) => super::LoginLinkUse::AlreadyUsed,
                Some((_, None, Some(_))) => super::LoginLinkUse::Superseded,
                Some((_, None, None)) => super::LoginLinkUse::Expired,
            })
        })
    }

    fn case_report(&self, query: &super::ReportQuery) -> Result<super::CaseReport> {
        // One snapshot: the events and the runs as of one moment, even while a crawl
        // commits in between.
        self.db.snapshot("the case report", |db| {
            report::case_report(db, self.db_path(), query)
        })
    }
}

/// A flag with its site's customer.
fn load_flag(db: &dyn Db, path: &Path, id: FlagId) -> Result<Option<Flag>> {
    let q = format!(
        "SELECT {} FROM {} WHERE f.id = ?1",
        sql::FLAG_COLUMNS,
        sql::FLAG_FROM
    );
    db.row(&q, vals![id], flag_from_row)
        .ctx(path, || format!("reading flag {id}"))
}

fn ingest_page(
    tx: &dyn Db,
    path: &Path,
    config: &StoreConfig,
    run: &CrawlRun,
    page: &IngestPage,
    out: &mut IngestOutcome,
) -> Result<()> {
    let ingest = Ingest {
        tx,
        path,
        run,
        page,
        rescore_margin: config.case_rescore_margin,
    };
    out.pages += 1;
    let findings = match &page.scan {
        PageScan::NotScanned => return ingest.record_unmatched(),
        PageScan::Unchanged => return ingest.carry_over(out),
        PageScan::Matched(findings) | PageScan::Partial(findings) => findings,
    };
    ingest.record_matched()?;
    let mut existing = ingest.flags_of_url()?;
    let flags = page_flags(&run.site, &page.url, findings);
    if !flags.is_empty()
        && let Some(body) = &page.body
    {
        store_body(
            tx,
            path,
            config,
            &page.content_sha256,
            body,
            page.fetched_at,
            out,
        )?;
        if let Some(png) = &page.screenshot {
            store_screenshot(tx, path, &page.content_sha256, png, page.fetched_at)?;
        }
    }
    for flag in &flags {
        match existing.remove(&flag.fingerprint) {
            None => ingest.create(flag, out)?,
            Some(known) => ingest.seen_again(flag, known, out)?,
        }
    }
    // What is left was not found on a page that was fetched and matched: active flags
    // resolve, with this crawl as the proof. Only a whole read of the page is a proof.
    if !matches!(page.scan, PageScan::Matched(_)) {
        return Ok(());
    }
    let mut gone: Vec<ExistingFlag> = existing
        .into_values()
        .filter(|f| f.state.is_active())
        .collect();
    gone.sort_by_key(|f| f.id);
    for flag in gone {
        ingest.resolve(flag, out)?;
    }
    Ok(())
}

/// One page of a crawl being written, in the crawl's transaction.
struct Ingest<'a> {
    tx: &'a dyn Db,
    path: &'a Path,
    run: &'a CrawlRun,
    page: &'a IngestPage,
    /// How far a dismissed flag's score must rise before it is reviewed again.
    rescore_margin: f64,
}

impl Ingest<'_> {
    fn ctx(&self, what: &str) -> String {
        format!(
            "{what} for {} in crawl run `{}`",
            self.page.url, self.run.key
        )
    }

    fn status(&self) -> Option<i64> {
        self.page.http_status.map(i64::from)
    }

    fn record_unmatched(&self) -> Result<()> {
        let (run, page) = (self.run, self.page);
        self.tx
            .execute(
                by_url(self.tx).upsert_page_unmatched,
                vals![
                    run.site,
                    page.url,
                    self.status(),
                    page.etag,
                    page.last_modified,
                    page.fetched_at,
                    run.key
                ],
            )
            .ctx(self.path, || self.ctx("recording the page"))?;
        Ok(())
    }

    fn record_matched(&self) -> Result<()> {
        let (run, page) = (self.run, self.page);
        self.tx
            .execute(
                by_url(self.tx).upsert_page_matched,
                vals![
                    run.site,
                    page.url,
                    self.status(),
                    page.content_sha256,
                    page.etag,
                    page.last_modified,
                    page.fetched_at,
                    run.rules_version,
                    run.key,
                    links_json(&page.links)
                ],
            )
            .ctx(self.path, || self.ctx("recording the page"))?;
        Ok(())
    }

    /// Not matched again (same content, same rules): its active flags are still there.
    fn carry_over(&self, out: &mut IngestOutcome) -> Result<()> {
        self.record_matched()?;
        let (run, page) = (self.run, self.page);
        let carried = self
            .tx
            .execute(
                by_url(self.tx).carry_flags_of_url,
                vals![run.site, page.url, page.fetched_at, run.key],
            )
            .ctx(self.path, || self.ctx("carrying over the flags"))?;
        out.carried_over += carried;
        if carried > 0 {
            self.tx
                .execute(sql::TOUCH_BODY, vals![page.content_sha256, page.fetched_at])
                .ctx(self.path, || self.ctx("touching the body"))?;
        }
        Ok(())
    }

    fn flags_of_url(&self) -> Result<HashMap<String, ExistingFlag>> {
        self.tx
            .rows(
                by_url(self.tx).flags_of_url,
                vals![self.run.site, self.page.url],
                |r| {
                    Ok((
                        r.get::<String>(1)?,
                        ExistingFlag {
                            id: r.get(0)?,
                            state: r.parse(2)?,
                            category: r.get(3)?,
                            severity: r.parse(4)?,
                            score: r.get(5)?,
                        },
                    ))
                },
            )
            .map(|rows| rows.into_iter().collect())
            .ctx(self.path, || self.ctx("reading the existing flags"))
    }

    /// The sighting's evidence, bound as ?1..?20 of INSERT_FLAG and REFRESH_FLAG.
    fn evidence(&self, flag: &PageFlag) -> Result<Vec<Val>> {
        let f = &flag.head;
        let signals = flag.signals_json().map_err(|source| StoreError::Json {
            what: "a flag's signals",
            source,
        })?;
        let text = |s: &str| Val::Text(s.to_string());
        let opt_text = |s: Option<&str>| s.map_or(Val::Null, text);
        Ok(vec![
            text(&f.rule),
            text(&f.category),
            text(&f.clause),
            text(f.severity.as_str()),
            Val::Int(severity_rank(f.severity)),
            text(&f.description),
            opt_text(f.zone.map(|z| z.as_str())),
            text(&f.matched),
            text(&f.normalized),
            text(&f.snippet),
            Val::Int(f.offset as i64),
            Val::Int(f.count as i64),
            flag.score.map_or(Val::Null, Val::Real),
            Val::Text(signals),
            Val::Int(flag.signals_omitted as i64),
            Val::Int(self.page.fetched_at),
            self.status().map_or(Val::Null, Val::Int),
            opt_text(self.page.ip.as_deref()),
            text(&self.page.content_sha256),
            text(&self.run.key),
        ])
    }

    fn create(&self, flag: &PageFlag, out: &mut IngestOutcome) -> Result<()> {
        let mut values = self.evidence(flag)?;
        values.extend([
            Val::Text(flag.fingerprint.clone()),
            Val::Text(self.run.site.clone()),
            Val::Text(self.page.url.clone()),
        ]);
        let id: FlagId = self
            .tx
            .one(sql::INSERT_FLAG, &values, |r| r.get(0))
            .ctx(self.path, || {
                self.ctx(&format!("creating the {} flag", flag.head.category))
            })?;
        let reason = format!("found on {}", self.page.url);
        self.event(id, None, FlagState::Open, &reason)?;
        out.new.push(flag_ref(id, flag));
        Ok(())
    }

    /// A known page and category found again. Active flags take the new evidence (their
    /// severity moves with it); a resolved one also reopens; a dismissed one stays suppressed
    /// and keeps the evidence it was dismissed on.
    fn seen_again(
        &self,
        flag: &PageFlag,
        known: ExistingFlag,
        out: &mut IngestOutcome,
    ) -> Result<()> {
        let rose = match (known.score, flag.score) {
            (dismissed, Some(now)) => now > dismissed.unwrap_or(0.0) + self.rescore_margin,
            _ => false,
        };
        if known.state == FlagState::Dismissed && !rose {
            self.tx
                .execute(
                    sql::SEEN_FLAG,
                    vals![known.id, self.page.fetched_at, self.run.key],
                )
                .ctx(self.path, || {
                    self.ctx(&format!("updating flag {}", known.id))
                })?;
            out.suppressed += 1;
            return Ok(());
        }
        let mut values = self.evidence(flag)?;
        values.push(Val::Int(known.id));
        self.tx
            .execute(sql::REFRESH_FLAG, &values)
            .ctx(self.path, || {
                self.ctx(&format!("updating flag {}", known.id))
            })?;
        if !matches!(known.state, FlagState::Resolved | FlagState::Dismissed) {
            out.unchanged += 1;
            return Ok(());
        }
        self.set_state(known.id, FlagState::Reopened)?;
        // A dismissal covers the page as the reviewer saw it; a page that got clearly worse
        // is reviewed again (and goes to a new case, not back to the dismissed one).
        let reason = match known.state {
            FlagState::Dismissed => format!(
                "found again on {} with score {:.2}, more than the {:.2} dismissed plus the margin {:.2}",
                self.page.url,
                flag.score.unwrap_or(0.0),
                known.score.unwrap_or(0.0),
                self.rescore_margin
            ),
            _ => format!("found again on {}", self.page.url),
        };
        self.event(known.id, Some(known.state), FlagState::Reopened, &reason)?;
        out.reopened.push(flag_ref(known.id, flag));
        Ok(())
    }

    fn resolve(&self, flag: ExistingFlag, out: &mut IngestOutcome) -> Result<()> {
        self.set_state(flag.id, FlagState::Resolved)?;
        let status_note = self
            .page
            .http_status
            .map(|s| format!(" (HTTP {s})"))
            .unwrap_or_default();
        let reason = format!("no longer found on {}{status_note}", self.page.url);
        self.event(flag.id, Some(flag.state), FlagState::Resolved, &reason)?;
        out.resolved.push(FlagRef {
            id: flag.id,
            category: flag.category,
            severity: flag.severity,
        });
        Ok(())
    }

    fn set_state(&self, id: FlagId, to: FlagState) -> Result<()> {
        self.tx
            .execute(
                sql::SET_FLAG_STATE,
                vals![id, to.as_str(), self.page.fetched_at],
            )
            .ctx(self.path, || {
                self.ctx(&format!("setting flag {id} to {to}"))
            })?;
        Ok(())
    }

    fn event(
        &self,
        id: FlagId,
        from: Option<FlagState>,
        to: FlagState,
        reason: &str,
    ) -> Result<()> {
        event(
            self.tx,
            self.path,
            id,
            self.page.fetched_at,
            from,
            to,
            reason,
            &self.run.key,
        )
    }
}

fn flag_ref(id: FlagId, flag: &PageFlag) -> FlagRef {
    FlagRef {
        id,
        category: flag.head.category.to_string(),
        severity: flag.head.severity,
    }
}

fn delivery_from_row(row: &Row) -> DbResult<Delivery> {
    Ok(Delivery {
        id: row.get(0)?,
        webhook: row.get(1)?,
        event: row.parse(2)?,
        flag_id: row.get(3)?,
        payload: row.get(4)?,
        created_at: row.get(5)?,
        status: row.parse(6)?,
        attempts: row.get::<i64>(7)?.clamp(0, u32::MAX as i64) as u32,
        next_attempt_at: row.get(8)?,
        last_status: status_col(row, 9)?,
        last_error: row.get(10)?,
        delivered_at: row.get(11)?,
        case_id: row.get(12)?,
    })
}

/// A state change of a flag, as a webhook reports it.
struct Change<'a> {
    at: Timestamp,
    actor: &'a str,
    /// `None` when the change created the flag.
    from: Option<FlagState>,
    to: FlagState,
    reason: Option<&'a str>,
    run_key: Option<&'a str>,
}

/// Writes the outbox rows of one flag event for the webhooks that want it, in the caller's
/// transaction. The payload is fixed here, so every attempt sends the same bytes.
fn enqueue(
    tx: &dyn Db,
    path: &Path,
    targets: &[WebhookTarget],
    flag: &Flag,
    change: &Change<'_>,
) -> Result<()> {
    let event = match change.from {
        None => WebhookEvent::FlagNew,
        Some(_) => WebhookEvent::FlagStateChanged,
    };
    let wanted: Vec<&WebhookTarget> = targets
        .iter()
        .filter(|t| t.events.contains(&event))
        .filter(|t| event != WebhookEvent::FlagNew || flag.severity >= t.min_severity)
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let payload = serde_json::to_string(&serde_json::json!({
        "event": event,
        "at": change.at,
        "actor": change.actor,
        "from_state": change.from,
        "to_state": change.to,
        "reason": change.reason,
        "run_key": change.run_key,
        "flag": flag,
    }))
    .map_err(|source| StoreError::Json {
        what: "a webhook payload",
        source,
    })?;
    for target in wanted {
        tx.execute(
            sql::INSERT_OUTBOX,
            vals![target.name, event.as_str(), flag.id, payload, change.at],
        )
        .ctx(path, || {
            format!(
                "queueing the {event} of flag {} for webhook `{}`",
                flag.id, target.name
            )
        })?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn event(
    tx: &dyn Db,
    path: &Path,
    flag: FlagId,
    at: Timestamp,
    from: Option<FlagState>,
    to: FlagState,
    reason: &str,
    run_key: &str,
) -> Result<()> {
    tx.execute(
        sql::INSERT_EVENT,
        vals![
            flag,
            at,
            CRAWLER_ACTOR,
            EventKind::State.as_str(),
            from.map(|s| s.as_str()),
            to.as_str(),
            reason,
            run_key
        ],
    )
    .ctx(path, || format!("recording the {to} event of flag {flag}"))?;
    Ok(())
}

/// The page's screenshot, on its body's row (stored just before): the newest render of that
/// content replaces an older one.
fn store_screenshot(
    tx: &dyn Db,
    path: &Path,
    sha256: &str,
    png: &[u8],
    at: Timestamp,
) -> Result<()> {
    tx.execute(sql::SET_SCREENSHOT, vals![sha256, png, at])
        .ctx(path, || format!("storing the screenshot of body {sha256}"))?;
    Ok(())
}

fn store_body(
    tx: &dyn Db,
    path: &Path,
    config: &StoreConfig,
    sha256: &str,
    body: &[u8],
    at: Timestamp,
    out: &mut IngestOutcome,
) -> Result<()> {
    let present: Option<bool> = tx
        .row(sql::BODY_DATA_PRESENT, vals![sha256], |r| r.get(0))
        .ctx(path, || format!("looking up body {sha256}"))?;
    if present == Some(true) {
        tx.execute(sql::TOUCH_BODY, vals![sha256, at])
            .ctx(path, || format!("touching body {sha256}"))?;
        return Ok(());
    }
    // New, or pruned earlier and seen again: store the copy (again).
    let (data, truncated) = compress_body(body, config.body_cap_bytes);
    tx.execute(
        sql::INSERT_BODY,
        vals![
            sha256,
            body.len() as i64,
            data.len() as i64,
            truncated as i64,
            data,
            at
        ],
    )
    .ctx(path, || format!("storing body {sha256}"))?;
    out.bodies_stored += 1;
    Ok(())
}
