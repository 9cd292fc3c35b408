//! Store operations run on their own, outside the daemon: `sitepatrol migrate` ([`migrate`])
//! and `sitepatrol store copy` ([`copy`]), which moves a store between SQLite and PostgreSQL
//! (either way, or SQLite to SQLite) without loss.
//!
//! The copy is generic over the schema rather than a list of tables written here: the tables,
//! their columns and the order their foreign keys need are read from the databases, so a table
//! a later migration adds is copied without anyone remembering to add it, and a table one side
//! has and the other does not (two builds of sitepatrol) stops the copy before it writes
//! anything. Rows travel as the neutral layer's [`Val`]s, so blobs (bodies, screenshots) are
//! copied byte for byte and ids keep their values; PostgreSQL's identity sequences are then
//! moved past the highest id, so the next row inserted does not collide.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use crate::db::{Db, DbError, Dialect, Row, Val};
use crate::engine::{Backend, Ctx};
use crate::migrate::MIGRATIONS;
use crate::{PgStore, Result, SqliteStore, StoreConfig, StoreError, redact_url, sql};

/// Where a store is: a SQLite file or a PostgreSQL URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Location {
    /// `postgres://…` or `postgresql://…` is PostgreSQL; `sqlite:PATH` (or `sqlite://PATH`)
    /// and a bare path are a SQLite file.
    pub fn parse(s: &str) -> std::result::Result<Location, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("an empty store location; give sqlite:PATH or postgres://…".into());
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(Location::Postgres(s.to_string()));
        }
        let path = s
            .strip_prefix("sqlite://")
            .or_else(|| s.strip_prefix("sqlite:"))
            .unwrap_or(s);
        if path.is_empty() {
            return Err(format!("`{s}` names no file; give sqlite:PATH"));
        }
        if path.contains("://") {
            return Err(format!(
                "`{s}` is neither a PostgreSQL URL (postgres://…) nor a SQLite file (sqlite:PATH)"
            ));
        }
        Ok(Location::Sqlite(PathBuf::from(path)))
    }

    /// As logs and errors name it: the URL without its password.
    pub fn shown(&self) -> String {
        match self {
            Location::Sqlite(path) => format!("sqlite:{}", path.display()),
            Location::Postgres(url) => redact_url(url),
        }
    }
}

/// A store opened by one of the operations, on either backend.
enum Opened {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl Opened {
    /// Opens the store, which brings its schema up to date as the daemon's start would.
    fn open(at: &Location, pool_size: usize) -> Result<Opened> {
        Ok(match at {
            Location::Sqlite(path) => {
                Opened::Sqlite(SqliteStore::open(path, StoreConfig::default())?)
            }
            Location::Postgres(url) => {
                Opened::Postgres(PgStore::open(url, pool_size, StoreConfig::default())?)
            }
        })
    }

    fn path(&self) -> &Path {
        match self {
            Opened::Sqlite(s) => s.db.path(),
            Opened::Postgres(s) => s.db.path(),
        }
    }

    fn dialect(&self) -> Dialect {
        match self {
            Opened::Sqlite(_) => Dialect::Sqlite,
            Opened::Postgres(_) => Dialect::Postgres,
        }
    }

    fn write<T>(&self, context: &str, f: impl Fn(&dyn Db) -> Result<T>) -> Result<T> {
        match self {
            Opened::Sqlite(s) => s.db.write(context, f),
            Opened::Postgres(s) => s.db.write(context, f),
        }
    }

    fn snapshot<T>(&self, context: &str, f: impl FnOnce(&dyn Db) -> Result<T>) -> Result<T> {
        match self {
            Opened::Sqlite(s) => s.db.snapshot(context, f),
            Opened::Postgres(s) => s.db.snapshot(context, f),
        }
    }
}

/// What [`migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrateReport {
    /// The store as named in logs (no password).
    pub store: String,
    /// The schema version before: `None` when there was no store yet (an empty database or
    /// a file that did not exist).
    pub from: Option<i64>,
    /// The schema version after.
    pub to: i64,
    /// The migrations applied now, in order: (version, name).
    pub applied: Vec<(i64, String)>,
}

