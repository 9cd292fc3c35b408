//! The statements every backend shares, in one place.
//!
//! Plain SQL that SQLite (3.35+) and PostgreSQL both run: `ON CONFLICT ... DO UPDATE`,
//! `RETURNING`, `COALESCE`, no `INSERT OR REPLACE`, no `rowid`, no date functions (times are
//! integers). Where the two differ by default it is spelled out: a descending order over a
//! nullable column says `NULLS LAST` (SQLite's default, PostgreSQL's is NULLS FIRST).
//! Placeholders are written `?N`; [`placeholder`] is the one place that spells them, and the
//! PostgreSQL backend rewrites `?N` to `$N` (`db::dollar_placeholders`, which leaves string
//! literals alone) when it prepares these strings.

/// The `n`th (1-based) bind placeholder, for statements built at run time (filters).
pub fn placeholder(n: usize) -> String {
    format!("?{n}")
}

pub const SCHEMA_MIGRATIONS: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at INTEGER NOT NULL
)";
pub const SCHEMA_VERSION: &str = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations";
pub const INSERT_MIGRATION: &str =
    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)";

// Sites.
pub const UPSERT_SITE: &str =
    "INSERT INTO sites (id, customer, domains, in_inventory, created_at, updated_at,
        customer_name, contact_email, contact_phone, account_manager, host_key, origin_key)
    VALUES (?1, ?2, ?3, 1, ?4, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
    ON CONFLICT (id) DO UPDATE SET customer = excluded.customer, domains = excluded.domains,
        in_inventory = 1, updated_at = excluded.updated_at,
        customer_name = excluded.customer_name, contact_email = excluded.contact_email,
        contact_phone = excluded.contact_phone, account_manager = excluded.account_manager,
        host_key = excluded.host_key, origin_key = excluded.origin_key";
pub const REMOVE_SITE: &str =
    "UPDATE sites SET in_inventory = 0, updated_at = ?2 WHERE id = ?1 AND in_inventory = 1";
pub const SITE_COLUMNS: &str = "s.id, s.customer, s.domains, s.in_inventory, s.filing_status,
    s.filing_checked_at, s.next_due_at, s.last_crawl_at,
    (SELECT COUNT(*) FROM flags f WHERE f.site_id = s.id
        AND f.state IN ('open', 'reopened', 'confirmed')),
    s.customer_name, s.contact_email, s.contact_phone, s.account_manager";
pub const SITE_EXISTS: &str = "SELECT COUNT(*) FROM sites WHERE id = ?1";
pub const SET_FILING: &str =
    "UPDATE sites SET filing_status = ?2, filing_checked_at = ?3 WHERE id = ?1";
pub const SITES_BY_FILING: &str = "SELECT filing_status, COUNT(*) FROM sites WHERE in_inventory = 1
    GROUP BY filing_status ORDER BY filing_status";
pub const NEXT_DUE: &str = "SELECT next_due_at FROM sites WHERE id = ?1";
pub const SET_NEXT_DUE: &str = "UPDATE sites SET next_due_at = ?2 WHERE id = ?1";
pub const ALL_NEXT_DUE: &str = "SELECT id, next_due_at FROM sites
    WHERE in_inventory = 1 AND next_due_at IS NOT NULL ORDER BY id";
// Leases (migration 11). A site is claimable when it is in the inventory, due (never
// scheduled counts as due first: `COALESCE(next_due_at, 0)`, the expression `sites_due`
// indexes with the id, so the claim walks that index in due order and stops at its limit
// instead of sorting every due site), its own lease is free or ran out, and no *other* owner
// holds an unexpired lease on a site of the same host (`host_key`, through the partial index
// `sites_leased`): a host is patrolled by one daemon at a time. Likewise the origin
// (migration 13): no other owner holds an unexpired lease on a site of the same
// `origin_key` (through `sites_leased_origin`); a site with none (`NULL` equals nothing) is
// grouped by its host alone. `?1` owner, `?2` now, `?3` how many. PostgreSQL wraps it in an
// UPDATE with `FOR UPDATE OF s SKIP LOCKED` ([`CLAIM_POSTGRES`]); SQLite reads it and
// updates the rows in the same IMMEDIATE transaction.
macro_rules! claim_candidates {
    ($lock:literal) => {
        concat!(
            "SELECT s.id FROM sites s
    WHERE COALESCE(s.next_due_at, 0) <= ?2 AND s.in_inventory = 1
        AND (s.lease_until IS NULL OR s.lease_until <= ?2)
        AND NOT EXISTS (SELECT 1 FROM sites o WHERE o.host_key = s.host_key
            AND o.lease_owner IS NOT NULL AND o.lease_until > ?2
            AND o.lease_owner <> ?1 AND o.id <> s.id)
        AND NOT EXISTS (SELECT 1 FROM sites o WHERE o.origin_key = s.origin_key
            AND o.lease_owner IS NOT NULL AND o.origin_key IS NOT NULL AND o.lease_until > ?2
            AND o.lease_owner <> ?1 AND o.id <> s.id)
    ORDER BY COALESCE(s.next_due_at, 0), s.id LIMIT ?3",
            $lock
        )
    };
}
pub const CLAIM_CANDIDATES: &str = claim_candidates!("");
/// The claim in one PostgreSQL statement: the candidates locked as they are picked, rows
/// another transaction holds skipped; `?4` the lease's end.
pub const CLAIM_POSTGRES: &str = concat!(
    "UPDATE sites SET lease_owner = ?1, lease_until = ?4 WHERE id IN (",
    claim_candidates!(" FOR UPDATE OF s SKIP LOCKED"),
    ") RETURNING id"
);
pub const TAKE_LEASE: &str = "UPDATE sites SET lease_owner = ?2, lease_until = ?3 WHERE id = ?1";
pub const RENEW_LEASE: &str =
    "UPDATE sites SET lease_until = ?3 WHERE id = ?1 AND lease_owner = ?2";
pub const RELEASE_LEASE: &str = "UPDATE sites SET lease_owner = NULL, lease_until = NULL
    WHERE id = ?1 AND lease_owner = ?2";
pub const FINISH_LEASE: &str =
    "UPDATE sites SET lease_owner = NULL, lease_until = NULL, next_due_at = ?3
    WHERE id = ?1 AND lease_owner = ?2";
/// A recrawl request: due at `?2` (or earlier, as it was), unless a lease runs.
pub const MAKE_DUE: &str = "UPDATE sites SET next_due_at = CASE
        WHEN next_due_at IS NOT NULL AND next_due_at < ?2 THEN next_due_at ELSE ?2 END
    WHERE id = ?1 AND in_inventory = 1 AND (lease_until IS NULL OR lease_until <= ?2)";
pub const CLEAR_LEASES: &str = "UPDATE sites SET lease_owner = NULL, lease_until = NULL
    WHERE lease_owner IS NOT NULL";
pub const SITE_LEASE: &str =
    "SELECT in_inventory, lease_owner, lease_until FROM sites WHERE id = ?1";
pub const LEASES: &str = "SELECT id, lease_owner, lease_until, COALESCE(host_key, ''),
    origin_key FROM sites WHERE lease_owner IS NOT NULL AND lease_until > ?1 ORDER BY id";
pub const OVERDUE_SITES: &str = "SELECT COUNT(*) FROM sites
    WHERE COALESCE(next_due_at, 0) <= ?1 AND in_inventory = 1
        AND (lease_until IS NULL OR lease_until <= ?1)";
pub const SET_LAST_CRAWL: &str = "UPDATE sites SET last_crawl_at = ?2
    WHERE id = ?1 AND (last_crawl_at IS NULL OR last_crawl_at < ?2)";

// Pages.
pub const PAGE_STATES: &str = "SELECT url, content_sha256, etag, last_modified, rules_version,
    http_status, fetched_at, links FROM pages WHERE site_id = ?1 ORDER BY url";

// Statements that find a page or its flags by URL (`?2`), in each dialect. A crawled URL can
// be up to 4 KiB (`fetch.max_url_len`), past what a PostgreSQL B-tree entry holds (about
// 2.7 KiB, less for text that does not compress): PostgreSQL's schema indexes `md5(url)`
// instead, and its statements name that expression, in the conflict target and beside
// `url = ?2` so that the index is used. A hostile site's long URLs must not make its crawls
// fail to record. SQLite indexes the URL itself; its statements are as they always were.
macro_rules! page_state {
    ($and:literal) => {
        concat!(
            "SELECT content_sha256, etag, last_modified, rules_version, http_status,
    fetched_at, links FROM pages WHERE site_id = ?1 AND url = ?2",
            $and
        )
    };
}
/// A matched page: content, validators, links and the rules version it was matched with. The
/// links are replaced, not kept: links of other content would lead a later 304 astray.
macro_rules! upsert_page_matched {
    ($key:literal) => {
        concat!(
            "INSERT INTO pages (site_id, url, http_status, content_sha256,
        etag, last_modified, fetched_at, rules_version, last_run, links)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
    ON CONFLICT ",
            $key,
            " DO UPDATE SET http_status = excluded.http_status,
        content_sha256 = excluded.content_sha256, etag = excluded.etag,
        last_modified = excluded.last_modified, fetched_at = excluded.fetched_at,
        rules_version = excluded.rules_version, last_run = excluded.last_run,
        links = excluded.links"
        )
    };
}
/// A page fetched but not matched: the content hash and rules version it was last matched
/// with stay, so that an unscanned error page does not pass for judged content.
macro_rules! upsert_page_unmatched {
    ($key:literal) => {
        concat!(
            "INSERT INTO pages (site_id, url, http_status, content_sha256,
        etag, last_modified, fetched_at, rules_version, last_run)
    VALUES (?1, ?2, ?3, NULL, ?4, ?5, ?6, NULL, ?7)
    ON CONFLICT ",
            $key,
            " DO UPDATE SET http_status = excluded.http_status,
        etag = COALESCE(excluded.etag, pages.etag),
        last_modified = COALESCE(excluded.last_modified, pages.last_modified),
        fetched_at = excluded.fetched_at, last_run = excluded.last_run"
        )
    };
}
macro_rules! flags_of_url {
    ($and:literal) => {
        concat!(
            "SELECT id, fingerprint, state, category, severity, score
    FROM flags WHERE site_id = ?1 AND url = ?2",
            $and
        )
    };
}
/// ?3 last seen, ?4 run key.
macro_rules! carry_flags_of_url {
    ($and:literal) => {
        concat!(
            "UPDATE flags SET last_seen_at = ?3, last_run = ?4
    WHERE site_id = ?1 AND url = ?2",
            $and,
            " AND state IN ('open', 'reopened', 'confirmed')"
        )
    };
}

