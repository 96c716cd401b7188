-- Minute aggregates land here inside the acknowledged transaction (a plain COPY, no conflicts
-- between writers); one merger folds them into the rollups every second. Queries read the
-- rollups and this table together, so they are never behind.
CREATE TABLE metric_rollup_pending (
    series_id  integer NOT NULL,
    bucket     timestamptz NOT NULL,
    count      bigint NOT NULL,
    sum        double precision NOT NULL,
    min        double precision NOT NULL,
    max        double precision NOT NULL,
    last       double precision NOT NULL,
    last_time  timestamptz NOT NULL
);
