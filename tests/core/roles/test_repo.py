"""The roles repository against PostgreSQL: roles with their member counts, seeding, and
granting, replacing and revoking assignments."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from hearth_core.errors import NotFound
from hearth_core.roles import repo


async def _user(db: asyncpg.Connection) -> uuid.UUID:
    return await db.fetchval("INSERT INTO users DEFAULT VALUES RETURNING user_id")


async def test_insert_get_list_update_delete(db):
    await repo.insert(db, "ops", "operators", ["audit.read"])
    role = await repo.get(db, "ops")
    assert role is not None
    assert (role.name, role.description, role.scopes, role.members) == (
        "ops",
        "operators",
        ["audit.read"],
        0,
    )
    assert await repo.get(db, "nope") is None
    with pytest.raises(asyncpg.UniqueViolationError):
        await repo.insert(db, "ops", "", [])
    with pytest.raises(asyncpg.CheckViolationError):
        await repo.insert(db, "Bad Name", "", [])

    await repo.update(db, "ops", "operators, more", ["audit.read", "profile.read"])
    role = await repo.get(db, "ops")
    assert role.description == "operators, more" and role.scopes == ["audit.read", "profile.read"]
    assert role.updated_at >= role.created_at
    assert [r.name for r in await repo.list_roles(db)] == ["admin", "ops"]

    await repo.delete(db, "ops")
    assert await repo.get(db, "ops") is None
    assert await repo.names(db) == {"admin"}


async def test_lock_needs_a_transaction_and_a_role(db):
    with pytest.raises(RuntimeError):
        await repo.lock(db, "admin")
    async with db.transaction():
        assert (await repo.lock(db, "admin")).members == 1  # the bootstrap admin
        with pytest.raises(NotFound):
            await repo.lock(db, "nope")


async def test_seed_adds_scopes_and_keeps_the_rest(db):
    await repo.seed(db, "svc", "first", ["b.read", "a.read"])
    role = await repo.get(db, "svc")
    assert role.scopes == ["b.read", "a.read"] and role.description == "first"
    await repo.seed(db, "svc", "second", ["c.read", "a.read"])
    role = await repo.get(db, "svc")
    assert role.scopes == ["a.read", "b.read", "c.read"] and role.description == "first"


async def test_assignments(db):
    await repo.insert(db, "ops", "", [])
    await repo.insert(db, "dev", "", [])
    a, b = await _user(db), await _user(db)
    assert await repo.names(db, ["ops", "ghost", "dev"]) == {"ops", "dev"}
    assert await repo.names(db, []) == set()
    assert not await repo.has_members(db, "ops")

    assert await repo.grant(db, a, "ops") is True
    assert await repo.grant(db, a, "ops") is False
    assert await repo.has_members(db, "ops")
    await repo.grant_many(db, [(b, "ops"), (b, "dev")])
    await repo.grant_many(db, [])
    with pytest.raises(asyncpg.UniqueViolationError):
        await repo.grant_many(db, [(b, "dev")])
    assert (await repo.get(db, "ops")).members == 2

    async def held(user: uuid.UUID) -> set[str]:
        rows = await db.fetch("SELECT role_name FROM user_roles WHERE user_id=$1", user)
        return {r["role_name"] for r in rows}

    await repo.replace(db, b, ["dev", "admin"])
    assert await held(b) == {"dev", "admin"}
    await repo.replace(db, b, [])
    assert await held(b) == set()

    assert await repo.revoke(db, a, "ops") is True
    assert await repo.revoke(db, a, "ops") is False
    await repo.grant_many(db, [(a, "ops"), (a, "dev"), (b, "ops")])
    await repo.revoke_all(db, [a])
    assert await held(a) == set() and await held(b) == {"ops"}
