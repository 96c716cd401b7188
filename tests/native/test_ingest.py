"""hearth_core._native.decode_points (and its batch's write-log block) against the pure-Python
reference decoder (tests/native/ingest_reference.py)."""

from __future__ import annotations

import csv
import gzip
import io
import json
import struct
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hearth_core import _native
from hearth_core.metrics import chunks
from tests.native import ingest_reference as ref
from tests.native import reference

NOW = 1_700_000_000_000_000
WINDOW = ref.Window(
    now_us=NOW, min_time_us=NOW - 30 * 86_400_000_000, max_time_us=NOW + 86_400_000_000
)


def decode(body: bytes, fmt: Any, **kw: Any) -> _native.DecodedBatch:
    return _native.decode_points(
        body,
        fmt,
        now_us=WINDOW.now_us,
        min_time_us=WINDOW.min_time_us,
        max_time_us=WINDOW.max_time_us,
        **kw,
    )


def block_rows(batch: _native.DecodedBatch) -> list[tuple[int, int, float]]:
    """The batch's points as (hash, time_us, value), read back from its write-log block.

    Each series' id is its index in ``series()``, so the rows come in block order: by series in
    order of first appearance, then by time, points with the same series and time in input
    order."""
    series = batch.series()
    ids, times, values = chunks.decode_block(
        batch.encode_block({h: i for i, (h, *_) in enumerate(series)})
    )
    assert len(times) == batch.accepted
    return [(series[i][0], t, v) for i, t, v in zip(ids, times, values, strict=True)]


def block_order(accepted: list[ref.Accepted]) -> list[ref.Accepted]:
    """``accepted`` (input order) in the order ``block_rows`` reads them: a stable sort by
    (first appearance of the series, time)."""
    first: dict[int, int] = {}
    for a in accepted:
        first.setdefault(a.hash, len(first))
    return sorted(accepted, key=lambda a: (first[a.hash], a.time_us))


def bits(v: float) -> bytes:
    return struct.pack(">d", v)


def check_same(body: bytes, fmt: str) -> ref.Result | None:
    """Native and reference agree on `body`; returns the reference result."""
    try:
        want = ref.decode(body, fmt, WINDOW)
    except ref.BodyError:
        with pytest.raises(_native.IngestError):
            decode(body, fmt)
        return None
    got = decode(body, fmt)
    assert got.rejected == want.rejected
    assert got.total == want.total
    assert got.accepted == len(got) == len(want.accepted)
    rows = block_rows(got)
    in_block = block_order(want.accepted)
    assert [(h, t) for h, t, _ in rows] == [(a.hash, a.time_us) for a in in_block]
    assert [bits(v) for *_, v in rows] == [bits(a.value) for a in in_block]
    times = [a.time_us for a in want.accepted]
    assert got.min_time_us == (min(times) if times else None)
    assert got.max_time_us == (max(times) if times else None)
    # the series dictionary: unique, first-appearance order, canonical labels JSON
    seen: dict[int, ref.Accepted] = {}
    for a in want.accepted:
        seen.setdefault(a.hash, a)
    assert got.series() == [
        (
            h,
            a.namespace,
            a.name,
            json.dumps(a.labels, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
        )
        for h, a in seen.items()
    ]
    return want


# -- strategies --------------------------------------------------------------------

utf8_text = st.text(st.characters(codec="utf-8"), max_size=12)
valid_name = st.from_regex(r"[A-Za-z_:][A-Za-z0-9_:.]{0,15}", fullmatch=True)
invalid_name = st.one_of(
    st.just(""),
    st.just("a" * 201),
    st.just("a" * 200),
    st.from_regex(r"[0-9.][A-Za-z0-9]{0,5}", fullmatch=True),
    utf8_text,
)
valid_key = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True)
label_key = st.one_of(valid_key, valid_key, valid_key, utf8_text, st.just("k" * 129))
label_value = st.one_of(
    utf8_text, utf8_text, utf8_text, st.just("é" * 1025), st.integers(0, 9), st.none()
)
labels_st = st.one_of(
    st.lists(st.tuples(valid_key, utf8_text), max_size=5),
    st.lists(st.tuples(label_key, label_value), max_size=5),
    st.lists(st.tuples(valid_key, utf8_text), min_size=65, max_size=66, unique_by=lambda kv: kv[0]),
)
finite = st.floats(allow_nan=False, allow_infinity=False)
value_st = st.one_of(
    finite,
    finite,
    st.integers(-(2**70), 2**70),
    st.sampled_from(["1", "NaN", "", True, False, None, [], {}]),
)
window_dt = st.datetimes(
    min_value=datetime(2023, 10, 1),
    max_value=datetime(2023, 11, 16),
)
offsets = st.sampled_from(["Z", "z", "+00:00", "-00:00", "+05:30", "-08:00", "+23:59"])


