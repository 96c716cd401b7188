"""Prometheus metrics of the HTTP layer, one registry per app (multi-process aware)."""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from hearth_core.metrics.service import StoreState
from ingest.counters import IngestCounters

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class HttpMetrics:
    """Request counter and latency histogram labelled by route template, not raw path."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "hearth_http_requests_total",
            "HTTP requests by route and status",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "hearth_http_request_duration_seconds",
            "HTTP request latency by route",
            ("method", "route"),
            buckets=_BUCKETS,
            registry=self.registry,
        )

        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.ingest = IngestCounters(self.registry)
        self.ratelimit_degraded = Counter(
            "hearth_ratelimit_degraded_total",
            "Rate-limit decisions made without Redis, by fail mode and outcome",
            ("mode", "outcome"),
            registry=self.registry,
        )

    def degraded(self, mode: str, allowed: bool) -> None:
        self.ratelimit_degraded.labels(mode, "allowed" if allowed else "denied").inc()

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        # labels() builds and locks on every call; the children are few: keep them.
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
        children[0].inc()
        children[1].observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            # With --workers N every process writes its own files; aggregate them all.
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def store_exposition(state: StoreState) -> bytes:
    """The metric store's compaction backlog as gauges. They describe the database, not this
    process, so they are read at scrape time rather than kept per worker."""
    registry = CollectorRegistry()
    for name, help_, value in (
        ("log_blocks", "Write-log blocks not yet compacted into chunks", state.log_blocks),
        ("log_samples", "Samples in the write log not yet compacted", state.log_samples),
        ("log_bytes", "Bytes of write-log blocks not yet compacted", state.log_bytes),
        (
            "compaction_lag_seconds",
            "Age of the oldest write-log block not yet compacted",
            state.compaction_lag_seconds,
        ),
        ("open_chunks", "Chunks in Gorilla waiting to be sealed with pcodec", state.open_chunks),
    ):
        Gauge(f"hearth_metrics_{name}", help_, registry=registry).set(value)
    return generate_latest(registry)
