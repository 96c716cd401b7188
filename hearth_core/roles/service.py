"""Roles: named sets of scopes. A user's roles bound the scopes their tokens can carry."""

from __future__ import annotations

import csv
import io
import uuid

import asyncpg

from hearth_core.db.audited import audited_write
from hearth_core.errors import Conflict, InvalidInput, NotFound, Unprocessable
from hearth_core.identity.clients import KNOWN_SCOPES
from hearth_core.roles import repo
from hearth_core.roles.model import PROTECTED, Role
from hearth_core.users import repo as users_repo


def check_scopes(scopes: list[str]) -> list[str]:
    errors = [
        {"path": f"$.scopes[{i}]", "message": f"unknown scope {s!r}"}
        for i, s in enumerate(scopes)
        if s not in KNOWN_SCOPES
    ]
    if errors:
        raise InvalidInput("unknown scope", errors=errors)
    return sorted(set(scopes))


def export_csv(roles: list[Role]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["name", "description", "scopes", "members"])
    for r in roles:
        writer.writerow([r.name, r.description, " ".join(r.scopes), r.members])
    return out.getvalue()


async def _get(conn: asyncpg.Connection | asyncpg.Pool, name: str) -> Role:
    role = await repo.get(conn, name)
    if role is None:
        raise NotFound(f"no role {name!r}")
    return role


class RoleService:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def list_roles(self) -> list[Role]:
        return await repo.list_roles(self.pool)

    async def get(self, name: str) -> Role:
        return await _get(self.pool, name)

    async def create(
        self, *, name: str, description: str, scopes: list[str], actor: str, request_id: str | None
    ) -> Role:
        scopes = check_scopes(scopes)
        async with audited_write(self.pool, actor=actor, request_id=request_id) as w:
            try:
                await repo.insert(w.conn, name, description, scopes)
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
            await w.audit(
                "role.create", f"role:{name}", after={"description": description, "scopes": scopes}
            )
            return await _get(w.conn, name)

    async def update(
        self,
        name: str,
        *,
        description: str,
        scopes: list[str],
        actor: str,
        request_id: str | None,
    ) -> Role:
        scopes = check_scopes(scopes)
        async with audited_write(self.pool, actor=actor, request_id=request_id) as w:
            before = await repo.lock(w.conn, name)
            await repo.update(w.conn, name, description, scopes)
            await w.audit(
                "role.update",
                f"role:{name}",
                before={"description": before.description, "scopes": before.scopes},
                after={"description": description, "scopes": scopes},
            )
            return await _get(w.conn, name)

    async def delete(self, name: str, *, force: bool, actor: str, request_id: str | None) -> None:
        if name in PROTECTED:
            raise Conflict(f"role {name!r} is built in and cannot be deleted")
        async with audited_write(self.pool, actor=actor, request_id=request_id) as w:
            before = await repo.lock(w.conn, name)
            if before.members and not force:
                raise Unprocessable(
                    f"role {name!r} is assigned to {before.members} user(s); pass force=true to delete it anyway"
                )
            await repo.delete(w.conn, name)
            await w.audit(
                "role.delete",
                f"role:{name}",
                before={
                    "description": before.description,
                    "scopes": before.scopes,
                    "members": before.members,
                },
            )

    async def assign(
        self, user_id: uuid.UUID, role: str, *, actor: str, request_id: str | None
    ) -> bool:
        """Grant ``role``; False when the user already had it."""
        async with audited_write(self.pool, actor=actor, request_id=request_id) as w:
            await _get(w.conn, role)
            if await users_repo.status_of(w.conn, user_id) is None:
                raise NotFound(f"no user {user_id}")
            added = await repo.grant(w.conn, user_id, role)
            if added:
                await w.audit("role.assign", f"user:{user_id}", after={"role": role})
            return added

    async def unassign(
        self, user_id: uuid.UUID, role: str, *, actor: str, request_id: str | None
    ) -> None:
        async with audited_write(self.pool, actor=actor, request_id=request_id) as w:
            if not await repo.revoke(w.conn, user_id, role):
                raise NotFound(f"user {user_id} does not have role {role!r}")
            await w.audit("role.unassign", f"user:{user_id}", before={"role": role})
