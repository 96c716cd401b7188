"""The metrics ingestion path: formats, series dictionary, batcher, COPY writer, rollups."""
