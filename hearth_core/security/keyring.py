"""Loads (or first creates) the wrapped data keys and builds the FieldCipher."""

from __future__ import annotations

import os

import asyncpg

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
