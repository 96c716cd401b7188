"""hearth_core.metrics.repo against a freshly migrated PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import orjson
import pytest

from hearth_core._native import COPY_HEADER, COPY_TRAILER, DecodedBatch, decode_points
from hearth_core.db.paging import Where
from hearth_core.db.pool import connect
from hearth_core.metrics import repo
from hearth_core.metrics.query import Query, match_labels, parse_matcher
from hearth_core.settings import Settings

NOW = int(time.time()) // 3600 * 3600 - 3600  # the start of the last whole hour


def series(n: int, ns: str = "app") -> list[tuple[int, str, str, str]]:
    points = [
        {"namespace": ns, "name": "up", "labels": {"host": f"h{i}"}, "value": 1} for i in range(n)
    ]
    return decode(orjson.dumps(points)).series()


def decode(body: bytes) -> DecodedBatch:
    now_us = time.time_ns() // 1000
    return decode_points(
        body,
        "json",
        now_us=now_us,
        min_time_us=now_us - 86_400_000_000,
        max_time_us=now_us + 3_600_000_000,
    )


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    yield COPY_HEADER
    for p in parts:
        yield p
    yield COPY_TRAILER


async def partition_today(conn: asyncpg.Connection) -> None:
    async with conn.transaction():
        await repo.lock_partitions(conn)
        for d in (-1, 0):
            await repo.create_partition(conn, (datetime.now(UTC) + timedelta(days=d)).date())


async def test_upsert_series_is_idempotent_and_looks_up_by_hash(db):
    items = sorted(series(3))
    first = await repo.upsert_series(db, items)
    assert set(first) == {h for h, *_ in items} and len(set(first.values())) == 3
    again = await repo.upsert_series(db, items + sorted(series(1, ns="other")))
    assert {h: again[h] for h in first} == first and len(again) == 4
    assert await db.fetchval("SELECT count(*) FROM metric_series") == 4
    labels = await db.fetchval(
        "SELECT labels FROM metric_series WHERE series_id = $1", first[items[0][0]]
    )
    assert labels == orjson.loads(items[0][3])
    assert await repo.series_ids(db, [items[0][0], 12345]) == {items[0][0]: first[items[0][0]]}
    assert await repo.series_ids(db, []) == {}
    assert await repo.upsert_series(db, []) == {}


async def test_find_series_pages_and_filters_by_labels(db):
    ids = await repo.upsert_series(db, sorted(series(5) + series(2, ns="zz")))
    app = sorted(ids[h] for h, *_ in series(5))
    rows, total = await repo.find_series(db, Where().eq("s.namespace", "app"), page=2, limit=2)
    assert total == 5
    assert [r["series_id"] for r in rows] == app[2:4]  # by namespace, name, then series_id
    where = match_labels(Where(), (parse_matcher('host=~"h[01]"', 0), parse_matcher("dc=''", 1)))
    rows, total = await repo.find_series(db, where, page=1, limit=10)
    assert total == 4 and {(r["namespace"], r["labels"]["host"]) for r in rows} == {
        ("app", "h0"),
        ("app", "h1"),
        ("zz", "h0"),
        ("zz", "h1"),
    }
    where = match_labels(Where(), (parse_matcher('host!="h0"', 0),)).eq("s.namespace", "zz")
    rows, total = await repo.find_series(db, where, page=1, limit=10)
    assert total == 1 and rows[0]["labels"] == {"host": "h1"}


async def test_partitions_are_created_once_listed_and_dropped(db):
    assert await repo.points_table_kind(db) == "p"
    day = datetime(2031, 5, 17).date()
    async with db.transaction():
        await repo.lock_partitions(db)
        assert await repo.create_partition(db, day) is True
        assert await repo.create_partition(db, day) is False
    assert "metric_points_20310517" in await repo.partition_names(db)
    await db.execute(
        "INSERT INTO metric_points VALUES (1, '2031-05-17T23:59:59Z', 1.0)"
    )  # the day's range is its own
    with pytest.raises(asyncpg.CheckViolationError):  # no partition holds the next day
        await db.execute("INSERT INTO metric_points VALUES (1, '2031-05-18T00:00:00Z', 1.0)")
    async with db.transaction():
        await repo.lock_partitions(db)
        await repo.drop_partition(db, day)
        await repo.drop_partition(db, day)  # already gone: no error
    assert "metric_points_20310517" not in await repo.partition_names(db)


async def test_copy_then_merge_folds_pending_into_both_rollups(db):
    await partition_today(db)
    points = [
        {
            "namespace": "app",
            "name": "lat",
            "labels": {"r": str(i % 2)},
            "value": float(i),
            "timestamp": NOW + i * 20,
        }
        for i in range(12)  # 4 minutes, 2 series
    ]
    batch = decode(orjson.dumps(points))
    assert batch.accepted == 12
    ids = await repo.upsert_series(db, sorted(batch.series()))
    async with db.transaction():
        await repo.copy_points(db, chunks(batch.encode_copy(ids)))
        await repo.copy_pending_rollups(db, chunks(batch.encode_rollups(ids, 60)))
    assert await db.fetchval("SELECT count(*) FROM metric_points") == 12
    pending = await db.fetchval("SELECT count(*) FROM metric_rollup_pending")
    assert pending == 8  # 4 minutes x 2 series
    async with db.transaction():
        assert await repo.try_lock_merger(db)
        assert await repo.merge_pending(db, 5) == 5  # bounded by the chunk
    async with db.transaction():
        assert await repo.try_lock_merger(db)
        assert await repo.merge_pending(db, 5) == 3
    assert await db.fetchval("SELECT count(*) FROM metric_rollup_pending") == 0
    hour = await db.fetch("SELECT count, sum, min, max, last FROM metric_rollup_1h ORDER BY sum")
    # series r=0 got values 0, 2, ..., 10; r=1 got 1, 3, ..., 11 — all in one hour
    assert [tuple(r) for r in hour] == [(6, 30.0, 0.0, 10.0, 10.0), (6, 36.0, 1.0, 11.0, 11.0)]
    minutes = await db.fetchval("SELECT sum(count) FROM metric_rollup_1m")
    assert minutes == 12 and await db.fetchval("SELECT count(*) FROM metric_rollup_1m") == 8
    # merged again, a second batch of the same minutes adds up instead of replacing
    async with db.transaction():
        await repo.copy_pending_rollups(db, chunks(batch.encode_rollups(ids, 60)))
        await repo.merge_pending(db, 100)
    assert await db.fetchval("SELECT sum(count) FROM metric_rollup_1h") == 24


async def test_one_merger_at_a_time(db, settings: Settings):
    assert settings.database_url is not None
    other = await connect(settings.database_url)
    try:
        async with db.transaction():
            assert await repo.try_lock_merger(db)
            async with other.transaction():
                assert not await repo.try_lock_merger(other)
        async with other.transaction():  # released with the first transaction
            assert await repo.try_lock_merger(other)
    finally:
        await other.close()


async def test_windows_reads_rollups_and_pending_alike(db):
    await partition_today(db)
    points = [
        {
            "namespace": "app",
            "name": "lat",
            "labels": {"r": "a"},
            "value": float(v),
            "timestamp": NOW + 60 * m + s,
        }
        for m, v in ((0, 1), (0, 3), (1, 5), (2, 7))
        for s in (0,)
    ]
    points[1]["timestamp"] += 30
    batch = decode(orjson.dumps(points))
    ids = await repo.upsert_series(db, sorted(batch.series()))
    async with db.transaction():
        await repo.copy_points(db, chunks(batch.encode_copy(ids)))
        await repo.copy_pending_rollups(db, chunks(batch.encode_rollups(ids, 60)))
    q = Query(namespace="app", name="lat", start=NOW, end=NOW + 180, step=60, agg="avg")
    unmerged = [(r["t"], r["value"]) for r in await repo.windows(db, q)]
    assert unmerged == [(NOW, 2.0), (NOW + 60, 5.0), (NOW + 120, 7.0)]
    async with db.transaction():
        await repo.merge_pending(db, 100)
    merged = await repo.windows(db, q)
    assert [(r["t"], r["value"]) for r in merged] == unmerged
    assert merged[0]["key"] == {"__series": ids[batch.series()[0][0]], "r": "a"}
    raw = await repo.windows(db, Query(**{**vars(q), "step": 30, "agg": "max"}))
    assert [(r["t"], r["value"]) for r in raw] == [
        (NOW, 1.0),
        (NOW + 30, 3.0),
        (NOW + 60, 5.0),
        (NOW + 120, 7.0),
    ]


async def test_expired_minute_rollups_are_deleted(db):
    row = "($1, now() - make_interval(days => $2), 1, 1, 1, 1, 1, now())"
    for sid, days in ((1, 40), (2, 2)):
        await db.execute(
            "INSERT INTO metric_rollup_1m (series_id, bucket, count, sum, min, max, last, last_time)"
            f" VALUES {row}",
            sid,
            days,
        )
    await repo.delete_expired_rollups(db, 30)
    assert [r["series_id"] for r in await db.fetch("SELECT series_id FROM metric_rollup_1m")] == [2]
