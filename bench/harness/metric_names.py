"""Metric names of the scrape-shaped data the ingest benches generate (eight counters, eight
gauges), so every ingest bench writes the same kind of series."""

from __future__ import annotations

COUNTERS = (
    "http_requests_total",
    "http_request_errors_total",
    "cpu_seconds_total",
    "network_receive_bytes_total",
    "network_transmit_bytes_total",
    "disk_io_seconds_total",
    "gc_collections_total",
    "jobs_processed_total",
)
GAUGES = (
    "http_request_duration_seconds",
    "memory_bytes",
    "queue_depth",
    "open_connections",
    "temperature_celsius",
    "disk_free_bytes",
    "load_average",
    "cache_hit_ratio",
)
