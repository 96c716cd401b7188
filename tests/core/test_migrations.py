"""Every migration applies from empty, once, even when workers race."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from hearth_core.db import migrations


async def _empty_db(stack) -> tuple[str, str]:
    base = stack.database_url.rsplit("/", 1)[0]
    name = f"empty_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(base + "/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return base, name


async def _drop(base: str, name: str) -> None:
    admin = await asyncpg.connect(base + "/postgres")
    await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    await admin.close()


async def test_all_migrations_apply_from_empty(stack):
    base, name = await _empty_db(stack)
    try:
        conn = await asyncpg.connect(f"{base}/{name}")
        applied = await migrations.apply_all(conn)
        expected = [m.version for m in migrations.available()]
        assert [m.version for m in applied] == expected
        assert await migrations.applied_versions(conn) == expected
        assert await migrations.apply_all(conn) == []  # idempotent
        tables = {r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables")}
        assert {"users", "roles", "user_roles", "audit_log", "data_keys"} <= tables
        await conn.close()
    finally:
        await _drop(base, name)


async def test_concurrent_workers_apply_each_migration_once(stack):
    base, name = await _empty_db(stack)
    try:
        conns = [await asyncpg.connect(f"{base}/{name}") for _ in range(4)]
        results = await asyncio.gather(*(migrations.apply_all(c) for c in conns))
        counts = sorted(len(r) for r in results)
        assert counts[-1] == len(migrations.available())
        assert counts[:-1] == [0, 0, 0]
        for c in conns:
            await c.close()
    finally:
        await _drop(base, name)


def test_migration_files_are_numbered_without_gaps():
    versions = [m.version for m in migrations.available()]
    assert versions == list(range(1, len(versions) + 1))
