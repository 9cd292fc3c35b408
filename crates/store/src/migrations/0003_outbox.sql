-- sitepatrol store, schema version 3.
-- The webhook outbox: one row per (webhook, flag event) to deliver. Rows are written in the
-- transaction that creates the flag or changes its state, so a crash can neither lose a
-- notification (the event committed, so did its row) nor invent one (the event rolled back,
-- so did its row). The delivery worker claims due rows, POSTs them and records the outcome;
-- the row id is the delivery id receivers dedupe on, the same across retries.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    webhook         TEXT NOT NULL,
    event           TEXT NOT NULL,
    flag_id         INTEGER NOT NULL REFERENCES flags (id),
    payload         TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER,
    last_status     INTEGER,
    last_error      TEXT,
    delivered_at    INTEGER
);
-- The worker's claim (pending rows by due time) and the gauge (counts by status).
CREATE INDEX outbox_due ON outbox (status, next_attempt_at, id);
CREATE INDEX outbox_webhook ON outbox (webhook, id);
