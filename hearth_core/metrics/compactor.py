"""The compactor: folds committed write-log blocks into per-series chunks and hourly rollups,
and seals chunks nobody writes any more.

One at a time across every worker and process (a transaction-scoped advisory lock): each pass
reads the oldest blocks (up to ``max_samples`` samples), merges them into the chunks of the
windows they touch (native ``compact_columns``: out-of-order samples in place, a duplicate
timestamp written once, the later write winning, NaN bits kept), recomputes those windows'
hourly rollups, and deletes the blocks — all in one transaction. A crash before the commit
leaves the blocks where they were and the next pass does the same work again
(``compact_columns`` is idempotent); after it, the blocks are gone and their samples are in the
chunks. Readers see either.

The counter baseline of a window (the series' value before it, for the first sample's
increase) is stored with its chunk, so a pass re-merging a window looks nothing up; only new
windows whose previous window is not in the same pass ask for the latest earlier chunk. A pass
that changes an older window's last value (late samples) stores it as the baseline of the
stored window after it and recomputes that window's rollups with it.

Open chunks are written with Gorilla (cheap to rewrite on every pass); a chunk not written for
``seal_after`` seconds is re-encoded with pcodec (smaller: ``bench/ingest/CODECS.md``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import asyncpg

from hearth_core.metrics import repo
from hearth_core.metrics.chunks import (
    CODEC_IDS,
    WINDOW_US,
    BlockError,
    ChunkError,
    compact_columns,
    rebase_rollups,
    reencode_chunks,
    touched_windows,
)
from hearth_core.metrics.partitions import Partitions

log = logging.getLogger("hearth.metrics")
FAILURES = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, BlockError, ChunkError)


@dataclass(frozen=True)
class PassResult:
    blocks: int
    samples: int
    windows: int
    seconds: float


def baselines_to_find(
    keys: list[tuple[int, int]], existing: dict[tuple[int, int], bytes]
) -> list[tuple[int, int]]:
    """The touched windows whose counter baseline needs a lookup: not stored with an existing
    chunk, and not the last value of the window just before merged in the same pass (``keys``
    is sorted, so that window is the previous key)."""
    return [
        k
        for before, k in zip([None, *keys], keys, strict=False)
        if k not in existing and before != (k[0], k[1] - WINDOW_US)
    ]


def baselines_to_pass_on(
    keys: list[tuple[int, int]], last_values: list[float | None], newest: int
) -> tuple[list[int], list[int], list[float]]:
    """(series_ids, window_starts_us, baselines) of the windows after the touched ones that
    can exist (not after ``newest``, the newest window written) and are not touched
    themselves (late samples): a stored chunk there gets the touched window's new last value
    as its baseline, and its rollups are recomputed with it. The windows of the present have
    none after them yet, so the steady state looks nothing up here."""
    out: tuple[list[int], list[int], list[float]] = ([], [], [])
    for i, ((sid, w), last) in enumerate(zip(keys, last_values, strict=True)):
        after = (sid, w + WINDOW_US)
        if after[1] <= newest and last is not None and (i + 1 == len(keys) or keys[i + 1] != after):
            out[0].append(sid)
            out[1].append(after[1])
            out[2].append(last)
    return out


class Compactor:
    def __init__(
        self,
        pool: asyncpg.Pool,
        partitions: Partitions,
        *,
        max_samples: int,
        interval: float,
        seal_after: float,
        seal_batch: int = 5000,
    ) -> None:
        self.pool = pool
        self.partitions = partitions
        self.max_samples = max_samples
        self.interval = interval
        self.seal_after = seal_after
        self.seal_batch = seal_batch
        self.compacted_samples = 0

    async def compact_once(self) -> PassResult | None:
        """One pass; None when another worker holds the compactor lock."""
        started = time.perf_counter()
        await self._ensure_partitions()
        async with self.pool.acquire() as conn, conn.transaction():
            if not await repo.try_lock_compactor(conn):
                return None
            rows = await repo.log_blocks(conn, self.max_samples)
            if not rows:
                return PassResult(0, 0, 0, time.perf_counter() - started)
            blocks = [r["block"] for r in rows]
            keys = await asyncio.to_thread(touched_windows, blocks, WINDOW_US)
            existing, prev = await repo.chunks_at(conn, keys)
            prev |= await repo.values_before(conn, baselines_to_find(keys, existing), WINDOW_US)
            chunk_cols, hour_cols, empty_cols, edge_cols = await asyncio.to_thread(
                compact_columns, blocks, existing, WINDOW_US, "gorilla", prev
            )
            await repo.upsert_chunks(conn, CODEC_IDS["gorilla"], chunk_cols)
            await repo.upsert_hours(conn, hour_cols)
            await repo.delete_hours(conn, empty_cols)
            await repo.upsert_edges(conn, edge_cols)
            if keys:
                newest = await repo.advance_newest_window(conn, max(w for _, w in keys))
                await self._rebase(conn, *baselines_to_pass_on(keys, chunk_cols[5], newest))
            await repo.delete_blocks(conn, [r["block_id"] for r in rows])
        samples = sum(r["samples"] for r in rows)
        self.compacted_samples += samples
        return PassResult(len(rows), samples, len(keys), time.perf_counter() - started)

    @staticmethod
    async def _rebase(
        conn: asyncpg.Connection, series_ids: list[int], windows: list[int], bases: list[float]
    ) -> None:
        """Give the stored chunks of these windows their new baselines and recompute their
        rollups with them (a late sample changed the value before the window)."""
        if not series_ids:
            return
        keys = list(zip(series_ids, windows, strict=True))
        stored, old = await repo.chunks_at(conn, keys)
        new = {k: b for k, b in zip(keys, bases, strict=True) if k in stored and old.get(k) != b}
        if not new:
            return
        hours = await asyncio.to_thread(rebase_rollups, {k: stored[k] for k in new}, new)
        await repo.upsert_hours(conn, hours)
        await repo.set_baselines(
            conn, [sid for sid, _ in new], [w for _, w in new], list(new.values())
        )

    async def _ensure_partitions(self) -> None:
        async with self.pool.acquire() as conn:
            span = await repo.log_span(conn)
        if span is not None:
            await self.partitions.ensure(self.pool, *span)

    async def seal_once(self) -> int:
        """Re-encode up to ``seal_batch`` idle Gorilla chunks with pcodec; how many."""
        async with self.pool.acquire() as conn, conn.transaction():
            if not await repo.try_lock_compactor(conn):
                return 0
            rows = await repo.open_chunks(conn, self.seal_after, self.seal_batch)
            if not rows:
                return 0
            sealed = await asyncio.to_thread(reencode_chunks, [r["data"] for r in rows], "pco")
            await repo.seal_chunks(
                conn,
                [(r["series_id"], r["w"], d) for r, d in zip(rows, sealed, strict=True)],
                CODEC_IDS["pco"],
            )
        return len(rows)

    async def catch_up(self) -> None:
        """Compact until the log is empty (tests, the migration's follow-up, shutdown)."""
        while True:
            result = await self.compact_once()
            if result is not None and result.blocks == 0:
                return
            if result is None:
                await asyncio.sleep(0.05)

    async def run_forever(self) -> None:
        while True:
            try:
                result = await self.compact_once()
                busy = result is not None and result.samples >= self.max_samples
                if not busy:
                    busy = await self.seal_once() >= self.seal_batch
            except FAILURES as exc:
                # A corrupt block stays in the log (nothing is dropped): it is logged on every
                # attempt until someone looks.
                log.warning(
                    "compaction failed; the write log keeps the samples",
                    extra={"error": repr(exc)},
                )
                busy = False
            if not busy:
                await asyncio.sleep(self.interval)
