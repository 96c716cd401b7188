"""The config repository against PostgreSQL: entries, versions and the paged history."""

from __future__ import annotations

import asyncpg
import pytest

from hearth_core.config import repo


async def _set(db, key: str, version: int, value, *, env: str = "prod", action: str = "set"):
    await repo.upsert_entry(db, env, key, value=value, schema=None, version=version, actor="t")
    await repo.add_history(
        db,
        env,
        key,
        version=version,
        value=value,
        schema=None,
        action=action,
        actor="t",
        request_id=f"r{version}",
    )


async def test_upsert_reads_back_and_replaces(db):
    row = await repo.upsert_entry(
        db, "prod", "a.b", value={"x": [1, 2]}, schema={"type": "object"}, version=1, actor="me"
    )
    assert (row["value"], row["schema"], row["version"], row["updated_by"]) == (
        {"x": [1, 2]},
        {"type": "object"},
        1,
        "me",
    )
    await repo.upsert_entry(db, "prod", "a.b", value=3, schema=None, version=2, actor="you")
    got = await repo.get_entry(db, "prod", "a.b")
    assert (got["value"], got["schema"], got["version"], got["updated_by"]) == (3, None, 2, "you")
    assert await repo.get_entry(db, "dev", "a.b") is None
    assert [(r["environment"], r["key"]) for r in await repo.all_entries(db)] == [("prod", "a.b")]
    with pytest.raises(asyncpg.CheckViolationError):
        await repo.upsert_entry(db, "prod", "-bad", value=1, schema=None, version=1, actor="me")


async def test_lock_and_delete(db):
    await _set(db, "k", 1, "v")
    async with db.transaction():
        assert (await repo.lock_entry(db, "prod", "k"))["value"] == "v"
        assert await repo.lock_entry(db, "prod", "other") is None
    deleted = await repo.delete_entry(db, "prod", "k")
    assert (deleted["version"], deleted["value"]) == (1, "v")
    assert await repo.delete_entry(db, "prod", "k") is None
    assert await repo.get_entry(db, "prod", "k") is None


async def test_history_versions_and_pages(db):
    for v in range(1, 6):
        await _set(db, "k", v, {"n": v})
    await _set(db, "k", 1, "elsewhere", env="dev")
    await repo.add_history(
        db,
        "prod",
        "k",
        version=6,
        value=None,
        schema=None,
        action="delete",
        actor="t",
        request_id=None,
    )
    assert await repo.last_version(db, "prod", "k") == 6
    assert await repo.last_version(db, "prod", "never") == 0
    old = await repo.history_version(db, "prod", "k", 2)
    assert (old["value"], old["action"]) == ({"n": 2}, "set")
    assert await repo.history_version(db, "prod", "k", 99) is None

    rows, total = await repo.history_page(db, "prod", "k", page=1, limit=4)
    assert total == 6 and [r["version"] for r in rows] == [6, 5, 4, 3]  # newest first
    assert rows[0]["action"] == "delete" and rows[0]["value"] is None
    assert rows[1]["request_id"] == "r5" and rows[1]["actor"] == "t"
    rows, total = await repo.history_page(db, "prod", "k", page=2, limit=4)
    assert total == 6 and [r["version"] for r in rows] == [2, 1]
    rows, total = await repo.history_page(db, "dev", "k", page=1, limit=50)
    assert total == 1 and rows[0]["value"] == "elsewhere"
    assert await repo.history_page(db, "prod", "none", page=1, limit=10) == ([], 0)
