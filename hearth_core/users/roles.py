"""Roles: named sets of scopes. A user's roles bound the scopes their tokens can carry."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime

import asyncpg
import msgspec

from hearth_core import audit
from hearth_core.errors import Conflict, InvalidInput, NotFound, Unprocessable
from hearth_core.identity.clients import KNOWN_SCOPES

PROTECTED = frozenset({"admin"})


class Role(msgspec.Struct, kw_only=True):
    name: str
    description: str
    scopes: list[str]
    created_at: datetime
    updated_at: datetime
    members: int


def _role(row: asyncpg.Record) -> Role:
    return Role(
        name=row["name"],
        description=row["description"],
        scopes=list(row["scopes"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        members=row["members"],
    )


_SELECT = """
    SELECT r.*, (SELECT count(*) FROM user_roles ur WHERE ur.role_name = r.name) AS members
    FROM roles r
"""


def check_scopes(scopes: list[str]) -> list[str]:
    errors = [
        {"path": f"$.scopes[{i}]", "message": f"unknown scope {s!r}"}
        for i, s in enumerate(scopes)
        if s not in KNOWN_SCOPES
    ]
    if errors:
        raise InvalidInput("unknown scope", errors=errors)
    return sorted(set(scopes))


async def list_roles(conn: asyncpg.Connection) -> list[Role]:
    return [_role(r) for r in await conn.fetch(_SELECT + " ORDER BY r.name")]


async def get(conn: asyncpg.Connection, name: str) -> Role:
    row = await conn.fetchrow(_SELECT + " WHERE r.name = $1", name)
    if row is None:
        raise NotFound(f"no role {name!r}")
    return _role(row)


async def create(
    conn: asyncpg.Connection,
    *,
    name: str,
    description: str,
    scopes: list[str],
    actor: str,
    request_id: str | None,
) -> Role:
    scopes = check_scopes(scopes)
    async with conn.transaction():
        try:
            await conn.execute(
                "INSERT INTO roles (name, description, scopes) VALUES ($1, $2, $3)",
                name,
                description,
                scopes,
            )
        except asyncpg.UniqueViolationError:
            raise Conflict(
                f"role {name!r} exists", errors=[{"path": "$.name", "message": "taken"}]
            ) from None
        except asyncpg.CheckViolationError:
            raise InvalidInput(
                "invalid role name",
                errors=[
                    {
                        "path": "$.name",
                        "message": "lowercase letters, digits, . _ - (1-64), starting with a letter",
                    }
                ],
            ) from None
        await audit.record(
            conn,
            actor=actor,
            action="role.create",
            target=f"role:{name}",
            after={"description": description, "scopes": scopes},
            request_id=request_id,
        )
        return await get(conn, name)


async def update(
    conn: asyncpg.Connection,
    name: str,
    *,
    description: str,
    scopes: list[str],
    actor: str,
    request_id: str | None,
) -> Role:
    scopes = check_scopes(scopes)
    async with conn.transaction():
        before = await get(conn, name)
        await conn.execute(
            "UPDATE roles SET description=$2, scopes=$3, updated_at=now() WHERE name=$1",
            name,
            description,
            scopes,
        )
        await audit.record(
            conn,
            actor=actor,
            action="role.update",
            target=f"role:{name}",
            before={"description": before.description, "scopes": before.scopes},
            after={"description": description, "scopes": scopes},
            request_id=request_id,
        )
        return await get(conn, name)


async def delete(
    conn: asyncpg.Connection, name: str, *, force: bool, actor: str, request_id: str | None
) -> None:
    if name in PROTECTED:
        raise Conflict(f"role {name!r} is built in and cannot be deleted")
    async with conn.transaction():
        before = await get(conn, name)
        if before.members and not force:
            raise Unprocessable(
                f"role {name!r} is assigned to {before.members} user(s); pass force=true to delete it anyway"
            )
        await conn.execute("DELETE FROM roles WHERE name=$1", name)
        await audit.record(
            conn,
            actor=actor,
            action="role.delete",
            target=f"role:{name}",
            before={
                "description": before.description,
                "scopes": before.scopes,
                "members": before.members,
            },
            request_id=request_id,
        )


async def assign(
    conn: asyncpg.Connection, user_id: uuid.UUID, role: str, *, actor: str, request_id: str | None
) -> bool:
    """Grant ``role``; False when the user already had it."""
    async with conn.transaction():
        await get(conn, role)
        status = await conn.fetchval("SELECT status FROM users WHERE user_id=$1", user_id)
        if status is None:
            raise NotFound(f"no user {user_id}")
        added = await conn.fetchval(
            "INSERT INTO user_roles (user_id, role_name) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1",
            user_id,
            role,
        )
        if added:
            await audit.record(
                conn,
                actor=actor,
                action="role.assign",
                target=f"user:{user_id}",
                after={"role": role},
                request_id=request_id,
            )
        return bool(added)


async def unassign(
    conn: asyncpg.Connection, user_id: uuid.UUID, role: str, *, actor: str, request_id: str | None
) -> None:
    async with conn.transaction():
        removed = await conn.fetchval(
            "DELETE FROM user_roles WHERE user_id=$1 AND role_name=$2 RETURNING 1", user_id, role
        )
        if not removed:
            raise NotFound(f"user {user_id} does not have role {role!r}")
        await audit.record(
            conn,
            actor=actor,
            action="role.unassign",
            target=f"user:{user_id}",
            before={"role": role},
            request_id=request_id,
        )


def export_csv(roles: list[Role]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["name", "description", "scopes", "members"])
    for r in roles:
        writer.writerow([r.name, r.description, " ".join(r.scopes), r.members])
    return out.getvalue()
