"""SQL for Idempotency-Key reservations (table idempotency_keys, keyed by client and key)."""

from __future__ import annotations

from typing import Any

import asyncpg


async def insert_pending(conn: asyncpg.Connection, client_id: str, key: str, digest: bytes) -> bool:
    """Reserve the key for a request with ``digest``; False if the key is already taken."""
    taken = await conn.fetchval(
        "INSERT INTO idempotency_keys (client_id, key, request_hash, status)"
        " VALUES ($1, $2, $3, 'pending') ON CONFLICT DO NOTHING RETURNING 1",
        client_id,
        key,
        digest,
    )
    return bool(taken)


async def find(conn: asyncpg.Connection, client_id: str, key: str) -> asyncpg.Record | None:
    """request_hash, status, status_code, response and ``age`` (seconds since reserved)."""
    return await conn.fetchrow(
        "SELECT request_hash, status, status_code, response,"
        " extract(epoch FROM now() - created_at) AS age"
        " FROM idempotency_keys WHERE client_id = $1 AND key = $2",
        client_id,
        key,
    )


async def renew(conn: asyncpg.Connection, client_id: str, key: str) -> None:
    """Take over a reservation: its age starts again from now."""
    await conn.execute(
        "UPDATE idempotency_keys SET created_at = now() WHERE client_id = $1 AND key = $2",
        client_id,
        key,
    )


async def mark_done(
    conn: asyncpg.Connection, client_id: str, key: str, status_code: int, response: Any
) -> None:
    """Store the response to replay; run it in the transaction that makes the work durable."""
    await conn.execute(
        "UPDATE idempotency_keys SET status = 'done', status_code = $3, response = $4"
        " WHERE client_id = $1 AND key = $2",
        client_id,
        key,
        status_code,
        response,
    )


async def delete_pending(conn: asyncpg.Connection, client_id: str, key: str) -> None:
    """Give the key back (the work failed before it was queued); a done key stays."""
    await conn.execute(
        "DELETE FROM idempotency_keys WHERE client_id = $1 AND key = $2 AND status = 'pending'",
        client_id,
        key,
    )


async def delete_expired(conn: asyncpg.Connection) -> int:
    """Forget keys older than a day; the number deleted."""
    result = await conn.execute(
        "DELETE FROM idempotency_keys WHERE created_at < now() - interval '1 day'"
    )
    return int(result.split()[-1])
