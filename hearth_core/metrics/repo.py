"""SQL for metrics: the series dictionary, the write log, the chunks and hourly rollups (and
their day partitions), the compactor's reads and writes, and the analytics reads.

Every function takes the connection (or, for a single read, the pool) it runs on; the caller
owns the transaction. Names of partitions are made here from dates, never from input.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import asyncpg

from hearth_core.db.paging import Where, fetch_page
from hearth_core.metrics.query import Query, build_hours_sql

PARTITION_LOCK = 0x70617274  # "part"
COMPACT_LOCK = 0x636F6D70  # "comp"
PARTITIONED = (
    "metric_chunks",
    "metric_rollup_1h",
    "metric_edges_1h",
)  # by day of window_start / bucket


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


async def series_quota(conn: asyncpg.Connection, client_id: str) -> tuple[int, int]:
    """(series created, series created this clock hour) by ``client_id``, its row locked until
    the caller's transaction ends (a new hour starts the hour's count at 0)."""
    row = await conn.fetchrow(
        """
        INSERT INTO metric_series_quota AS q (client_id, hour) VALUES ($1, date_trunc('hour', now()))
        ON CONFLICT (client_id) DO UPDATE SET
            hour = EXCLUDED.hour,
            hour_series = CASE WHEN q.hour = EXCLUDED.hour THEN q.hour_series ELSE 0 END
        RETURNING series, hour_series
        """,
        client_id,
    )
    assert row is not None
    return row["series"], row["hour_series"]


async def add_series_quota(conn: asyncpg.Connection, client_id: str, n: int) -> None:
    """Count ``n`` more series created by ``client_id`` (after :func:`series_quota`)."""
    await conn.execute(
        "UPDATE metric_series_quota SET series = series + $2, hour_series = hour_series + $2"
        " WHERE client_id = $1",
        client_id,
        n,
    )


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


async def hour_windows(
    conn: asyncpg.Connection | asyncpg.Pool, q: Query, until: float
) -> list[asyncpg.Record]:
    """(key jsonb, t float8, value float8) of the windows of ``q`` before ``until`` (epoch s)
    from the hourly rollups, ordered by key then t (see
    :func:`hearth_core.metrics.query.build_hours_sql`)."""
    sql, args = build_hours_sql(q, until)
    return await conn.fetch(sql, *args)


# -- the write log ---------------------------------------------------------------------

_APPEND = """
INSERT INTO metric_log (samples, min_time, max_time, block)
SELECT n, us_time(lo), us_time(hi), b
FROM unnest($1::integer[], $2::bigint[], $3::bigint[], $4::bytea[]) AS t(n, lo, hi, b)
"""


async def append_blocks(
    conn: asyncpg.Connection, blocks: Sequence[tuple[int, int, int, bytes]]
) -> None:
    """One write-log row per (samples, min_time_us, max_time_us, block)."""
    await conn.execute(_APPEND, *(list(col) for col in zip(*blocks, strict=True)))


async def log_blocks(conn: asyncpg.Connection, max_samples: int) -> list[asyncpg.Record]:
    """The oldest committed blocks (block_id, samples, block) up to ``max_samples`` samples
    (at least one block), in write order."""
    return await conn.fetch(
        """
        SELECT block_id, samples, block FROM (
            SELECT block_id, samples, block,
                   sum(samples) OVER (ORDER BY block_id) - samples AS before
            FROM metric_log ORDER BY block_id LIMIT 10000) l
        WHERE before < $1 ORDER BY block_id
        """,
        max_samples,
    )


async def log_span(conn: asyncpg.Connection) -> tuple[int, int] | None:
    """(earliest, latest) sample time in µs over the whole write log, if it holds any."""
    row = await conn.fetchrow(
        "SELECT time_us(min(min_time)) AS lo, time_us(max(max_time)) AS hi FROM metric_log"
    )
    return None if row is None or row["lo"] is None else (row["lo"], row["hi"])


async def delete_blocks(conn: asyncpg.Connection, block_ids: Sequence[int]) -> None:
    await conn.execute("DELETE FROM metric_log WHERE block_id = ANY($1::bigint[])", block_ids)


async def log_state(conn: asyncpg.Connection | asyncpg.Pool) -> asyncpg.Record:
    """(blocks, samples, bytes, oldest_age_s) of the write log: the compaction backlog."""
    row: asyncpg.Record = await conn.fetchrow(
        """
        SELECT count(*) AS blocks, coalesce(sum(samples), 0)::bigint AS samples,
               coalesce(sum(octet_length(block)), 0)::bigint AS bytes,
               coalesce(date_part('epoch', now() - min(created_at)), 0) AS oldest_age_s
        FROM metric_log
        """
    )
    return row


async def open_chunk_count(conn: asyncpg.Connection | asyncpg.Pool) -> int:
    """Chunks still in Gorilla, waiting to be sealed (counted on the small partial index)."""
    n: int = await conn.fetchval("SELECT count(*) FROM metric_chunks WHERE codec = 1")
    return n


# -- chunks and hourly rollups: the compactor's side ----------------------------------


async def try_lock_compactor(conn: asyncpg.Connection) -> bool:
    """Become the one compactor until the end of the caller's transaction; False if another
    worker is compacting."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", COMPACT_LOCK))


