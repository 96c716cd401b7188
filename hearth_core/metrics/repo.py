"""SQL for metrics: the series dictionary, day partitions of the points, the COPY of a batch,
the merge of pending minute aggregates into the rollups, and the analytics reads.

Every function takes the connection (or, for a single read, the pool) it runs on; the caller
owns the transaction. Names of partitions are made here from dates, never from input.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Sequence
from datetime import date, timedelta

import asyncpg

from hearth_core.db.paging import Where, fetch_page
from hearth_core.metrics.query import Query, build_sql

PARTITION_LOCK = 0x70617274  # "part"
MERGE_LOCK = 0x726F6C6C  # "roll"

# -- the series dictionary ---------------------------------------------------------------

_UPSERT_SERIES = """
WITH input AS (
    -- labels arrive as canonical JSON text from the native core: cast, don't re-encode
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS t(hash, namespace, name, labels)
), ins AS (
    INSERT INTO metric_series (hash, namespace, name, labels)
    SELECT hash, namespace, name, labels::jsonb FROM input
    ON CONFLICT (hash) DO NOTHING
    RETURNING hash, series_id
)
SELECT hash, series_id FROM ins
UNION ALL
SELECT s.hash, s.series_id FROM metric_series s JOIN input USING (hash)
"""


async def upsert_series(
    conn: asyncpg.Connection, items: Sequence[tuple[int, str, str, str]]
) -> dict[int, int]:
    """series_id by hash of each (hash, namespace, name, labels_json), inserting the new ones.

    A series another transaction inserted after this statement's snapshot can be missing from
    the answer (the insert waited for it, the read did not see it): look those up again with
    :func:`series_ids`."""
    if not items:
        return {}
    rows = await conn.fetch(_UPSERT_SERIES, *zip(*items, strict=True))
    return {r["hash"]: r["series_id"] for r in rows}


async def series_ids(conn: asyncpg.Connection, hashes: Sequence[int]) -> dict[int, int]:
    """series_id by hash of the known series among ``hashes``."""
    rows = await conn.fetch(
        "SELECT hash, series_id FROM metric_series WHERE hash = ANY($1::bigint[])", list(hashes)
    )
    return {r["hash"]: r["series_id"] for r in rows}


async def find_series(
    conn: asyncpg.Connection | asyncpg.Pool, where: Where, *, page: int, limit: int
) -> tuple[list[asyncpg.Record], int]:
    """One page of series (``where`` is over ``metric_series s``) and the total matching."""
    return await fetch_page(
        conn,
        select="s.series_id, s.namespace, s.name, s.labels",
        from_="metric_series s",
        where=where,
        order_by="s.namespace, s.name, s.series_id",
        page=page,
        limit=limit,
    )


# -- analytics ---------------------------------------------------------------------------


async def windows(conn: asyncpg.Connection | asyncpg.Pool, q: Query) -> list[asyncpg.Record]:
    """(key jsonb, t float8, value float8) of every window of every result series of ``q``,
    ordered by key then t (see :func:`hearth_core.metrics.query.build_sql`)."""
    sql, args, _ = build_sql(q)
    return await conn.fetch(sql, *args)


# -- day partitions of metric_points ---------------------------------------------------


def partition_name(day: date) -> str:
    return f"metric_points_{day:%Y%m%d}"


async def points_table_kind(conn: asyncpg.Connection) -> str | None:
    """pg_class.relkind of metric_points: 'p' when partitioned, 'r' as a TimescaleDB
    hypertable's parent; None if it does not exist."""
    kind: str | None = await conn.fetchval(
        "SELECT relkind::text FROM pg_class WHERE relname = 'metric_points'"
    )
    return kind


async def partition_names(conn: asyncpg.Connection) -> list[str]:
    """Names of the tables attached to metric_points as partitions."""
    rows = await conn.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'metric_points'"
        " ORDER BY c.relname"
    )
    return [r["relname"] for r in rows]


