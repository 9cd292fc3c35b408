//! PostgreSQL only: the migration lock, errors, what is stored, old schemas. The database of
//! each test is a schema of its own ([`Schema`]).

pub(crate) use crate::common::pg::{ENV, Schema};

use sitepatrol_store::{PgStore, SCHEMA_VERSION, Store, StoreError};

#[test]
fn daemons_opening_a_fresh_database_at_once_migrate_it_once() {
    let Some(schema) = Schema::new() else { return };
    let opened: Vec<Result<i64, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    let store = PgStore::open(&schema.url, 1, super::test_config())
                        .map_err(|e| e.to_string())?;
                    store.schema_version().map_err(|e| e.to_string())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for v in &opened {
        assert_eq!(v.as_ref(), Ok(&SCHEMA_VERSION), "{opened:?}");
    }
    let row = schema
        .client()
        .query_one(
            "SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_migrations",
            &[],
        )
        .unwrap();
    let (rows, versions): (i64, i64) = (row.get(0), row.get(1));
    let expected = sitepatrol_store::SqliteStore::migration_versions().len() as i64;
    assert_eq!((rows, versions), (expected, expected));
}

#[test]
fn errors_name_the_url_without_its_password_and_what_was_done() {
    let Some(schema) = Schema::new() else { return };
    // A database that does not exist: the open fails naming it, never the password.
    let base = std::env::var(ENV).unwrap();
    let (head, _db) = base.rsplit_once('/').unwrap();
    let url = format!("{}/sp_no_such_database", head.replacen('@', ":hunter2@", 1));
    let e = PgStore::open(&url, 1, super::test_config())
        .err()
        .expect("no such database");
    let message = e.to_string();
    assert!(matches!(e, StoreError::Open { .. }), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
    assert!(message.contains("/sp_no_such_database"), "{message}");
    assert!(message.contains("does not exist"), "{message}");

    // A store whose tables went away: the error says which operation, on which database.
    let store = PgStore::open(&schema.url, 1, super::test_config()).unwrap();
    schema
        .client()
        .batch_execute("DROP TABLE crawl_checkpoints")
        .unwrap();
    let message = store.checkpoint("s1").unwrap_err().to_string();
    assert!(
        message.contains("reading the checkpoint of site `s1`")
            && message.contains(&schema.url)
            && message.contains("crawl_checkpoints"),
        "{message}"
    );
}

#[test]
fn a_newer_schema_is_refused() {
    let Some(schema) = Schema::new() else { return };
    drop(PgStore::open(&schema.url, 1, super::test_config()).unwrap());
    schema
        .client()
        .execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, 'future', 0)",
            &[&(SCHEMA_VERSION + 1)],
        )
        .unwrap();
    match PgStore::open(&schema.url, 1, super::test_config()) {
        Err(StoreError::SchemaTooNew {
            found, supported, ..
        }) => assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION)),
        other => panic!("{:?}", other.map(|_| ())),
    }
}

