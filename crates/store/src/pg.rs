//! The PostgreSQL backend: the database several daemons share (they claim sites with leases,
//! `Store::claim_due_sites`, and elect a leader through `PgElector`'s advisory lock). The
//! store's logic is the engine's (`engine.rs`); this is how PostgreSQL connects, binds, reads
//! and runs transactions.
//!
//! The client is the synchronous `postgres` crate (rust-postgres over tokio-postgres) with a
//! small pool of our own: the [`Store`](crate::Store) trait is synchronous and called from
//! `spawn_blocking` or a writer thread, exactly what a blocking client serves; an async pool
//! (deadpool, sqlx) would be driven from blocking code through a runtime handle for nothing.
//! A blocking client must not be called on an async worker thread (it runs its own
//! current-thread runtime per connection, and tokio refuses a runtime inside a runtime):
//! every store call in the daemon goes through `spawn_blocking`, and one made on a
//! multi-thread runtime's worker by mistake goes through `block_in_place` ([`off_runtime`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::error::Error as StdError;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use bytes::BytesMut;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, GenericClient, IsolationLevel, NoTls, Statement};

use super::db::{Db, DbError, DbResult, Dialect, Row, Val, dollar_placeholders};
use super::engine::{Backend, Ctx, Engine};
use super::{Result, StoreConfig, StoreError, migrate};

/// The PostgreSQL store: `Engine` over [`Postgres`].
pub type PgStore = Engine<Postgres>;

/// Connections to one PostgreSQL database, pooled.
pub struct Postgres {
    config: postgres::Config,
    /// The URL without its password: what errors and logs name.
    shown: PathBuf,
    pool: Mutex<Pool>,
    returned: Condvar,
    max: usize,
    /// `StoreConfig::busy_timeout_ms`, as each session's `lock_timeout`.
    lock_timeout_ms: u64,
}

struct Pool {
    idle: Vec<Conn>,
    /// Connections open, idle or lent.
    open: usize,
}

/// A connection and the statements prepared on it, by the SQL as the engine spells it.
struct Conn {
    client: Client,
    statements: HashMap<String, Statement>,
}

/// How long a caller waits for a connection when all are lent before the call fails.
const POOL_WAIT: Duration = Duration::from_secs(30);
/// Prepared statements kept per connection; the engine has about 120 distinct ones, list
/// filters add a few per combination. Past this the cache starts over.
const STATEMENTS_PER_CONN: usize = 512;
/// The first key of the migration lock (`pg_advisory_xact_lock(key, schema)`): "sptr".
const MIGRATION_LOCK: i32 = 0x7370_7472;

/// Whether `e` says the connection's session is over: closed, or ended by the server's FATAL
/// (57P01, terminated by an administrator or a failover), which can arrive before the client
/// has seen the socket close.
fn session_gone(client: &Client, e: &postgres::Error) -> bool {
    client.is_closed()
        || e.is_closed()
        || e.as_db_error().is_some_and(|db| db.severity() == "FATAL")
}

/// Runs `f`, which blocks on the client's own runtime, where that is allowed. The daemon calls
/// the store from `spawn_blocking`, where this is `f()`; a call made on a multi-thread
/// runtime's worker by mistake moves the worker's other tasks away for the call
/// (`block_in_place`) instead of panicking on a runtime inside a runtime. (A current-thread
/// runtime has no such way out: there the call must be made from `spawn_blocking`.)
pub(crate) fn off_runtime<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Attempts of a write that a concurrent transaction got in the way of.
const WRITE_ATTEMPTS: u32 = 3;

/// A failure that another transaction caused and a new attempt can get past.
fn concurrent_conflict(e: &StoreError) -> bool {
    use postgres::error::SqlState;
    let StoreError::Db {
        source: DbError::Postgres(e),
        ..
    } = e
    else {
        return false;
    };
    e.code().is_some_and(|code| {
        [
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::UNIQUE_VIOLATION,
        ]
        .contains(code)
    })
}

/// `schema_migrations` in PostgreSQL's dialect (SQLite's is `sql::SCHEMA_MIGRATIONS`).
const SCHEMA_MIGRATIONS: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version    BIGINT PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)";

