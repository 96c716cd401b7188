"""SQL for the wrapped data keys (``data_keys``), each function taking a connection."""

from __future__ import annotations

import asyncpg

# Any constant distinct from the migration lock: serialises key creation and rotation.
_KEY_LOCK = 0x6B657973


async def lock(conn: asyncpg.Connection) -> None:
    """Hold the data-key lock until the transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _KEY_LOCK)


async def has_active(conn: asyncpg.Connection, purpose: str) -> bool:
    return bool(
        await conn.fetchval("SELECT 1 FROM data_keys WHERE purpose = $1 AND active", purpose)
    )


async def all_keys(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every key in key_id order: key_id, purpose, master_kid, wrapped, active."""
    return await conn.fetch(
        "SELECT key_id, purpose, master_kid, wrapped, active FROM data_keys ORDER BY key_id"
    )


async def lock_all(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every key (key_id, master_kid, wrapped), locked until the transaction ends."""
    return await conn.fetch("SELECT key_id, master_kid, wrapped FROM data_keys FOR UPDATE")


async def next_id(conn: asyncpg.Connection) -> int:
    """A fresh key_id (the key is wrapped with its id as associated data, so it comes first)."""
    return int(await conn.fetchval("SELECT nextval('data_keys_key_id_seq')"))


async def insert(
    conn: asyncpg.Connection, key_id: int, purpose: str, master_kid: str, wrapped: bytes
) -> None:
    await conn.execute(
        "INSERT INTO data_keys (key_id, purpose, master_kid, wrapped) VALUES ($1, $2, $3, $4)",
        key_id,
        purpose,
        master_kid,
        wrapped,
    )


async def rewrap(conn: asyncpg.Connection, key_id: int, master_kid: str, wrapped: bytes) -> None:
    await conn.execute(
        "UPDATE data_keys SET master_kid = $2, wrapped = $3 WHERE key_id = $1",
        key_id,
        master_kid,
        wrapped,
    )


async def retire_data_keys(conn: asyncpg.Connection) -> None:
    """The active data key stops being active (it stays, to decrypt what it encrypted)."""
    await conn.execute(
        "UPDATE data_keys SET active = false, rotated_at = now() WHERE purpose = 'data' AND active"
    )
