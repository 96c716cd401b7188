"""The audit log is append-only and hash-chained; verify finds a changed or a deleted row."""

from __future__ import annotations

import asyncio
import itertools

import asyncpg
import pytest

from hearth_core import audit
from tests.fixtures import run_hearth


async def _write(db, n: int) -> None:
    for i in range(n):
        await audit.record(
            db,
            actor="test",
            action="thing.change",
            target=f"thing:{i}",
            before={"v": i},
            after={"v": i + 1},
            request_id=f"r{i}",
        )


async def test_chain_is_intact_and_append_only(db):
    await _write(db, 5)
    assert await audit.verify(db) == []
    rows = await db.fetch("SELECT seq, prev_hash, hash FROM audit_log ORDER BY seq")
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(rows))
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await db.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await db.execute("DELETE FROM audit_log WHERE seq = 2")


async def test_verify_detects_a_changed_and_a_deleted_row(db, settings, hearth_env):
    await _write(db, 6)
    # Someone with superuser rights goes around the trigger.
    await db.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_append_only")
    await db.execute("UPDATE audit_log SET after = '{\"v\": 999}' WHERE target = 'thing:2'")
    await db.execute("DELETE FROM audit_log WHERE target = 'thing:4'")
    await db.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_append_only")
    problems = await audit.verify(db)
    assert any("was changed" in p for p in problems)
    assert any("missing" in p for p in problems)
    env = {
        **hearth_env,
        "HEARTH_DATABASE_URL": settings.database_url,
        "HEARTH_REDIS_URL": settings.redis_url,
    }
    code, _, err = await run_hearth(env, "audit", "verify")
    assert code == 1 and "audit chain broken" in err and "was changed" in err


async def test_concurrent_writers_keep_one_chain(settings, db):
    conns = [await asyncpg.connect(settings.database_url) for _ in range(4)]
    try:

        async def writer(c, k):
            for i in range(10):
                async with c.transaction():
                    await c.execute(
                        "INSERT INTO audit_log (actor, action, target) VALUES ($1, 'x', $2)",
                        f"w{k}",
                        f"t{i}",
                    )

        await asyncio.gather(*(writer(c, k) for k, c in enumerate(conns)))
    finally:
        for c in conns:
            await c.close()
    assert await audit.verify(db) == []
