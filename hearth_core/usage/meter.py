"""Usage metering per client and day: counted in memory on the hot path (a dict increment),
flushed to PostgreSQL every few seconds.

A worker that dies loses at most one flush interval of counts; a graceful stop flushes first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from datetime import UTC, datetime

import asyncpg

from hearth_core.usage import repo
from hearth_core.usage.repo import Key

log = logging.getLogger("hearth.usage")


class UsageMeter:
    def __init__(self, pool: asyncpg.Pool, flush_seconds: float) -> None:
        self.pool = pool
        self.flush_seconds = flush_seconds
        self._counts: defaultdict[Key, int] = defaultdict(int)
        self._task: asyncio.Task[None] | None = None

    def request(self, client_id: str, route: str, bytes_in: int) -> None:
        today = datetime.now(UTC).date()
        self._counts[(today, client_id, "requests", route)] += 1
        if bytes_in:
            self._counts[(today, client_id, "bytes_in", "")] += bytes_in

    def points(self, client_id: str, n: int) -> None:
        self._counts[(datetime.now(UTC).date(), client_id, "points", "")] += n

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="usage-flush")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_seconds)
            await self.flush()

    async def flush(self) -> int:
        """Write what was counted since the last flush; on failure keep it for the next one."""
        counts, self._counts = self._counts, defaultdict(int)
        if not counts:
            return 0
        try:
            async with self.pool.acquire() as conn:
                await repo.add(conn, counts)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            for k, v in counts.items():
                self._counts[k] += v
            log.warning("usage flush failed; kept for the next one", extra={"error": repr(exc)})
            return 0
        return len(counts)
