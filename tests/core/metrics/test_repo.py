"""hearth_core.metrics.repo against a freshly migrated PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import asyncpg
import orjson
import pytest

from hearth_core._native import DecodedBatch, decode_points
from hearth_core.db.paging import Where
from hearth_core.db.pool import connect
from hearth_core.metrics import repo
from hearth_core.metrics.chunks import (
    WINDOW_US,
    chunk_header,
    decode_block,
    decode_chunk,
    encode_block,
    encode_chunk,
)
from hearth_core.metrics.query import match_labels, parse_matcher
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


async def partition_today(conn: asyncpg.Connection) -> None:
    async with conn.transaction():
        await repo.lock_partitions(conn)
        for d in (-1, 0):
            for table in repo.PARTITIONED:
                await repo.create_partition(
                    conn, table, (datetime.now(UTC) + timedelta(days=d)).date()
                )


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
    day = datetime(2031, 5, 17).date()
    async with db.transaction():
        await repo.lock_partitions(db)
        for table in repo.PARTITIONED:
            assert await repo.create_partition(db, table, day) is True
            assert await repo.create_partition(db, table, day) is False
    assert "metric_chunks_20310517" in await repo.partition_days(db, "metric_chunks")
    assert "metric_rollup_1h_20310517" in await repo.partition_days(db, "metric_rollup_1h")
    await db.execute(
        "INSERT INTO metric_rollup_1h VALUES (1, '2031-05-17T23:00:00Z', 1, 1, 1, 1, 1, now(), 0)"
    )  # the day's range is its own
    with pytest.raises(asyncpg.CheckViolationError):  # no partition holds the next day
        await db.execute(
            "INSERT INTO metric_rollup_1h VALUES (1, '2031-05-18T00:00:00Z', 1, 1, 1, 1, 1, now(), 0)"
        )
    async with db.transaction():
        await repo.lock_partitions(db)
        for table in repo.PARTITIONED:
            await repo.drop_partition(db, table, day)
            await repo.drop_partition(db, table, day)  # already gone: no error
    assert "metric_chunks_20310517" not in await repo.partition_days(db, "metric_chunks")
    with pytest.raises(AssertionError):  # only the partitioned store tables
        await repo.create_partition(db, "users", day)


def block(sid: int, start_us: int, n: int) -> tuple[int, int, int, bytes]:
    ts = [start_us + i * 15_000_000 for i in range(n)]
    return n, ts[0], ts[-1], encode_block([sid] * n, ts, [float(i) for i in range(n)])


async def test_the_log_takes_blocks_in_write_order_up_to_a_sample_budget(db):
    t0 = NOW * 1_000_000
    blocks = [block(1, t0, 4), block(2, t0 + 7, 3), block(1, t0 - 60_000_000, 5)]
    async with db.transaction():
        await repo.append_blocks(db, blocks[:2])
    await repo.append_blocks(db, blocks[2:])
    state = await repo.log_state(db)
    assert (state["blocks"], state["samples"]) == (3, 12)
    assert state["bytes"] == sum(len(b[3]) for b in blocks) and state["oldest_age_s"] >= 0
    assert await repo.log_span(db) == (t0 - 60_000_000, t0 + 3 * 15_000_000)
    first = await repo.log_blocks(db, 5)  # 4 samples taken, the next block starts below 5
    assert [r["samples"] for r in first] == [4, 3]
    assert decode_block(first[1]["block"])[0] == [2, 2, 2]
    assert [r["samples"] for r in await repo.log_blocks(db, 1)] == [4]  # at least one block
    assert await repo.log_between(db, t0 + 8, t0 + 9) == [blocks[0][3], blocks[1][3]]
    assert await repo.log_min_time(db, t0, t0 + 1) == t0 - 60_000_000
    assert await repo.log_min_time(db, t0 + 10**12, t0 + 10**12 + 1) is None
    await repo.delete_blocks(db, [r["block_id"] for r in first])
    assert (await repo.log_state(db))["samples"] == 5


async def test_one_compactor_at_a_time(db, settings: Settings):
    assert settings.database_url is not None
    other = await connect(settings.database_url)
    try:
        async with db.transaction():
            assert await repo.try_lock_compactor(db)
            async with other.transaction():
                assert not await repo.try_lock_compactor(other)
        async with other.transaction():  # released with the first transaction
            assert await repo.try_lock_compactor(other)
    finally:
        await other.close()


async def test_chunks_upsert_read_baselines_and_seal(db):
    await partition_today(db)
    w = NOW * 1_000_000 // WINDOW_US * WINDOW_US
    gorilla = encode_chunk([w + 1, w + 2], [1.0, 2.0], "gorilla")
    earlier = encode_chunk([w - 5], [7.0], "gorilla")
    await repo.upsert_chunks(
        db,
        1,
        (
            [1, 1],
            [w - WINDOW_US, w],
            [1, 2],
            [w - 5, w + 1],
            [w - 5, w + 2],
            [7.0, 2.0],
            [earlier, gorilla],
            [None, 7.0],
        ),
    )
    # the stored baseline comes with the chunk (none for a window without one)
    assert await repo.chunks_at(db, [(1, w), (1, w + WINDOW_US), (2, w), (1, w - WINDOW_US)]) == (
        {(1, w): gorilla, (1, w - WINDOW_US): earlier},
        {(1, w): 7.0},
    )
    assert await repo.chunks_at(db, [(2, w)]) == ({}, {})
    # a late sample's new last value becomes the next window's baseline; no chunk, no row
    await repo.set_baselines(db, [1, 1], [w, w + WINDOW_US], [3.0, 4.0])
    assert (await repo.chunks_at(db, [(1, w), (1, w + WINDOW_US)]))[1] == {(1, w): 3.0}
    # the latest earlier chunk within the lookback gives the baseline
    assert await repo.values_before(db, [(1, w), (1, w - WINDOW_US)], WINDOW_US) == {(1, w): 7.0}
    assert await repo.values_before(db, [(1, w + 2 * WINDOW_US)], WINDOW_US) == {}
    # a pass that only wrote staleness markers keeps the last real value
    await repo.upsert_chunks(db, 1, ([1], [w], [3], [w + 1], [w + 3], [None], [gorilla], [6.0]))
    got = await db.fetchrow("SELECT last_value, baseline FROM metric_chunks WHERE samples = 3")
    assert tuple(got) == (2.0, 6.0)
    got = await repo.chunks_between(db, [1, 2], w, w + 3, WINDOW_US)
    assert got == [(1, gorilla)]  # the earlier window ends before lo
    assert len(await repo.chunks_between(db, [1], w - 5, w + 3, WINDOW_US)) == 2
    assert await repo.open_chunk_count(db) == 2
    assert await repo.open_chunks(db, 3600, 10) == []  # written just now: not idle
    idle = await repo.open_chunks(db, 0, 10)
    assert {(r["series_id"], r["w"]) for r in idle} == {(1, w), (1, w - WINDOW_US)}
    sealed = [(r["series_id"], r["w"], encode_chunk(*decode_chunk(r["data"]), "pco")) for r in idle]
    await repo.seal_chunks(db, sealed, 2)
    assert await repo.open_chunk_count(db) == 0
    data = await db.fetchval("SELECT data FROM metric_chunks WHERE window_start = us_time($1)", w)
    assert chunk_header(data)[0] == "pco" and decode_chunk(data) == ([w + 1, w + 2], [1.0, 2.0])


async def test_hours_upsert_replaces_and_deletes(db):
    await partition_today(db)
    h = NOW * 1_000_000
    rows = [(1, h, 2, 3.0, 1.0, 2.0, 2.0, h + 5, 1.0), (2, h, 1, 1.0, 1.0, 1.0, 1.0, h, 0.0)]
    await repo.upsert_hours(db, tuple(map(list, zip(*rows, strict=True))))  # type: ignore[arg-type]
    recomputed = (1, h, 3, 6.0, 1.0, 3.0, 3.0, h + 9, 2.0)
    await repo.upsert_hours(db, tuple([v] for v in recomputed))  # type: ignore[arg-type]
    got = await db.fetchrow("SELECT count, sum, increase FROM metric_rollup_1h WHERE series_id = 1")
    assert tuple(got) == (3, 6.0, 2.0)
    await repo.delete_hours(db, ([2, 3], [h, h]))
    assert await db.fetchval("SELECT count(*) FROM metric_rollup_1h") == 1


async def test_exact_microsecond_conversions(db):
    for us in (0, 1, -1, 1_764_000_000_123_457, 2**52 + 1):
        assert await db.fetchval("SELECT time_us(us_time($1::bigint))", us) == us


async def test_the_sql_function_finds_the_native_module(db):
    await repo.register_native(db, "/nowhere/_native.so")
    await repo.register_native(db, "/somewhere/_native.so")
    assert await db.fetchval("SELECT path FROM metric_native") == "/somewhere/_native.so"
