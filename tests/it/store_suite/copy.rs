//! `sitepatrol store copy` and `sitepatrol migrate`: a SQLite store filled through the public
//! Store API moves into a fresh PostgreSQL schema (and back) without loss — every table's rows
//! equal, blobs byte for byte, ids kept, sequences past them — and the Store API answers the
//! same on both. Without `SITEPATROL_TEST_PG` the PostgreSQL parts print a notice and pass.

use std::path::Path;
use std::process::{Command, Output};

use sitepatrol_core::finding::Severity;
use sitepatrol_store::ops::{self, CopyOptions, Location};
use sitepatrol_store::{
    CaseAction, CaseEventFilter, CaseFilter, DeliveryFilter, EventFilter, FlagAction, FlagFilter,
    FlagSort, IngestPage, LoginLinkUse, PageScan, PgStore, SCHEMA_VERSION, SqliteStore, Store,
    WebhookEvent, WebhookTarget,
};

use super::{A, B, gamble, page, porn, run, site, test_config};

fn sitepatrol(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sitepatrol"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn text(output: &[u8]) -> String {
    String::from_utf8_lossy(output).into_owned()
}

/// A PNG-ish screenshot with every byte value, so that a blob that went through text or an
/// encoding would not come back equal.
fn screenshot() -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend((0..=255u8).cycle().take(3000));
    png
}

/// Fills `store` through the Store API with a bit of everything the tables hold.
fn fill(store: &dyn Store) {
    store.set_webhook_targets(&[WebhookTarget {
        name: "all".into(),
        events: WebhookEvent::ALL.to_vec(),
        min_severity: Severity::Info,
    }]);
    site(store, "s1", "c1");
    site(store, "s2", "c2");
    let mut shot = page(A, "<p>在线赌博</p>\0binary\u{7f}", vec![gamble(A)]);
    shot.screenshot = Some(screenshot());
    shot.links = Some(vec![B.into()]);
    store
        .record_crawl(
            &run("r1", "s1", 1_000),
            &[shot, page(B, "<p>AV在线</p>", vec![porn(B)])],
        )
        .unwrap();
    let mut unscanned = page("http://b.example.cn/", "plain", vec![]);
    unscanned.scan = PageScan::NotScanned;
    unscanned.body = None;
    let c = "http://b.example.cn/c.html";
    store
        .record_crawl(
            &run("r2", "s2", 1_500),
            &[unscanned, page(c, "<p>在线赌博</p>", vec![gamble(c)])],
        )
        .unwrap();
    let flags = store.list_flags(&FlagFilter::default()).unwrap().flags;
    let (a, b) = (
        flags.iter().find(|f| f.url == A).unwrap().id,
        flags.iter().find(|f| f.url == B).unwrap().id,
    );
    store
        .act(
            a,
            &FlagAction::Assign {
                assignee: Some("张三".into()),
            },
            "bob",
            1_100,
            None,
        )
        .unwrap();
    store
        .act(
            b,
            &FlagAction::Comment {
                text: "看一下".into(),
            },
            "bob",
            1_110,
            None,
        )
        .unwrap();
    let cases = store.list_cases(&CaseFilter::default()).unwrap().cases;
    let porn_case = cases.iter().find(|c| c.category == "pornography").unwrap();
    store
        .act_on_case(
            porn_case.id,
            &CaseAction::Confirm {
                reason: Some("整改".into()),
                deadline_at: 90_000,
            },
            "alice",
            1_200,
            Some(porn_case.version),
        )
        .unwrap();
    let other = cases.iter().find(|c| c.site == "s2").unwrap();
    store
        .act_on_case(
            other.id,
            &CaseAction::Dismiss {
                reason: "测试页面".into(),
            },
            "alice",
            1_300,
            None,
        )
        .unwrap();
    // A second crawl of s1: A is gone (resolved), B seen again.
    store
        .record_crawl(
            &run("r3", "s1", 2_000),
            &[
                page(A, "<p>clean</p>", vec![]),
                page(B, "<p>AV在线</p>", vec![porn(B)]),
            ],
        )
        .unwrap();
    // The outbox: one delivered, one failed for good, the rest pending.
    let due = store.claim_deliveries(5_000, 5_100, 2).unwrap();
    assert_eq!(due.len(), 2);
    store.mark_delivered(due[0].id, 5_001, 204).unwrap();
    store
        .mark_attempt_failed(due[1].id, Some(500), "upstream 500", None)
        .unwrap();
    store.set_filing_status("s1", "filed", 1_050).unwrap();
    store.set_next_due("s2", 9_999).unwrap();
    store
        .save_checkpoint(&sitepatrol_store::Checkpoint {
            site: "s2".into(),
            run_key: "r4".into(),
            saved_at: 3_000,
            state: "{\"frontier\":[\"http://b.example.cn/d\"]}".into(),
        })
        .unwrap();
    store
        .create_login_link(&"a".repeat(64), 4_000, 4_600)
        .unwrap();
    store
        .create_login_link(&"b".repeat(64), 4_100, 4_700)
        .unwrap();
    store.remove_sites(&["s2".to_string()], 4_200).unwrap();
}