/// Brings the store at `at` to this build's schema, as the daemon does when it opens it, and
/// says from which version to which. Safe beside running daemons: the migrations take the
/// same lock as their start (SQLite: an IMMEDIATE transaction; PostgreSQL: an advisory lock
/// on the schema).
pub fn migrate(at: &Location) -> Result<MigrateReport> {
    let before = applied_versions(at)?;
    let opened = Opened::open(at, 1)?;
    let path = opened.path().to_path_buf();
    let after: BTreeSet<i64> = opened
        .snapshot("reading the applied migrations", |db| {
            db.rows(sql::APPLIED_MIGRATIONS, &[], |r| r.get(0))
                .ctx(&path, || "reading the applied migrations".into())
        })?
        .into_iter()
        .collect();
    let applied = MIGRATIONS
        .iter()
        .filter(|m| after.contains(&m.version) && !before.contains(&m.version))
        .map(|m| (m.version, m.name.to_string()))
        .collect();
    Ok(MigrateReport {
        store: at.shown(),
        from: before.iter().next_back().copied(),
        to: after.iter().next_back().copied().unwrap_or(0),
        applied,
    })
}

/// The migrations applied to the store at `at`, read without changing anything: empty when
/// there is no store there yet.
fn applied_versions(at: &Location) -> Result<BTreeSet<i64>> {
    let shown = PathBuf::from(at.shown());
    let open_err = |source: DbError| StoreError::Open {
        path: shown.clone(),
        source,
    };
    match at {
        Location::Sqlite(path) => {
            if !path.exists() {
                return Ok(BTreeSet::new());
            }
            let conn = rusqlite::Connection::open_with_flags(
                path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .map_err(|e| open_err(e.into()))?;
            let exists: i64 = conn
                .query_row(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
                    [],
                    |r| r.get(0),
                )
                .map_err(|e| open_err(e.into()))?;
            if exists == 0 {
                return Ok(BTreeSet::new());
            }
            let mut st = conn
                .prepare("SELECT version FROM schema_migrations")
                .map_err(|e| open_err(e.into()))?;
            let versions = st
                .query_map([], |r| r.get::<_, i64>(0))
                .and_then(|rows| rows.collect::<rusqlite::Result<BTreeSet<i64>>>())
                .map_err(|e| open_err(e.into()))?;
            Ok(versions)
        }
        Location::Postgres(url) => crate::pg::off_runtime(|| {
            let mut client =
                postgres::Client::connect(url, postgres::NoTls).map_err(|e| open_err(e.into()))?;
            let exists: bool = client
                .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
                .map_err(|e| open_err(e.into()))?
                .get(0);
            if !exists {
                return Ok(BTreeSet::new());
            }
            let rows = client
                .query("SELECT version FROM schema_migrations", &[])
                .map_err(|e| open_err(e.into()))?;
            Ok(rows.iter().map(|r| r.get::<_, i64>(0)).collect())
        }),
    }
}

/// How [`copy`] runs.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Empty a target that has rows first, instead of refusing it.
    pub force: bool,
    /// Rows per target transaction (a batch is cut earlier once it holds 16 MiB).
    pub batch_rows: usize,
}

impl Default for CopyOptions {
    fn default() -> CopyOptions {
        CopyOptions {
            force: false,
            batch_rows: 500,
        }
    }
}

/// What [`copy`] reports as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyProgress {
    /// A table's copy begins: its rows in the source.
    Table { table: String, rows: u64 },
    /// A batch was committed: rows of the table copied so far.
    Batch { table: String, done: u64, rows: u64 },
    /// The target had rows and `force` emptied it: (table, rows deleted), for each that had.
    Emptied { table: String, rows: u64 },
}

/// What [`copy`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    pub from: String,
    pub to: String,
    pub schema_version: i64,
    /// Every table in the order copied (parents before the tables that refer to them), with
    /// its rows.
    pub tables: Vec<(String, u64)>,
}

