-- sitepatrol store, schema version 7.
-- The saved frontier of a crawl under way, one row per site: written every
-- `crawl.checkpoint_interval` while the crawl runs, deleted by the transaction that records
-- the crawl. A row left behind is a crawl the daemon did not finish (kill -9, power loss):
-- the next crawl of the site resumes from it. `state` is the daemon's JSON, opaque here.
CREATE TABLE crawl_checkpoints (
    site_id  TEXT COLLATE "C" PRIMARY KEY REFERENCES sites (id),
    run_key  TEXT COLLATE "C" NOT NULL,
    saved_at BIGINT NOT NULL,
    state    TEXT COLLATE "C" NOT NULL
);
