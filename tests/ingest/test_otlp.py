"""OTLP/HTTP metrics end to end: the OpenTelemetry Python SDK's own OTLP/HTTP exporter
(protobuf) against the live server, a hand-written OTLP/JSON body, gzip, resending, partial
success and the error answers (google.rpc.Status in the request's encoding)."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from typing import Any

import pytest
from google.protobuf.json_format import ParseDict
from google.rpc.status_pb2 import Status
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from api.app import create_app
from api.keys import DB, INGEST
from hearth_core.errors import Unavailable
from tests.conftest import free_port
from tests.fixtures import Live, service_token

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
SCOPE = {"otel_scope_name": "shop.lib", "otel_scope_version": "0.3"}
IDENTITY = {"job": "acme/shop", "instance": "i-7"}


@pytest.fixture
def stopped(live):
    """The live server with its compactor stopped: the test runs the passes."""
    live.app[INGEST]._compaction.cancel()
    return live.app[INGEST].compactor


async def _rows(live, namespace: str) -> list[tuple[str, dict[str, str], float, float]]:
    rows = await live.app[DB].fetch(
        'SELECT name, labels, value, "timestamp" FROM metrics($1) ORDER BY name, labels::text, "timestamp"',
        namespace,
    )
    return [
        (
            r["name"],
            r["labels"] if isinstance(r["labels"], dict) else json.loads(r["labels"]),
            r["value"],
            r["timestamp"].timestamp(),
        )
        for r in rows
    ]


def _values(rows, name: str) -> dict[str, float]:
    """``{labels-without-identity-and-scope as text: value}`` of one metric's latest samples."""
    out = {}
    for n, labels, value, _ in rows:
        if n == name:
            rest = {k: v for k, v in labels.items() if k not in IDENTITY and k not in SCOPE}
            out[",".join(f"{k}={v}" for k, v in sorted(rest.items()))] = value
    return out


@pytest.mark.parametrize(
    ("compression", "namespace_attribute"),
    [(Compression.NoCompression, False), (Compression.Gzip, True)],
    ids=["namespace-in-url", "gzip-namespace-in-resource"],
)
async def test_the_sdk_exporter_stores_counter_updown_gauge_and_histogram(
    live, mh, compression, namespace_attribute
):
    query = "" if namespace_attribute else "?namespace=otel"
    exporter = OTLPMetricExporter(
        endpoint=f"{live.url}/v1/metrics{query}",
        headers={"Authorization": mh["Authorization"]},
        compression=compression,
    )
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    attributes = {
        "service.name": "shop",
        "service.namespace": "acme",
        "service.instance.id": "i-7",
        "deployment.environment": "test",
    }
    if namespace_attribute:
        attributes["hearth.namespace"] = "otel"  # the namespace label, translated
    resource = Resource.create(attributes)
    provider = MeterProvider(resource=resource, metric_readers=[reader])
    meter = provider.get_meter("shop.lib", "0.3")
    orders = meter.create_counter("shop.orders", unit="{order}")
    queue = meter.create_up_down_counter("shop.queue.size")
    latency = meter.create_histogram("shop.latency", unit="s")

    def temperature(_: CallbackOptions):
        yield Observation(21.5, {"room": "a"})

    meter.create_observable_gauge("shop.temperature", [temperature], unit="Cel")
    orders.add(3, {"region": "eu"})
    orders.add(2, {"region": "us"})
    orders.add(4, {"region": "eu"})
    queue.add(5)
    queue.add(-2)
    for seconds in (0.2, 7.0, 30.0):
        latency.record(seconds)
    try:
        # The exporter is synchronous (requests): off the loop that serves it.
        assert await asyncio.to_thread(provider.force_flush)
        rows = await _rows(live, "otel")
    finally:
        await asyncio.to_thread(provider.shutdown)

    for name, labels, _, ts in rows:
        assert abs(ts - time.time()) < 60, (name, ts)
        if name != "target_info":
            assert labels.items() >= (IDENTITY | SCOPE).items(), (name, labels)
    assert _values(rows, "shop_orders_total") == {"region=eu": 7.0, "region=us": 2.0}
    assert _values(rows, "shop_queue_size") == {"": 3.0}
    assert _values(rows, "shop_temperature_celsius") == {"room=a": 21.5}
    assert _values(rows, "shop_latency_seconds_count") == {"": 3.0}
    assert _values(rows, "shop_latency_seconds_sum") == {"": pytest.approx(37.2)}
    buckets = _values(rows, "shop_latency_seconds_bucket")
    assert {k: buckets[k] for k in ("le=0", "le=5", "le=10", "le=25", "le=50", "le=+Inf")} == {
        "le=0": 0.0,
        "le=5": 1.0,
        "le=10": 2.0,
        "le=25": 2.0,
        "le=50": 3.0,
        "le=+Inf": 3.0,
    }
    (info,) = [labels for name, labels, _, _ in rows if name == "target_info"]
    assert info["deployment_environment"] == "test"
    assert info["telemetry_sdk_language"] == "python"
    assert info.items() >= IDENTITY.items() and not info.keys() & SCOPE.keys()
    assert "hearth_namespace" not in info
    assert await _rows(live, "default") == []
    # Every point the SDK sent is one row: 2 + 1 + 1 counters/gauges, the histogram's
    # buckets + _sum + _count, and target_info.
    assert len(rows) == 4 + len(buckets) + 2 + 1