async def advance_newest_window(conn: asyncpg.Connection, window_us: int) -> int:
    """Record ``window_us`` as written; the newest window start (µs) written so far."""
    newest: int = await conn.fetchval(
        "UPDATE metric_store_state SET newest_window = greatest(newest_window, us_time($1))"
        " RETURNING time_us(newest_window)",
        window_us,
    )
    return newest


async def chunks_at(
    conn: asyncpg.Connection, keys: Sequence[tuple[int, int]]
) -> tuple[dict[tuple[int, int], bytes], dict[tuple[int, int], float]]:
    """The stored chunk of each (series_id, window_start_us) key that has one, and the
    baseline stored with it (the value before the window its rollups used) where it has one.

    One query per distinct window (a pass touches a few): ``window_start = w AND series_id =
    ANY(…)`` prunes to one partition at plan time and answers in one row of arrays, 3 times
    faster than joining the keys at 100,000 chunks (``bench/store/compact_pass.py``); asyncpg
    decodes an array far faster than it builds a record per row."""
    by_window: dict[int, list[int]] = {}
    for sid, w in keys:
        by_window.setdefault(w, []).append(sid)
    chunks: dict[tuple[int, int], bytes] = {}
    baselines: dict[tuple[int, int], float] = {}
    for w, sids in by_window.items():
        found, data, base = await conn.fetchrow(
            """
            SELECT array_agg(series_id), array_agg(data), array_agg(baseline) FROM metric_chunks
            WHERE window_start = us_time($2) AND series_id = ANY($1::integer[])
            """,
            sids,
            w,
        )
        if found is None:
            continue
        chunks.update(zip(((sid, w) for sid in found), data, strict=True))
        baselines.update(((sid, w), b) for sid, b in zip(found, base, strict=True) if b is not None)
    return chunks, baselines


async def values_before(
    conn: asyncpg.Connection, keys: Sequence[tuple[int, int]], lookback_us: int
) -> dict[tuple[int, int], float]:
    """Per (series_id, window_start_us): the last value of the series' latest earlier chunk
    within ``lookback_us`` (the baseline of the window's first counter increase)."""
    if not keys:
        return {}
    rows = await conn.fetch(
        """
        SELECT k.sid, k.w, p.last_value
        FROM unnest($1::integer[], $2::bigint[]) AS k(sid, w)
        CROSS JOIN LATERAL (
            SELECT c.last_value FROM metric_chunks c
            WHERE c.series_id = k.sid AND c.window_start < us_time(k.w)
              AND c.window_start >= us_time(k.w - $3) AND c.last_value IS NOT NULL
            ORDER BY c.window_start DESC LIMIT 1) p
        """,
        *(list(col) for col in zip(*keys, strict=True)),
        lookback_us,
    )
    return {(r[0], r[1]): r[2] for r in rows}


