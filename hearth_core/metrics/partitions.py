"""Day partitions of metric_points: made ahead (and on demand), dropped after retention."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

import asyncpg

log = logging.getLogger("hearth.metrics")
_LOCK = 0x70617274  # "part"


def partition_name(day: date) -> str:
    return f"metric_points_{day:%Y%m%d}"


class Partitions:
    def __init__(self) -> None:
        self._known: set[date] = set()
        self.partitioned: bool | None = None  # False with TimescaleDB (hypertable)

    async def _detect(self, conn: asyncpg.Connection) -> bool:
        if self.partitioned is None:
            kind = await conn.fetchval(
                "SELECT relkind::text FROM pg_class WHERE relname = 'metric_points'"
            )
            self.partitioned = kind == "p"
            if self.partitioned:
                rows = await conn.fetch(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                    " JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'metric_points'"
                )
                for r in rows:
                    try:
                        self._known.add(datetime.strptime(r["relname"][-8:], "%Y%m%d").date())
                    except ValueError:
                        continue
        return self.partitioned

    async def ensure(self, pool: asyncpg.Pool, first_us: int, last_us: int) -> None:
        """Every day from first to last (µs since the epoch) has its partition."""
        start = datetime.fromtimestamp(first_us / 1e6, UTC).date()
        end = datetime.fromtimestamp(last_us / 1e6, UTC).date()
        days = [start + timedelta(d) for d in range((end - start).days + 1)]
        if all(d in self._known for d in days):
            return
        async with pool.acquire() as conn:
            if not await self._detect(conn):
                return
            for day in days:
                if day not in self._known:
                    await self._create(conn, day)

    async def _create(self, conn: asyncpg.Connection, day: date) -> None:
        name = partition_name(day)
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
            exists = await conn.fetchval("SELECT 1 FROM pg_class WHERE relname = $1", name)
            if not exists:
                nxt = day + timedelta(days=1)
                await conn.execute(
                    f"CREATE TABLE {name} PARTITION OF metric_points"
                    f" FOR VALUES FROM ('{day.isoformat()}') TO ('{nxt.isoformat()}')"
                )
        self._known.add(day)

    async def maintain(
        self, pool: asyncpg.Pool, *, retention_days: int, ahead_days: int = 3
    ) -> list[str]:
        """Make the coming days' partitions; drop those wholly older than retention."""
        today = datetime.now(UTC).date()
        async with pool.acquire() as conn:
            if not await self._detect(conn):
                return []
            for d in range(ahead_days + 1):
                if today + timedelta(d) not in self._known:
                    await self._create(conn, today + timedelta(d))
            cutoff = today - timedelta(days=retention_days + 1)
            dropped = []
            for day in sorted(self._known):
                if day < cutoff:
                    async with conn.transaction():
                        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
                        await conn.execute(f"DROP TABLE IF EXISTS {partition_name(day)}")
                    self._known.discard(day)
                    dropped.append(partition_name(day))
            await conn.execute(
                "DELETE FROM metric_rollup_1m WHERE bucket < now() - make_interval(days => $1)",
                retention_days,
            )
            await conn.execute(
                "DELETE FROM idempotency_keys WHERE created_at < now() - interval '1 day'"
            )
        if dropped:
            log.info("dropped expired partitions", extra={"partitions": dropped})
        return dropped