/// The statements that find a page or its flags by URL, in one dialect's spelling
/// ([`BY_URL_SQLITE`], [`BY_URL_POSTGRES`]; the engine picks by its database's dialect).
pub struct ByUrl {
    pub page_state: &'static str,
    pub upsert_page_matched: &'static str,
    pub upsert_page_unmatched: &'static str,
    pub flags_of_url: &'static str,
    pub carry_flags_of_url: &'static str,
}

pub const BY_URL_SQLITE: ByUrl = ByUrl {
    page_state: page_state!(""),
    upsert_page_matched: upsert_page_matched!("(site_id, url)"),
    upsert_page_unmatched: upsert_page_unmatched!("(site_id, url)"),
    flags_of_url: flags_of_url!(""),
    carry_flags_of_url: carry_flags_of_url!(""),
};

pub const BY_URL_POSTGRES: ByUrl = ByUrl {
    page_state: page_state!(" AND md5(url) = md5(?2)"),
    upsert_page_matched: upsert_page_matched!("(site_id, md5(url))"),
    upsert_page_unmatched: upsert_page_unmatched!("(site_id, md5(url))"),
    flags_of_url: flags_of_url!(" AND md5(url) = md5(?2)"),
    carry_flags_of_url: carry_flags_of_url!(" AND md5(url) = md5(?2)"),
};