/// What the Store API shows of a store, for comparing two of them.
fn views(store: &dyn Store) -> Vec<String> {
    let mut out = Vec::new();
    let mut show = |what: &str, v: String| out.push(format!("{what}: {v}"));
    let flags = store
        .list_flags(&FlagFilter {
            sort: FlagSort::Oldest,
            limit: 1000,
            ..Default::default()
        })
        .unwrap();
    show("list_flags", format!("{flags:?}"));
    for f in &flags.flags {
        let detail = store.flag(f.id).unwrap().unwrap();
        show("flag", format!("{detail:?}"));
        show("body", format!("{:?}", store.body(&f.body_sha256).unwrap()));
        show(
            "screenshot",
            format!("{:?}", store.screenshot(&f.body_sha256).unwrap()),
        );
        show(
            "page_states",
            format!("{:?}", store.page_states(&f.site).unwrap()),
        );
    }
    show("flag_counts", format!("{:?}", store.flag_counts().unwrap()));
    show(
        "events",
        format!(
            "{:?}",
            store
                .events(&EventFilter {
                    limit: 1000,
                    ..Default::default()
                })
                .unwrap()
        ),
    );
    let cases = store
        .list_cases(&CaseFilter {
            limit: 1000,
            ..Default::default()
        })
        .unwrap();
    show("list_cases", format!("{cases:?}"));
    for c in &cases.cases {
        show("case", format!("{:?}", store.case(c.id).unwrap()));
    }
    show("case_counts", format!("{:?}", store.case_counts().unwrap()));
    show(
        "case_events",
        format!(
            "{:?}",
            store
                .case_events(&CaseEventFilter {
                    limit: 1000,
                    ..Default::default()
                })
                .unwrap()
        ),
    );
    show(
        "deliveries",
        format!(
            "{:?}",
            store
                .deliveries(&DeliveryFilter {
                    limit: 1000,
                    ..Default::default()
                })
                .unwrap()
        ),
    );
    show(
        "delivery_counts",
        format!("{:?}", store.delivery_counts().unwrap()),
    );
    show(
        "sites",
        format!("{:?}", store.sites(true, None, 0).unwrap()),
    );
    for s in ["s1", "s2"] {
        show("runs", format!("{:?}", store.crawl_runs(s, 100).unwrap()));
        show("checkpoint", format!("{:?}", store.checkpoint(s).unwrap()));
    }
    show("schema", format!("{:?}", store.schema_version().unwrap()));
    out
}

/// A column's value as both databases can be compared on.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum V {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// A table's name, its columns (by name) and its rows (sorted).
type Table = (String, Vec<String>, Vec<Vec<V>>);

