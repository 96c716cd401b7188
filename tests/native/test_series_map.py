"""hearth_core._native.SeriesMap against a plain-dict reference, and the DecodedBatch
methods that read it (missing_series, encode_block_mapped)."""

from __future__ import annotations

import threading

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hearth_core import _native

NOW = 1_700_000_000_000_000


class Reference:
    """Insertion-ordered dict; re-inserting moves to the end; overflow drops the oldest
    not inserted by this call until a tenth of the capacity is free."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.ids: dict[int, int] = {}

    def insert_many(self, items: list[tuple[int, int]]) -> None:
        for h, sid in items:
            self.ids.pop(h, None)
            self.ids[h] = sid
        if len(self.ids) > self.capacity:
            mine = {h for h, _ in items}
            target = self.capacity - self.capacity // 10
            for h in list(self.ids):
                if len(self.ids) <= target or h in mine:
                    break
                del self.ids[h]


def decode(points: list[dict]) -> _native.DecodedBatch:
    return _native.decode_points(
        orjson.dumps(points), "json", now_us=NOW, min_time_us=0, max_time_us=2 * NOW
    )


def batch_of(hosts: list[int]) -> _native.DecodedBatch:
    return decode(
        [
            {"namespace": "app", "name": "up", "labels": {"h": str(h)}, "value": i, "timestamp": i}
            for i, h in enumerate(hosts)
        ]
    )


def test_basic_operations() -> None:
    m = _native.SeriesMap(10)
    assert (len(m), m.capacity, m.get(1)) == (0, 10, None)
    m.insert_many([(1, 10), (-(2**63), 2**31 - 1), (2**63 - 1, -(2**31))])
    m.insert_many({5: 50}.items())  # any iterable of pairs
    assert (len(m), m.get(1), m.get(-(2**63)), m.get(2**63 - 1), m.get(5)) == (
        4,
        10,
        2**31 - 1,
        -(2**31),
        50,
    )
    assert repr(m) == "<SeriesMap len=4 capacity=10>"
    m.clear()
    assert (len(m), m.get(1)) == (0, None)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        _native.SeriesMap(0)
    with pytest.raises(OverflowError):
        _native.SeriesMap(-1)
    m = _native.SeriesMap(10)
    with pytest.raises(OverflowError):
        m.insert_many([(1, 2**31)])
    with pytest.raises(OverflowError):
        m.insert_many([(2**63, 1)])
    with pytest.raises(ValueError, match="length 2"):
        m.insert_many([(1, 2, 3)])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        m.insert_many([1])  # type: ignore[list-item]
    assert len(m) == 0  # a failed call inserts nothing


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.integers(1, 30),
    calls=st.lists(
        st.lists(st.tuples(st.integers(-40, 40), st.integers(-(2**31), 2**31 - 1)), max_size=20),
        max_size=25,
    ),
)
def test_matches_the_reference(capacity: int, calls: list[list[tuple[int, int]]]) -> None:
    m, ref = _native.SeriesMap(capacity), Reference(capacity)
    for items in calls:
        m.insert_many(items)
        ref.insert_many(items)
        assert len(m) == len(ref.ids)
        assert {h: m.get(h) for h in range(-40, 41) if m.get(h) is not None} == ref.ids
        assert all(m.get(h) is not None for h, _ in items)


def test_missing_series_and_encode_block_mapped_follow_the_map() -> None:
    batch = batch_of([3, 1, 3, 2])
    series = batch.series()  # h3, h1, h2 in order of first appearance
    m = _native.SeriesMap(100)
    assert batch.missing_series(m) == series
    with pytest.raises(_native.UnmappedSeries) as exc:
        batch.encode_block_mapped(m)
    assert isinstance(exc.value, KeyError) and exc.value.args == (series[0][0],)
    m.insert_many([(series[1][0], 11)])
    assert batch.missing_series(m) == [series[0], series[2]]
    m.insert_many([(series[0][0], 13), (series[2][0], 12)])
    assert batch.missing_series(m) == []
    ids = {series[0][0]: 13, series[1][0]: 11, series[2][0]: 12}
    data = batch.encode_block_mapped(m)
    assert data == batch.encode_block(ids)
    assert _native.decode_block(data) == (
        [11, 12, 13, 13],
        [1_000_000, 3_000_000, 0, 2_000_000],
        [1.0, 3.0, 0.0, 2.0],
    )
    assert decode([]).encode_block_mapped(m) == batch_of([]).encode_block({})


def test_encode_block_mapped_names_an_evicted_series() -> None:
    batch = batch_of([1, 2])
    (h1, *_), (h2, *_) = batch.series()
    m = _native.SeriesMap(2)
    m.insert_many([(h1, 1), (h2, 2)])
    m.insert_many([(99, 3)])  # 3 > 2: down to 2, dropping h1
    assert [s[0] for s in batch.missing_series(m)] == [h1]
    with pytest.raises(_native.UnmappedSeries) as exc:
        batch.encode_block_mapped(m)
    assert exc.value.args == (h1,)


def test_threads_read_while_the_loop_inserts() -> None:
    batch = batch_of(list(range(2000)))
    series = batch.series()
    m = _native.SeriesMap(10_000)
    m.insert_many([(h, i) for i, (h, *_) in enumerate(series)])
    expected = batch.encode_block_mapped(m)
    stop, errors = threading.Event(), []

    def encode() -> None:
        while not stop.is_set():
            if batch.encode_block_mapped(m) != expected:
                errors.append("different bytes")

    workers = [threading.Thread(target=encode) for _ in range(2)]
    for w in workers:
        w.start()
    try:
        # Other keys only (never evicting: capacity is large), so every read must match.
        for k in range(200):
            m.insert_many([(10**12 + k * 10 + j, j) for j in range(10)])
    finally:
        stop.set()
        for w in workers:
            w.join()
    assert errors == [] and len(m) == 2000 + 2000
