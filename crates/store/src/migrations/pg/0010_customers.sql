-- sitepatrol store, schema version 10.
-- A customer's details, as the inventory gives them: the name a rectification notice is
-- addressed to, the contact it goes to, and the provider's account manager. Nullable columns
-- of `sites`, not a `customers` table: the inventory (config and file) is the one source of
-- customer data and is written per site row, so each row keeps what it said and an upsert
-- replaces it whole; a customer's details are read from its sites (`sites_customer` index),
-- the first non-empty value of each field in site id order. A table keyed by customer id would
-- need a rule for rows that disagree and a second place to keep in sync on every reload.
ALTER TABLE sites ADD COLUMN customer_name TEXT COLLATE "C";
ALTER TABLE sites ADD COLUMN contact_email TEXT COLLATE "C";
ALTER TABLE sites ADD COLUMN contact_phone TEXT COLLATE "C";
ALTER TABLE sites ADD COLUMN account_manager TEXT COLLATE "C";
