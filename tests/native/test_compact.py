"""hearth_core.metrics.chunks.compact_columns (the one-call compaction kernel) against a
pure-Python model built on decode_block / decode_chunk and the reference rollups."""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hearth_core.metrics import chunks
from tests.native import chunk_reference as ref
from tests.native.test_chunks import BITS, CODECS, to_floats

HOUR = chunks.HOUR_US
QUARTER = HOUR // 4
T0 = 1_764_504_000_000_000  # a multiple of 2 h

TIMES = st.builds(
    lambda k, us: T0 + k * QUARTER + us,
    st.integers(-12, 11),
    st.one_of(st.just(0), st.integers(0, 999_999)),
)
SAMPLE = st.tuples(st.integers(0, 3), TIMES, BITS)
BLOCKS = st.lists(st.lists(SAMPLE, max_size=20), max_size=4)
EXISTING = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.integers(-2, 1),
        st.lists(st.tuples(st.integers(0, 7), st.integers(0, 999), BITS), min_size=1, max_size=10),
        st.sampled_from(CODECS),
    ),
    max_size=5,
)


def block(samples: list[tuple[int, int, int]]) -> bytes:
    return chunks.encode_block(
        [s for s, _, _ in samples], [t for _, t, _ in samples], to_floats([b for *_, b in samples])
    )


def existing_chunks(spec, window_us: int) -> dict[tuple[int, int], bytes]:
    out = {}
    for sid, w, samples, codec in spec:
        start = T0 + w * 2 * HOUR
        if start % window_us:
            continue
        ts = [start + q * QUARTER + us for q, us, _ in samples]
        pairs = [
            (t, b)
            for t, (_, _, b) in zip(ts, samples, strict=True)
            if t // window_us * window_us == start
        ]
        if pairs:
            out[(sid, start)] = chunks.encode_chunk(
                [t for t, _ in pairs], to_floats([b for _, b in pairs]), codec
            )
    return out


