"""One set of points, sent through each of Hearth's ingest protocols: a request per protocol
(route, headers, body) and the answer each protocol gives when everything was stored.

A point is ``(measurement, field, labels, time ms, value)``; its series is
``<measurement>_<field>{labels}`` in every protocol (Influx names a field's series so; the others
carry the name). Where a protocol carries finer times than milliseconds the points are sent
789 µs past their millisecond, which the backend floors away (times are ms there)."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson
from google.protobuf.json_format import ParseDict
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

from tests import prompb

SUB_MS_US = 789  # µs past the millisecond, where the protocol carries them
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Point:
    measurement: str
    field: str
    labels: tuple[tuple[str, str], ...]
    ms: int
    value: float

    @property
    def name(self) -> str:
        return f"{self.measurement}_{self.field}"

    @property
    def us(self) -> int:
        return self.ms * 1000 + SUB_MS_US

    def rfc3339(self) -> str:
        return (EPOCH + timedelta(microseconds=self.us)).isoformat()


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Protocol:
    name: str
    encode: Callable[[Sequence[Point], str, str], Request]  # (points, namespace, token)
    ok: Callable[[int, dict[str, str], bytes, int], None]  # (status, headers, body, n points)
    nonfinite: bool = False  # carries ±Inf


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- /v1/metrics/bulk ------------------------------------------------------------------------


def _bulk_point(p: Point, ns: str) -> dict[str, Any]:
    return {
        "namespace": ns,
        "name": p.name,
        "labels": dict(p.labels),
        "value": p.value,
        "timestamp": p.rfc3339(),
    }


def _json(points: Sequence[Point], ns: str, token: str) -> Request:
    body = orjson.dumps({"points": [_bulk_point(p, ns) for p in points]})
    return Request("/v1/metrics/bulk", bearer(token) | {"Content-Type": "application/json"}, body)


def _ndjson(points: Sequence[Point], ns: str, token: str) -> Request:
    body = b"".join(orjson.dumps(_bulk_point(p, ns)) + b"\n" for p in points)
    return Request(
        "/v1/metrics/bulk", bearer(token) | {"Content-Type": "application/x-ndjson"}, body
    )


def _csv(points: Sequence[Point], ns: str, token: str) -> Request:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["namespace", "name", "labels", "value", "timestamp"])
    for p in points:
        w.writerow([ns, p.name, json.dumps(dict(p.labels)), repr(p.value), p.rfc3339()])
    return Request(
        "/v1/metrics/bulk", bearer(token) | {"Content-Type": "text/csv"}, out.getvalue().encode()
    )


def _bulk_ok(status: int, _h: dict[str, str], body: bytes, n: int) -> None:
    assert status == 200, body
    answer = orjson.loads(body)
    assert (answer["accepted"], answer["rejected_total"]) == (n, 0), answer


# -- remote write ----------------------------------------------------------------------------

RW1 = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}
RW2 = RW1 | {
    "Content-Type": "application/x-protobuf;proto=io.prometheus.write.v2.Request",
    "X-Prometheus-Remote-Write-Version": "2.0.0",
}


def rw_series(
    points: Sequence[Point],
) -> list[tuple[list[tuple[str, str]], list[tuple[float, int]]]]:
    by: dict[tuple[str, tuple[tuple[str, str], ...]], list[tuple[float, int]]] = {}
    for p in points:
        by.setdefault((p.name, p.labels), []).append((p.value, p.ms))
    return [([("__name__", name), *labels], samples) for (name, labels), samples in by.items()]


def _rw1(points: Sequence[Point], ns: str, token: str) -> Request:
    body = prompb.body(prompb.v1(rw_series(points)))
    return Request(f"/api/v1/write?namespace={ns}", bearer(token) | RW1, body)


def _rw2(points: Sequence[Point], ns: str, token: str) -> Request:
    body = prompb.body(prompb.v2(rw_series(points)))
    return Request(f"/api/v1/write?namespace={ns}", bearer(token) | RW2, body)


def _rw1_ok(status: int, headers: dict[str, str], body: bytes, _n: int) -> None:
    assert (status, body) == (204, b""), body
    assert "X-Hearth-Rejected" not in headers, headers


def _rw2_ok(status: int, headers: dict[str, str], body: bytes, n: int) -> None:
    _rw1_ok(status, headers, body, n)
    assert headers["X-Prometheus-Remote-Write-Samples-Written"] == str(n), headers


# -- OTLP/HTTP -------------------------------------------------------------------------------


def _json_double(v: float) -> float | str:
    """proto3's JSON mapping of a double: NaN and the infinities are strings."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return v


