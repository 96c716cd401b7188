-- The newest chunk window the compactor has written: a pass with late samples only (older
-- windows) learns from it whether a later window can exist whose counter baseline it changed,
-- without scanning metric_chunks (its index leads with series_id). One row.
CREATE TABLE metric_store_state (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    newest_window timestamptz
);
INSERT INTO metric_store_state (newest_window) SELECT max(window_start) FROM metric_chunks;