#[test]
fn bodies_and_screenshots_are_bytea_with_the_same_gzip() {
    let Some(schema) = Schema::new() else { return };
    let store = PgStore::open(&schema.url, 2, super::test_config()).unwrap();
    super::site(&store, "s1", "c1");
    let body = "<p>在线赌博</p>".repeat(50);
    let mut p = super::page(super::A, &body, vec![super::gamble(super::A)]);
    p.screenshot = Some(b"\x89PNG\r\n\x1a\nfake".to_vec());
    store
        .record_crawl(&super::run("r1", "s1", 1_000), &[p])
        .unwrap();
    let row = schema
        .client()
        .query_one(
            "SELECT data, screenshot, pg_typeof(data)::text, original_size FROM bodies",
            &[],
        )
        .unwrap();
    let (data, png, ty, size): (Vec<u8>, Vec<u8>, String, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert_eq!(ty, "bytea");
    assert_eq!(&data[..2], &[0x1f, 0x8b], "gzip, as in SQLite");
    assert_eq!(
        sitepatrol_store::decompress_body(&data, size as usize).unwrap(),
        body.as_bytes()
    );
    assert_eq!(png, b"\x89PNG\r\n\x1a\nfake");
    // The same retention: pruned with the copy.
    assert_eq!(store.prune_bodies(1_060 + 101).unwrap(), 1);
    let sha = sitepatrol_store::sha256_hex(body.as_bytes());
    assert!(store.body(&sha).unwrap().is_none());
    assert!(store.screenshot(&sha).unwrap().is_none());
}

/// Migrations 4 and 8 have code steps (the fold of per-term flags, the cases of existing
/// flags). A fresh database has nothing for them; a schema-3 database with per-term flags
/// shows they run on PostgreSQL through the same code as on SQLite.
#[test]
fn a_schema_3_database_is_folded_and_gets_its_cases() {
    let Some(schema) = Schema::new() else { return };
    let mut c = schema.client();
    c.batch_execute(
        "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL,
             applied_at BIGINT NOT NULL);
         INSERT INTO schema_migrations VALUES (1, 'init', 0), (2, 'count_indexes', 0),
             (3, 'outbox', 0);",
    )
    .unwrap();
    for sql in [
        include_str!("../../../crates/store/src/migrations/pg/0001_init.sql"),
        include_str!("../../../crates/store/src/migrations/pg/0002_count_indexes.sql"),
        include_str!("../../../crates/store/src/migrations/pg/0003_outbox.sql"),
    ] {
        c.batch_execute(sql).unwrap();
    }
    c.batch_execute(
        "INSERT INTO sites (id, customer, domains, created_at, updated_at)
         VALUES ('s1', 'c1', '[\"s1.example.cn\"]', 1, 1)",
    )
    .unwrap();
    let url = "http://s1.example.cn/";
    let mut ids = Vec::new();
    for (term, state, rank) in [("赌场", "dismissed", 4_i64), ("百家乐", "open", 3)] {
        let row = c
            .query_one(
                "INSERT INTO flags (fingerprint, site_id, url, rule, category, clause, severity,
                     severity_rank, description, zone, matched, normalized, snippet,
                     match_offset, match_count, state, fetched_at, http_status, ip, body_sha256,
                     created_at, updated_at, last_seen_at, first_run, last_run)
                 VALUES ($1, 's1', $2, $3, 'gambling', '§2 (7)', 'high', $4, 'old rule', 'text',
                     $5, $5, $5, 5, 1, $6, 100, 200, '203.0.113.7', 'body', 100, 100, 200,
                     'r1', 'r2')
                 RETURNING id",
                &[
                    &format!("old-{term}"),
                    &url,
                    &format!("gambling.{rank}"),
                    &rank,
                    &term,
                    &state,
                ],
            )
            .unwrap();
        let id: i64 = row.get(0);
        c.execute(
            "INSERT INTO flag_events (flag_id, at, actor, kind, from_state, to_state)
             VALUES ($1, 100, 'crawler', 'state', NULL, 'open')",
            &[&id],
        )
        .unwrap();
        ids.push(id);
    }
    drop(c);

    let store = PgStore::open(&schema.url, 2, super::test_config()).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    let flags = super::all_flags(&store, Default::default());
    assert_eq!(flags.len(), 1, "{flags:?}");
    let f = &flags[0];
    assert_eq!(f.id, ids[1], "the open part survives");
    assert_eq!(f.state, sitepatrol_store::FlagState::Open);
    assert_eq!(
        f.fingerprint,
        sitepatrol_store::fingerprint("s1", "gambling", url)
    );
    assert_eq!(f.matched, "赌场", "the strongest part is quoted");
    assert_eq!(f.signals.len(), 2);
    let detail = store.flag(f.id).unwrap().unwrap();
    assert_eq!(
        detail.events.len(),
        3,
        "both parts' events and the migration's"
    );
    assert!(detail.events.iter().any(|e| e.actor == "migration"));
    // Migration 8 gathered the open flag into a case.
    let cases = store.list_cases(&Default::default()).unwrap().cases;
    assert_eq!(cases.len(), 1);
    assert_eq!((cases[0].pages, f.case_id), (1, Some(cases[0].id)));
}

