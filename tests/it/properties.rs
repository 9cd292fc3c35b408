//! Property tests (issue 16): the flag lifecycle of a real SQLite store follows a small
//! reference model under random crawls and reviewer actions, and `store check` finds nothing
//! wrong after any of them. (The in-memory scheduler they also covered is gone: the store's
//! lease claim is the schedule, covered by `store_suite::leases` and the fleet test.)
//!
//! Case counts are modest (64 per property, short sequences) so that the file runs in well
//! under a minute in a debug build; `PROPTEST_CASES` raises them for a longer hunt.

use std::collections::BTreeMap;

use crate::common;
use proptest::prelude::*;
use proptest::test_runner::Config;
use sitepatrol_core::finding::{Finding, Severity};
use sitepatrol_store::{
    CheckReport, CrawlRun, EventKind, FlagAction, FlagFilter, FlagId, FlagState, IngestOutcome,
    IngestPage, PageScan, SiteInfo, SqliteStore, Store, StoreConfig, StoreError, fingerprint,
};

fn config() -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 64;
    }
    config
}

// ---------------------------------------------------------------------------------------------
// The flag lifecycle, against a real SQLite store.

/// Category, rule and severity of the findings the crawls report.
const CATEGORIES: [(&str, &str, Severity); 3] = [
    ("gambling", "gambling.casino", Severity::High),
    ("pornography", "porn.av", Severity::Critical),
    ("fraud", "fraud.fake_bank", Severity::Medium),
];

/// The same URLs on both sites: a page of one site never touches the other's flags.
const URLS: [&str; 4] = [
    "http://a.example.cn/",
    "http://a.example.cn/b.html",
    "http://a.example.cn/c.html",
    "http://a.example.cn/d.html",
];

/// Two sites in the store, and one that never was.
const SITES: [&str; 3] = ["s1", "s2", "ghost"];

const REVIEWER: &str = "张三";

fn finding(category: usize, url: &str) -> Finding {
    let (category, rule, severity) = CATEGORIES[category];
    common::finding(rule, category, severity, &format!("{rule} 命中"), url)
}

#[derive(Debug, Clone)]
enum Scan {
    /// Matched: these categories (repeats fold into one flag) are all there is on the page.
    Matched(Vec<usize>),
    /// Matched, but the fetch cannot prove anything gone.
    Partial(Vec<usize>),
    Unchanged,
    NotScanned,
}

#[derive(Debug, Clone)]
enum Pick {
    /// The n-th flag the model knows (modulo their number).
    Known(usize),
    /// Any id, most of them not a flag.
    Raw(FlagId),
}

#[derive(Debug, Clone)]
enum Act {
    Confirm,
    /// With a reason, or with a blank one.
    Dismiss(bool),
    Reopen,
    Assign(Option<&'static str>),
    /// With text, or blank.
    Comment(bool),
}

impl Act {
    fn action(&self) -> FlagAction {
        match self {
            Act::Confirm => FlagAction::Confirm {
                reason: Some("赌博推广".into()),
            },
            Act::Dismiss(reason) => FlagAction::Dismiss {
                reason: if *reason {
                    "影评，不是推广"
                } else {
                    "  "
                }
                .into(),
            },
            Act::Reopen => FlagAction::Reopen { reason: None },
            Act::Assign(who) => FlagAction::Assign {
                assignee: who.map(str::to_string),
            },
            Act::Comment(text) => FlagAction::Comment {
                text: if *text { "已通知客户" } else { "\t" }.into(),
            },
        }
    }
}

#[derive(Debug, Clone)]
enum StoreOp {
    /// A crawl of a site; `replay` records it again under an earlier run's key.
    Crawl {
        site: usize,
        pages: Vec<(usize, Scan)>,
        replay: Option<usize>,
    },
    Act(Pick, Act),
    ActMany(Vec<Pick>, Act),
}

fn scan() -> impl Strategy<Value = Scan> {
    let categories = prop::collection::vec(0..CATEGORIES.len(), 0..4);
    prop_oneof![
        5 => categories.clone().prop_map(Scan::Matched),
        1 => categories.prop_map(Scan::Partial),
        1 => Just(Scan::Unchanged),
        1 => Just(Scan::NotScanned),
    ]
}

fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![
        4 => any::<usize>().prop_map(Pick::Known),
        1 => (-2i64..40).prop_map(Pick::Raw),
    ]
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        3 => Just(Act::Confirm),
        3 => prop::bool::weighted(0.85).prop_map(Act::Dismiss),
        3 => Just(Act::Reopen),
        1 => prop::sample::select(vec![None, Some("李四"), Some(" 王五 "), Some("   ")]).prop_map(Act::Assign),
        1 => prop::bool::weighted(0.8).prop_map(Act::Comment),
    ]
}

