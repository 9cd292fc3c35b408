//! The case checks of the storage suite: every backend gathers flags into cases the same way.

use super::{gamble, page, porn, run, scored, site, with_time};
use sitepatrol_core::finding::Severity;
use sitepatrol_store::{
    CaseAction, CaseEventKind, CaseFilter, CaseState, CrawlOutcome, DeliveryFilter, FlagFilter,
    FlagState, IngestPage, Store, StoreError, WebhookEvent, WebhookTarget,
};

fn url(i: usize) -> String {
    format!("http://t.example.cn/p{i}.html")
}

/// A site whose template carries the same gambling block on `n` pages.
fn injected(n: usize, at: i64) -> Vec<IngestPage> {
    (0..n)
        .map(|i| {
            let u = url(i);
            with_time(page(&u, &format!("page {i}"), vec![gamble(&u)]), at)
        })
        .collect()
}

fn clean(n: usize, at: i64) -> Vec<IngestPage> {
    (0..n)
        .map(|i| with_time(page(&url(i), &format!("clean {i}"), vec![]), at))
        .collect()
}

fn queue(store: &dyn Store) -> Vec<sitepatrol_store::Case> {
    store
        .list_cases(&CaseFilter::default())
        .expect("list cases")
        .cases
}

fn confirm(deadline_at: i64) -> CaseAction {
    CaseAction::Confirm {
        reason: Some("整改".into()),
        deadline_at,
    }
}

pub fn check_one_case_per_site_and_category(store: &dyn Store) {
    site(store, "t", "cust-t");
    let mut pages = injected(40, 1_000);
    pages.push(with_time(page(&url(99), "x", vec![porn(&url(99))]), 1_000));
    let out = store
        .record_crawl(&run("r1", "t", 1_000), &pages)
        .expect("record");
    assert_eq!(out.new.len(), 41, "one flag per page and category");
    assert_eq!(out.cases.opened.len(), 2, "{:?}", out.cases);
    assert_eq!(out.cases.joined, 39);

    let cases = queue(store);
    assert_eq!(cases.len(), 2);
    // Most severe first: the critical pornography case, though it has one page.
    assert_eq!(cases[0].category, "pornography");
    assert_eq!(cases[0].severity, Severity::Critical);
    let gambling = &cases[1];
    assert_eq!(gambling.category, "gambling");
    assert_eq!((gambling.pages, gambling.flags), (40, 40));
    assert_eq!(gambling.state, CaseState::Open);
    assert_eq!(gambling.customer, "cust-t");

    let detail = store.case(gambling.id).unwrap().expect("case");
    assert_eq!(detail.flags.len(), 40);
    assert!(detail.flags.iter().all(|f| f.case_id == Some(gambling.id)));
    // The same block on 40 pages is one line of evidence.
    assert_eq!(detail.top_signals.len(), 1, "{:?}", detail.top_signals);
    let kinds: Vec<CaseEventKind> = detail.events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == CaseEventKind::State).count(),
        1
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == CaseEventKind::Join).count(),
        39
    );

    // A later crawl that finds it on a 41st page adds the page to the case.
    let mut more = injected(41, 2_000);
    more.push(with_time(page(&url(99), "x", vec![porn(&url(99))]), 2_000));
    let out = store.record_crawl(&run("r2", "t", 2_000), &more).unwrap();
    assert!(out.cases.opened.is_empty(), "{:?}", out.cases);
    assert_eq!(out.cases.joined, 1);
    let after = store.case(gambling.id).unwrap().unwrap().case;
    assert_eq!(after.pages, 41);
    assert!(after.version > gambling.version);
    assert_eq!(after.last_seen_at, 2_000);

    // Filters.
    let only = |f: CaseFilter| store.list_cases(&f).unwrap().cases;
    let by_category = only(CaseFilter {
        categories: vec!["gambling".into()],
        ..CaseFilter::default()
    });
    assert_eq!(by_category.len(), 1);
    assert!(
        only(CaseFilter {
            customer: Some("someone-else".into()),
            ..CaseFilter::default()
        })
        .is_empty()
    );
    // Pages of one.
    let first = store
        .list_cases(&CaseFilter {
            limit: 1,
            ..CaseFilter::default()
        })
        .unwrap();
    assert_eq!(first.cases.len(), 1);
    let second = store
        .list_cases(&CaseFilter {
            limit: 1,
            cursor: first.next_cursor.clone(),
            ..CaseFilter::default()
        })
        .unwrap();
    assert_eq!(second.cases.len(), 1);
    assert_ne!(first.cases[0].id, second.cases[0].id);
    assert!(second.next_cursor.is_none());
    assert!(matches!(
        store.list_cases(&CaseFilter {
            cursor: Some("c1.x".into()),
            ..CaseFilter::default()
        }),
        Err(StoreError::BadCursor(_))
    ));
}

