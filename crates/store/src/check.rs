//! `sitepatrol store check`: verifies a SQLite store offline, without changing it.
//!
//! [`check_sqlite_file`] opens the database read-only (`SQLITE_OPEN_READONLY` and
//! `query_only`: nothing is migrated, nothing written; SQLite may create the `-wal` and `-shm`
//! files beside it, as any reader of a WAL database does) and runs every check in one read
//! transaction, so a daemon committing crawls meanwhile cannot make a flag and its events
//! look inconsistent. [`SqliteStore::check`](super::SqliteStore::check) runs the same checks
//! on an open store.
//!
//! The checks, by the name the report gives them:
//!
//! - `integrity`: SQLite's `PRAGMA integrity_check` (its first 100 messages).
//! - `foreign_keys`: `PRAGMA foreign_key_check`: flags, pages and runs of a site that is not
//!   in `sites`, webhook deliveries of a flag that is not in `flags`. Events of a missing flag
//!   are left to `events_have_flags`, which names them by event id.
//! - `flags_have_events`: every flag has events, among them the one that created it (a state
//!   event with no `from_state` and `to_state` open).
//! - `events_have_flags`: every event names a flag that exists.
//! - `fingerprints`: no two flags share a fingerprint, and each flag's fingerprint is
//!   [`fingerprint`]`(site, category, URL)` of its own row. The schema's UNIQUE index already
//!   refuses a second flag with one fingerprint, so a duplicate can only come from a damaged or
//!   hand-edited index; the column is read past the index (`NOT INDEXED`) so that a damaged
//!   index cannot hide one. Two flags of one page and category with *different* fingerprints
//!   pass the index, and are caught by the second half: at most one of them can carry its
//!   own. Stores before schema 4 had per-term fingerprints, and only the first half runs.
//! - `review_actions`: no half-applied review action. A flag's `state` is the `to_state` of
//!   its last state event, and its `assignee` that of its last assignment (none without one):
//!   the store writes both in one transaction, so a difference is a change made without its
//!   event. A flag folded by migration 4 holds its parts' events, so its last state event may
//!   be a part's; from the migration's event on, the state that event names is expected, and
//!   the assignee is not judged until the next assignment. A reviewer's action on a case
//!   (schema 8) moves its flags with one case event and none of their own; the flag names
//!   that event (`case_state_event`, `case_assign_event`, cleared by its own next event), and
//!   the state or assignee it set is the one expected.
//! - `bodies`: every stored copy decompresses within its `original_size`, has the sizes its
//!   row says, and, when it was not cut at the cap, hashes to its `sha256` (after
//!   decompression). A copy cut at the cap can only be checked for its size: its hash is the
//!   full body's. Pruned copies (no data) are counted.
//!
//! A check whose own query fails (a damaged page, a missing table) reports that as its
//! problem and the other checks still run. Each check lists its first [`MAX_LISTED`]
//! problems and counts the rest.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, OpenFlags, Row};
use serde::Serialize;

use super::SCHEMA_VERSION;
use super::body::decompress_at_most;
use super::engine::Ctx;
use super::fold::{MIGRATION_ACTOR, folded_state};
use super::{FlagId, Result, StoreError, fingerprint, sha256_hex, sql};

/// Problems listed per check; more are counted in [`CheckResult::problems_total`].
pub const MAX_LISTED: usize = 1000;

/// Messages `PRAGMA integrity_check` returns at most.
const INTEGRITY_MESSAGES: u32 = 100;

/// The checks, in the order they run and are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckName {
    Integrity,
    ForeignKeys,
    FlagsHaveEvents,
    EventsHaveFlags,
    Fingerprints,
    ReviewActions,
    Bodies,
}

impl CheckName {
    pub const ALL: [CheckName; 7] = [
        CheckName::Integrity,
        CheckName::ForeignKeys,
        CheckName::FlagsHaveEvents,
        CheckName::EventsHaveFlags,
        CheckName::Fingerprints,
        CheckName::ReviewActions,
        CheckName::Bodies,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CheckName::Integrity => "integrity",
            CheckName::ForeignKeys => "foreign_keys",
            CheckName::FlagsHaveEvents => "flags_have_events",
            CheckName::EventsHaveFlags => "events_have_flags",
            CheckName::Fingerprints => "fingerprints",
            CheckName::ReviewActions => "review_actions",
            CheckName::Bodies => "bodies",
        }
    }
}