_UPSERT_CHUNKS = """
INSERT INTO metric_chunks AS c
    (series_id, window_start, codec, samples, min_time, max_time, last_value, data, baseline)
SELECT sid, us_time(w), $9::smallint, n, us_time(lo), us_time(hi), last, data, base
FROM unnest($1::integer[], $2::bigint[], $3::integer[], $4::bigint[], $5::bigint[],
            $6::float8[], $7::bytea[], $8::float8[]) AS t(sid, w, n, lo, hi, last, data, base)
ON CONFLICT (series_id, window_start) DO UPDATE SET
    codec = EXCLUDED.codec, samples = EXCLUDED.samples, min_time = EXCLUDED.min_time,
    max_time = EXCLUDED.max_time, data = EXCLUDED.data, written_at = now(),
    baseline = EXCLUDED.baseline,
    -- a pass that only added staleness markers leaves the last real value as it was
    last_value = coalesce(EXCLUDED.last_value, c.last_value)
"""

ChunkColumns = tuple[
    Sequence[int],
    Sequence[int],
    Sequence[int],
    Sequence[int],
    Sequence[int],
    Sequence[float | None],
    Sequence[bytes],
    Sequence[float | None],
]
"""series_ids, window_starts_us, samples, min_us, max_us, last_values, data, baselines (the
chunk columns of ``compact_columns``)."""
HourColumns = tuple[
    Sequence[int],
    Sequence[int],
    Sequence[int],
    Sequence[float],
    Sequence[float],
    Sequence[float],
    Sequence[float],
    Sequence[int],
    Sequence[float],
]
"""series_ids, buckets_us, counts, sums, mins, maxs, lasts, last_times_us, increases."""


async def upsert_chunks(conn: asyncpg.Connection, codec: int, cols: ChunkColumns) -> None:
    """Write the chunks of ``cols``, all encoded with ``codec``."""
    if cols[0]:
        await conn.execute(_UPSERT_CHUNKS, *cols, codec)


async def set_baselines(
    conn: asyncpg.Connection,
    series_ids: Sequence[int],
    windows_us: Sequence[int],
    baselines: Sequence[float],
) -> None:
    """Store the baseline of the (series_id, window_start_us) chunks that exist."""
    if series_ids:
        await conn.execute(
            """
            UPDATE metric_chunks c SET baseline = t.b
            FROM unnest($1::integer[], $2::bigint[], $3::float8[]) AS t(sid, w, b)
            WHERE c.series_id = t.sid AND c.window_start = us_time(t.w)
            """,
            series_ids,
            windows_us,
            baselines,
        )


_UPSERT_HOURS = """
INSERT INTO metric_rollup_1h AS r
    (series_id, bucket, count, sum, min, max, last, last_time, increase)
SELECT sid, us_time(b), n, s, lo, hi, last, us_time(lt), inc
FROM unnest($1::integer[], $2::bigint[], $3::integer[], $4::float8[], $5::float8[],
            $6::float8[], $7::float8[], $8::bigint[], $9::float8[])
     AS t(sid, b, n, s, lo, hi, last, lt, inc)
ON CONFLICT (series_id, bucket) DO UPDATE SET
    count = EXCLUDED.count, sum = EXCLUDED.sum, min = EXCLUDED.min, max = EXCLUDED.max,
    last = EXCLUDED.last, last_time = EXCLUDED.last_time, increase = EXCLUDED.increase
"""


async def upsert_hours(conn: asyncpg.Connection, cols: HourColumns) -> None:
    """Write the hourly rollups of ``cols``: each row replaces the hour's aggregate (the
    compactor recomputes whole hours)."""
    if cols[0]:
        await conn.execute(_UPSERT_HOURS, *cols)