pub fn check_case_actions_apply_to_flags_once(store: &dyn Store) {
    site(store, "t", "cust-t");
    store
        .record_crawl(&run("r1", "t", 1_000), &injected(5, 1_000))
        .unwrap();
    let case = queue(store).remove(0);

    // A stale version is refused and changes nothing.
    let stale = store.act_on_case(
        case.id,
        &confirm(9_000),
        "rev",
        1_100,
        Some(case.version + 1),
    );
    assert!(
        matches!(stale, Err(StoreError::CaseVersionConflict { .. })),
        "{stale:?}"
    );
    let confirmed = store
        .act_on_case(case.id, &confirm(9_000), "rev", 1_100, Some(case.version))
        .expect("confirm");
    assert_eq!(confirmed.state, CaseState::Confirmed);
    assert_eq!(confirmed.deadline_at, Some(9_000));
    assert_eq!(confirmed.confirmed_at, Some(1_100));
    let flags = store
        .list_flags(&FlagFilter {
            site: Some("t".into()),
            ..FlagFilter::default()
        })
        .unwrap()
        .flags;
    assert_eq!(flags.len(), 5);
    assert!(flags.iter().all(|f| f.state == FlagState::Confirmed));
    // Audited once: one case event for five flags, no flag events.
    let detail = store.case(case.id).unwrap().unwrap();
    let confirms: Vec<_> = detail
        .events
        .iter()
        .filter(|e| e.to_state == Some(CaseState::Confirmed))
        .collect();
    assert_eq!(confirms.len(), 1);
    assert_eq!((confirms[0].actor.as_str(), confirms[0].flags), ("rev", 5));
    for f in &flags {
        let events = store.flag(f.id).unwrap().unwrap().events;
        assert_eq!(events.len(), 1, "only the crawler's open event: {events:?}");
    }

    // Invalid moves and empty texts.
    assert!(matches!(
        store.act_on_case(case.id, &confirm(9_000), "rev", 1_200, None),
        Err(StoreError::InvalidCaseTransition { .. })
    ));
    assert!(matches!(
        store.act_on_case(
            case.id,
            &CaseAction::Dismiss { reason: " ".into() },
            "rev",
            1_200,
            None
        ),
        Err(StoreError::CaseReasonRequired(_))
    ));
    assert!(matches!(
        store.act_on_case(
            case.id,
            &CaseAction::Comment { text: "".into() },
            "rev",
            1_200,
            None
        ),
        Err(StoreError::CaseEmptyComment(_))
    ));
    assert!(matches!(
        store.act_on_case(999_999, &confirm(1), "rev", 1_200, None),
        Err(StoreError::CaseNotFound(999_999))
    ));

    let assigned = store
        .act_on_case(
            case.id,
            &CaseAction::Assign {
                assignee: Some("alice".into()),
            },
            "rev",
            1_300,
            None,
        )
        .unwrap();
    assert_eq!(assigned.assignee.as_deref(), Some("alice"));
    let mine = store
        .list_cases(&CaseFilter {
            assignee: Some("alice".into()),
            ..CaseFilter::default()
        })
        .unwrap()
        .cases;
    assert_eq!(mine.len(), 1);
    let flag = store.flag(flags[0].id).unwrap().unwrap().flag;
    assert_eq!(flag.assignee.as_deref(), Some("alice"));

    // Dismiss, then reopen: the flags follow.
    let dismissed = store
        .act_on_case(
            case.id,
            &CaseAction::Dismiss {
                reason: "our own test page".into(),
            },
            "rev",
            1_400,
            None,
        )
        .unwrap();
    assert_eq!(dismissed.state, CaseState::Dismissed);
    assert_eq!(dismissed.closed_at, Some(1_400));
    let states: Vec<FlagState> = store
        .case(case.id)
        .unwrap()
        .unwrap()
        .flags
        .iter()
        .map(|f| f.state)
        .collect();
    assert!(
        states.iter().all(|s| *s == FlagState::Dismissed),
        "{states:?}"
    );
    let reopened = store
        .act_on_case(
            case.id,
            &CaseAction::Reopen { reason: None },
            "rev",
            1_500,
            None,
        )
        .unwrap();
    assert_eq!(reopened.state, CaseState::Open);
    assert_eq!(reopened.pages, 5);
    assert_eq!(reopened.closed_at, None);
}