/// What is wrong, by a stable name (the `kind` of a problem in `--format json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// A message of `PRAGMA integrity_check`.
    Integrity,
    /// A row of `PRAGMA foreign_key_check`.
    ForeignKey,
    FlagWithoutEvents,
    FlagWithoutCreationEvent,
    OrphanEvent,
    DuplicateFingerprint,
    FingerprintMismatch,
    /// The flag's state is not what its last state event set: a half-applied review action.
    StateWithoutEvent,
    /// The flag's assignee is not what its last assignment set.
    AssigneeWithoutEvent,
    /// A stored copy that does not decompress (or decompresses past its `original_size`).
    BodyUnreadable,
    BodySizeMismatch,
    BodyHashMismatch,
    /// The check's own query failed; what it would have looked at is unknown.
    CheckFailed,
}

impl ProblemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::Integrity => "integrity",
            ProblemKind::ForeignKey => "foreign_key",
            ProblemKind::FlagWithoutEvents => "flag_without_events",
            ProblemKind::FlagWithoutCreationEvent => "flag_without_creation_event",
            ProblemKind::OrphanEvent => "orphan_event",
            ProblemKind::DuplicateFingerprint => "duplicate_fingerprint",
            ProblemKind::FingerprintMismatch => "fingerprint_mismatch",
            ProblemKind::StateWithoutEvent => "state_without_event",
            ProblemKind::AssigneeWithoutEvent => "assignee_without_event",
            ProblemKind::BodyUnreadable => "body_unreadable",
            ProblemKind::BodySizeMismatch => "body_size_mismatch",
            ProblemKind::BodyHashMismatch => "body_hash_mismatch",
            ProblemKind::CheckFailed => "check_failed",
        }
    }
}

/// One problem, named by the flag, event or body it is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flag_id: Option<FlagId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// A sentence naming everything above, for people.
    pub detail: String,
}

impl Problem {
    fn new(kind: ProblemKind, detail: String) -> Problem {
        Problem {
            kind,
            flag_id: None,
            event_id: None,
            body_sha256: None,
            fingerprint: None,
            detail,
        }
    }

    fn flag(mut self, id: FlagId) -> Problem {
        self.flag_id = Some(id);
        self
    }

    fn event(mut self, id: i64) -> Problem {
        self.event_id = Some(id);
        self
    }

    fn body(mut self, sha256: &str) -> Problem {
        self.body_sha256 = Some(sha256.to_string());
        self
    }

    fn fingerprint(mut self, fingerprint: &str) -> Problem {
        self.fingerprint = Some(fingerprint.to_string());
        self
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    pub name: CheckName,
    pub passed: bool,
    pub problems_total: u64,
    /// The first [`MAX_LISTED`] problems.
    pub problems: Vec<Problem>,
    /// What was looked at (counts), and what could not be judged.
    pub notes: Vec<String>,
}

impl CheckResult {
    fn new(name: CheckName) -> CheckResult {
        CheckResult {
            name,
            passed: true,
            problems_total: 0,
            problems: Vec::new(),
            notes: Vec::new(),
        }
    }

    fn push(&mut self, problem: Problem) {
        self.passed = false;
        self.problems_total += 1;
        if self.problems.len() < MAX_LISTED {
            self.problems.push(problem);
        }
    }

    fn note(&mut self, note: String) {
        self.notes.push(note);
    }

    /// A query of the check failed: the check cannot say the store is sound.
    fn failed(&mut self, error: &rusqlite::Error) {
        self.push(Problem::new(
            ProblemKind::CheckFailed,
            format!("the check could not finish: {error}"),
        ));
    }
}

/// Everything `store check` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    pub path: PathBuf,
    pub schema_version: i64,
    /// Every check passed.
    pub ok: bool,
    pub problems_total: u64,
    pub checks: Vec<CheckResult>,
}

impl CheckReport {
    /// The result of one check.
    pub fn check(&self, name: CheckName) -> &CheckResult {
        self.checks
            .iter()
            .find(|c| c.name == name)
            .expect("every check is in the report")
    }
}