@st.composite
def rfc3339(draw: st.DrawFn) -> str:
    dt = draw(window_dt)
    sep = draw(st.sampled_from(["T", "t", " "]))
    frac = draw(st.sampled_from(["", ".5", ".123456", ".1234567", ".999999999", ".0"]))
    return dt.strftime(f"%Y-%m-%d{sep}%H:%M:%S") + frac + draw(offsets)


def _epoch(dt: datetime) -> float:
    return dt.replace(tzinfo=UTC).timestamp()


timestamp_st = st.one_of(
    st.none(),
    window_dt.map(_epoch),  # float seconds
    window_dt.map(lambda d: int(_epoch(d))),  # int seconds
    window_dt.map(lambda d: int(_epoch(d) * 1000)),  # int milliseconds
    window_dt.map(lambda d: _epoch(d) * 1000 + 0.5),  # fractional milliseconds
    rfc3339(),
    finite,  # mostly outside the window
    st.sampled_from(
        ["yesterday", "2023-11-14", "1700000000", True, [], {}, "2023-02-29T00:00:00Z"]
    ),
)


@st.composite
def point_obj(draw: st.DrawFn) -> list[tuple[str, Any]]:
    """A point object as (key, value) pairs (so duplicates can be rendered)."""
    pairs: list[tuple[str, Any]] = []
    if draw(st.integers(0, 20)):
        pairs.append(
            ("namespace", draw(st.one_of(valid_name, valid_name, invalid_name, st.integers())))
        )
    if draw(st.integers(0, 20)):
        pairs.append(("name", draw(st.one_of(valid_name, valid_name, invalid_name, st.none()))))
    if draw(st.booleans()):
        lab = draw(st.one_of(labels_st, labels_st, st.none(), st.sampled_from([[1], "x", 3])))
        pairs.append(
            (
                "labels",
                Pairs(lab) if isinstance(lab, list) and lab and isinstance(lab[0], tuple) else lab,
            )
        )
    if draw(st.integers(0, 20)):
        pairs.append(("value", draw(value_st)))
    if draw(st.booleans()):
        pairs.append(("timestamp", draw(timestamp_st)))
    if not draw(st.integers(0, 15)):
        pairs.append((draw(st.sampled_from(["extra", "Value", "ts", "é" * 70])), 1))
    if not draw(st.integers(0, 20)) and pairs:
        pairs.append(pairs[0])
    return draw(st.permutations(pairs))


class Pairs(list):  # type: ignore[type-arg]
    """A JSON object to render from its pairs."""


def dumps(v: Any, ascii_only: bool) -> str:
    if isinstance(v, Pairs) or (isinstance(v, list) and v and isinstance(v[0], tuple)):
        inner = ",".join(f"{dumps(k, ascii_only)}:{dumps(x, ascii_only)}" for k, x in v)
        return "{" + inner + "}"
    return json.dumps(v, ensure_ascii=ascii_only)


item_st = st.one_of(
    point_obj(), point_obj(), point_obj(), st.sampled_from([1, "x", None, [], True])
)


def render_obj(p: Any, ascii_only: bool) -> str:
    if isinstance(p, list) and (not p or isinstance(p[0], tuple)):
        return dumps(Pairs(p), ascii_only) if p else "{}"
    return json.dumps(p)


# -- native == reference -----------------------------------------------------------


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(items=st.lists(item_st, max_size=12), wrap=st.booleans(), ascii_only=st.booleans())
def test_json_matches_reference(items: list[Any], wrap: bool, ascii_only: bool) -> None:
    body = "[" + ",".join(render_obj(p, ascii_only) for p in items) + "]"
    if wrap:
        body = '{"points": ' + body + "}"
    want = check_same(body.encode(), "json")
    assert want is not None
    assert want.total == len(items)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    items=st.lists(
        st.one_of(item_st, st.sampled_from(["", "  ", "\r", "{bad", "[1,", '{"a":1} x'])),
        max_size=12,
    ),
    crlf=st.booleans(),
)
def test_ndjson_matches_reference(items: list[Any], crlf: bool) -> None:
    lines = [
        p
        if isinstance(p, str) and p in ("", "  ", "\r", "{bad", "[1,", '{"a":1} x')
        else render_obj(p, False)
        for p in items
    ]
    body = ("\r\n" if crlf else "\n").join(lines)
    check_same(body.encode(), "ndjson")


csv_cell = st.one_of(valid_name, valid_name, invalid_name)