NS = 1_000_000_000
T0 = (int(time.time()) - 600) * NS  # ten minutes ago, in nanoseconds

# A hand-written OTLP/JSON request in the style of the specification's examples.
REQUEST: dict[str, Any] = {
    "resourceMetrics": [
        {
            "resource": {
                "attributes": [
                    {"key": "service.name", "value": {"stringValue": "checkout"}},
                    {"key": "service.instance.id", "value": {"stringValue": "pod-1"}},
                ]
            },
            "scopeMetrics": [
                {
                    "scope": {"name": "manual", "version": "1.0.0"},
                    "metrics": [
                        {
                            "name": "http.requests",
                            "unit": "1",
                            "sum": {
                                "aggregationTemporality": 2,
                                "isMonotonic": True,
                                "dataPoints": [
                                    {
                                        "asInt": str(n),
                                        "timeUnixNano": str(T0 + i * 15 * NS),
                                        "attributes": [
                                            {"key": "http.route", "value": {"stringValue": "/pay"}}
                                        ],
                                    }
                                    for i, n in enumerate((10, 14, 21))
                                ],
                            },
                        },
                        {
                            "name": "cpu.utilization",
                            "unit": "1",
                            "gauge": {
                                "dataPoints": [
                                    {"asDouble": 0.42, "timeUnixNano": str(T0)},
                                    {"timeUnixNano": str(T0 + 15 * NS), "flags": 1},
                                ]
                            },
                        },
                        {
                            "name": "db.query.time",
                            "unit": "ms",
                            "histogram": {
                                "aggregationTemporality": 2,
                                "dataPoints": [
                                    {
                                        "timeUnixNano": str(T0),
                                        "count": "6",
                                        "sum": 81.5,
                                        "bucketCounts": ["1", "3", "2"],
                                        "explicitBounds": [5.0, 25.0],
                                    }
                                ],
                            },
                        },
                        {
                            "name": "rpc.size",
                            "unit": "By",
                            "summary": {
                                "dataPoints": [
                                    {
                                        "timeUnixNano": str(T0),
                                        "count": "4",
                                        "sum": 4096,
                                        "quantileValues": [
                                            {"quantile": 0.5, "value": 900},
                                            {"quantile": 0.99, "value": 1500},
                                        ],
                                    }
                                ]
                            },
                        },
                    ],
                }
            ],
        }
    ]
}
# 3 counter points, 2 gauge points, 3 buckets + _sum + _count, 2 quantiles + _sum + _count
REQUEST_SAMPLES = 3 + 2 + 5 + 4
# metrics() leaves out staleness markers (the gauge's NO_RECORDED_VALUE point).
VISIBLE = REQUEST_SAMPLES - 1


