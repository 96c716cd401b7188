"""OTLP/HTTP metrics request bodies (protobuf ``ExportMetricsServiceRequest``) carrying the
same samples as the remote-write bodies: one ``ResourceMetrics`` per host (``service.name`` →
``job``, ``service.instance.id`` → ``instance``), one ``Metric`` per name (counters as
monotonic cumulative sums, gauges as gauges), one data point per series with its other labels as
attributes — what an OpenTelemetry SDK exports. Encoded by ``opentelemetry-proto`` (pyproject's
``bench`` extra)."""

from __future__ import annotations

from collections.abc import Sequence

from bench.harness.log import BenchError
from bench.harness.metric_names import COUNTERS

try:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )
    from opentelemetry.proto.metrics.v1.metrics_pb2 import AGGREGATION_TEMPORALITY_CUMULATIVE
except ImportError:
    raise BenchError("opentelemetry-proto is missing: `make bench` installs it") from None

HEADERS = {"Content-Type": "application/x-protobuf"}
_RESOURCE = {"job": "service.name", "instance": "service.instance.id"}


class ShardEncoder:
    """Request bodies for a fixed set of series (``(name, labels)``, labels holding ``job``
    and ``instance``), one data point each: the structure is built once, each ``encode`` sets
    the values and times and serialises."""

    def __init__(self, series: Sequence[tuple[str, dict[str, str]]]) -> None:
        self.request = ExportMetricsServiceRequest()
        resources: dict[tuple[str, str], dict[str, object]] = {}
        self.points: list[object] = []
        for name, labels in series:
            key = (labels["job"], labels["instance"])
            found = resources.get(key)
            if found is None:
                rm = self.request.resource_metrics.add()
                for label, attr in _RESOURCE.items():
                    rm.resource.attributes.add(key=attr).value.string_value = labels[label]
                found = resources[key] = {"scope": rm.scope_metrics.add(), "metrics": {}}
            metrics: dict[str, object] = found["metrics"]  # type: ignore[assignment]
            metric = metrics.get(name)
            if metric is None:
                metric = found["scope"].metrics.add(name=name)  # type: ignore[attr-defined]
                if name in COUNTERS:
                    metric.sum.is_monotonic = True
                    metric.sum.aggregation_temporality = AGGREGATION_TEMPORALITY_CUMULATIVE
                metrics[name] = metric
            data = metric.sum if name in COUNTERS else metric.gauge  # type: ignore[attr-defined]
            point = data.data_points.add()
            for k, v in sorted(labels.items()):
                if k not in _RESOURCE:
                    point.attributes.add(key=k).value.string_value = v
            self.points.append(point)

    def encode(self, values: Sequence[float], timestamp_ms: int) -> bytes:
        ns = timestamp_ms * 1_000_000
        for point, value in zip(self.points, values, strict=True):
            point.as_double = value  # type: ignore[attr-defined]
            point.time_unix_nano = ns  # type: ignore[attr-defined]
        return self.request.SerializeToString()
