"""hearth_core._native.decode_otlp and the OTLP answer encoders against the opentelemetry-proto
package (Google's protobuf runtime): requests it encodes — as protobuf and as its canonical
JSON (int64 as strings, enums by name) — decode to the same samples; answers Hearth encodes
parse as its messages."""

from __future__ import annotations

import gzip
import math
import struct
from typing import Any

import pytest
from google.protobuf.json_format import MessageToJson, ParseDict
from google.rpc.status_pb2 import Status
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

from hearth_core import _native

NOW_US = 1_700_000_000_000_000
KW: dict[str, Any] = {
    "namespace": "default",
    "namespace_label": "hearth_namespace",
    "now_us": NOW_US,
    "min_time_us": NOW_US - 86_400_000_000,
    "max_time_us": NOW_US + 3_600_000_000,
    "max_decompressed": 1 << 20,
}


def decode(body: bytes, *, json: bool = False, gzip: bool = False) -> _native.DecodedBatch:
    return _native.decode_otlp(body, json=json, gzip=gzip, **KW)


def samples(batch: _native.DecodedBatch) -> list[tuple[str, str, str, int, int]]:
    """``(namespace, name, labels_json, time_us, value bits)`` of every sample, sorted."""
    series = batch.series()
    ids, times, values = _native.decode_block(
        batch.encode_block({s[0]: i for i, s in enumerate(series)})
    )
    bits = [struct.unpack("<Q", struct.pack("<d", v))[0] for v in values]
    return sorted(
        (series[i][1], series[i][2], series[i][3], t, b)
        for i, t, b in zip(ids, times, bits, strict=True)
    )


def _json_double(f: float) -> float | str:
    """A double as the protobuf JSON mapping writes it (non-finite ones quoted)."""
    if math.isfinite(f):
        return f
    return "NaN" if math.isnan(f) else ("Infinity" if f > 0 else "-Infinity")


doubles = st.floats().map(_json_double)
attributes = st.lists(
    st.tuples(
        st.sampled_from(["http.method", "http_method", "code", "0day", "é"]),
        st.one_of(
            st.text(max_size=5).map(lambda s: {"stringValue": s}),
            st.integers(-(2**63), 2**63 - 1).map(lambda i: {"intValue": str(i)}),
            st.booleans().map(lambda b: {"boolValue": b}),
            doubles.map(lambda f: {"doubleValue": f}),
        ),
    ).map(lambda kv: {"key": kv[0], "value": kv[1]}),
    max_size=3,
)
times = st.integers(NOW_US * 1000 - 10**12, NOW_US * 1000 + 10**12)
number_points = st.lists(
    st.fixed_dictionaries(
        {"attributes": attributes, "timeUnixNano": times},
        optional={
            "asDouble": doubles,
            "asInt": st.integers(-(2**63), 2**63 - 1),
            "flags": st.sampled_from([0, 1]),
        },
    ).map(lambda p: {k: v for k, v in p.items() if not (k == "asDouble" and "asInt" in p)}),
    max_size=3,
)
histogram_points = st.lists(
    st.builds(
        lambda attrs, t, counts, s: {
            "attributes": attrs,
            "timeUnixNano": t,
            "count": sum(counts),
            "bucketCounts": counts,
            "explicitBounds": [i * 2.5 for i in range(1, len(counts))],
            **({"sum": s} if s is not None else {}),
        },
        attributes,
        times,
        st.lists(st.integers(0, 2**40), max_size=4),
        st.none() | doubles,
    ),
    max_size=2,
)
metrics = st.lists(
    st.tuples(
        st.sampled_from(["requests", "http.server.duration", "cpu.utilization", "9lives"]),
        st.sampled_from(["", "s", "1", "By", "{req}"]),
        st.one_of(
            number_points.map(lambda p: {"gauge": {"dataPoints": p}}),
            st.builds(
                lambda p, t, m: {
                    "sum": {"dataPoints": p, "aggregationTemporality": t, "isMonotonic": m}
                },
                number_points,
                st.sampled_from([0, 1, 2]),
                st.booleans(),
            ),
            st.builds(
                lambda p, t: {"histogram": {"dataPoints": p, "aggregationTemporality": t}},
                histogram_points,
                st.sampled_from([1, 2]),
            ),
        ),
    ).map(lambda m: {"name": m[0], "unit": m[1], **m[2]}),
    max_size=4,
)
requests = st.lists(
    st.builds(
        lambda res, scope, ms: {
            "resource": {"attributes": res},
            "scopeMetrics": [{"scope": scope, "metrics": ms}],
        },
        attributes,
        st.fixed_dictionaries({"name": st.sampled_from(["", "lib"]), "version": st.just("1")}),
        metrics,
    ),
    max_size=2,
).map(lambda rms: ParseDict({"resourceMetrics": rms}, ExportMetricsServiceRequest()))


@settings(max_examples=150, deadline=None)
@given(requests)
def test_protobuf_and_canonical_json_decode_to_the_same_samples(request):
    from_protobuf = decode(request.SerializeToString())
    from_json = decode(MessageToJson(request).encode(), json=True)
    assert samples(from_json) == samples(from_protobuf)
    assert from_json.rejected == from_protobuf.rejected
    assert from_json.ignored == from_protobuf.ignored
    assert from_protobuf.total == from_protobuf.accepted + len(from_protobuf.rejected)


def test_gzip_and_whole_body_errors():
    request = ParseDict(
        {
            "resourceMetrics": [
                {
                    "scopeMetrics": [
                        {
                            "metrics": [
                                {
                                    "name": "g",
                                    "gauge": {
                                        "dataPoints": [
                                            {"asInt": "1", "timeUnixNano": str(NOW_US * 1000)}
                                        ]
                                    },
                                }
                            ]
                        }
                    ]
                }
            ]
        },
        ExportMetricsServiceRequest(),
    )
    raw = request.SerializeToString()
    assert samples(decode(gzip.compress(raw), gzip=True)) == samples(decode(raw))
    with pytest.raises(_native.MalformedBody, match="not a protobuf"):
        decode(b"\xff\xff")
    with pytest.raises(_native.MalformedBody, match="not OTLP JSON"):
        decode(b'{"resourceMetrics": 3}', json=True)
    with pytest.raises(_native.MalformedBody, match="gzip"):
        decode(raw, gzip=True)
    with pytest.raises(_native.BodyTooLarge):
        _native.decode_otlp(
            gzip.compress(b"\0" * 4096), json=False, gzip=True, **KW | {"max_decompressed": 1000}
        )


def test_answers_parse_as_the_reference_messages():
    assert not ExportMetricsServiceResponse.FromString(
        _native.encode_otlp_response(0, "")
    ).HasField("partial_success")
    partial = ExportMetricsServiceResponse.FromString(
        _native.encode_otlp_response(7, "7 samples rejected")
    ).partial_success
    assert (partial.rejected_data_points, partial.error_message) == (7, "7 samples rejected")
    status = Status.FromString(_native.encode_rpc_status(14, "retry ✓"))
    assert (status.code, status.message) == (14, "retry ✓")