fn store_op() -> impl Strategy<Value = StoreOp> {
    prop_oneof![
        4 => (
            prop_oneof![8 => 0..2usize, 1 => Just(2usize)],
            prop::collection::vec((0..URLS.len(), scan()), 0..5),
            prop::option::weighted(0.1, any::<usize>()),
        )
            .prop_map(|(site, pages, replay)| StoreOp::Crawl { site, pages, replay }),
        4 => (pick(), act()).prop_map(|(p, a)| StoreOp::Act(p, a)),
        1 => (prop::collection::vec(pick(), 0..4), act()).prop_map(|(p, a)| StoreOp::ActMany(p, a)),
    ]
}

/// A flag as the model knows it.
#[derive(Debug, Clone)]
struct ModelFlag {
    /// Learnt from the store when the crawl that created it returns.
    id: Option<FlagId>,
    site: &'static str,
    url: &'static str,
    category: usize,
    state: FlagState,
    assignee: Option<String>,
    events: usize,
}

/// What an action on a flag must come to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    NotFound,
    Invalid,
    ReasonRequired,
    EmptyComment,
}

fn refusal(e: &StoreError) -> Option<Refusal> {
    match e {
        StoreError::FlagNotFound(_) => Some(Refusal::NotFound),
        StoreError::InvalidTransition { .. } => Some(Refusal::Invalid),
        StoreError::ReasonRequired(_) => Some(Refusal::ReasonRequired),
        StoreError::EmptyComment(_) => Some(Refusal::EmptyComment),
        _ => None,
    }
}

#[derive(Default)]
struct Model {
    /// By fingerprint.
    flags: BTreeMap<String, ModelFlag>,
    /// Fingerprints in the order the flags were created.
    order: Vec<String>,
    /// Recorded runs by key, with the outcome the store returned, in recording order.
    runs: Vec<(String, IngestOutcome)>,
}

/// What a crawl must report, by fingerprint.
#[derive(Debug, Default)]
struct Expected {
    new: Vec<String>,
    reopened: Vec<String>,
    resolved: Vec<String>,
    suppressed: u64,
    unchanged: u64,
    carried_over: u64,
    pages: u64,
}

impl Model {
    fn by_id(&mut self, id: FlagId) -> Option<&mut ModelFlag> {
        self.flags.values_mut().find(|f| f.id == Some(id))
    }

    fn resolve_pick(&self, pick: &Pick) -> FlagId {
        match pick {
            Pick::Known(_) if self.order.is_empty() => 1_000_000,
            Pick::Known(i) => self.flags[&self.order[i % self.order.len()]].id.unwrap(),
            Pick::Raw(id) => *id,
        }
    }

    /// The lifecycle as documented on `FlagState`, for one reviewer action.
    fn act(&mut self, id: FlagId, act: &Act) -> Result<(), Refusal> {
        let flag = self.by_id(id).ok_or(Refusal::NotFound)?;
        let to = match act {
            Act::Confirm => match flag.state {
                FlagState::Open | FlagState::Reopened => Some(FlagState::Confirmed),
                _ => return Err(Refusal::Invalid),
            },
            Act::Dismiss(false) => return Err(Refusal::ReasonRequired),
            Act::Dismiss(true) => match flag.state.is_active() {
                true => Some(FlagState::Dismissed),
                false => return Err(Refusal::Invalid),
            },
            Act::Reopen => match flag.state {
                FlagState::Confirmed | FlagState::Dismissed | FlagState::Resolved => {
                    Some(FlagState::Reopened)
                }
                _ => return Err(Refusal::Invalid),
            },
            Act::Assign(who) => {
                flag.assignee = who
                    .map(str::trim)
                    .filter(|w| !w.is_empty())
                    .map(str::to_string);
                None
            }
            Act::Comment(false) => return Err(Refusal::EmptyComment),
            Act::Comment(true) => None,
        };
        if let Some(to) = to {
            flag.state = to;
        }
        flag.events += 1;
        Ok(())
    }

