"""hearth_core.metrics.chunks' read kernel (aggregate_windows, series_samples,
reencode_chunks) against the plain-Python reference in tests/native/chunk_reference.py."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hearth_core.metrics import chunks
from tests.native import chunk_reference as ref
from tests.native.test_chunks import BITS, CODECS, to_floats

T0 = 1_764_504_000_000_000  # a multiple of every step below
GRID = 5_000
STALE = ref.bits_float(ref.STALE_NAN_BITS)

TIMES = st.builds(
    lambda k, us: T0 + k * GRID + us,
    st.integers(-8, 7),
    # Mostly on the grid, so chunks and blocks often hold the same timestamps.
    st.one_of(st.just(0), st.just(0), st.just(0), st.integers(0, GRID - 1)),
)
# Mostly small counter-like values (so increases and resets happen), and the specials.
VALUES = st.one_of(
    st.integers(0, 20).map(lambda i: ref.float_bits(float(i))),
    st.integers(0, 20).map(lambda i: ref.float_bits(float(i))),
    st.sampled_from([ref.STALE_NAN_BITS, ref.float_bits(math.nan)]),
    BITS,
)
# Series 0..3; the queries list at most 0..2, so 3 is never listed.
SERIES_ID = st.integers(0, 3)
CHUNKS = st.lists(
    st.tuples(SERIES_ID, st.lists(st.tuples(TIMES, VALUES), max_size=8), st.sampled_from(CODECS)),
    max_size=6,
)
BLOCKS = st.lists(st.lists(st.tuples(SERIES_ID, TIMES, VALUES), max_size=14), max_size=3)
SERIES = st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, 1)), max_size=3, unique_by=lambda s: s[0]
)


@st.composite
def ranges(draw: st.DrawFn) -> tuple[int, int, int, int]:
    """``(lo, first, hi, step)`` over the generated times, lo <= first <= hi."""
    step = draw(st.sampled_from([GRID, 10_000, 7_000, 40_000]))
    lo = T0 + draw(st.integers(-45_000, 40_000))
    first = lo + draw(st.integers(0, 30_000))
    hi = first + draw(st.integers(0, 80_000))
    return lo, first, hi, step


def encode_chunks(spec) -> list[tuple[int, bytes]]:
    return [
        (sid, chunks.encode_chunk([t for t, _ in s], to_floats([b for _, b in s]), codec))
        for sid, s, codec in spec
    ]


def encode_blocks(spec) -> list[bytes]:
    return [
        chunks.encode_block(
            [s for s, _, _ in b], [t for _, t, _ in b], to_floats([v for *_, v in b])
        )
        for b in spec
    ]


def value_bits(v: float) -> int:
    """Bits to compare, every NaN as one (NaN payloads of arithmetic results are not specified)."""
    return ref.float_bits(math.nan) if math.isnan(v) else ref.float_bits(v)


def comparable(rows):
    return [(g, ws, [value_bits(v) for v in vs]) for g, ws, vs in rows]


@settings(max_examples=150, deadline=None)
@given(CHUNKS, BLOCKS, SERIES, ranges())
def test_aggregates_equal_the_reference(chunk_spec, block_spec, series, rng) -> None:
    lo, first, hi, step = rng
    encoded_chunks, blocks = encode_chunks(chunk_spec), encode_blocks(block_spec)
    samples = ref.merged_samples([(sid, s) for sid, s, _ in chunk_spec], block_spec, lo, hi)
    for agg in chunks.AGGS:
        got = chunks.aggregate_windows(series, encoded_chunks, blocks, lo, first, hi, step, agg)
        want = ref.aggregate_windows(series, samples, first, step, agg)
        assert comparable(got) == comparable(want), agg


@settings(max_examples=150, deadline=None)
@given(
    CHUNKS,
    BLOCKS,
    ranges(),
    st.one_of(st.none(), st.lists(st.integers(0, 4), max_size=3)),
)
def test_series_samples_equal_the_reference_merge(chunk_spec, block_spec, rng, ids) -> None:
    lo, _, hi, _ = rng
    got = chunks.series_samples(encode_chunks(chunk_spec), encode_blocks(block_spec), lo, hi, ids)
    want = ref.merged_samples([(sid, s) for sid, s, _ in chunk_spec], block_spec, lo, hi)
    assert [(sid, list(zip(ts, map(ref.float_bits, vs), strict=True))) for sid, ts, vs in got] == [
        (sid, pairs) for sid, pairs in want.items() if ids is None or sid in ids
    ]


def test_blocks_override_chunks_and_markers_are_stored_samples() -> None:
    old = chunks.encode_chunk([T0, T0 + 10, T0 + 20], [1.0, 2.0, 3.0], "gorilla")
    newer = chunks.encode_chunk([T0 + 30], [4.0])
    b1 = chunks.encode_block([7, 7], [T0 + 10, T0 + 35], [20.0, 5.0])
    b2 = chunks.encode_block([7, 7, 7, 8], [T0 + 35, T0 + 35, T0, T0 + 5], [6.0, 7.0, STALE, 1.0])
    [(sid, ts, vs)] = chunks.series_samples([(7, newer), (7, old)], [b1, b2], T0, T0 + 40, [7])
    assert (sid, ts) == (7, [T0, T0 + 10, T0 + 20, T0 + 30, T0 + 35])
    assert ref.is_stale(vs[0])
    assert vs[1:] == [20.0, 3.0, 4.0, 7.0]
    # The marker is skipped by the aggregates: window T0 holds only 20.
    got = chunks.aggregate_windows(
        [(7, 0)], [(7, old), (7, newer)], [b1, b2], T0, T0, T0 + 40, 20, "sum"
    )
    assert got == [(0, [T0, T0 + 20], [20.0, 14.0])]
    # Block samples of unlisted series are ignored.
    assert chunks.aggregate_windows([(9, 0)], [], [b1, b2], T0, T0, T0 + 40, 20, "count") == []


def test_group_combination() -> None:
    c1 = chunks.encode_chunk([T0, T0 + 5, T0 + 12], [1.0, math.nan, 4.0])
    c2 = chunks.encode_chunk([T0 + 3, T0 + 5, T0 + 14], [-2.0, 9.0, math.nan])
    c3 = chunks.encode_chunk([T0 + 1], [100.0])
    data = [(1, c1), (2, c2), (3, c3)]

    def query(series, agg):
        return chunks.aggregate_windows(series, data, [], T0, T0, T0 + 20, 10, agg)

    series = [(1, 5), (3, 0), (2, 5)]
    assert query(series, "count") == [(0, [T0], [1.0]), (5, [T0, T0 + 10], [4.0, 2.0])]
    assert query(series, "max")[1] == (5, [T0, T0 + 10], [9.0, 4.0])
    assert query(series, "min")[1] == (5, [T0, T0 + 10], [-2.0, 4.0])
    assert query(series, "avg")[0] == (0, [T0], [100.0])
    assert all(math.isnan(v) for v in query(series, "sum")[1][2])
    # Window T0: series 1 and 2 both end at T0 + 5 — the one listed first wins.
    assert math.isnan(query(series, "last")[1][2][0])
    assert query([(2, 5), (1, 5)], "last")[0][2][0] == 9.0


def test_sum_adds_the_series_in_listed_order() -> None:
    data = [(i, chunks.encode_chunk([T0], [v])) for i, v in enumerate([1e16, 1.0, -1e16])]

    def total(order: list[int]) -> float:
        [(_, _, [value])] = chunks.aggregate_windows(
            [(i, 0) for i in order], data, [], T0, T0, T0 + 1, 10, "sum"
        )
        return value

    assert total([0, 2, 1]) == 1.0
    assert total([0, 1, 2]) == 0.0  # 1e16 + 1 rounds back to 1e16


def test_rate_takes_only_series_with_a_baseline_window() -> None:
    s = 10_000_000
    counter = chunks.encode_chunk(
        [T0, T0 + s, T0 + s + 1, T0 + 2 * s, T0 + 2 * s + 5], [10.0, 40.0, STALE, 5.0, 25.0]
    )
    young = chunks.encode_chunk([T0 + 2 * s, T0 + 2 * s + 1], [100.0, 1000.0])
    data = [(1, counter), (2, young)]
    both = [(1, 0), (2, 0)]
    # lo one step before first: window T0 is the baseline of the first answered window.
    got = chunks.aggregate_windows(both, data, [], T0, T0 + s, T0 + 3 * s, s, "rate")
    assert got == [(0, [T0 + s, T0 + 2 * s], [3.0, 2.5])]  # 30/10 s; reset: (5 + 20)/10 s
    got = chunks.aggregate_windows(both, data, [], T0 + s, T0 + s, T0 + 3 * s, s, "rate")
    assert got == [(0, [T0 + 2 * s], [2.5])]
    assert chunks.aggregate_windows([(2, 0)], data, [], T0, T0, T0 + 3 * s, s, "rate") == []


def test_bad_inputs_raise_naming_the_index() -> None:
    good_chunk = chunks.encode_chunk([T0], [1.0])
    good_block = chunks.encode_block([1], [T0], [1.0])
    bad_chunk = bytearray(good_chunk)
    bad_chunk[-1] ^= 1
    args: tuple[int, int, int, int, chunks.Agg] = (T0, T0, T0 + 10, 10, "sum")
    with pytest.raises(chunks.ChunkError, match=r"chunks\[1\]"):
        chunks.aggregate_windows([(1, 0)], [(1, good_chunk), (1, bytes(bad_chunk))], [], *args)
    with pytest.raises(chunks.ChunkError, match=r"chunks\[1\]"):
        chunks.series_samples([(1, good_chunk), (1, bytes(bad_chunk))], [], T0, T0 + 10)
    with pytest.raises(chunks.BlockError, match=r"blocks\[1\]"):
        chunks.aggregate_windows([(1, 0)], [], [good_block, good_block[:-1]], *args)
    with pytest.raises(chunks.BlockError, match=r"blocks\[1\]"):
        chunks.series_samples([], [good_block, b"HLB"], T0, T0 + 10)
    with pytest.raises(chunks.ChunkError, match=r"chunks\[1\]"):
        chunks.reencode_chunks([good_chunk, b"junk"], "pco")


@pytest.mark.parametrize(
    ("series", "lo", "first", "hi", "step", "agg", "match"),
    [
        ([], 0, 0, 10, 0, "sum", "step_us"),
        ([], 0, 0, 10, -1, "sum", "step_us"),
        ([], 5, 0, 10, 1, "sum", "lo_us <= first_us <= hi_us"),
        ([], 0, 11, 10, 1, "sum", "lo_us <= first_us <= hi_us"),
        ([], 0, 0, 10, 1, "median", "agg"),
        ([(1, -1)], 0, 0, 10, 1, "sum", ">= 0"),
        ([(1, 0), (1, 1)], 0, 0, 10, 1, "sum", "more than once"),
    ],
)
def test_bad_arguments_are_value_errors(series, lo, first, hi, step, agg, match) -> None:
    with pytest.raises(ValueError, match=match) as info:
        chunks.aggregate_windows(series, [], [], lo, first, hi, step, agg)
    assert not isinstance(info.value, chunks.ChunkError | chunks.BlockError)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.lists(st.tuples(TIMES, BITS), max_size=20), st.sampled_from(CODECS))))
def test_reencode_keeps_samples_and_sets_the_codec(spec) -> None:
    data = [
        chunks.encode_chunk([t for t, _ in s], to_floats([b for _, b in s]), c) for s, c in spec
    ]
    for codec in CODECS:
        out = chunks.reencode_chunks(data, codec)
        assert len(out) == len(data)
        for before, after in zip(data, out, strict=True):
            assert chunks.chunk_header(after)[0] == codec
            bts, bvs = chunks.decode_chunk(before)
            ats, avs = chunks.decode_chunk(after)
            assert (ats, list(map(ref.float_bits, avs))) == (bts, list(map(ref.float_bits, bvs)))
    with pytest.raises(ValueError, match="codec"):
        chunks.reencode_chunks(data, "zstd")  # type: ignore[arg-type]
