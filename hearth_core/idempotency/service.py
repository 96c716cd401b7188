"""Idempotency-Key for creating and ingesting POSTs: same key + same body → the first response
replayed; same key + another body → 422; the same key while the first is running → 409.

A key is reserved before the work starts and completed inside the transaction that makes the
work durable, so the key and the write commit together or not at all.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import asyncpg

from hearth_core.errors import Conflict, InvalidInput, Unprocessable
from hearth_core.idempotency import repo

STALE_SECONDS = 300  # a reservation whose worker died is taken over after this


@dataclass(frozen=True)
class Reservation:
    client_id: str
    key: str


@dataclass(frozen=True)
class Replay:
    status_code: int
    response: Any


def request_hash(method: str, path: str, body: bytes) -> bytes:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).digest()


async def reserve(
    pool: asyncpg.Pool, client_id: str, key: str, digest: bytes
) -> Reservation | Replay:
    if not key or len(key) > 255:
        raise InvalidInput(
            "Idempotency-Key must be 1-255 characters",
            errors=[{"path": "header.Idempotency-Key", "message": "bad length"}],
        )
    async with pool.acquire() as conn:
        if await repo.insert_pending(conn, client_id, key, digest):
            return Reservation(client_id, key)
        row = await repo.find(conn, client_id, key)
        if row is None:  # completed and pruned between our two statements: try once more
            return await reserve(pool, client_id, key, digest)
        if row["request_hash"] != digest:
            raise Unprocessable("this Idempotency-Key was used with a different request")
        if row["status"] == "done":
            return Replay(row["status_code"], row["response"])
        if row["age"] > STALE_SECONDS:
            await repo.renew(conn, client_id, key)
            return Reservation(client_id, key)
        raise Conflict(
            "a request with this Idempotency-Key is still in progress", headers={"Retry-After": "1"}
        )


async def complete(
    conn: asyncpg.Connection, res: Reservation, status_code: int, response: Any
) -> None:
    """Record the response; call inside the transaction that makes the work durable."""
    await repo.mark_done(conn, res.client_id, res.key, status_code, response)


async def release(pool: asyncpg.Pool, res: Reservation) -> None:
    """Free a key whose work failed before it was queued, so a retry may use it."""
    async with pool.acquire() as conn:
        await repo.delete_pending(conn, res.client_id, res.key)


async def prune(pool: asyncpg.Pool) -> int:
    """Forget keys older than a day (a retry after that is a new request)."""
    async with pool.acquire() as conn:
        return await repo.delete_expired(conn)