    /// One crawl of `site`, page by page.
    fn crawl(&mut self, site: &'static str, pages: &[(usize, Scan)]) -> Expected {
        let mut out = Expected::default();
        for (url, scan) in pages {
            let url = URLS[*url];
            out.pages += 1;
            let (found, whole) = match scan {
                Scan::NotScanned => continue,
                Scan::Unchanged => {
                    out.carried_over += self
                        .flags
                        .values()
                        .filter(|f| f.site == site && f.url == url && f.state.is_active())
                        .count() as u64;
                    continue;
                }
                Scan::Matched(c) => (c, true),
                Scan::Partial(c) => (c, false),
            };
            let mut categories = found.clone();
            categories.sort();
            categories.dedup();
            for &category in &categories {
                let fp = fingerprint(site, CATEGORIES[category].0, url);
                match self.flags.get_mut(&fp) {
                    None => {
                        self.flags.insert(
                            fp.clone(),
                            ModelFlag {
                                id: None,
                                site,
                                url,
                                category,
                                state: FlagState::Open,
                                assignee: None,
                                events: 1,
                            },
                        );
                        self.order.push(fp.clone());
                        out.new.push(fp);
                    }
                    Some(f) if f.state == FlagState::Dismissed => out.suppressed += 1,
                    Some(f) if f.state == FlagState::Resolved => {
                        f.state = FlagState::Reopened;
                        f.events += 1;
                        out.reopened.push(fp);
                    }
                    Some(_) => out.unchanged += 1,
                }
            }
            if !whole {
                continue;
            }
            for (fp, f) in self.flags.iter_mut() {
                if f.site == site
                    && f.url == url
                    && !categories.contains(&f.category)
                    && f.state.is_active()
                {
                    f.state = FlagState::Resolved;
                    f.events += 1;
                    out.resolved.push(fp.clone());
                }
            }
        }
        out
    }
}

struct StoreDriver {
    _dir: tempfile::TempDir,
    store: SqliteStore,
    model: Model,
    at: i64,
    next_run: usize,
}

impl StoreDriver {
    fn new() -> StoreDriver {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = StoreConfig {
            body_cap_bytes: 4096,
            // Short, so that bodies are pruned within a sequence and the check sees both.
            body_retention_secs: 100,
            ..StoreConfig::default()
        };
        let store = SqliteStore::open(dir.path().join("store.db"), config).expect("open");
        let sites: Vec<SiteInfo> = SITES[..2]
            .iter()
            .map(|id| SiteInfo {
                id: id.to_string(),
                customer: format!("customer-{id}"),
                domains: vec![format!("{id}.example.cn")],
                origin: None,
                contact: Default::default(),
            })
            .collect();
        store.upsert_sites(&sites, 1).expect("sites");
        StoreDriver {
            _dir: dir,
            store,
            model: Model::default(),
            at: 1_000,
            next_run: 0,
        }
    }

    fn ids_of(&self, fps: &[String]) -> Vec<FlagId> {
        let mut ids: Vec<FlagId> = fps
            .iter()
            .map(|fp| self.model.flags[fp].id.expect("an id"))
            .collect();
        ids.sort();
        ids
    }