_UPSERT_EDGES = """
INSERT INTO metric_edges_1h AS e (series_id, bucket, first_time, first_value, end_time, end_value)
SELECT sid, us_time(b), us_time(ft), fv, us_time(et), ev
FROM unnest($1::integer[], $2::bigint[], $3::bigint[], $4::float8[], $5::bigint[], $6::float8[])
     AS t(sid, b, ft, fv, et, ev)
ON CONFLICT (series_id, bucket) DO UPDATE SET
    first_time = EXCLUDED.first_time, first_value = EXCLUDED.first_value,
    end_time = EXCLUDED.end_time, end_value = EXCLUDED.end_value
"""

EdgeColumns = tuple[
    Sequence[int], Sequence[int], Sequence[int], Sequence[float], Sequence[int], Sequence[float]
]
"""series_ids, buckets_us, first_times_us, firsts, end_times_us, ends."""


async def upsert_edges(conn: asyncpg.Connection, cols: EdgeColumns) -> None:
    """Write the hourly edges of ``cols`` (each row replaces the hour's: the compactor
    recomputes whole hours)."""
    if cols[0]:
        await conn.execute(_UPSERT_EDGES, *cols)


async def delete_hours(conn: asyncpg.Connection, cols: tuple[Sequence[int], Sequence[int]]) -> None:
    """Drop the rollups of the (series_ids, buckets_us) hours left without samples."""
    if cols[0]:
        await conn.execute(
            """
            DELETE FROM metric_rollup_1h r USING unnest($1::integer[], $2::bigint[]) AS k(sid, b)
            WHERE r.series_id = k.sid AND r.bucket = us_time(k.b)
            """,
            *cols,
        )


async def open_chunks(conn: asyncpg.Connection, idle_s: float, limit: int) -> list[asyncpg.Record]:
    """(series_id, window_start_us, data) of Gorilla chunks not written for ``idle_s``
    seconds, oldest first, locked against a concurrent pass."""
    return await conn.fetch(
        """
        SELECT series_id, time_us(window_start) AS w, data FROM metric_chunks
        WHERE codec = 1 AND written_at < now() - make_interval(secs => $1)
        ORDER BY written_at LIMIT $2
        """,
        idle_s,
        limit,
    )


async def seal_chunks(
    conn: asyncpg.Connection, rows: Sequence[tuple[int, int, bytes]], codec: int
) -> None:
    """Replace the data of (series_id, window_start_us) chunks with re-encoded bytes."""
    if rows:
        await conn.execute(
            """
            UPDATE metric_chunks c SET data = t.data, codec = $4
            FROM unnest($1::integer[], $2::bigint[], $3::bytea[]) AS t(sid, w, data)
            WHERE c.series_id = t.sid AND c.window_start = us_time(t.w)
            """,
            *(list(col) for col in zip(*rows, strict=True)),
            codec,
        )


# -- reads over the store ----------------------------------------------------------------


async def series_for_query(conn: asyncpg.Connection, where: Where) -> list[asyncpg.Record]:
    """(series_id, labels) of the matching series in id order (``where`` over ``metric_series
    s``)."""
    return await conn.fetch(
        f"SELECT s.series_id, s.labels FROM metric_series s{where.sql} ORDER BY s.series_id",  # noqa: S608 - where.sql binds every value
        *where.args,
    )


async def chunks_between(
    conn: asyncpg.Connection, series_ids: Sequence[int], lo_us: int, hi_us: int, window_us: int
) -> list[tuple[int, bytes]]:
    """(series_id, data) of the chunks of ``series_ids`` holding samples in [lo, hi)."""
    rows = await conn.fetch(
        """
        SELECT series_id, data FROM metric_chunks
        WHERE series_id = ANY($1::integer[])
          AND window_start >= us_time($2::bigint - $4::bigint) AND window_start < us_time($3)
          AND max_time >= us_time($2) AND min_time < us_time($3)
        """,
        series_ids,
        lo_us,
        hi_us,
        window_us,
    )
    return [(r[0], r[1]) for r in rows]


