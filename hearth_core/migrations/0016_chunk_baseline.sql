-- The counter baseline a chunk's hourly rollups used (the series' last value before the window,
-- or none): a compaction pass that re-merges the chunk passes it back instead of looking up the
-- window before (one index probe per touched window, ~0.7 s a pass at 100,000 series).
ALTER TABLE metric_chunks ADD COLUMN baseline double precision;
