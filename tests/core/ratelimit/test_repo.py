"""The rate-limit policy repository against PostgreSQL: upsert, lock, delete."""

from __future__ import annotations

import asyncpg
import pytest

from hearth_core.ratelimit import repo


async def test_upsert_creates_then_replaces(db):
    created = await repo.upsert(
        db, "api", "*", limit=10, window_sec=60, burst=None, fail_mode="open", actor="a"
    )
    assert (created["limit"], created["window_sec"], created["burst"], created["fail_mode"]) == (
        10,
        60,
        None,
        "open",
    )
    replaced = await repo.upsert(
        db, "api", "*", limit=5, window_sec=1, burst=20, fail_mode="closed", actor="b"
    )
    assert (
        replaced["limit"],
        replaced["burst"],
        replaced["fail_mode"],
        replaced["updated_by"],
    ) == (
        5,
        20,
        "closed",
        "b",
    )
    assert replaced["created_at"] == created["created_at"]
    assert replaced["updated_at"] >= created["updated_at"]
    await repo.upsert(
        db, "api", "user@x", limit=1, window_sec=1, burst=None, fail_mode="open", actor="a"
    )
    rows = await repo.all_policies(db)
    assert sorted((r["service"], r["key"], r["limit"]) for r in rows) == [
        ("api", "*", 5),
        ("api", "user@x", 1),
    ]


async def test_malformed_service_or_key_is_a_check_violation(db):
    with pytest.raises(asyncpg.CheckViolationError):
        await repo.upsert(
            db, "a b", "*", limit=1, window_sec=1, burst=None, fail_mode="open", actor="a"
        )
    with pytest.raises(asyncpg.CheckViolationError):
        await repo.upsert(
            db, "api", "a*b", limit=1, window_sec=1, burst=None, fail_mode="open", actor="a"
        )


async def test_lock_and_delete(db):
    await repo.upsert(
        db, "api", "k", limit=3, window_sec=9, burst=None, fail_mode="open", actor="a"
    )
    async with db.transaction():
        assert (await repo.lock(db, "api", "k"))["limit"] == 3
        assert await repo.lock(db, "api", "other") is None
    deleted = await repo.delete(db, "api", "k")
    assert (deleted["service"], deleted["key"], deleted["window_sec"]) == ("api", "k", 9)
    assert await repo.delete(db, "api", "k") is None
    assert await repo.all_policies(db) == []
