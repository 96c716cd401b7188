"""SQL for rate-limit policies, each function taking a connection."""

from __future__ import annotations

import asyncpg


async def all_policies(conn: asyncpg.Connection | asyncpg.Pool) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM ratelimits")


async def lock(conn: asyncpg.Connection, service: str, key: str) -> asyncpg.Record | None:
    """The policy, locked until the transaction ends; None when there is none yet."""
    return await conn.fetchrow(
        "SELECT * FROM ratelimits WHERE service=$1 AND key=$2 FOR UPDATE", service, key
    )


async def upsert(
    conn: asyncpg.Connection,
    service: str,
    key: str,
    *,
    limit: int,
    window_sec: int,
    burst: int | None,
    fail_mode: str,
    actor: str,
) -> asyncpg.Record:
    """Create or replace; raises CheckViolationError for a malformed service or key."""
    return await conn.fetchrow(
        """
        INSERT INTO ratelimits (service, key, "limit", window_sec, burst, fail_mode, updated_by)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (service, key) DO UPDATE SET "limit"=EXCLUDED."limit",
            window_sec=EXCLUDED.window_sec, burst=EXCLUDED.burst, fail_mode=EXCLUDED.fail_mode,
            updated_at=now(), updated_by=EXCLUDED.updated_by
        RETURNING *
        """,
        service,
        key,
        limit,
        window_sec,
        burst,
        fail_mode,
        actor,
    )


async def delete(conn: asyncpg.Connection, service: str, key: str) -> asyncpg.Record | None:
    """The deleted policy, or None when there was none."""
    return await conn.fetchrow(
        "DELETE FROM ratelimits WHERE service=$1 AND key=$2 RETURNING *", service, key
    )
