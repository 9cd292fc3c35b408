//! The case report checks of the storage suite: a hand-made history of two customers' sites
//! whose every figure is known, reported for periods before, across and after it.

use super::{gamble, page, porn, run, site, with_time};
use crate::common::finding;
use sitepatrol_core::finding::{Finding, Severity};
use sitepatrol_store::{
    CaseAction, CaseFigures, CaseFilter, CaseId, CaseReport, CaseState, CrawlRun, IngestPage,
    ReportQuery, Store,
};

const GA: &str = "http://ra.example.cn/casino.html";
const PA: &str = "http://ra.example.cn/av.html";
const MA: &str = "http://ra.example.cn/miner.html";
const GB: &str = "http://rb.example.cn/casino.html";
const PB: &str = "http://rb.example.cn/av.html";
const MB: &str = "http://rb.example.cn/miner.html";
const XB: &str = "http://rb.example.cn/login.html";

fn malware(url: &str) -> Finding {
    finding(
        "malware.miner",
        "malware",
        Severity::Critical,
        "coinhive",
        url,
    )
}

fn phishing(url: &str) -> Finding {
    finding("phishing.bank", "phishing", Severity::High, "网银登录", url)
}

/// A crawl of `site` starting at `at` (it finishes, and its case changes happen, at
/// `at + 60`) that scanned `pages.len()` pages.
fn crawl(store: &dyn Store, key: &str, site: &str, at: i64, pages: Vec<IngestPage>) {
    let mut r: CrawlRun = run(key, site, at);
    r.stats["pages_scanned"] = serde_json::json!(pages.len() + 10);
    let pages: Vec<IngestPage> = pages.into_iter().map(|p| with_time(p, at)).collect();
    store.record_crawl(&r, &pages).expect("record the crawl");
}

fn found(url: &str, f: Finding) -> IngestPage {
    page(url, &format!("found {url}"), vec![f])
}

fn clean(url: &str) -> IngestPage {
    page(url, &format!("clean {url}"), vec![])
}

/// The newest case of `site` in `category`.
fn case_of(store: &dyn Store, site: &str, category: &str) -> CaseId {
    store
        .list_cases(&CaseFilter {
            site: Some(site.into()),
            categories: vec![category.into()],
            ..CaseFilter::default()
        })
        .expect("list cases")
        .cases
        .iter()
        .map(|c| c.id)
        .max()
        .unwrap_or_else(|| panic!("no {category} case of {site}"))
}

fn act(store: &dyn Store, id: CaseId, action: CaseAction, at: i64) {
    store
        .act_on_case(id, &action, "rev", at, None)
        .expect("act on the case");
}

fn confirm(deadline_at: i64) -> CaseAction {
    CaseAction::Confirm {
        reason: None,
        deadline_at,
    }
}