/// Opens the SQLite store at `path` read-only and checks it. Errors are for what is not a
/// store to check (no such file, not a SQLite database, no sitepatrol schema, a newer schema);
/// problems found in a store are in the report.
pub fn check_sqlite_file(path: &Path) -> Result<CheckReport> {
    let not_a_store = |reason: String| StoreError::NotAStore {
        path: path.to_path_buf(),
        reason,
    };
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => return Err(not_a_store("it is a directory".into())),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(not_a_store("there is no such file".into()));
        }
        Err(e) => return Err(not_a_store(format!("it cannot be read: {e}"))),
    }
    let open_err = |source: rusqlite::Error| StoreError::Open {
        path: path.to_path_buf(),
        source: source.into(),
    };
    // No SQLITE_OPEN_CREATE: a missing file must not become an empty database. No URI
    // parsing either: the path is a file name, whatever characters it has.
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(open_err)?;
    conn.busy_timeout(Duration::from_secs(5))
        .and_then(|()| conn.pragma_update(None, "query_only", "ON"))
        .map_err(open_err)?;
    run(&conn, path)
}

/// Runs every check on `conn` in one read transaction.
pub(super) fn run(conn: &Connection, path: &Path) -> Result<CheckReport> {
    // Rolled back when dropped: nothing was written in it anyway.
    let tx = conn
        .unchecked_transaction()
        .ctx(path, || "starting the read transaction".into())?;
    let schema_version = schema_version(&tx, path)?;
    let mut checks = vec![integrity(&tx), foreign_keys(&tx)];
    let mut walk = Walk {
        flags_have_events: CheckResult::new(CheckName::FlagsHaveEvents),
        events_have_flags: CheckResult::new(CheckName::EventsHaveFlags),
        fingerprints: CheckResult::new(CheckName::Fingerprints),
        review: CheckResult::new(CheckName::ReviewActions),
        identity: schema_version >= 4,
        cases: schema_version >= 8,
        flags: 0,
        events: 0,
    };
    if let Err(e) = walk.run(&tx) {
        // Which of the four the failure cut short is unknown: each says so.
        walk.flags_have_events.failed(&e);
        walk.events_have_flags.failed(&e);
        walk.fingerprints.failed(&e);
        walk.review.failed(&e);
    }
    let Walk {
        mut flags_have_events,
        mut events_have_flags,
        mut fingerprints,
        mut review,
        ..
    } = walk;
    let (flags, events) = (
        count(walk.flags, "flag", "flags"),
        count(walk.events, "event", "events"),
    );
    flags_have_events.note(flags.clone());
    events_have_flags.note(events.clone());
    review.note(format!("{flags}, {events}"));
    duplicate_fingerprints(&tx, &mut fingerprints);
    if schema_version >= 4 {
        fingerprints.note(format!(
            "{flags}: checked for duplicates past the index, and against their site, category and URL"
        ));
    } else {
        fingerprints.note(format!(
            "schema {schema_version}: fingerprints were per term before schema 4, so only their uniqueness is checked"
        ));
    }
    checks.extend([flags_have_events, events_have_flags, fingerprints, review]);
    checks.push(bodies(&tx));
    let problems_total = checks.iter().map(|c| c.problems_total).sum();
    Ok(CheckReport {
        path: path.to_path_buf(),
        schema_version,
        ok: problems_total == 0,
        problems_total,
        checks,
    })
}

fn schema_version(conn: &Connection, path: &Path) -> Result<i64> {
    let fail = |source: rusqlite::Error| match source.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => StoreError::NotAStore {
            path: path.to_path_buf(),
            reason: format!("it is not a SQLite database ({source})"),
        },
        _ => StoreError::Db {
            path: path.to_path_buf(),
            context: "reading the schema version".into(),
            source: source.into(),
        },
    };
    let tables: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
            [],
            |r| r.get(0),
        )
        .map_err(fail)?;
    if tables == 0 {
        return Err(StoreError::NotAStore {
            path: path.to_path_buf(),
            reason: "it is a SQLite database without sitepatrol's schema_migrations table".into(),
        });
    }
    let version: i64 = conn
        .query_row(sql::SCHEMA_VERSION, [], |r| r.get(0))
        .map_err(fail)?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            path: path.to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(version)
}

