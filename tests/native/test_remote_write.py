"""hearth_core._native.decode_remote_write on bodies the ``protobuf`` package encodes (an
encoder independent of the prost decoder), against a simple reference mapping."""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hearth_core import _native
from hearth_core.metrics import chunks
from tests import prompb

NOW_MS = 1_700_000_000_000
MIN_MS = NOW_MS - 86_400_000
NS_LABEL = "hearth_namespace"


def decode(body: bytes, version: Any = 1, **kw: Any) -> _native.DecodedBatch:
    args: dict[str, Any] = {
        "version": version,
        "namespace": "dflt",
        "namespace_label": NS_LABEL,
        "now_us": NOW_MS * 1000,
        "min_time_us": MIN_MS * 1000,
        "max_time_us": (NOW_MS + 3_600_000) * 1000,
        "max_decompressed": 1 << 20,
    }
    return _native.decode_remote_write(body, **(args | kw))


def bits(v: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", v))[0]


def rows(batch: _native.DecodedBatch) -> list[tuple[str, str, dict[str, str], int, int]]:
    """``(namespace, name, labels, time_us, value bits)`` of each accepted sample, read back
    from the batch's write-log block (by series in order of first appearance, then time)."""
    series = batch.series()
    ids, times, values = chunks.decode_block(
        batch.encode_block({h: i for i, (h, *_) in enumerate(series)})
    )
    out = []
    for i, t, v in zip(ids, times, values, strict=True):
        _, ns, name, labels = series[i]
        out.append((ns, name, json.loads(labels), t, bits(v)))
    return out


def test_v1_series_map_to_namespace_name_and_labels() -> None:
    body = prompb.body(
        prompb.v1(
            [
                ([("__name__", "up"), ("job", "api"), ("empty", "")], [(1.0, NOW_MS)]),
                ([(NS_LABEL, "prod"), ("__name__", "up")], [(0.0, NOW_MS - 1)]),
                ([("job", "nameless")], [(1.0, NOW_MS), (2.0, NOW_MS)]),
            ]
        )
    )
    b = decode(body)
    assert rows(b) == [
        ("dflt", "up", {"job": "api"}, NOW_MS * 1000, bits(1.0)),
        ("prod", "up", {}, (NOW_MS - 1) * 1000, bits(0.0)),
    ]
    assert (b.total, b.accepted) == (4, 2)
    assert b.rejected == [(2, "series has no __name__ label"), (3, "series has no __name__ label")]


def test_staleness_markers_and_infinities_are_kept_bit_for_bit() -> None:
    values = [
        struct.unpack("<d", struct.pack("<Q", _native.STALE_NAN_BITS))[0],
        math.inf,
        -math.inf,
        math.nan,
        -0.0,  # (the protobuf package writes it; Go's and prost's encoders omit it as 0)
    ]
    samples = [(v, NOW_MS + i) for i, v in enumerate(values)]
    for version, msg in ((1, prompb.v1), (2, prompb.v2)):
        b = decode(prompb.body(msg([([("__name__", "x")], samples)])), version)
        assert [r[4] for r in rows(b)] == [bits(v) for v in values]


def test_exemplars_histograms_and_metadata_are_counted_not_stored() -> None:
    req = prompb.v1([([("__name__", "rpc_seconds_count")], [(3.0, NOW_MS)])])
    ts = req.timeseries[0]
    ts.exemplars.add(value=0.2, timestamp=NOW_MS).labels.add(name="trace_id", value="abc")
    ts.exemplars.add(value=0.4, timestamp=NOW_MS)
    ts.histograms.add(count_int=3, sum=0.6, schema=3, positive_deltas=[1, 1], timestamp=NOW_MS)
    req.metadata.add(type=1, metric_family_name="rpc_seconds", help="RPC latency")
    b = decode(prompb.body(req))
    assert b.accepted == 1
    assert b.ignored == [("exemplars", 2), ("native_histograms", 1), ("metadata", 1)]
    # A metadata-only request is a valid, empty one.
    meta = prompb.WriteRequest()
    meta.metadata.add(type=2, metric_family_name="up")
    b = decode(prompb.body(meta))
    assert (b.total, b.ignored) == (0, [("metadata", 1)])


def test_v2_symbols_refs_and_metadata() -> None:
    req = prompb.v2([([("__name__", "up"), ("job", "api")], [(1.0, NOW_MS)])])
    ts = req.timeseries[0]
    ts.metadata.type = 2
    ts.metadata.help_ref = 3  # "job": any symbol will do
    ts.exemplars.add(labels_refs=[3, 4], value=1.0)
    ts.histograms.add(count_int=1)
    b = decode(prompb.body(req), 2)
    assert rows(b) == [("dflt", "up", {"job": "api"}, NOW_MS * 1000, bits(1.0))]
    assert sorted(b.ignored) == [("exemplars", 1), ("metadata", 1), ("native_histograms", 1)]
    ts.labels_refs.append(9)
    ts.labels_refs.append(0)
    with pytest.raises(_native.MalformedBody, match=r"timeseries\[0\]\.labels_refs\[4\]: symbol 9"):
        decode(prompb.body(req), 2)


def test_whole_body_errors() -> None:
    with pytest.raises(_native.MalformedBody, match="not snappy"):
        decode(b"\xff\xff\xff\xff\xff\xff\xff")
    with pytest.raises(_native.MalformedBody, match=r"not a prometheus\.WriteRequest"):
        decode(prompb.snappy(b"\x0a\x05ab"))
    with pytest.raises(_native.MalformedBody, match=r"not an io\.prometheus\.write\.v2\.Request"):
        decode(prompb.snappy(b"\x22\x05ab"), 2)
    with pytest.raises(_native.BodyTooLarge):
        decode(prompb.snappy(bytes(1025)), max_decompressed=1024)
    with pytest.raises(ValueError, match="version must be 1 or 2"):
        decode(prompb.body(prompb.WriteRequest()), 3)


names = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,10}", fullmatch=True)
label_sets = st.tuples(
    st.one_of(names, st.just(""), st.none()),  # __name__
    st.one_of(st.from_regex(r"[a-z][a-z0-9_]{0,5}", fullmatch=True), st.just(""), st.none()),
    st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True), st.text(max_size=5), max_size=4
    ),
)
samples = st.lists(
    st.tuples(
        st.floats(allow_nan=False) | st.just(math.inf),
        st.integers(MIN_MS - 1000, NOW_MS + 1000),
    ),
    max_size=3,
)