pub fn check_case_deadline_overdue_then_rectified(store: &dyn Store) {
    site(store, "t", "cust-t");
    store.set_webhook_targets(&[WebhookTarget {
        name: "suspend".into(),
        events: vec![WebhookEvent::CaseOverdue],
        min_severity: Severity::Info,
    }]);
    store
        .record_crawl(&run("r1", "t", 1_000), &injected(40, 1_000))
        .unwrap();
    let case = queue(store).remove(0);
    store
        .act_on_case(case.id, &confirm(5_000), "rev", 1_100, None)
        .unwrap();

    // Before the deadline, a crawl that still finds it changes nothing.
    let out = store
        .record_crawl(&run("r2", "t", 2_000), &injected(40, 2_000))
        .unwrap();
    assert!(out.cases.overdue.is_empty());
    assert!(store.claim_case_rechecks(4_999, 10).unwrap().is_empty());

    // At the deadline: the recheck is claimed once.
    let due = store.claim_case_rechecks(5_000, 10).unwrap();
    assert_eq!(due.iter().map(|c| c.id).collect::<Vec<_>>(), vec![case.id]);
    assert!(store.claim_case_rechecks(5_001, 10).unwrap().is_empty());

    // A crawl that failed proves nothing.
    let mut failed = run("r3", "t", 5_000);
    failed.outcome = CrawlOutcome::Failed;
    let out = store.record_crawl(&failed, &[]).unwrap();
    assert!(out.cases.overdue.is_empty());

    // The recrawl finds the block still there: overdue, and the webhook is queued.
    let out = store
        .record_crawl(&run("r4", "t", 5_010), &injected(40, 5_010))
        .unwrap();
    assert_eq!(out.cases.overdue, vec![case.id]);
    let overdue = store.case(case.id).unwrap().unwrap().case;
    assert_eq!(overdue.state, CaseState::Overdue);
    assert!(overdue.is_overdue(5_010));
    let listed = store
        .list_cases(&CaseFilter {
            overdue_at: Some(5_100),
            ..CaseFilter::default()
        })
        .unwrap()
        .cases;
    assert_eq!(listed.len(), 1);
    let deliveries = store.deliveries(&DeliveryFilter::default()).unwrap();
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(deliveries[0].event, WebhookEvent::CaseOverdue);
    assert_eq!(deliveries[0].case_id, Some(case.id));
    let payload: serde_json::Value = serde_json::from_str(&deliveries[0].payload).unwrap();
    assert_eq!(payload["case"]["id"], case.id);
    assert_eq!(payload["to_state"], "overdue");
    // Overdue counts in the gauge.
    let counts = store.case_counts().unwrap();
    assert!(
        counts
            .iter()
            .any(|c| c.state == CaseState::Overdue && c.count == 1),
        "{counts:?}"
    );

    // The block removed: the next crawl rectifies the case.
    let out = store
        .record_crawl(&run("r5", "t", 6_000), &clean(40, 6_000))
        .unwrap();
    assert_eq!(out.cases.rectified, vec![case.id]);
    let done = store.case(case.id).unwrap().unwrap().case;
    assert_eq!(done.state, CaseState::Rectified);
    assert_eq!(done.closed_at, Some(6_060));
    assert_eq!(
        store.deliveries(&DeliveryFilter::default()).unwrap().len(),
        1
    );
}

