"""What remote mode did with the backend, for /metrics (in the app's registry, so ``--workers``
adds the processes up like the HTTP counters)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class RemoteCounters:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.writes = Counter(
            "hearth_metrics_remote_write_requests_total",
            "Remote-write requests sent to the backend by outcome: ok (2xx), rejected (4xx,"
            " passed to the caller), retried (5xx, 429 or no answer; sent again), failed"
            " (given up: the caller got 503)",
            ("outcome",),
            registry=registry,
        )
        self.samples = Counter(
            "hearth_metrics_remote_write_samples_total",
            "Samples the backend acknowledged",
            registry=registry,
        )
        self.bytes = Counter(
            "hearth_metrics_remote_write_bytes_total",
            "Compressed remote-write bytes the backend acknowledged",
            registry=registry,
        )
        self.latency = Histogram(
            "hearth_metrics_remote_write_duration_seconds",
            "From queueing a write to the backend's acknowledgement, retries included",
            buckets=_BUCKETS,
            registry=registry,
        )
        self.queue_bytes = Gauge(
            "hearth_metrics_remote_queue_bytes",
            "Encoded remote-write bytes waiting for the backend's acknowledgement",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.queue_requests = Gauge(
            "hearth_metrics_remote_queue_requests",
            "Remote-write requests waiting for the backend's acknowledgement",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.queries = Counter(
            "hearth_metrics_remote_query_requests_total",
            "Queries forwarded to the backend by outcome (ok, error: the backend answered an"
            " error, unavailable: no answer)",
            ("outcome",),
            registry=registry,
        )
