-- New series per client, for the cardinality guard: the total a client created and how many in
-- the current clock hour. One row per client, locked while its new series are inserted, so
-- concurrent requests of one client cannot both take the last of a limit.
CREATE TABLE metric_series_quota (
    client_id    text PRIMARY KEY,
    series       bigint NOT NULL DEFAULT 0,
    hour         timestamptz NOT NULL,
    hour_series  bigint NOT NULL DEFAULT 0
);
