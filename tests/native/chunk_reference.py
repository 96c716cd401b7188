"""Pure-Python reference for the native chunk codec, rollups and write-log blocks.

Independent of the Rust code, written from the format descriptions in
``native/src/chunk/mod.rs``, ``native/src/chunk/gorilla.rs`` and
``native/src/block/mod.rs``. The Gorilla chunk (codec 1) and the block are
reproduced byte for byte; for pcodec chunks (codec 2) only the header and the
round-trip semantics are modelled (pco itself is not re-implemented here).

Values travel as 64-bit patterns (``int``), never as floats, so NaN payloads and
``-0.0`` are compared exactly.
"""

from __future__ import annotations

import itertools
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from tests.native.reference import xxh64

M64 = (1 << 64) - 1
STALE_NAN_BITS = 0x7FF0000000000002
GORILLA = 1
PCO = 2
MAX_SAMPLES = 1 << 20
# (prefix, prefix bits, value bits) of the delta-of-delta classes, narrowest first.
DOD_CLASSES = ((0b10, 2, 14), (0b110, 3, 17), (0b1110, 4, 20))


def is_stale(v: float) -> bool:
    """Is ``v`` Prometheus's staleness marker, bit for bit (other NaNs are not)?"""
    return float_bits(v) == STALE_NAN_BITS