// Crawl checkpoints.
pub const SAVE_CHECKPOINT: &str =
    "INSERT INTO crawl_checkpoints (site_id, run_key, saved_at, state)
    VALUES (?1, ?2, ?3, ?4)
    ON CONFLICT (site_id) DO UPDATE SET run_key = excluded.run_key,
        saved_at = excluded.saved_at, state = excluded.state";
pub const CHECKPOINT: &str =
    "SELECT site_id, run_key, saved_at, state FROM crawl_checkpoints WHERE site_id = ?1";
pub const DELETE_CHECKPOINT: &str = "DELETE FROM crawl_checkpoints WHERE site_id = ?1";

// Bodies.
pub const BODY_DATA_PRESENT: &str = "SELECT data IS NOT NULL FROM bodies WHERE sha256 = ?1";
pub const INSERT_BODY: &str =
    "INSERT INTO bodies (sha256, original_size, stored_size, truncated, data,
        first_stored_at, last_seen_at, pruned_at)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, NULL)
    ON CONFLICT (sha256) DO UPDATE SET stored_size = excluded.stored_size,
        truncated = excluded.truncated, data = excluded.data, last_seen_at = excluded.last_seen_at,
        pruned_at = NULL";
pub const TOUCH_BODY: &str =
    "UPDATE bodies SET last_seen_at = ?2 WHERE sha256 = ?1 AND last_seen_at < ?2";
pub const BODY_COLUMNS: &str = "sha256, original_size, stored_size, truncated, first_stored_at,
    last_seen_at, pruned_at, CASE WHEN screenshot IS NULL THEN NULL ELSE screenshot_taken_at END";