/// Every table of a SQLite store (but `schema_migrations`), each with its rows sorted.
fn sqlite_tables(path: &Path) -> Vec<Table> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut st = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'
                AND name <> 'schema_migrations' ORDER BY name",
        )
        .unwrap();
    let tables: Vec<String> = st
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    tables
        .into_iter()
        .map(|t| {
            let mut st = conn
                .prepare("SELECT name FROM pragma_table_info(?1) ORDER BY name")
                .unwrap();
            let columns: Vec<String> = st
                .query_map([&t], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let list: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
            let q = format!("SELECT {} FROM \"{t}\"", list.join(", "));
            let mut st = conn.prepare(&q).unwrap();
            let mut rows: Vec<Vec<V>> = st
                .query_map([], |r| {
                    Ok((0..columns.len())
                        .map(|i| match r.get_ref(i).unwrap() {
                            rusqlite::types::ValueRef::Null => V::Null,
                            rusqlite::types::ValueRef::Integer(i) => V::Int(i),
                            rusqlite::types::ValueRef::Real(f) => V::Real(f),
                            rusqlite::types::ValueRef::Text(s) => {
                                V::Text(String::from_utf8(s.to_vec()).unwrap())
                            }
                            rusqlite::types::ValueRef::Blob(b) => V::Blob(b.to_vec()),
                        })
                        .collect())
                })
                .unwrap()
                .map(Result::unwrap)
                .collect();
            rows.sort_by(|a, b| a.partial_cmp(b).unwrap());
            (t, columns, rows)
        })
        .collect()
}