async def log_between(conn: asyncpg.Connection, lo_us: int, hi_us: int) -> list[bytes]:
    """The write-log blocks (not yet compacted) with samples in [lo, hi), in write order."""
    rows = await conn.fetch(
        """
        SELECT block FROM metric_log
        WHERE max_time >= us_time($1) AND min_time < us_time($2) ORDER BY block_id
        """,
        lo_us,
        hi_us,
    )
    return [r[0] for r in rows]


_EDGES = """
SELECT series_id,
       string_agg(timestamptz_send(first_time) || float8send(first_value)
                  || timestamptz_send(end_time) || float8send(end_value), ''::bytea
                  ORDER BY bucket)
FROM metric_edges_1h
WHERE series_id = ANY($1::integer[]) AND bucket >= us_time($2) AND bucket < us_time($3)
GROUP BY series_id
"""


async def edges_packed(
    conn: asyncpg.Connection, series_ids: Sequence[int], lo_us: int, hi_us: int
) -> list[tuple[int, bytes]]:
    """The hourly edges of ``series_ids`` for the hours starting in [lo, hi), packed by
    PostgreSQL per series: 32 big-endian bytes per hour (first time, first value, end time,
    end value; times as PostgreSQL sends timestamptz — µs since 2000-01-01, no conversion per
    row — values bit for bit), decoded in Rust: no row objects for the ~720 hours per series a
    month by hour reads."""
    rows = await conn.fetch(_EDGES, list(series_ids), lo_us, hi_us)
    return [(r[0], r[1]) for r in rows]


async def log_min_time(conn: asyncpg.Connection, lo_us: int, hi_us: int) -> int | None:
    """µs of the earliest not-yet-compacted sample in [lo, hi)'s blocks, if any."""
    v: int | None = await conn.fetchval(
        """
        SELECT time_us(min(min_time)) FROM metric_log
        WHERE max_time >= us_time($1) AND min_time < us_time($2)
        """,
        lo_us,
        hi_us,
    )
    return v


# -- the Prometheus query API (hearth_core.metrics.promql) ----------------------------------


async def selector_series(
    conn: asyncpg.Connection, where: Where, limit: int
) -> list[asyncpg.Record]:
    """(series_id, name, labels) of at most ``limit`` series matching ``where`` (over
    ``metric_series s``), in no particular order."""
    lim = where.bind(limit)
    return await conn.fetch(
        f"SELECT s.series_id, s.name, s.labels FROM metric_series s{where.sql} LIMIT {lim}",  # noqa: S608 - where.sql binds every value
        *where.args,
    )


async def chunk_samples(
    conn: asyncpg.Connection, series_ids: Sequence[int], lo_us: int, hi_us: int, window_us: int
) -> int:
    """Samples held by the chunks :func:`chunks_between` returns for the same arguments, counted
    from the chunk rows alone (their data is not read)."""
    n: int = await conn.fetchval(
        """
        SELECT coalesce(sum(samples), 0)::bigint FROM metric_chunks
        WHERE series_id = ANY($1::integer[])
          AND window_start >= us_time($2::bigint - $4::bigint) AND window_start < us_time($3)
          AND max_time >= us_time($2) AND min_time < us_time($3)
        """,
        series_ids,
        lo_us,
        hi_us,
        window_us,
    )
    return n


# The statement stays on PostgreSQL's generic plan — planned once per pooled connection, from
# its 6th run on — instead of being planned at every call (the statement took 1.0 ms so with the
# 6 day partitions of bench/query's quick data and 2.6 ms with 66, against 0.3-0.5 ms on the
# generic plan): the bounds on the partition key are stable expressions (``$n + interval '0'``),
# which PostgreSQL uses to prune the day partitions when the statement starts but never while
# planning, so a plan made without the values costs what one made with them and the generic one
# is kept. (Bare ``$n`` lets a custom plan prune and look cheaper; sub-SELECTs prune only while
# running, after every partition's scan has been set up: less than half the answers per second
# with 66 partitions.) The bounds arrive as timestamptz, not as µs through us_time(): a generic
# plan cannot fold that function (nor inline it: its body is only stable) and would run it as a
# SQL function, parsed and planned, at every call. The series limit is a literal for the same
# reason: under ``LIMIT $n`` a generic plan expects to stop early and scans metric_series
# instead of using its indexes.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _time(us: int) -> datetime:
    """µs since the epoch as the timestamptz it is (exact: both count µs)."""
    return _EPOCH + timedelta(microseconds=us)


