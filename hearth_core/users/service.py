"""The profile service: users with their PII encrypted at rest (see ``pii``), roles,
deactivation and erasure."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg

from hearth_core.db.audited import AuditedWrite, audited_write
from hearth_core.db.paging import Page
from hearth_core.errors import Conflict, InvalidInput, NotFound
from hearth_core.identity import repo as identity_repo
from hearth_core.identity.revocations import Revocations
from hearth_core.roles import repo as roles_repo
from hearth_core.security.crypto import FieldCipher, normalize_email
from hearth_core.security.passwords import hash_password_async
from hearth_core.users import repo
from hearth_core.users.model import User, valid_email
from hearth_core.users.pii import decrypt_row, encrypt_profile, prefix_probe
from hearth_core.users.repo import SORTS as SORTS  # the list endpoint's sort keys

MIN_PASSWORD = 8


@dataclass(frozen=True)
class UserQuery:
    limit: int = 50
    page: int = 1
    email: str | None = None
    role: str | None = None
    status: str | None = None
    q: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    sort: str = "created_at"


def check_email(email: str, path: str = "$.email") -> None:
    if not valid_email(email.strip()):
        raise InvalidInput(
            "invalid email", errors=[{"path": path, "message": "not an email address"}]
        )


def check_password(password: str, path: str = "$.password") -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(
            "password too short",
            errors=[{"path": path, "message": f"at least {MIN_PASSWORD} characters"}],
        )


async def check_roles(conn: asyncpg.Connection, roles: list[str]) -> None:
    """InvalidInput naming each of ``roles`` (sorted, unique) that does not exist."""
    if not roles:
        return
    found = await roles_repo.names(conn, roles)
    missing = [r for r in roles if r not in found]
    if missing:
        raise InvalidInput(
            "unknown role",
            errors=[
                {"path": f"$.roles[{roles.index(m)}]", "message": f"no role {m!r}"} for m in missing
            ],
        )


def _email_taken() -> Conflict:
    return Conflict(
        "a user with this email exists",
        errors=[{"path": "$.email", "message": "already registered"}],
    )


class UserService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        cipher: FieldCipher,
        revocations: Revocations,
        revoke_window: float,
    ) -> None:
        self.pool = pool
        self.cipher = cipher
        self.revocations = revocations
        self.revoke_window = revoke_window

    async def _read(self, conn: asyncpg.Connection | asyncpg.Pool, user_id: uuid.UUID) -> User:
        row = await repo.get(conn, user_id)
        if row is None:
            raise NotFound(f"no user {user_id}")
        return decrypt_row(self.cipher, row)

    async def get(self, user_id: uuid.UUID) -> User:
        return await self._read(self.pool, user_id)

    async def create(
        self,
        *,
        email: str,
        display_name: str | None,
        password: str | None,
        attributes: dict[str, Any],
        roles: list[str],
        status: Literal["active", "inactive"],
        actor: str,
        request_id: str | None,
    ) -> User:
        check_email(email)
        if password is not None:
            check_password(password)
        password_hash = await hash_password_async(password) if password is not None else None
        user_id = uuid.uuid4()
        enc = encrypt_profile(self.cipher, user_id, email, display_name, attributes)
        roles = sorted(set(roles))
        async with audited_write(self.pool, actor=actor, request_id=request_id) as w:
            await check_roles(w.conn, roles)
            try:
                await repo.insert(w.conn, [repo.NewUser(user_id, enc, password_hash, status)])
            except asyncpg.UniqueViolationError:
                raise _email_taken() from None
            await roles_repo.grant_many(w.conn, [(user_id, r) for r in roles])
            await w.audit(
                "user.create",
                f"user:{user_id}",
                after={
                    "status": status,
                    "roles": roles,
                    "password": password is not None,
                    "pii": ["email", "display_name", "attributes"],
                },
            )
            return await self._read(w.conn, user_id)

    async def update(
        self, user_id: uuid.UUID, *, changes: dict[str, Any], actor: str, request_id: str | None
    ) -> User:
        """Apply the given fields (others unchanged); email, password, status, roles included."""
        if "email" in changes:
            check_email(changes["email"])
        if changes.get("password") is not None:
            check_password(changes["password"])
        new_hash = (
            await hash_password_async(changes["password"]) if changes.get("password") else None
        )
        async with audited_write(self.pool, actor=actor, request_id=request_id) as w:
            row = await repo.lock(w.conn, user_id)
            if row["status"] == "erased":
                raise Conflict(f"user {user_id} was erased")
            current = decrypt_row(self.cipher, row)
            email = changes.get("email", current.email)
            display_name = changes.get("display_name", current.display_name)
            attributes = changes.get("attributes", current.attributes)
            enc = encrypt_profile(self.cipher, user_id, email or "", display_name, attributes)
            status = changes.get("status", current.status)
            try:
                await repo.update(w.conn, user_id, enc, status=status, password_hash=new_hash)
            except asyncpg.UniqueViolationError:
                raise _email_taken() from None
            if "roles" in changes:
                roles = sorted(set(changes["roles"]))
                await check_roles(w.conn, roles)
                await roles_repo.replace(w.conn, user_id, roles)
            if current.status == "active" and status != "active":
                await self._revoke_subject(w, user_id)
            changed = sorted(k for k in changes if k != "password") + (
                ["password"] if new_hash else []
            )
            await w.audit(
                "user.update",
                f"user:{user_id}",
                before={"status": current.status, "roles": current.roles},
                after={
                    "status": status,
                    "roles": sorted(set(changes.get("roles", current.roles))),
                    "changed": changed,
                },
            )
            user = await self._read(w.conn, user_id)
        if current.status == "active" and status != "active":
            self._revoke_locally(user_id)
        return user

    async def deactivate(
        self, user_id: uuid.UUID, *, erase: bool, actor: str, request_id: str | None
    ) -> None:
        """The user can no longer log in and their tokens stop working; ``erase`` drops the PII."""
        async with audited_write(self.pool, actor=actor, request_id=request_id) as w:
            row = await repo.lock(w.conn, user_id)
            if erase:
                await repo.erase(w.conn, user_id)
            elif row["status"] == "active":
                await repo.deactivate(w.conn, user_id)
            await self._revoke_subject(w, user_id)
            await w.audit(
                "user.erase" if erase else "user.deactivate",
                f"user:{user_id}",
                before={"status": row["status"]},
                after={
                    "status": "erased"
                    if erase
                    else ("erased" if row["status"] == "erased" else "inactive")
                },
            )
        self._revoke_locally(user_id)

    async def _revoke_subject(self, w: AuditedWrite, user_id: uuid.UUID) -> None:
        await identity_repo.revoke_user_families(w.conn, user_id, "user deactivated")
        await identity_repo.persist_revocation(
            w.conn, "sub", str(user_id), expires_in=self.revoke_window
        )
        await w.notify("revocation")

    def _revoke_locally(self, user_id: uuid.UUID) -> None:
        self.revocations.add("sub", str(user_id), expires_at=time.time() + self.revoke_window)

    async def list(self, q: UserQuery) -> Page[User]:
        filters = repo.Filters(
            email_bidx=(
                self.cipher.blind_index(normalize_email(q.email)) if q.email is not None else None
            ),
            status=q.status,
            role=q.role,
            name_prefix=prefix_probe(self.cipher, q.q) if q.q else None,
            created_after=q.created_after,
            created_before=q.created_before,
        )
        rows, total = await repo.list_page(
            self.pool, filters, sort=q.sort, page=q.page, limit=q.limit
        )
        return Page(
            items=[decrypt_row(self.cipher, r) for r in rows],
            page=q.page,
            limit=q.limit,
            total=total,
        )


async def reencrypt_all(
    conn: asyncpg.Connection,
    cipher: FieldCipher,
    *,
    batch: int = 1000,
    progress: Callable[[int], Any] | None = None,
) -> int:
    """Rewrite every user's ciphertexts under the active data key; returns rows rewritten."""
    done = 0
    last = uuid.UUID(int=0)
    while True:
        rows = await repo.encrypted_after(conn, last, batch)
        if not rows:
            return done
        last = rows[-1]["user_id"]
        stale = [r for r in rows if cipher.key_id_of(r["email_enc"]) != cipher.active_id]
        if stale:
            async with conn.transaction():
                for r in stale:
                    user = decrypt_row(cipher, r)
                    enc = encrypt_profile(
                        cipher, user.user_id, user.email or "", user.display_name, user.attributes
                    )
                    await repo.rewrite_ciphertexts(conn, user.user_id, enc)
            done += len(stale)
        if progress is not None:
            progress(len(rows))