/// The same of a PostgreSQL schema.
fn pg_tables(client: &mut postgres::Client) -> Vec<Table> {
    use postgres::types::Type;
    let tables: Vec<String> = client
        .query(
            "SELECT CAST(table_name AS TEXT) FROM information_schema.tables
                WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
                    AND table_name <> 'schema_migrations' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    tables
        .into_iter()
        .map(|t| {
            let columns: Vec<String> = client
                .query(
                    "SELECT CAST(column_name AS TEXT) FROM information_schema.columns
                        WHERE table_schema = current_schema() AND table_name = $1
                        ORDER BY 1",
                    &[&t],
                )
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            let list: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
            let q = format!("SELECT {} FROM \"{t}\"", list.join(", "));
            let mut rows: Vec<Vec<V>> = client
                .query(&q, &[])
                .unwrap()
                .iter()
                .map(|r| {
                    (0..columns.len())
                        .map(|i| match *r.columns()[i].type_() {
                            Type::INT8 => r.get::<_, Option<i64>>(i).map_or(V::Null, V::Int),
                            Type::FLOAT8 => r.get::<_, Option<f64>>(i).map_or(V::Null, V::Real),
                            Type::TEXT => r.get::<_, Option<String>>(i).map_or(V::Null, V::Text),
                            Type::BYTEA => r.get::<_, Option<Vec<u8>>>(i).map_or(V::Null, V::Blob),
                            ref other => panic!("{t}: a column of type {other}"),
                        })
                        .collect()
                })
                .collect();
            rows.sort_by(|a, b| a.partial_cmp(b).unwrap());
            (t, columns, rows)
        })
        .collect()
}

#[test]
fn a_sqlite_store_copies_into_postgres_and_back_without_loss() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let source = SqliteStore::open(&db, test_config()).unwrap();
    fill(&source);
    let want_views = views(&source);
    drop(source);
    let want_tables = sqlite_tables(&db);
    assert!(
        want_tables.len() >= 11,
        "{:?}",
        want_tables.iter().map(|t| &t.0).collect::<Vec<_>>()
    );
    for (t, _, rows) in &want_tables {
        assert!(!rows.is_empty(), "table {t} is empty in the source");
    }

    let Some(schema) = super::pg::Schema::new() else {
        eprintln!("the copy test ran its SQLite part only");
        return;
    };
    let from = format!("sqlite:{}", db.display());
    let out = sitepatrol(&[
        "store",
        "copy",
        "--from",
        &from,
        "--to",
        &schema.url,
        "--batch-rows",
        "3",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!("schema version {SCHEMA_VERSION}")),
        "{stdout}"
    );
    let stderr = text(&out.stderr);
    assert!(stderr.contains("  flags: "), "progress per table: {stderr}");

    // Every table, every row, every byte.
    let mut client = schema.client();
    let got_tables = pg_tables(&mut client);
    let names = |t: &[Table]| -> Vec<String> { t.iter().map(|x| x.0.clone()).collect() };
    assert_eq!(names(&got_tables), names(&want_tables));
    for (want, got) in want_tables.iter().zip(&got_tables) {
        assert_eq!(want.1, got.1, "columns of {}", want.0);
        assert_eq!(want.2.len(), got.2.len(), "rows of {}", want.0);
        for (w, g) in want.2.iter().zip(&got.2) {
            assert_eq!(w, g, "a row of {}", want.0);
        }
    }

    // The Store API answers the same, and the store goes on: new ids come after the copied
    // ones, the login link still works once.
    let pg = PgStore::open(&schema.url, 2, test_config()).unwrap();
    let got_views = views(&pg);
    assert_eq!(want_views.len(), got_views.len());
    for (w, g) in want_views.iter().zip(&got_views) {
        assert_eq!(w, g);
    }
    let max_flag = pg
        .list_flags(&FlagFilter::default())
        .unwrap()
        .flags
        .iter()
        .map(|f| f.id)
        .max()
        .unwrap();
    let d = "http://a.example.cn/d.html";
    let out = pg
        .record_crawl(
            &run("r5", "s1", 6_000),
            &[page(d, "<p>AV在线</p>", vec![porn(d)])],
        )
        .unwrap();
    assert!(out.new[0].id > max_flag, "{out:?}");
    assert_eq!(
        pg.consume_login_link(&"b".repeat(64), 4_200).unwrap(),
        LoginLinkUse::Used
    );
    assert_eq!(
        pg.consume_login_link(&"a".repeat(64), 4_200).unwrap(),
        LoginLinkUse::Superseded
    );

    // A target with rows is refused without --force, and nothing is written to it.
    let out = sitepatrol(&["store", "copy", "--from", &from, "--to", &schema.url]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not empty"),
        "{}",
        text(&out.stderr)
    );
    assert!(pg.flag(out_id(&pg, d)).unwrap().is_some());

    // And back: PostgreSQL into a new SQLite file equals what PostgreSQL holds now.
    let pg_views = views(&pg);
    drop(pg);
    let back = dir.path().join("back.db");
    let report = ops::copy(
        &Location::parse(&schema.url).unwrap(),
        &Location::Sqlite(back.clone()),
        &CopyOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    assert!(
        report.tables.iter().any(|(t, n)| t == "flags" && *n == 4),
        "{report:?}"
    );
    let back_store = SqliteStore::open(&back, test_config()).unwrap();
    assert_eq!(views(&back_store), pg_views);
}

fn out_id(store: &dyn Store, url: &str) -> i64 {
    store
        .list_flags(&FlagFilter::default())
        .unwrap()
        .flags
        .iter()
        .find(|f| f.url == url)
        .unwrap()
        .id
}

#[test]
fn a_copy_refuses_a_source_table_the_target_does_not_know() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let source = SqliteStore::open(&db, test_config()).unwrap();
    site(&source, "s1", "c1");
    drop(source);
    // A table a newer build (or a hand) added: never skipped in silence.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE future_table (id INTEGER PRIMARY KEY, x TEXT)")
        .unwrap();
    let to = dir.path().join("to.db");
    let err = ops::copy(
        &Location::Sqlite(db.clone()),
        &Location::Sqlite(to.clone()),
        &CopyOptions::default(),
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("future_table"), "{err}");
    let target = SqliteStore::open(&to, test_config()).unwrap();
    assert!(target.sites(true, None, 0).unwrap().is_empty());
    // Onto itself, never.
    let err = ops::copy(
        &Location::Sqlite(db.clone()),
        &Location::Sqlite(db.clone()),
        &CopyOptions {
            force: true,
            ..Default::default()
        },
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("source itself"), "{err}");
}