/// `url` without its password, for errors and logs: `postgres://user:secret@host/db` reads
/// `postgres://user@host/db`, and a `password=` in the query or in the key=value form is
/// left out.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        // key=value form: host=… user=… password=…
        return url
            .split_whitespace()
            .filter(|kv| !kv.to_ascii_lowercase().starts_with("password="))
            .collect::<Vec<_>>()
            .join(" ");
    };
    let (authority_path, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match authority_path.find('/') {
        Some(i) => authority_path.split_at(i),
        None => (authority_path, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{user}@{host}")
        }
        None => authority.to_string(),
    };
    let mut out = format!("{scheme}://{authority}{path}");
    if let Some(query) = query {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|kv| !kv.to_ascii_lowercase().starts_with("password="))
            .collect();
        if !kept.is_empty() {
            out.push('?');
            out.push_str(&kept.join("&"));
        }
    }
    out
}

/// A [`Val`] bound to a parameter of the type PostgreSQL inferred for it: an integer goes to
/// BIGINT, INTEGER, SMALLINT, a float or a boolean column; anything else is refused with the
/// parameter's type named, not guessed.
#[derive(Debug)]
struct Arg<'a>(&'a Val);

impl ToSql for Arg<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn StdError + Sync + Send>> {
        let refuse = || -> Box<dyn StdError + Sync + Send> {
            format!(
                "cannot bind {} to a parameter of type {ty}",
                self.0.type_name()
            )
            .into()
        };
        match (self.0, ty) {
            (Val::Null, _) => Ok(IsNull::Yes),
            (Val::Int(i), &Type::INT8) => i.to_sql(ty, out),
            (Val::Int(i), &Type::INT4) => i32::try_from(*i)?.to_sql(ty, out),
            (Val::Int(i), &Type::INT2) => i16::try_from(*i)?.to_sql(ty, out),
            (Val::Int(i), &Type::FLOAT8) => (*i as f64).to_sql(ty, out),
            (Val::Int(i), &Type::BOOL) => (*i != 0).to_sql(ty, out),
            (Val::Real(r), &Type::FLOAT8) => r.to_sql(ty, out),
            (Val::Real(r), &Type::FLOAT4) => (*r as f32).to_sql(ty, out),
            (Val::Text(s), &Type::TEXT | &Type::VARCHAR | &Type::BPCHAR | &Type::NAME) => {
                text(s).to_sql(ty, out)
            }
            (Val::Text(s), &Type::UNKNOWN) => text(s).to_sql(&Type::TEXT, out),
            (Val::Blob(b), &Type::BYTEA) => b.as_slice().to_sql(ty, out),
            _ => Err(refuse()),
        }
    }

    fn accepts(_: &Type) -> bool {
        // Every type is offered to `to_sql`, which decides per value and says why not.
        true
    }

    to_sql_checked!();
}

/// Text as PostgreSQL can store it: its TEXT cannot hold U+0000, which SQLite's can, and a
/// hostile page can put one where the store keeps text (a script's decoded string quoted in a
/// snippet). Each becomes U+FFFD, what a browser shows, rather than failing the whole crawl;
/// lookups bind the same replacement, so they still find the row.
fn text(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains('\0') {
        std::borrow::Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// Column `idx` of a row as a [`Val`]: integers of any width, floats, text, bytea, and
/// booleans as 0/1 (as SQLite has them). Other types are refused by name: the shared SQL
/// casts where PostgreSQL would return one (SUM over BIGINT is NUMERIC).
fn val_of(row: &postgres::Row, idx: usize) -> DbResult<Val> {
    let ty = row.columns()[idx].type_();
    let v = match *ty {
        Type::INT8 => row.try_get::<_, Option<i64>>(idx)?.map(Val::Int),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(idx)?
            .map(|i| Val::Int(i.into())),
        Type::INT2 => row
            .try_get::<_, Option<i16>>(idx)?
            .map(|i| Val::Int(i.into())),
        Type::FLOAT8 => row.try_get::<_, Option<f64>>(idx)?.map(Val::Real),
        Type::FLOAT4 => row
            .try_get::<_, Option<f32>>(idx)?
            .map(|f| Val::Real(f.into())),
        Type::BOOL => row
            .try_get::<_, Option<bool>>(idx)?
            .map(|b| Val::Int(b.into())),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
            row.try_get::<_, Option<String>>(idx)?.map(Val::Text)
        }
        Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(idx)?.map(Val::Blob),
        Type::VOID => None,
        _ => {
            return Err(DbError::Other(format!(
                "column {idx} ({}) is of type {ty}, which the store does not read; cast it in the statement",
                row.columns()[idx].name()
            )));
        }
    };
    Ok(v.unwrap_or(Val::Null))
}

/// One transaction of a pooled connection.
/// A pooled connection as a [`Db`]: in a transaction (`C` = `Transaction`), or on its own
/// for a read of one statement (`C` = `Client`: no BEGIN and COMMIT round trips).
struct PgDb<'a, C> {
    tx: RefCell<&'a mut C>,
    statements: RefCell<&'a mut HashMap<String, Statement>>,
}

