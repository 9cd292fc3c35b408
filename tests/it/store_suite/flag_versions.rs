//! The flag version checks of the storage suite (migration 12): every change of a flag bumps
//! its version, a review action that names a stale version is refused with nothing applied,
//! and (PostgreSQL) two reviewers acting on one version at once apply exactly once.

use sitepatrol_store::{FlagAction, FlagId, FlagState, PgStore, Store, StoreError};

use super::{A, B, gamble, page, porn, run, site};

fn version(store: &dyn Store, id: FlagId) -> i64 {
    store.flag(id).unwrap().unwrap().flag.version
}

fn events(store: &dyn Store, id: FlagId) -> usize {
    store.flag(id).unwrap().unwrap().events.len()
}

fn conflict(err: &StoreError, flag: FlagId, stale: i64, now: i64) {
    match err {
        StoreError::FlagVersionConflict {
            id,
            expected,
            actual,
        } => assert_eq!((*id, *expected, *actual), (flag, stale, now), "{err}"),
        other => panic!("expected a version conflict, got {other:?}"),
    }
}

pub(super) fn check_stale_flag_version_is_refused_and_nothing_applied(store: &dyn Store) {
    site(store, "s1", "c1");
    let out = store
        .record_crawl(
            &run("r1", "s1", 1_000),
            &[
                page(A, "<p>在线赌博</p>", vec![gamble(A)]),
                page(B, "<p>AV在线</p>", vec![porn(B)]),
            ],
        )
        .unwrap();
    let (a, b) = (out.new[0].id, out.new[1].id);
    let shown = version(store, a);
    let listed = store
        .list_flags(&Default::default())
        .unwrap()
        .flags
        .into_iter()
        .find(|f| f.id == a)
        .unwrap();
    assert_eq!(listed.version, shown, "the list and the flag agree");

    // Someone else comments: a change of the flag, so the version moves on.
    let commented = store
        .act(
            a,
            &FlagAction::Comment {
                text: "looking".into(),
            },
            "alice",
            1_100,
            Some(shown),
        )
        .unwrap();
    assert!(commented.version > shown);
    let before = store.flag(a).unwrap().unwrap();

    // A reviewer still on the version they were shown is refused, and nothing is applied:
    // neither the state nor an event, nor the version.
    let err = store
        .act(
            a,
            &FlagAction::Confirm { reason: None },
            "bob",
            1_200,
            Some(shown),
        )
        .unwrap_err();
    conflict(&err, a, shown, commented.version);
    assert!(err.to_string().contains("changed since"), "{err}");
    assert_eq!(store.flag(a).unwrap().unwrap(), before);
    for action in [
        FlagAction::Assign {
            assignee: Some("bob".into()),
        },
        FlagAction::Comment { text: "x".into() },
        FlagAction::Dismiss { reason: "y".into() },
    ] {
        let err = store
            .act(a, &action, "bob", 1_250, Some(shown))
            .unwrap_err();
        conflict(&err, a, shown, commented.version);
    }
    assert_eq!(store.flag(a).unwrap().unwrap(), before);

    // With the current version it applies, and bumps the version again.
    let confirmed = store
        .act(
            a,
            &FlagAction::Confirm { reason: None },
            "bob",
            1_300,
            Some(commented.version),
        )
        .unwrap();
    assert_eq!(confirmed.state, FlagState::Confirmed);
    assert!(confirmed.version > commented.version);
    // Without a version the action is not checked (older clients).
    let assigned = store
        .act(
            a,
            &FlagAction::Assign {
                assignee: Some("carol".into()),
            },
            "carol",
            1_400,
            None,
        )
        .unwrap();
    assert!(assigned.version > confirmed.version);

    // In bulk each flag is judged on its own: the stale one is refused untouched, the
    // current one applies.
    let b_version = version(store, b);
    let b_events = events(store, b);
    let a_events = events(store, a);
    let bulk = store
        .act_many(
            &[a, b],
            &FlagAction::Comment {
                text: "bulk".into(),
            },
            "dave",
            1_500,
            &[(a, confirmed.version), (b, b_version)],
        )
        .unwrap();
    conflict(
        bulk[0].1.as_ref().unwrap_err(),
        a,
        confirmed.version,
        assigned.version,
    );
    let b_after = bulk[1].1.as_ref().unwrap();
    assert!(b_after.version > b_version);
    assert_eq!(version(store, a), assigned.version);
    assert_eq!(events(store, a), a_events);
    assert_eq!(events(store, b), b_events + 1);

    // A crawl that refreshes the flag's evidence changes it too: a reviewer who saw the
    // evidence before it must look again.
    let seen = version(store, b);
    store
        .record_crawl(
            &run("r2", "s1", 2_000),
            &[
                page(A, "<p>在线赌博</p>", vec![gamble(A)]),
                page(B, "<p>AV在线 AV在线</p>", vec![porn(B)]),
            ],
        )
        .unwrap();
    let refreshed = version(store, b);
    assert!(refreshed > seen);
    let err = store
        .act(
            b,
            &FlagAction::Dismiss {
                reason: "demo".into(),
            },
            "bob",
            2_100,
            Some(seen),
        )
        .unwrap_err();
    conflict(&err, b, seen, refreshed);
    assert_eq!(
        store.flag(b).unwrap().unwrap().flag.state,
        FlagState::Open,
        "nothing applied"
    );
}