#[test]
fn sqlite_to_sqlite_copies_with_force_over_a_filled_target() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));
    let source = SqliteStore::open(&a, test_config()).unwrap();
    fill(&source);
    let want = views(&source);
    drop(source);
    let target = SqliteStore::open(&b, test_config()).unwrap();
    site(&target, "other", "c9");
    drop(target);
    let from = format!("sqlite:{}", a.display());
    let to = format!("sqlite:{}", b.display());
    let out = sitepatrol(&["store", "copy", "--from", &from, "--to", &to]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = sitepatrol(&["store", "copy", "--from", &from, "--to", &to, "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("emptied sites"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(sqlite_tables(&a), sqlite_tables(&b));
    assert_eq!(views(&SqliteStore::open(&b, test_config()).unwrap()), want);
}

#[test]
fn migrate_reports_the_versions_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("new/store.db");
    let store = format!("sqlite:{}", db.display());
    let out = sitepatrol(&["migrate", "--store", &store]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "schema version none (a new store) -> {SCHEMA_VERSION}"
        )),
        "{stdout}"
    );
    assert!(stdout.contains("applied 0001 init"), "{stdout}");
    assert!(stdout.contains("applied 0012 flag_versions"), "{stdout}");
    assert!(stdout.contains("applied 0013 origin_leases"), "{stdout}");
    let out = sitepatrol(&["migrate", "--store", &store]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout).trim(),
        format!("store {store}: schema version {SCHEMA_VERSION}, up to date")
    );
    // A store one migration behind gets that one.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "DROP INDEX sites_leased_origin; ALTER TABLE sites DROP COLUMN origin_key;
        DELETE FROM schema_migrations WHERE version = 13",
    )
    .unwrap();
    drop(conn);
    let out = sitepatrol(&["migrate", "--store", &store]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "schema version {} -> {SCHEMA_VERSION}",
            SCHEMA_VERSION - 1
        )),
        "{stdout}"
    );
    assert!(stdout.contains("applied 0013 origin_leases"), "{stdout}");
    assert!(!stdout.contains("applied 0012"), "{stdout}");
    // A config names the store the same way the daemon takes it.
    let config = dir.path().join("sitepatrol.toml");
    std::fs::write(
        &config,
        format!("[store]\npath = {:?}\n", db.display().to_string()),
    )
    .unwrap();
    let out = sitepatrol(&["migrate", "--config", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("up to date"),
        "{}",
        text(&out.stdout)
    );
    // Errors exit 2.
    let out = sitepatrol(&["migrate", "--store", "mysql://h/db"]);
    assert_eq!(out.status.code(), Some(2));

    // PostgreSQL: a fresh schema, then up to date.
    let Some(schema) = super::pg::Schema::new() else {
        return;
    };
    let out = sitepatrol(&["migrate", "--store", &schema.url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!("none (a new store) -> {SCHEMA_VERSION}")),
        "{}",
        text(&out.stdout)
    );
    let out = sitepatrol(&["migrate", "--store", &schema.url]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).contains("up to date"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn unscanned_pages_and_their_links_survive_a_copy() {
    // The page_links-like columns are covered by the big test; this pins a page that has
    // no body and no findings (NotScanned) being copied with its NULLs.
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));
    let store = SqliteStore::open(&a, test_config()).unwrap();
    site(&store, "s1", "c1");
    let mut p = IngestPage::matched(A, 304, 100, b"", vec![]);
    p.scan = PageScan::NotScanned;
    p.body = None;
    store.record_crawl(&run("r1", "s1", 100), &[p]).unwrap();
    drop(store);
    ops::copy(
        &Location::Sqlite(a.clone()),
        &Location::Sqlite(b.clone()),
        &CopyOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(sqlite_tables(&a), sqlite_tables(&b));
}
