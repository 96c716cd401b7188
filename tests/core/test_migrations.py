"""Every migration applies from empty, once, even when workers race."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from hearth_core.db import migrations


async def _empty_db(stack) -> tuple[str, str]:
    base = stack.database_url.rsplit("/", 1)[0]
    name = f"empty_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(base + "/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return base, name


async def _drop(base: str, name: str) -> None:
    admin = await asyncpg.connect(base + "/postgres")
    await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    await admin.close()


async def test_all_migrations_apply_from_empty(stack):
    base, name = await _empty_db(stack)
    try:
        conn = await asyncpg.connect(f"{base}/{name}")
        applied = await migrations.apply_all(conn)
        expected = [m.version for m in migrations.available()]
        assert [m.version for m in applied] == expected
        assert await migrations.applied_versions(conn) == expected
        assert await migrations.apply_all(conn) == []  # idempotent
        tables = {r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables")}
        assert {"users", "roles", "user_roles", "audit_log", "data_keys"} <= tables
        await conn.close()
    finally:
        await _drop(base, name)


async def test_concurrent_workers_apply_each_migration_once(stack):
    base, name = await _empty_db(stack)
    try:
        conns = [await asyncpg.connect(f"{base}/{name}") for _ in range(4)]
        results = await asyncio.gather(*(migrations.apply_all(c) for c in conns))
        counts = sorted(len(r) for r in results)
        assert counts[-1] == len(migrations.available())
        assert counts[:-1] == [0, 0, 0]
        for c in conns:
            await c.close()
    finally:
        await _drop(base, name)


def test_migration_files_are_numbered_without_gaps():
    versions = [m.version for m in migrations.available()]
    assert versions == list(range(1, len(versions) + 1))


async def test_existing_points_move_into_the_log_and_compact_into_chunks(stack):
    """0014: a store of rows per sample (migrations up to 0013) upgrades without losing one."""
    from hearth_core.db.pool import connect
    from hearth_core.metrics import repo
    from hearth_core.metrics.chunks import native_path
    from hearth_core.metrics.compactor import Compactor
    from hearth_core.metrics.partitions import Partitions

    base, name = await _empty_db(stack)
    try:
        conn = await connect(f"{base}/{name}")
        await migrations.apply_all(conn, until=12)
        await conn.execute(
            "CREATE TABLE metric_points_old PARTITION OF metric_points"
            " FOR VALUES FROM ('2000-01-01') TO ('2100-01-01')"
        )
        await conn.execute(
            "INSERT INTO metric_series (hash, namespace, name, labels) VALUES"
            " (1, 'ns', 'up', '{\"h\": \"a\"}'), (2, 'ns', 'up', '{\"h\": \"b\"}')"
        )
        await conn.execute(
            "INSERT INTO metric_points"
            " SELECT 1 + i % 2, now() - make_interval(secs => i * 7.5), i FROM generate_series(0, 2999) i"
        )
        applied = await migrations.apply_all(conn)
        assert [m.version for m in applied][:2] == [13, 14]
        assert await conn.fetchval("SELECT to_regclass('metric_points')") is None
        assert await conn.fetchval("SELECT sum(samples) FROM metric_log") == 3000
        await repo.register_native(conn, native_path())
        assert await conn.fetchval("SELECT count(*) FROM metrics") == 3000  # the log is read
        pool = await asyncpg.create_pool(f"{base}/{name}", min_size=1, max_size=2)
        try:
            compactor = Compactor(
                pool, Partitions(), max_samples=10**6, interval=1.0, seal_after=300.0
            )
            await compactor.catch_up()
        finally:
            await pool.close()
        assert await conn.fetchval("SELECT count(*) FROM metric_log") == 0
        got = await conn.fetch(
            "SELECT labels->>'h' AS h, value FROM metrics('ns', 'up') ORDER BY \"timestamp\""
        )
        assert [r["value"] for r in got] == [float(i) for i in range(2999, -1, -1)]
        assert {r["h"] for r in got[:2]} == {"a", "b"}
        assert await conn.fetchval("SELECT sum(count) FROM metric_rollup_1h") == 3000
        await conn.close()
    finally:
        await _drop(base, name)


async def test_hourly_edges_are_computed_from_stored_chunks(stack):
    """0020: a store with chunks (migrations up to 0019) gets every hour's edges."""
    import struct
    from datetime import UTC, datetime, timedelta

    from hearth_core.db.pool import connect
    from hearth_core.metrics import repo
    from hearth_core.metrics.chunks import HOUR_US, STALE_NAN_BITS, chunk_edges, encode_chunk

    base, name = await _empty_db(stack)
    try:
        conn = await connect(f"{base}/{name}")
        await migrations.apply_all(conn, until=19)
        day = datetime.now(UTC).date() - timedelta(days=1)
        for table in ("metric_chunks", "metric_rollup_1h"):
            await conn.execute(
                f"CREATE TABLE {repo.partition_name(table, day)} PARTITION OF {table}"
                f" FOR VALUES FROM ('{day}') TO ('{day + timedelta(days=1)}')"
            )
        start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 10**6
        stale = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]
        stored = []
        for sid in (1, 2):
            ts = [start + i * 60_000_000 for i in range(0, 120, 7)] + [start + HOUR_US + 5]
            vs = [float(i * sid) for i in range(len(ts) - 1)] + [stale]
            data = encode_chunk(ts, vs, "pco")
            stored.append((sid, data))
            await conn.execute(
                "INSERT INTO metric_chunks (series_id, window_start, codec, samples, min_time,"
                " max_time, data) VALUES ($1, us_time($2), 2, $3, us_time($4), us_time($5), $6)",
                sid,
                start,
                len(ts),
                ts[0],
                max(ts),
                data,
            )
        applied = await migrations.apply_all(conn)
        assert next(m.version for m in applied) == 20
        rows = await conn.fetch(
            "SELECT series_id, time_us(bucket), time_us(first_time), first_value,"
            " time_us(end_time), end_value FROM metric_edges_1h ORDER BY series_id, bucket"
        )

        def bits(row) -> tuple:
            return tuple(struct.pack("<d", v) if isinstance(v, float) else v for v in row)

        want = list(zip(*chunk_edges(stored), strict=True))
        assert len(want) == 4  # two hours per series, the second ending on a marker
        assert [bits(tuple(r)) for r in rows] == [bits(w) for w in want]
        await conn.close()
    finally:
        await _drop(base, name)
