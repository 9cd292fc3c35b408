-- sitepatrol store, schema version 2.
-- The flags gauge is refreshed after every ingest and review action with a GROUP BY over all
-- flags; flag rows are wide (snippet, matched text, evidence), so a covering index keeps that
-- a scan of a narrow index instead of the table. The audit log is filtered by actor.
CREATE INDEX flags_counts ON flags (state, category, severity);
CREATE INDEX flag_events_actor ON flag_events (actor, id);
