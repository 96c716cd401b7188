"""Pure-Python reference for the native series hash.

Independent of the Rust code and of any xxhash package: XXH64 is written out
from the xxHash specification, and the canonical encoding follows the contract
documented in ``native/src/series.rs``:

    u32le len(namespace) + namespace utf-8
    u32le len(name)      + name utf-8
    u32le label_count
    per label, keys in ascending UTF-8 byte order:
        u32le len(key) + key utf-8 + u32le len(value) + value utf-8

The series hash is XXH64(seed=0) of that encoding, reinterpreted as a signed
64-bit integer (two's complement) so it fits PostgreSQL ``bigint``.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterable, Mapping

_M64 = 0xFFFFFFFFFFFFFFFF
P1 = 0x9E3779B185EBCA87
P2 = 0xC2B2AE3D27D4EB4F
P3 = 0x165667B19E3779F9
P4 = 0x85EBCA77C2B2AE63
P5 = 0x27D4EB2F165667C5

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _M64


def _round(acc: int, lane: int) -> int:
    acc = (acc + lane * P2) & _M64
    acc = _rotl(acc, 31)
    return (acc * P1) & _M64


def _merge(acc: int, val: int) -> int:
    acc ^= _round(0, val)
    return (acc * P1 + P4) & _M64


def xxh64(data: bytes, seed: int = 0) -> int:
    """XXH64 of ``data`` as an unsigned 64-bit integer."""
    n = len(data)
    i = 0
    if n >= 32:
        v1 = (seed + P1 + P2) & _M64
        v2 = (seed + P2) & _M64
        v3 = seed & _M64
        v4 = (seed - P1) & _M64
        limit = n - 32
        while i <= limit:
            a, b, c, d = struct.unpack_from("<4Q", data, i)
            v1 = _round(v1, a)
            v2 = _round(v2, b)
            v3 = _round(v3, c)
            v4 = _round(v4, d)
            i += 32
        h = (_rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)) & _M64
        h = _merge(h, v1)
        h = _merge(h, v2)
        h = _merge(h, v3)
        h = _merge(h, v4)
    else:
        h = (seed + P5) & _M64
    h = (h + n) & _M64
    while i + 8 <= n:
        (k,) = _U64.unpack_from(data, i)
        h ^= _round(0, k)
        h = (_rotl(h, 27) * P1 + P4) & _M64
        i += 8
    if i + 4 <= n:
        (k,) = _U32.unpack_from(data, i)
        h ^= (k * P1) & _M64
        h = (_rotl(h, 23) * P2 + P3) & _M64
        i += 4
    while i < n:
        h ^= (data[i] * P5) & _M64
        h = (_rotl(h, 11) * P1) & _M64
        i += 1
    h ^= h >> 33
    h = (h * P2) & _M64
    h ^= h >> 29
    h = (h * P3) & _M64
    h ^= h >> 32
    return h


def _put(out: bytearray, s: str) -> None:
    b = s.encode("utf-8")
    out += _U32.pack(len(b))
    out += b


def canonical_encoding(
    namespace: str, name: str, labels: Mapping[str, str] | Iterable[tuple[str, str]]
) -> bytes:
    """Canonical encoding of a series identity; labels in any order."""
    pairs = list(labels.items()) if isinstance(labels, Mapping) else list(labels)
    encoded = sorted((k.encode("utf-8"), v.encode("utf-8")) for k, v in pairs)
    for (a, _), (b, _) in itertools.pairwise(encoded):
        if a == b:
            raise ValueError(f"duplicate label key {a.decode()!r}")
    out = bytearray()
    _put(out, namespace)
    _put(out, name)
    out += _U32.pack(len(encoded))
    for k, v in encoded:
        out += _U32.pack(len(k))
        out += k
        out += _U32.pack(len(v))
        out += v
    return bytes(out)


def to_signed64(u: int) -> int:
    """Reinterpret an unsigned 64-bit integer as two's-complement signed."""
    return u - (1 << 64) if u >= (1 << 63) else u


def series_hash(namespace: str, name: str, labels: Mapping[str, str]) -> int:
    """Reference series hash: signed XXH64(seed 0) of the canonical encoding."""
    return to_signed64(xxh64(canonical_encoding(namespace, name, labels)))


# Pinned vectors, identical to native/src/series.rs (tests::PINNED). They are part
# of the storage contract: changing one changes every stored metric_series.hash.
PINNED: list[tuple[str, str, dict[str, str], int]] = [
    ("", "", {}, -1193816722499823622),
    ("app", "up", {}, -8116185657382163713),
    (
        "app",
        "http_requests_total",
        {"method": "GET", "code": "200", "path": "/api/v1/users"},
        -8407851450238911828,
    ),
    ("a", "bc", {}, 2341529375075494388),
    ("ab", "c", {}, 3157496833014429138),
    ("n", "m", {"k": ""}, -7715300900583299957),
    ("télémétrie", "température_°C", {"城市": "東京", "emoji": "🔥"}, 6902207761750791063),
]
