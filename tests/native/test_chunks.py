"""hearth_core.metrics.chunks (native chunk codec, rollups, write-log blocks) against
the pure-Python reference in tests/native/chunk_reference.py."""

from __future__ import annotations

import json
import math
import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hearth_core import _native
from hearth_core.metrics import chunks
from tests.native import chunk_reference as ref

I64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
# Any 64-bit pattern; NaNs with random payloads and signs; the usual suspects.
NAN_BITS = st.builds(
    lambda sign, payload: (sign << 63) | 0x7FF0000000000000 | payload,
    st.integers(0, 1),
    st.integers(1, (1 << 52) - 1),
)
BITS = st.one_of(
    st.integers(0, ref.M64),
    NAN_BITS,
    st.sampled_from([ref.STALE_NAN_BITS, ref.float_bits(-0.0), ref.float_bits(math.inf)]),
    st.floats(allow_nan=True).map(ref.float_bits),
    st.integers(0, 1000).map(lambda i: ref.float_bits(float(i))),
)
CODECS: list[chunks.Codec] = ["pco", "gorilla"]


def to_floats(bits: list[int]) -> list[float]:
    return [ref.bits_float(b) for b in bits]


def to_bits(values: list[float]) -> list[int]:
    return [ref.float_bits(v) for v in values]


def scrape(n: int, seed: int, step_us: int = 15_000_000) -> tuple[list[int], list[float]]:
    rng = random.Random(seed)
    t0 = 1_764_500_000_000_000
    ts = [t0 + i * step_us + rng.randint(-3, 3) * 1000 for i in range(n)]
    v = 0.0
    vs = []
    for _ in range(n):
        v += rng.randint(0, 9)
        vs.append(v)
    return ts, vs


@settings(max_examples=300)
@given(st.lists(st.tuples(I64, BITS), max_size=200))
def test_gorilla_bytes_equal_the_reference(samples: list[tuple[int, int]]) -> None:
    ts = [t for t, _ in samples]
    bits = [b for _, b in samples]
    assert chunks.encode_chunk(ts, to_floats(bits), "gorilla") == ref.encode_gorilla(ts, bits)


@settings(max_examples=300)
@given(st.lists(st.tuples(I64, BITS), max_size=200), st.sampled_from(CODECS))
def test_round_trip_is_exact_for_every_bit_pattern(
    samples: list[tuple[int, int]], codec: chunks.Codec
) -> None:
    ts = [t for t, _ in samples]
    bits = [b for _, b in samples]
    data = chunks.encode_chunk(ts, to_floats(bits), codec)
    want_ts, want_bits = ref.normalize(ts, bits)
    got_ts, got_values = chunks.decode_chunk(data)
    assert got_ts == want_ts
    assert to_bits(got_values) == want_bits
    h = ref.header(data)
    assert h == ref.Header(ref.PCO if codec == "pco" else ref.GORILLA, len(want_ts), h.first)
    assert chunks.chunk_header(data) == (codec, len(want_ts), want_ts[0] if want_ts else None)


def test_duplicate_timestamp_later_write_wins() -> None:
    data = chunks.encode_chunk([20, 10, 20], [1.0, 2.0, 3.0])
    assert chunks.decode_chunk(data) == ([10, 20], [2.0, 3.0])


def test_staleness_marker_survives_python() -> None:
    assert ref.is_stale(ref.STALE_NAN)
    assert not ref.is_stale(math.nan)
    for codec in CODECS:
        _, values = chunks.decode_chunk(chunks.encode_chunk([1, 2], [ref.STALE_NAN, -0.0], codec))
        assert ref.float_bits(values[0]) == ref.STALE_NAN_BITS
        assert ref.float_bits(values[1]) == ref.float_bits(-0.0)


def test_pco_is_smaller_than_gorilla_on_scrapes() -> None:
    ts, vs = scrape(480, seed=1)
    pco = chunks.encode_chunk(ts, vs, "pco")
    gorilla = chunks.encode_chunk(ts, vs, "gorilla")
    assert len(pco) < len(gorilla) < 480 * 4
    assert chunks.decode_chunk(pco) == chunks.decode_chunk(gorilla) == (ts, vs)


@pytest.mark.parametrize("codec", CODECS)
def test_corrupt_chunks_raise_chunk_error(codec: chunks.Codec) -> None:
    ts, vs = scrape(100, seed=2)
    data = chunks.encode_chunk(ts, vs, codec)
    rng = random.Random(3)
    for n in range(len(data)):
        with pytest.raises(chunks.ChunkError):
            chunks.decode_chunk(data[:n])
    for _ in range(300):
        bad = bytearray(data)
        bad[rng.randrange(len(bad))] ^= rng.randrange(1, 256)
        with pytest.raises(chunks.ChunkError):
            chunks.decode_chunk(bytes(bad))
    with pytest.raises(chunks.ChunkError, match=r"after the last sample|checksum"):
        chunks.decode_chunk(data + b"\0")
    with pytest.raises(chunks.ChunkError, match="version"):
        chunks.decode_chunk(b"\x07" + data[1:])
    for junk in (b"", b"\x02", bytes(range(64)), b"\x01" * 9):
        with pytest.raises(chunks.ChunkError):
            chunks.decode_chunk(junk)
    assert issubclass(chunks.ChunkError, ValueError)


