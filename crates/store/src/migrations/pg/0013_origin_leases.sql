-- sitepatrol store, schema version 13.
-- Leases group sites by origin as well as by host: `origin_key` is the server the inventory
-- says the site's crawls connect to (its `origin`: the address, with the port when that
-- tells servers apart; see `Site::origin_key` in the daemon). Sites that share it are leased
-- to one daemon at a time, like sites that share a host, so that two names on one server are
-- not patrolled by two daemons at once. Null: the inventory names no origin (the crawl
-- resolves the domains), and only the host groups the site. The daemon's next inventory
-- upsert fills it in.
ALTER TABLE sites ADD COLUMN origin_key TEXT COLLATE "C";
-- The leases held, by origin: what the claim checks each candidate's origin against.
CREATE INDEX sites_leased_origin ON sites (origin_key, lease_until)
    WHERE lease_owner IS NOT NULL AND origin_key IS NOT NULL;