/// Copies every row of every table of the store at `from` into the store at `to`, which is
/// created or migrated to this build's schema first (and `from` too, as the daemon's start
/// would). Refuses a target that has rows unless `options.force`, then empties it first.
///
/// The source is read in one snapshot (stop the daemons that write to it first: what they
/// write after the copy began is not in the copy); the target is written in transactions of
/// `batch_rows` rows, so a copy that fails part way leaves a partial target that a second run
/// with `force` replaces. At the end every table's row count is compared.
pub fn copy(
    from: &Location,
    to: &Location,
    options: &CopyOptions,
    progress: &mut dyn FnMut(&CopyProgress),
) -> Result<CopyReport> {
    let refuse = |reason: String| StoreError::NotAStore {
        path: PathBuf::from(to.shown()),
        reason,
    };
    if same_place(from, to) {
        return Err(refuse("it is the source itself".into()));
    }
    if let Location::Sqlite(path) = from
        && !path.exists()
    {
        return Err(StoreError::NotAStore {
            path: path.clone(),
            reason: "there is no such file".into(),
        });
    }
    let source = Opened::open(from, 2)?;
    let target = Opened::open(to, 2)?;
    let src_path = source.path().to_path_buf();
    let dst_path = target.path().to_path_buf();

    let src_schema = read_schema(&source)?;
    let dst_schema = read_schema(&target)?;
    same_schema(&src_schema, &dst_schema).map_err(refuse)?;
    let order = parents_first(&src_schema.tables, &src_schema.references).map_err(refuse)?;

    empty_target(&target, &dst_path, &order, options.force, &refuse, progress)?;

    let identity = dst_schema.identity.clone();
    let batch_rows = options.batch_rows.max(1);
    let copied = source.snapshot("reading the source", |src| {
        let mut copied = Vec::new();
        for table in &order {
            let columns = &src_schema.tables[table];
            let rows: u64 = src
                .one(
                    &format!("SELECT COUNT(*) FROM {}", ident(table)),
                    &[],
                    |r| r.count(0),
                )
                .ctx(&src_path, || format!("counting table `{table}`"))?;
            progress(&CopyProgress::Table {
                table: table.clone(),
                rows,
            });
            let list = columns
                .iter()
                .map(|c| ident(c))
                .collect::<Vec<_>>()
                .join(", ");
            let marks = (1..=columns.len())
                .map(sql::placeholder)
                .collect::<Vec<_>>()
                .join(", ");
            let overriding = if target.dialect() == Dialect::Postgres
                && identity.iter().any(|(t, _)| t == table)
            {
                " OVERRIDING SYSTEM VALUE"
            } else {
                ""
            };
            let insert = format!(
                "INSERT INTO {} ({list}){overriding} VALUES ({marks})",
                ident(table)
            );
            let mut batch: Vec<Vec<Val>> = Vec::with_capacity(batch_rows);
            let mut batch_bytes = 0usize;
            let mut done = 0u64;
            let mut failed: Option<StoreError> = None;
            let mut flush = |batch: &mut Vec<Vec<Val>>, done: &mut u64| -> Result<()> {
                if batch.is_empty() {
                    return Ok(());
                }
                let context = format!("copying table `{table}`");
                target.write(&context, |tx| {
                    for row in batch.iter() {
                        tx.execute(&insert, row)
                            .ctx(&dst_path, || format!("inserting into `{table}`"))?;
                    }
                    Ok(())
                })?;
                *done += batch.len() as u64;
                batch.clear();
                progress(&CopyProgress::Batch {
                    table: table.clone(),
                    done: *done,
                    rows,
                });
                Ok(())
            };
            let read = src.query_each(
                &format!("SELECT {list} FROM {}", ident(table)),
                &[],
                &mut |row: Row| {
                    let vals = (0..row.len())
                        .map(|i| row.val(i).cloned())
                        .collect::<Result<Vec<Val>, DbError>>()?;
                    batch_bytes += vals.iter().map(val_bytes).sum::<usize>();
                    batch.push(vals);
                    if (batch.len() >= batch_rows || batch_bytes >= BATCH_BYTES)
                        && let Err(e) = flush(&mut batch, &mut done)
                    {
                        failed = Some(e);
                        return Err(DbError::Other("the copy stopped".into()));
                    }
                    if batch.is_empty() {
                        batch_bytes = 0;
                    }
                    Ok(())
                },
            );
            if let Some(e) = failed {
                return Err(e);
            }
            read.ctx(&src_path, || format!("reading table `{table}`"))?;
            flush(&mut batch, &mut done)?;
            copied.push((table.clone(), done));
        }
        Ok(copied)
    })?;

    reset_sequences(&target, &dst_path, &identity)?;

    // Every table holds what was read.
    let counts = target.snapshot("counting the copied rows", |db| {
        count_rows(db, &dst_path, &order)
    })?;
    for ((table, want), (_, got)) in copied.iter().zip(&counts) {
        if want != got {
            return Err(StoreError::Db {
                path: dst_path.clone(),
                context: format!("checking table `{table}` after the copy"),
                source: DbError::Other(format!("{got} rows, the source had {want}")),
            });
        }
    }
    Ok(CopyReport {
        from: from.shown(),
        to: to.shown(),
        schema_version: src_schema
            .migrations
            .iter()
            .next_back()
            .copied()
            .unwrap_or(0),
        tables: copied,
    })
}