impl<'a, C: GenericClient> PgDb<'a, C> {
    fn new(conn: &'a mut C, statements: &'a mut HashMap<String, Statement>) -> PgDb<'a, C> {
        PgDb {
            tx: RefCell::new(conn),
            statements: RefCell::new(statements),
        }
    }

    fn tx(&self) -> DbResult<std::cell::RefMut<'_, &'a mut C>> {
        // Only a statement run from inside a row callback of this transaction finds it
        // borrowed: refused rather than a panic (see `Db::query_each`).
        self.tx.try_borrow_mut().map_err(|_| {
            DbError::Other(
                "a statement was run while this transaction was still reading rows".into(),
            )
        })
    }

    /// The statement for `sql`, prepared once per connection: `?N` becomes `$N`, and
    /// PostgreSQL infers each parameter's type, which [`Arg`] then binds to.
    fn prepare(&self, sql: &str) -> DbResult<Statement> {
        if let Some(st) = self.statements.borrow().get(sql) {
            return Ok(st.clone());
        }
        let st = self.tx()?.prepare(&dollar_placeholders(sql))?;
        let mut cache = self.statements.borrow_mut();
        if cache.len() >= STATEMENTS_PER_CONN {
            cache.clear();
        }
        cache.insert(sql.to_string(), st.clone());
        Ok(st)
    }
}

impl<C: GenericClient> Db for PgDb<'_, C> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&self, sql: &str, params: &[Val]) -> DbResult<u64> {
        let st = self.prepare(sql)?;
        let args: Vec<Arg<'_>> = params.iter().map(Arg).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a as _).collect();
        Ok(self.tx()?.execute(&st, &refs)?)
    }

    fn query_each(
        &self,
        sql: &str,
        params: &[Val],
        f: &mut dyn FnMut(Row) -> DbResult<()>,
    ) -> DbResult<()> {
        use postgres::fallible_iterator::FallibleIterator;
        let st = self.prepare(sql)?;
        let mut tx = self.tx()?;
        let mut rows = tx.query_raw(&st, params.iter().map(Arg))?;
        while let Some(row) = rows.next()? {
            let vals = (0..row.len())
                .map(|i| val_of(&row, i))
                .collect::<DbResult<Vec<_>>>()?;
            f(Row::new(vals))?;
        }
        Ok(())
    }

    fn batch(&self, sql: &str) -> DbResult<()> {
        Ok(self.tx()?.batch_execute(sql)?)
    }
}

/// A connection lent by the pool; back to it when dropped, unless it broke.
struct Lent<'a> {
    pg: &'a Postgres,
    conn: Option<Conn>,
}

impl Lent<'_> {
    /// Closes the connection instead of returning it to the pool.
    fn discard(&mut self) {
        if let Some(conn) = self.conn.take() {
            drop(conn);
            let mut pool = self.pg.pool();
            pool.open = pool.open.saturating_sub(1);
            drop(pool);
            self.pg.returned.notify_one();
        }
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        let mut pool = self.pg.pool();
        if conn.client.is_closed() {
            pool.open = pool.open.saturating_sub(1);
        } else {
            pool.idle.push(conn);
        }
        drop(pool);
        self.pg.returned.notify_one();
    }
}

