"""The series dictionary: hash -> series_id in memory, unknown series upserted in one round trip.

Bounded: at most ``capacity`` entries (≈ 90 bytes each in CPython, so the default 500 000 is
about 45 MB per worker); when full, the oldest tenth is dropped and re-resolved on demand.
Correct across restarts and workers because PostgreSQL's unique hash is the source of truth.
"""

from __future__ import annotations

import itertools

import asyncpg

from hearth_core.metrics import repo


class SeriesDictionary:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._ids: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._ids)

    async def resolve(
        self, pool: asyncpg.Pool, series: list[tuple[int, str, str, str]]
    ) -> dict[int, int]:
        """series_id of every (hash, namespace, name, labels_json) given."""
        out: dict[int, int] = {}
        missing: list[tuple[int, str, str, str]] = []
        for item in series:
            sid = self._ids.get(item[0])
            if sid is None:
                missing.append(item)
            else:
                out[item[0]] = sid
        if missing:
            found = await self._upsert(pool, missing)
            out.update(found)
            self._remember(found)
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

    def _remember(self, found: dict[int, int]) -> None:
        if len(self._ids) + len(found) > self.capacity:
            drop = max(len(found), self.capacity // 10)
            for h in list(itertools.islice(self._ids, drop)):
                del self._ids[h]
        self._ids.update(found)