_SELECTORS_READ = """
WITH s AS MATERIALIZED ({series}),
over AS (SELECT array_agg(k ORDER BY k) AS keys FROM (
    SELECT k FROM s GROUP BY k HAVING count(*) > {max_series}) o),
ids AS (SELECT array_agg(DISTINCT series_id) AS ids FROM s WHERE (SELECT keys FROM over) IS NULL),
c AS MATERIALIZED (
    SELECT series_id, samples, data FROM metric_chunks
    WHERE series_id = ANY((SELECT ids FROM ids)::integer[])
      AND window_start >= {first_window}::timestamptz + interval '0'
      AND window_start < {hi}::timestamptz + interval '0'
      AND max_time >= {lo}::timestamptz AND min_time < {hi}::timestamptz
),
n AS (SELECT coalesce(sum(samples), 0)::bigint AS loaded FROM c)
SELECT (SELECT keys FROM over) AS over, n.loaded, sr.series_ids, sr.names, sr.labels,
       ch.chunk_ids, ch.chunks, lg.blocks
FROM n,
    LATERAL (SELECT array_agg(series_id) AS series_ids, array_agg(name) AS names,
                    array_agg(labels) AS labels
             FROM s WHERE (SELECT ids FROM ids) IS NOT NULL) sr,
    LATERAL (SELECT array_agg(series_id) AS chunk_ids, array_agg(data) AS chunks
             FROM c WHERE n.loaded <= {max_samples}) ch,
    LATERAL (SELECT array_agg(block ORDER BY block_id) AS blocks FROM metric_log
             WHERE (SELECT ids FROM ids) IS NOT NULL AND n.loaded <= {max_samples}
               AND max_time >= {lo}::timestamptz AND min_time < {hi}::timestamptz) lg
"""


async def selectors_read(
    conn: asyncpg.Connection | asyncpg.Pool,
    wheres: Sequence[Where],
    *,
    max_series: int,
    lo_us: int,
    hi_us: int,
    window_us: int,
    max_samples: int,
) -> asyncpg.Record:
    """Everything a query whose selectors all read one time range [lo, hi) needs, in ONE
    statement (so one snapshot without a transaction, and one round trip): for each selector
    ``wheres[k]`` (over ``metric_series s``, all binding into one ``args`` list)
    at most ``max_series + 1`` series; then, unless a selector has more than ``max_series``,
    the samples the chunks of all of them hold over the range (counted on the chunk rows);
    then, unless that count is over ``max_samples``, those chunks and the write-log blocks
    with samples in the range.

    One row: ``over`` (the selectors over ``max_series``, in order, or None), ``loaded`` (the
    count), ``series_ids``/``names``/``labels`` (the series, None when over or none), and
    ``chunk_ids``/``chunks`` and ``blocks`` (None when over a limit or nothing is there);
    chunk data over the sample limit is never read (the count is taken on the rows)."""
    args = list(wheres[-1].args) if wheres else []
    top = Where()
    top.args = args
    series = " UNION ALL ".join(
        f"(SELECT {k} AS k, s.series_id, s.name, s.labels FROM metric_series s{w.sql}"  # noqa: S608 - w.sql binds every value
        f" LIMIT {int(max_series) + 1})"
        for k, w in enumerate(wheres)
    )
    sql = _SELECTORS_READ.format(
        series=series,
        max_series=int(max_series),
        lo=top.bind(_time(lo_us)),
        hi=top.bind(_time(hi_us)),
        first_window=top.bind(_time(lo_us - window_us)),
        max_samples=top.bind(max_samples),
    )
    row: asyncpg.Record = await conn.fetchrow(sql, *args)
    return row