impl Postgres {
    fn pool(&self) -> MutexGuard<'_, Pool> {
        // The pool's state is a list and a count, consistent between statements: a panic
        // elsewhere while holding the lock cannot leave it half-changed.
        self.pool
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn connect(&self) -> DbResult<Conn> {
        let mut client = self.config.connect(NoTls)?;
        // The shared SQL writes `ESCAPE '\'` and `?N` is rewritten outside literals as
        // standard SQL reads them: a server still configured for backslash escapes in
        // ordinary literals would read both otherwise.
        // A lock held by another session (a second daemon's transaction, an operator's
        // `psql`) delays a statement at most as long as SQLite's busy timeout would, then
        // fails it with an error instead of holding a thread forever.
        client.batch_execute(&format!(
            "SET standard_conforming_strings = on; SET lock_timeout = {}",
            self.lock_timeout_ms
        ))?;
        Ok(Conn {
            client,
            statements: HashMap::new(),
        })
    }

    /// An idle connection, a new one while fewer than `max` are open, or the next one
    /// returned, waiting at most [`POOL_WAIT`].
    fn lend(&self) -> Result<Lent<'_>> {
        let deadline = std::time::Instant::now() + POOL_WAIT;
        let mut pool = self.pool();
        loop {
            if let Some(conn) = pool.idle.pop() {
                return Ok(Lent {
                    pg: self,
                    conn: Some(conn),
                });
            }
            if pool.open < self.max {
                pool.open += 1;
                drop(pool);
                return match self.connect() {
                    Ok(conn) => Ok(Lent {
                        pg: self,
                        conn: Some(conn),
                    }),
                    Err(e) => {
                        let mut pool = self.pool();
                        pool.open = pool.open.saturating_sub(1);
                        Err(e).ctx(&self.shown, || "connecting".into())
                    }
                };
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(StoreError::Db {
                    path: self.shown.clone(),
                    context: "waiting for a connection".into(),
                    source: DbError::Other(format!(
                        "all {} connections of the pool stayed busy for {} s",
                        self.max,
                        POOL_WAIT.as_secs()
                    )),
                });
            }
            pool = self
                .returned
                .wait_timeout(pool, left)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }

    fn run<T>(
        &self,
        context: &str,
        level: IsolationLevel,
        read_only: bool,
        f: impl FnOnce(&dyn Db) -> Result<T>,
    ) -> Result<T> {
        let mut f = Some(f);
        // Pooled connections the server closed meanwhile (a restart, a failover, an idle
        // timeout) fail their BEGIN, before anything ran: each is dropped and the next one
        // taken, at most once per connection the pool can hold.
        let mut stale = 0;
        loop {
            let mut lent = self.lend()?;
            let conn = lent.conn.as_mut().ok_or_else(|| StoreError::Db {
                path: self.shown.clone(),
                context: format!("starting a transaction for {context}"),
                source: DbError::Other("the pool lent no connection".into()),
            })?;
            let Conn { client, statements } = conn;
            let failed = match client
                .build_transaction()
                .isolation_level(level)
                .read_only(read_only)
                .start()
            {
                Ok(mut tx) => {
                    let f = f.take().ok_or_else(|| StoreError::Db {
                        path: self.shown.clone(),
                        context: context.to_string(),
                        source: DbError::Other("the transaction's work ran already".into()),
                    })?;
                    // On an error the transaction is dropped, which rolls it back.
                    let out = f(&PgDb::new(&mut tx, statements))?;
                    tx.commit()
                        .ctx(&self.shown, || format!("committing {context}"))?;
                    return Ok(out);
                }
                Err(e) => e,
            };
            if session_gone(client, &failed) && stale < self.max {
                stale += 1;
                lent.discard();
                continue;
            }
            return Err(failed).ctx(&self.shown, || {
                format!("starting a transaction for {context}")
            });
        }
    }
}

impl Drop for Postgres {
    /// Closes the idle connections on a thread of their own, joined: closing one blocks on
    /// the client's own runtime, which tokio refuses on a thread that drives a runtime, and
    /// the last handle of the store is often dropped there (the daemon's shutdown).
    fn drop(&mut self) {
        let idle = std::mem::take(&mut self.pool().idle);
        if idle.is_empty() {
            return;
        }
        std::thread::scope(|scope| {
            scope.spawn(move || drop(idle));
        });
    }
}

impl Backend for Postgres {
    fn path(&self) -> &Path {
        &self.shown
    }

    /// READ COMMITTED, retried (from the start, on a new transaction) when PostgreSQL says a
    /// concurrent transaction was in the way: a deadlock, a serialization failure, or a
    /// unique violation (another writer inserted the same row first: the run key, the
    /// fingerprint, the one active case of a site and category), which the next attempt
    /// reads and takes into account instead of failing the crawl or the reviewer's action.
    fn write<T>(&self, context: &str, f: impl Fn(&dyn Db) -> Result<T>) -> Result<T> {
        off_runtime(|| self.write_retried(context, f))
    }