def model(blocks: list[bytes], existing: dict[tuple[int, int], bytes], window_us: int):
    """key → (sorted (t, bits) samples, touched hours), from the decoded inputs."""
    out: dict[tuple[int, int], tuple[dict[int, int], set[int]]] = {}
    for data in blocks:  # write order: a later block overwrites
        ids, ts, vs = chunks.decode_block(data)
        for sid, t, v in zip(ids, ts, vs, strict=True):
            key = (sid, t // window_us * window_us)
            if key not in out:
                old = {}
                if key in existing:
                    ots, ovs = chunks.decode_chunk(existing[key])
                    old = dict(zip(ots, map(ref.float_bits, ovs), strict=True))
                out[key] = (old, set())
            out[key][0][t] = ref.float_bits(v)
            out[key][1].add(t // HOUR * HOUR)
    return {k: (sorted(m.items()), hours) for k, (m, hours) in sorted(out.items())}


@dataclass
class Window:
    """One touched window of compact_columns' result, its rows regrouped."""

    series_id: int
    window_start_us: int
    samples: int
    min_time_us: int
    max_time_us: int
    last_value: float | None
    data: bytes
    baseline: float | None
    rollups: list[ref.Rollup]
    empty_hours: tuple[int, ...]


def compact(blocks, existing, window_us, codec="pco", prev=None) -> list[Window]:
    """compact_columns, regrouped per window (checking the columns are consistent)."""
    chunk_cols, hour_cols, (empty_sids, empty_hours), edge_cols = chunks.compact_columns(
        blocks, existing, window_us, codec, prev
    )
    assert len({len(c) for c in chunk_cols}) <= 1 and len({len(c) for c in hour_cols}) <= 1
    assert len(empty_sids) == len(empty_hours)
    # Edges: one row per recomputed hour holding any entry, as chunk_edges gives them.
    assert len({len(c) for c in edge_cols}) <= 1
    out = [
        Window(sid, w, n, lo, hi, last, data, base, [], ())
        for sid, w, n, lo, hi, last, data, base in zip(*chunk_cols, strict=True)
    ]
    at = {(w.series_id, w.window_start_us): w for w in out}
    hour_rows = list(zip(*hour_cols, strict=True))
    # key order, then hour order: the rows come grouped by window
    assert hour_rows == sorted(hour_rows, key=lambda r: (r[0], r[1]))
    for sid, *r in hour_rows:
        at[(sid, r[0] // window_us * window_us)].rollups.append(ref.Rollup(*r))
    for sid, h in zip(empty_sids, empty_hours, strict=True):
        w = at[(sid, h // window_us * window_us)]
        w.empty_hours = (*w.empty_hours, h)
    # Edges: every recomputed hour's first and last raw entry (markers included), bit for
    # bit — the tail of what chunk_edges reads from the merged chunk.
    edge_rows = list(zip(*edge_cols, strict=True))
    for w in out:
        got = [
            e
            for e in edge_rows
            if (e[0], e[1] // window_us * window_us) == (w.series_id, w.window_start_us)
        ]
        assert got, "every touched window has a touched hour"
        whole = list(zip(*chunks.chunk_edges([(w.series_id, w.data)]), strict=True))
        assert [_bits(e) for e in got] == [_bits(e) for e in whole if e[1] >= got[0][1]]
    return out


def _bits(edge: tuple[int, int, int, float, int, float]) -> tuple[int, ...]:
    sid, b, ft, f, et, e = edge
    return (
        sid,
        b,
        ft,
        struct.unpack("<Q", struct.pack("<d", f))[0],
        et,
        struct.unpack("<Q", struct.pack("<d", e))[0],
    )


def same_float(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


@settings(max_examples=200, deadline=None)
@given(BLOCKS, EXISTING, st.sampled_from(CODECS), st.sampled_from([HOUR, 2 * HOUR]))
def test_compaction_matches_the_model_and_is_idempotent(
    samples, spec, codec: chunks.Codec, window_us: int
) -> None:
    blocks = [block(s) for s in samples]
    existing = existing_chunks(spec, window_us)
    got = compact(blocks, existing, window_us, codec)
    want = model(blocks, existing, window_us)
    assert [(c.series_id, c.window_start_us) for c in got] == list(want)
    assert chunks.touched_windows(blocks, window_us) == list(want)
    for c, (key, (pairs, hours)) in zip(got, want.items(), strict=True):
        ts, vs = chunks.decode_chunk(c.data)
        assert list(zip(ts, map(ref.float_bits, vs), strict=True)) == pairs
        assert chunks.chunk_header(c.data)[0] == codec
        assert (c.samples, c.min_time_us, c.max_time_us) == (len(pairs), pairs[0][0], pairs[-1][0])
        first = min(hours)
        # the window just before, merged in the same call, is the counter baseline
        before = want.get((key[0], key[1] - window_us))
        values = [ref.bits_float(b) for _, b in before[0]] if before else []
        baseline = next((v for v in reversed(values) if not math.isnan(v)), None)
        rows = [
            r
            for r in ref.rollups([t for t, _ in pairs], [b for _, b in pairs], 3600, baseline)
            if r.bucket_us >= first
        ]
        mine = [ref.bits_float(b) for _, b in pairs]
        last = next((v for v in reversed(mine) if not math.isnan(v)), None)
        assert c.last_value == last
        assert c.baseline == baseline
        assert [r.bucket_us for r in c.rollups] == [r.bucket_us for r in rows]
        for g, w in zip(c.rollups, rows, strict=True):
            assert (g.count, g.last_time_us) == (w.count, w.last_time_us)
            for field in ("sum", "min", "max", "last", "increase"):
                assert same_float(getattr(g, field), getattr(w, field)), field
        assert c.empty_hours == tuple(
            sorted(h for h in hours if h not in {r.bucket_us for r in rows})
        )

    # the redo of a pass, with each window's stored baseline passed back
    again = compact(
        blocks,
        {**existing, **{(c.series_id, c.window_start_us): c.data for c in got}},
        window_us,
        codec,
        {(c.series_id, c.window_start_us): c.baseline for c in got if c.baseline is not None},
    )
    assert [(c.data, c.samples, c.empty_hours, c.baseline) for c in again] == [
        (c.data, c.samples, c.empty_hours, c.baseline) for c in got
    ]
    assert [len(c.rollups) for c in again] == [len(c.rollups) for c in got]


def test_staleness_marker_and_prev_value() -> None:
    old = chunks.encode_chunk([T0, T0 + 30], [1.0, 2.0])
    blocks = [block([(7, T0 + 30, ref.float_bits(3.0))]), block([(7, T0 + 15, ref.STALE_NAN_BITS)])]
    [c] = compact(blocks, {(7, T0): old}, 2 * HOUR, "gorilla", {(7, T0): 0.5})
    ts, vs = chunks.decode_chunk(c.data)
    assert ts == [T0, T0 + 15, T0 + 30]
    assert ref.is_stale(vs[1])
    [r] = c.rollups
    assert (r.bucket_us, r.count, r.sum, r.increase, r.last) == (T0, 2, 4.0, 2.5, 3.0)
    assert c.empty_hours == ()
    assert c.baseline == 0.5


def test_errors_name_the_block_or_key() -> None:
    good = block([(1, T0, 0)])
    torn = good[:-1]
    with pytest.raises(chunks.BlockError, match=r"blocks\[1\]"):
        chunks.compact_columns([good, torn], {}, 2 * HOUR)
    with pytest.raises(chunks.BlockError, match=r"blocks\[1\]"):
        chunks.touched_windows([good, torn], 2 * HOUR)
    bad = bytearray(chunks.encode_chunk([T0 + 1], [1.0]))
    bad[-1] ^= 1
    with pytest.raises(chunks.ChunkError, match=rf"\(1, {T0}\)"):
        chunks.compact_columns([good], {(1, T0): bytes(bad)}, 2 * HOUR)
    for w in (0, -HOUR, HOUR + 1, 60_000_000):
        with pytest.raises(ValueError, match="multiple"):
            chunks.compact_columns([good], {}, w)
        with pytest.raises(ValueError, match="multiple"):
            chunks.touched_windows([good], w)
    with pytest.raises(ValueError, match="codec"):
        chunks.compact_columns([good], {}, HOUR, "zstd")  # type: ignore[arg-type]
