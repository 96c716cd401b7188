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
"""

from collections.abc import Iterable

__all__ = ["SeriesError", "__version__", "canonical_encoding", "series_hash", "series_hashes"]

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