def test_encode_errors() -> None:
    with pytest.raises(chunks.ChunkError, match="lengths must be equal"):
        chunks.encode_chunk([1, 2], [1.0])
    with pytest.raises(ValueError, match="codec"):
        chunks.encode_chunk([1], [1.0], "zstd")  # type: ignore[arg-type]
    with pytest.raises(OverflowError):
        chunks.encode_chunk([2**63], [1.0])
    with pytest.raises(TypeError):
        chunks.encode_chunk(["1"], [1.0])  # type: ignore[list-item]


@settings(max_examples=300)
@given(
    st.lists(st.tuples(st.integers(-(10**12), 10**13), BITS), max_size=120),
    st.sampled_from([60, 3600]),
    st.one_of(st.none(), BITS.map(ref.bits_float)),
)
def test_rollups_match_the_reference(
    samples: list[tuple[int, int]], bucket_seconds: int, prev: float | None
) -> None:
    ts = [t for t, _ in samples]
    bits = [b for _, b in samples]
    got = [ref.Rollup(*r) for r in chunks.rollups(ts, to_floats(bits), bucket_seconds, prev)]
    want = ref.rollups(ts, bits, bucket_seconds, prev)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert (g.bucket_us, g.count, g.last_time_us) == (w.bucket_us, w.count, w.last_time_us)
        for field in ("sum", "min", "max", "last", "increase"):
            a, b = getattr(g, field), getattr(w, field)
            assert a == b or (math.isnan(a) and math.isnan(b)), field
        assert ref.float_bits(g.last) == ref.float_bits(w.last)


def test_rollups_of_a_counter_with_a_reset() -> None:
    s = 1_000_000
    ts = [0, 15 * s, 30 * s, 45 * s, 60 * s, 75 * s]
    vs = [10.0, 12.0, ref.STALE_NAN, 15.0, 3.0, 5.0]
    r = [ref.Rollup(*x) for x in chunks.rollups(ts, vs, 60, prev_value=8.0)]
    assert r == [
        ref.Rollup(0, 3, 37.0, 10.0, 15.0, 15.0, 45 * s, 7.0),
        ref.Rollup(60 * s, 2, 8.0, 3.0, 5.0, 5.0, 75 * s, 5.0),
    ]
    assert chunks.rollups(ts, vs, 3600)[0][7] == 10.0  # 2 + 3 + 3 + 2
    with pytest.raises(ValueError, match="bucket_seconds"):
        chunks.rollups(ts, vs, 0)


@settings(max_examples=200)
@given(st.lists(st.tuples(st.integers(-5, 20), I64, BITS), max_size=150))
def test_block_bytes_equal_the_reference(rows: list[tuple[int, int, int]]) -> None:
    ids = [r[0] for r in rows]
    ts = [r[1] for r in rows]
    bits = [r[2] for r in rows]
    data = chunks.encode_block(ids, ts, to_floats(bits))
    assert data == ref.encode_block(ids, ts, bits)
    got_ids, got_ts, got_values = chunks.decode_block(data)
    want = sorted(zip(ids, ts, bits, strict=True), key=lambda r: (r[0], r[1]))
    assert list(zip(got_ids, got_ts, to_bits(got_values), strict=True)) == want


def test_corrupt_blocks_raise_block_error() -> None:
    rng = random.Random(4)
    ids = [rng.randrange(1000) for _ in range(500)]
    ts, vs = scrape(500, seed=5)
    data = chunks.encode_block(ids, ts, vs)
    for n in range(0, len(data), 7):
        with pytest.raises(chunks.BlockError):
            chunks.decode_block(data[:n])
    for _ in range(300):
        bad = bytearray(data)
        bad[rng.randrange(len(bad))] ^= rng.randrange(1, 256)
        with pytest.raises(chunks.BlockError):
            chunks.decode_block(bytes(bad))
    with pytest.raises(chunks.BlockError, match="magic"):
        chunks.decode_block(b"PGCOPY\n\xff\r\n\0" + bytes(30))
    with pytest.raises(chunks.BlockError, match="lengths must be equal"):
        chunks.encode_block([1], [1, 2], [1.0])
    assert issubclass(chunks.BlockError, ValueError)
    assert chunks.decode_block(chunks.encode_block([], [], [])) == ([], [], [])


def test_one_scrape_block_is_compact() -> None:
    ids = list(range(1, 10_001))
    ts = [1_764_500_000_000_000] * 10_000
    vs = [float(i) for i in range(10_000)]
    data = chunks.encode_block(ids, ts, vs)
    # 8 value bytes + 1-byte id delta + 1-byte run length + 1-byte time offset.
    assert len(data) == 28 + 10_000 * 11
    assert struct.unpack_from("<I", data, 4)[0] == 10_000


def test_decoded_batch_encodes_its_points_as_a_block() -> None:
    body = json.dumps(
        [
            {"namespace": "n", "name": "b", "value": 2.5, "timestamp": 1_700_000_010},
            {"namespace": "n", "name": "a", "value": -0.0, "timestamp": 1_700_000_000},
            {"namespace": "n", "name": "b", "value": 1.5, "timestamp": 1_700_000_000},
        ]
    ).encode()
    now = 1_700_000_000_000_000
    batch = _native.decode_points(body, "json", now_us=now, min_time_us=0, max_time_us=2 * now)
    ids = {h: 10 + i for i, (h, *_) in enumerate(batch.series())}  # b -> 10, a -> 11
    data = batch.encode_block(ids)
    assert chunks.decode_block(data) == (
        [10, 10, 11],
        [1_700_000_000_000_000, 1_700_000_010_000_000, 1_700_000_000_000_000],
        [1.5, 2.5, -0.0],
    )
    with pytest.raises(KeyError):
        batch.encode_block({})
