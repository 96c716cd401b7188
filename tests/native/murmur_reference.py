"""Pure-Python reference for the native feature-flag bucketing.

Independent of the Rust code and of any murmur package: MurmurHash3 x86 32-bit
is written out from Austin Appleby's ``MurmurHash3_x86_32``, and the bucketing
follows Unleash's ``normalizedValue`` (see ``native/src/bucket.rs``)::

    rollout_bucket(group, user)     = murmur3("{group}:{user}", seed=0) % 100 + 1
    variant_bucket(group, user, w)  = murmur3("{group}:{user}", seed=86028157) % w + 1

Strings are hashed as UTF-8.
"""

from __future__ import annotations

import struct

_M32 = 0xFFFFFFFF
C1 = 0xCC9E2D51
C2 = 0x1B873593
ROLLOUT_SEED = 0
VARIANT_SEED = 86028157


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _M32


def _mix_k(k: int) -> int:
    k = (k * C1) & _M32
    k = _rotl(k, 15)
    return (k * C2) & _M32


def murmur3_x86_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3 x86 32-bit of ``data`` as an unsigned 32-bit integer."""
    n = len(data)
    h = seed & _M32
    nblocks = n // 4
    for (k,) in struct.iter_unpack("<I", data[: nblocks * 4]):
        h ^= _mix_k(k)
        h = _rotl(h, 13)
        h = (h * 5 + 0xE6546B64) & _M32
    tail = data[nblocks * 4 :]
    if tail:
        h ^= _mix_k(int.from_bytes(tail, "little"))
    h ^= n & _M32
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _M32
    h ^= h >> 16
    return h


def _key(group: str, user_id: str) -> bytes:
    return f"{group}:{user_id}".encode()


def rollout_bucket(group: str, user_id: str) -> int:
    """Unleash ``normalizedValue(user_id, group, 100)``: 1..100."""
    return murmur3_x86_32(_key(group, user_id), ROLLOUT_SEED) % 100 + 1


def variant_bucket(group: str, user_id: str, total_weight: int) -> int:
    """Unleash variant normalizer: 1..total_weight."""
    if total_weight <= 0:
        raise ValueError("total_weight must be greater than 0")
    return murmur3_x86_32(_key(group, user_id), VARIANT_SEED) % total_weight + 1


# Pinned MurmurHash3 x86_32 vectors, identical to native/src/bucket.rs
# (tests::VECTORS); cross-checked once against the `mmh3` package.
PINNED: list[tuple[bytes, int, int]] = [
    (b"", 0, 0),
    (b"", 1, 0x514E28B7),
    (b"", 0xFFFFFFFF, 0x81F16F39),
    (b"hello", 0, 0x248BFA47),
    (b"The quick brown fox jumps over the lazy dog", 0, 0x2E4FF723),
    # tail lengths 1, 2, 3 and a whole block
    (b"a", 0, 0x3C2569B2),
    (b"ab", 0, 0x9BBFD75F),
    (b"abc", 0, 0xB3DD93FA),
    (b"abcd", 0, 0x43ED676A),
    # seeded, with a block and a tail; non-ASCII UTF-8
    (b"hello", VARIANT_SEED, 0xD7C041AD),
    (b"abcde", 0x9747B28C, 0xE915B832),
    ("é:🔥".encode(), 0, 0x5EF6AF1D),
]

# Unleash client-spec vectors (unleash-client-node tests):
# normalizedValue("123", "gr1") == 73, normalizedValue("999", "groupX") == 25.
UNLEASH: list[tuple[str, str, int]] = [
    ("gr1", "123", 73),
    ("groupX", "999", 25),
]