/// Why the target's schema cannot take the source's rows as they are, if it cannot.
fn same_schema(src_schema: &Schema, dst_schema: &Schema) -> std::result::Result<(), String> {
    if src_schema.migrations != dst_schema.migrations {
        return Err(format!(
            "its migrations {:?} differ from the source's {:?}; run both with one sitepatrol build",
            dst_schema.migrations, src_schema.migrations
        ));
    }
    for (table, columns) in &src_schema.tables {
        match dst_schema.tables.get(table) {
            None => {
                return Err(format!(
                    "the source has a table `{table}` that the target's schema lacks; nothing was copied"
                ));
            }
            Some(dst) => {
                let (a, b): (BTreeSet<_>, BTreeSet<_>) =
                    (columns.iter().collect(), dst.iter().collect());
                if a != b {
                    return Err(format!(
                        "table `{table}` has columns {columns:?} in the source and {dst:?} in the target; nothing was copied"
                    ));
                }
            }
        }
    }
    if let Some(extra) = dst_schema
        .tables
        .keys()
        .find(|t| !src_schema.tables.contains_key(*t))
    {
        return Err(format!(
            "the target has a table `{extra}` that the source's schema lacks; nothing was copied"
        ));
    }
    Ok(())
}

/// An empty target, or one emptied on request (`force`).
fn empty_target(
    target: &Opened,
    dst_path: &Path,
    order: &[String],
    force: bool,
    refuse: &dyn Fn(String) -> StoreError,
    progress: &mut dyn FnMut(&CopyProgress),
) -> Result<()> {
    let counts = target.snapshot("counting the target's rows", |db| {
        count_rows(db, dst_path, order)
    })?;
    let filled: Vec<(String, u64)> = counts.into_iter().filter(|(_, n)| *n > 0).collect();
    if !filled.is_empty() {
        if !force {
            let list: Vec<String> = filled.iter().map(|(t, n)| format!("{t}: {n}")).collect();
            return Err(refuse(format!(
                "it is not empty ({}); copy into an empty store, or pass --force to delete its rows first",
                list.join(", ")
            )));
        }
        target.write("emptying the target", |tx| {
            for table in order.iter().rev() {
                tx.execute(&format!("DELETE FROM {}", ident(table)), &[])
                    .ctx(dst_path, || format!("emptying table `{table}`"))?;
            }
            Ok(())
        })?;
        for (table, rows) in &filled {
            progress(&CopyProgress::Emptied {
                table: table.clone(),
                rows: *rows,
            });
        }
    }

    Ok(())
}

/// The next id PostgreSQL hands out must come after the copied ones.
fn reset_sequences(target: &Opened, dst_path: &Path, identity: &[(String, String)]) -> Result<()> {
    if target.dialect() == Dialect::Postgres {
        target.write("moving the identity sequences past the copied ids", |tx| {
            for (table, column) in identity {
                let q = format!(
                    "SELECT setval(pg_get_serial_sequence(?1, ?2), COALESCE((SELECT MAX({c}) FROM {t}), 0) + 1, false)",
                    c = ident(column),
                    t = ident(table)
                );
                tx.rows(
                    &q,
                    &[Val::Text(ident(table)), Val::Text(column.clone())],
                    |_| Ok(()),
                )
                .ctx(dst_path, || {
                    format!("resetting the sequence of `{table}`.`{column}`")
                })?;
            }
            Ok(())
        })?;
    }

    Ok(())
}

