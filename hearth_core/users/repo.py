"""SQL for users, each function taking a connection (the caller owns the transaction)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from hearth_core.db.locked import fetch_locked
from hearth_core.db.paging import Where, fetch_page
from hearth_core.security.crypto import FieldCipher, normalize_email
from hearth_core.users.pii import EncryptedProfile, decrypt_column

# A user row with its role names (sorted), as pii.decrypt_row reads it.
_COLUMNS = """u.*, coalesce(
    (SELECT array_agg(ur.role_name ORDER BY ur.role_name) FROM user_roles ur
     WHERE ur.user_id = u.user_id), '{}') AS roles"""
# Each order is exactly an index (or its reverse), user_id breaking ties, so a page is cheap.
SORTS = {
    "created_at": "u.created_at ASC, u.user_id ASC",
    "-created_at": "u.created_at DESC, u.user_id DESC",
    "last_login": "u.last_login ASC NULLS FIRST, u.user_id ASC",
    "-last_login": "u.last_login DESC NULLS LAST, u.user_id DESC",
    "status": "u.status ASC, u.user_id ASC",
    "-status": "u.status DESC, u.user_id DESC",
}


# ------------------------------------------------------------------ sign-in
@dataclass(frozen=True)
class LoginRecord:
    user_id: uuid.UUID
    password_hash: str | None
    status: str


async def find_login(
    conn: asyncpg.Connection | asyncpg.Pool, cipher: FieldCipher, email: str
) -> LoginRecord | None:
    row = await conn.fetchrow(
        "SELECT user_id, password_hash, status FROM users WHERE email_bidx = $1",
        cipher.blind_index(normalize_email(email)),
    )
    if row is None:
        return None
    return LoginRecord(row["user_id"], row["password_hash"], row["status"])


async def granted_scopes(conn: asyncpg.Connection | asyncpg.Pool, user_id: uuid.UUID) -> set[str]:
    rows = await conn.fetch(
        """
        SELECT DISTINCT unnest(r.scopes) AS scope
        FROM user_roles ur JOIN roles r ON r.name = ur.role_name
        WHERE ur.user_id = $1
        """,
        user_id,
    )
    return {r["scope"] for r in rows}


async def touch_last_login(conn: asyncpg.Connection | asyncpg.Pool, user_id: uuid.UUID) -> None:
    await conn.execute("UPDATE users SET last_login = now() WHERE user_id = $1", user_id)


@dataclass(frozen=True)
class Identity:
    user_id: uuid.UUID
    email: str | None
    display_name: str | None
    status: str


async def get_identity(
    conn: asyncpg.Connection | asyncpg.Pool, cipher: FieldCipher, user_id: uuid.UUID
) -> Identity | None:
    row = await conn.fetchrow(
        "SELECT user_id, email_enc, display_name_enc, status FROM users WHERE user_id = $1", user_id
    )
    if row is None:
        return None
    return Identity(
        user_id=row["user_id"],
        email=decrypt_column(cipher, row, "email"),
        display_name=decrypt_column(cipher, row, "display_name"),
        status=row["status"],
    )


# ------------------------------------------------------------------ reads
async def get(conn: asyncpg.Connection | asyncpg.Pool, user_id: uuid.UUID) -> asyncpg.Record | None:
    """The user's row with its ``roles``."""
    return await conn.fetchrow(f"SELECT {_COLUMNS} FROM users u WHERE u.user_id = $1", user_id)  # noqa: S608 - fixed fragment


async def lock(conn: asyncpg.Connection, user_id: uuid.UUID) -> asyncpg.Record:
    """The user's row with its ``roles``, locked until the transaction ends, or NotFound."""
    return await fetch_locked(
        conn, "users u", {"u.user_id": user_id}, columns=_COLUMNS, missing=f"no user {user_id}"
    )


async def status_of(conn: asyncpg.Connection | asyncpg.Pool, user_id: uuid.UUID) -> str | None:
    return await conn.fetchval("SELECT status FROM users WHERE user_id=$1", user_id)


@dataclass(frozen=True)
class Filters:
    """What a user list can be narrowed by; the PII ones arrive already hashed."""

    email_bidx: bytes | None = None
    status: str | None = None
    role: str | None = None
    name_prefix: bytes | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


async def list_page(
    conn: asyncpg.Connection | asyncpg.Pool, f: Filters, *, sort: str, page: int, limit: int
) -> tuple[list[asyncpg.Record], int]:
    where = (
        Where()
        .eq("u.email_bidx", f.email_bidx)
        .eq("u.status", f.status)
        .when(
            f.role,
            "EXISTS (SELECT 1 FROM user_roles ur WHERE ur.user_id = u.user_id AND ur.role_name = {})",
        )
        .when(f.name_prefix, "u.name_prefixes @> ARRAY[{}]::bytea[]")
        .since("u.created_at", f.created_after)
        .until("u.created_at", f.created_before)
    )
    return await fetch_page(
        conn,
        select=_COLUMNS,
        from_="users u",
        where=where,
        order_by=SORTS[sort],
        page=page,
        limit=limit,
    )


