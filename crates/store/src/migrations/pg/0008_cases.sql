-- sitepatrol store, schema version 8.
-- Cases: what a reviewer works. A case is one site's problem in one category: it gathers
-- that site's flags of the category across pages and crawls, so that a block injected into
-- a template of 40 pages is one item in the queue, confirmed or dismissed once. Flags stay
-- the evidence (one page and one category each) and point at their case.
--
-- At most one active case (open, confirmed, overdue) per site and category: the partial
-- unique index is what makes "a flag found later joins the open case" a fact of the data,
-- not only of the code. Closed cases (rectified, resolved, dismissed) stay as history; the
-- latest dismissed one is what a later flag of the category is measured against.
CREATE TABLE cases (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id         TEXT COLLATE "C" NOT NULL REFERENCES sites (id),
    category        TEXT COLLATE "C" NOT NULL,
    clause          TEXT COLLATE "C" NOT NULL,
    state           TEXT COLLATE "C" NOT NULL,
    severity        TEXT COLLATE "C" NOT NULL,
    severity_rank   BIGINT NOT NULL,
    score           DOUBLE PRECISION,
    pages           BIGINT NOT NULL,           -- flags of the case in an active state
    assignee        TEXT COLLATE "C",
    deadline_at     BIGINT,                    -- set by confirm: the rectification deadline
    recheck_at      BIGINT,                    -- when the deadline's recrawl was asked for
    dismissed_score DOUBLE PRECISION,                       -- the score a dismissal covers
    version         BIGINT NOT NULL DEFAULT 1, -- bumped by every change (optimistic locking)
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    first_seen_at   BIGINT NOT NULL,
    last_seen_at    BIGINT NOT NULL,
    confirmed_at    BIGINT,
    closed_at       BIGINT
);
CREATE UNIQUE INDEX cases_one_active ON cases (site_id, category)
    WHERE state IN ('open', 'confirmed', 'overdue');
CREATE INDEX cases_queue ON cases (state, severity_rank, pages, created_at, id);
CREATE INDEX cases_deadline ON cases (state, deadline_at);

CREATE TABLE case_events (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id    BIGINT NOT NULL REFERENCES cases (id),
    at         BIGINT NOT NULL,
    actor      TEXT COLLATE "C" NOT NULL,
    kind       TEXT COLLATE "C" NOT NULL,                   -- state | assign | comment | join
    from_state TEXT COLLATE "C",
    to_state   TEXT COLLATE "C",
    reason     TEXT COLLATE "C",
    run_key    TEXT COLLATE "C",
    flags      BIGINT NOT NULL DEFAULT 0       -- flags the event changed
);
CREATE INDEX case_events_case ON case_events (case_id, id);

ALTER TABLE flags ADD COLUMN case_id BIGINT REFERENCES cases (id);
-- A case action moves its flags without an event per flag (it is audited once, on the case):
-- these name the case event that last set the flag's state and its assignee, and are cleared
-- by any later event of the flag's own. `store check` reads the flag's expected state from
-- whichever is newer, so a case action is not mistaken for a half-applied one.
ALTER TABLE flags ADD COLUMN case_state_event BIGINT REFERENCES case_events (id);
ALTER TABLE flags ADD COLUMN case_assign_event BIGINT REFERENCES case_events (id);
CREATE INDEX flags_case ON flags (case_id, state);

-- Case webhooks (case.overdue, case.state_changed) name the case; flag_id stays NOT NULL and
-- holds the case's strongest flag, so a receiver of either kind can always open a flag.
ALTER TABLE outbox ADD COLUMN case_id BIGINT REFERENCES cases (id);