    /// Outside a transaction: every `read` of the engine is one statement, and a statement is
    /// its own snapshot, so BEGIN and COMMIT would only add two round trips. A read is run
    /// again on the next connection when the server had closed the one it took.
    fn read<T>(&self, context: &str, f: impl Fn(&dyn Db) -> Result<T>) -> Result<T> {
        off_runtime(|| self.read_plain(context, f))
    }

    fn snapshot<T>(&self, context: &str, f: impl FnOnce(&dyn Db) -> Result<T>) -> Result<T> {
        // REPEATABLE READ: every statement of `f` reads the snapshot of its first.
        off_runtime(|| self.run(context, IsolationLevel::RepeatableRead, true, f))
    }

    /// A session of its own, outside the pool: the advisory lock lives as long as it does.
    fn elector(&self) -> Result<Box<dyn crate::Elector>> {
        Ok(Box::new(PgElector {
            config: self.config.clone(),
            shown: self.shown.clone(),
            client: None,
            held: false,
        }))
    }
}

/// The first key of the leader lock (`pg_try_advisory_lock(key, schema)`): "spld".
const LEADER_LOCK: i32 = 0x7370_6c64;

/// The leader election on PostgreSQL: a session-level advisory lock on (sitepatrol leader,
/// the current schema), taken with `pg_try_advisory_lock` on a connection nothing else uses.
/// The server releases it when the session ends: the leader's exit, kill -9 (the kernel
/// closes the socket), or a network cut once the keepalives give up on it.
struct PgElector {
    config: postgres::Config,
    shown: PathBuf,
    client: Option<Client>,
    held: bool,
}

impl PgElector {
    fn try_lead(&mut self) -> std::result::Result<bool, postgres::Error> {
        if self.client.as_ref().is_none_or(|c| c.is_closed()) {
            self.held = false;
            let mut client = self.config.connect(NoTls)?;
            client.batch_execute("SET application_name = 'sitepatrol leader election'")?;
            self.client = Some(client);
        }
        let Some(client) = self.client.as_mut() else {
            return Ok(false);
        };
        if self.held {
            // Still ours while the session lives: one round trip proves it does.
            client.simple_query("SELECT 1")?;
            return Ok(true);
        }
        let row = client.query_one(
            "SELECT pg_try_advisory_lock($1, hashtext(current_schema()))",
            &[&LEADER_LOCK],
        )?;
        self.held = row.get::<_, bool>(0);
        Ok(self.held)
    }
}

impl crate::Elector for PgElector {
    fn lead(&mut self) -> Result<bool> {
        off_runtime(|| match self.try_lead() {
            Ok(leads) => Ok(leads),
            Err(e) => {
                // The session is gone or going: so is the lock. Another session next time.
                self.client = None;
                self.held = false;
                Err(e).ctx(&self.shown, || "checking the leader lock".into())
            }
        })
    }

    fn resign(&mut self) {
        off_runtime(|| {
            if let Some(mut client) = self.client.take()
                && self.held
            {
                let _ = client.query_one(
                    "SELECT pg_advisory_unlock($1, hashtext(current_schema()))",
                    &[&LEADER_LOCK],
                );
            }
            self.held = false;
        })
    }
}

impl Postgres {
    fn write_retried<T>(&self, context: &str, f: impl Fn(&dyn Db) -> Result<T>) -> Result<T> {
        let mut attempt = 1;
        loop {
            match self.run(context, IsolationLevel::ReadCommitted, false, &f) {
                Err(e) if attempt < WRITE_ATTEMPTS && concurrent_conflict(&e) => {
                    std::thread::sleep(Duration::from_millis(5 << attempt));
                    attempt += 1;
                }
                out => return out,
            }
        }
    }