async def ids_by_email(conn: asyncpg.Connection, email_bidx: list[bytes]) -> dict[bytes, uuid.UUID]:
    """The users among these blind indexes: {email_bidx: user_id}."""
    rows = await conn.fetch(
        "SELECT email_bidx, user_id FROM users WHERE email_bidx = ANY($1::bytea[])", email_bidx
    )
    return {r["email_bidx"]: r["user_id"] for r in rows}


async def count_encrypted(conn: asyncpg.Connection | asyncpg.Pool) -> int:
    """Users whose PII is still held (erased users have none)."""
    return int(await conn.fetchval("SELECT count(*) FROM users WHERE email_enc IS NOT NULL"))


async def encrypted_after(
    conn: asyncpg.Connection, after: uuid.UUID, limit: int
) -> list[asyncpg.Record]:
    """The next ``limit`` users holding PII in user_id order (``roles`` left empty)."""
    return await conn.fetch(
        "SELECT u.*, '{}'::text[] AS roles FROM users u WHERE user_id > $1 AND email_enc IS NOT NULL"
        " ORDER BY user_id LIMIT $2",
        after,
        limit,
    )


# ------------------------------------------------------------------ writes
@dataclass(frozen=True)
class NewUser:
    user_id: uuid.UUID
    profile: EncryptedProfile
    password_hash: str | None
    status: str = "active"


_INSERT_COLUMNS = [
    "user_id",
    "email_bidx",
    "email_enc",
    "display_name_enc",
    "attributes_enc",
    "password_hash",
    "status",
    "name_prefixes",
]


async def insert(conn: asyncpg.Connection, users: Sequence[NewUser]) -> None:
    """Insert users in one COPY; an email that is taken raises UniqueViolationError."""
    if not users:
        return
    await conn.copy_records_to_table(
        "users",
        columns=_INSERT_COLUMNS,
        records=[_row(u) for u in users],
    )


def _row(u: NewUser) -> tuple[object, ...]:
    """A user's columns in ``_INSERT_COLUMNS`` order."""
    return (
        u.user_id,
        u.profile.email_bidx,
        u.profile.email_enc,
        u.profile.display_name_enc,
        u.profile.attributes_enc,
        u.password_hash,
        u.status,
        u.profile.name_prefixes,
    )


async def update(
    conn: asyncpg.Connection,
    user_id: uuid.UUID,
    profile: EncryptedProfile,
    *,
    status: str,
    password_hash: str | None,
) -> None:
    """Rewrite the profile (``password_hash`` None keeps the password); an email that is taken
    raises UniqueViolationError."""
    await conn.execute(
        """
        UPDATE users SET email_bidx=$2, email_enc=$3, display_name_enc=$4, attributes_enc=$5,
               name_prefixes=$6, status=$7, password_hash=coalesce($8, password_hash),
               updated_at=now()
        WHERE user_id=$1
        """,
        user_id,
        profile.email_bidx,
        profile.email_enc,
        profile.display_name_enc,
        profile.attributes_enc,
        profile.name_prefixes,
        status,
        password_hash,
    )


async def update_matching(conn: asyncpg.Connection, users: Sequence[NewUser]) -> None:
    """Rewrite each user's profile where the user still has the same email (a bulk update that
    lost a race with an email change leaves that user alone)."""
    await conn.executemany(
        """
        UPDATE users SET email_enc=$3, display_name_enc=$4, attributes_enc=$5,
               password_hash=coalesce($6, password_hash), status=$7, name_prefixes=$8,
               updated_at=now()
        WHERE user_id=$1 AND email_bidx=$2
        """,
        [_row(u) for u in users],
    )


async def rewrite_ciphertexts(
    conn: asyncpg.Connection, user_id: uuid.UUID, profile: EncryptedProfile
) -> None:
    """Store the same PII under new ciphertexts (indexes unchanged)."""
    await conn.execute(
        "UPDATE users SET email_enc=$2, display_name_enc=$3, attributes_enc=$4 WHERE user_id=$1",
        user_id,
        profile.email_enc,
        profile.display_name_enc,
        profile.attributes_enc,
    )


async def deactivate(conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE users SET status='inactive', updated_at=now() WHERE user_id=$1", user_id
    )


async def erase(conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
    """Drop every piece of PII and the password; the row stays for the audit trail."""
    await conn.execute(
        """
        UPDATE users SET status='erased', email_bidx=NULL, email_enc=NULL,
               display_name_enc=NULL, attributes_enc=NULL, password_hash=NULL,
               name_prefixes='{}', updated_at=now()
        WHERE user_id=$1
        """,
        user_id,
    )


# Any constant distinct from the migration and key locks: one first admin, however many start.
_FIRST_ADMIN_LOCK = 0x61646D696E


async def lock_first_admin(conn: asyncpg.Connection) -> None:
    """Serialise first-admin creation until the transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _FIRST_ADMIN_LOCK)