    fn crawl(
        &mut self,
        site: usize,
        pages: &[(usize, Scan)],
        replay: Option<usize>,
    ) -> Result<(), TestCaseError> {
        let key = match replay {
            Some(i) if !self.model.runs.is_empty() => {
                self.model.runs[i % self.model.runs.len()].0.clone()
            }
            _ => {
                self.next_run += 1;
                format!("run-{}", self.next_run)
            }
        };
        let site = SITES[site];
        let run = CrawlRun {
            key: key.clone(),
            site: site.into(),
            started_at: self.at,
            finished_at: self.at + 5,
            outcome: sitepatrol_store::CrawlOutcome::Completed,
            rules_version: "rules-v1".into(),
            stats: serde_json::json!({}),
            release: None,
        };
        let ingest: Vec<IngestPage> = pages
            .iter()
            .map(|(url, scan)| {
                let url = URLS[*url];
                let (findings, body) = match scan {
                    Scan::Matched(c) | Scan::Partial(c) => (
                        c.iter().map(|&c| finding(c, url)).collect(),
                        format!("<p>{url} {c:?}</p>"),
                    ),
                    Scan::Unchanged | Scan::NotScanned => (Vec::new(), format!("<p>{url}</p>")),
                };
                let mut page = IngestPage::matched(url, 200, self.at, body.as_bytes(), findings);
                page.scan = match scan {
                    Scan::Matched(_) => page.scan,
                    Scan::Partial(c) => {
                        PageScan::Partial(c.iter().map(|&c| finding(c, url)).collect())
                    }
                    Scan::Unchanged => PageScan::Unchanged,
                    Scan::NotScanned => PageScan::NotScanned,
                };
                page
            })
            .collect();
        let result = self.store.record_crawl(&run, &ingest);
        // A key already recorded changes nothing, whatever the run now says.
        if let Some((_, prior)) = self.model.runs.iter().find(|(k, _)| *k == key) {
            let got = result.map_err(|e| TestCaseError::fail(format!("replay of {key}: {e}")))?;
            let mut want = prior.clone();
            want.replayed = true;
            prop_assert_eq!(got, want, "replay of {}", key);
            return Ok(());
        }
        if site == "ghost" {
            prop_assert!(
                matches!(result, Err(StoreError::SiteNotFound(_))),
                "a crawl of a site not in the store: {:?}",
                result
            );
            return Ok(());
        }
        let got = result.map_err(|e| TestCaseError::fail(format!("crawl {key}: {e}")))?;
        let want = self.model.crawl(site, pages);
        // New flags: the store's ids, learnt by fingerprint.
        let mut new_fps = Vec::new();
        for r in &got.new {
            let detail = self.store.flag(r.id).unwrap().expect("a new flag exists");
            let fp = detail.flag.fingerprint;
            let m = self.model.flags.get_mut(&fp);
            prop_assert!(m.is_some(), "flag {} ({}) is not new", r.id, fp);
            let m = m.unwrap();
            prop_assert_eq!(m.id, None, "flag {} reported new twice", r.id);
            prop_assert_eq!(r.category.as_str(), CATEGORIES[m.category].0);
            prop_assert_eq!(r.severity, CATEGORIES[m.category].2);
            m.id = Some(r.id);
            new_fps.push(fp);
        }
        new_fps.sort();
        let mut want_new = want.new.clone();
        want_new.sort();
        prop_assert_eq!(new_fps, want_new, "new flags");
        let mut reopened: Vec<FlagId> = got.reopened.iter().map(|r| r.id).collect();
        reopened.sort();
        prop_assert_eq!(reopened, self.ids_of(&want.reopened), "reopened flags");
        let mut resolved: Vec<FlagId> = got.resolved.iter().map(|r| r.id).collect();
        resolved.sort();
        prop_assert_eq!(resolved, self.ids_of(&want.resolved), "resolved flags");
        prop_assert_eq!(
            (
                got.suppressed,
                got.unchanged,
                got.carried_over,
                got.pages,
                got.replayed
            ),
            (
                want.suppressed,
                want.unchanged,
                want.carried_over,
                want.pages,
                false
            ),
            "counts (suppressed, unchanged, carried over, pages, replayed)"
        );
        self.model.runs.push((key, got));
        Ok(())
    }