def reference(
    series: list[tuple[list[tuple[str, str]], list[tuple[float, int]]]],
) -> tuple[list[Any], int]:
    """Accepted ``rows`` (before block ordering) and the number of rejected samples."""
    out: list[Any] = []
    rejected = 0
    for labels, ss in series:
        present = {k: v for k, v in labels if v}
        name = present.pop("__name__", None)
        ns = present.pop(NS_LABEL, "dflt")
        for value, ms in ss:
            if name is None or ms < MIN_MS:
                rejected += 1
            else:
                out.append((ns, name, present, ms * 1000, bits(value)))
    return out, rejected


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(label_sets, samples), max_size=6))
def test_agrees_with_the_reference(generated: list[Any]) -> None:
    series = []
    for (name, ns, others), ss in generated:
        labels = list(others.items())
        if name is not None:
            labels.append(("__name__", name))
        if ns is not None:
            labels.insert(0, (NS_LABEL, ns))
        series.append((labels, ss))
    want, rejected = reference(series)
    # Block order: series by first appearance, then time (a stable sort).
    first: dict[Any, int] = {}
    for r in want:
        first.setdefault((r[0], r[1], tuple(sorted(r[2].items()))), len(first))
    want.sort(key=lambda r: (first[(r[0], r[1], tuple(sorted(r[2].items())))], r[3]))
    for version, msg in ((1, prompb.v1), (2, prompb.v2)):
        b = decode(prompb.body(msg(series)), version)
        assert rows(b) == want
        assert len(b.rejected) == rejected