/// PostgreSQL: reviewers on several daemons act on one flag at once, each with the version
/// they were shown. The row lock orders them: exactly one action applies, with one event;
/// every other gets the conflict.
#[test]
fn concurrent_actions_on_one_version_apply_exactly_once() {
    let Some(schema) = super::pg::Schema::new() else {
        return;
    };
    let store = PgStore::open(&schema.url, 8, super::test_config()).unwrap();
    site(&store, "s1", "c1");
    let pages: Vec<_> = (0..10)
        .map(|i| {
            let url = format!("http://a.example.cn/{i}.html");
            page(&url, "<p>在线赌博</p>", vec![gamble(&url)])
        })
        .collect();
    let out = store.record_crawl(&run("r1", "s1", 1_000), &pages).unwrap();
    assert_eq!(out.new.len(), 10);
    const THREADS: usize = 4;
    for flag in &out.new {
        let id = flag.id;
        let shown = version(&store, id);
        let events_before = events(&store, id);
        let barrier = std::sync::Barrier::new(THREADS);
        let results: Vec<Result<_, StoreError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..THREADS)
                .map(|t| {
                    let (store, barrier) = (&store, &barrier);
                    scope.spawn(move || {
                        barrier.wait();
                        // Half confirm, half comment: an action that would be allowed twice
                        // (a comment) must not apply twice either.
                        let action = if t % 2 == 0 {
                            FlagAction::Confirm { reason: None }
                        } else {
                            FlagAction::Comment {
                                text: format!("reviewer {t}"),
                            }
                        };
                        store.act(id, &action, &format!("r{t}"), 1_100, Some(shown))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let applied: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(applied.len(), 1, "flag {id}: {results:?}");
        for r in &results {
            if let Err(e) = r {
                assert!(
                    matches!(e, StoreError::FlagVersionConflict { expected, .. } if *expected == shown),
                    "flag {id}: {e}"
                );
            }
        }
        let detail = store.flag(id).unwrap().unwrap();
        assert_eq!(detail.events.len(), events_before + 1, "flag {id}");
        assert_eq!(detail.flag.version, applied[0].version);
    }
}

/// The same for cases (PostgreSQL): reviewers commenting on one case version at once get one
/// comment in and the conflict for the others; without the row lock, READ COMMITTED let each
/// read the version before any of them wrote it, and all of them applied.
#[test]
fn concurrent_case_actions_on_one_version_apply_exactly_once() {
    use sitepatrol_store::{CaseAction, CaseEventFilter, CaseFilter};
    let Some(schema) = super::pg::Schema::new() else {
        return;
    };
    let store = PgStore::open(&schema.url, 8, super::test_config()).unwrap();
    site(&store, "s1", "c1");
    store
        .record_crawl(
            &run("r1", "s1", 1_000),
            &[page(A, "<p>在线赌博</p>", vec![gamble(A)])],
        )
        .unwrap();
    let case = store.list_cases(&CaseFilter::default()).unwrap().cases[0].clone();
    const THREADS: usize = 4;
    for round in 0..10 {
        let shown = store.case(case.id).unwrap().unwrap().case.version;
        let barrier = std::sync::Barrier::new(THREADS);
        let results: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..THREADS)
                .map(|t| {
                    let (store, barrier) = (&store, &barrier);
                    scope.spawn(move || {
                        barrier.wait();
                        let action = CaseAction::Comment {
                            text: format!("round {round} reviewer {t}"),
                        };
                        store.act_on_case(case.id, &action, "rev", 1_100, Some(shown))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let applied = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(applied, 1, "round {round}: {results:?}");
        for r in &results {
            if let Err(e) = r {
                assert!(
                    matches!(e, StoreError::CaseVersionConflict { .. }),
                    "round {round}: {e}"
                );
            }
        }
    }
    let comments = store
        .case_events(&CaseEventFilter {
            case: Some(case.id),
            limit: 1000,
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .filter(|e| e.reason.as_deref().is_some_and(|r| r.starts_with("round ")))
        .count();
    assert_eq!(comments, 10);
}
