"""hearth_core.metrics.series.SeriesDictionary against a freshly migrated PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import orjson
import pytest

from hearth_core._native import DecodedBatch, decode_points
from hearth_core.db.pool import create_pool
from hearth_core.metrics import repo
from hearth_core.metrics import series as series_module
from hearth_core.metrics.series import SeriesDictionary, SeriesLimits
from hearth_core.settings import Settings


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(settings)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
def upserts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of series of each repo.upsert_series call."""
    calls: list[int] = []
    real = repo.upsert_series

    async def counting(conn, items):  # type: ignore[no-untyped-def]
        calls.append(len(items))
        return await real(conn, items)

    monkeypatch.setattr(repo, "upsert_series", counting)
    return calls


def batch_of(hosts: list[int]) -> DecodedBatch:
    now_us = time.time_ns() // 1000
    points = [
        {"namespace": "app", "name": "up", "labels": {"host": f"h{h}"}, "value": i}
        for i, h in enumerate(hosts)
    ]
    return decode_points(
        orjson.dumps(points),
        "json",
        now_us=now_us,
        min_time_us=now_us - 86_400_000_000,
        max_time_us=now_us + 3_600_000_000,
    )


async def expected_block(db: asyncpg.Connection, batch: DecodedBatch) -> bytes:
    """The block with the ids PostgreSQL holds for the batch's series."""
    ids = await repo.series_ids(db, [h for h, *_ in batch.series()])
    return batch.encode_block(ids)


async def test_unknown_series_are_upserted_once_then_served_from_memory(db, pool, upserts):
    d = SeriesDictionary(1000)
    first = batch_of([1, 2, 1, 3])
    block = (await d.encode_block(pool, first)).block
    assert block == await expected_block(db, first)
    assert (upserts, len(d)) == ([3], 3)
    # Known series and one new: only the new one goes to PostgreSQL.
    second = batch_of([3, 2, 4])
    assert (await d.encode_block(pool, second)).block == await expected_block(db, second)
    assert (upserts, len(d)) == ([3, 1], 4)
    third = batch_of([4, 1])
    assert (await d.encode_block(pool, third)).block == await expected_block(db, third)
    assert upserts == [3, 1]
    assert await db.fetchval("SELECT count(*) FROM metric_series") == 4


async def test_workers_share_the_ids_of_postgresql(db, pool):
    a, b = SeriesDictionary(1000), SeriesDictionary(1000)
    batch = batch_of(list(range(50)))
    # Concurrent first sight of the same new series by two workers: both get the same ids.
    blocks = [
        e.block
        for e in await asyncio.gather(a.encode_block(pool, batch), b.encode_block(pool, batch))
    ]
    assert blocks[0] == blocks[1] == await expected_block(db, batch)
    assert await db.fetchval("SELECT count(*) FROM metric_series") == 50


async def test_a_full_map_evicting_the_known_series_still_encodes(db, pool, upserts, monkeypatch):
    fallbacks: list[int] = []
    real_encode = series_module.encode

    async def counting_encode(batch, ids):  # type: ignore[no-untyped-def]
        fallbacks.append(len(ids))
        return await real_encode(batch, ids)

    monkeypatch.setattr(series_module, "encode", counting_encode)
    d = SeriesDictionary(10)
    await d.encode_block(pool, batch_of(list(range(10))))  # h0..h9: full
    # The 8 new series evict the 9 oldest entries, so at least 4 of this batch's 5 known ones;
    # putting those back evicts at least 3 of the new ones: both mapped attempts fail and the
    # per-request dict encodes.
    batch = batch_of([0, 1, 2, 3, 4, *range(100, 108)])
    assert (await d.encode_block(pool, batch)).block == await expected_block(db, batch)
    # only series PostgreSQL lacks are inserted: the evicted ones are looked up, not upserted
    assert (upserts, fallbacks) == ([10, 8], [13])
    # A batch larger than the capacity goes through the map: an insert keeps all it adds.
    big = batch_of(list(range(200, 240)))
    assert (await d.encode_block(pool, big)).block == await expected_block(db, big)
    assert (upserts[2:], fallbacks) == ([40], [13])


async def test_concurrent_requests_over_a_small_map_all_encode_right(db, pool):
    d = SeriesDictionary(30)
    batches = [batch_of([(k * 7 + i) % 90 for i in range(25)]) for k in range(24)]
    blocks = [e.block for e in await asyncio.gather(*(d.encode_block(pool, b) for b in batches))]
    for batch, block in zip(batches, blocks, strict=True):
        assert block == await expected_block(db, batch)
    assert await db.fetchval("SELECT count(*) FROM metric_series") == 90


async def test_resolve_returns_the_ids_of_the_given_series(db, pool, upserts):
    d = SeriesDictionary(1000)
    series = batch_of([1, 2]).series()
    ids = await d.resolve(pool, series)
    assert ids == await repo.series_ids(db, [h for h, *_ in series])
    assert await d.resolve(pool, series) == ids
    assert upserts == [2]
    batch = batch_of([2, 1])
    assert (await d.encode_block(pool, batch)).block == await expected_block(db, batch)
    assert upserts == [2]


async def test_limits_create_the_first_new_series_and_refuse_the_rest(db, pool, upserts):
    d = SeriesDictionary(1000)
    limits = SeriesLimits(max_new_series_per_hour=4)
    first = await d.encode_block(pool, batch_of([5, 1, 7]), client_id="c", limits=limits)
    assert (first.refused_series, first.batch.accepted) == (0, 3)
    # two known, two new of which one fits: the one that appears first
    second = await d.encode_block(pool, batch_of([9, 1, 8, 5, 9]), client_id="c", limits=limits)
    assert second.refused_series == 1 and "4 new series per hour" in (second.refusal or "")
    assert second.batch.accepted == 4 and second.block == await expected_block(db, second.batch)
    assert await db.fetchval("SELECT count(*) FROM metric_series") == 4
    # everything refused: no block; another client has its own count
    third = await d.encode_block(pool, batch_of([2]), client_id="c", limits=limits)
    assert third.block is None and third.refused_series == 1
    other = await d.encode_block(pool, batch_of([2]), client_id="d", limits=limits)
    assert other.block is not None and other.refused_series == 0
    assert await db.fetch("SELECT client_id, series FROM metric_series_quota ORDER BY 1") == [
        ("c", 4),
        ("d", 1),
    ]


def test_the_room_left_is_the_tighter_limit() -> None:
    assert SeriesLimits().room(10**9, 10**9) is None
    assert SeriesLimits(max_series=10, max_new_series_per_hour=5).room(7, 1) == 3
    assert SeriesLimits(max_series=10, max_new_series_per_hour=5).room(2, 4) == 1
    assert SeriesLimits(max_series=10).room(12, 0) == 0
