-- sitepatrol store, schema version 9 (8 is another change's number).
-- One-time admin login links for a first run without API tokens. Only the SHA-256 (hex) of
-- each link's secret is kept: a copy of the database opens no session. A link is used at most
-- once (`used_at`), before `expires_at`; a newer link supersedes every older unused one
-- (`superseded_at`), so only the link printed at the last start works.
CREATE TABLE login_links (
    hash          TEXT COLLATE "C" PRIMARY KEY,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    used_at       BIGINT,
    superseded_at BIGINT
);
