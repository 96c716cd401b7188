"""The profile service: users with their PII encrypted at rest, roles, deactivation and erasure.

Every ciphertext's associated data is ``"{user_id}:{column}"``, so a value copied into another
row or column does not decrypt. Exact email lookups go through the HMAC blind index and
display-name prefix search through HMACs of the name's prefixes; nothing else about the PII
is visible to the database.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg
import orjson

from hearth_core import audit, events
from hearth_core.errors import Conflict, InvalidInput, NotFound
from hearth_core.identity.revocations import Revocations, persist
from hearth_core.security.crypto import FieldCipher, normalize_email
from hearth_core.security.passwords import hash_password_async
from hearth_core.users.model import MAX_PREFIX, User, normalize_name, valid_email
from hearth_core.users.repo import decrypt_column

_PREFIX_DOMAIN = "name-prefix"
# Each order is exactly an index (or its reverse), user_id breaking ties, so a page is cheap.
SORTS = {
    "created_at": "u.created_at ASC, u.user_id ASC",
    "-created_at": "u.created_at DESC, u.user_id DESC",
    "last_login": "u.last_login ASC NULLS FIRST, u.user_id ASC",
    "-last_login": "u.last_login DESC NULLS LAST, u.user_id DESC",
    "status": "u.status ASC, u.user_id ASC",
    "-status": "u.status DESC, u.user_id DESC",
}
MIN_PASSWORD = 8


def name_prefixes(cipher: FieldCipher, display_name: str | None) -> list[bytes]:
    if not display_name:
        return []
    norm = normalize_name(display_name)[:MAX_PREFIX]
    return [cipher.mac(_PREFIX_DOMAIN, norm[:i].encode())[:8] for i in range(1, len(norm) + 1)]


def prefix_probe(cipher: FieldCipher, q: str) -> bytes:
    return cipher.mac(_PREFIX_DOMAIN, normalize_name(q)[:MAX_PREFIX].encode())[:8]


@dataclass(frozen=True)
class EncryptedProfile:
    email_bidx: bytes
    email_enc: bytes
    display_name_enc: bytes | None
    attributes_enc: bytes
    name_prefixes: list[bytes]


def encrypt_profile(
    cipher: FieldCipher,
    user_id: uuid.UUID,
    email: str,
    display_name: str | None,
    attributes: dict[str, Any],
) -> EncryptedProfile:
    norm = normalize_email(email)
    return EncryptedProfile(
        email_bidx=cipher.blind_index(norm),
        email_enc=cipher.encrypt_text(norm, f"{user_id}:email"),
        display_name_enc=(
            cipher.encrypt_text(display_name, f"{user_id}:display_name") if display_name else None
        ),
        attributes_enc=cipher.encrypt(orjson.dumps(attributes), f"{user_id}:attributes".encode()),
        name_prefixes=name_prefixes(cipher, display_name),
    )


def decrypt_row(cipher: FieldCipher, row: asyncpg.Record) -> User:
    uid = row["user_id"]
    return User(
        user_id=uid,
        email=decrypt_column(cipher, row, "email"),
        display_name=decrypt_column(cipher, row, "display_name"),
        status=row["status"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_login=row["last_login"],
        roles=list(row["roles"] or []),
        attributes=(
            orjson.loads(cipher.decrypt(row["attributes_enc"], f"{uid}:attributes".encode()))
            if row["attributes_enc"]
            else {}
        ),
    )


_SELECT = """
    SELECT u.*, coalesce(
        (SELECT array_agg(ur.role_name ORDER BY ur.role_name) FROM user_roles ur
         WHERE ur.user_id = u.user_id), '{}') AS roles
    FROM users u
