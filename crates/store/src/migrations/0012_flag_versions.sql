-- sitepatrol store, schema version 12 (11 is taken by a change made side by side).
-- A flag's version, for optimistic concurrency across reviewers and daemons: bumped by every
-- change of the flag (a review action, a case action that moves it, a crawl that refreshes its
-- evidence or its state), not by a mere sighting (last_seen_at). A review action that names
-- the version it was shown is refused when the flag has moved on since.
ALTER TABLE flags ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