/// The history, in time order (case changes happen when a crawl finishes, at start + 60):
///
/// site ra (customer cust-a):
///   gambling  G1 opened 1_060, confirmed 5_060 (deadline 30_000), rectified 12_060
///   malware   M1 opened 2_060, dismissed 3_000 (closed before any period below but the first)
///   porn      P1 opened 11_060, confirmed 13_060 (deadline 15_000), overdue 16_060
/// site rb (customer cust-b):
///   gambling  G2 opened 14_060, confirmed 15_060 (deadline 19_000), rectified 25_060
///   porn      P2 opened 14_060, dismissed 17_000
///   malware   M2 opened 14_060, resolved 18_060
///   phishing  X2 opened 25_060
pub(crate) fn history(store: &dyn Store) {
    site(store, "ra", "cust-a");
    site(store, "rb", "cust-b");
    crawl(store, "a1", "ra", 1_000, vec![found(GA, gamble(GA))]);
    crawl(store, "a2", "ra", 2_000, vec![found(MA, malware(MA))]);
    let g1 = case_of(store, "ra", "gambling");
    let m1 = case_of(store, "ra", "malware");
    act(
        store,
        m1,
        CaseAction::Dismiss {
            reason: "a demo miner".into(),
        },
        3_000,
    );
    act(store, g1, confirm(30_000), 5_060);
    crawl(store, "a3", "ra", 11_000, vec![found(PA, porn(PA))]);
    crawl(store, "a4", "ra", 12_000, vec![clean(GA)]);
    let p1 = case_of(store, "ra", "pornography");
    act(store, p1, confirm(15_000), 13_060);
    crawl(store, "a5", "ra", 16_000, vec![found(PA, porn(PA))]);

    crawl(
        store,
        "b1",
        "rb",
        14_000,
        vec![
            found(GB, gamble(GB)),
            found(PB, porn(PB)),
            found(MB, malware(MB)),
        ],
    );
    act(
        store,
        case_of(store, "rb", "gambling"),
        confirm(19_000),
        15_060,
    );
    act(
        store,
        case_of(store, "rb", "pornography"),
        CaseAction::Dismiss {
            reason: "a medical page".into(),
        },
        17_000,
    );
    crawl(store, "b2", "rb", 18_000, vec![clean(MB)]);
    crawl(
        store,
        "b3",
        "rb",
        25_000,
        vec![clean(GB), found(XB, phishing(XB))],
    );

    // The history is what the figures below assume.
    let state = |site: &str, category: &str| {
        let id = case_of(store, site, category);
        store.case(id).unwrap().unwrap().case.state
    };
    assert_eq!(state("ra", "gambling"), CaseState::Rectified);
    assert_eq!(state("ra", "malware"), CaseState::Dismissed);
    assert_eq!(state("ra", "pornography"), CaseState::Overdue);
    assert_eq!(state("rb", "gambling"), CaseState::Rectified);
    assert_eq!(state("rb", "pornography"), CaseState::Dismissed);
    assert_eq!(state("rb", "malware"), CaseState::Resolved);
    assert_eq!(state("rb", "phishing"), CaseState::Open);
    let g1 = store.case(g1).unwrap().unwrap().case;
    assert_eq!(
        (g1.created_at, g1.confirmed_at, g1.closed_at),
        (1_060, Some(5_060), Some(12_060))
    );
}

fn report(store: &dyn Store, from: i64, to: i64, customer: Option<&str>) -> CaseReport {
    store
        .case_report(&ReportQuery {
            from,
            to,
            customer: customer.map(str::to_string),
        })
        .expect("the report")
}

/// The figures in the report's order: opened, confirmed, rectified, resolved, dismissed,
/// overdue, open at the end, overdue at the end; then the two medians.
type Counts = [u64; 8];

fn counts(f: &CaseFigures) -> Counts {
    [
        f.opened,
        f.confirmed,
        f.rectified,
        f.resolved,
        f.dismissed,
        f.overdue,
        f.open_at_end,
        f.overdue_at_end,
    ]
}

fn rows(r: &CaseReport) -> Vec<(&str, Counts, Option<f64>, Option<f64>)> {
    r.categories
        .iter()
        .map(|c| {
            (
                c.category.as_str(),
                counts(&c.figures),
                c.figures.median_seconds_to_confirm,
                c.figures.median_seconds_to_rectify,
            )
        })
        .collect()
}

