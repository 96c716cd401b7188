"""Native core of Hearth Core Services (Rust, built by maturin).

Import only from ``hearth_core``. The series hash is the key of the metric series
dictionary (``metric_series.hash``); it is part of the storage contract.

Canonical encoding of a series identity (all integers u32 little-endian, strings
UTF-8, no normalisation)::

    len(namespace) namespace  len(name) name  label_count
    then, for each label in ascending UTF-8 byte order of its key:
    len(key) key  len(value) value

The series hash is XXH64 (seed 0) of that encoding, reinterpreted as a signed
64-bit integer so it fits PostgreSQL ``bigint``.

Feature-flag bucketing is Unleash-compatible: a user's bucket in a group (usually
the flag name) is MurmurHash3 x86 32-bit of the UTF-8 key ``"{group}:{user_id}"``
reduced to ``1..normalizer``, with seed 0 for rollouts (normalizer 100) and seed
86028157 for variants (normalizer = total variant weight). The buckets are a
contract with the flag configuration: changing them moves users between buckets.
"""

from collections.abc import Iterable

__all__ = [
    "BucketError",
    "SeriesError",
    "__version__",
    "canonical_encoding",
    "murmur3_x86_32",
    "rollout_bucket",
    "rollout_buckets",
    "series_hash",
    "series_hashes",
    "variant_bucket",
]

__version__: str
"""Version of the native crate (equals the Python package version)."""

class SeriesError(ValueError):
    """A series identity cannot be encoded.

    Raised for a duplicate label key (impossible from a ``dict``) or a string
    whose UTF-8 encoding exceeds 4 GiB.
    """

def series_hash(namespace: str, name: str, labels: dict[str, str]) -> int:
    """Signed 64-bit series hash of ``(namespace, name, labels)``.

    XXH64 (seed 0) of the canonical encoding. Label order does not matter.

    Raises:
        TypeError: a label key or value is not ``str``.
    """

def series_hashes(items: Iterable[tuple[str, str, dict[str, str]]]) -> list[int]:
    """``series_hash`` of each ``(namespace, name, labels)`` tuple, in order.

    Faster than calling ``series_hash`` in a loop: the inputs are converted in
    one pass and the hashing runs with the GIL released.

    Raises:
        TypeError: an item is not a 3-tuple ``(str, str, dict)`` or a label key
            or value is not ``str``; the message names the item index.
    """

def canonical_encoding(namespace: str, name: str, labels: dict[str, str]) -> bytes:
    """The canonical byte encoding that ``series_hash`` hashes (for debugging and tests)."""

class BucketError(ValueError):
    """A bucket cannot be computed: ``variant_bucket`` with a total weight of 0."""

def murmur3_x86_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3 x86 32-bit of ``data`` as an unsigned 32-bit integer.

    Raises:
        TypeError: ``data`` is not ``bytes`` (``bytearray`` and ``memoryview``
            are rejected too).
        OverflowError: ``seed`` is not in ``0 .. 2**32 - 1``.
    """

def rollout_bucket(group: str, user_id: str) -> int:
    """Rollout bucket ``1..100`` of ``user_id`` in ``group`` (usually the flag name).

    Unleash's ``normalizedValue(user_id, group, 100)``:
    ``murmur3_x86_32(f"{group}:{user_id}".encode(), 0) % 100 + 1``. The user is
    in a gradual rollout of ``p`` percent iff the bucket is ``<= p``.

    Raises:
        TypeError: ``group`` or ``user_id`` is not ``str``.
        UnicodeEncodeError: a string contains a lone surrogate.
    """

def rollout_buckets(groups: Iterable[str], user_id: str) -> list[int]:
    """``rollout_bucket(group, user_id)`` for each group, in order.

    One call evaluates many flags for one user. Large batches are hashed with
    the GIL released.

    Raises:
        TypeError: ``groups`` is a ``str`` or not iterable, an item is not
            ``str`` (the message names its index), or ``user_id`` is not ``str``.
        UnicodeEncodeError: a string contains a lone surrogate.
    """

def variant_bucket(group: str, user_id: str, total_weight: int) -> int:
    """Variant bucket ``1..total_weight`` of ``user_id`` in ``group``.

    Unleash's variant normalizer:
    ``murmur3_x86_32(f"{group}:{user_id}".encode(), 86028157) % total_weight + 1``.

    Raises:
        BucketError: ``total_weight`` is 0.
        OverflowError: ``total_weight`` is negative or at least ``2**32``.
        TypeError: ``group`` or ``user_id`` is not ``str``.
    """