/// The screenshot goes with the copy: one retention for both.
pub const PRUNE_BODIES: &str = "UPDATE bodies SET data = NULL, screenshot = NULL,
    screenshot_taken_at = NULL, pruned_at = ?1
    WHERE data IS NOT NULL AND last_seen_at < ?2";
pub const SET_SCREENSHOT: &str =
    "UPDATE bodies SET screenshot = ?2, screenshot_taken_at = ?3 WHERE sha256 = ?1";
pub const SCREENSHOT: &str = "SELECT screenshot FROM bodies WHERE sha256 = ?1";

// Crawl runs.
pub const RUN_INGEST_BY_KEY: &str = "SELECT ingest FROM crawl_runs WHERE run_key = ?1";
pub const INSERT_RUN: &str =
    "INSERT INTO crawl_runs (run_key, site_id, started_at, finished_at, outcome,
        rules_version, stats, ingest)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
pub const RUNS_OF_SITE: &str = "SELECT id, run_key, site_id, started_at, finished_at, outcome,
    rules_version, stats, ingest FROM crawl_runs WHERE site_id = ?1
    ORDER BY started_at DESC, id DESC LIMIT ?2";

// Flags.
pub const FLAG_COLUMNS: &str =
    "f.id, f.fingerprint, f.site_id, s.customer, f.url, f.rule, f.category,
    f.clause, f.severity, f.description, f.zone, f.matched, f.normalized, f.snippet,
    f.match_offset, f.match_count, f.state, f.assignee, f.fetched_at, f.http_status, f.ip,
    f.body_sha256, f.created_at, f.updated_at, f.last_seen_at, f.first_run, f.last_run,
    f.score, f.signals, f.signals_omitted, f.case_id, f.version";
pub const FLAG_FROM: &str = "flags f JOIN sites s ON s.id = f.site_id";
// The sighting's evidence is bound as ?1..?20 in the same order by every statement that
// writes it (INSERT_FLAG, REFRESH_FLAG), so one function binds it for all of them:
// ?1 rule, ?2 category, ?3 clause, ?4 severity, ?5 severity_rank, ?6 description, ?7 zone,
// ?8 matched, ?9 normalized, ?10 snippet, ?11 match_offset, ?12 match_count, ?13 score,
// ?14 signals, ?15 signals_omitted, ?16 fetched_at, ?17 http_status, ?18 ip, ?19 body_sha256,
// ?20 run key.
pub const INSERT_FLAG: &str =
    "INSERT INTO flags (rule, category, clause, severity, severity_rank, description, zone,
        matched, normalized, snippet, match_offset, match_count, score, signals, signals_omitted,
        fetched_at, http_status, ip, body_sha256, last_run, fingerprint, site_id, url, state,
        assignee, created_at, updated_at, last_seen_at, first_run)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
        ?19, ?20, ?21, ?22, ?23, 'open', NULL, ?16, ?16, ?16, ?20)
    RETURNING id";
/// Found again while active (or after it was resolved, before the state moves to reopened):
/// the flag takes this sighting's evidence, so its head, signals, score, severity, snippet
/// and page copy always describe one fetch. ?21 is the flag id.
pub const REFRESH_FLAG: &str =
    "UPDATE flags SET rule = ?1, category = ?2, clause = ?3, severity = ?4, severity_rank = ?5,
        description = ?6, zone = ?7, matched = ?8, normalized = ?9, snippet = ?10,
        match_offset = ?11, match_count = ?12, score = ?13, signals = ?14,
        signals_omitted = ?15, fetched_at = ?16, http_status = ?17, ip = ?18,
        body_sha256 = ?19, last_seen_at = ?16, last_run = ?20, version = version + 1
    WHERE id = ?21";
/// Found again while dismissed: only the sighting is recorded. The evidence stays what the
/// reviewer dismissed (and its score the one a later rise would be measured against).
pub const SEEN_FLAG: &str = "UPDATE flags SET last_seen_at = ?2, last_run = ?3 WHERE id = ?1";
/// A state change of the flag's own (with its own event): no case event explains it any more.
pub const SET_FLAG_STATE: &str = "UPDATE flags SET state = ?2, updated_at = ?3,
    case_state_event = NULL, version = version + 1 WHERE id = ?1";
pub const SET_FLAG_ASSIGNEE: &str = "UPDATE flags SET assignee = ?2, case_assign_event = NULL,
    version = version + 1 WHERE id = ?1";