def _protobuf(request: dict[str, Any]) -> bytes:
    """The same request as protobuf, encoded by the opentelemetry-proto package."""
    return ParseDict(request, ExportMetricsServiceRequest()).SerializeToString()


async def _post(http, live, mh, body: bytes, content_type: str, namespace: str, **headers):
    async with http.post(
        f"{live.url}/v1/metrics",
        params={"namespace": namespace},
        data=body,
        headers={**mh, "Content-Type": content_type, **headers},
    ) as resp:
        return resp.status, resp.headers.get("Content-Type"), await resp.read()


async def test_json_protobuf_and_gzip_bodies_store_the_same_samples(live, http, mh):
    status, ctype, body = await _post(http, live, mh, json.dumps(REQUEST).encode(), JSON, "j")
    assert (status, ctype, json.loads(body)) == (200, JSON, {})
    status, ctype, body = await _post(http, live, mh, _protobuf(REQUEST), PROTOBUF, "p")
    assert (status, ctype) == (200, PROTOBUF)
    assert not ExportMetricsServiceResponse.FromString(body).HasField("partial_success")
    gz = gzip.compress(_protobuf(REQUEST))
    assert (await _post(http, live, mh, gz, PROTOBUF, "g", **{"Content-Encoding": "gzip"}))[
        0
    ] == 200

    from_json = await _rows(live, "j")
    assert len(from_json) == VISIBLE
    assert await _rows(live, "p") == from_json
    assert await _rows(live, "g") == from_json
    by_name: dict[str, list] = {}
    for name, labels, value, ts in from_json:
        by_name.setdefault(name, []).append((labels, value, ts))
    ident = {"job": "checkout", "instance": "pod-1", "otel_scope_name": "manual"}
    ident["otel_scope_version"] = "1.0.0"
    assert by_name["http_requests_total"] == [
        (ident | {"http_route": "/pay"}, float(n), T0 / NS + i * 15)
        for i, n in enumerate((10, 14, 21))
    ]
    assert [(v, t) for _, v, t in by_name["cpu_utilization_ratio"]] == [(0.42, T0 / NS)]
    assert {lb.get("le"): v for lb, v, _ in by_name["db_query_time_milliseconds_bucket"]} == {
        "5": 1.0,
        "25": 4.0,
        "+Inf": 6.0,
    }
    assert [v for _, v, _ in by_name["db_query_time_milliseconds_sum"]] == [81.5]
    assert {lb["quantile"]: v for lb, v, _ in by_name["rpc_size_bytes"]} == {
        "0.5": 900.0,
        "0.99": 1500.0,
    }


async def test_resending_a_request_writes_nothing_twice(live, http, mh, stopped):
    for _ in range(2):
        assert (await _post(http, live, mh, _protobuf(REQUEST), PROTOBUF, "again"))[0] == 200
        assert (await _post(http, live, mh, json.dumps(REQUEST).encode(), JSON, "again"))[0] == 200
    before = await _rows(live, "again")
    await stopped.catch_up()
    assert await live.app[DB].fetchval("SELECT sum(samples) FROM metric_chunks") == REQUEST_SAMPLES
    assert len(before) == VISIBLE
    assert await _rows(live, "again") == before


