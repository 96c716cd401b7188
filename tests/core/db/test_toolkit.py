"""The shared db toolkit against the real PostgreSQL: the filter/paging builder with every
filter, ``fetch_locked``'s lock and 404, and an audited write rolled back whole."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from hearth_core.db.audited import audited_write
from hearth_core.db.locked import fetch_locked
from hearth_core.db.paging import Where, fetch_page
from hearth_core.db.pool import connect
from hearth_core.errors import NotFound

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def things(db: asyncpg.Connection) -> asyncpg.Connection:
    await db.execute(
        "CREATE TABLE things (id int PRIMARY KEY, name text, kind text, at timestamptz, tags jsonb)"
    )
    await db.executemany(
        "INSERT INTO things VALUES ($1, $2, $3, $4, $5)",
        [
            (
                i,
                f"{'a_b' if i % 3 == 0 else 'axb'}-{i}",
                "even" if i % 2 == 0 else "odd",
                T0 + timedelta(days=i),
                {"n": i % 4},
            )
            for i in range(1, 26)
        ],
    )
    return db


async def _ids(conn: asyncpg.Connection, where: Where, *, page: int = 1, limit: int = 100):
    rows, total = await fetch_page(
        conn, select="id", from_="things", where=where, order_by="id", page=page, limit=limit
    )
    return [r["id"] for r in rows], total


async def test_no_filter_pages_everything_in_order(things):
    ids, total = await _ids(things, Where(), page=3, limit=10)
    assert (ids, total) == ([21, 22, 23, 24, 25], 25)
    ids, total = await _ids(things, Where(), page=4, limit=10)
    assert (ids, total) == ([], 25)


async def test_each_filter_and_none_means_absent(things):
    assert (await _ids(things, Where().eq("kind", "even")))[1] == 12
    assert (await _ids(things, Where().eq("kind", None)))[1] == 25
    # A prefix is literal: "a_b" does not match "axb" (LIKE's _ is escaped).
    ids, total = await _ids(things, Where().prefix("name", "a_b"))
    assert total == 8 and all(i % 3 == 0 for i in ids)
    assert (await _ids(things, Where().prefix("name", "a%")))[1] == 0
    # A substring of any of the columns, any case, wildcards literal.
    assert (await _ids(things, Where().substring(("kind", "name"), "B-1")))[0] == [
        1,
        *range(10, 20),
    ]
    assert (await _ids(things, Where().substring(("name",), "A_B-1")))[0] == [12, 15, 18]
    assert (await _ids(things, Where().substring(("name",), "%")))[1] == 0
    assert (await _ids(things, Where().substring(("name",), None)))[1] == 25
    assert (await _ids(things, Where().any("id", [2, 3, 99])))[0] == [2, 3]
    assert (await _ids(things, Where().any("id", [])))[1] == 0
    assert (await _ids(things, Where().any("id", None)))[1] == 25
    since, until = T0 + timedelta(days=5), T0 + timedelta(days=8)
    assert (await _ids(things, Where().since("at", since).until("at", until)))[0] == [5, 6, 7]
    assert (await _ids(things, Where().when(20, "id > {}")))[0] == [21, 22, 23, 24, 25]
    assert (await _ids(things, Where().add("id BETWEEN {} AND {}", 3, 4)))[0] == [3, 4]


async def test_filters_combine_and_values_stay_parameters(things):
    hostile = "x' OR '1'='1"
    where = Where().eq("kind", "odd").prefix("name", "axb").eq("name", hostile)
    assert "OR" not in where.sql and where.args[-1] == hostile
    assert (await _ids(things, where))[1] == 0
    ids, total = await _ids(things, Where().eq("kind", "odd").prefix("name", "axb"), limit=3)
    assert total == 9 and ids == [1, 5, 7]


def test_a_fragment_must_take_its_values():
    with pytest.raises(ValueError):
        Where().add("a = {} AND b = {}", 1)
    with pytest.raises(ValueError):
        Where().add("a = {}")


async def test_page_and_limit_out_of_range(things):
    for page, limit in ((0, 10), (1, 0), (1, 1001)):
        with pytest.raises(ValueError):
            await _ids(things, Where(), page=page, limit=limit)


async def test_fetch_locked_returns_the_row_and_holds_it(things, settings):
    assert settings.database_url is not None
    other = await connect(settings.database_url)
    try:
        async with things.transaction():
            row = await fetch_locked(things, "things", {"id": 7, "kind": "odd"}, missing="no 7")
            assert row["name"] == "axb-7"
            # Another connection cannot take the same row while the transaction holds it.
            with pytest.raises(asyncpg.LockNotAvailableError):
                await other.execute("SELECT 1 FROM things WHERE id = 7 FOR UPDATE NOWAIT")
        await other.execute("SELECT 1 FROM things WHERE id = 7 FOR UPDATE NOWAIT")
    finally:
        await other.close()


async def test_fetch_locked_404_and_needs_a_transaction(things):
    async with things.transaction():
        with pytest.raises(NotFound) as err:
            await fetch_locked(things, "things", {"id": 99}, missing="no thing 99")
    assert err.value.status == 404 and err.value.detail == "no thing 99"
    with pytest.raises(RuntimeError):
        await fetch_locked(things, "things", {"id": 1}, missing="x")


async def _audit_rows(conn: asyncpg.Connection, target: str) -> int:
    return await conn.fetchval("SELECT count(*) FROM audit_log WHERE target = $1", target)


async def test_audited_write_commits_change_audit_and_notify_together(things, settings):
    assert settings.database_url is not None
    heard: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(settings.database_url)
    await listener.add_listener("hearth_events", lambda *a: heard.put_nowait(a[-1]))
    try:
        async with audited_write(things, actor="user:t", request_id="r1") as w:
            await w.conn.execute("UPDATE things SET name = 'renamed' WHERE id = 1")
            await w.audit(
                "thing.rename", "thing:1", before={"name": "axb-1"}, after={"name": "renamed"}
            )
            await w.notify("thing", id=1)
        assert await things.fetchval("SELECT name FROM things WHERE id = 1") == "renamed"
        row = await things.fetchrow(
            "SELECT actor, action, request_id, after FROM audit_log WHERE target = 'thing:1'"
        )
        assert dict(row) == {
            "actor": "user:t",
            "action": "thing.rename",
            "request_id": "r1",
            "after": {"name": "renamed"},
        }
        assert '"kind":"thing"' in await asyncio.wait_for(heard.get(), 5)
    finally:
        await listener.close()


async def test_audited_write_rolls_back_whole(things, settings):
    assert settings.database_url is not None
    heard: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(settings.database_url)
    await listener.add_listener("hearth_events", lambda *a: heard.put_nowait(a[-1]))
    try:
        with pytest.raises(NotFound):
            async with audited_write(things, actor="user:t", request_id=None) as w:
                await w.conn.execute("UPDATE things SET name = 'gone' WHERE id = 2")
                await w.audit("thing.rename", "thing:2")
                await w.notify("thing", id=2)
                raise NotFound("the write fails after its audit row and notify")
        assert await things.fetchval("SELECT name FROM things WHERE id = 2") == "axb-2"
        assert await _audit_rows(things, "thing:2") == 0
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(heard.get(), 0.5)
    finally:
        await listener.close()
