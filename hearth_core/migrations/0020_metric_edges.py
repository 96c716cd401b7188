"""Hourly edges (issue 18): each hour's first and last raw entry per series, staleness markers
included, so PromQL's instant selectors at whole hours (dashboards' month-by-hour panels) read
two values per series and hour instead of decoding the chunks (``native/src/chunk/rollup.rs``,
``Edge``). Written by the compactor with the rollups; this migration creates the table, its day
partitions beside the rollups' and fills it from the stored chunks (inside the migration's
transaction, a page of chunks at a time).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import asyncpg

from hearth_core.metrics import repo
from hearth_core.metrics.chunks import chunk_edges

log = logging.getLogger("hearth.migrations")
PAGE = 2_000  # chunks per native call: ~1 MB of pcodec data

_READ = """
SELECT series_id, time_us(window_start) AS w, data FROM metric_chunks
WHERE (series_id, window_start) > ($1, us_time($2)) ORDER BY series_id, window_start LIMIT $3
"""


async def apply(conn: asyncpg.Connection) -> None:
    await conn.execute(
        """
        CREATE TABLE metric_edges_1h (
            series_id   integer NOT NULL,
            bucket      timestamptz NOT NULL,
            first_time  timestamptz NOT NULL,
            first_value double precision NOT NULL,  -- bit for bit: staleness markers, NaN
            end_time    timestamptz NOT NULL,
            end_value   double precision NOT NULL,
            PRIMARY KEY (series_id, bucket)
        ) PARTITION BY RANGE (bucket)
        """
    )
    for name in await repo.partition_days(conn, "metric_rollup_1h"):
        day = datetime.strptime(name.rsplit("_", 1)[1], "%Y%m%d").date()
        await repo.create_partition(conn, "metric_edges_1h", day)
    after = (-1, -(10**17))
    done = 0
    while rows := await conn.fetch(_READ, *after, PAGE):
        after = (rows[-1][0], rows[-1][1])
        cols = await asyncio.to_thread(chunk_edges, [(r[0], r[2]) for r in rows])
        await repo.upsert_edges(conn, cols)
        done += len(rows)
    if done:
        log.info("hourly edges computed from %d stored chunks", done)
