-- sitepatrol store, schema version 4.
-- A flag is one page and one category (the scanner scores pages per category), no longer one
-- term: the flag keeps the page's score and every signal behind it, and its fingerprint is
-- SHA-256 of (site, category, URL). The per-term flags of older stores are folded into one
-- flag per page and category by the code step of this migration (`store/fold.rs`), in the
-- same transaction, after these statements.
--
-- REAL is SQLite's 8-byte float; the PostgreSQL migration spells it DOUBLE PRECISION (its
-- REAL has 4 bytes).
ALTER TABLE flags ADD COLUMN score DOUBLE PRECISION;
ALTER TABLE flags ADD COLUMN signals TEXT COLLATE "C" NOT NULL DEFAULT '[]';   -- JSON array of signals
ALTER TABLE flags ADD COLUMN signals_omitted BIGINT NOT NULL DEFAULT 0;
-- Deleting a folded flag checks the outbox for rows that still name it; without an index that
-- is a scan of the outbox per deleted flag. The delivery list filters by flag too.
CREATE INDEX outbox_flag ON outbox (flag_id, id);
