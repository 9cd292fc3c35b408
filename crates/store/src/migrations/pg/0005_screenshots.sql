-- sitepatrol store, schema version 5.
-- The render stage's screenshot of a page (a PNG of the browser's viewport), evidence for
-- reviewers kept beside the copy of the page's body: on the same row, so the body's retention
-- is the screenshot's (pruning drops both) and a flag reaches both by its body hash.
ALTER TABLE bodies ADD COLUMN screenshot BYTEA;
ALTER TABLE bodies ADD COLUMN screenshot_taken_at BIGINT;