async def test_points_not_stored_are_a_partial_success(live, http, mh):
    request = json.loads(json.dumps(REQUEST))
    metrics = request["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]
    metrics[0]["sum"]["dataPoints"][0]["timeUnixNano"] = "1000"  # 1970: older than retention
    del metrics[0]["sum"]["dataPoints"][1]["asInt"]  # no value
    metrics[2]["histogram"]["aggregationTemporality"] = 1  # delta histograms are not stored
    for content_type, encode in ((JSON, lambda r: json.dumps(r).encode()), (PROTOBUF, _protobuf)):
        status, ctype, body = await _post(http, live, mh, encode(request), content_type, "part")
        assert (status, ctype) == (200, content_type)
        if content_type == JSON:
            partial = json.loads(body)["partialSuccess"]
            rejected, message = partial["rejectedDataPoints"], partial["errorMessage"]
        else:
            partial = ExportMetricsServiceResponse.FromString(body).partial_success
            rejected, message = partial.rejected_data_points, partial.error_message
        assert rejected == 3
        assert "3 samples rejected" in message and "1 of them older than the retention" in message
        assert 'metric "http.requests": data point has no value' in message
    rows = await _rows(live, "part")
    assert len(rows) == VISIBLE - 2 - 5  # both requests stored the same good samples


async def test_errors_are_rpc_status_in_the_request_encoding(live, http, mh):
    status, ctype, body = await _post(http, live, mh, b"\x0a\x05\x0a", PROTOBUF, "e")
    assert (status, ctype) == (400, PROTOBUF)
    st = Status.FromString(body)
    assert st.code == 3 and "not a protobuf ExportMetricsServiceRequest" in st.message

    status, ctype, body = await _post(http, live, mh, b"{", JSON, "e")
    assert (status, ctype) == (400, JSON)
    assert json.loads(body)["code"] == 3 and "not OTLP JSON" in json.loads(body)["message"]

    status, ctype, body = await _post(http, live, mh, b"{}", JSON, "bad namespace")
    assert status == 400 and "query parameter namespace" in json.loads(body)["message"]

    status, _, body = await _post(http, live, mh, b"{}", JSON, "e", **{"Content-Encoding": "br"})
    assert status == 415 and "Content-Encoding 'br'" in json.loads(body)["message"]

    status, ctype, body = await _post(http, live, mh, b"x", "text/plain", "e")
    assert (status, ctype) == (415, PROTOBUF)  # not JSON: answered in protobuf
    assert Status.FromString(body).code == 3

    async with http.post(
        f"{live.url}/v1/metrics", data=b"{}", headers={"Content-Type": JSON}
    ) as resp:
        assert (resp.status, resp.headers["Content-Type"]) == (401, JSON)
        assert (await resp.json())["code"] == 16
    assert await _rows(live, "e") == []


async def test_at_capacity_the_answer_is_a_retryable_status(live, http, mh, monkeypatch):
    async def full(*_: Any, **__: Any) -> None:
        raise Unavailable("ingest is at capacity; retry", headers={"Retry-After": "2"})

    monkeypatch.setattr(live.app[INGEST], "write", full)
    status, ctype, body = await _post(http, live, mh, _protobuf(REQUEST), PROTOBUF, "full")
    assert (status, ctype) == (503, PROTOBUF)
    assert Status.FromString(body).code == 14  # UNAVAILABLE: the exporter retries
    async with http.post(
        f"{live.url}/v1/metrics",
        data=json.dumps(REQUEST).encode(),
        headers={**mh, "Content-Type": JSON},
    ) as resp:
        assert (resp.status, resp.headers["Retry-After"]) == (503, "2")
        assert (await resp.json())["code"] == 14


async def test_too_large_bodies_are_413_status(settings, aiohttp_server, http):
    port = free_port()
    s = settings.replace(issuer=f"http://127.0.0.1:{port}", metrics_max_body_bytes=4096)
    server = await aiohttp_server(create_app(s), port=port)
    lv = Live(url=f"http://127.0.0.1:{port}", app=server.app, settings=s)
    headers = await service_token(lv, http, ["metrics.write"])
    body = _protobuf(REQUEST)
    padded = body + b"\x00" * 4096  # over the body limit before decoding
    status, ctype, answer = await _post(http, lv, headers, padded, PROTOBUF, "big")
    assert (status, ctype) == (413, PROTOBUF)
    assert Status.FromString(answer).code == 11
    # Inflating past 8 times the body limit (32 KiB): 413 too, nothing stored.
    bomb = gzip.compress(json.dumps(REQUEST).encode() + b" " * 32 * 1024)
    assert len(bomb) < 4096
    status, ctype, answer = await _post(
        http, lv, headers, bomb, JSON, "big", **{"Content-Encoding": "gzip"}
    )
    assert (status, ctype) == (413, JSON)
    assert json.loads(answer)["message"] == "decompressed body exceeds the limit of 32768 bytes"
    assert await _rows(lv, "big") == []