/// A failover or a server restart closes the pooled connections: the next calls take new
/// ones instead of failing once per stale connection.
#[test]
fn connections_the_server_closed_are_replaced_without_an_error() {
    let Some(schema) = Schema::new() else { return };
    // Its own application name, so that only this test's sessions are terminated.
    let app = format!("sp_{}", std::process::id());
    let url = format!("{}&application_name={app}", schema.url);
    let store = PgStore::open(&url, 3, super::test_config()).unwrap();
    super::site(&store, "s1", "c1");
    // Three connections in the pool: three reads at once.
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| store.site("s1").unwrap().unwrap());
        }
    });
    let killed: i64 = schema
        .client()
        .query_one(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE application_name = $1",
            &[&app],
        )
        .unwrap()
        .get(0);
    assert!(killed >= 1, "{killed}");
    // pg_terminate_backend only signals: wait until the sessions are gone, so that every
    // call below meets a connection the server has closed (a failover cuts connections
    // between calls, which is what this test is about).
    let started = std::time::Instant::now();
    while schema
        .client()
        .query_one(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = $1",
            &[&app],
        )
        .unwrap()
        .get::<_, i64>(0)
        > 0
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the terminated sessions never ended"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    for _ in 0..4 {
        assert_eq!(store.site("s1").unwrap().unwrap().id, "s1");
    }
    super::site(&store, "s2", "c1");
    assert_eq!(store.sites(false, None, 0).unwrap().len(), 2);
}

/// A server (or role) still set to read backslashes in ordinary literals as escapes: the shared
/// SQL's `ESCAPE '\'` (the rule filter) still works, the store setting standard strings.
#[test]
fn a_server_with_backslash_escapes_still_runs_the_shared_sql() {
    let Some(schema) = Schema::new() else { return };
    let url = schema.url.replacen(
        "options=",
        "options=-cstandard_conforming_strings%3Doff%20",
        1,
    );
    assert_ne!(url, schema.url);
    let store = PgStore::open(&url, 1, super::test_config()).unwrap();
    super::site(&store, "s1", "c1");
    store
        .record_crawl(
            &super::run("r1", "s1", 1_000),
            &[super::page(
                super::A,
                "<p>在线赌博</p>",
                vec![super::gamble(super::A)],
            )],
        )
        .unwrap();
    let flags = super::all_flags(
        &store,
        sitepatrol_store::FlagFilter {
            rule: Some("gambling.casino".into()),
            ..Default::default()
        },
    );
    assert_eq!(flags.len(), 1);
}

/// A row locked by another session (a second daemon, an operator's `psql`) makes a write wait
/// at most `busy_timeout_ms`, then fail with an error naming the operation, as SQLite's busy
/// timeout does, rather than hold the thread for as long as the lock lasts.
#[test]
fn a_write_waits_for_a_lock_at_most_the_busy_timeout() {
    let Some(schema) = Schema::new() else { return };
    let config = sitepatrol_store::StoreConfig {
        busy_timeout_ms: 300,
        ..super::test_config()
    };
    let store = PgStore::open(&schema.url, 1, config).unwrap();
    super::site(&store, "s1", "c1");
    let mut other = schema.client();
    let mut tx = other.transaction().unwrap();
    tx.batch_execute("SELECT 1 FROM sites WHERE id = 's1' FOR UPDATE")
        .unwrap();
    let started = std::time::Instant::now();
    let message = store
        .set_filing_status("s1", "filed", 5)
        .unwrap_err()
        .to_string();
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert!(
        message.contains("setting the filing status of site `s1`")
            && message.contains("lock timeout"),
        "{message}"
    );
    tx.rollback().unwrap();
    store.set_filing_status("s1", "filed", 5).unwrap();
}