pub fn check_unreviewed_case_resolves_and_dismissal_covers_new_pages(store: &dyn Store) {
    site(store, "t", "cust-t");
    let weak = |u: &str| scored("gambling", Severity::High, 6.0, &[("g.a", "投注", 6.0)], u);
    let strong = |u: &str| {
        scored(
            "gambling",
            Severity::Critical,
            20.0,
            &[("g.a", "投注", 10.0), ("g.b", "六合彩", 10.0)],
            u,
        )
    };
    store
        .record_crawl(
            &run("r1", "t", 1_000),
            &[with_time(page(&url(0), "a", vec![weak(&url(0))]), 1_000)],
        )
        .unwrap();
    let first = queue(store).remove(0);
    // Gone before anyone looked: resolved.
    let out = store
        .record_crawl(&run("r2", "t", 2_000), &clean(1, 2_000))
        .unwrap();
    assert_eq!(out.cases.resolved, vec![first.id]);

    // Back: a new case (a resolved case does not gather pages).
    store
        .record_crawl(
            &run("r3", "t", 3_000),
            &[with_time(page(&url(0), "a", vec![weak(&url(0))]), 3_000)],
        )
        .unwrap();
    let second = queue(store)
        .into_iter()
        .find(|c| c.state == CaseState::Open)
        .expect("an open case");
    assert_ne!(second.id, first.id);
    store
        .act_on_case(
            second.id,
            &CaseAction::Dismiss {
                reason: "a lottery news article".into(),
            },
            "rev",
            3_100,
            None,
        )
        .unwrap();
    assert_eq!(
        store.case(second.id).unwrap().unwrap().case.dismissed_score,
        Some(6.0)
    );

    // The same weak signal on another page: covered by the dismissal, no new case.
    let out = store
        .record_crawl(
            &run("r4", "t", 4_000),
            &[with_time(page(&url(1), "b", vec![weak(&url(1))]), 4_000)],
        )
        .unwrap();
    assert_eq!(out.cases.covered_by_dismissal, 1, "{:?}", out.cases);
    assert!(out.cases.opened.is_empty());
    let b = store
        .list_flags(&FlagFilter {
            site: Some("t".into()),
            ..FlagFilter::default()
        })
        .unwrap()
        .flags
        .into_iter()
        .find(|f| f.url == url(1))
        .unwrap();
    assert_eq!(b.state, FlagState::Dismissed);
    assert_eq!(b.case_id, Some(second.id));

    // A score that rose past the margin opens a new case for review.
    let out = store
        .record_crawl(
            &run("r5", "t", 5_000),
            &[with_time(page(&url(2), "c", vec![strong(&url(2))]), 5_000)],
        )
        .unwrap();
    assert_eq!(out.cases.opened.len(), 1, "{:?}", out.cases);
    let third = store.case(out.cases.opened[0]).unwrap().unwrap().case;
    assert_eq!(
        (third.state, third.severity),
        (CaseState::Open, Severity::Critical)
    );
    // While it is active, the dismissed case cannot come back beside it.
    assert!(matches!(
        store.act_on_case(
            second.id,
            &CaseAction::Reopen { reason: None },
            "rev",
            5_100,
            None
        ),
        Err(StoreError::CaseActiveExists { .. })
    ));

    // The page the reviewer dismissed, found again a little worse: still dismissed.
    let slightly = |u: &str| scored("gambling", Severity::High, 7.5, &[("g.a", "投注", 7.5)], u);
    let out = store
        .record_crawl(
            &run("r6", "t", 6_000),
            &[with_time(
                page(&url(0), "a2", vec![slightly(&url(0))]),
                6_000,
            )],
        )
        .unwrap();
    assert_eq!((out.suppressed, out.reopened.len()), (1, 0), "{out:?}");
    // Much worse: reviewed again, in the active case rather than the dismissed one.
    let out = store
        .record_crawl(
            &run("r7", "t", 7_000),
            &[with_time(page(&url(0), "a3", vec![strong(&url(0))]), 7_000)],
        )
        .unwrap();
    assert_eq!(out.reopened.len(), 1, "{out:?}");
    let flag = store.flag(out.reopened[0].id).unwrap().unwrap();
    assert_eq!(flag.flag.state, FlagState::Reopened);
    assert_eq!(flag.flag.case_id, Some(third.id));
    assert!(
        flag.events
            .last()
            .and_then(|e| e.reason.as_deref())
            .is_some_and(|r| r.contains("more than the 6.00 dismissed")),
        "{:?}",
        flag.events
    );
    assert_eq!(store.case(third.id).unwrap().unwrap().case.pages, 2);
}
