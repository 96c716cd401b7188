"""Day partitions of the chunks and hourly rollups: made ahead (and on demand), dropped whole
after retention — expiring data is a DROP TABLE, never a DELETE."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

import asyncpg

from hearth_core.metrics import repo

log = logging.getLogger("hearth.metrics")


class Partitions:
    """Which days have their partitions, remembered so the compactor asks PostgreSQL only for a
    day it has not seen yet."""

    def __init__(self) -> None:
        self._known: set[date] | None = None

    async def _load(self, conn: asyncpg.Connection) -> set[date]:
        if self._known is None:
            days: dict[date, int] = {}
            for table in repo.PARTITIONED:
                for name in await repo.partition_days(conn, table):
                    try:
                        day = datetime.strptime(name[-8:], "%Y%m%d").date()
                    except ValueError:
                        continue
                    days[day] = days.get(day, 0) + 1
            # a day counts as made only when every table has it
            self._known = {d for d, n in days.items() if n == len(repo.PARTITIONED)}
        return self._known

    async def ensure(self, pool: asyncpg.Pool, first_us: int, last_us: int) -> None:
        """Every day from first to last (µs since the epoch) has its partitions."""
        start = datetime.fromtimestamp(first_us / 1e6, UTC).date()
        end = datetime.fromtimestamp(last_us / 1e6, UTC).date()
        days = [start + timedelta(d) for d in range((end - start).days + 1)]
        if self._known is not None and all(d in self._known for d in days):
            return
        async with pool.acquire() as conn:
            known = await self._load(conn)
            for day in days:
                if day not in known:
                    await self._create(conn, day)

    async def _create(self, conn: asyncpg.Connection, day: date) -> None:
        async with conn.transaction():
            await repo.lock_partitions(conn)
            for table in repo.PARTITIONED:
                await repo.create_partition(conn, table, day)
        assert self._known is not None
        self._known.add(day)

    async def maintain(
        self, pool: asyncpg.Pool, *, retention_days: int, ahead_days: int = 3
    ) -> list[str]:
        """Make the coming days' partitions; drop the days wholly older than retention."""
        today = datetime.now(UTC).date()
        async with pool.acquire() as conn:
            known = await self._load(conn)
            for d in range(ahead_days + 1):
                if today + timedelta(d) not in known:
                    await self._create(conn, today + timedelta(d))
            cutoff = today - timedelta(days=retention_days + 1)
            dropped = []
            for day in sorted(known):
                if day < cutoff:
                    async with conn.transaction():
                        await repo.lock_partitions(conn)
                        for table in repo.PARTITIONED:
                            await repo.drop_partition(conn, table, day)
                            dropped.append(repo.partition_name(table, day))
                    known.discard(day)
        if dropped:
            log.info("dropped expired partitions", extra={"partitions": dropped})
        return dropped
