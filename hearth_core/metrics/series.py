"""The series dictionary: hash -> series_id in memory, unknown series created in one transaction
as far as the client's cardinality limits allow (``SeriesLimits``; the rest are refused).

The map is native (``SeriesMap``): a request whose series are all known costs no Python object
per series, and the ids are looked up and the write-log block encoded with the GIL released.
Bounded: at most ``capacity`` entries (≈ 60 bytes each, so the default 500 000 is about 30 MB
per worker); when full, the oldest tenth is dropped and re-resolved on demand. Correct across
restarts and workers because PostgreSQL's unique hash is the source of truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from hearth_core._native import SeriesMap, UnmappedSeries
from hearth_core.metrics import repo
from hearth_core.metrics.codec import DecodedBatch, encode, encode_mapped

# Encode attempts through the map before falling back to a per-request dict. A second attempt
# is needed when the map is full: inserting this request's new series may evict its known ones,
# and so may a concurrent request's insert while this one waits for PostgreSQL.
MAPPED_ATTEMPTS = 2


@dataclass(frozen=True)
class SeriesLimits:
    """A client's cardinality limits (None: unlimited): series it may create in all, and per
    clock hour."""

    max_series: int | None = None
    max_new_series_per_hour: int | None = None

    def room(self, created: int, created_this_hour: int) -> int | None:
        """How many more series the client may create now (None: any number)."""
        rooms = [
            limit - used
            for limit, used in (
                (self.max_series, created),
                (self.max_new_series_per_hour, created_this_hour),
            )
            if limit is not None
        ]
        return max(0, min(rooms)) if rooms else None

    def why(self, created: int, created_this_hour: int) -> str:
        if self.max_series is not None and created >= self.max_series:
            return f"the client's limit of {self.max_series} series is reached"
        return (
            f"the client's limit of {self.max_new_series_per_hour} new series per hour is reached"
        )


NO_LIMITS = SeriesLimits()


@dataclass(frozen=True)
class Admitted:
    """What a batch may write: ``batch`` without the series a cardinality limit refused."""

    batch: DecodedBatch
    refused_series: int = 0
    refusal: str | None = None


@dataclass(frozen=True)
class Encoded:
    """A batch's write-log block (None when nothing is left to write) and what a cardinality
    limit refused: ``batch`` is what the block holds."""

    block: bytes | None
    batch: DecodedBatch
    refused_series: int = 0
    refusal: str | None = None


class SeriesDictionary:
    def __init__(self, capacity: int) -> None:
        self._map = SeriesMap(capacity)

    @property
    def capacity(self) -> int:
        return self._map.capacity

    def __len__(self) -> int:
        return len(self._map)

    async def encode_block(
        self,
        pool: asyncpg.Pool,
        batch: DecodedBatch,
        *,
        client_id: str = "",
        limits: SeriesLimits = NO_LIMITS,
    ) -> Encoded:
        """The write-log block of ``batch``'s accepted samples, creating its unknown series as
        far as ``client_id``'s ``limits`` allow; the samples of refused series are left out."""
        refused, refusal = 0, None
        for _ in range(MAPPED_ATTEMPTS):
            # insert_many never evicts what it inserts: the series admitted are all there for
            # the encode, unless a concurrent request's insert evicts them first.
            admitted = await self.admit(pool, batch, client_id=client_id, limits=limits)
            batch = admitted.batch
            if admitted.refused_series:
                refused, refusal = refused + admitted.refused_series, admitted.refusal
            if not batch.accepted:
                return Encoded(None, batch, refused, refusal)
            try:
                return Encoded(await encode_mapped(batch, self._map), batch, refused, refusal)
            except UnmappedSeries:
                continue
        # The live series churn faster than the map holds them: resolve into a dict of our own.
        # Every series of the batch exists by now (the refused ones are gone from it).
        ids = await self.resolve(pool, batch.series())
        return Encoded(await encode(batch, ids), batch, refused, refusal)

    async def admit(
        self,
        pool: asyncpg.Pool,
        batch: DecodedBatch,
        *,
        client_id: str = "",
        limits: SeriesLimits = NO_LIMITS,
    ) -> Admitted:
        """``batch`` without the samples of the unknown series ``client_id``'s ``limits``
        refuse, the others created (remote mode: PostgreSQL keeps the series catalogue and the
        cardinality ledger, the backend the samples)."""
        missing = batch.missing_series(self._map)
        if not missing:
            return Admitted(batch)
        found, no, why = await self._create(pool, missing, client_id, limits)
        self._map.insert_many(found.items())
        if not no:
            return Admitted(batch)
        return Admitted(batch.without_series(no), len(no), why)

    async def resolve(
        self, pool: asyncpg.Pool, series: list[tuple[int, str, str, str]]
    ) -> dict[int, int]:
        """series_id of every (hash, namespace, name, labels_json) given, creating the unknown
        ones without a limit."""
        out: dict[int, int] = {}
        missing: list[tuple[int, str, str, str]] = []
        for item in series:
            sid = self._map.get(item[0])
            if sid is None:
                missing.append(item)
            else:
                out[item[0]] = sid
        if missing:
            found, _, _ = await self._create(pool, missing, "", NO_LIMITS)
            out.update(found)
            self._map.insert_many(found.items())
        return out

    async def _create(
        self,
        pool: asyncpg.Pool,
        items: list[tuple[int, str, str, str]],
        client_id: str,
        limits: SeriesLimits,
    ) -> tuple[dict[int, int], list[int], str | None]:
        """(series_id by hash of the known and created series, hashes refused, why)."""
        async with pool.acquire() as conn, conn.transaction():
            known = await repo.series_ids(conn, [h for h, *_ in items])
            new = [i for i in items if i[0] not in known]  # in order of first appearance
            refused: list[int] = []
            why = None
            if new and client_id:
                created, this_hour = await repo.series_quota(conn, client_id)
                room = limits.room(created, this_hour)
                if room is not None and room < len(new):
                    why = limits.why(created + room, this_hour + room)
                    refused = [h for h, *_ in new[room:]]
                    new = new[:room]
                await repo.add_series_quota(conn, client_id, len(new))
            # Sorted by hash: concurrent requests creating overlapping new series then take the
            # unique-index locks in one order and cannot deadlock each other.
            new.sort()
            found = await repo.upsert_series(conn, new) if new else {}
            if len(found) < len(new):
                # Another worker inserted some of them concurrently: our statement waited for it
                # (DO NOTHING) but its snapshot predates that commit. A second look sees them.
                found.update(await repo.series_ids(conn, [h for h, *_ in new if h not in found]))
        return known | found, refused, why
