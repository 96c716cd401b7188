"""What the ingest routes did with the samples they were sent, by protocol, for /metrics.

The counters live in the app's registry (``api.observability.HttpMetrics``), so with several
workers the multiprocess collector adds them up like the HTTP counters."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

OUTCOMES = ("accepted", "rejected", "too_old", "refused_series")


class IngestCounters:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.samples = Counter(
            "hearth_ingest_samples_total",
            "Samples received by protocol and outcome: accepted (stored), rejected (invalid),"
            " too_old (before retention), refused_series (a cardinality limit refused the series)",
            ("protocol", "outcome"),
            registry=registry,
        )
        self.ignored = Counter(
            "hearth_ingest_ignored_total",
            "What a protocol carried that Hearth accepts but does not store (exemplars, native"
            " histograms, metadata), by protocol",
            ("protocol", "what"),
            registry=registry,
        )
        self.refused_series = Counter(
            "hearth_ingest_series_refused_total",
            "New series a cardinality limit refused, by protocol",
            ("protocol",),
            registry=registry,
        )

    def record(
        self,
        protocol: str,
        *,
        accepted: int,
        rejected: int,
        too_old: int,
        refused_samples: int,
        refused_series: int,
        ignored: list[tuple[str, int]],
    ) -> None:
        for outcome, n in zip(
            OUTCOMES, (accepted, rejected - too_old, too_old, refused_samples), strict=True
        ):
            if n:
                self.samples.labels(protocol, outcome).inc(n)
        if refused_series:
            self.refused_series.labels(protocol).inc(refused_series)
        for what, n in ignored:
            self.ignored.labels(protocol, what).inc(n)
