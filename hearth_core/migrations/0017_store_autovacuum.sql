-- The write log is a queue: every row is deleted by the compactor within seconds of its insert.
-- Vacuum it (and the TOAST table holding its blocks) after a few thousand dead rows instead of
-- PostgreSQL's 20 % of a table that is nearly always almost empty, so its space is reused at once.
ALTER TABLE metric_log SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 2000,
    autovacuum_vacuum_cost_delay = 0,
    toast.autovacuum_vacuum_scale_factor = 0,
    toast.autovacuum_vacuum_threshold = 2000,
    toast.autovacuum_vacuum_cost_delay = 0
);
