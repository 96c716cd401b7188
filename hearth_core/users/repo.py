"""SQL for users, each function taking a connection."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from hearth_core.security.crypto import FieldCipher, normalize_email


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


def decrypt_column(cipher: FieldCipher, row: asyncpg.Record, column: str) -> str | None:
    """A text column stored as ``<column>_enc``, bound to its row (AAD ``"{user_id}:{column}"``)."""
    blob = row[f"{column}_enc"]
    return cipher.decrypt_text(blob, f"{row['user_id']}:{column}") if blob else None


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