    fn read_plain<T>(&self, context: &str, f: impl Fn(&dyn Db) -> Result<T>) -> Result<T> {
        let mut stale = 0;
        loop {
            let mut lent = self.lend()?;
            let conn = lent.conn.as_mut().ok_or_else(|| StoreError::Db {
                path: self.shown.clone(),
                context: context.to_string(),
                source: DbError::Other("the pool lent no connection".into()),
            })?;
            let Conn { client, statements } = conn;
            let out = f(&PgDb::new(client, statements));
            if let Err(StoreError::Db {
                source: DbError::Postgres(e),
                ..
            }) = &out
                && session_gone(client, e)
                && stale < self.max
            {
                stale += 1;
                lent.discard();
                continue;
            }
            return out;
        }
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db`, or the
    /// key=value form; `options=-csearch_path%3Dschema` puts the store in a schema) with a
    /// pool of at most `pool_size` connections, and brings the schema up to date.
    ///
    /// The migrations run in one transaction that first takes a transaction-level advisory
    /// lock on (sitepatrol, the current schema): daemons starting at once against one
    /// database wait for each other, and the first one migrates.
    pub fn open(url: &str, pool_size: usize, config: StoreConfig) -> Result<PgStore> {
        off_runtime(|| PgStore::connect_and_migrate(url, pool_size, config))
    }

    fn connect_and_migrate(url: &str, pool_size: usize, config: StoreConfig) -> Result<PgStore> {
        let shown = PathBuf::from(redact_url(url));
        let open_err = |source: DbError| StoreError::Open {
            path: shown.clone(),
            source,
        };
        let mut pg_config: postgres::Config = url.parse().map_err(|e: postgres::Error| {
            open_err(DbError::Other(format!("not a PostgreSQL URL: {e}")))
        })?;
        if pg_config.get_connect_timeout().is_none() {
            pg_config.connect_timeout(Duration::from_secs(10));
        }
        if pg_config.get_application_name().is_none() {
            pg_config.application_name("sitepatrol");
        }
        // A server that vanished (a network cut, a failover to another host) is noticed in
        // about a minute rather than the kernel's two hours, unless the URL says otherwise.
        if !url.contains("keepalives_idle") {
            pg_config
                .keepalives_idle(Duration::from_secs(30))
                .keepalives_interval(Duration::from_secs(10))
                .keepalives_retries(3);
        }
        let pg = Postgres {
            config: pg_config,
            shown: shown.clone(),
            pool: Mutex::new(Pool {
                idle: Vec::new(),
                open: 0,
            }),
            returned: Condvar::new(),
            max: pool_size.max(1),
            lock_timeout_ms: config.busy_timeout_ms,
        };
        // A first connection now, so that a wrong URL or password fails the open.
        let conn = pg.connect().map_err(open_err)?;
        pg.pool().idle.push(conn);
        pg.pool().open = 1;
        // Not `write`: no retry; the lock is what keeps concurrent opens apart.
        pg.run(
            "the migrations",
            IsolationLevel::ReadCommitted,
            false,
            |tx| {
                // Waiting for another daemon's migration is not a lock to give up on after
                // the busy timeout: a migration of a large store takes longer than that.
                tx.batch("SET LOCAL lock_timeout = 0").ctx(&shown, || {
                    "lifting the lock timeout for the migrations".into()
                })?;
                tx.execute(
                    "SELECT pg_advisory_xact_lock(?1, hashtext(current_schema()))",
                    &[Val::Int(MIGRATION_LOCK.into())],
                )
                .ctx(&shown, || "taking the migration lock".into())?;
                tx.batch(SCHEMA_MIGRATIONS)
                    .ctx(&shown, || "creating schema_migrations".into())?;
                migrate::migrate(tx, &shown)
            },
        )?;
        Ok(Engine::new(pg, config))
    }

    /// The database as errors name it: the URL without its password.
    pub fn url(&self) -> &Path {
        &self.db.shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password() {
        for (url, shown) in [
            (
                "postgres://sp:s3cr%40t@db.internal:5432/patrol?sslmode=disable",
                "postgres://sp@db.internal:5432/patrol?sslmode=disable",
            ),
            (
                "postgresql://sp@127.0.0.1/test",
                "postgresql://sp@127.0.0.1/test",
            ),
            (
                "postgres://h/db?user=sp&password=x&application_name=a",
                "postgres://h/db?user=sp&application_name=a",
            ),
            (
                "host=/run/postgresql user=sp password=hunter2 dbname=patrol",
                "host=/run/postgresql user=sp dbname=patrol",
            ),
            ("postgres://a:b@h", "postgres://a@h"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }
}
