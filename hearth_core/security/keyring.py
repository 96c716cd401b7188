"""Loads (or first creates) the wrapped data keys and builds the FieldCipher."""

from __future__ import annotations

import os

import asyncpg

from hearth_core.db.audited import audited_write
from hearth_core.security import keyring_repo as repo
from hearth_core.security.crypto import FieldCipher, MasterKeyRing


async def load_field_cipher(conn: asyncpg.Connection, ring: MasterKeyRing) -> FieldCipher:
    async with conn.transaction():
        await repo.lock(conn)
        for purpose in ("data", "bidx"):
            if not await repo.has_active(conn, purpose):
                await _create_key(conn, ring, purpose)
        rows = await repo.all_keys(conn)
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
    key_id = await repo.next_id(conn)
    kid, wrapped = ring.wrap(key_id, os.urandom(32))
    await repo.insert(conn, key_id, purpose, kid, wrapped)
    return key_id


async def rotate_data_keys(
    conn: asyncpg.Connection, ring: MasterKeyRing, *, actor: str
) -> tuple[int, int]:
    """Re-wrap every data key under the ring's primary master key and start a new data key.

    Rows encrypted under older data keys stay readable (those keys are kept, only re-wrapped);
    new writes use the new key. The blind-index key is re-wrapped but never replaced, since
    every index would have to be recomputed. Returns (keys re-wrapped, new data key id).
    """
    async with audited_write(conn, actor=actor, request_id=None) as w:
        await repo.lock(conn)
        rows = await repo.lock_all(conn)
        for r in rows:
            raw = ring.unwrap(r["key_id"], r["master_kid"], r["wrapped"])
            kid, wrapped = ring.wrap(r["key_id"], raw)
            await repo.rewrap(conn, r["key_id"], kid, wrapped)
        await repo.retire_data_keys(conn)
        new_id = await _create_key(conn, ring, "data")
        await w.notify("data_keys")
        await w.audit(
            "data_key.rotate",
            f"data_key:{new_id}",
            after={"rewrapped": len(rows), "master_kid": ring.primary},
        )
    return len(rows), new_id
