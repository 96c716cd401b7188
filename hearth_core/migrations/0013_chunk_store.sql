-- The compressed store (issue 16): acknowledged samples land as one write-log block per request
-- (encoded in Rust); one compactor folds committed blocks into per-series chunks, one row per
-- (series, 2-hour window), and recomputes the hourly rollups in the same transaction. Raw rows
-- per sample and minute rollups are gone: 1-minute and finer windows are computed from the
-- chunks at read time (a minute row cost more on disk than the four 15-s samples it summarised).

CREATE TABLE metric_log (
    block_id    bigserial PRIMARY KEY,
    samples     integer NOT NULL,
    min_time    timestamptz NOT NULL,
    max_time    timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    block       bytea NOT NULL          -- native/src/block: sorted, checksummed columns
);
-- Blocks are binary and dense: PostgreSQL's pglz would spend CPU for little.
ALTER TABLE metric_log ALTER COLUMN block SET STORAGE EXTERNAL;

CREATE TABLE metric_chunks (
    series_id     integer NOT NULL,
    window_start  timestamptz NOT NULL,
    codec         smallint NOT NULL,    -- 1 Gorilla (open: cheap to rewrite), 2 pcodec (sealed)
    samples       integer NOT NULL,     -- staleness markers included
    min_time      timestamptz NOT NULL,
    max_time      timestamptz NOT NULL,
    last_value    double precision,     -- last value neither NaN nor a staleness marker
    written_at    timestamptz NOT NULL DEFAULT now(),
    data          bytea NOT NULL,       -- native/src/chunk: self-describing, checksummed
    PRIMARY KEY (series_id, window_start)
) PARTITION BY RANGE (window_start);
ALTER TABLE metric_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
-- The sealer's work list: open chunks by age (sealed ones leave the index).
CREATE INDEX metric_chunks_open ON metric_chunks (written_at) WHERE codec = 1;

-- Hourly rollups, written by the compactor from the chunks it writes (never behind them).
DROP VIEW metrics;
DROP TABLE metric_rollup_pending, metric_rollup_1m, metric_rollup_1h;
CREATE TABLE metric_rollup_1h (
    series_id  integer NOT NULL,
    bucket     timestamptz NOT NULL,
    count      integer NOT NULL,
    sum        double precision NOT NULL,
    min        double precision NOT NULL,
    max        double precision NOT NULL,
    last       double precision NOT NULL,
    last_time  timestamptz NOT NULL,
    increase   double precision NOT NULL,   -- counter increase, resets accounted
    PRIMARY KEY (series_id, bucket)
) PARTITION BY RANGE (bucket);

-- Where the SQL `metrics` function finds the native decoder (written by each server at start).
CREATE TABLE metric_native (
    id    boolean PRIMARY KEY DEFAULT true CHECK (id),
    path  text NOT NULL
);

-- Exact conversions between µs since the epoch (the native core's unit) and timestamptz: no
-- float on the way (to_timestamp() is float8). Inlined by the planner.
CREATE FUNCTION us_time(bigint) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN timestamptz 'epoch' + $1 * interval '1 microsecond';
CREATE FUNCTION time_us(timestamptz) RETURNS bigint
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN (extract(epoch FROM $1) * 1000000)::bigint;
