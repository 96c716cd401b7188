"""SQL for roles and role assignments (``user_roles``), each function taking a connection."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import asyncpg

from hearth_core.db.locked import fetch_locked
from hearth_core.roles.model import Role

_COLUMNS = "r.*, (SELECT count(*) FROM user_roles ur WHERE ur.role_name = r.name) AS members"


def _role(row: asyncpg.Record) -> Role:
    return Role(
        name=row["name"],
        description=row["description"],
        scopes=list(row["scopes"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        members=row["members"],
    )


# ------------------------------------------------------------------ roles
async def list_roles(conn: asyncpg.Connection | asyncpg.Pool) -> list[Role]:
    return [_role(r) for r in await conn.fetch(f"SELECT {_COLUMNS} FROM roles r ORDER BY r.name")]  # noqa: S608 - fixed fragment


async def get(conn: asyncpg.Connection | asyncpg.Pool, name: str) -> Role | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM roles r WHERE r.name = $1", name)  # noqa: S608 - fixed fragment
    return _role(row) if row is not None else None


async def lock(conn: asyncpg.Connection, name: str) -> Role:
    """The role, locked until the transaction ends, or NotFound."""
    row = await fetch_locked(
        conn, "roles r", {"r.name": name}, columns=_COLUMNS, missing=f"no role {name!r}"
    )
    return _role(row)


async def insert(conn: asyncpg.Connection, name: str, description: str, scopes: list[str]) -> None:
    """Raises UniqueViolationError for a taken name, CheckViolationError for a malformed one."""
    await conn.execute(
        "INSERT INTO roles (name, description, scopes) VALUES ($1, $2, $3)",
        name,
        description,
        scopes,
    )


async def update(conn: asyncpg.Connection, name: str, description: str, scopes: list[str]) -> None:
    await conn.execute(
        "UPDATE roles SET description=$2, scopes=$3, updated_at=now() WHERE name=$1",
        name,
        description,
        scopes,
    )


async def delete(conn: asyncpg.Connection, name: str) -> None:
    await conn.execute("DELETE FROM roles WHERE name=$1", name)


async def seed(conn: asyncpg.Connection, name: str, description: str, scopes: list[str]) -> None:
    """Create the role, or add ``scopes`` to it (scopes it already has are kept)."""
    await conn.execute(
        """
        INSERT INTO roles (name, description, scopes) VALUES ($1, $2, $3)
        ON CONFLICT (name) DO UPDATE SET scopes = (
            SELECT array_agg(DISTINCT s ORDER BY s) FROM unnest(roles.scopes || EXCLUDED.scopes) s
        )
        """,
        name,
        description,
        scopes,
    )


async def names(conn: asyncpg.Connection, among: list[str] | None = None) -> set[str]:
    """Every role's name, or those of ``among`` that exist."""
    if among is None:
        return {r["name"] for r in await conn.fetch("SELECT name FROM roles")}
    return {
        r["name"] for r in await conn.fetch("SELECT name FROM roles WHERE name = ANY($1)", among)
    }


# ------------------------------------------------------------ assignments
async def grant(conn: asyncpg.Connection, user_id: uuid.UUID, role: str) -> bool:
    """False when the user already had the role."""
    added = await conn.fetchval(
        "INSERT INTO user_roles (user_id, role_name) VALUES ($1, $2)"
        " ON CONFLICT DO NOTHING RETURNING 1",
        user_id,
        role,
    )
    return bool(added)


async def grant_many(conn: asyncpg.Connection, pairs: Iterable[tuple[uuid.UUID, str]]) -> None:
    """Grant new (user, role) pairs in one COPY; a pair that exists is a UniqueViolationError."""
    records = list(pairs)
    if records:
        await conn.copy_records_to_table(
            "user_roles", columns=["user_id", "role_name"], records=records
        )


async def revoke(conn: asyncpg.Connection, user_id: uuid.UUID, role: str) -> bool:
    """False when the user did not have the role."""
    removed = await conn.fetchval(
        "DELETE FROM user_roles WHERE user_id=$1 AND role_name=$2 RETURNING 1", user_id, role
    )
    return bool(removed)


async def revoke_all(conn: asyncpg.Connection, user_ids: list[uuid.UUID]) -> None:
    if user_ids:
        await conn.execute("DELETE FROM user_roles WHERE user_id = ANY($1::uuid[])", user_ids)


async def replace(conn: asyncpg.Connection, user_id: uuid.UUID, roles: list[str]) -> None:
    """The user holds exactly ``roles`` afterwards."""
    await conn.execute(
        "DELETE FROM user_roles WHERE user_id=$1 AND NOT role_name = ANY($2)", user_id, roles
    )
    await conn.executemany(
        "INSERT INTO user_roles (user_id, role_name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        [(user_id, r) for r in roles],
    )


async def has_members(conn: asyncpg.Connection, role: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM user_roles WHERE role_name = $1 LIMIT 1", role))