/// A comment changes no column of the flag but is a change of it all the same: a reviewer
/// acting on the version they were shown must hear that someone commented since.
pub const BUMP_FLAG_VERSION: &str = "UPDATE flags SET version = version + 1 WHERE id = ?1";
/// The flag's state and version, its row locked for the rest of the transaction: an UPDATE
/// that changes nothing is the portable `SELECT … FOR UPDATE` (PostgreSQL locks the row and,
/// under READ COMMITTED, returns the latest committed version after waiting for a concurrent
/// writer; SQLite's writer already holds the database). Two reviewers acting on one version at
/// once are thus ordered, and the second sees the first's version, never the one both read.
pub const LOCK_FLAG: &str =
    "UPDATE flags SET version = version WHERE id = ?1 RETURNING state, version";
pub const FLAG_COUNTS: &str = "SELECT state, category, severity, COUNT(*) FROM flags
    GROUP BY state, category, severity ORDER BY state, category, severity";

// Migration 4: per-term flags folded into one flag per page and category (`store/fold.rs`).
pub const FOLD_SITES: &str = "SELECT DISTINCT site_id FROM flags ORDER BY site_id";
pub const FOLD_FLAGS_OF_SITE: &str =
    "SELECT id, url, category, state, severity_rank, rule, zone, matched, normalized, snippet,
        match_offset, match_count, assignee, created_at, first_run, last_seen_at, last_run
    FROM flags WHERE site_id = ?1 ORDER BY url, category, id";
/// Folded flag → the flag it folds into, for the set-based moves below.
pub const FOLD_TABLE: &str =
    "CREATE TEMPORARY TABLE flag_fold (id BIGINT PRIMARY KEY, survivor BIGINT NOT NULL)";
pub const FOLD_INSERT: &str = "INSERT INTO flag_fold (id, survivor) VALUES (?1, ?2)";
pub const FOLD_SURVIVOR: &str =
    "UPDATE flags SET fingerprint = ?2, signals = ?3, signals_omitted = ?4, score = NULL,
        created_at = ?5, first_run = ?6, last_seen_at = ?7, last_run = ?8, assignee = ?9
    WHERE id = ?1";
/// The survivor (?1) quotes the strongest part (?2): its head fields and the fetch they were
/// read from, so that snippet, page copy and fetch time stay one sighting.
pub const FOLD_HEAD: &str =
    "UPDATE flags SET (rule, clause, severity, severity_rank, description, zone, matched,
        normalized, snippet, match_offset, match_count, fetched_at, http_status, ip,
        body_sha256) =
    (SELECT h.rule, h.clause, h.severity, h.severity_rank, h.description, h.zone, h.matched,
        h.normalized, h.snippet, h.match_offset, h.match_count, h.fetched_at, h.http_status,
        h.ip, h.body_sha256 FROM flags h WHERE h.id = ?2)
    WHERE id = ?1";
pub const FOLD_EVENTS: &str = "UPDATE flag_events SET flag_id = (SELECT k.survivor FROM flag_fold k
        WHERE k.id = flag_events.flag_id)
    WHERE flag_id IN (SELECT id FROM flag_fold)";
pub const FOLD_OUTBOX: &str =
    "UPDATE outbox SET flag_id = (SELECT k.survivor FROM flag_fold k WHERE k.id = outbox.flag_id)
    WHERE flag_id IN (SELECT id FROM flag_fold)";
pub const FOLD_DELETE: &str = "DELETE FROM flags WHERE id IN (SELECT id FROM flag_fold)";
pub const FOLD_DROP: &str = "DROP TABLE flag_fold";

// Events.
pub const INSERT_EVENT: &str =
    "INSERT INTO flag_events (flag_id, at, actor, kind, from_state, to_state,
        reason, run_key)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
pub const EVENT_COLUMNS: &str =
    "id, flag_id, at, actor, kind, from_state, to_state, reason, run_key";
pub const EVENTS_OF_FLAG: &str =
    "SELECT id, flag_id, at, actor, kind, from_state, to_state, reason,
    run_key FROM flag_events WHERE flag_id = ?1 ORDER BY id";

// The webhook outbox.
pub const INSERT_OUTBOX: &str =
    "INSERT INTO outbox (webhook, event, flag_id, payload, created_at, status, attempts,
        next_attempt_at)
    VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 0, ?5)";
/// Crawler state events of one run, in order: what a crawl's outbox rows are made from.
pub const STATE_EVENTS_OF_RUN: &str =
    "SELECT id, flag_id, at, actor, kind, from_state, to_state, reason,
    run_key FROM flag_events WHERE run_key = ?1 AND kind = 'state' ORDER BY id";
