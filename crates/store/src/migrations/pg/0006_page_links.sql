-- sitepatrol store, schema version 6.
-- The links a crawl followed from each page, as a JSON array of absolute URLs. A recrawl sends
-- the page's ETag and Last-Modified back; a 304 answer has no body to read links from, so the
-- crawl offers these instead and still reaches pages linked only from the unchanged one. NULL
-- (rows from before this version, pages with too many links to keep) means "not known": such
-- a page is fetched whole.
ALTER TABLE pages ADD COLUMN links TEXT COLLATE "C";
