-- Metrics: the series dictionary, narrow day-partitioned points, 1m/1h rollups maintained at
-- ingest, the spec's `metrics` view, and idempotency keys for bulk writes.

CREATE TABLE metric_series (
    series_id   serial PRIMARY KEY,
    hash        bigint NOT NULL UNIQUE,       -- canonical (namespace, name, sorted labels), from the native core
    namespace   text NOT NULL,
    name        text NOT NULL,
    labels      jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX metric_series_name ON metric_series (namespace, name);
CREATE INDEX metric_series_labels ON metric_series USING gin (labels jsonb_path_ops);

-- With TimescaleDB installed (CREATE EXTENSION done by the operator) the points table is a
-- hypertable; otherwise plain PostgreSQL range partitions by day, made ahead by the server.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        CREATE TABLE metric_points (
            series_id  integer NOT NULL,
            time       timestamptz NOT NULL,
            value      double precision NOT NULL
        );
        PERFORM create_hypertable('metric_points', 'time', chunk_time_interval => interval '1 day');
    ELSE
        CREATE TABLE metric_points (
            series_id  integer NOT NULL,
            time       timestamptz NOT NULL,
            value      double precision NOT NULL
        ) PARTITION BY RANGE (time);
    END IF;
END
$$;
CREATE INDEX metric_points_series_time ON metric_points (series_id, time);

CREATE TABLE metric_rollup_1m (
    series_id  integer NOT NULL,
    bucket     timestamptz NOT NULL,
    count      bigint NOT NULL,
    sum        double precision NOT NULL,
    min        double precision NOT NULL,
    max        double precision NOT NULL,
    last       double precision NOT NULL,
    last_time  timestamptz NOT NULL,
    PRIMARY KEY (series_id, bucket)
);

CREATE TABLE metric_rollup_1h (LIKE metric_rollup_1m INCLUDING ALL);

CREATE VIEW metrics AS
    SELECT s.namespace, s.name, s.labels, p.value, p.time AS "timestamp"
    FROM metric_points p JOIN metric_series s USING (series_id);

CREATE TABLE idempotency_keys (
    client_id     text NOT NULL,
    key           text NOT NULL,
    request_hash  bytea NOT NULL,
    status        text NOT NULL CHECK (status IN ('pending', 'done')),
    status_code   integer,
    response      jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