pub const OUTBOX_COLUMNS: &str = "id, webhook, event, flag_id, payload, created_at, status,
    attempts, next_attempt_at, last_status, last_error, delivered_at, case_id";
pub const OUTBOX_DUE: &str = "SELECT id FROM outbox
    WHERE status = 'pending' AND next_attempt_at <= ?1 ORDER BY next_attempt_at, id LIMIT ?2";
/// A claim: the row is not due again until the lease passes, so a worker that dies while
/// sending leaves it to be retried rather than lost.
pub const OUTBOX_CLAIM: &str =
    "UPDATE outbox SET next_attempt_at = ?2 WHERE id = ?1 AND status = 'pending'";
pub const OUTBOX_DELIVERED: &str =
    "UPDATE outbox SET status = 'delivered', attempts = attempts + 1, next_attempt_at = NULL,
        last_status = ?3, last_error = NULL, delivered_at = ?2
    WHERE id = ?1 AND status = 'pending'";
pub const OUTBOX_RETRY: &str =
    "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2, last_status = ?3,
        last_error = ?4
    WHERE id = ?1 AND status = 'pending'";
pub const OUTBOX_GIVE_UP: &str =
    "UPDATE outbox SET status = 'failed', attempts = attempts + 1, next_attempt_at = NULL,
        last_status = ?2, last_error = ?3
    WHERE id = ?1 AND status = 'pending'";
pub const OUTBOX_COUNTS: &str =
    "SELECT status, COUNT(*) FROM outbox GROUP BY status ORDER BY status";

// Cases (`cases.rs`). "Active" is open, confirmed and overdue for cases, open, reopened and
// confirmed for flags.
pub const CASE_COLUMNS: &str = "c.id, c.site_id, s.customer, c.category, c.clause, c.state,
    c.severity, c.score, c.pages, (SELECT COUNT(*) FROM flags f WHERE f.case_id = c.id),
    c.assignee, c.deadline_at, c.recheck_at, c.dismissed_score, c.version, c.created_at,
    c.updated_at, c.first_seen_at, c.last_seen_at, c.confirmed_at, c.closed_at";
pub const CASE_FROM: &str = "cases c JOIN sites s ON s.id = c.site_id";
/// The site's active flags that no active case holds: new pages, and pages of a case that
/// closed and came back.
pub const FLAGS_WITHOUT_ACTIVE_CASE: &str =
    "SELECT f.id, f.category, f.clause, f.severity, f.score, f.case_id, f.url FROM flags f
    WHERE f.site_id = ?1 AND f.state IN ('open', 'reopened', 'confirmed')
        AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.id = f.case_id
            AND c.state IN ('open', 'confirmed', 'overdue'))
    ORDER BY f.id";
pub const ACTIVE_CASE_OF: &str = "SELECT id FROM cases
    WHERE site_id = ?1 AND category = ?2 AND state IN ('open', 'confirmed', 'overdue')";
pub const LATEST_DISMISSED_CASE: &str = "SELECT id, dismissed_score FROM cases
    WHERE site_id = ?1 AND category = ?2 AND state = 'dismissed' ORDER BY id DESC LIMIT 1";
pub const INSERT_CASE: &str =
    "INSERT INTO cases (site_id, category, clause, state, severity, severity_rank, score, pages,
        created_at, updated_at, first_seen_at, last_seen_at)
    VALUES (?1, ?2, ?3, 'open', ?4, ?5, ?6, 0, ?7, ?7, ?7, ?7)
    RETURNING id";
/// No version bump: joining a case is the case's change (its own version moves), and this
/// statement also runs in migration 8's code step, before `flags.version` exists.
pub const SET_FLAG_CASE: &str = "UPDATE flags SET case_id = ?2 WHERE id = ?1";
pub const COVER_FLAG: &str = "UPDATE flags SET case_id = ?2, state = 'dismissed', updated_at = ?3,
    case_state_event = NULL, version = version + 1 WHERE id = ?1";
pub const ACTIVE_CASES_OF_SITE: &str = "SELECT id FROM cases
    WHERE site_id = ?1 AND state IN ('open', 'confirmed', 'overdue') ORDER BY id";
