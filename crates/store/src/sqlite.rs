//! The SQLite backend: the embedded default. The store's logic is the engine's
//! (`engine.rs`); this is how SQLite opens, binds, reads and runs transactions.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, TransactionBehavior};

use super::db::{Db, DbResult, Dialect, Row, Val};
use super::engine::{Backend, Ctx, Engine};
use super::migrate;
use super::{Result, StoreConfig, StoreError, sql};

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
pub type SqliteStore = Engine<Sqlite>;

/// SQLite's connections (see [`SqliteStore`]).
pub struct Sqlite {
    conn: Mutex<Connection>,
    /// `None` in memory: a second connection would open a second, empty database.
    reader: Option<Mutex<Connection>>,
    path: PathBuf,
}

impl rusqlite::ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Val::Null => ValueRef::Null,
            Val::Int(i) => ValueRef::Integer(*i),
            Val::Real(r) => ValueRef::Real(*r),
            Val::Text(s) => ValueRef::Text(s.as_bytes()),
            Val::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

fn val_of(v: ValueRef<'_>, idx: usize) -> DbResult<Val> {
    Ok(match v {
        ValueRef::Null => Val::Null,
        ValueRef::Integer(i) => Val::Int(i),
        ValueRef::Real(r) => Val::Real(r),
        ValueRef::Text(t) => Val::Text(
            std::str::from_utf8(t)
                .map_err(|e| super::db::DbError::Value {
                    idx,
                    message: format!("text that is not UTF-8: {e}"),
                })?
                .to_string(),
        ),
        ValueRef::Blob(b) => Val::Blob(b.to_vec()),
    })
}

/// A connection, or a transaction through `Deref`: statements are prepared once per
/// connection and cached (`prepare_cached`), as they were before the neutral layer.
impl Db for Connection {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&self, sql: &str, params: &[Val]) -> DbResult<u64> {
        let mut st = self.prepare_cached(sql)?;
        Ok(st.execute(rusqlite::params_from_iter(params.iter()))? as u64)
    }

    fn query_each(
        &self,
        sql: &str,
        params: &[Val],
        f: &mut dyn FnMut(Row) -> DbResult<()>,
    ) -> DbResult<()> {
        let mut st = self.prepare_cached(sql)?;
        let n = st.column_count();
        let mut rows = st.query(rusqlite::params_from_iter(params.iter()))?;
        while let Some(row) = rows.next()? {
            let mut vals = Vec::with_capacity(n);
            for i in 0..n {
                vals.push(val_of(row.get_ref(i)?, i)?);
            }
            f(Row::new(vals))?;
        }
        Ok(())
    }

    fn batch(&self, sql: &str) -> DbResult<()> {
        Ok(self.execute_batch(sql)?)
    }
}

impl Backend for Sqlite {
    fn path(&self) -> &Path {
        &self.path
    }

    fn write<T>(&self, context: &str, f: impl Fn(&dyn Db) -> Result<T>) -> Result<T> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(&self.path, || {
                format!("starting a transaction for {context}")
            })?;
        let out = f(&*tx)?;
        tx.commit()
            .ctx(&self.path, || format!("committing {context}"))?;
        Ok(out)
    }

    /// One daemon per SQLite file: it always leads.
    fn elector(&self) -> Result<Box<dyn crate::Elector>> {
        Ok(Box::new(AlwaysLeader))
    }

    fn read<T>(&self, _context: &str, f: impl Fn(&dyn Db) -> Result<T>) -> Result<T> {
        f(&*self.reader())
    }

    fn snapshot<T>(&self, context: &str, f: impl FnOnce(&dyn Db) -> Result<T>) -> Result<T> {
        let guard = self.reader();
        // A read transaction: every statement of `f` sees one snapshot. Dropped (rolled back)
        // at the end.
        let tx = guard
            .unchecked_transaction()
            .ctx(&self.path, || format!("starting a read for {context}"))?;
        f(&*tx)
    }
}

impl Sqlite {
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
}

impl SqliteStore {
    /// The versions of this build's migrations, in the order they apply; not every number
    /// up to [`crate::SCHEMA_VERSION`] need be there.
    pub fn migration_versions() -> Vec<i64> {
        migrate::migration_versions()
    }

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
        let open_err = |source: rusqlite::Error| StoreError::Open {
            path: path.clone(),
            source: source.into(),
        };
        let conn = Connection::open(&path).map_err(open_err)?;
        let mut store = SqliteStore::init(conn, path.clone(), config, true)?;
        // Opened after the migrations, so it sees the schema they made.
        let reader = Connection::open(&path).map_err(open_err)?;
        let ms = std::time::Duration::from_millis(store.config.busy_timeout_ms);
        reader
            .busy_timeout(ms)
            .and_then(|()| reader.pragma_update(None, "query_only", "ON"))
            .map_err(open_err)?;
        reader.set_prepared_statement_cache_capacity(64);
        store.db.reader = Some(Mutex::new(reader));
        Ok(store)
    }

    /// A private in-memory store, for tests and one-off tools.
    pub fn open_in_memory(config: StoreConfig) -> Result<SqliteStore> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Open {
            path: path.clone(),
            source: source.into(),
        })?;
        SqliteStore::init(conn, path, config, false)
    }

    fn init(
        mut conn: Connection,
        path: PathBuf,
        config: StoreConfig,
        wal: bool,
    ) -> Result<SqliteStore> {
        let open_err = |source: rusqlite::Error| StoreError::Open {
            path: path.clone(),
            source: source.into(),
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
                return Err(open_err(rusqlite::Error::InvalidParameterName(format!(
                    "journal_mode is {mode}, WAL is required (is the file on a network file system?)"
                ))));
            }
        }
        let sync = if config.sync_full { "FULL" } else { "NORMAL" };
        conn.pragma_update(None, "synchronous", sync)
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        conn.set_prepared_statement_cache_capacity(64);
        conn.execute_batch(sql::SCHEMA_MIGRATIONS)
            .ctx(&path, || "creating schema_migrations".into())?;
        // IMMEDIATE: two processes opening a fresh store at once must not both migrate.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(&path, || "starting the migration transaction".into())?;
        migrate::migrate(&*tx, &path)?;
        tx.commit()
            .ctx(&path, || "committing the migrations".into())?;
        Ok(Engine::new(
            Sqlite {
                conn: Mutex::new(conn),
                reader: None,
                path,
            },
            config,
        ))
    }

    /// Runs `store check` ([`super::check`]) on this store, in one read transaction of the
    /// read connection: writers go on meanwhile, and the report is of one snapshot.
    pub fn check(&self) -> Result<super::CheckReport> {
        super::check::run(&self.db.reader(), &self.db.path)
    }

    /// The database file (`:memory:` for in-memory stores).
    pub fn path(&self) -> &Path {
        &self.db.path
    }

    /// Closes the connections, checkpointing the WAL into the database file.
    pub fn close(self) -> Result<()> {
        let Sqlite { conn, reader, path } = self.db;
        if let Some(reader) = reader {
            let reader = reader
                .into_inner()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            reader.close().map_err(|(_, source)| StoreError::Db {
                path: path.clone(),
                context: "closing the reader".into(),
                source: source.into(),
            })?;
        }
        let conn = conn
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        conn.close().map_err(|(_, source)| StoreError::Db {
            path: path.clone(),
            context: "closing".into(),
            source: source.into(),
        })
    }
}

/// The election of a store only one daemon uses.
struct AlwaysLeader;

impl crate::Elector for AlwaysLeader {
    fn lead(&mut self) -> Result<bool> {
        Ok(true)
    }

    fn resign(&mut self) {}
}
