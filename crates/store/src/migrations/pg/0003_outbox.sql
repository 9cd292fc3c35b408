-- sitepatrol store, schema version 3.
-- The webhook outbox: one row per (webhook, flag event) to deliver. Rows are written in the
-- transaction that creates the flag or changes its state, so a crash can neither lose a
-- notification (the event committed, so did its row) nor invent one (the event rolled back,
-- so did its row). The delivery worker claims due rows, POSTs them and records the outcome;
-- the row id is the delivery id receivers dedupe on, the same across retries.
CREATE TABLE outbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook         TEXT COLLATE "C" NOT NULL,
    event           TEXT COLLATE "C" NOT NULL,
    flag_id         BIGINT NOT NULL REFERENCES flags (id),
    payload         TEXT COLLATE "C" NOT NULL,
    created_at      BIGINT NOT NULL,
    status          TEXT COLLATE "C" NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT,
    last_status     BIGINT,
    last_error      TEXT COLLATE "C",
    delivered_at    BIGINT
);
-- The worker's claim (pending rows by due time) and the gauge (counts by status).
CREATE INDEX outbox_due ON outbox (status, next_attempt_at, id);
CREATE INDEX outbox_webhook ON outbox (webhook, id);