@st.composite
def csv_row(draw: st.DrawFn) -> dict[str, str]:
    labels = draw(
        st.one_of(
            st.just(""),
            labels_st.map(lambda kv: dumps(Pairs(kv), False) if kv else "{}"),
            st.sampled_from(["null", "[1]", "not json", '{"a": 1}', "{", '"x"']),
        )
    )
    value = draw(
        st.one_of(
            finite.map(repr),
            st.integers(-(10**20), 10**20).map(str),
            st.sampled_from(
                ["", "nan", "inf", "1e400", "1_000", " 1", ".5", "5.", "+3", "1e5", "0x1"]
            ),
        )
    )
    ts = draw(
        st.one_of(
            st.just(""),
            timestamp_st.filter(
                lambda t: isinstance(t, (int, float)) and not isinstance(t, bool)
            ).map(repr),
            rfc3339(),
            st.sampled_from(["yesterday", "1e400", "nan", "2023-11-14T22:13:20"]),
        )
    )
    return {
        "namespace": draw(csv_cell),
        "name": draw(csv_cell),
        "labels": labels,
        "value": value,
        "timestamp": ts,
    }


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.one_of(csv_row(), csv_row(), csv_row(), st.just(None)), max_size=10),
    columns=st.permutations(["namespace", "name", "labels", "value", "timestamp"]),
    drop=st.sampled_from([(), ("labels",), ("timestamp",), ("labels", "timestamp")]),
    blank=st.booleans(),
)
def test_csv_matches_reference(
    rows: list[dict[str, str] | None], columns: list[str], drop: tuple[str, ...], blank: bool
) -> None:
    cols = [c for c in columns if c not in drop]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(cols)
    for r in rows:
        if r is None:
            w.writerow(["short"])  # wrong field count
        else:
            w.writerow([r[c] for c in cols])
        if blank:
            buf.write("\r\n")
    check_same(buf.getvalue().encode(), "csv")


json_scalar = st.one_of(st.none(), st.booleans(), st.integers(), finite, utf8_text)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(utf8_text, inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=200)
@given(doc=json_value)
def test_any_json_document_matches_reference(doc: Any) -> None:
    check_same(json.dumps(doc).encode(), "json")
    check_same(json.dumps(doc).encode(), "ndjson")


# -- whole-body errors and robustness ----------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{}",
        b"1",
        b"null",
        b'"x"',
        b'{"points": 1}',
        b'{"points": [], "x": 1}',
        b"[1,",
        b"[1] [2]",
        b"[NaN]",
        b"\xff",
        b"[1e400]",
    ],
)
def test_bad_json_body_is_ingest_error(body: bytes) -> None:
    with pytest.raises(_native.MalformedBody):
        decode(body, "json")
    with pytest.raises(ref.BodyError):
        ref.decode(body, "json", WINDOW)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"namespace,name\n",
        b"namespace,name,value,host\n",
        b"namespace,name,value,value\n",
        b"namespace,name,value\n\xff\n",
    ],
)
def test_bad_csv_body_is_ingest_error(body: bytes) -> None:
    with pytest.raises(_native.MalformedBody):
        decode(body, "csv")


def test_unknown_format() -> None:
    with pytest.raises(_native.UnknownFormat, match="unknown format"):
        decode(b"[]", "xml")
    assert issubclass(_native.IngestError, ValueError)
    for kind in (_native.MalformedBody, _native.BodyTooLarge, _native.UnknownFormat):
        assert issubclass(kind, _native.IngestError)
    assert not issubclass(_native.BodyTooLarge, _native.MalformedBody)


def test_gzip_round_trip() -> None:
    body = b'[{"namespace":"app","name":"up","value":1.5,"labels":{"h":"1"}}]'
    plain = decode(body, "json")
    z = decode(gzip.compress(body), "json", gzip=True)
    assert (z.total, z.series(), block_rows(z)) == (plain.total, plain.series(), block_rows(plain))
    # two members, NDJSON
    two = gzip.compress(b'{"namespace":"a","name":"b","value":1}\n') + gzip.compress(
        b'{"namespace":"a","name":"b","value":2}\n'
    )
    assert decode(two, "ndjson", gzip=True).accepted == 2
    with pytest.raises(_native.MalformedBody, match="gzip"):
        decode(body, "json", gzip=True)
    with pytest.raises(_native.MalformedBody, match="gzip"):
        decode(gzip.compress(body)[:-5], "json", gzip=True)


def test_zip_bomb_is_refused() -> None:
    bomb = gzip.compress(b" " * (64 << 20), compresslevel=9)
    assert len(bomb) < 100_000
    with pytest.raises(_native.BodyTooLarge, match="exceeds the limit of 1048576 bytes"):
        decode(bomb, "ndjson", gzip=True, max_decompressed=1 << 20)
    assert decode(bomb, "ndjson", gzip=True).total == 0  # 64 MiB: under the default
    # 300 members of 1 MiB each: over the default limit of 256 MiB
    member = gzip.compress(b"\n" * (1 << 20), compresslevel=9)
    with pytest.raises(_native.BodyTooLarge, match="exceeds the limit of 268435456 bytes"):
        decode(member * 300, "ndjson", gzip=True)
    # exactly at the limit is accepted
    body = b'[{"namespace":"a","name":"b","value":1}]'
    assert decode(gzip.compress(body), "json", gzip=True, max_decompressed=len(body)).accepted == 1
    with pytest.raises(_native.BodyTooLarge):
        decode(gzip.compress(body), "json", gzip=True, max_decompressed=len(body) - 1)


