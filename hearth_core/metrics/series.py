"""The series dictionary: hash -> series_id in memory, unknown series upserted in one round trip.

The map is native (``SeriesMap``): a request whose series are all known costs no Python object
per series, and the ids are looked up and the write-log block encoded with the GIL released.
Bounded: at most ``capacity`` entries (≈ 60 bytes each, so the default 500 000 is about 30 MB
per worker); when full, the oldest tenth is dropped and re-resolved on demand. Correct across
restarts and workers because PostgreSQL's unique hash is the source of truth.
"""

from __future__ import annotations

import asyncpg

from hearth_core._native import SeriesMap, UnmappedSeries
from hearth_core.metrics import repo
from hearth_core.metrics.codec import DecodedBatch, encode, encode_mapped

# Encode attempts through the map before falling back to a per-request dict. A second attempt
# is needed when the map is full: inserting this request's new series may evict its known ones,
# and so may a concurrent request's insert while this one waits for PostgreSQL.
MAPPED_ATTEMPTS = 2


class SeriesDictionary:
    def __init__(self, capacity: int) -> None:
        self._map = SeriesMap(capacity)

    @property
    def capacity(self) -> int:
        return self._map.capacity

    def __len__(self) -> int:
        return len(self._map)

    async def encode_block(self, pool: asyncpg.Pool, batch: DecodedBatch) -> bytes:
        """The write-log block of ``batch``'s accepted samples, upserting its unknown series."""
        for _ in range(MAPPED_ATTEMPTS):
            missing = batch.missing_series(self._map)
            if missing:
                # insert_many never evicts what it inserts: these are all there for the encode,
                # unless a concurrent request's insert evicts them first.
                self._map.insert_many((await self._upsert(pool, missing)).items())
            try:
                return await encode_mapped(batch, self._map)
            except UnmappedSeries:
                continue
        # The live series churn faster than the map holds them: resolve into a dict of our own.
        return await encode(batch, await self.resolve(pool, batch.series()))

    async def resolve(
        self, pool: asyncpg.Pool, series: list[tuple[int, str, str, str]]
    ) -> dict[int, int]:
        """series_id of every (hash, namespace, name, labels_json) given."""
        out: dict[int, int] = {}
        missing: list[tuple[int, str, str, str]] = []
        for item in series:
            sid = self._map.get(item[0])
            if sid is None:
                missing.append(item)
            else:
                out[item[0]] = sid
        if missing:
            found = await self._upsert(pool, missing)
            out.update(found)
            self._map.insert_many(found.items())
        return out

    async def _upsert(
        self, pool: asyncpg.Pool, items: list[tuple[int, str, str, str]]
    ) -> dict[int, int]:
        # Sorted by hash: concurrent requests creating overlapping new series then take the
        # unique-index locks in one order and cannot deadlock each other.
        items = sorted(items)
        async with pool.acquire() as conn:
            found = await repo.upsert_series(conn, items)
            if len(found) < len(items):
                # Another worker inserted some of them concurrently: our statement waited for it
                # (DO NOTHING) but its snapshot predates that commit. A second look sees them.
                found.update(await repo.series_ids(conn, [h for h, *_ in items if h not in found]))
        return found
