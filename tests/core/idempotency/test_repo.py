"""hearth_core.idempotency: the key table's SQL and the reserve/replay rules, against PostgreSQL."""

from __future__ import annotations

import asyncpg
import pytest

from hearth_core import idempotency
from hearth_core.db.pool import create_pool
from hearth_core.errors import Conflict, InvalidInput, Unprocessable
from hearth_core.idempotency import repo
from hearth_core.settings import Settings

H1, H2 = b"\x01" * 32, b"\x02" * 32


async def test_a_key_is_taken_once_per_client(db):
    assert await repo.insert_pending(db, "c1", "k", H1) is True
    assert await repo.insert_pending(db, "c1", "k", H2) is False
    assert await repo.insert_pending(db, "c2", "k", H2) is True  # keys are per client
    row = await repo.find(db, "c1", "k")
    assert row is not None
    assert (row["request_hash"], row["status"], row["status_code"], row["response"]) == (
        H1,
        "pending",
        None,
        None,
    )
    assert 0 <= row["age"] < 60
    assert await repo.find(db, "c1", "other") is None


async def test_done_keeps_the_response_and_survives_release(db):
    await repo.insert_pending(db, "c1", "k", H1)
    await repo.mark_done(db, "c1", "k", 201, {"accepted": 3, "rejected": []})
    row = await repo.find(db, "c1", "k")
    assert (row["status"], row["status_code"], row["response"]) == (
        "done",
        201,
        {"accepted": 3, "rejected": []},
    )
    await repo.delete_pending(db, "c1", "k")  # only a pending key is given back
    assert await repo.find(db, "c1", "k") is not None
    await repo.insert_pending(db, "c1", "p", H1)
    await repo.delete_pending(db, "c1", "p")
    assert await repo.find(db, "c1", "p") is None


async def test_renew_and_expiry(db):
    await repo.insert_pending(db, "c1", "old", H1)
    await repo.insert_pending(db, "c1", "new", H1)
    await db.execute(
        "UPDATE idempotency_keys SET created_at = now() - interval '2 days' WHERE key = 'old'"
    )
    assert (await repo.find(db, "c1", "old"))["age"] > 86_400
    await repo.renew(db, "c1", "new")
    assert (await repo.find(db, "c1", "new"))["age"] < 60
    assert await repo.delete_expired(db) == 1
    assert await repo.find(db, "c1", "old") is None
    assert await repo.find(db, "c1", "new") is not None


@pytest.fixture
async def pool(settings: Settings):
    p = await create_pool(settings)
    try:
        yield p
    finally:
        await p.close()


async def test_reserve_replay_conflict_and_mismatch(pool: asyncpg.Pool):
    res = await idempotency.reserve(pool, "c1", "k", H1)
    assert res == idempotency.Reservation("c1", "k")
    with pytest.raises(Conflict):  # the first is still running
        await idempotency.reserve(pool, "c1", "k", H1)
    with pytest.raises(Unprocessable):  # same key, another request
        await idempotency.reserve(pool, "c1", "k", H2)
    async with pool.acquire() as conn:
        await idempotency.complete(conn, res, 200, {"ok": True})
    assert await idempotency.reserve(pool, "c1", "k", H1) == idempotency.Replay(200, {"ok": True})
    with pytest.raises(InvalidInput):
        await idempotency.reserve(pool, "c1", "x" * 256, H1)


async def test_a_stale_reservation_is_taken_over_and_a_released_one_reused(pool: asyncpg.Pool):
    res = await idempotency.reserve(pool, "c1", "k", H1)
    await pool.execute(
        "UPDATE idempotency_keys SET created_at = now() - interval '10 minutes' WHERE key = 'k'"
    )
    assert await idempotency.reserve(pool, "c1", "k", H1) == res  # its worker died
    await idempotency.release(pool, res)
    assert await idempotency.reserve(pool, "c1", "k", H2) == res  # free for any request now
