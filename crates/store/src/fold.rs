//! Migration 4's code step: the per-term flags of older stores folded into one flag per page
//! and category.
//!
//! Until schema 4 every distinct term was a flag, so one page could hold many flags of one
//! category, each with its own review history. Each (site, URL, category) group becomes one
//! flag: the *survivor*, the part whose state wins (see [`state_rank`]), so the state, the id
//! and with it every notice and link a reviewer made stay as they were. The other parts' review
//! history and webhook deliveries move to it, their evidence becomes its signals, and one event
//! by [`MIGRATION_ACTOR`] says what was folded.
//!
//! Deciding is done here, per group, on what the group's rows say; moving rows is set-based
//! SQL (`sql::FOLD_*`) over a table of folded id → survivor. The statements are the portable
//! ones of `sql.rs`; only the hashing and the JSON, which the two databases spell differently,
//! are done in Rust.

use super::db::{Db, DbError, DbResult, Row, vals};

use super::signals::{FlagSignal, MAX_SIGNALS};
use super::{EventKind, FlagId, FlagState, Timestamp, fingerprint, sql};

/// The actor of the events the migration records.
pub const MIGRATION_ACTOR: &str = "migration";

/// Parts named one by one in the migration's event; the rest are counted.
const NAMED_PARTS: usize = 20;
/// Characters of a part's matched text quoted in the event.
const QUOTED_CHARS: usize = 40;

/// Which part's state a folded flag takes: the highest rank wins, the earliest flag among
/// equals. A confirmed takedown stays confirmed whatever else the page had. An open or
/// reopened term still waits for a reviewer, so it outranks a dismissal of another term (the
/// dismissal stays in the history and is named in the migration's event, not undone). A
/// dismissal outranks a resolve, so the page's category stays suppressed as the reviewer
/// decided. Reopened outranks open: it carries a resolve or a reviewer's reopen.
fn state_rank(state: FlagState) -> u8 {
    match state {
        FlagState::Confirmed => 4,
        FlagState::Reopened => 3,
        FlagState::Open => 2,
        FlagState::Dismissed => 1,
        FlagState::Resolved => 0,
    }
}

/// A per-term flag as schema 3 kept it.
#[derive(Debug, Clone)]
struct Part {
    id: FlagId,
    url: String,
    category: String,
    state: FlagState,
    severity_rank: i64,
    signal: FlagSignal,
    assignee: Option<String>,
    created_at: Timestamp,
    first_run: String,
    last_seen_at: Timestamp,
    last_run: String,
}

/// What one group becomes.
#[derive(Debug)]
struct Plan {
    survivor: FlagId,
    /// The strongest part, whose head fields the survivor quotes.
    head: FlagId,
    /// The parts folded into the survivor (deleted after their rows moved).
    folded: Vec<FlagId>,
    fingerprint: String,
    signals: Vec<FlagSignal>,
    signals_omitted: u64,
    created_at: Timestamp,
    first_run: String,
    last_seen_at: Timestamp,
    last_run: String,
    assignee: Option<String>,
    /// The migration's event on the survivor; `None` when nothing was folded.
    note: Option<String>,
}

/// Folds every group of the store. Called inside the migration's transaction.
pub(super) fn fold_per_term_flags(tx: &dyn Db, now: Timestamp) -> DbResult<()> {
    // Not prepared and cached: the table is dropped at the end.
    tx.batch(sql::FOLD_TABLE)?;
    let sites: Vec<String> = tx.rows(sql::FOLD_SITES, &[], |r| r.get(0))?;
    // A site at a time: memory holds one site's flags, never the whole store's.
    for site in &sites {
        let parts: Vec<Part> = tx.rows(sql::FOLD_FLAGS_OF_SITE, vals![site], part_from_row)?;
        for group in parts.chunk_by(|a, b| a.url == b.url && a.category == b.category) {
            apply(tx, &plan(site, group), now)?;
        }
    }
    // As one batch, not cached statements: they name the temporary table, which is gone
    // after the last of them.
    let moves = [
        sql::FOLD_EVENTS,
        sql::FOLD_OUTBOX,
        sql::FOLD_DELETE,
        sql::FOLD_DROP,
    ];
    tx.batch(&moves.join(";\n"))?;
    Ok(())
}