    fn act(&mut self, ids: &[FlagId], act: &Act, many: bool) -> Result<(), TestCaseError> {
        let action = act.action();
        let results: Vec<(FlagId, Result<sitepatrol_store::Flag, StoreError>)> = if many {
            self.store
                .act_many(ids, &action, REVIEWER, self.at, &[])
                .map_err(|e| TestCaseError::fail(format!("bulk {}: {e}", action.name())))?
        } else {
            vec![(
                ids[0],
                self.store.act(ids[0], &action, REVIEWER, self.at, None),
            )]
        };
        prop_assert_eq!(results.len(), ids.len());
        for (id, got) in results {
            let want = self.model.act(id, act);
            match (&got, want) {
                (Ok(flag), Ok(())) => {
                    let m = self.model.by_id(id).unwrap();
                    prop_assert_eq!(flag.state, m.state, "flag {} after {:?}", id, act);
                    prop_assert_eq!(&flag.assignee, &m.assignee, "flag {} after {:?}", id, act);
                }
                (Err(e), Err(refused)) => {
                    prop_assert_eq!(refusal(e), Some(refused), "flag {} {:?}: {}", id, act, e)
                }
                _ => prop_assert!(
                    false,
                    "flag {} {:?}: store {:?}, model {:?}",
                    id,
                    act,
                    got,
                    want
                ),
            }
        }
        Ok(())
    }

    fn apply(&mut self, op: &StoreOp) -> Result<(), TestCaseError> {
        self.at += 10;
        match op {
            StoreOp::Crawl {
                site,
                pages,
                replay,
            } => self.crawl(*site, pages, *replay)?,
            StoreOp::Act(pick, act) => {
                let id = self.model.resolve_pick(pick);
                self.act(&[id], act, false)?;
            }
            StoreOp::ActMany(picks, act) => {
                let ids: Vec<FlagId> = picks.iter().map(|p| self.model.resolve_pick(p)).collect();
                self.act(&ids, act, true)?;
            }
        }
        self.check()
    }

    /// The store's flags are the model's, each with its events, and `store check` is clean.
    fn check(&self) -> Result<(), TestCaseError> {
        let listed = self
            .store
            .list_flags(&FlagFilter {
                limit: 1000,
                ..FlagFilter::default()
            })
            .unwrap()
            .flags;
        prop_assert_eq!(listed.len(), self.model.flags.len(), "flag count");
        for flag in &listed {
            let m = self.model.flags.get(&flag.fingerprint);
            prop_assert!(m.is_some(), "flag {} is not in the model", flag.id);
            let m = m.unwrap();
            prop_assert_eq!(Some(flag.id), m.id);
            prop_assert_eq!((flag.site.as_str(), flag.url.as_str()), (m.site, m.url));
            prop_assert_eq!(flag.category.as_str(), CATEGORIES[m.category].0);
            prop_assert_eq!(flag.state, m.state, "state of flag {}", flag.id);
            prop_assert_eq!(&flag.assignee, &m.assignee, "assignee of flag {}", flag.id);
            let events = self.store.flag(flag.id).unwrap().unwrap().events;
            prop_assert_eq!(
                events.len(),
                m.events,
                "events of flag {}: {:#?}",
                flag.id,
                events
            );
            let created = events
                .iter()
                .filter(|e| e.kind == EventKind::State && e.from_state.is_none())
                .count();
            prop_assert_eq!(
                created,
                1,
                "flag {} has {} creation events",
                flag.id,
                created
            );
            let last_state = events
                .iter()
                .filter(|e| e.kind == EventKind::State)
                .max_by_key(|e| e.id)
                .and_then(|e| e.to_state);
            prop_assert_eq!(
                last_state,
                Some(flag.state),
                "last state event of flag {}",
                flag.id
            );
        }
        let report: CheckReport = self.store.check().expect("store check runs");
        let problems: Vec<String> = report
            .checks
            .iter()
            .flat_map(|c| c.problems.iter().map(|p| p.detail.clone()))
            .collect();
        prop_assert!(report.ok, "store check: {:#?}", problems);
        Ok(())
    }
}

proptest! {
    #![proptest_config(config())]

    /// Random crawls (with findings on some pages, without on others, partial and unchanged
    /// pages, replays, a site not in the store) and reviewer actions (on flags that exist and
    /// ids that do not, one at a time and in bulk) leave the store's flags in the states, with
    /// the assignees and the events, that the lifecycle's model says; `store check` agrees.
    #[test]
    fn flags_follow_the_lifecycle_model(ops in prop::collection::vec(store_op(), 1..30)) {
        let mut d = StoreDriver::new();
        for op in &ops {
            d.apply(op)?;
        }
    }
}
