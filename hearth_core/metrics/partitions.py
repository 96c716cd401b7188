"""Day partitions of metric_points: made ahead (and on demand), dropped after retention."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

import asyncpg

from hearth_core.metrics import repo

log = logging.getLogger("hearth.metrics")


class Partitions:
    """Which days have a partition, remembered so the ingest path asks PostgreSQL only for a
    day it has not seen yet."""

    def __init__(self) -> None:
        self._known: set[date] = set()
        self.partitioned: bool | None = None  # False with TimescaleDB (hypertable)

    async def _detect(self, conn: asyncpg.Connection) -> bool:
        if self.partitioned is None:
            self.partitioned = await repo.points_table_kind(conn) == "p"
            if self.partitioned:
                for name in await repo.partition_names(conn):
                    try:
                        self._known.add(datetime.strptime(name[-8:], "%Y%m%d").date())
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
        async with conn.transaction():
            await repo.lock_partitions(conn)
            await repo.create_partition(conn, day)
        self._known.add(day)

    async def maintain(
        self, pool: asyncpg.Pool, *, retention_days: int, ahead_days: int = 3
    ) -> list[str]:
        """Make the coming days' partitions; drop those wholly older than retention, and the
        minute rollups older than retention."""
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
                        await repo.lock_partitions(conn)
                        await repo.drop_partition(conn, day)
                    self._known.discard(day)
                    dropped.append(repo.partition_name(day))
            await repo.delete_expired_rollups(conn, retention_days)
        if dropped:
            log.info("dropped expired partitions", extra={"partitions": dropped})
        return dropped
