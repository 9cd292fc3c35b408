//! The SQLite backend: the embedded default.

mod cases;
mod report;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, RwLock};

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};

use super::signals::{PageFlag, page_flags, rule_pattern};
use super::sql;
use super::{
    BodyInfo, CRAWLER_ACTOR, Case, CaseAction, CaseCount, CaseDetail, CaseEvent, CaseEventFilter,
    CaseFilter, CaseId, CasePage, Checkpoint, CrawlRun, CrawlRunRecord, CustomerContact, Delivery,
    DeliveryFilter, DeliveryStatus, EventFilter, EventKind, Flag, FlagAction, FlagCount,
    FlagDetail, FlagEvent, FlagFilter, FlagId, FlagPage, FlagRef, FlagSort, FlagState,
    IngestOutcome, IngestPage, PageScan, PageState, Result, SiteInfo, SiteRecord, Store,
    StoreConfig, StoreError, StoredBody, Timestamp, WebhookEvent, WebhookTarget, compress_body,
    decompress_body,
};
use sitepatrol_core::finding::Severity;

struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
    /// Run after `sql`, in the same transaction: for what SQL alone cannot say portably
    /// (hashes, JSON). `now` is the time of the migration.
    code: Option<fn(tx: &Transaction<'_>, now: Timestamp) -> rusqlite::Result<()>>,
}

/// Numbered, embedded, applied in order in one transaction at open. Never edit a migration
/// that has shipped: add the next one.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("migrations/0001_init.sql"),
        code: None,
    },
    Migration {
        version: 2,
        name: "count_indexes",
        sql: include_str!("migrations/0002_count_indexes.sql"),
        code: None,
    },
    Migration {
        version: 3,
        name: "outbox",
        sql: include_str!("migrations/0003_outbox.sql"),
        code: None,
    },
    Migration {
        version: 4,
        name: "page_category_flags",
        sql: include_str!("migrations/0004_page_category_flags.sql"),
        code: Some(super::fold::fold_per_term_flags),
    },
    Migration {
        version: 5,
        name: "screenshots",
        sql: include_str!("migrations/0005_screenshots.sql"),
        code: None,
    },
    Migration {
        version: 6,
        name: "page_links",
        sql: include_str!("migrations/0006_page_links.sql"),
        code: None,
    },
    Migration {
        version: 7,
        name: "crawl_checkpoints",
        sql: include_str!("migrations/0007_crawl_checkpoints.sql"),
        code: None,
    },
    Migration {
        version: 8,
        name: "cases",
        sql: include_str!("migrations/0008_cases.sql"),
        code: Some(open_cases_of_existing_flags),
    },
    Migration {
        version: 9,
        name: "login_links",
        sql: include_str!("migrations/0009_login_links.sql"),
        code: None,
    },
    Migration {
        version: 10,
        name: "customers",
        sql: include_str!("migrations/0010_customers.sql"),
        code: None,
    },
];

/// Migration 8's code step: the active flags of an older store are gathered into cases, as a
/// crawl would gather them, so that the queue is complete from the first start.
fn open_cases_of_existing_flags(tx: &Transaction<'_>, now: Timestamp) -> rusqlite::Result<()> {
    let sites: Vec<String> = tx
        .prepare(sql::SITES_WITH_ACTIVE_FLAGS)?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for site in sites {
        cases::CaseSync {
            tx,
            path: Path::new("(migration)"),
            site: &site,
            at: now,
            run_key: None,
            saw_site: false,
            margin: 0.0,
            targets: &[],
        }
        .run()
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    }
    Ok(())
}

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i64 = 10;

impl SqliteStore {
    /// The versions of this build's migrations, in the order they apply; not every number
    /// up to [`SCHEMA_VERSION`] need be there.
    pub fn migration_versions() -> Vec<i64> {
        MIGRATIONS.iter().map(|m| m.version).collect()
    }
}

/// The SQLite store.
///
/// One writer connection behind a mutex (SQLite serializes writers anyway, so a pool would only
/// add lock contention), and for stores on disk a second, read-only connection for queries, so
/// that the review API and the metrics gauges read the last committed state while a crawl's
/// ingest is writing. Settings, and why:
///
/// - `journal_mode=WAL`: readers never block the writer and the writer never blocks readers.
/// - `synchronous=NORMAL`: in WAL mode a commit has been written to the WAL file (in the OS's
///   page cache) before it returns, so a killed process (`kill -9`, a panic, the OOM killer)
///   loses no committed transaction; only an OS crash or power loss can drop the last few
///   commits, and never corrupts the database. Flags must survive process crashes, which this
///   gives without an fsync per commit. [`StoreConfig::sync_full`] selects FULL for hosts
///   where power loss must not lose a commit either.
/// - `foreign_keys=ON`: flags, pages and runs name an existing site.
/// - `busy_timeout`: another process (a backup, `sqlite3` in a shell) holding the lock briefly
///   delays a write instead of failing it.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    /// `None` in memory: a second connection would open a second, empty database.
    reader: Option<Mutex<Connection>>,
    path: PathBuf,
    config: StoreConfig,
    /// The webhooks flag events write outbox rows for.
    webhooks: RwLock<Vec<WebhookTarget>>,
}

