-- sitepatrol store, schema version 1.
-- Plain types only (TEXT, INTEGER, BLOB); times are unix-epoch seconds (UTC). The surrogate
-- keys are the one SQLite dialect here (INTEGER PRIMARY KEY); the PostgreSQL migrations use
-- BIGINT GENERATED ALWAYS AS IDENTITY for the same columns.

CREATE TABLE sites (
    id                TEXT PRIMARY KEY,
    customer          TEXT NOT NULL,
    domains           TEXT NOT NULL,            -- JSON array of host names
    in_inventory      INTEGER NOT NULL DEFAULT 1,
    filing_status     TEXT NOT NULL DEFAULT 'unknown',
    filing_checked_at INTEGER,
    next_due_at       INTEGER,
    last_crawl_at     INTEGER,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX sites_customer ON sites (customer);

CREATE TABLE crawl_runs (
    id            INTEGER PRIMARY KEY,
    run_key       TEXT NOT NULL UNIQUE,
    site_id       TEXT NOT NULL REFERENCES sites (id),
    started_at    INTEGER NOT NULL,
    finished_at   INTEGER NOT NULL,
    outcome       TEXT NOT NULL,
    rules_version TEXT NOT NULL,
    stats         TEXT NOT NULL,                -- JSON, as `scan URL --stats-json`
    ingest        TEXT NOT NULL                 -- JSON IngestOutcome
);
CREATE INDEX crawl_runs_site ON crawl_runs (site_id, started_at);

CREATE TABLE pages (
    site_id        TEXT NOT NULL REFERENCES sites (id),
    url            TEXT NOT NULL,
    http_status    INTEGER,
    content_sha256 TEXT,
    etag           TEXT,
    last_modified  TEXT,
    fetched_at     INTEGER NOT NULL,
    rules_version  TEXT,                        -- rules the content was last matched with
    last_run       TEXT NOT NULL,
    PRIMARY KEY (site_id, url)
);

CREATE TABLE bodies (
    sha256          TEXT PRIMARY KEY,
    original_size   INTEGER NOT NULL,
    stored_size     INTEGER NOT NULL,
    truncated       INTEGER NOT NULL,
    data            BLOB,                       -- gzip of the first body_cap bytes; NULL once pruned
    first_stored_at INTEGER NOT NULL,
    last_seen_at    INTEGER NOT NULL,
    pruned_at       INTEGER
);
CREATE INDEX bodies_last_seen ON bodies (last_seen_at);

CREATE TABLE flags (
    id            INTEGER PRIMARY KEY,
    fingerprint   TEXT NOT NULL UNIQUE,
    site_id       TEXT NOT NULL REFERENCES sites (id),
    url           TEXT NOT NULL,
    rule          TEXT NOT NULL,
    category      TEXT NOT NULL,
    clause        TEXT NOT NULL,
    severity      TEXT NOT NULL,
    severity_rank INTEGER NOT NULL,             -- 0 info .. 4 critical, for sorting
    description   TEXT NOT NULL,
    zone          TEXT,
    matched       TEXT NOT NULL,
    normalized    TEXT NOT NULL,
    snippet       TEXT NOT NULL,
    match_offset  INTEGER NOT NULL,
    match_count   INTEGER NOT NULL,
    state         TEXT NOT NULL,
    assignee      TEXT,
    fetched_at    INTEGER NOT NULL,
    http_status   INTEGER,
    ip            TEXT,
    body_sha256   TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    first_run     TEXT NOT NULL,
    last_run      TEXT NOT NULL
);
CREATE INDEX flags_site_url ON flags (site_id, url);
CREATE INDEX flags_state ON flags (state, id);
CREATE INDEX flags_created ON flags (created_at);
CREATE INDEX flags_severity ON flags (severity_rank, id);

CREATE TABLE flag_events (
    id         INTEGER PRIMARY KEY,
    flag_id    INTEGER NOT NULL REFERENCES flags (id),
    at         INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    kind       TEXT NOT NULL,                   -- state | assign | comment
    from_state TEXT,
    to_state   TEXT,
    reason     TEXT,
    run_key    TEXT
);
CREATE INDEX flag_events_flag ON flag_events (flag_id, id);
CREATE INDEX flag_events_at ON flag_events (at);