def float_bits(v: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", v))[0]


def bits_float(b: int) -> float:
    return struct.unpack("<d", struct.pack("<Q", b))[0]


STALE_NAN = bits_float(STALE_NAN_BITS)


def signed(u: int) -> int:
    u &= M64
    return u - (1 << 64) if u >> 63 else u


# --- samples -----------------------------------------------------------------


def normalize(ts: Sequence[int], bits: Sequence[int]) -> tuple[list[int], list[int]]:
    """Sorted by time; of equal timestamps the last one in input order wins."""
    latest: dict[int, int] = {}
    for t, b in zip(ts, bits, strict=True):
        latest[t] = b
    keys = sorted(latest)
    return keys, [latest[t] for t in keys]


# --- varints and bits -----------------------------------------------------------


def uvarint(v: int) -> bytes:
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def varint(v: int) -> bytes:
    return uvarint(((v << 1) ^ (v >> 63)) & M64)


class Bits:
    def __init__(self) -> None:
        self.bits: list[str] = []

    def write(self, v: int, n: int) -> None:
        if n:
            self.bits.append(format(v & ((1 << n) - 1), f"0{n}b"))

    def finish(self) -> bytes:
        s = "".join(self.bits)
        s += "1" * (-len(s) % 8)  # padded with one bits
        return int(s, 2).to_bytes(len(s) // 8, "big") if s else b""


def _fits(dod: int, n: int) -> bool:
    half = 1 << (n - 1)
    return -(half - 1) <= dod <= half


def _gcd_unit(ts: Sequence[int]) -> int:
    g = 0
    for a, b in itertools.pairwise(ts):
        g = math.gcd(g, (b - a) & M64)
    return max(g, 1)


def _gorilla_payload(ts: list[int], bits: list[int], unit: int) -> bytes:
    w = Bits()
    w.write(bits[0], 64)
    window: tuple[int, int] | None = None
    prev_delta = 0
    for i in range(1, len(ts)):
        delta = ((ts[i] - ts[i - 1]) & M64) // unit
        dod = signed(delta - prev_delta)
        prev_delta = delta
        if dod == 0:
            w.write(0, 1)
        else:
            for prefix, plen, vbits in DOD_CLASSES:
                if _fits(dod, vbits):
                    w.write(prefix, plen)
                    w.write(dod, vbits)
                    break
            else:
                w.write(0b1111, 4)
                w.write(dod, 64)
        x = bits[i] ^ bits[i - 1]
        if x == 0:
            w.write(0, 1)
            continue
        w.write(1, 1)
        leading = min(64 - x.bit_length(), 31)
        trailing = (x & -x).bit_length() - 1
        if window is not None and leading >= window[0] and trailing >= window[1]:
            lw, tw = window
            w.write(0, 1)
            w.write(x >> tw, 64 - lw - tw)
        else:
            sig = 64 - leading - trailing
            w.write(1, 1)
            w.write(leading, 5)
            w.write(sig & 63, 6)
            w.write(x >> trailing, sig)
            window = (leading, trailing)
    return w.finish()


def encode_gorilla(ts: Sequence[int], bits: Sequence[int]) -> bytes:
    """A codec-1 chunk, byte for byte."""
    ts, bits = normalize(ts, bits)
    out = bytearray([GORILLA]) + uvarint(len(ts))
    if ts:
        out += varint(ts[0])
        unit = _gcd_unit(ts)
        if len(ts) >= 2:
            out += uvarint(unit)
        out += _gorilla_payload(ts, bits, unit)
    out += struct.pack("<I", xxh64(bytes(out)) & 0xFFFFFFFF)
    return bytes(out)


@dataclass(frozen=True)
class Header:
    codec: int
    count: int
    first: int | None


def _read_uvarint(data: bytes, pos: int) -> tuple[int, int]:
    v = 0
    for i in range(10):
        b = data[pos + i]
        v |= (b & 0x7F) << (7 * i)
        if b < 0x80:
            return v, pos + i + 1
    raise ValueError("varint too long")


def header(data: bytes) -> Header:
    """Codec, count and first timestamp of a chunk of either codec (checksum verified)."""
    body, (checksum,) = data[:-4], struct.unpack("<I", data[-4:])
    assert xxh64(body) & 0xFFFFFFFF == checksum
    count, pos = _read_uvarint(body, 1)
    first = None
    if count:
        z, pos = _read_uvarint(body, pos)
        first = (z >> 1) ^ -(z & 1)
    return Header(body[0], count, first)


# --- rollups -------------------------------------------------------------------


@dataclass
class Rollup:
    bucket_us: int
    count: int
    sum: float
    min: float
    max: float
    last: float
    last_time_us: int
    increase: float


def rollups(
    ts: Sequence[int], bits: Sequence[int], bucket_seconds: int, prev: float | None = None
) -> list[Rollup]:
    """The documented rules, restated bucket by bucket."""
    return rollups_us(ts, bits, bucket_seconds * 1_000_000, prev)


def rollups_us(
    ts: Sequence[int], bits: Sequence[int], width: int, prev: float | None = None
) -> list[Rollup]:
    """``rollups`` with the bucket width in µs."""
    ts, bits = normalize(ts, bits)
    buckets: dict[int, list[tuple[int, float, float]]] = {}
    counter = None if prev is None or math.isnan(prev) else prev
    for t, b in zip(ts, bits, strict=True):
        if b == STALE_NAN_BITS:
            continue
        v = bits_float(b)
        inc = 0.0
        if not math.isnan(v):
            if counter is not None:
                inc = v if v < counter else v - counter
            counter = v
        buckets.setdefault(t // width * width, []).append((t, v, inc))
    out = []
    for start, xs in buckets.items():
        numbers = [v for _, v, _ in xs if not math.isnan(v)]
        total = 0.0
        increase = 0.0
        for _, v, inc in xs:
            total += v
            increase += inc
        out.append(
            Rollup(
                bucket_us=start,
                count=len(xs),
                sum=total,
                min=min(numbers) if numbers else math.nan,
                max=max(numbers) if numbers else math.nan,
                last=xs[-1][1],
                last_time_us=xs[-1][0],
                increase=increase,
            )
        )
    return out


# --- the read kernel --------------------------------------------------------------


def merged_samples(
    chunks: Sequence[tuple[int, Sequence[tuple[int, int]]]],
    blocks: Sequence[Sequence[tuple[int, int, int]]],
    lo: int,
    hi: int,
) -> dict[int, list[tuple[int, int]]]:
    """series → sorted ``(t, bits)`` in ``[lo, hi)``.

    Every chunk sample in the order given (a chunk's own duplicates: the later one),
    then every block sample in write order, each overwriting the one before at its
    timestamp.
    """
    latest: dict[int, dict[int, int]] = {}
    for sid, samples in chunks:
        for t, b in samples:
            latest.setdefault(sid, {})[t] = b
    for block in blocks:
        for sid, t, b in block:
            latest.setdefault(sid, {})[t] = b
    out = {}
    for sid in sorted(latest):
        pairs = sorted((t, b) for t, b in latest[sid].items() if lo <= t < hi)
        if pairs:
            out[sid] = pairs
    return out


def _add_all(xs: Sequence[float]) -> float:
    total = 0.0
    for x in xs:
        total += x
    return total


def aggregate_windows(
    series: Sequence[tuple[int, int]],
    samples: dict[int, list[tuple[int, int]]],
    first: int,
    step: int,
    agg: str,
) -> list[tuple[int, list[int], list[float]]]:
    """The documented combination of the series' step rollups per group.

    ``samples`` are the merged samples in ``[lo, hi)`` (``merged_samples``).
    """
    per_series = []
    for sid, group in series:
        pairs = samples.get(sid, [])
        rows = rollups_us([t for t, _ in pairs], [b for _, b in pairs], step)
        per_series.append((group, {r.bucket_us: r for r in rows}))
    out = []
    for group in sorted({g for _, g in series}):
        members = [rows for g, rows in per_series if g == group]
        starts, values = [], []
        for w in sorted({w for rows in members for w in rows if w >= first}):
            here = [rows[w] for rows in members if w in rows]
            if agg == "rate":
                qualified = [rows[w] for rows in members if w in rows and w - step in rows]
                if not qualified:
                    continue
                value = _add_all([r.increase / (step / 1e6) for r in qualified])
            elif agg == "count":
                value = float(sum(r.count for r in here))
            elif agg == "sum":
                value = _add_all([r.sum for r in here])
            elif agg == "avg":
                value = _add_all([r.sum for r in here]) / sum(r.count for r in here)
            elif agg in ("min", "max"):
                numbers = [getattr(r, agg) for r in here if not math.isnan(getattr(r, agg))]
                value = (min if agg == "min" else max)(numbers) if numbers else math.nan
            elif agg == "last":
                latest = max(r.last_time_us for r in here)
                value = next(r.last for r in here if r.last_time_us == latest)
            else:
                raise ValueError(agg)
            starts.append(w)
            values.append(value)
        if starts:
            out.append((group, starts, values))
    return out


# --- write-log blocks -----------------------------------------------------------


def encode_block(ids: Sequence[int], ts: Sequence[int], bits: Sequence[int]) -> bytes:
    """A block, byte for byte."""
    rows = sorted(zip(ids, ts, bits, strict=True), key=lambda r: (r[0], r[1]))  # stable
    base = min(ts, default=0)
    runs: list[tuple[int, list[tuple[int, int, int]]]] = []
    for r in rows:
        if runs and runs[-1][0] == r[0]:
            runs[-1][1].append(r)
        else:
            runs.append((r[0], [r]))
    body = bytearray(b"".join(struct.pack("<Q", r[2]) for r in rows))
    prev_id = 0
    for i, (sid, members) in enumerate(runs):
        body += varint(sid) if i == 0 else uvarint((sid - prev_id) & M64)
        body += uvarint(len(members))
        prev_id = sid
    for _, members in runs:
        prev = base
        for _, t, _ in members:
            body += uvarint((t - prev) & M64)
            prev = t
    head = b"HLB\x01" + struct.pack("<IIq", len(rows), len(runs), base)
    return head + struct.pack("<Q", xxh64(head + bytes(body))) + bytes(body)