pub fn check_case_report_counts_transitions_in_the_period(store: &dyn Store) {
    history(store);

    // The fleet, [10_000, 20_000). G1 was confirmed before the period and rectified in it:
    // rectified (7_000 s after its confirmation), not confirmed. G2 is confirmed at the end
    // with its deadline (19_000) passed: overdue at the end, though no crawl found it so.
    let r = report(store, 10_000, 20_000, None);
    assert_eq!(
        (r.from, r.to, r.customer.as_deref()),
        (10_000, 20_000, None)
    );
    assert_eq!(
        rows(&r),
        vec![
            (
                "gambling",
                [1, 1, 1, 0, 0, 0, 1, 1],
                Some(1_000.0),
                Some(7_000.0)
            ),
            ("malware", [1, 0, 0, 1, 0, 0, 0, 0], None, None),
            ("pornography", [2, 1, 0, 0, 1, 1, 1, 1], Some(2_000.0), None),
        ]
    );
    assert_eq!(counts(&r.total), [4, 2, 1, 1, 1, 1, 2, 2]);
    // Over all cases, not of the categories' medians: (1_000 + 2_000) / 2.
    assert_eq!(r.total.median_seconds_to_confirm, Some(1_500.0));
    assert_eq!(r.total.median_seconds_to_rectify, Some(7_000.0));
    // Runs finished in the period: ra's a3, a4, a5 and rb's b1, b2 (11 + 11 + 11 + 13 + 11).
    assert_eq!((r.sites_patrolled, r.pages_scanned), (2, 57));

    // One customer: cust-a's sites only (M1 closed before the period and stays out).
    let a = report(store, 10_000, 20_000, Some("cust-a"));
    assert_eq!(a.customer.as_deref(), Some("cust-a"));
    assert_eq!(
        rows(&a),
        vec![
            ("gambling", [0, 0, 1, 0, 0, 0, 0, 0], None, Some(7_000.0)),
            ("pornography", [1, 1, 0, 0, 0, 1, 1, 1], Some(2_000.0), None),
        ]
    );
    assert_eq!(counts(&a.total), [1, 1, 1, 0, 0, 1, 1, 1]);
    assert_eq!((a.sites_patrolled, a.pages_scanned), (1, 33));
    let nobody = report(store, 10_000, 20_000, Some("cust-z"));
    assert!(nobody.categories.is_empty(), "{nobody:?}");
    assert_eq!(nobody.total, CaseFigures::default());
    assert_eq!((nobody.sites_patrolled, nobody.pages_scanned), (0, 0));

    // Before: G1 opened and confirmed (4_000 s), M1 opened and dismissed; G1 open at 10_000
    // with its deadline ahead.
    let before = report(store, 0, 10_000, None);
    assert_eq!(
        rows(&before),
        vec![
            ("gambling", [1, 1, 0, 0, 0, 0, 1, 0], Some(4_000.0), None),
            ("malware", [1, 0, 0, 0, 1, 0, 0, 0], None, None),
        ]
    );
    assert_eq!((before.sites_patrolled, before.pages_scanned), (1, 22));

    // An empty period: nothing happened in it, but what was open at its instant is.
    let empty = report(store, 20_000, 20_000, None);
    assert_eq!(
        rows(&empty),
        vec![
            ("gambling", [0, 0, 0, 0, 0, 0, 1, 1], None, None),
            ("pornography", [0, 0, 0, 0, 0, 0, 1, 1], None, None),
        ]
    );
    assert_eq!((empty.sites_patrolled, empty.pages_scanned), (0, 0));

    // After: G2 rectified (25_060 − 15_060), X2 opened; P1 still overdue at the end.
    let after = report(store, 20_000, 40_000, None);
    assert_eq!(
        rows(&after),
        vec![
            ("gambling", [0, 0, 1, 0, 0, 0, 0, 0], None, Some(10_000.0)),
            ("phishing", [1, 0, 0, 0, 0, 0, 1, 0], None, None),
            ("pornography", [0, 0, 0, 0, 0, 0, 1, 1], None, None),
        ]
    );
    assert_eq!((after.sites_patrolled, after.pages_scanned), (1, 12));

    // A period counts the events at its start and none at its end: [14_060, 16_060) has rb's
    // three openings and G2's confirmation, and P1's overdue (at 16_060) is outside; at the
    // end P1 is confirmed with its deadline (15_000) passed, so overdue all the same.
    let edges = report(store, 14_060, 16_060, None);
    assert_eq!(counts(&edges.total), [3, 1, 0, 0, 0, 0, 4, 1]);
}