async def lock_partitions(conn: asyncpg.Connection) -> None:
    """Serialise partition DDL across workers until the end of the caller's transaction."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", PARTITION_LOCK)


async def create_partition(conn: asyncpg.Connection, day: date) -> bool:
    """The partition of ``day``, unless it exists; True if it was created. Call inside a
    transaction after :func:`lock_partitions`."""
    name = partition_name(day)
    if await conn.fetchval("SELECT 1 FROM pg_class WHERE relname = $1", name):
        return False
    nxt = day + timedelta(days=1)
    await conn.execute(
        f"CREATE TABLE {name} PARTITION OF metric_points"
        f" FOR VALUES FROM ('{day.isoformat()}') TO ('{nxt.isoformat()}')"
    )
    return True


async def drop_partition(conn: asyncpg.Connection, day: date) -> None:
    """Drop the partition of ``day`` if it exists. Call after :func:`lock_partitions`."""
    await conn.execute(f"DROP TABLE IF EXISTS {partition_name(day)}")


async def delete_expired_rollups(conn: asyncpg.Connection, retention_days: int) -> None:
    """Minute rollups older than the retention (hourly ones are kept: they are small)."""
    await conn.execute(
        "DELETE FROM metric_rollup_1m WHERE bucket < now() - make_interval(days => $1)",
        retention_days,
    )


# -- writing a batch ---------------------------------------------------------------------


async def copy_points(conn: asyncpg.Connection, source: AsyncIterable[bytes]) -> None:
    """Binary COPY of (series_id, time, value) tuples, header and trailer included."""
    await conn.copy_to_table(
        "metric_points", source=source, columns=["series_id", "time", "value"], format="binary"
    )


async def copy_pending_rollups(conn: asyncpg.Connection, source: AsyncIterable[bytes]) -> None:
    """Binary COPY of minute aggregates into metric_rollup_pending. A plain append: writers
    never wait on each other's rollup rows; :func:`merge_pending` folds them in later."""
    await conn.copy_to_table("metric_rollup_pending", source=source, format="binary")


# -- merging pending aggregates into the rollups ----------------------------------------

_MERGE = """
INSERT INTO {table} AS r (series_id, bucket, count, sum, min, max, last, last_time)
SELECT series_id, {bucket} AS b, sum(count), sum(sum), min(min), max(max),
       (array_agg(last ORDER BY last_time DESC))[1], max(last_time)
FROM moved GROUP BY series_id, b
ORDER BY series_id, b
ON CONFLICT (series_id, bucket) DO UPDATE SET
    count = r.count + EXCLUDED.count,
    sum = r.sum + EXCLUDED.sum,
    min = least(r.min, EXCLUDED.min),
    max = greatest(r.max, EXCLUDED.max),
    last = CASE WHEN EXCLUDED.last_time >= r.last_time THEN EXCLUDED.last ELSE r.last END,
    last_time = greatest(r.last_time, EXCLUDED.last_time)
RETURNING 1
"""
# One statement moves up to $1 committed pending aggregates into both rollups (rows committed
# after its snapshot stay for the next run). Bounded, so a backlog is worked off in steps that
# each finish well inside the statement timeout instead of one that never does.
MERGE_PENDING = f"""
WITH moved AS (
    DELETE FROM metric_rollup_pending
    WHERE ctid = ANY (ARRAY(SELECT ctid FROM metric_rollup_pending LIMIT $1))
    RETURNING *
),
m AS ({_MERGE.format(table="metric_rollup_1m", bucket="bucket")}),
h AS ({_MERGE.format(table="metric_rollup_1h", bucket="date_trunc('hour', bucket)")})
SELECT (SELECT count(*) FROM moved) AS moved
"""  # noqa: S608 - built from the two constant statements above


async def try_lock_merger(conn: asyncpg.Connection) -> bool:
    """Become the one merger until the end of the caller's transaction; False if another
    worker is merging."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", MERGE_LOCK))


async def merge_pending(conn: asyncpg.Connection, chunk: int) -> int:
    """Fold up to ``chunk`` pending aggregates into the 1m and 1h rollups; the number moved."""
    moved: int = await conn.fetchval(MERGE_PENDING, chunk)
    return moved
