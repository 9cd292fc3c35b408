//! The schema's migrations: numbered, embedded, each in SQLite's and PostgreSQL's dialect,
//! applied by one runner over the neutral layer.
//!
//! The two files of a number make the same tables, columns and indexes; they differ only
//! where the dialects do (see `migrations/pg/0001_init.sql`). A code step (migrations 4 and
//! 8) runs after the SQL in the same transaction, through [`crate::db::Db`], so it is the
//! same code on both databases; on a fresh database it finds nothing to do.

use std::collections::HashSet;
use std::path::Path;

use crate::db::{Db, DbError, DbResult, Dialect, vals};
use crate::engine::CaseSync;
use crate::{Result, StoreError, Timestamp, sql};

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i64 = 13;

pub(crate) struct Migration {
    pub version: i64,
    pub name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
    /// Run after the SQL, in the same transaction: for what SQL alone cannot say portably
    /// (hashes, JSON, the case step). `now` is the time of the migration.
    code: Option<CodeStep>,
}

/// A migration's code step, in the migration's transaction at time `now`.
type CodeStep = fn(tx: &dyn Db, now: Timestamp) -> DbResult<()>;

impl Migration {
    fn sql(&self, dialect: Dialect) -> &'static str {
        match dialect {
            Dialect::Sqlite => self.sqlite,
            Dialect::Postgres => self.postgres,
        }
    }
}

macro_rules! migration {
    ($version:literal, $name:literal, $file:literal, $code:expr) => {
        Migration {
            version: $version,
            name: $name,
            sqlite: include_str!(concat!("migrations/", $file)),
            postgres: include_str!(concat!("migrations/pg/", $file)),
            code: $code,
        }
    };
}

/// Applied in order in one transaction at open. Never edit a migration that has shipped:
/// add the next one (in both dialects).
pub(crate) const MIGRATIONS: &[Migration] = &[
    migration!(1, "init", "0001_init.sql", None),
    migration!(2, "count_indexes", "0002_count_indexes.sql", None),
    migration!(3, "outbox", "0003_outbox.sql", None),
    migration!(
        4,
        "page_category_flags",
        "0004_page_category_flags.sql",
        Some(crate::fold::fold_per_term_flags)
    ),
    migration!(5, "screenshots", "0005_screenshots.sql", None),
    migration!(6, "page_links", "0006_page_links.sql", None),
    migration!(7, "crawl_checkpoints", "0007_crawl_checkpoints.sql", None),
    migration!(
        8,
        "cases",
        "0008_cases.sql",
        Some(open_cases_of_existing_flags)
    ),
    migration!(9, "login_links", "0009_login_links.sql", None),
    migration!(10, "customers", "0010_customers.sql", None),
    migration!(11, "leases", "0011_leases.sql", None),
    migration!(12, "flag_versions", "0012_flag_versions.sql", None),
    migration!(13, "origin_leases", "0013_origin_leases.sql", None),
];

/// The versions of this build's migrations, in the order they apply; not every number up to
/// [`SCHEMA_VERSION`] need be there.
pub fn migration_versions() -> Vec<i64> {
    MIGRATIONS.iter().map(|m| m.version).collect()
}

/// Migration 8's code step: the active flags of an older store are gathered into cases, as a
/// crawl would gather them, so that the queue is complete from the first start.
fn open_cases_of_existing_flags(tx: &dyn Db, now: Timestamp) -> DbResult<()> {
    let sites: Vec<String> = tx.rows(sql::SITES_WITH_ACTIVE_FLAGS, &[], |r| r.get(0))?;
    for site in sites {
        CaseSync {
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
        .map_err(|e| DbError::Other(e.to_string()))?;
    }
    Ok(())
}

/// Brings the schema up to date inside the caller's transaction, which the caller made
/// exclusive (SQLite: IMMEDIATE; PostgreSQL: an advisory lock), so that two processes opening
/// one fresh store at once do not both migrate. `schema_migrations` exists.
pub(crate) fn migrate(tx: &dyn Db, path: &Path) -> Result<()> {
    let db = |context: &'static str| {
        move |source: DbError| StoreError::Db {
            path: path.to_path_buf(),
            context: context.to_string(),
            source,
        }
    };
    let current: i64 = tx
        .one(sql::SCHEMA_VERSION, &[], |r| r.get(0))
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
    let applied: HashSet<i64> = tx
        .rows(sql::APPLIED_MIGRATIONS, &[], |r| r.get(0))
        .map_err(db("reading the applied migrations"))?
        .into_iter()
        .collect();
    for m in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        let err = |source| StoreError::Migration {
            path: path.to_path_buf(),
            version: m.version,
            name: m.name,
            source,
        };
        let now = sitepatrol_core::clock::unix_now();
        tx.batch(m.sql(tx.dialect())).map_err(err)?;
        if let Some(code) = m.code {
            code(tx, now).map_err(err)?;
        }
        tx.execute(sql::INSERT_MIGRATION, vals![m.version, m.name, now])
            .map_err(err)?;
    }
    Ok(())
}
