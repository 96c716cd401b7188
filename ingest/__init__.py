"""The metrics ingestion path: formats, series dictionary, batcher (write-log blocks; the
compactor folds them into chunks and rollups)."""