/// A batch is also committed once its text and blobs reach this size: 500 rows of stored
/// bodies (up to the body cap each, compressed) would otherwise be held in memory at once.
const BATCH_BYTES: usize = 16 << 20;

fn val_bytes(v: &Val) -> usize {
    match v {
        Val::Text(t) => t.len(),
        Val::Blob(b) => b.len(),
        _ => 8,
    }
}

/// Whether two locations name one store (a copy onto itself would empty it with `force`).
fn same_place(a: &Location, b: &Location) -> bool {
    match (a, b) {
        (Location::Sqlite(x), Location::Sqlite(y)) => {
            x == y
                || matches!(
                    (std::fs::canonicalize(x), std::fs::canonicalize(y)),
                    (Ok(x), Ok(y)) if x == y
                )
        }
        (Location::Postgres(x), Location::Postgres(y)) => x == y,
        _ => false,
    }
}

/// A database's schema as the copy needs it.
struct Schema {
    /// Table → its columns in their order; `schema_migrations` is not among them.
    tables: BTreeMap<String, Vec<String>>,
    /// Table → the tables its foreign keys refer to.
    references: BTreeMap<String, BTreeSet<String>>,
    /// (table, column) of PostgreSQL's identity columns.
    identity: Vec<(String, String)>,
    migrations: BTreeSet<i64>,
}

fn read_schema(store: &Opened) -> Result<Schema> {
    let path = store.path().to_path_buf();
    let dialect = store.dialect();
    store.snapshot("reading the schema", |db| {
        let ctx = |what: &'static str| move || format!("reading the schema: {what}");
        let tables: Vec<String> = match dialect {
            Dialect::Sqlite => db.rows(
                "SELECT name FROM sqlite_master WHERE type = 'table'
                    AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
                &[],
                |r| r.get(0),
            ),
            Dialect::Postgres => db.rows(
                "SELECT CAST(table_name AS TEXT) FROM information_schema.tables
                    WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
                    ORDER BY 1",
                &[],
                |r| r.get(0),
            ),
        }
        .ctx(&path, ctx("the tables"))?;
        let mut schema = Schema {
            tables: BTreeMap::new(),
            references: BTreeMap::new(),
            identity: Vec::new(),
            migrations: db
                .rows(sql::APPLIED_MIGRATIONS, &[], |r| r.get(0))
                .ctx(&path, ctx("the migrations"))?
                .into_iter()
                .collect(),
        };
        for table in tables.into_iter().filter(|t| t != "schema_migrations") {
            let name = Val::Text(table.clone());
            let (columns, references) = match dialect {
                Dialect::Sqlite => (
                    db.rows(
                        "SELECT name FROM pragma_table_info(?1) ORDER BY cid",
                        std::slice::from_ref(&name),
                        |r| r.get(0),
                    ),
                    db.rows(
                        "SELECT DISTINCT \"table\" FROM pragma_foreign_key_list(?1)",
                        std::slice::from_ref(&name),
                        |r| r.get(0),
                    ),
                ),
                Dialect::Postgres => (
                    db.rows(
                        "SELECT CAST(column_name AS TEXT) FROM information_schema.columns
                            WHERE table_schema = current_schema() AND table_name = ?1
                            ORDER BY ordinal_position",
                        std::slice::from_ref(&name),
                        |r| r.get(0),
                    ),
                    db.rows(
                        "SELECT DISTINCT CAST(r.relname AS TEXT) FROM pg_constraint c
                            JOIN pg_class t ON t.oid = c.conrelid
                            JOIN pg_class r ON r.oid = c.confrelid
                            JOIN pg_namespace n ON n.oid = t.relnamespace
                            WHERE c.contype = 'f' AND t.relname = ?1
                                AND n.nspname = current_schema()",
                        std::slice::from_ref(&name),
                        |r| r.get(0),
                    ),
                ),
            };
            let columns: Vec<String> = columns.ctx(&path, ctx("the columns"))?;
            let references: Vec<String> = references.ctx(&path, ctx("the foreign keys"))?;
            if dialect == Dialect::Postgres {
                let identity: Vec<String> = db
                    .rows(
                        "SELECT CAST(column_name AS TEXT) FROM information_schema.columns
                            WHERE table_schema = current_schema() AND table_name = ?1
                                AND is_identity = 'YES'",
                        std::slice::from_ref(&name),
                        |r| r.get(0),
                    )
                    .ctx(&path, ctx("the identity columns"))?;
                schema
                    .identity
                    .extend(identity.into_iter().map(|c| (table.clone(), c)));
            }
            schema
                .references
                .insert(table.clone(), references.into_iter().collect());
            schema.tables.insert(table, columns);
        }
        Ok(schema)
    })
}

