//! A PostgreSQL database for a test: a fresh schema in the database of `SITEPATROL_TEST_PG`,
//! dropped at the end, so tests run in parallel against one server and leave nothing behind.

use std::sync::atomic::{AtomicU32, Ordering};

/// The environment variable naming the test database (`.ci/run` sets it).
pub const ENV: &str = "SITEPATROL_TEST_PG";

/// A schema of its own; the store opened on [`Schema::url`] lives in it.
pub struct Schema {
    /// The test database's URL with `search_path` set to the schema.
    pub url: String,
    base: String,
    name: String,
}

impl Schema {
    /// `None`, after a notice, where `SITEPATROL_TEST_PG` is unset: the PostgreSQL tests pass
    /// on a laptop without a server.
    pub fn new() -> Option<Schema> {
        let Ok(base) = std::env::var(ENV) else {
            eprintln!("{ENV} is not set: the PostgreSQL store tests pass without running");
            return None;
        };
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "sp_test_{}_{}_{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let mut client = postgres::Client::connect(&base, postgres::NoTls)
            .unwrap_or_else(|e| panic!("{ENV}={base}: cannot connect: {e}"));
        client
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .expect("create the test schema");
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-csearch_path%3D{name}");
        Some(Schema { url, base, name })
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        // Best effort: a test that failed still drops its schema, and a schema left by a
        // killed run is named by its process and can be dropped by hand.
        if let Ok(mut client) = postgres::Client::connect(&self.base, postgres::NoTls) {
            let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }
}

impl Schema {
    /// A plain client whose `search_path` is the schema, to look at or damage the tables.
    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).expect("connect to the schema")
    }
}
