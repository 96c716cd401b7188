"""Loads (or first creates) the wrapped data keys and builds the FieldCipher."""

from __future__ import annotations

import os

import asyncpg

from hearth_core import audit, events
from hearth_core.security.crypto import FieldCipher, MasterKeyRing

# Any constant distinct from the migration lock: serialises first-start key creation.
_KEY_LOCK = 0x6B657973


async def load_field_cipher(conn: asyncpg.Connection, ring: MasterKeyRing) -> FieldCipher:
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _KEY_LOCK)
        for purpose in ("data", "bidx"):
            exists = await conn.fetchval(
                "SELECT 1 FROM data_keys WHERE purpose = $1 AND active", purpose
            )
            if not exists:
                await _create_key(conn, ring, purpose)
        rows = await conn.fetch(
            "SELECT key_id, purpose, master_kid, wrapped, active FROM data_keys ORDER BY key_id"
        )
    data: dict[int, bytes] = {}
    active_id = 0
    index_key = b""
    for r in rows:
        raw = ring.unwrap(r["key_id"], r["master_kid"], r["wrapped"])
        if r["purpose"] == "data":
            data[r["key_id"]] = raw
            if r["active"]:
                active_id = max(active_id, r["key_id"])
        elif r["active"]:
            index_key = raw
    return FieldCipher(data_keys=data, active_id=active_id, index_key=index_key)


async def _create_key(conn: asyncpg.Connection, ring: MasterKeyRing, purpose: str) -> int:
    key_id: int = await conn.fetchval("SELECT nextval('data_keys_key_id_seq')")
    kid, wrapped = ring.wrap(key_id, os.urandom(32))
    await conn.execute(
        "INSERT INTO data_keys (key_id, purpose, master_kid, wrapped) VALUES ($1, $2, $3, $4)",
        key_id,
        purpose,
        kid,
        wrapped,
    )
    return key_id


async def rotate_data_keys(
    conn: asyncpg.Connection, ring: MasterKeyRing, *, actor: str
) -> tuple[int, int]:
    """Re-wrap every data key under the ring's primary master key and start a new data key.

    Rows encrypted under older data keys stay readable (those keys are kept, only re-wrapped);
    new writes use the new key. The blind-index key is re-wrapped but never replaced, since
    every index would have to be recomputed. Returns (keys re-wrapped, new data key id).
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _KEY_LOCK)
        rows = await conn.fetch("SELECT key_id, master_kid, wrapped FROM data_keys FOR UPDATE")
        for r in rows:
            raw = ring.unwrap(r["key_id"], r["master_kid"], r["wrapped"])
            kid, wrapped = ring.wrap(r["key_id"], raw)
            await conn.execute(
                "UPDATE data_keys SET master_kid = $2, wrapped = $3 WHERE key_id = $1",
                r["key_id"],
                kid,
                wrapped,
            )
        await conn.execute(
            "UPDATE data_keys SET active = false, rotated_at = now() WHERE purpose = 'data' AND active"
        )
        new_id = await _create_key(conn, ring, "data")
        await events.notify(conn, "data_keys")
        await audit.record(
            conn,
            actor=actor,
            action="data_key.rotate",
            target=f"data_key:{new_id}",
            after={"rewrapped": len(rows), "master_kid": ring.primary},
        )
    return len(rows), new_id