/// A daemon opening the store while another migrates it waits for the migration however long
/// it takes, not only the busy timeout.
#[test]
fn opening_waits_for_another_migration_past_the_busy_timeout() {
    let Some(schema) = Schema::new() else { return };
    let mut other = schema.client();
    let mut tx = other.transaction().unwrap();
    tx.batch_execute("SELECT pg_advisory_xact_lock(1936749682, hashtext(current_schema()))")
        .unwrap();
    let config = sitepatrol_store::StoreConfig {
        busy_timeout_ms: 200,
        ..super::test_config()
    };
    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        let opening = scope.spawn(|| PgStore::open(&schema.url, 1, config).map(|_| ()));
        std::thread::sleep(std::time::Duration::from_millis(800));
        assert!(!opening.is_finished(), "it waits for the lock");
        tx.commit().unwrap();
        opening.join().unwrap().unwrap();
    });
    assert!(started.elapsed() >= std::time::Duration::from_millis(800));
}

/// The two dialects' migrations make the same schema: every table with the same columns, of
/// the corresponding types and nullability, and the same indexes by name. A migration written
/// for one database only fails here.
#[test]
fn both_dialects_make_the_same_tables_columns_and_indexes() {
    use std::collections::BTreeSet;
    let Some(schema) = Schema::new() else { return };
    drop(PgStore::open(&schema.url, 1, super::test_config()).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    sitepatrol_store::SqliteStore::open(&path, super::test_config())
        .unwrap()
        .close()
        .unwrap();
    let lite = rusqlite::Connection::open(&path).unwrap();
    let pg_type = |sqlite: &str| match sqlite {
        "INTEGER" => "bigint",
        "TEXT" => "text",
        "REAL" => "double precision",
        "BLOB" => "bytea",
        other => panic!("a column of SQLite type {other}"),
    };
    let mut lite_columns = BTreeSet::new();
    let mut st = lite
        .prepare(
            "SELECT m.name, c.name, c.type, c.\"notnull\" OR c.pk > 0
             FROM sqlite_master m, pragma_table_info(m.name) c WHERE m.type = 'table'",
        )
        .unwrap();
    let rows = st
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, bool>(3)?,
            ))
        })
        .unwrap();
    for row in rows {
        let (table, column, ty, not_null) = row.unwrap();
        lite_columns.insert((table, column, pg_type(&ty).to_string(), not_null));
    }
    assert!(lite_columns.len() > 100, "{lite_columns:?}");
    let mut pg = schema.client();
    let pg_columns: BTreeSet<(String, String, String, bool)> = pg
        .query(
            "SELECT table_name::text, column_name::text, data_type::text, is_nullable = 'NO'
             FROM information_schema.columns WHERE table_schema = current_schema()",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(
        lite_columns
            .symmetric_difference(&pg_columns)
            .collect::<Vec<_>>(),
        Vec::<&(String, String, String, bool)>::new(),
        "columns that differ"
    );

    let lite_indexes: BTreeSet<String> = lite
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let pg_indexes: BTreeSet<String> = pg
        .query(
            "SELECT indexname::text FROM pg_indexes WHERE schemaname = current_schema()
                AND indexname NOT LIKE '%\\_pkey' AND indexname NOT LIKE '%\\_key'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(lite_indexes.len() > 15, "{lite_indexes:?}");
    // pages: SQLite's key is its PRIMARY KEY (site_id, url); PostgreSQL's a unique index
    // on (site_id, md5(url)) (see pg/0001_init.sql).
    let mut expected = lite_indexes.clone();
    expected.insert("pages_site_url".to_string());
    assert_eq!(pg_indexes, expected);
}

/// The daemon calls the store from `spawn_blocking`; a call made on an async worker by mistake
/// (the blocking client runs its own runtime) blocks that worker for the call instead of
/// panicking on a runtime inside a runtime, and so does dropping the store there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_on_an_async_worker_blocks_it_instead_of_panicking() {
    // The test's own raw client is as blocking as the store's.
    let Some(schema) = tokio::task::block_in_place(Schema::new) else {
        return;
    };
    let store = PgStore::open(&schema.url, 2, super::test_config()).unwrap();
    super::site(&store, "s1", "c1");
    assert_eq!(store.site("s1").unwrap().unwrap().customer, "c1");
    assert_eq!(store.flag(1).unwrap(), None);
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    drop(store);
    tokio::task::block_in_place(move || drop(schema));
}

