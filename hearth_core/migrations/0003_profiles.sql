-- Profiles: prefix search over the encrypted display name, and what listing filters need.

-- HMACs (8 bytes) of the normalized display-name prefixes, so `q=` prefix search works
-- without the name ever being stored in the clear.
ALTER TABLE users ADD COLUMN name_prefixes bytea[] NOT NULL DEFAULT '{}';
CREATE INDEX users_name_prefixes ON users USING gin (name_prefixes);
CREATE INDEX users_last_login ON users (last_login);

-- A data key that is no longer the active one stays readable until rows are re-encrypted.
ALTER TABLE data_keys ADD COLUMN rotated_at timestamptz;