/// What a case's figures are now: its active flags (pages, strongest severity and score),
/// and the sightings of all its flags.
pub const CASE_FIGURES: &str = "SELECT
        (SELECT COUNT(*) FROM flags f WHERE f.case_id = c.id
            AND f.state IN ('open', 'reopened', 'confirmed')),
        (SELECT MAX(f.severity_rank) FROM flags f WHERE f.case_id = c.id
            AND f.state IN ('open', 'reopened', 'confirmed')),
        (SELECT MAX(f.score) FROM flags f WHERE f.case_id = c.id
            AND f.state IN ('open', 'reopened', 'confirmed')),
        (SELECT MIN(f.created_at) FROM flags f WHERE f.case_id = c.id),
        (SELECT MAX(f.last_seen_at) FROM flags f WHERE f.case_id = c.id),
        c.pages, c.severity_rank, c.score, c.first_seen_at, c.last_seen_at, c.state,
        c.deadline_at
    FROM cases c WHERE c.id = ?1";
pub const SET_CASE_FIGURES: &str =
    "UPDATE cases SET pages = ?2, severity = ?3, severity_rank = ?4, score = ?5,
        first_seen_at = ?6, last_seen_at = ?7, version = version + 1
    WHERE id = ?1";
/// The case's state and version with its row locked for the transaction, as `LOCK_FLAG` does
/// for a flag: a plain SELECT let concurrent actions on one version all read it before any
/// wrote, and all apply, on PostgreSQL's READ COMMITTED.
pub const CASE_STATE_VERSION: &str = "UPDATE cases SET version = version WHERE id = ?1
    RETURNING state, version, site_id, category";
/// The CAST tells PostgreSQL the CASE's type (it would make an untyped `?3` text there, in
/// conflict with `updated_at`); SQLite stores the same integer.
pub const SET_CASE_STATE: &str = "UPDATE cases SET state = ?2, updated_at = ?3,
    version = version + 1, closed_at = CASE WHEN ?2 IN ('open', 'confirmed', 'overdue')
        THEN NULL ELSE CAST(?3 AS BIGINT) END
    WHERE id = ?1";
pub const CONFIRM_CASE: &str = "UPDATE cases SET deadline_at = ?2, recheck_at = NULL,
    confirmed_at = COALESCE(confirmed_at, ?3) WHERE id = ?1";
pub const DISMISS_CASE: &str = "UPDATE cases SET dismissed_score =
    (SELECT MAX(COALESCE(f.score, 0)) FROM flags f WHERE f.case_id = cases.id) WHERE id = ?1";
pub const REOPEN_CASE: &str =
    "UPDATE cases SET dismissed_score = NULL, deadline_at = NULL, recheck_at = NULL
    WHERE id = ?1";
pub const ASSIGN_CASE: &str =
    "UPDATE cases SET assignee = ?2, updated_at = ?3, version = version + 1 WHERE id = ?1";
pub const TOUCH_CASE: &str =
    "UPDATE cases SET updated_at = ?2, version = version + 1 WHERE id = ?1";
pub const ASSIGN_CASE_FLAGS: &str =
    "UPDATE flags SET assignee = ?2, case_assign_event = ?3, version = version + 1
    WHERE case_id = ?1";
/// A case action moves its flags of one set of states to ?2 (one statement per set, since a
/// bound list of states is not portable SQL).
pub const CASE_FLAGS_OPEN_TO: &str =
    "UPDATE flags SET state = ?2, updated_at = ?3, case_state_event = ?4, version = version + 1
    WHERE case_id = ?1 AND state IN ('open', 'reopened')";
pub const CASE_FLAGS_ACTIVE_TO: &str =
    "UPDATE flags SET state = ?2, updated_at = ?3, case_state_event = ?4, version = version + 1
    WHERE case_id = ?1 AND state IN ('open', 'reopened', 'confirmed')";
pub const CASE_FLAGS_DISMISSED_TO: &str =
    "UPDATE flags SET state = ?2, updated_at = ?3, case_state_event = ?4, version = version + 1
    WHERE case_id = ?1 AND state = 'dismissed'";
/// The flags an event changed, written once they are known (the event comes first, so the
/// flags can name it).
pub const SET_CASE_EVENT_FLAGS: &str = "UPDATE case_events SET flags = ?2 WHERE id = ?1";
pub const INSERT_CASE_EVENT: &str =
    "INSERT INTO case_events (case_id, at, actor, kind, from_state, to_state, reason, run_key,
        flags)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
    RETURNING id";
pub const CASE_EVENT_COLUMNS: &str =
    "id, case_id, at, actor, kind, from_state, to_state, reason, run_key, flags";
pub const CASE_EVENTS: &str =
    "SELECT id, case_id, at, actor, kind, from_state, to_state, reason, run_key, flags
    FROM case_events WHERE case_id = ?1 ORDER BY id";
