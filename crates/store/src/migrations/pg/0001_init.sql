-- sitepatrol store, schema version 1, PostgreSQL's dialect of ../0001_init.sql.
-- Every migration here makes the same tables, columns and indexes as its SQLite twin; the
-- spelling differs where the dialects do, and nowhere else:
-- - INTEGER is BIGINT (SQLite's integers are 8 bytes; the store binds i64 everywhere), and
--   the surrogate keys (SQLite's INTEGER PRIMARY KEY) are BIGINT GENERATED ALWAYS AS IDENTITY;
-- - REAL is DOUBLE PRECISION (PostgreSQL's REAL has 4 bytes), BLOB is BYTEA;
-- - TEXT is COLLATE "C": bytewise order, as SQLite's BINARY collation, so lists ordered or
--   paged by a text column (sites by id, pages by URL) come out the same whatever locale
--   the database was created with;
-- - booleans stay BIGINT 0/1, so the shared statements (`in_inventory = 1`) run unchanged.

CREATE TABLE sites (
    id                TEXT COLLATE "C" PRIMARY KEY,
    customer          TEXT COLLATE "C" NOT NULL,
    domains           TEXT COLLATE "C" NOT NULL,            -- JSON array of host names
    in_inventory      BIGINT NOT NULL DEFAULT 1,
    filing_status     TEXT COLLATE "C" NOT NULL DEFAULT 'unknown',
    filing_checked_at BIGINT,
    next_due_at       BIGINT,
    last_crawl_at     BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX sites_customer ON sites (customer);

CREATE TABLE crawl_runs (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_key       TEXT COLLATE "C" NOT NULL UNIQUE,
    site_id       TEXT COLLATE "C" NOT NULL REFERENCES sites (id),
    started_at    BIGINT NOT NULL,
    finished_at   BIGINT NOT NULL,
    outcome       TEXT COLLATE "C" NOT NULL,
    rules_version TEXT COLLATE "C" NOT NULL,
    stats         TEXT COLLATE "C" NOT NULL,                -- JSON, as `scan URL --stats-json`
    ingest        TEXT COLLATE "C" NOT NULL                 -- JSON IngestOutcome
);
CREATE INDEX crawl_runs_site ON crawl_runs (site_id, started_at);

CREATE TABLE pages (
    site_id        TEXT COLLATE "C" NOT NULL REFERENCES sites (id),
    url            TEXT COLLATE "C" NOT NULL,
    http_status    BIGINT,
    content_sha256 TEXT COLLATE "C",
    etag           TEXT COLLATE "C",
    last_modified  TEXT COLLATE "C",
    fetched_at     BIGINT NOT NULL,
    rules_version  TEXT COLLATE "C",                        -- rules the content was last matched with
    last_run       TEXT COLLATE "C" NOT NULL
);
-- SQLite's key is (site_id, url). A URL can be up to 4 KiB, past what a B-tree entry holds
-- here (about 2.7 KiB), so the key is the URL's MD5: the statements that find a page by URL
-- name md5(url) too (`sql::ByUrl`).
CREATE UNIQUE INDEX pages_site_url ON pages (site_id, md5(url));

CREATE TABLE bodies (
    sha256          TEXT COLLATE "C" PRIMARY KEY,
    original_size   BIGINT NOT NULL,
    stored_size     BIGINT NOT NULL,
    truncated       BIGINT NOT NULL,
    data            BYTEA,                       -- gzip of the first body_cap bytes; NULL once pruned
    first_stored_at BIGINT NOT NULL,
    last_seen_at    BIGINT NOT NULL,
    pruned_at       BIGINT
);
CREATE INDEX bodies_last_seen ON bodies (last_seen_at);

CREATE TABLE flags (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    fingerprint   TEXT COLLATE "C" NOT NULL UNIQUE,
    site_id       TEXT COLLATE "C" NOT NULL REFERENCES sites (id),
    url           TEXT COLLATE "C" NOT NULL,
    rule          TEXT COLLATE "C" NOT NULL,
    category      TEXT COLLATE "C" NOT NULL,
    clause        TEXT COLLATE "C" NOT NULL,
    severity      TEXT COLLATE "C" NOT NULL,
    severity_rank BIGINT NOT NULL,             -- 0 info .. 4 critical, for sorting
    description   TEXT COLLATE "C" NOT NULL,
    zone          TEXT COLLATE "C",
    matched       TEXT COLLATE "C" NOT NULL,
    normalized    TEXT COLLATE "C" NOT NULL,
    snippet       TEXT COLLATE "C" NOT NULL,
    match_offset  BIGINT NOT NULL,
    match_count   BIGINT NOT NULL,
    state         TEXT COLLATE "C" NOT NULL,
    assignee      TEXT COLLATE "C",
    fetched_at    BIGINT NOT NULL,
    http_status   BIGINT,
    ip            TEXT COLLATE "C",
    body_sha256   TEXT COLLATE "C" NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    first_run     TEXT COLLATE "C" NOT NULL,
    last_run      TEXT COLLATE "C" NOT NULL
);
CREATE INDEX flags_site_url ON flags (site_id, md5(url));   -- as pages_site_url
CREATE INDEX flags_state ON flags (state, id);
CREATE INDEX flags_created ON flags (created_at);
CREATE INDEX flags_severity ON flags (severity_rank, id);

CREATE TABLE flag_events (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    flag_id    BIGINT NOT NULL REFERENCES flags (id),
    at         BIGINT NOT NULL,
    actor      TEXT COLLATE "C" NOT NULL,
    kind       TEXT COLLATE "C" NOT NULL,                   -- state | assign | comment
    from_state TEXT COLLATE "C",
    to_state   TEXT COLLATE "C",
    reason     TEXT COLLATE "C",
    run_key    TEXT COLLATE "C"
);
CREATE INDEX flag_events_flag ON flag_events (flag_id, id);
CREATE INDEX flag_events_at ON flag_events (at);