def test_deep_nesting_does_not_crash() -> None:
    for body in (b"[" * 1_000_000, b"[" * 100_000 + b"]" * 100_000, b'[{"a":' * 50_000):
        try:
            decode(body, "json")
        except _native.IngestError:
            pass
        decode(body, "ndjson")


@settings(max_examples=500)
@given(
    body=st.binary(max_size=300), fmt=st.sampled_from(["json", "ndjson", "csv"]), gz=st.booleans()
)
def test_random_bytes_never_crash(body: bytes, fmt: str, gz: bool) -> None:
    try:
        b = decode(body, fmt, gzip=gz)
    except _native.IngestError:
        return
    assert b.total == b.accepted + len(b.rejected)
    assert len(block_rows(b)) == b.accepted


@settings(max_examples=300)
@given(
    body=st.lists(
        st.sampled_from(
            [
                b"{",
                b"}",
                b"[",
                b"]",
                b'"',
                b":",
                b",",
                b'"namespace"',
                b'"value"',
                b"1",
                b"\n",
                b"\\",
                b"null",
                b"\xc3\xa9",
                b"\xff",
            ]
        ),
        max_size=60,
    ).map(b"".join)
)
def test_structured_junk_never_crashes(body: bytes) -> None:
    try:
        decode(body, "csv")
    except _native.IngestError:
        pass
    check_same(body, "json")
    check_same(body, "ndjson")


# -- the batch's block --------------------------------------------------------------


def test_encode_block_missing_hash_is_key_error() -> None:
    b = decode(
        b'[{"namespace":"a","name":"b","value":1},{"namespace":"a","name":"c","value":1}]', "json"
    )
    h1, h2 = (s[0] for s in b.series())
    with pytest.raises(KeyError) as e:
        b.encode_block({h1: 1})
    assert e.value.args == (h2,)
    with pytest.raises(OverflowError):
        b.encode_block({h1: 1, h2: 2**63})
    # an empty batch needs no ids
    assert chunks.decode_block(decode(b"[]", "json").encode_block({})) == ([], [], [])


def test_series_hash_is_the_canonical_one() -> None:
    b = decode(
        b'[{"namespace":"app","name":"up","value":1,"labels":{"z":"1","a":"\\u00e9\\n"}}]', "json"
    )
    assert b.series() == [
        (
            _native.series_hash("app", "up", {"a": "é\n", "z": "1"}),
            "app",
            "up",
            '{"a":"é\\n","z":"1"}',
        )
    ]
    assert b.series()[0][0] == reference.series_hash("app", "up", {"z": "1", "a": "é\n"})


def test_reference_time_rules() -> None:
    assert ref.parse_rfc3339("2023-11-14T22:13:20Z") == NOW
    assert ref.parse_rfc3339("1969-12-31T23:59:59.9999999Z") == -1
    assert ref.epoch_us(1e11) == 10**14
    assert ref.epoch_us(99_999_999_999.0) == 99_999_999_999 * 10**6
    assert ref.epoch_us(-5.5) == -5_500_000
    dt = datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone(timedelta(hours=2)))
    assert ref.parse_rfc3339(dt.isoformat()) == int(dt.timestamp()) * 10**6


@pytest.mark.parametrize(
    ("ts", "want"),
    [
        ("2023-11-14T22:13:20Z", NOW),
        ("2023-11-14t22:13:20.123456789z", NOW + 123_456),
        ("2023-11-15T00:13:20+02:00", NOW),
        (1_700_000_000, NOW),
        (1_700_000_000.5, NOW + 500_000),
        (1_700_000_000_000, NOW),
        (1_700_000_000_000.5, NOW + 500),
        (None, NOW),
    ],
)
def test_timestamp_forms(ts: Any, want: int) -> None:
    body = json.dumps([{"namespace": "a", "name": "b", "value": 1, "timestamp": ts}]).encode()
    (row,) = block_rows(decode(body, "json"))
    assert row[1] == want


def test_bytearray_body_and_gil_free_threads() -> None:
    import threading

    body = json.dumps([{"namespace": "a", "name": "b", "value": i} for i in range(20_000)]).encode()
    assert decode(bytearray(body), "json").accepted == 20_000
    results: list[int] = []

    def work() -> None:
        results.append(decode(body, "json").accepted)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [20_000] * 4