pub const FLAGS_OF_CASE_ORDER: &str = " ORDER BY CASE WHEN f.state IN ('open', 'reopened',
    'confirmed') THEN 0 ELSE 1 END, f.score DESC NULLS LAST, f.severity_rank DESC, f.id";
/// The flag a case's webhook names: its strongest, active ones first.
pub const STRONGEST_FLAG_OF_CASE: &str = "SELECT f.id FROM flags f WHERE f.case_id = ?1
    ORDER BY CASE WHEN f.state IN ('open', 'reopened', 'confirmed') THEN 0 ELSE 1 END,
        f.severity_rank DESC, f.score DESC NULLS LAST, f.id LIMIT 1";
/// Confirmed cases whose deadline passed and whose recheck was not yet asked for.
pub const CASES_DUE_FOR_RECHECK: &str =
    "SELECT c.id FROM cases c WHERE c.state = 'confirmed' AND c.deadline_at <= ?1
        AND (c.recheck_at IS NULL OR c.recheck_at < c.deadline_at)
    ORDER BY c.deadline_at, c.id LIMIT ?2";
pub const SET_CASE_RECHECK: &str = "UPDATE cases SET recheck_at = ?2 WHERE id = ?1";
pub const CASE_COUNTS: &str = "SELECT state, category, severity, COUNT(*) FROM cases
    GROUP BY state, category, severity ORDER BY state, category, severity";
pub const INSERT_CASE_OUTBOX: &str =
    "INSERT INTO outbox (webhook, event, flag_id, case_id, payload, created_at, status,
        attempts, next_attempt_at)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 0, ?6)";
/// Sites with active flags, for the migration that opens their cases.
pub const SITES_WITH_ACTIVE_FLAGS: &str = "SELECT DISTINCT site_id FROM flags
    WHERE state IN ('open', 'reopened', 'confirmed') ORDER BY site_id";

// The case report (`report.rs`). Every state event before the period's end (?2) of the cases
// that can figure in it: created before the end, and not closed before the start (?1) for
// good (a case's `closed_at` is its last closing, so one closed earlier has no event in the
// period and is not open at its end). Ordered per case for `ReportBuilder`.
macro_rules! report_case_events {
    ($customer:literal) => {
        concat!(
            "SELECT e.case_id, c.category, c.created_at, c.deadline_at, e.at, e.from_state,
                e.to_state
            FROM case_events e JOIN cases c ON c.id = e.case_id JOIN sites s ON s.id = c.site_id
            WHERE e.kind = 'state' AND e.to_state IS NOT NULL AND e.at < ?2
                AND c.created_at < ?2 AND (c.closed_at IS NULL OR c.closed_at >= ?1)",
            $customer,
            " ORDER BY e.case_id, e.at, e.id"
        )
    };
}
pub const REPORT_CASE_EVENTS: &str = report_case_events!("");
pub const REPORT_CASE_EVENTS_OF_CUSTOMER: &str = report_case_events!(" AND s.customer = ?3");
/// Crawl runs finished in `[?1, ?2)`: their site and stats (JSON, read in Rust: SQLite and
/// PostgreSQL spell JSON access differently).
macro_rules! report_runs {
    ($customer:literal) => {
        concat!(
            "SELECT r.site_id, r.stats FROM crawl_runs r JOIN sites s ON s.id = r.site_id
            WHERE r.finished_at >= ?1 AND r.finished_at < ?2",
            $customer
        )
    };
}
pub const REPORT_RUNS: &str = report_runs!("");
pub const REPORT_RUNS_OF_CUSTOMER: &str = report_runs!(" AND s.customer = ?3");

// One-time login links (the first run without API tokens).
pub const APPLIED_MIGRATIONS: &str = "SELECT version FROM schema_migrations";
/// Every older link not yet used stops working: only the newest printed link opens a session.
pub const LOGIN_LINKS_SUPERSEDE: &str =
    "UPDATE login_links SET superseded_at = ?1 WHERE used_at IS NULL AND superseded_at IS NULL";
pub const LOGIN_LINK_INSERT: &str =
    "INSERT INTO login_links (hash, created_at, expires_at) VALUES (?1, ?2, ?3)";
/// The use itself: one statement, so two requests with one link cannot both succeed.
pub const LOGIN_LINK_CONSUME: &str = "UPDATE login_links SET used_at = ?2
    WHERE hash = ?1 AND used_at IS NULL AND superseded_at IS NULL AND expires_at > ?2";
pub const LOGIN_LINK_GET: &str =
    "SELECT expires_at, used_at, superseded_at FROM login_links WHERE hash = ?1";

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_are_numbered() {
        assert_eq!(super::placeholder(3), "?3");
    }
}