/// Daemons claiming from many sessions at once get disjoint sites, and a host's sites never
/// go to two owners at once (the claim lock serializes the claims, SKIP LOCKED keeps them
/// off each other's rows).
#[test]
fn concurrent_claims_are_disjoint_and_keep_hosts_apart() {
    let Some(schema) = Schema::new() else { return };
    let store = PgStore::open(&schema.url, 8, super::test_config()).unwrap();
    // 60 sites on 20 hosts, three per host.
    let infos: Vec<sitepatrol_store::SiteInfo> = (0..60)
        .map(|i| sitepatrol_store::SiteInfo {
            id: format!("s{i:02}"),
            customer: "c".into(),
            domains: vec![format!("h{}.cn", i % 20)],
            origin: None,
            contact: Default::default(),
        })
        .collect();
    store.upsert_sites(&infos, 1).unwrap();
    let claims: Vec<(String, Vec<String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|t| {
                let store = &store;
                scope.spawn(move || {
                    let owner = format!("owner-{t}");
                    let mut mine = Vec::new();
                    for _ in 0..5 {
                        mine.extend(store.claim_due_sites(&owner, 100, 3, 200).unwrap());
                    }
                    (owner, mine)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // A host's sites can only go to the owner holding it: each owner sweeps once more.
    let claims: Vec<(String, Vec<String>)> = claims
        .into_iter()
        .map(|(owner, mut mine)| {
            mine.extend(store.claim_due_sites(&owner, 100, 100, 200).unwrap());
            (owner, mine)
        })
        .collect();
    let mut seen = std::collections::HashMap::new();
    let mut host_owner = std::collections::HashMap::new();
    for (owner, sites) in &claims {
        for site in sites {
            assert!(
                seen.insert(site.clone(), owner.clone()).is_none(),
                "{claims:?}"
            );
            let host = site[1..].parse::<usize>().unwrap() % 20;
            let first = host_owner.entry(host).or_insert_with(|| owner.clone());
            assert_eq!(
                first, owner,
                "host h{host} leased to two owners: {claims:?}"
            );
        }
    }
    assert_eq!(seen.len(), 60, "every due site was claimed: {claims:?}");
    assert_eq!(store.leases(100).unwrap().len(), 60);
}

/// One leader per schema through a session-level advisory lock: a second elector does not
/// lead while the first's session lives, and leads on its next check once that session ends
/// (here: terminated by the server, as a dead leader's is closed).
#[test]
fn the_leader_lock_moves_when_the_leader_session_ends() {
    let Some(schema) = Schema::new() else { return };
    let store = PgStore::open(&schema.url, 2, super::test_config()).unwrap();
    let mut first = store.elector().unwrap();
    let mut second = store.elector().unwrap();
    assert!(first.lead().unwrap());
    assert!(!second.lead().unwrap());
    assert!(first.lead().unwrap(), "still held");
    // Another schema has a leader of its own.
    let other = Schema::new().unwrap();
    let other_store = PgStore::open(&other.url, 1, super::test_config()).unwrap();
    assert!(other_store.elector().unwrap().lead().unwrap());
    // The leader's session ends the hard way. The lock's keys: "spld" and the schema's hash.
    let killed: i64 = schema
        .client()
        .query_one(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_locks
             WHERE locktype = 'advisory' AND granted AND classid = 1936747620::oid
               AND objid = hashtext(current_schema())::oid AND objsubid = 2",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(killed, 1);
    let started = std::time::Instant::now();
    while !second.lead().unwrap() {
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // The old leader finds out it lost the lock, and does not lead while the second does.
    let _ = first.lead();
    assert!(!first.lead().unwrap());
    // A resignation hands over at once.
    second.resign();
    assert!(first.lead().unwrap());
    drop(other_store);
    drop(other);
}