/// The tables, each after the tables its foreign keys refer to (a table referring to itself
/// is fine: its rows are inserted in the source's order, which is the order they were made).
fn parents_first(
    tables: &BTreeMap<String, Vec<String>>,
    references: &BTreeMap<String, BTreeSet<String>>,
) -> std::result::Result<Vec<String>, String> {
    let mut order = Vec::with_capacity(tables.len());
    let mut placed: HashSet<&str> = HashSet::new();
    while order.len() < tables.len() {
        let next = tables.keys().find(|t| {
            !placed.contains(t.as_str())
                && references.get(*t).is_none_or(|refs| {
                    refs.iter()
                        .all(|r| r == *t || placed.contains(r.as_str()) || !tables.contains_key(r))
                })
        });
        match next {
            Some(t) => {
                placed.insert(t);
                order.push(t.clone());
            }
            None => {
                let left: Vec<&String> = tables
                    .keys()
                    .filter(|t| !placed.contains(t.as_str()))
                    .collect();
                return Err(format!(
                    "the foreign keys of tables {left:?} refer to each other in a cycle; the copy cannot order them"
                ));
            }
        }
    }
    Ok(order)
}

fn count_rows(db: &dyn Db, path: &Path, tables: &[String]) -> Result<Vec<(String, u64)>> {
    tables
        .iter()
        .map(|t| {
            let n = db
                .one(&format!("SELECT COUNT(*) FROM {}", ident(t)), &[], |r| {
                    r.count(0)
                })
                .ctx(path, || format!("counting table `{t}`"))?;
            Ok((t.clone(), n))
        })
        .collect()
}

/// A table or column name quoted as an identifier (both dialects quote with `"`).
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse() {
        assert_eq!(
            Location::parse("sqlite:data/x.db"),
            Ok(Location::Sqlite("data/x.db".into()))
        );
        assert_eq!(
            Location::parse("sqlite:///var/lib/x.db"),
            Ok(Location::Sqlite("/var/lib/x.db".into()))
        );
        assert_eq!(Location::parse("x.db"), Ok(Location::Sqlite("x.db".into())));
        assert_eq!(
            Location::parse("postgresql://u:pw@h/db").map(|l| l.shown()),
            Ok("postgresql://u@h/db".to_string())
        );
        assert!(Location::parse("mysql://h/db").is_err());
        assert!(Location::parse("sqlite:").is_err());
    }

    #[test]
    fn parents_come_first() {
        let tables: BTreeMap<String, Vec<String>> = ["a", "b", "c", "d"]
            .iter()
            .map(|t| (t.to_string(), vec![]))
            .collect();
        let refs: BTreeMap<String, BTreeSet<String>> =
            [("a", vec!["c"]), ("b", vec!["a", "b"]), ("c", vec!["d"])]
                .into_iter()
                .map(|(t, r)| (t.to_string(), r.into_iter().map(String::from).collect()))
                .collect();
        assert_eq!(parents_first(&tables, &refs).unwrap(), ["d", "c", "a", "b"]);
        let cycle: BTreeMap<String, BTreeSet<String>> = [("a", "b"), ("b", "a")]
            .into_iter()
            .map(|(t, r)| (t.to_string(), BTreeSet::from([r.to_string()])))
            .collect();
        assert!(parents_first(&tables, &cycle).is_err());
    }
}
