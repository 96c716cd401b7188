"""Reading metrics: aggregated windows of a query, and the series matching names and labels.

A query reads in one repeatable-read snapshot: the compactor moves samples from the write log
into chunks in one transaction, so chunks and log read apart could miss or double them.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Hashable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import msgspec

from hearth_core.db.paging import Page, Where
from hearth_core.errors import InvalidInput
from hearth_core.metrics import repo
from hearth_core.metrics.chunks import WINDOW_US, aggregate_windows
from hearth_core.metrics.query import (
    CHUNK_SOURCE,
    ROLLUP_SOURCE,
    Matcher,
    Query,
    match_labels,
    uses_rollups,
    window_bounds,
)

US = 1_000_000


@dataclass(frozen=True)
class SeriesResult:
    metric: dict[str, str]
    values: list[tuple[float, float]]


class SeriesItem(msgspec.Struct, kw_only=True):
    series_id: int
    namespace: str
    name: str
    labels: dict[str, str]


@contextmanager
def _postgres_regex() -> Iterator[None]:
    """A regex Python's ``re`` accepted but PostgreSQL's does not (e.g. a look-ahead) is the
    client's error."""
    try:
        yield
    except asyncpg.InvalidRegularExpressionError as exc:
        raise InvalidInput(
            "bad regular expression", errors=[{"path": "query.match", "message": str(exc)}]
        ) from None


@asynccontextmanager
async def _snapshot(db: asyncpg.Connection | asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    if isinstance(db, asyncpg.Pool):
        async with (
            db.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            yield conn
    else:
        async with db.transaction(isolation="repeatable_read", readonly=True):
            yield db


def _metric(q: Query, key: dict[str, Any]) -> dict[str, str]:
    metric = {k: v for k, v in key.items() if k != "__series" and v is not None}
    return {"__name__": q.name, **metric} if q.group_by is None else metric


async def run_query(
    db: asyncpg.Connection | asyncpg.Pool, q: Query
) -> tuple[list[SeriesResult], str]:
    """One result per series (or per group_by key) with its windows, and the source read
    (``metric_rollup_1h`` when hourly rollups answered any window, else ``metric_chunks``)."""
    q.check()
    lo, first, hi = window_bounds(q)
    where = Where().add("s.namespace = {}", q.namespace).add("s.name = {}", q.name)
    match_labels(where, q.matchers)
    # result key -> (labels key, [(t, value)]); keys: series id, or the group_by label values
    found: dict[Hashable, tuple[dict[str, Any], list[tuple[float, float]]]] = {}
    split = first
    async with _snapshot(db) as conn:
        with _postgres_regex():
            series = await repo.series_for_query(conn, where)
        if not series:
            return [], ROLLUP_SOURCE if uses_rollups(q.step) else CHUNK_SOURCE
        if uses_rollups(q.step):
            tail = await repo.log_min_time(conn, lo * US, hi * US)
            split = hi if tail is None else max(first, math.floor(tail / US / q.step) * q.step)
            if split > first:
                for r in await repo.hour_windows(conn, q, split):
                    key = _result_key(q, r["key"])
                    found.setdefault(key, (r["key"], []))[1].append((r["t"], r["value"]))
        decoded_from = split - (q.step if q.agg == "rate" else 0)
        if split < hi:
            ids = [r["series_id"] for r in series]
            chunks = await repo.chunks_between(conn, ids, decoded_from * US, hi * US, WINDOW_US)
            blocks = await repo.log_between(conn, decoded_from * US, hi * US)
    if split < hi:
        keys, members = _groups(q, series)
        rows = await asyncio.to_thread(
            aggregate_windows,
            members,
            chunks,
            blocks,
            decoded_from * US,
            split * US,
            hi * US,
            q.step * US,
            q.agg,
        )
        for index, starts, values in rows:
            label_key, rk = keys[index]
            points = found.setdefault(rk, (label_key, []))[1]
            points.extend((t / US, v) for t, v in zip(starts, values, strict=True))
    out = [
        SeriesResult(metric=_metric(q, lk), values=pts)
        for _, (lk, pts) in sorted(found.items(), key=lambda kv: _order(kv[0]))
    ]
    return out, ROLLUP_SOURCE if split > first else CHUNK_SOURCE


def _result_key(q: Query, key: dict[str, Any]) -> Hashable:
    if q.group_by is None:
        return key["__series"]
    return tuple(key.get(g) for g in q.group_by)


def _order(key: Hashable) -> Any:
    # SQL's order: series by id; group values ascending with missing labels last
    if isinstance(key, int):
        return (key,)
    assert isinstance(key, tuple)
    return tuple((v is None, v or "") for v in key)


def _groups(
    q: Query, series: list[asyncpg.Record]
) -> tuple[list[tuple[dict[str, Any], Hashable]], list[tuple[int, int]]]:
    """(label key and result key per group index, (series_id, group index) per series)."""
    keys: list[tuple[dict[str, Any], Hashable]] = []
    members: list[tuple[int, int]] = []
    index: dict[Hashable, int] = {}
    for r in series:
        labels: dict[str, Any] = r["labels"]
        if q.group_by is None:
            label_key: dict[str, Any] = {"__series": r["series_id"], **labels}
        else:
            label_key = {g: labels.get(g) for g in q.group_by}
        rk = _result_key(q, label_key)
        if rk not in index:
            index[rk] = len(keys)
            keys.append((label_key, rk))
        members.append((r["series_id"], index[rk]))
    return keys, members


async def find_series(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    namespace: str | None,
    name: str | None,
    matchers: tuple[Matcher, ...],
    limit: int,
    page: int,
) -> Page[SeriesItem]:
    where = Where().eq("s.namespace", namespace).eq("s.name", name)
    match_labels(where, matchers)
    with _postgres_regex():
        rows, total = await repo.find_series(conn, where, page=page, limit=limit)
    return Page(items=[SeriesItem(**dict(r)) for r in rows], page=page, limit=limit, total=total)


class RemoteState(msgspec.Struct, kw_only=True):
    """Remote mode: where samples go and what waits for the backend's acknowledgement."""

    write_url: str  # without credentials
    queue_bytes: int
    queue_requests: int
    queue_limit_bytes: int


class StoreState(msgspec.Struct, kw_only=True):
    """The compaction backlog: what the write log holds that chunks do not yet (in remote mode
    it stays empty: the backend stores the samples, ``remote`` says what waits for it)."""

    log_blocks: int
    log_samples: int
    log_bytes: int
    compaction_lag_seconds: float
    open_chunks: int
    mode: str = "postgres"
    remote: RemoteState | None = None


async def store_state(db: asyncpg.Connection | asyncpg.Pool) -> StoreState:
    row = await repo.log_state(db)
    return StoreState(
        log_blocks=row["blocks"],
        log_samples=row["samples"],
        log_bytes=row["bytes"],
        compaction_lag_seconds=float(row["oldest_age_s"]),
        open_chunks=await repo.open_chunk_count(db),
    )
