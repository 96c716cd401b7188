"""hearth_core._native.series_hash against the pure-Python reference."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hearth_core import _native
from tests.native import reference

# Any Unicode text that can be encoded to UTF-8 (no lone surrogates), including "".
text = st.text(st.characters(codec="utf-8"), max_size=40)
labels_st = st.dictionaries(text, text, max_size=30)


# -- the reference itself ---------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "want"),
    [
        (b"", 0xEF46DB3751D8E999),
        (b"a", 0xD24EC4F1A98C6E5B),
        (b"abc", 0x44BC2CF5AD770999),
    ],
)
def test_reference_xxh64_known_answers(data: bytes, want: int) -> None:
    assert reference.xxh64(data) == want


def test_reference_encoding_layout() -> None:
    got = reference.canonical_encoding("ns", "m", {"b": "2", "a": ""})
    want = (
        b"\x02\x00\x00\x00ns"
        b"\x01\x00\x00\x00m"
        b"\x02\x00\x00\x00"
        b"\x01\x00\x00\x00a\x00\x00\x00\x00"
        b"\x01\x00\x00\x00b\x01\x00\x00\x002"
    )
    assert got == want


# -- native == reference ----------------------------------------------------------


@pytest.mark.parametrize(("namespace", "name", "labels", "want"), reference.PINNED)
def test_pinned_vectors(namespace: str, name: str, labels: dict[str, str], want: int) -> None:
    assert reference.series_hash(namespace, name, labels) == want
    assert _native.series_hash(namespace, name, labels) == want


@settings(max_examples=500)
@given(namespace=text, name=text, labels=labels_st)
def test_matches_reference(namespace: str, name: str, labels: dict[str, str]) -> None:
    assert _native.canonical_encoding(namespace, name, labels) == reference.canonical_encoding(
        namespace, name, labels
    )
    assert _native.series_hash(namespace, name, labels) == reference.series_hash(
        namespace, name, labels
    )


@settings(max_examples=50)
@given(
    namespace=text,
    name=text,
    labels=st.dictionaries(
        st.text(min_size=1, max_size=8), st.text(max_size=200), min_size=50, max_size=200
    ),
)
def test_matches_reference_many_labels(namespace: str, name: str, labels: dict[str, str]) -> None:
    assert _native.series_hash(namespace, name, labels) == reference.series_hash(
        namespace, name, labels
    )


@given(data=st.binary(max_size=300))
def test_reference_xxh64_all_lengths(data: bytes) -> None:
    # Every tail branch (0-31 leftover bytes, with and without the 32-byte loop)
    # through the hash of an encoding whose name is `data` as latin-1 text.
    name = data.decode("latin-1")
    enc = reference.canonical_encoding("", name, {})
    assert _native.canonical_encoding("", name, {}) == enc
    assert _native.series_hash("", name, {}) == reference.to_signed64(reference.xxh64(enc))


def test_result_fits_bigint() -> None:
    hashes = _native.series_hashes([("ns", f"m{i}", {"i": str(i)}) for i in range(2000)])
    assert all(-(2**63) <= h < 2**63 for h in hashes)
    assert any(h < 0 for h in hashes) and any(h > 0 for h in hashes)
    assert len(set(hashes)) == len(hashes)


# -- properties -------------------------------------------------------------------


@given(namespace=text, name=text, labels=labels_st, seed=st.integers(0, 2**32))
def test_label_order_independent(
    namespace: str, name: str, labels: dict[str, str], seed: int
) -> None:
    items = list(labels.items())
    random.Random(seed).shuffle(items)
    assert _native.series_hash(namespace, name, dict(items)) == _native.series_hash(
        namespace, name, labels
    )


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("a", "bc", {}), ("ab", "c", {})),
        (("n", "m", {"a": "bc"}), ("n", "m", {"ab": "c"})),
        (("n", "m", {}), ("n", "m", {"": ""})),
        (("n", "m", {"a": "b"}), ("n", "m", {"b": "a"})),
        (("", "x", {}), ("x", "", {})),
    ],
)
def test_boundaries_are_unambiguous(
    a: tuple[str, str, dict[str, str]], b: tuple[str, str, dict[str, str]]
) -> None:
    assert _native.series_hash(*a) != _native.series_hash(*b)


@settings(max_examples=100)
@given(items=st.lists(st.tuples(text, text, labels_st), max_size=40))
def test_batch_equals_single(items: list[tuple[str, str, dict[str, str]]]) -> None:
    want = [_native.series_hash(*item) for item in items]
    assert _native.series_hashes(items) == want
    assert _native.series_hashes(tuple(items)) == want
    assert _native.series_hashes(iter(items)) == want


def test_batch_empty() -> None:
    assert _native.series_hashes([]) == []


# -- errors -----------------------------------------------------------------------


@pytest.mark.parametrize("bad", [1, None, b"v", 1.5, ["v"]])
def test_non_str_label_value_is_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match='label value for key "k" must be str'):
        _native.series_hash("ns", "m", {"k": bad})  # type: ignore[dict-item]


def test_non_str_label_key_is_type_error() -> None:
    with pytest.raises(TypeError, match="label key must be str, not int"):
        _native.series_hash("ns", "m", {1: "v"})  # type: ignore[dict-item]


def test_non_str_namespace_or_name_is_type_error() -> None:
    with pytest.raises(TypeError):
        _native.series_hash(1, "m", {})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _native.series_hash("ns", None, {})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _native.series_hash("ns", "m", [("k", "v")])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("items", "match"),
    [
        ([("a", "b", {}), ("a", "b", {"k": 2})], r'items\[1\]: label value for key "k"'),
        ([("a", "b")], r"items\[0\] must be a 3-tuple"),
        (["abc"], r"items\[0\] must be a tuple"),
        ([("a", 1, {})], r"items\[0\] must be a tuple"),
        ([("a", "b", [])], r"items\[0\] must be a tuple"),
    ],
)
def test_batch_type_errors_name_the_item(items: list[object], match: str) -> None:
    with pytest.raises(TypeError, match=match):
        _native.series_hashes(items)  # type: ignore[arg-type]


def test_batch_rejects_non_iterable() -> None:
    with pytest.raises(TypeError):
        _native.series_hashes(42)  # type: ignore[arg-type]


def test_lone_surrogate_is_rejected() -> None:
    # str that cannot be UTF-8 encoded: never hashed silently.
    with pytest.raises(UnicodeEncodeError):
        _native.series_hash("ns", "\ud800", {})


def test_series_error_is_value_error() -> None:
    assert issubclass(_native.SeriesError, ValueError)
    assert _native.SeriesError.__module__ == "hearth_core._native"


def test_version() -> None:
    assert _native.__version__ == "0.1.0"