fn part_from_row(row: &Row) -> DbResult<Part> {
    let state = row.parse(3)?;
    Ok(Part {
        id: row.get(0)?,
        url: row.get(1)?,
        category: row.get(2)?,
        state,
        severity_rank: row.get(4)?,
        signal: FlagSignal {
            rule: row.get(5)?,
            weight: None,
            contribution: None,
            zone: row.get(6)?,
            matched: row.get(7)?,
            normalized: row.get(8)?,
            snippet: row.get(9)?,
            offset: row.count(10)?,
            count: row.count(11)?,
            seen_by: Vec::new(),
        },
        assignee: row.get(12)?,
        created_at: row.get(13)?,
        first_run: row.get(14)?,
        last_seen_at: row.get(15)?,
        last_run: row.get(16)?,
    })
}

/// The fold of one (URL, category) group of a site, ordered by id.
fn plan(site: &str, group: &[Part]) -> Plan {
    let mut by_state: Vec<&Part> = group.iter().collect();
    by_state.sort_by_key(|p| (std::cmp::Reverse(state_rank(p.state)), p.id));
    let survivor = by_state[0];
    // Strongest first: the most severe, then the most frequent, then the earliest.
    let mut by_strength: Vec<&Part> = group.iter().collect();
    by_strength.sort_by_key(|p| {
        (
            std::cmp::Reverse(p.severity_rank),
            std::cmp::Reverse(p.signal.count),
            p.id,
        )
    });
    let first = group
        .iter()
        .min_by_key(|p| (p.created_at, p.id))
        .unwrap_or(survivor);
    let last = group
        .iter()
        .max_by_key(|p| (p.last_seen_at, p.id))
        .unwrap_or(survivor);
    let mut signals: Vec<FlagSignal> = by_strength.iter().map(|p| p.signal.clone()).collect();
    let omitted = signals.len().saturating_sub(MAX_SIGNALS);
    signals.truncate(MAX_SIGNALS);
    Plan {
        survivor: survivor.id,
        head: by_strength[0].id,
        folded: by_state[1..].iter().map(|p| p.id).collect(),
        fingerprint: fingerprint(site, &survivor.category, &survivor.url),
        signals,
        signals_omitted: omitted as u64,
        created_at: first.created_at,
        first_run: first.first_run.clone(),
        last_seen_at: last.last_seen_at,
        last_run: last.last_run.clone(),
        assignee: by_state.iter().find_map(|p| p.assignee.clone()),
        note: (group.len() > 1).then(|| note(survivor.state, &by_state)),
    }
}

/// What [`note`] writes before the state the folded flag keeps.
const KEEPS: &str = "keeps the state ";

/// The state a migration event's text (by [`MIGRATION_ACTOR`]) says the folded flag kept.
/// The fold moved the parts' state events to the survivor, so its last state event may be a
/// part's; its state was decided here instead (`store check` reads it back).
pub(super) fn folded_state(note: &str) -> Option<FlagState> {
    let (_, rest) = note.split_once(KEEPS)?;
    rest.split_whitespace().next()?.parse().ok()
}

/// The migration's event text: what was folded, and each part's state before.
fn note(state: FlagState, parts: &[&Part]) -> String {
    let mut text = format!(
        "schema 4, one flag per page and category: the {} per-term flags of this page and category are now this one, which {KEEPS}{state} (confirmed > reopened > open > dismissed > resolved) and their merged history. They were:",
        parts.len()
    );
    for p in parts.iter().take(NAMED_PARTS) {
        let quoted: String = p.signal.matched.chars().take(QUOTED_CHARS).collect();
        text.push_str(&format!(
            " #{} {} {} 「{quoted}」;",
            p.id, p.state, p.signal.rule
        ));
    }
    if parts.len() > NAMED_PARTS {
        text.push_str(&format!(" and {} more", parts.len() - NAMED_PARTS));
    }
    text.trim_end_matches(';').to_string()
}