/// A query's error as [`StoreError::Db`]: the store's path and what was being done.
pub(super) trait Ctx<T> {
    fn ctx(self, path: &Path, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Ctx<T> for rusqlite::Result<T> {
    fn ctx(self, path: &Path, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| StoreError::Db {
            path: path.to_path_buf(),
            context: context(),
            source,
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

/// A text column parsed with `FromStr`, failing as a conversion error that names the value.
fn parse_col<T: std::str::FromStr<Err = String>>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    let s: String = row.get(idx)?;
    s.parse().map_err(|e: String| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Text,
            Box::new(std::io::Error::other(e)),
        )
    })
}

fn json_col<T: serde::de::DeserializeOwned>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    let s: String = row.get(idx)?;
    serde_json::from_str(&s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn opt_state(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<FlagState>> {
    match row.get::<_, Option<String>>(idx)? {
        None => Ok(None),
        Some(_) => parse_col(row, idx).map(Some),
    }
}

fn status_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<u16>> {
    Ok(row
        .get::<_, Option<i64>>(idx)?
        .and_then(|v| u16::try_from(v).ok()))
}

fn flag_from_row(row: &Row<'_>) -> rusqlite::Result<Flag> {
    Ok(Flag {
        id: row.get(0)?,
        fingerprint: row.get(1)?,
        site: row.get(2)?,
        customer: row.get(3)?,
        url: row.get(4)?,
        rule: row.get(5)?,
        category: row.get(6)?,
        clause: row.get(7)?,
        severity: parse_col(row, 8)?,
        description: row.get(9)?,
        zone: row.get(10)?,
        matched: row.get(11)?,
        normalized: row.get(12)?,
        snippet: row.get(13)?,
        offset: row.get::<_, i64>(14)?.max(0) as u64,
        count: row.get::<_, i64>(15)?.max(0) as u64,
        score: row.get(27)?,
        signals: json_col(row, 28)?,
        signals_omitted: row.get::<_, i64>(29)?.max(0) as u64,
        state: parse_col(row, 16)?,
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
    })
}

fn event_from_row(row: &Row<'_>) -> rusqlite::Result<FlagEvent> {
    let kind: String = row.get(4)?;
    Ok(FlagEvent {
        id: row.get(0)?,
        flag_id: row.get(1)?,
        at: row.get(2)?,
        actor: row.get(3)?,
        kind: EventKind::parse(&kind).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(
                4,
                rusqlite::types::Type::Text,
                Box::new(std::io::Error::other(e.to_string())),
            )
        })?,
        from_state: opt_state(row, 5)?,
        to_state: opt_state(row, 6)?,
        reason: row.get(7)?,
        run_key: row.get(8)?,
    })
}

fn site_from_row(row: &Row<'_>) -> rusqlite::Result<SiteRecord> {
    let domains: String = row.get(2)?;
    Ok(SiteRecord {
        id: row.get(0)?,
        customer: row.get(1)?,
        domains: serde_json::from_str(&domains).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, Box::new(e))
        })?,
        in_inventory: row.get::<_, i64>(3)? != 0,
        filing_status: row.get(4)?,
        filing_checked_at: row.get(5)?,
        next_due_at: row.get(6)?,
        last_crawl_at: row.get(7)?,
        active_flags: row.get::<_, i64>(8)?.max(0) as u64,
        contact: CustomerContact {
            customer_name: row.get(9)?,
            contact_email: row.get(10)?,
            contact_phone: row.get(11)?,
            account_manager: row.get(12)?,
        },
    })
}

