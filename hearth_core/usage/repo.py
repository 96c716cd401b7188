"""SQL for usage counters: one row per (day, client, kind, route) in usage_daily."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import asyncpg

Key = tuple[date, str, str, str]  # day, client, kind, route


async def add(conn: asyncpg.Connection, counts: Mapping[Key, int]) -> None:
    """Add each count to its counter (created at zero if new), in one statement."""
    keys = list(counts)
    await conn.execute(
        """
        INSERT INTO usage_daily (day, client_id, kind, route, value)
        SELECT * FROM unnest($1::date[], $2::text[], $3::text[], $4::text[], $5::bigint[])
        ON CONFLICT (day, client_id, kind, route) DO UPDATE SET value = usage_daily.value + EXCLUDED.value
        """,
        [k[0] for k in keys],
        [k[1] for k in keys],
        [k[2] for k in keys],
        [k[3] for k in keys],
        [counts[k] for k in keys],
    )


async def counters(
    conn: asyncpg.Connection | asyncpg.Pool, *, start: date, end: date, client_id: str | None
) -> list[asyncpg.Record]:
    """(day, client_id, kind, route, value) from ``start`` to ``end`` inclusive, of one client
    or all, ordered by day, client, kind, route."""
    return await conn.fetch(
        "SELECT day, client_id, kind, route, value FROM usage_daily"
        " WHERE day >= $1 AND day <= $2 AND ($3::text IS NULL OR client_id = $3)"
        " ORDER BY day, client_id, kind, route",
        start,
        end,
        client_id,
    )
