"""hearth_core._native.decode_influx: lines written by a real InfluxDB library (influxdb-client's
``Point``, its own escaping) decode to the samples a reference mapping predicts; per-line
rejections; the errors of the whole body."""

from __future__ import annotations

import gzip
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from influxdb_client import Point, WritePrecision

from hearth_core import _native
from tests.native.test_ingest import block_rows

NOW = 1_700_000_000_000_000
WINDOW = {"now_us": NOW, "min_time_us": NOW - 86_400_000_000, "max_time_us": NOW + 3_600_000_000}
NS_LABEL = "hearth_namespace"


def decode(body: bytes, precision: Any = "ns", **kw: Any) -> _native.DecodedBatch:
    args: dict[str, Any] = {
        "gzip": False,
        "namespace": "default",
        "namespace_label": NS_LABEL,
        "max_decompressed": 1 << 20,
        **WINDOW,
        **kw,
    }
    return _native.decode_influx(body, precision=precision, **args)


# ---- the reference mapping, restated with regular expressions ----


def ref_name(measurement: str, field: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_:.]", "_", f"{measurement}_{field}")
    if name[0].isdigit():
        return "_" + name
    return "_" + name[1:] if name[0] == "." else name


def ref_key(key: str) -> str:
    key = re.sub(r"[^A-Za-z0-9_]", "_", key)
    return "_" + key if key[0].isdigit() else key


def ref_value(v: float | int | bool) -> float:
    return float(v)


# Text influxdb-client escapes so that InfluxDB's parser reads it back: no tab/CR/LF (it writes
# them as \t \r \n, which line protocol does not unescape) and no backslash (it does not escape
# one, so "\\ " comes out as an escaped backslash and a bare space). Backslashes are fuzzed in
# Rust, through the parser crate's own builder.
TEXT = "abzAZ09 ,=\"'._:-é#"
names = st.text(TEXT, min_size=1, max_size=12).filter(
    lambda s: not s.startswith("#")  # a line starting with # is a comment
)
keys = st.text(TEXT, min_size=1, max_size=12)
field_values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
)
point = st.fixed_dictionaries(
    {
        "measurement": names,
        "tags": st.dictionaries(keys, keys, max_size=4),
        "fields": st.dictionaries(keys, field_values, min_size=1, max_size=4),
        "namespace": st.none() | st.from_regex(r"\A[a-z][a-z0-9_]{0,8}\Z"),
        "time_us": st.none() | st.integers(WINDOW["min_time_us"], WINDOW["max_time_us"]),
        "sub_us": st.integers(0, 999),
    }
)
PRECISIONS = {"ns": WritePrecision.NS, "us": WritePrecision.US, "ms": WritePrecision.MS}
UNIT_US = {"ns": 0.001, "us": 1, "ms": 1000, "s": 1_000_000}


def distinct_keys(p: dict[str, Any]) -> bool:
    """Tag keys and field keys stay distinct once sanitised (else the builder rejects them)."""
    tags = [ref_key(k) for k in p["tags"]] + [NS_LABEL]
    fields = [ref_name(p["measurement"], k) for k in p["fields"]]
    return len(set(tags)) == len(tags) and len(set(fields)) == len(fields)


def in_unit(time_us: int, sub_us: int, unit: str) -> int:
    return time_us * 1000 + sub_us if unit == "ns" else time_us // int(UNIT_US[unit])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    points=st.lists(point.filter(distinct_keys), min_size=1, max_size=6),
    unit=st.sampled_from(["ns", "us", "ms", "s"]),
    compress=st.booleans(),
)
def test_influxdb_client_lines_decode_to_the_reference_samples(points, unit, compress):
    lines = []
    want = []  # (hash, time_us, value) in the order block_rows reads them
    for p in points:
        pt = Point(p["measurement"])
        for k, v in p["tags"].items():
            pt.tag(k, v)
        if p["namespace"]:
            pt.tag(NS_LABEL, p["namespace"])
        for k, v in p["fields"].items():
            pt.field(k, v)
        time_us = NOW
        if p["time_us"] is not None:
            t = in_unit(p["time_us"], p["sub_us"], unit)
            pt.time(t, PRECISIONS.get(unit, WritePrecision.S))
            time_us = t // 1000 if unit == "ns" else t * int(UNIT_US[unit])
        lines.append(pt.to_line_protocol(PRECISIONS.get(unit, WritePrecision.S)))
        labels = {ref_key(k): v for k, v in p["tags"].items()}
        ns = p["namespace"] or "default"
        for k, v in sorted(p["fields"].items()):  # the order Point writes them in
            h = _native.series_hash(ns, ref_name(p["measurement"], k), labels)
            want.append((h, time_us, ref_value(v)))
    body = "\n".join(lines).encode()
    if compress:
        body = gzip.compress(body)
    batch = decode(body, unit, gzip=compress)
    assert batch.rejected == []
    assert batch.total == batch.accepted == len(want)
    first: dict[int, int] = {}
    for h, _, _ in want:
        first.setdefault(h, len(first))
    expected = sorted(want, key=lambda w: (first[w[0]], w[1]))
    assert block_rows(batch) == expected
    for _, _, name, _ in batch.series():
        assert re.fullmatch(r"[A-Za-z_:][A-Za-z0-9_:.]*", name)


def test_rejections_are_by_line_and_the_rest_is_kept():
    body = b'# telegraf\ncpu,host=a usage=0.5,state="ok"\n\nmem used=\ndisk,host=a free=1i\n'
    batch = decode(body)
    assert batch.accepted == 2
    assert batch.rejected == [
        (1, "field state: string values are not stored"),
        (3, "unable to parse 'mem used=': No fields were provided"),
    ]
    assert [(ns, name, labels) for _, ns, name, labels in batch.series()] == [
        ("default", "cpu_usage", '{"host":"a"}'),
        ("default", "disk_free", '{"host":"a"}'),
    ]


def test_whole_body_errors():
    with pytest.raises(ValueError, match="unknown precision"):
        decode(b"m v=1", "sec")
    with pytest.raises(_native.MalformedBody, match="gzip"):
        decode(b"m v=1", gzip=True)
    with pytest.raises(_native.BodyTooLarge):
        decode(gzip.compress(b"m v=1\n" * 100), gzip=True, max_decompressed=100)