fn apply(tx: &dyn Db, plan: &Plan, now: Timestamp) -> DbResult<()> {
    let signals = serde_json::to_string(&plan.signals)
        .map_err(|e| DbError::Other(format!("cannot encode the signals of a folded flag: {e}")))?;
    tx.execute(
        sql::FOLD_SURVIVOR,
        vals![
            plan.survivor,
            plan.fingerprint,
            signals,
            plan.signals_omitted,
            plan.created_at,
            plan.first_run,
            plan.last_seen_at,
            plan.last_run,
            plan.assignee
        ],
    )?;
    if plan.head != plan.survivor {
        tx.execute(sql::FOLD_HEAD, vals![plan.survivor, plan.head])?;
    }
    for id in &plan.folded {
        tx.execute(sql::FOLD_INSERT, vals![id, plan.survivor])?;
    }
    if let Some(note) = &plan.note {
        tx.execute(
            sql::INSERT_EVENT,
            vals![
                plan.survivor,
                now,
                MIGRATION_ACTOR,
                EventKind::Comment.as_str(),
                Option::<&str>::None,
                Option::<&str>::None,
                note,
                Option::<&str>::None
            ],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(id: FlagId, state: FlagState, severity_rank: i64, term: &str) -> Part {
        Part {
            id,
            url: "http://a.test/".into(),
            category: "gambling".into(),
            state,
            severity_rank,
            signal: FlagSignal {
                rule: format!("gambling.r{id}"),
                weight: None,
                contribution: None,
                zone: Some("text".into()),
                matched: term.into(),
                normalized: term.into(),
                snippet: format!("…{term}…"),
                offset: 0,
                count: 1,
                seen_by: Vec::new(),
            },
            assignee: None,
            created_at: 100 * id,
            first_run: format!("r{id}"),
            last_seen_at: 1_000 - id,
            last_run: format!("l{id}"),
        }
    }

    #[test]
    fn the_winning_state_survives_and_the_strongest_part_is_the_head() {
        let mut parts = vec![
            part(1, FlagState::Dismissed, 4, "赌场"),
            part(2, FlagState::Confirmed, 3, "百家乐"),
            part(3, FlagState::Open, 3, "投注"),
        ];
        parts[2].assignee = Some("alice".into());
        let plan = plan("s", &parts);
        assert_eq!(plan.survivor, 2, "confirmed wins");
        assert_eq!(plan.head, 1, "the most severe part is the head");
        assert_eq!(plan.folded, vec![3, 1]);
        assert_eq!((plan.created_at, plan.first_run.as_str()), (100, "r1"));
        assert_eq!((plan.last_seen_at, plan.last_run.as_str()), (999, "l1"));
        assert_eq!(plan.assignee.as_deref(), Some("alice"));
        let terms: Vec<&str> = plan.signals.iter().map(|s| s.matched.as_str()).collect();
        assert_eq!(terms, ["赌场", "百家乐", "投注"]);
        assert_eq!(
            plan.fingerprint,
            fingerprint("s", "gambling", "http://a.test/")
        );
        let note = plan.note.unwrap();
        assert!(
            note.contains("3 per-term flags") && note.contains("confirmed"),
            "{note}"
        );
        assert!(note.contains("#1 dismissed gambling.r1 「赌场」"), "{note}");
        assert_eq!(folded_state(&note), Some(FlagState::Confirmed));
        assert_eq!(folded_state("a reviewer's comment"), None);
    }

    #[test]
    fn state_precedence() {
        use FlagState::*;
        for (states, winner) in [
            (vec![Open, Dismissed], Open),
            (vec![Dismissed, Reopened], Reopened),
            (vec![Resolved, Dismissed], Dismissed),
            (vec![Resolved, Resolved], Resolved),
            (vec![Open, Reopened, Resolved], Reopened),
            (vec![Resolved, Confirmed, Dismissed], Confirmed),
        ] {
            let parts: Vec<Part> = states
                .iter()
                .enumerate()
                .map(|(i, s)| part(i as FlagId + 1, *s, 2, "x"))
                .collect();
            let plan = plan("s", &parts);
            let won = parts.iter().find(|p| p.id == plan.survivor).unwrap().state;
            assert_eq!(won, winner, "{states:?}");
        }
    }

    #[test]
    fn a_single_flag_only_gets_its_new_fingerprint_and_signal() {
        let plan = plan("s", &[part(7, FlagState::Open, 2, "x")]);
        assert_eq!((plan.survivor, plan.head), (7, 7));
        assert!(plan.folded.is_empty() && plan.note.is_none());
        assert_eq!(plan.signals.len(), 1);
    }

    #[test]
    fn long_groups_are_capped_in_signals_and_in_the_note() {
        let parts: Vec<Part> = (1..=(MAX_SIGNALS as FlagId + 5))
            .map(|i| part(i, FlagState::Open, 2, &"长".repeat(60)))
            .collect();
        let plan = plan("s", &parts);
        assert_eq!((plan.signals.len(), plan.signals_omitted), (MAX_SIGNALS, 5));
        let note = plan.note.unwrap();
        assert!(note.ends_with(&format!("and {} more", parts.len() - NAMED_PARTS)));
        assert!(!note.contains(&"长".repeat(41)));
    }
}