/// `n` things: `one` or `many` of them.
fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Any column as text: a damaged row may hold another type than the schema says, and the
/// check must report it rather than stop on it.
fn text(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<String>> {
    Ok(match row.get_ref(idx)? {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(f) => Some(f.to_string()),
        ValueRef::Text(t) | ValueRef::Blob(t) => Some(String::from_utf8_lossy(t).into_owned()),
    })
}

/// An integer column, or `None` for anything else.
fn int(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<i64>> {
    Ok(match row.get_ref(idx)? {
        ValueRef::Integer(i) => Some(i),
        _ => None,
    })
}

fn integrity(conn: &Connection) -> CheckResult {
    let mut check = CheckResult::new(CheckName::Integrity);
    let messages = conn
        .prepare(&format!("PRAGMA integrity_check({INTEGRITY_MESSAGES})"))
        .and_then(|mut st| {
            st.query_map([], |r| text(r, 0))?
                .collect::<rusqlite::Result<Vec<_>>>()
        });
    match messages {
        // A page too damaged for the check to walk is its finding, not a failure to check.
        Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseCorrupt) => {
            check.push(Problem::new(
                ProblemKind::Integrity,
                format!("PRAGMA integrity_check: {e}"),
            ))
        }
        Err(e) => check.failed(&e),
        Ok(messages) => {
            let messages: Vec<String> = messages.into_iter().flatten().collect();
            if messages != ["ok"] {
                for m in messages {
                    check.push(Problem::new(ProblemKind::Integrity, m));
                }
            }
        }
    }
    if check.passed {
        check.note("PRAGMA integrity_check: ok".into());
    }
    check
}

fn foreign_keys(conn: &Connection) -> CheckResult {
    let mut check = CheckResult::new(CheckName::ForeignKeys);
    // (table, rowid, parent, fkid)
    type Violation = (String, Option<i64>, String, Option<i64>);
    let rows = conn.prepare("PRAGMA foreign_key_check").and_then(|mut st| {
        st.query_map([], |r| {
            Ok((
                text(r, 0)?.unwrap_or_default(),
                int(r, 1)?,
                text(r, 2)?.unwrap_or_default(),
                int(r, 3)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<Violation>>>()
    });
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            check.failed(&e);
            return check;
        }
    };
    // The column of each foreign key, to say which one points nowhere.
    let mut columns: HashMap<String, HashMap<i64, String>> = HashMap::new();
    let mut skipped = 0u64;
    for (table, rowid, parent, fkid) in rows {
        if table == "flag_events" && parent == "flags" {
            skipped += 1;
            continue;
        }
        let keys = columns
            .entry(table.clone())
            .or_insert_with(|| foreign_key_columns(conn, &table));
        let column = fkid
            .and_then(|id| keys.get(&id))
            .map(String::as_str)
            .unwrap_or("foreign key");
        let what = match (rowid, table.as_str()) {
            (Some(id), "flags") => format!("flag {id}"),
            (Some(id), "outbox") => format!("webhook delivery {id}"),
            (Some(id), _) => format!("{table} row {id}"),
            (None, _) => format!("a {table} row"),
        };
        let mut problem = Problem::new(
            ProblemKind::ForeignKey,
            format!("{what}: its {column} names a {parent} row that does not exist"),
        );
        if table == "flags" {
            problem.flag_id = rowid;
        }
        check.push(problem);
    }
    if check.passed {
        check.note("PRAGMA foreign_key_check: ok".into());
    }
    if skipped > 0 {
        check.note(format!(
            "{} of missing flags listed under events_have_flags",
            count(skipped, "event", "events")
        ));
    }
    check
}

/// Foreign key id → its column in `table`, from `PRAGMA foreign_key_list`.
fn foreign_key_columns(conn: &Connection, table: &str) -> HashMap<i64, String> {
    conn.prepare("SELECT id, \"from\" FROM pragma_foreign_key_list(?1)")
        .and_then(|mut st| {
            st.query_map([table], |r| {
                Ok((r.get(0)?, text(r, 1)?.unwrap_or_default()))
            })?
            .collect()
        })
        .unwrap_or_default()
}

/// What a flag's history says its state or assignee should be.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expected {
    /// Nothing has set it since creation: no state yet, no assignee.
    Creation,
    /// Set by this event, to this value.
    Event(i64, Option<String>),
    /// Set by migration 4's event when it folded the flag, to this value.
    Folded(i64, Option<String>),
    /// Not known (a fold chose the assignee among its parts): not judged.
    Unknown,
    /// Set by this case event (a reviewer's action on the flag's case, schema 8 on), to this
    /// value: the flag's own events say nothing of it.
    Case(i64, Option<String>),
}

/// One flag's events, read in order.
struct History {
    events: u64,
    created: bool,
    state: Expected,
    assignee: Expected,
}

impl History {
    fn new() -> History {
        History {
            events: 0,
            created: false,
            state: Expected::Creation,
            assignee: Expected::Creation,
        }
    }

    fn add(&mut self, e: &EventRow) {
        self.events += 1;
        match e.kind.as_deref() {
            Some("state") => {
                if e.from_state.is_none() && e.to_state.as_deref() == Some("open") {
                    self.created = true;
                }
                if e.to_state.is_some() {
                    self.state = Expected::Event(e.id, e.to_state.clone());
                }
            }
            Some("assign") => self.assignee = Expected::Event(e.id, e.reason.clone()),
            Some("comment") if e.actor.as_deref() == Some(MIGRATION_ACTOR) => {
                if let Some(state) = e.reason.as_deref().and_then(folded_state) {
                    self.state = Expected::Folded(e.id, Some(state.as_str().to_string()));
                    self.assignee = Expected::Unknown;
                }
            }
            _ => {}
        }
    }
}

struct FlagRow {
    id: FlagId,
    fingerprint: Option<String>,
    site: Option<String>,
    category: Option<String>,
    url: Option<String>,
    state: Option<String>,
    assignee: Option<String>,
    /// The case event that last set the state, and the flag state its case state means.
    case_state: Option<(i64, Option<String>)>,
    /// The case event that last set the assignee, and the assignee it set.
    case_assignee: Option<(i64, Option<String>)>,
}

/// The flag state a case action leaves its flags in.
fn flag_state_of_case_state(case_state: Option<&str>) -> Option<String> {
    match case_state? {
        "confirmed" => Some("confirmed".into()),
        "dismissed" => Some("dismissed".into()),
        "open" => Some("reopened".into()),
        other => Some(format!("(case state {other})")),
    }
}

struct EventRow {
    id: i64,
    /// `None` when the column holds no integer.
    flag_id: Option<i64>,
    actor: Option<String>,
    kind: Option<String>,
    from_state: Option<String>,
    to_state: Option<String>,
    reason: Option<String>,
}

/// One pass over the flags by id and the events by (flag, id) side by side, for the four
/// checks that relate them; memory holds one flag's counters at a time.
struct Walk {
    flags_have_events: CheckResult,
    events_have_flags: CheckResult,
    fingerprints: CheckResult,
    review: CheckResult,
    /// Whether fingerprints are (site, category, URL) ones: schema 4 on.
    identity: bool,
    /// Whether flags can be moved by case events: schema 8 on.
    cases: bool,
    flags: u64,
    events: u64,
}

fn shown(value: &Option<String>) -> String {
    match value {
        Some(v) => format!("`{v}`"),
        None => "none".into(),
    }
}

impl Walk {
    fn run(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        let mut flag_st = conn.prepare(if self.cases {
            "SELECT f.id, f.fingerprint, f.site_id, f.category, f.url, f.state, f.assignee,
                f.case_state_event, cs.to_state, f.case_assign_event, ca.reason
             FROM flags f
             LEFT JOIN case_events cs ON cs.id = f.case_state_event
             LEFT JOIN case_events ca ON ca.id = f.case_assign_event
             ORDER BY f.id"
        } else {
            "SELECT id, fingerprint, site_id, category, url, state, assignee,
                NULL, NULL, NULL, NULL FROM flags ORDER BY id"
        })?;
        let mut event_st = conn.prepare(
            "SELECT id, flag_id, actor, kind, from_state, to_state, reason FROM flag_events
             ORDER BY flag_id, id",
        )?;
        let flags = flag_st.query_map([], |r| {
            Ok(FlagRow {
                id: r.get(0)?,
                fingerprint: text(r, 1)?,
                site: text(r, 2)?,
                category: text(r, 3)?,
                url: text(r, 4)?,
                state: text(r, 5)?,
                assignee: text(r, 6)?,
                case_state: int(r, 7)?.map(|event| {
                    let to = text(r, 8).ok().flatten();
                    (event, flag_state_of_case_state(to.as_deref()))
                }),
                case_assignee: int(r, 9)?.map(|event| (event, text(r, 10).ok().flatten())),
            })
        })?;
        let events = event_st.query_map([], |r| {
            Ok(EventRow {
                id: r.get(0)?,
                flag_id: int(r, 1)?,
                actor: text(r, 2)?,
                kind: text(r, 3)?,
                from_state: text(r, 4)?,
                to_state: text(r, 5)?,
                reason: text(r, 6)?,
            })
        })?;
        let mut events = events.peekable();
        for flag in flags {
            let flag = flag?;
            self.flags += 1;
            let mut history = History::new();
            // Events ordered by flag id: this flag's, after those of ids that are not a
            // flag's (NULL and text flag ids sort before and after the integers).
            let up_to_this_flag = |e: &rusqlite::Result<EventRow>| !matches!(e, Ok(e) if e.flag_id.is_some_and(|f| f > flag.id));
            while let Some(event) = events.next_if(up_to_this_flag) {
                let event = event?;
                self.events += 1;
                if event.flag_id == Some(flag.id) {
                    history.add(&event);
                } else {
                    self.orphan(&event);
                }
            }
            if let Some((event, to)) = &flag.case_state {
                history.state = Expected::Case(*event, to.clone());
            }
            if let Some((event, to)) = &flag.case_assignee {
                history.assignee = Expected::Case(*event, to.clone());
            }
            self.judge(&flag, &history);
        }
        for event in events {
            let event = event?;
            self.events += 1;
            self.orphan(&event);
        }
        Ok(())
    }

    fn orphan(&mut self, e: &EventRow) {
        let detail = match e.flag_id {
            Some(f) => format!("event {}: names flag {f}, which does not exist", e.id),
            None => format!("event {}: names no flag", e.id),
        };
        let mut problem = Problem::new(ProblemKind::OrphanEvent, detail).event(e.id);
        problem.flag_id = e.flag_id;
        self.events_have_flags.push(problem);
    }

    fn judge(&mut self, flag: &FlagRow, history: &History) {
        let id = flag.id;
        if history.events == 0 {
            self.flags_have_events.push(
                Problem::new(
                    ProblemKind::FlagWithoutEvents,
                    format!("flag {id}: no events, not even the one that created it"),
                )
                .flag(id),
            );
        } else if !history.created {
            self.flags_have_events.push(
                Problem::new(
                    ProblemKind::FlagWithoutCreationEvent,
                    format!(
                        "flag {id}: {} event(s), but not the one that created it (a state event to open from none)",
                        history.events
                    ),
                )
                .flag(id),
            );
        }
        if self.identity {
            let part = |v: &Option<String>| v.clone().unwrap_or_default();
            let own = fingerprint(&part(&flag.site), &part(&flag.category), &part(&flag.url));
            if flag.fingerprint.as_deref() != Some(own.as_str()) {
                let stored = part(&flag.fingerprint);
                self.fingerprints.push(
                    Problem::new(
                        ProblemKind::FingerprintMismatch,
                        format!(
                            "flag {id}: fingerprint {stored} is not that of its site, category and URL ({own}); a crawl of the page would add a second flag"
                        ),
                    )
                    .flag(id)
                    .fingerprint(&stored),
                );
            }
        }
        let state = match &history.state {
            Expected::Event(event, to) if *to != flag.state => Some((
                *event,
                format!("its last state event, event {event}, set {}", shown(to)),
            )),
            Expected::Folded(event, to) if *to != flag.state => Some((
                *event,
                format!(
                    "migration event {event}, which folded it, left it {}",
                    shown(to)
                ),
            )),
            Expected::Case(event, to) if *to != flag.state => Some((
                *event,
                format!(
                    "case event {event}, which last moved it, left it {}",
                    shown(to)
                ),
            )),
            _ => None,
        };
        if let Some((event, why)) = state {
            self.review.push(
                Problem::new(
                    ProblemKind::StateWithoutEvent,
                    format!(
                        "flag {id}: state is {}, but {why}: a state change without its event (a half-applied review action)",
                        shown(&flag.state)
                    ),
                )
                .flag(id)
                .event(event),
            );
        }
        let (event, why) = match &history.assignee {
            Expected::Creation if flag.assignee.is_some() => {
                (None, "no event assigned it".to_string())
            }
            Expected::Event(event, to) | Expected::Case(event, to) if *to != flag.assignee => (
                Some(*event),
                format!(
                    "its last assignment, event {event}, {}",
                    match to {
                        Some(to) => format!("assigned it to `{to}`"),
                        None => "cleared it".into(),
                    }
                ),
            ),
            _ => return,
        };
        let mut problem = Problem::new(
            ProblemKind::AssigneeWithoutEvent,
            format!(
                "flag {id}: assignee is {}, but {why}: an assignment without its event (a half-applied review action)",
                shown(&flag.assignee)
            ),
        )
        .flag(id);
        problem.event_id = event;
        self.review.push(problem);
    }
}

fn duplicate_fingerprints(conn: &Connection, check: &mut CheckResult) {
    // NOT INDEXED: read the table itself, not the UNIQUE index that should make this empty.
    let rows = conn
        .prepare(
            "SELECT fingerprint, group_concat(id) FROM flags NOT INDEXED
             GROUP BY fingerprint HAVING COUNT(*) > 1 ORDER BY MIN(id)",
        )
        .and_then(|mut st| {
            st.query_map([], |r| {
                Ok((
                    text(r, 0)?.unwrap_or_default(),
                    text(r, 1)?.unwrap_or_default(),
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        });
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            check.failed(&e);
            return;
        }
    };
    for (fp, ids) in rows {
        let mut ids: Vec<FlagId> = ids.split(',').filter_map(|i| i.parse().ok()).collect();
        ids.sort_unstable();
        let Some((&first, rest)) = ids.split_first() else {
            continue;
        };
        for &id in rest {
            check.push(
                Problem::new(
                    ProblemKind::DuplicateFingerprint,
                    format!("flag {id}: has the fingerprint {fp} of flag {first}"),
                )
                .flag(id)
                .fingerprint(&fp),
            );
        }
    }
}

/// What became of one stored copy.
enum BodyVerdict {
    Verified,
    /// Cut at the cap: decompressed and sized, hash not checkable.
    Prefix,
    /// No data: nothing to check.
    Pruned,
    Problem(Problem),
}

fn bodies(conn: &Connection) -> CheckResult {
    let mut check = CheckResult::new(CheckName::Bodies);
    let (mut verified, mut prefixes, mut pruned) = (0u64, 0u64, 0u64);
    let walk = conn
        .prepare(
            "SELECT sha256, original_size, stored_size, truncated, data FROM bodies ORDER BY sha256",
        )
        .and_then(|mut st| {
            let mut rows = st.query([])?;
            while let Some(row) = rows.next()? {
                match body_row(row)? {
                    BodyVerdict::Verified => verified += 1,
                    BodyVerdict::Prefix => prefixes += 1,
                    BodyVerdict::Pruned => pruned += 1,
                    BodyVerdict::Problem(p) => check.push(p),
                }
            }
            Ok(())
        });
    if let Err(e) = walk {
        check.failed(&e);
    }
    check.note(format!(
        "stored copies: {verified} hash to their sha256, {prefixes} cut at the cap (sizes checked; the hash is the full body's), {pruned} pruned"
    ));
    check
}

/// One row of `bodies`, as [`bodies`] selects it.
fn body_row(row: &Row<'_>) -> rusqlite::Result<BodyVerdict> {
    let sha256 = text(row, 0)?.unwrap_or_default();
    let data = match row.get_ref(4)? {
        ValueRef::Null => return Ok(BodyVerdict::Pruned),
        ValueRef::Blob(b) | ValueRef::Text(b) => b,
        other => {
            return Ok(BodyVerdict::Problem(
                Problem::new(
                    ProblemKind::BodyUnreadable,
                    format!(
                        "body {sha256}: data is {:?}, not a gzip BLOB",
                        other.data_type()
                    ),
                )
                .body(&sha256),
            ));
        }
    };
    let sizes = (int(row, 1)?, int(row, 2)?, int(row, 3)?);
    Ok(verify_body(&sha256, sizes, data))
}

/// Checks one stored copy: `sizes` is (original_size, stored_size, truncated) as stored.
fn verify_body(
    sha256: &str,
    sizes: (Option<i64>, Option<i64>, Option<i64>),
    data: &[u8],
) -> BodyVerdict {
    let problem =
        |kind, detail: String| BodyVerdict::Problem(Problem::new(kind, detail).body(sha256));
    let (Some(original), Some(stored), Some(truncated)) = sizes else {
        return problem(
            ProblemKind::BodySizeMismatch,
            format!("body {sha256}: original_size, stored_size or truncated is not an integer"),
        );
    };
    if original < 0 || stored != data.len() as i64 {
        return problem(
            ProblemKind::BodySizeMismatch,
            format!(
                "body {sha256}: stored_size is {stored} and original_size {original}, but the copy has {} bytes",
                data.len()
            ),
        );
    }
    // Never more than original_size + 1 bytes, as the store reads a body: a damaged or
    // hostile BLOB cannot blow up memory.
    let body = match decompress_at_most(data, original as usize) {
        Ok(body) => body,
        Err(e) => {
            return problem(
                ProblemKind::BodyUnreadable,
                format!("body {sha256}: the copy does not decompress: {e}"),
            );
        }
    };
    let len = body.len() as u64;
    if len > original as u64 {
        return problem(
            ProblemKind::BodyUnreadable,
            format!(
                "body {sha256}: the copy decompresses to more than its original_size, {original} bytes"
            ),
        );
    }
    if truncated != 0 {
        if len >= original as u64 {
            return problem(
                ProblemKind::BodySizeMismatch,
                format!(
                    "body {sha256}: marked as cut at the cap, but the copy has all {original} bytes"
                ),
            );
        }
        return BodyVerdict::Prefix;
    }
    if len != original as u64 {
        return problem(
            ProblemKind::BodySizeMismatch,
            format!(
                "body {sha256}: the copy decompresses to {len} bytes, original_size is {original} (and it is not marked as cut)"
            ),
        );
    }
    let actual = sha256_hex(&body);
    if actual != sha256 {
        return problem(
            ProblemKind::BodyHashMismatch,
            format!("body {sha256}: the copy's SHA-256 after decompression is {actual}"),
        );
    }
    BodyVerdict::Verified
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compress_body;

    #[test]
    fn bodies_are_verified_by_hash_or_by_size_when_cut() {
        let body = "<p>在线赌博</p>".repeat(100).into_bytes();
        let sha = sha256_hex(&body);
        let n = body.len() as i64;
        let (z, cut) = compress_body(&body, usize::MAX);
        assert!(!cut);
        let zn = z.len() as i64;
        assert!(matches!(
            verify_body(&sha, (Some(n), Some(zn), Some(0)), &z),
            BodyVerdict::Verified
        ));
        let kind = |v: BodyVerdict| match v {
            BodyVerdict::Problem(p) => {
                assert!(p.detail.contains(p.body_sha256.as_deref().unwrap()));
                Some(p.kind)
            }
            _ => None,
        };
        let other = sha256_hex(b"another body");
        assert_eq!(
            kind(verify_body(&other, (Some(n), Some(zn), Some(0)), &z)),
            Some(ProblemKind::BodyHashMismatch)
        );
        assert_eq!(
            kind(verify_body(&sha, (Some(n), Some(zn + 1), Some(0)), &z)),
            Some(ProblemKind::BodySizeMismatch)
        );
        assert_eq!(
            kind(verify_body(&sha, (Some(n - 1), Some(zn), Some(0)), &z)),
            Some(ProblemKind::BodyUnreadable),
            "more than original_size"
        );
        assert_eq!(
            kind(verify_body(&sha, (Some(n + 1), Some(zn), Some(0)), &z)),
            Some(ProblemKind::BodySizeMismatch)
        );
        assert_eq!(
            kind(verify_body(&sha, (Some(n), Some(8), Some(0)), b"not gzip")),
            Some(ProblemKind::BodyUnreadable)
        );
        // Cut at the cap: the prefix is checked for its size only.
        let (z, cut) = compress_body(&body, 100);
        assert!(cut);
        let zn = z.len() as i64;
        assert!(matches!(
            verify_body(&sha, (Some(n), Some(zn), Some(1)), &z),
            BodyVerdict::Prefix
        ));
        assert_eq!(
            kind(verify_body(&sha, (Some(100), Some(zn), Some(1)), &z)),
            Some(ProblemKind::BodySizeMismatch)
        );
    }

    #[test]
    fn a_history_sets_what_the_flag_should_hold() {
        let ev =
            |id, kind: &str, from: Option<&str>, to: Option<&str>, reason: Option<&str>| EventRow {
                id,
                flag_id: Some(1),
                actor: Some(
                    if kind == "comment" {
                        MIGRATION_ACTOR
                    } else {
                        "bob"
                    }
                    .into(),
                ),
                kind: Some(kind.into()),
                from_state: from.map(Into::into),
                to_state: to.map(Into::into),
                reason: reason.map(Into::into),
            };
        let mut h = History::new();
        h.add(&ev(1, "state", None, Some("open"), None));
        assert!(h.created);
        h.add(&ev(2, "assign", None, None, Some("alice")));
        h.add(&ev(
            3,
            "state",
            Some("open"),
            Some("confirmed"),
            Some("赌博"),
        ));
        assert_eq!(h.state, Expected::Event(3, Some("confirmed".into())));
        assert_eq!(h.assignee, Expected::Event(2, Some("alice".into())));
        // A fold's event: the state it names, the assignee unknown.
        h.add(&ev(4, "state", Some("open"), Some("resolved"), None));
        h.add(&ev(
            5,
            "comment",
            None,
            None,
            Some("… are now this one, which keeps the state confirmed (confirmed > …"),
        ));
        assert_eq!(h.state, Expected::Folded(5, Some("confirmed".into())));
        assert_eq!(h.assignee, Expected::Unknown);
        assert_eq!(h.events, 5);
    }
}