"""


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


async def missing_roles(conn: asyncpg.Connection, roles: list[str]) -> list[str]:
    if not roles:
        return []
    found = {
        r["name"] for r in await conn.fetch("SELECT name FROM roles WHERE name = ANY($1)", roles)
    }
    return [r for r in roles if r not in found]


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

    async def _fetch(
        self, conn: asyncpg.Connection, user_id: uuid.UUID, *, lock: bool = False
    ) -> asyncpg.Record:
        row = await conn.fetchrow(
            _SELECT + " WHERE u.user_id = $1" + (" FOR UPDATE OF u" if lock else ""), user_id
        )
        if row is None:
            raise NotFound(f"no user {user_id}")
        return row

    async def get(self, user_id: uuid.UUID) -> User:
        async with self.pool.acquire() as conn:
            return decrypt_row(self.cipher, await self._fetch(conn, user_id))

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
        async with self.pool.acquire() as conn, conn.transaction():
            if missing := await missing_roles(conn, roles):
                raise InvalidInput(
                    "unknown role",
                    errors=[
                        {"path": f"$.roles[{roles.index(m)}]", "message": f"no role {m!r}"}
                        for m in missing
                    ],
                )
            inserted = await conn.fetchval(
                """
                INSERT INTO users (user_id, email_bidx, email_enc, display_name_enc, attributes_enc,
                                   password_hash, status, name_prefixes)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                ON CONFLICT (email_bidx) DO NOTHING RETURNING user_id
                """,
                user_id,
                enc.email_bidx,
                enc.email_enc,
                enc.display_name_enc,
                enc.attributes_enc,
                password_hash,
                status,
                enc.name_prefixes,
            )
            if inserted is None:
                raise Conflict(
                    "a user with this email exists",
                    errors=[{"path": "$.email", "message": "already registered"}],
                )
            if roles:
                await conn.executemany(
                    "INSERT INTO user_roles (user_id, role_name) VALUES ($1, $2)",
                    [(user_id, r) for r in roles],
                )
            await audit.record(
                conn,
                actor=actor,
                action="user.create",
                target=f"user:{user_id}",
                after={
                    "status": status,
                    "roles": roles,
                    "password": password is not None,
                    "pii": ["email", "display_name", "attributes"],
                },
                request_id=request_id,
            )
            return decrypt_row(self.cipher, await self._fetch(conn, user_id))

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
        async with self.pool.acquire() as conn, conn.transaction():
            row = await self._fetch(conn, user_id, lock=True)
            if row["status"] == "erased":
                raise Conflict(f"user {user_id} was erased")
            current = decrypt_row(self.cipher, row)
            email = changes.get("email", current.email)
            display_name = changes.get("display_name", current.display_name)
            attributes = changes.get("attributes", current.attributes)
            enc = encrypt_profile(self.cipher, user_id, email or "", display_name, attributes)
            status = changes.get("status", current.status)
            try:
                await conn.execute(
                    """
                    UPDATE users SET email_bidx=$2, email_enc=$3, display_name_enc=$4, attributes_enc=$5,
                           name_prefixes=$6, status=$7, password_hash=coalesce($8, password_hash),
                           updated_at=now()
                    WHERE user_id=$1
                    """,
                    user_id,
                    enc.email_bidx,
                    enc.email_enc,
                    enc.display_name_enc,
                    enc.attributes_enc,
                    enc.name_prefixes,
                    status,
                    new_hash,
                )
            except asyncpg.UniqueViolationError:
                raise Conflict(
                    "a user with this email exists",
                    errors=[{"path": "$.email", "message": "already registered"}],
                ) from None
            if "roles" in changes:
                roles = sorted(set(changes["roles"]))
                if missing := await missing_roles(conn, roles):
                    raise InvalidInput(
                        "unknown role",
                        errors=[
                            {"path": f"$.roles[{roles.index(m)}]", "message": f"no role {m!r}"}
                            for m in missing
                        ],
                    )
                await conn.execute(
                    "DELETE FROM user_roles WHERE user_id=$1 AND NOT role_name = ANY($2)",
                    user_id,
                    roles,
                )
                await conn.executemany(
                    "INSERT INTO user_roles (user_id, role_name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    [(user_id, r) for r in roles],
                )
            if current.status == "active" and status != "active":
                await self._revoke_subject(conn, user_id)
            changed = sorted(k for k in changes if k != "password") + (
                ["password"] if new_hash else []
            )
            await audit.record(
                conn,
                actor=actor,
                action="user.update",
                target=f"user:{user_id}",
                before={"status": current.status, "roles": current.roles},
                after={
                    "status": status,
                    "roles": sorted(set(changes.get("roles", current.roles))),
                    "changed": changed,
                },
                request_id=request_id,
            )
            user = decrypt_row(self.cipher, await self._fetch(conn, user_id))
        if current.status == "active" and status != "active":
            self._revoke_locally(user_id)
        return user

    async def deactivate(
        self, user_id: uuid.UUID, *, erase: bool, actor: str, request_id: str | None
    ) -> None:
        """The user can no longer log in and their tokens stop working; ``erase`` drops the PII."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await self._fetch(conn, user_id, lock=True)
            if erase:
                await conn.execute(
                    """
                    UPDATE users SET status='erased', email_bidx=NULL, email_enc=NULL,
                           display_name_enc=NULL, attributes_enc=NULL, password_hash=NULL,
                           name_prefixes='{}', updated_at=now()
                    WHERE user_id=$1
                    """,
                    user_id,
                )
            elif row["status"] == "active":
                await conn.execute(
                    "UPDATE users SET status='inactive', updated_at=now() WHERE user_id=$1", user_id
                )
            await self._revoke_subject(conn, user_id)
            await audit.record(
                conn,
                actor=actor,
                action="user.erase" if erase else "user.deactivate",
                target=f"user:{user_id}",
                before={"status": row["status"]},
                after={
                    "status": "erased"
                    if erase
                    else ("erased" if row["status"] == "erased" else "inactive")
                },
                request_id=request_id,
            )
        self._revoke_locally(user_id)

    async def _revoke_subject(self, conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
        await conn.execute(
            "UPDATE token_families SET revoked_at = now(), revoked_reason = 'user deactivated'"
            " WHERE user_id = $1 AND revoked_at IS NULL",
            user_id,
        )
        await persist(conn, "sub", str(user_id), expires_in=self.revoke_window)
        await events.notify(conn, "revocation")

    def _revoke_locally(self, user_id: uuid.UUID) -> None:
        self.revocations.add("sub", str(user_id), expires_at=time.time() + self.revoke_window)

    async def list(self, q: UserQuery) -> tuple[list[User], int]:
        where: list[str] = []
        args: list[Any] = []

        def arg(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        if q.email is not None:
            where.append(f"u.email_bidx = {arg(self.cipher.blind_index(normalize_email(q.email)))}")
        if q.status is not None:
            where.append(f"u.status = {arg(q.status)}")
        if q.role is not None:
            where.append(
                f"EXISTS (SELECT 1 FROM user_roles ur WHERE ur.user_id = u.user_id AND ur.role_name = {arg(q.role)})"  # noqa: S608 - fixed fragments, values bound
            )
        if q.q:
            where.append(
                f"u.name_prefixes @> ARRAY[{arg(prefix_probe(self.cipher, q.q))}]::bytea[]"
            )
        if q.created_after is not None:
            where.append(f"u.created_at >= {arg(q.created_after)}")
        if q.created_before is not None:
            where.append(f"u.created_at < {arg(q.created_before)}")
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        order = SORTS[q.sort]
        async with self.pool.acquire() as conn:
            total = await conn.fetchval("SELECT count(*) FROM users u" + clause, *args)  # noqa: S608 - built from fixed fragments
            rows = await conn.fetch(
                _SELECT
                + clause
                + f" ORDER BY {order} LIMIT {arg(q.limit)} OFFSET {arg((q.page - 1) * q.limit)}",
                *args,
            )
        return [decrypt_row(self.cipher, r) for r in rows], total


async def reencrypt_all(
    conn: asyncpg.Connection,
    cipher: FieldCipher,
    *,
    batch: int = 1000,
    progress: Any = None,
) -> int:
    """Rewrite every user's ciphertexts under the active data key; returns rows rewritten."""
    done = 0
    last = uuid.UUID(int=0)
    while True:
        rows = await conn.fetch(
            "SELECT u.*, '{}'::text[] AS roles FROM users u WHERE user_id > $1 AND email_enc IS NOT NULL"
            " ORDER BY user_id LIMIT $2",
            last,
            batch,
        )
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
                    await conn.execute(
                        "UPDATE users SET email_enc=$2, display_name_enc=$3, attributes_enc=$4 WHERE user_id=$1",
                        user.user_id,
                        enc.email_enc,
                        enc.display_name_enc,
                        enc.attributes_enc,
                    )
            done += len(stale)
        if progress is not None:
            progress(len(rows))