fn page_state_from_row(row: &Row<'_>, o: usize) -> rusqlite::Result<PageState> {
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
fn links_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<Vec<String>>> {
    let text: Option<String> = row.get(idx)?;
    Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
}

/// A page's links as stored: JSON, or NULL when not known.
fn links_json(links: &Option<Vec<String>>) -> Option<String> {
    links.as_ref().and_then(|l| serde_json::to_string(l).ok())
}

fn body_info_from_row(row: &Row<'_>) -> rusqlite::Result<BodyInfo> {
    Ok(BodyInfo {
        sha256: row.get(0)?,
        original_size: row.get::<_, i64>(1)?.max(0) as u64,
        stored_size: row.get::<_, i64>(2)?.max(0) as u64,
        truncated: row.get::<_, i64>(3)? != 0,
        first_stored_at: row.get(4)?,
        last_seen_at: row.get(5)?,
        pruned_at: row.get(6)?,
        screenshot_taken_at: row.get(7)?,
    })
}

fn clamp_limit(limit: usize) -> usize {
    match limit {
        0 => 100,
        n => n.min(1000),
    }
}

/// A list query's WHERE clause and its parameters, numbered as they are added.
#[derive(Default)]
struct Where {
    clauses: Vec<String>,
    params: Vec<Value>,
}

impl Where {
    /// Adds a condition; each `{}` in `template` becomes the next placeholder with `values`.
    fn add(&mut self, template: &str, values: Vec<Value>) {
        let mut out = String::with_capacity(template.len() + 8);
        let mut parts = template.split("{}");
        if let Some(first) = parts.next() {
            out.push_str(first);
        }
        for (part, value) in parts.zip(values) {
            self.params.push(value);
            out.push_str(&sql::placeholder(self.params.len()));
            out.push_str(part);
        }
        self.clauses.push(out);
    }

    fn any_of(&mut self, column: &str, values: Vec<Value>) {
        if values.is_empty() {
            return;
        }
        let marks = vec!["{}"; values.len()].join(", ");
        self.add(&format!("{column} IN ({marks})"), values);
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }
}

impl SqliteStore {
    /// Opens (creating it and its parent directories if needed) the store at `path` and
    /// brings its schema up to date.
    pub fn open(path: impl AsRef<Path>, config: StoreConfig) -> Result<SqliteStore> {
        let path = path.as_ref().to_path_buf();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::CreateDir {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open(&path).map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        let mut store = SqliteStore::init(conn, path, config, true)?;
        // Opened after the migrations, so it sees the schema they made.
        let reader = Connection::open(&store.path).map_err(|source| StoreError::Open {
            path: store.path.clone(),
            source,
        })?;
        let ms = std::time::Duration::from_millis(store.config.busy_timeout_ms);
        reader
            .busy_timeout(ms)
            .and_then(|()| reader.pragma_update(None, "query_only", "ON"))
            .map_err(|source| StoreError::Open {
                path: store.path.clone(),
                source,
            })?;
        reader.set_prepared_statement_cache_capacity(64);
        store.reader = Some(Mutex::new(reader));
        Ok(store)
    }

    /// A private in-memory store, for tests and one-off tools.
    pub fn open_in_memory(config: StoreConfig) -> Result<SqliteStore> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        SqliteStore::init(conn, path, config, false)
    }

    fn init(
        mut conn: Connection,
        path: PathBuf,
        config: StoreConfig,
        wal: bool,
    ) -> Result<SqliteStore> {
        let open_err = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        conn.busy_timeout(std::time::Duration::from_millis(config.busy_timeout_ms))
            .map_err(open_err)?;
        if wal {
            // journal_mode answers with the mode in force; WAL is refused on some network
            // file systems, and a store silently in rollback mode would block readers.
            let mode: String = conn
                .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
                .map_err(open_err)?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(StoreError::Open {
                    path: path.clone(),
                    source: rusqlite::Error::InvalidParameterName(format!(
                        "journal_mode is {mode}, WAL is required (is the file on a network file system?)"
                    )),
                });
            }
        }
        let sync = if config.sync_full { "FULL" } else { "NORMAL" };
        conn.pragma_update(None, "synchronous", sync)
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        conn.set_prepared_statement_cache_capacity(64);
        migrate(&mut conn, &path)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            reader: None,
            path,
            config,
            webhooks: RwLock::new(Vec::new()),
        })
    }

    /// Runs `store check` ([`super::check`]) on this store, in one read transaction of the
    /// read connection: writers go on meanwhile, and the report is of one snapshot.
    pub fn check(&self) -> Result<super::CheckReport> {
        super::check::run(&self.reader(), &self.path)
    }

    /// The database file (`:memory:` for in-memory stores).
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Closes the connections, checkpointing the WAL into the database file.
    pub fn close(self) -> Result<()> {
        if let Some(reader) = self.reader {
            let reader = reader
                .into_inner()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            reader.close().map_err(|(_, source)| StoreError::Db {
                path: self.path.clone(),
                context: "closing the reader".into(),
                source,
            })?;
        }
        let conn = self
            .conn
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        conn.close().map_err(|(_, source)| StoreError::Db {
            path: self.path.clone(),
            context: "closing".into(),
            source,
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves no half-done transaction behind (an open
        // rusqlite Transaction rolls back on drop), so the connection is still sound.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The connection for queries: the reader on disk, the only connection in memory.
    fn reader(&self) -> MutexGuard<'_, Connection> {
        match &self.reader {
            Some(reader) => reader
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
            None => self.conn(),
        }
    }

    fn write<T>(&self, context: &str, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(&self.path, || {
                format!("starting a transaction for {context}")
            })?;
        let out = f(&tx)?;
        tx.commit()
            .ctx(&self.path, || format!("committing {context}"))?;
        Ok(out)
    }

    fn webhook_targets(&self) -> Vec<WebhookTarget> {
        self.webhooks
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn load_flag(&self, conn: &Connection, id: FlagId) -> Result<Option<Flag>> {
        let q = format!(
            "SELECT {} FROM {} WHERE f.id = ?1",
            sql::FLAG_COLUMNS,
            sql::FLAG_FROM
        );
        conn.prepare_cached(&q)
            .and_then(|mut st| st.query_row([id], flag_from_row).optional())
            .ctx(&self.path, || format!("reading flag {id}"))
    }

    fn act_in(
        &self,
        tx: &Transaction<'_>,
        id: FlagId,
        action: &FlagAction,
        actor: &str,
        at: Timestamp,
    ) -> Result<Flag> {
        let path = &self.path;
        let state: FlagState = tx
            .query_row(sql::FLAG_STATE, [id], |r| parse_col(r, 0))
            .optional()
            .ctx(path, || format!("reading the state of flag {id}"))?
            .ok_or(StoreError::FlagNotFound(id))?;
        let step = step(tx, path, id, state, action)?;
        if let Some(to) = step.to {
            tx.execute(sql::SET_FLAG_STATE, params![id, to.as_str(), at])
                .ctx(path, || format!("setting flag {id} to {to}"))?;
        }
        let (from_s, to_s) = match step.to {
            Some(to) => (Some(state.as_str()), Some(to.as_str())),
            None => (None, None),
        };
        tx.execute(
            sql::INSERT_EVENT,
            params![
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
    tx: &Transaction<'_>,
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
            tx.execute(sql::SET_FLAG_ASSIGNEE, params![id, assignee])
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
            .map(|s| Value::Text(s.as_str().into()))
            .collect(),
    );
    w.any_of(
        "f.category",
        filter
            .categories
            .iter()
            .map(|c| Value::Text(c.clone()))
            .collect(),
    );
    w.any_of(
        "f.severity",
        filter
            .severities
            .iter()
            .map(|s| Value::Text(s.as_str().into()))
            .collect(),
    );
    if let Some(rule) = &filter.rule {
        // Any signal of the rule, not only the strongest: a rule being tuned is judged on
        // every flag it contributed to.
        w.add(
            "(f.rule = {} OR f.signals LIKE {} ESCAPE '\\')",
            vec![Value::Text(rule.clone()), Value::Text(rule_pattern(rule))],
        );
    }
    if let Some(site) = &filter.site {
        w.add("f.site_id = {}", vec![Value::Text(site.clone())]);
    }
    if let Some(customer) = &filter.customer {
        w.add("s.customer = {}", vec![Value::Text(customer.clone())]);
    }
    if let Some(from) = filter.created_from {
        w.add("f.created_at >= {}", vec![Value::Integer(from)]);
    }
    if let Some(to) = filter.created_to {
        w.add("f.created_at < {}", vec![Value::Integer(to)]);
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
            w.add("f.id < {}", vec![Value::Integer(id)]);
        }
        FlagSort::Oldest => {
            let id = num()?;
            w.add("f.id > {}", vec![Value::Integer(id)]);
        }
        FlagSort::Severity => {
            let rank = num()?;
            let id = num()?;
            w.add(
                "(f.severity_rank < {} OR (f.severity_rank = {} AND f.id < {}))",
                vec![
                    Value::Integer(rank),
                    Value::Integer(rank),
                    Value::Integer(id),
                ],
            );
        }
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(())
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let db = |context: &'static str| {
        move |source| StoreError::Db {
            path: path.to_path_buf(),
            context: context.to_string(),
            source,
        }
    };
    conn.execute_batch(sql::SCHEMA_MIGRATIONS)
        .map_err(db("creating schema_migrations"))?;
    // IMMEDIATE: two processes opening a fresh store at once must not both migrate.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db("starting the migration transaction"))?;
    let current: i64 = tx
        .query_row(sql::SCHEMA_VERSION, [], |r| r.get(0))
        .map_err(db("reading the schema version"))?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            path: path.to_path_buf(),
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    // Every migration not applied yet, rather than every one above the highest applied:
    // numbers are taken by changes made side by side (9 shipped before 8), and a store that
    // is at 9 must still get 8 when a build brings it.
    let applied: std::collections::HashSet<i64> = tx
        .prepare(sql::APPLIED_MIGRATIONS)
        .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
        .map_err(db("reading the applied migrations"))?;
    for m in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        let err = |source| StoreError::Migration {
            path: path.to_path_buf(),
            version: m.version,
            name: m.name,
            source,
        };
        let now = sitepatrol_core::clock::unix_now();
        tx.execute_batch(m.sql).map_err(err)?;
        if let Some(code) = m.code {
            code(&tx, now).map_err(err)?;
        }
        tx.execute(sql::INSERT_MIGRATION, params![m.version, m.name, now])
            .map_err(err)?;
    }
    tx.commit().map_err(db("committing the migrations"))
}

struct ExistingFlag {
    id: FlagId,
    state: FlagState,
    category: String,
    severity: Severity,
    /// The stored score: for a dismissed flag, the one the reviewer dismissed.
    score: Option<f64>,
}

impl Store for SqliteStore {
    fn upsert_sites(&self, sites: &[SiteInfo], now: Timestamp) -> Result<()> {
        self.write("the inventory upsert", |tx| {
            let mut st = tx
                .prepare_cached(sql::UPSERT_SITE)
                .ctx(&self.path, || "preparing the site upsert".into())?;
            for s in sites {
                let domains =
                    serde_json::to_string(&s.domains).map_err(|source| StoreError::Json {
                        what: "site domains",
                        source,
                    })?;
                let c = &s.contact;
                st.execute(params![
                    s.id,
                    s.customer,
                    domains,
                    now,
                    c.customer_name,
                    c.contact_email,
                    c.contact_phone,
                    c.account_manager
                ])
                .ctx(&self.path, || format!("upserting site `{}`", s.id))?;
            }
            Ok(())
        })
    }

    fn remove_sites(&self, ids: &[String], now: Timestamp) -> Result<u64> {
        self.write("the inventory removal", |tx| {
            let mut st = tx
                .prepare_cached(sql::REMOVE_SITE)
                .ctx(&self.path, || "preparing the site removal".into())?;
            let mut n = 0;
            for id in ids {
                n += st
                    .execute(params![id, now])
                    .ctx(&self.path, || format!("removing site `{id}`"))?
                    as u64;
            }
            Ok(n)
        })
    }

    fn site(&self, id: &str) -> Result<Option<SiteRecord>> {
        let q = format!("SELECT {} FROM sites s WHERE s.id = ?1", sql::SITE_COLUMNS);
        self.reader()
            .prepare_cached(&q)
            .and_then(|mut st| st.query_row([id], site_from_row).optional())
            .ctx(&self.path, || format!("reading site `{id}`"))
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
            w.add("s.id > {}", vec![Value::Text(after.to_string())]);
        }
        let mut q = format!(
            "SELECT {} FROM sites s{} ORDER BY s.id",
            sql::SITE_COLUMNS,
            w.sql()
        );
        if limit > 0 {
            q.push_str(&format!(" LIMIT {limit}"));
        }
        let conn = self.reader();
        let mut st = conn
            .prepare(&q)
            .ctx(&self.path, || "preparing the site list".into())?;
        st.query_map(rusqlite::params_from_iter(w.params.iter()), site_from_row)
            .and_then(|rows| rows.collect())
            .ctx(&self.path, || "listing sites".into())
    }

    fn customer_sites(&self, customer: &str) -> Result<Vec<SiteRecord>> {
        let q = format!(
            "SELECT {} FROM sites s WHERE s.customer = ?1 ORDER BY s.id",
            sql::SITE_COLUMNS
        );
        let conn = self.reader();
        let mut st = conn
            .prepare_cached(&q)
            .ctx(&self.path, || "preparing the customer's sites".into())?;
        st.query_map([customer], site_from_row)
            .and_then(|rows| rows.collect())
            .ctx(&self.path, || {
                format!("listing the sites of customer `{customer}`")
            })
    }

    fn set_filing_status(&self, site: &str, status: &str, checked_at: Timestamp) -> Result<()> {
        let n = self
            .conn()
            .execute(sql::SET_FILING, params![site, status, checked_at])
            .ctx(&self.path, || {
                format!("setting the filing status of site `{site}`")
            })?;
        if n == 0 {
            return Err(StoreError::SiteNotFound(site.to_string()));
        }
        Ok(())
    }

    fn site_counts_by_filing_status(&self) -> Result<Vec<(String, u64)>> {
        let conn = self.reader();
        let mut st = conn
            .prepare_cached(sql::SITES_BY_FILING)
            .ctx(&self.path, || "preparing the filing counts".into())?;
        st.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)?.max(0) as u64)))
            .and_then(|rows| rows.collect())
            .ctx(&self.path, || "counting sites by filing status".into())
    }

    fn next_due(&self, site: &str) -> Result<Option<Timestamp>> {
        self.reader()
            .query_row(sql::NEXT_DUE, [site], |r| r.get::<_, Option<i64>>(0))
            .optional()
            .ctx(&self.path, || {
                format!("reading the next due time of site `{site}`")
            })?
            .ok_or_else(|| StoreError::SiteNotFound(site.to_string()))
    }

    fn set_next_due(&self, site: &str, at: Timestamp) -> Result<()> {
        let n = self
            .conn()
            .execute(sql::SET_NEXT_DUE, params![site, at])
            .ctx(&self.path, || {
                format!("setting the next due time of site `{site}`")
            })?;
        if n == 0 {
            return Err(StoreError::SiteNotFound(site.to_string()));
        }
        Ok(())
    }

    fn set_next_due_many(&self, due: &[(String, Timestamp)]) -> Result<()> {
        self.write("the next due times", |tx| {
            let mut st = tx
                .prepare_cached(sql::SET_NEXT_DUE)
                .ctx(&self.path, || "preparing the next due update".into())?;
            for (site, at) in due {
                // Sites that left the inventory meanwhile are skipped, not an error: the
                // scheduler's view may be a reload behind.
                st.execute(params![site, at]).ctx(&self.path, || {
                    format!("setting the next due time of site `{site}`")
                })?;
            }
            Ok(())
        })
    }

    fn all_next_due(&self) -> Result<Vec<(String, Timestamp)>> {
        let conn = self.reader();
        let mut st = conn
            .prepare_cached(sql::ALL_NEXT_DUE)
            .ctx(&self.path, || "preparing the next due list".into())?;
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect())
            .ctx(&self.path, || "reading the next due times".into())
    }

    fn page_state(&self, site: &str, url: &str) -> Result<Option<PageState>> {
        self.reader()
            .prepare_cached(sql::PAGE_STATE)
            .and_then(|mut st| {
                st.query_row([site, url], |r| page_state_from_row(r, 0))
                    .optional()
            })
            .ctx(&self.path, || {
                format!("reading page {url} of site `{site}`")
            })
    }

    fn page_states(&self, site: &str) -> Result<Vec<(String, PageState)>> {
        let conn = self.reader();
        let mut st = conn
            .prepare_cached(sql::PAGE_STATES)
            .ctx(&self.path, || "preparing the page list".into())?;
        st.query_map([site], |r| Ok((r.get(0)?, page_state_from_row(r, 1)?)))
            .and_then(|rows| rows.collect())
            .ctx(&self.path, || format!("reading the pages of site `{site}`"))
    }

    fn save_checkpoint(&self, checkpoint: &Checkpoint) -> Result<()> {
        let c = checkpoint;
        let context = format!("the checkpoint of crawl run `{}`", c.run_key);
        self.write(&context, |tx| {
            tx.execute(
                sql::SAVE_CHECKPOINT,
                params![c.site, c.run_key, c.saved_at, c.state],
            )
            .ctx(&self.path, || {
                format!("saving the checkpoint of site `{}`", c.site)
            })?;
            Ok(())
        })
    }

    fn checkpoint(&self, site: &str) -> Result<Option<Checkpoint>> {
        self.reader()
            .prepare_cached(sql::CHECKPOINT)
            .and_then(|mut st| {
                st.query_row([site], |r| {
                    Ok(Checkpoint {
                        site: r.get(0)?,
                        run_key: r.get(1)?,
                        saved_at: r.get(2)?,
                        state: r.get(3)?,
                    })
                })
                .optional()
            })
            .ctx(&self.path, || {
                format!("reading the checkpoint of site `{site}`")
            })
    }

    fn delete_checkpoint(&self, site: &str) -> Result<bool> {
        self.write("a checkpoint", |tx| {
            let n = tx
                .execute(sql::DELETE_CHECKPOINT, [site])
                .ctx(&self.path, || {
                    format!("deleting the checkpoint of site `{site}`")
                })?;
            Ok(n > 0)
        })
    }

    fn record_crawl(&self, run: &CrawlRun, pages: &[IngestPage]) -> Result<IngestOutcome> {
        let path = &self.path;
        let context = format!("crawl run `{}` of site `{}`", run.key, run.site);
        self.write(&context, |tx| {
            let prior: Option<String> = tx
                .query_row(sql::RUN_INGEST_BY_KEY, [&run.key], |r| r.get(0))
                .optional()
                .ctx(path, || format!("looking up {context}"))?;
            if let Some(prior) = prior {
                let mut out: IngestOutcome =
                    serde_json::from_str(&prior).map_err(|_| StoreError::Corrupt {
                        what: "ingest outcome",
                        value: prior.clone(),
                    })?;
                out.replayed = true;
                return Ok(out);
            }
            let exists: i64 = tx
                .query_row(sql::SITE_EXISTS, [&run.site], |r| r.get(0))
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
                    .prepare_cached(sql::STATE_EVENTS_OF_RUN)
                    .and_then(|mut st| {
                        st.query_map([&run.key], event_from_row)?
                            .collect::<rusqlite::Result<Vec<_>>>()
                    })
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
            tx.prepare_cached(sql::PRUNE_BODIES)
                .and_then(|mut st| st.execute(params![run.finished_at, cutoff]))
                .ctx(path, || format!("pruning bodies in {context}"))?;
            // The crawl is recorded: a checkpoint of it has nothing left to resume.
            tx.execute(sql::DELETE_CHECKPOINT, [&run.site])
                .ctx(path, || format!("deleting the checkpoint of {context}"))?;
            tx.execute(sql::SET_LAST_CRAWL, params![run.site, run.finished_at])
                .ctx(path, || {
                    format!("updating the last crawl of site `{}`", run.site)
                })?;
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
                params![
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
        let conn = self.reader();
        let mut st = conn
            .prepare_cached(sql::RUNS_OF_SITE)
            .ctx(&self.path, || "preparing the run list".into())?;
        st.query_map(params![site, clamp_limit(limit) as i64], |r| {
            Ok(CrawlRunRecord {
                id: r.get(0)?,
                key: r.get(1)?,
                site: r.get(2)?,
                started_at: r.get(3)?,
                finished_at: r.get(4)?,
                outcome: parse_col(r, 5)?,
                rules_version: r.get(6)?,
                stats: json_col(r, 7)?,
                ingest: json_col(r, 8)?,
            })
        })
        .and_then(|rows| rows.collect())
        .ctx(&self.path, || {
            format!("listing the crawl runs of site `{site}`")
        })
    }

    fn flag(&self, id: FlagId) -> Result<Option<FlagDetail>> {
        let guard = self.reader();
        // One read transaction: the flag, its events and its body from the same snapshot,
        // even while a crawl's ingest commits in between. Dropped (rolled back) at the end.
        let conn = guard
            .unchecked_transaction()
            .ctx(&self.path, || format!("starting to read flag {id}"))?;
        let Some(flag) = self.load_flag(&conn, id)? else {
            return Ok(None);
        };
        let events = conn
            .prepare_cached(sql::EVENTS_OF_FLAG)
            .and_then(|mut st| st.query_map([id], event_from_row)?.collect())
            .ctx(&self.path, || format!("reading the history of flag {id}"))?;
        let q = format!("SELECT {} FROM bodies WHERE sha256 = ?1", sql::BODY_COLUMNS);
        let body = conn
            .prepare_cached(&q)
            .and_then(|mut st| {
                st.query_row([&flag.body_sha256], body_info_from_row)
                    .optional()
            })
            .ctx(&self.path, || format!("reading the body of flag {id}"))?;
        Ok(Some(FlagDetail { flag, events, body }))
    }

    fn flag_by_fingerprint(&self, fingerprint: &str) -> Result<Option<Flag>> {
        let q = format!(
            "SELECT {} FROM {} WHERE f.fingerprint = ?1",
            sql::FLAG_COLUMNS,
            sql::FLAG_FROM
        );
        self.reader()
            .prepare_cached(&q)
            .and_then(|mut st| st.query_row([fingerprint], flag_from_row).optional())
            .ctx(&self.path, || {
                format!("reading the flag with fingerprint {fingerprint}")
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
        let conn = self.reader();
        let mut st = conn
            .prepare(&q)
            .ctx(&self.path, || "preparing the flag list".into())?;
        let mut flags: Vec<Flag> = st
            .query_map(rusqlite::params_from_iter(w.params.iter()), flag_from_row)
            .and_then(|rows| rows.collect())
            .ctx(&self.path, || "listing flags".into())?;
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
        let conn = self.reader();
        let mut st = conn
            .prepare_cached(sql::FLAG_COUNTS)
            .ctx(&self.path, || "preparing the flag counts".into())?;
        st.query_map([], |r| {
            Ok(FlagCount {
                state: parse_col(r, 0)?,
                category: r.get(1)?,
                severity: parse_col(r, 2)?,
                count: r.get::<_, i64>(3)?.max(0) as u64,
            })
        })
        .and_then(|rows| rows.collect())
        .ctx(&self.path, || "counting flags".into())
    }

    fn act(&self, id: FlagId, action: &FlagAction, actor: &str, at: Timestamp) -> Result<Flag> {
        self.write(&format!("the {} of flag {id}", action.name()), |tx| {
            self.act_in(tx, id, action, actor, at)
        })
    }

    fn act_many(
        &self,
        ids: &[FlagId],
        action: &FlagAction,
        actor: &str,
        at: Timestamp,
    ) -> Result<Vec<(FlagId, Result<Flag>)>> {
        self.write(&format!("a bulk {}", action.name()), |tx| {
            let mut out = Vec::with_capacity(ids.len());
            for &id in ids {
                // Per-flag failures (wrong state, unknown id) are answers, not reasons to
                // roll back the others; database failures still abort the whole batch.
                match self.act_in(tx, id, action, actor, at) {
                    Err(e @ (StoreError::Db { .. } | StoreError::Json { .. })) => return Err(e),
                    r => out.push((id, r)),
                }
            }
            Ok(out)
        })
    }

    fn events(&self, filter: &EventFilter) -> Result<Vec<FlagEvent>> {
        let mut w = Where::default();
        if let Some(flag) = filter.flag {
            w.add("flag_id = {}", vec![Value::Integer(flag)]);
        }
        if let Some(actor) = &filter.actor {
            w.add("actor = {}", vec![Value::Text(actor.clone())]);
        }
        if let Some(from) = filter.from {
            w.add("at >= {}", vec![Value::Integer(from)]);
        }
        if let Some(to) = filter.to {
            w.add("at < {}", vec![Value::Integer(to)]);
        }
        if let Some(before) = filter.before_id {
            w.add("id < {}", vec![Value::Integer(before)]);
        }
        let q = format!(
            "SELECT {} FROM flag_events{} ORDER BY id DESC LIMIT {}",
            sql::EVENT_COLUMNS,
            w.sql(),
            clamp_limit(filter.limit)
        );
        let conn = self.reader();
        let mut st = conn
            .prepare(&q)
            .ctx(&self.path, || "preparing the audit log query".into())?;
        st.query_map(rusqlite::params_from_iter(w.params.iter()), event_from_row)
            .and_then(|rows| rows.collect())
            .ctx(&self.path, || "reading the audit log".into())
    }

    fn body(&self, sha256: &str) -> Result<Option<StoredBody>> {
        let q = format!(
            "SELECT {}, data FROM bodies WHERE sha256 = ?1",
            sql::BODY_COLUMNS
        );
        let row = self
            .reader()
            .prepare_cached(&q)
            .and_then(|mut st| {
                st.query_row([sha256], |r| {
                    Ok((body_info_from_row(r)?, r.get::<_, Option<Vec<u8>>>(8)?))
                })
                .optional()
            })
            .ctx(&self.path, || format!("reading body {sha256}"))?;
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
        let png: Option<Option<Vec<u8>>> = self
            .reader()
            .prepare_cached(sql::SCREENSHOT)
            .and_then(|mut st| st.query_row([sha256], |r| r.get(0)).optional())
            .ctx(&self.path, || {
                format!("reading the screenshot of body {sha256}")
            })?;
        Ok(png.flatten())
    }

    fn prune_bodies(&self, now: Timestamp) -> Result<u64> {
        let cutoff = now.saturating_sub(self.config.body_retention_secs);
        let n = self
            .conn()
            .execute(sql::PRUNE_BODIES, params![now, cutoff])
            .ctx(&self.path, || "pruning bodies".into())?;
        Ok(n as u64)
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
        let path = &self.path;
        self.write("claiming webhook deliveries", |tx| {
            let ids: Vec<i64> = tx
                .prepare_cached(sql::OUTBOX_DUE)
                .and_then(|mut st| {
                    st.query_map(params![now, clamp_limit(limit) as i64], |r| r.get(0))?
                        .collect()
                })
                .ctx(path, || "finding due webhook deliveries".into())?;
            let mut out = Vec::with_capacity(ids.len());
            let q = format!("SELECT {} FROM outbox WHERE id = ?1", sql::OUTBOX_COLUMNS);
            for id in ids {
                tx.execute(sql::OUTBOX_CLAIM, params![id, lease_until])
                    .ctx(path, || format!("claiming webhook delivery {id}"))?;
                let d = tx
                    .prepare_cached(&q)
                    .and_then(|mut st| st.query_row([id], delivery_from_row))
                    .ctx(path, || format!("reading webhook delivery {id}"))?;
                out.push(d);
            }
            Ok(out)
        })
    }

    fn mark_delivered(&self, id: i64, at: Timestamp, http_status: u16) -> Result<bool> {
        let path = &self.path;
        self.write(&format!("webhook delivery {id}"), |tx| {
            tx.execute(sql::OUTBOX_DELIVERED, params![id, at, http_status])
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
        let path = &self.path;
        self.write(&format!("webhook delivery {id}"), |tx| {
            match retry_at {
                Some(at) => tx.execute(sql::OUTBOX_RETRY, params![id, at, http_status, error]),
                None => tx.execute(sql::OUTBOX_GIVE_UP, params![id, http_status, error]),
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
            w.add("status = {}", vec![Value::Text(status.as_str().into())]);
        }
        if let Some(webhook) = &filter.webhook {
            w.add("webhook = {}", vec![Value::Text(webhook.clone())]);
        }
        if let Some(flag) = filter.flag {
            w.add("flag_id = {}", vec![Value::Integer(flag)]);
        }
        if let Some(before) = filter.before_id {
            w.add("id < {}", vec![Value::Integer(before)]);
        }
        let q = format!(
            "SELECT {} FROM outbox{} ORDER BY id DESC LIMIT {}",
            sql::OUTBOX_COLUMNS,
            w.sql(),
            clamp_limit(filter.limit)
        );
        let conn = self.reader();
        conn.prepare_cached(&q)
            .and_then(|mut st| {
                st.query_map(
                    rusqlite::params_from_iter(w.params.iter()),
                    delivery_from_row,
                )?
                .collect()
            })
            .ctx(&self.path, || "listing webhook deliveries".into())
    }

    fn delivery_counts(&self) -> Result<Vec<(DeliveryStatus, u64)>> {
        let conn = self.reader();
        let found: HashMap<String, i64> = conn
            .prepare_cached(sql::OUTBOX_COUNTS)
            .and_then(|mut st| st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
            .ctx(&self.path, || "counting webhook deliveries".into())?;
        Ok(DeliveryStatus::ALL
            .into_iter()
            .map(|s| (s, found.get(s.as_str()).copied().unwrap_or(0).max(0) as u64))
            .collect())
    }

    fn list_cases(&self, filter: &CaseFilter) -> Result<CasePage> {
        cases::list_cases(&self.reader(), &self.path, filter)
    }

    fn case(&self, id: CaseId) -> Result<Option<CaseDetail>> {
        cases::case_detail(&self.reader(), &self.path, id)
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
        self.write(&format!("the {} of case {id}", action.name()), |tx| {
            cases::act_on_case(
                tx,
                &self.path,
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
        cases::case_counts(&self.reader(), &self.path)
    }

    fn case_events(&self, filter: &CaseEventFilter) -> Result<Vec<CaseEvent>> {
        cases::case_events(&self.reader(), &self.path, filter)
    }

    fn claim_case_rechecks(&self, now: Timestamp, limit: usize) -> Result<Vec<Case>> {
        self.write("claiming the case rechecks", |tx| {
            cases::claim_rechecks(tx, &self.path, now, limit)
        })
    }

    fn schema_version(&self) -> Result<i64> {
        self.reader()
            .query_row(sql::SCHEMA_VERSION, [], |r| r.get(0))
            .ctx(&self.path, || "reading the schema version".into())
    }

    fn create_login_link(
        &self,
        hash: &str,
        created_at: Timestamp,
        expires_at: Timestamp,
    ) -> Result<()> {
        let path = &self.path;
        self.write("a login link", |tx| {
            tx.execute(sql::LOGIN_LINKS_SUPERSEDE, params![created_at])
                .ctx(path, || "superseding the older login links".into())?;
            tx.execute(
                sql::LOGIN_LINK_INSERT,
                params![hash, created_at, expires_at],
            )
            .ctx(path, || "recording a login link".into())?;
            Ok(())
        })
    }

    fn consume_login_link(&self, hash: &str, now: Timestamp) -> Result<super::LoginLinkUse> {
        let path = &self.path;
        self.write("a login link's use", |tx| {
            let used = tx
                .execute(sql::LOGIN_LINK_CONSUME, params![hash, now])
                .ctx(path, || "using a login link".into())?;
            if used > 0 {
                return Ok(super::LoginLinkUse::Used);
            }
            // Why not, for the page that says so; in the same transaction as the attempt.
            let row: Option<(Timestamp, Option<Timestamp>, Option<Timestamp>)> = tx
                .query_row(sql::LOGIN_LINK_GET, params![hash], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()
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
        report::case_report(&self.reader(), &self.path, query)
    }
}

fn ingest_page(
    tx: &Transaction<'_>,
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
struct Ingest<'a, 't> {
    tx: &'a Transaction<'t>,
    path: &'a Path,
    run: &'a CrawlRun,
    page: &'a IngestPage,
    /// How far a dismissed flag's score must rise before it is reviewed again.
    rescore_margin: f64,
}

impl Ingest<'_, '_> {
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
            .prepare_cached(sql::UPSERT_PAGE_UNMATCHED)
            .and_then(|mut st| {
                st.execute(params![
                    run.site,
                    page.url,
                    self.status(),
                    page.etag,
                    page.last_modified,
                    page.fetched_at,
                    run.key
                ])
            })
            .ctx(self.path, || self.ctx("recording the page"))?;
        Ok(())
    }

    fn record_matched(&self) -> Result<()> {
        let (run, page) = (self.run, self.page);
        self.tx
            .prepare_cached(sql::UPSERT_PAGE_MATCHED)
            .and_then(|mut st| {
                st.execute(params![
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
                ])
            })
            .ctx(self.path, || self.ctx("recording the page"))?;
        Ok(())
    }

    /// Not matched again (same content, same rules): its active flags are still there.
    fn carry_over(&self, out: &mut IngestOutcome) -> Result<()> {
        self.record_matched()?;
        let (run, page) = (self.run, self.page);
        let carried = self
            .tx
            .prepare_cached(sql::CARRY_FLAGS_OF_URL)
            .and_then(|mut st| st.execute(params![run.site, page.url, page.fetched_at, run.key]))
            .ctx(self.path, || self.ctx("carrying over the flags"))?;
        out.carried_over += carried as u64;
        if carried > 0 {
            self.tx
                .prepare_cached(sql::TOUCH_BODY)
                .and_then(|mut st| st.execute(params![page.content_sha256, page.fetched_at]))
                .ctx(self.path, || self.ctx("touching the body"))?;
        }
        Ok(())
    }

    fn flags_of_url(&self) -> Result<HashMap<String, ExistingFlag>> {
        self.tx
            .prepare_cached(sql::FLAGS_OF_URL)
            .and_then(|mut st| {
                st.query_map([&self.run.site, &self.page.url], |r| {
                    Ok((
                        r.get::<_, String>(1)?,
                        ExistingFlag {
                            id: r.get(0)?,
                            state: parse_col(r, 2)?,
                            category: r.get(3)?,
                            severity: parse_col(r, 4)?,
                            score: r.get(5)?,
                        },
                    ))
                })?
                .collect()
            })
            .ctx(self.path, || self.ctx("reading the existing flags"))
    }

    /// The sighting's evidence, bound as ?1..?20 of INSERT_FLAG and REFRESH_FLAG.
    fn evidence(&self, flag: &PageFlag) -> Result<Vec<Value>> {
        let f = &flag.head;
        let signals = flag.signals_json().map_err(|source| StoreError::Json {
            what: "a flag's signals",
            source,
        })?;
        let text = |s: &str| Value::Text(s.to_string());
        let opt_text = |s: Option<&str>| s.map_or(Value::Null, text);
        Ok(vec![
            text(&f.rule),
            text(&f.category),
            text(&f.clause),
            text(f.severity.as_str()),
            Value::Integer(severity_rank(f.severity)),
            text(&f.description),
            opt_text(f.zone.map(|z| z.as_str())),
            text(&f.matched),
            text(&f.normalized),
            text(&f.snippet),
            Value::Integer(f.offset as i64),
            Value::Integer(f.count as i64),
            flag.score.map_or(Value::Null, Value::Real),
            Value::Text(signals),
            Value::Integer(flag.signals_omitted as i64),
            Value::Integer(self.page.fetched_at),
            self.status().map_or(Value::Null, Value::Integer),
            opt_text(self.page.ip.as_deref()),
            text(&self.page.content_sha256),
            text(&self.run.key),
        ])
    }

    fn create(&self, flag: &PageFlag, out: &mut IngestOutcome) -> Result<()> {
        let mut values = self.evidence(flag)?;
        values.extend([
            Value::Text(flag.fingerprint.clone()),
            Value::Text(self.run.site.clone()),
            Value::Text(self.page.url.clone()),
        ]);
        let id: FlagId = self
            .tx
            .prepare_cached(sql::INSERT_FLAG)
            .and_then(|mut st| {
                st.query_row(rusqlite::params_from_iter(values.iter()), |r| r.get(0))
            })
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
                .prepare_cached(sql::SEEN_FLAG)
                .and_then(|mut st| {
                    st.execute(params![known.id, self.page.fetched_at, self.run.key])
                })
                .ctx(self.path, || {
                    self.ctx(&format!("updating flag {}", known.id))
                })?;
            out.suppressed += 1;
            return Ok(());
        }
        let mut values = self.evidence(flag)?;
        values.push(Value::Integer(known.id));
        self.tx
            .prepare_cached(sql::REFRESH_FLAG)
            .and_then(|mut st| st.execute(rusqlite::params_from_iter(values.iter())))
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
                params![id, to.as_str(), self.page.fetched_at],
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

fn delivery_from_row(row: &Row<'_>) -> rusqlite::Result<Delivery> {
    Ok(Delivery {
        id: row.get(0)?,
        webhook: row.get(1)?,
        event: parse_col(row, 2)?,
        flag_id: row.get(3)?,
        payload: row.get(4)?,
        created_at: row.get(5)?,
        status: parse_col(row, 6)?,
        attempts: row.get::<_, i64>(7)?.clamp(0, u32::MAX as i64) as u32,
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
    tx: &Transaction<'_>,
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
        tx.prepare_cached(sql::INSERT_OUTBOX)
            .and_then(|mut st| {
                st.execute(params![
                    target.name,
                    event.as_str(),
                    flag.id,
                    payload,
                    change.at
                ])
            })
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
    tx: &Transaction<'_>,
    path: &Path,
    flag: FlagId,
    at: Timestamp,
    from: Option<FlagState>,
    to: FlagState,
    reason: &str,
    run_key: &str,
) -> Result<()> {
    tx.prepare_cached(sql::INSERT_EVENT)
        .and_then(|mut st| {
            st.execute(params![
                flag,
                at,
                CRAWLER_ACTOR,
                EventKind::State.as_str(),
                from.map(|s| s.as_str()),
                to.as_str(),
                reason,
                run_key
            ])
        })
        .ctx(path, || format!("recording the {to} event of flag {flag}"))?;
    Ok(())
}

/// The page's screenshot, on its body's row (stored just before): the newest render of that
/// content replaces an older one.
fn store_screenshot(
    tx: &Transaction<'_>,
    path: &Path,
    sha256: &str,
    png: &[u8],
    at: Timestamp,
) -> Result<()> {
    tx.prepare_cached(sql::SET_SCREENSHOT)
        .and_then(|mut st| st.execute(params![sha256, png, at]))
        .ctx(path, || format!("storing the screenshot of body {sha256}"))?;
    Ok(())
}

fn store_body(
    tx: &Transaction<'_>,
    path: &Path,
    config: &StoreConfig,
    sha256: &str,
    body: &[u8],
    at: Timestamp,
    out: &mut IngestOutcome,
) -> Result<()> {
    let present: Option<bool> = tx
        .prepare_cached(sql::BODY_DATA_PRESENT)
        .and_then(|mut st| st.query_row([sha256], |r| r.get(0)).optional())
        .ctx(path, || format!("looking up body {sha256}"))?;
    if present == Some(true) {
        tx.prepare_cached(sql::TOUCH_BODY)
            .and_then(|mut st| st.execute(params![sha256, at]))
            .ctx(path, || format!("touching body {sha256}"))?;
        return Ok(());
    }
    // New, or pruned earlier and seen again: store the copy (again).
    let (data, truncated) = compress_body(body, config.body_cap_bytes);
    tx.prepare_cached(sql::INSERT_BODY)
        .and_then(|mut st| {
            st.execute(params![
                sha256,
                body.len() as i64,
                data.len() as i64,
                truncated as i64,
                data,
                at
            ])
        })
        .ctx(path, || format!("storing body {sha256}"))?;
    out.bodies_stored += 1;
    Ok(())
}