def with_samples(where: Where, lo_us: int, hi_us: int, window_us: int, log_ids: list[int]) -> Where:
    """Keep the series of ``metric_series s`` with samples in [lo, hi): a stored chunk whose
    time span overlaps it (Prometheus answers series and labels at chunk granularity too), or
    a listed id (the series with samples there in the write log)."""
    return where.add(
        """(EXISTS (SELECT 1 FROM metric_chunks c WHERE c.series_id = s.series_id
                   AND c.window_start >= us_time({}::bigint - {}::bigint)
                   AND c.window_start < us_time({})
                   AND c.max_time >= us_time({}) AND c.min_time < us_time({}))
            OR s.series_id = ANY({}::integer[]))""",
        lo_us,
        window_us,
        hi_us,
        lo_us,
        hi_us,
        log_ids,
    )


async def label_names(conn: asyncpg.Connection, where: Where) -> list[str]:
    """The distinct label names (``__name__`` not among them) of the series of ``where``."""
    rows = await conn.fetch(
        "SELECT DISTINCT k FROM metric_series s CROSS JOIN LATERAL jsonb_object_keys(s.labels) k"  # noqa: S608 - where.sql binds every value
        f"{where.sql}",
        *where.args,
    )
    return [r[0] for r in rows]


async def metric_names(conn: asyncpg.Connection, where: Where) -> list[str]:
    """The distinct metric names of the series of ``where``."""
    rows = await conn.fetch(
        f"SELECT DISTINCT s.name FROM metric_series s{where.sql}",  # noqa: S608 - where.sql binds every value
        *where.args,
    )
    return [r[0] for r in rows]


async def label_values(conn: asyncpg.Connection, where: Where, label: str) -> list[str]:
    """The distinct values of ``label`` among the series of ``where`` that have it."""
    key = where.bind(label)
    where.add(f"s.labels ? {key}::text")
    rows = await conn.fetch(
        f"SELECT DISTINCT s.labels->>{key}::text FROM metric_series s{where.sql}",  # noqa: S608 - where.sql binds every value
        *where.args,
    )
    return [r[0] for r in rows]


async def register_native(conn: asyncpg.Connection | asyncpg.Pool, path: str) -> None:
    """Tell the SQL ``metrics`` function where the native decoder is."""
    await conn.execute(
        "INSERT INTO metric_native (path) VALUES ($1)"
        " ON CONFLICT (id) DO UPDATE SET path = EXCLUDED.path",
        path,
    )


# -- day partitions of the chunks and the hourly rollups --------------------------------


def partition_name(table: str, day: date) -> str:
    return f"{table}_{day:%Y%m%d}"


async def partition_days(conn: asyncpg.Connection, table: str) -> list[str]:
    """Names of the tables attached to ``table`` (one of PARTITIONED) as partitions."""
    rows = await conn.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = $1 ORDER BY c.relname",
        table,
    )
    return [r["relname"] for r in rows]


async def lock_partitions(conn: asyncpg.Connection) -> None:
    """Serialise partition DDL across workers until the end of the caller's transaction."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", PARTITION_LOCK)


async def create_partition(conn: asyncpg.Connection, table: str, day: date) -> bool:
    """The partition of ``day`` of ``table`` (one of PARTITIONED), unless it exists; True if it
    was created. Call inside a transaction after :func:`lock_partitions`."""
    assert table in PARTITIONED
    name = partition_name(table, day)
    if await conn.fetchval("SELECT 1 FROM pg_class WHERE relname = $1", name):
        return False
    nxt = day + timedelta(days=1)
    await conn.execute(
        f"CREATE TABLE {name} PARTITION OF {table}"
        f" FOR VALUES FROM ('{day.isoformat()}') TO ('{nxt.isoformat()}')"
    )
    return True


async def drop_partition(conn: asyncpg.Connection, table: str, day: date) -> None:
    """Drop the partition of ``day`` of ``table`` if it exists. Call after
    :func:`lock_partitions`."""
    assert table in PARTITIONED
    await conn.execute(f"DROP TABLE IF EXISTS {partition_name(table, day)}")
