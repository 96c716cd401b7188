"""Move the rows of ``metric_points`` into write-log blocks, then drop the table.

The compactor folds the blocks into chunks and hourly rollups once the server runs, exactly as
it folds freshly acknowledged samples; until then queries read the blocks as the log tail, so
no sample is unreadable at any moment. Runs inside the migration's transaction: an interrupted
conversion leaves the points where they were.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from hearth_core.metrics.chunks import encode_block

log = logging.getLogger("hearth.migrations")
BATCH = 500_000

# Keyset pages (no cursor left open: the table is dropped in the same transaction).
_READ = """
SELECT series_id, time_us(time) AS t, value FROM metric_points
WHERE (series_id, time) > ($1, us_time($2)) ORDER BY series_id, time LIMIT $3
"""


async def apply(conn: asyncpg.Connection) -> None:
    exists = await conn.fetchval("SELECT to_regclass('metric_points') IS NOT NULL")
    if not exists:
        return
    total = await conn.fetchval("SELECT count(*) FROM metric_points")
    moved = 0
    after = (-1, -(10**17))  # before any timestamp PostgreSQL can hold a sample at
    while rows := await conn.fetch(_READ, *after, BATCH):
        after = (rows[-1][0], rows[-1][1])
        ids = [r[0] for r in rows]
        ts = [r[1] for r in rows]
        values = [r[2] for r in rows]
        block = await asyncio.to_thread(encode_block, ids, ts, values)
        await conn.execute(
            "INSERT INTO metric_log (samples, min_time, max_time, block)"
            " VALUES ($1, us_time($2), us_time($3), $4)",
            len(rows),
            min(ts),
            max(ts),
            block,
        )
        moved += len(rows)
        log.info("moving points into the write log", extra={"moved": moved, "total": total})
    await conn.execute("DROP TABLE metric_points CASCADE")
