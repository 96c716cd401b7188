"""hearth_core._native feature-flag bucketing against the pure-Python reference."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hearth_core import _native
from tests.native import murmur_reference as reference

# Any Unicode text that can be encoded to UTF-8 (no lone surrogates), including "".
text = st.text(st.characters(codec="utf-8"), max_size=40)
seeds = st.integers(0, 2**32 - 1)


# -- MurmurHash3 x86_32 -------------------------------------------------------------


@pytest.mark.parametrize(("data", "seed", "want"), reference.PINNED)
def test_pinned_vectors(data: bytes, seed: int, want: int) -> None:
    assert reference.murmur3_x86_32(data, seed) == want
    assert _native.murmur3_x86_32(data, seed) == want


def test_default_seed_is_zero() -> None:
    assert _native.murmur3_x86_32(b"hello") == 0x248BFA47
    assert _native.murmur3_x86_32(b"hello", seed=0) == 0x248BFA47


@settings(max_examples=1000)
@given(data=st.binary(max_size=300), seed=seeds)
def test_murmur_matches_reference(data: bytes, seed: int) -> None:
    got = _native.murmur3_x86_32(data, seed)
    assert got == reference.murmur3_x86_32(data, seed)
    assert 0 <= got < 2**32


# -- buckets ------------------------------------------------------------------------


@pytest.mark.parametrize(("group", "user_id", "want"), reference.UNLEASH)
def test_unleash_client_spec_vectors(group: str, user_id: str, want: int) -> None:
    assert reference.rollout_bucket(group, user_id) == want
    assert _native.rollout_bucket(group, user_id) == want


@settings(max_examples=500)
@given(group=text, user_id=text)
def test_rollout_bucket_matches_reference(group: str, user_id: str) -> None:
    got = _native.rollout_bucket(group, user_id)
    assert got == reference.rollout_bucket(group, user_id)
    assert 1 <= got <= 100
    key = f"{group}:{user_id}".encode()
    assert got == _native.murmur3_x86_32(key, 0) % 100 + 1


@settings(max_examples=500)
@given(group=text, user_id=text, total_weight=st.integers(1, 2**32 - 1))
def test_variant_bucket_matches_reference(group: str, user_id: str, total_weight: int) -> None:
    got = _native.variant_bucket(group, user_id, total_weight)
    assert got == reference.variant_bucket(group, user_id, total_weight)
    assert 1 <= got <= total_weight
    key = f"{group}:{user_id}".encode()
    assert got == _native.murmur3_x86_32(key, 86028157) % total_weight + 1


def test_rollout_distribution() -> None:
    buckets = [_native.rollout_bucket("new-checkout", f"user-{i}") for i in range(10_000)]
    fraction = sum(b <= 25 for b in buckets) / len(buckets)
    assert abs(fraction - 0.25) <= 0.015, fraction
    assert set(buckets) == set(range(1, 101))


def test_variant_bucket_weight_one() -> None:
    assert _native.variant_bucket("flag", "anyone", 1) == 1


# -- batch --------------------------------------------------------------------------


@settings(max_examples=200)
@given(groups=st.lists(text, max_size=200), user_id=text)
def test_batch_equals_single(groups: list[str], user_id: str) -> None:
    want = [_native.rollout_bucket(g, user_id) for g in groups]
    assert _native.rollout_buckets(groups, user_id) == want
    assert _native.rollout_buckets(tuple(groups), user_id) == want
    assert _native.rollout_buckets(iter(groups), user_id) == want


@pytest.mark.parametrize("n", [0, 1, 64, 65, 5000])
def test_batch_around_detach_threshold(n: int) -> None:
    groups = [f"flag-{i}" for i in range(n)]
    assert _native.rollout_buckets(groups, "user-42") == [
        reference.rollout_bucket(g, "user-42") for g in groups
    ]


# -- errors -------------------------------------------------------------------------


def test_zero_weight_is_bucket_error() -> None:
    with pytest.raises(_native.BucketError, match="total_weight must be greater than 0"):
        _native.variant_bucket("flag", "user", 0)
    # also catchable as the stdlib base class
    with pytest.raises(ValueError):
        _native.variant_bucket("flag", "user", 0)


def test_bucket_error_is_value_error() -> None:
    assert issubclass(_native.BucketError, ValueError)
    assert _native.BucketError.__module__ == "hearth_core._native"


@pytest.mark.parametrize("weight", [-1, 2**32])
def test_out_of_range_weight_is_overflow_error(weight: int) -> None:
    with pytest.raises(OverflowError):
        _native.variant_bucket("flag", "user", weight)


@pytest.mark.parametrize("seed", [-1, 2**32])
def test_out_of_range_seed_is_overflow_error(seed: int) -> None:
    with pytest.raises(OverflowError):
        _native.murmur3_x86_32(b"x", seed)


@pytest.mark.parametrize("bad", ["abc", bytearray(b"abc"), memoryview(b"abc"), None, 1])
def test_murmur_data_must_be_bytes(bad: object) -> None:
    with pytest.raises(TypeError):
        _native.murmur3_x86_32(bad)  # type: ignore[arg-type]


def test_murmur_seed_must_be_int() -> None:
    with pytest.raises(TypeError):
        _native.murmur3_x86_32(b"x", "0")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _native.murmur3_x86_32(b"x", 1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(("group", "user_id"), [(1, "u"), ("g", None), (b"g", "u"), ("g", b"u")])
def test_single_bucket_type_errors(group: object, user_id: object) -> None:
    with pytest.raises(TypeError):
        _native.rollout_bucket(group, user_id)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _native.variant_bucket(group, user_id, 10)  # type: ignore[arg-type]


def test_variant_weight_must_be_int() -> None:
    with pytest.raises(TypeError):
        _native.variant_bucket("g", "u", "10")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("groups", "match"),
    [
        (["a", 1], r"groups\[1\] must be str, not int"),
        ([b"a"], r"groups\[0\] must be str, not bytes"),
        ("abc", "groups must be an iterable of str, not str"),
    ],
)
def test_batch_type_errors(groups: object, match: str) -> None:
    with pytest.raises(TypeError, match=match):
        _native.rollout_buckets(groups, "user")  # type: ignore[arg-type]


def test_batch_rejects_non_iterable_and_bad_user() -> None:
    with pytest.raises(TypeError):
        _native.rollout_buckets(42, "user")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _native.rollout_buckets(["a"], 42)  # type: ignore[arg-type]


def test_lone_surrogate_is_rejected() -> None:
    with pytest.raises(UnicodeEncodeError):
        _native.rollout_bucket("flag", "\ud800")
    with pytest.raises(UnicodeEncodeError):
        _native.rollout_buckets(["\ud800"], "user")
