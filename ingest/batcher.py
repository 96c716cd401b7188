"""Coalescing concurrent requests into one write-log transaction, acknowledged only after commit.

Each request arrives already decoded and encoded (one write-log block from the native core). A
writer task takes the first waiting job, gathers more until ``max_rows`` points or ``max_delay``
seconds, and writes them all in one transaction: one ``metric_log`` row per request (one
INSERT for the batch) and the idempotency keys. Only after the commit are the requests' futures
resolved; if the transaction fails, every one of them fails (the client retries, with its
Idempotency-Key) — nothing is acknowledged that is not durable. The compactor
(``hearth_core.metrics.compactor``) later folds the blocks into chunks and rollups.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from hearth_core import idempotency
from hearth_core.metrics import repo

log = logging.getLogger("hearth.ingest")


@dataclass
class Job:
    block: bytes  # the write-log block of the request's samples
    count: int
    min_time_us: int
    max_time_us: int
    reservation: idempotency.Reservation | None = None
    response: Any = None  # stored with the idempotency key
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Overloaded(Exception):
    """The in-flight budget is spent: answer 503 and let the client retry."""


class Batcher:
    def __init__(
        self, pool: asyncpg.Pool, *, max_rows: int, max_delay: float, writers: int, budget: int
    ) -> None:
        self.pool = pool
        self.max_rows = max_rows
        self.max_delay = max_delay
        self.budget = budget
        self.inflight = 0
        self._queue: asyncio.Queue[Job] = asyncio.Queue()
        self._tasks = [
            asyncio.create_task(self._run(), name=f"ingest-writer-{i}") for i in range(writers)
        ]
        self.batches_written = 0

    def reserve(self, points: int) -> None:
        """Claim room for ``points`` until they are written; Overloaded when there is none.

        A single request larger than the whole budget is still let in when nothing else is in
        flight, so a big-but-legal request is never refused forever."""
        if self.inflight and self.inflight + points > self.budget:
            raise Overloaded
        self.inflight += points

    def release(self, points: int) -> None:
        self.inflight -= points

    async def submit(self, job: Job) -> None:
        """Queue the job and wait until its transaction has committed (or failed)."""
        await self._queue.put(job)
        await asyncio.shield(job.done)

    async def close(self) -> None:
        # Let queued jobs finish: work a client is waiting on is never abandoned at shutdown.
        await self._queue.join()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t

    async def _gather(self) -> list[Job]:
        jobs = [await self._queue.get()]
        rows = jobs[0].count
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_delay
        while rows < self.max_rows:
            try:
                job = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            jobs.append(job)
            rows += job.count
        return jobs

    async def _run(self) -> None:
        while True:
            jobs = await self._gather()
            try:
                await self._write(jobs)
            except Exception as exc:
                log.warning("ingest batch failed", extra={"jobs": len(jobs), "error": repr(exc)})
                for j in jobs:
                    if not j.done.done():
                        j.done.set_exception(exc)
            else:
                self.batches_written += 1
                for j in jobs:
                    if not j.done.done():
                        j.done.set_result(None)
            finally:
                for _ in jobs:
                    self._queue.task_done()

    async def _write(self, jobs: list[Job]) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await repo.append_blocks(
                conn, [(j.count, j.min_time_us, j.max_time_us, j.block) for j in jobs]
            )
            for j in jobs:
                if j.reservation is not None:
                    await idempotency.complete(conn, j.reservation, 200, j.response)