def otlp_request(points: Sequence[Point]) -> dict[str, Any]:
    """An ExportMetricsServiceRequest (OTLP/JSON mapping) of gauges, no resource attributes:
    a gauge ``m_f`` keeps its name, its attributes are its labels."""
    metrics: dict[str, list[dict[str, Any]]] = {}
    for p in points:
        metrics.setdefault(p.name, []).append(
            {
                "asDouble": _json_double(p.value),
                "timeUnixNano": str(p.us * 1000),
                "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in p.labels],
            }
        )
    return {
        "resourceMetrics": [
            {
                "resource": {},
                "scopeMetrics": [
                    {
                        "metrics": [
                            {"name": name, "gauge": {"dataPoints": dps}}
                            for name, dps in metrics.items()
                        ]
                    }
                ],
            }
        ]
    }


def _otlp_pb(points: Sequence[Point], ns: str, token: str) -> Request:
    body = ParseDict(otlp_request(points), ExportMetricsServiceRequest()).SerializeToString()
    headers = bearer(token) | {"Content-Type": "application/x-protobuf"}
    return Request(f"/v1/metrics?namespace={ns}", headers, body)


def _otlp_json(points: Sequence[Point], ns: str, token: str) -> Request:
    headers = bearer(token) | {"Content-Type": "application/json"}
    return Request(f"/v1/metrics?namespace={ns}", headers, orjson.dumps(otlp_request(points)))


def _otlp_pb_ok(status: int, _h: dict[str, str], body: bytes, _n: int) -> None:
    assert status == 200, body
    assert not ExportMetricsServiceResponse.FromString(body).HasField("partial_success")


def _otlp_json_ok(status: int, _h: dict[str, str], body: bytes, _n: int) -> None:
    assert (status, orjson.loads(body)) == (200, {}), body


# -- Influx line protocol --------------------------------------------------------------------


def line_protocol(points: Sequence[Point]) -> bytes:
    """One line per point, nanosecond times (the 789 µs included)."""
    lines = []
    for p in points:
        tags = "".join(f",{k}={v}" for k, v in p.labels)
        lines.append(f"{p.measurement}{tags} {p.field}={p.value!r} {p.us * 1000}")
    return ("\n".join(lines) + "\n").encode()


def _influx_v2(points: Sequence[Point], ns: str, token: str) -> Request:
    headers = {"Authorization": f"Token {token}", "Content-Type": "text/plain; charset=utf-8"}
    return Request(f"/api/v2/write?bucket={ns}&precision=ns", headers, line_protocol(points))


def _influx_v1(points: Sequence[Point], ns: str, token: str) -> Request:
    headers = bearer(token) | {"Content-Type": "text/plain"}
    return Request(f"/write?db={ns}", headers, line_protocol(points))


def _influx_ok(status: int, _h: dict[str, str], body: bytes, _n: int) -> None:
    assert (status, body) == (204, b""), body


PROTOCOLS = {
    p.name: p
    for p in (
        Protocol("json", _json, _bulk_ok),
        Protocol("ndjson", _ndjson, _bulk_ok),
        Protocol("csv", _csv, _bulk_ok),
        Protocol("remote_write_1", _rw1, _rw1_ok, nonfinite=True),
        Protocol("remote_write_2", _rw2, _rw2_ok, nonfinite=True),
        Protocol("otlp_protobuf", _otlp_pb, _otlp_pb_ok, nonfinite=True),
        Protocol("otlp_json", _otlp_json, _otlp_json_ok),
        Protocol("influx_v2", _influx_v2, _influx_ok),
        Protocol("influx_v1", _influx_v1, _influx_ok),
    )
}


async def send(
    http: aiohttp.ClientSession, base: str, request: Request
) -> tuple[int, dict[str, str], bytes]:
    async with http.post(f"{base}{request.path}", data=request.body, headers=request.headers) as r:
        return r.status, dict(r.headers), await r.read()
