"""The Prometheus query API's service: PromQL queries evaluated by the native engine, and the
series, label-name and label-value lookups of the metadata routes.

A query is planned by the engine (``promql_needs``: per selector its matchers and time range),
then read here in one snapshot (the compactor moves samples from the write log into chunks in
one transaction, so chunks and log read apart could miss or double them): per selector the
namespace's series its matchers select in SQL (a superset, see
:mod:`hearth_core.metrics.selectors`), their chunks over its range, and the write-log blocks
over all ranges. When every selector reads one time range — most dashboard queries — that is
one statement (a statement sees one snapshot by itself: one round trip, no transaction);
otherwise a repeatable-read transaction, step by step. One native call then merges, evaluates
and renders the result (``promql_eval``: on the event loop when small, else on a thread with
the GIL released); Python never touches a sample.

Limits (:class:`Limits`, from settings): a deadline for the whole query (reading and
evaluating), samples loaded (checked on the chunk rows before any chunk is read, and exactly
in the engine), series per selector. Every failure is a :class:`QueryFailed` carrying
Prometheus's ``errorType``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg

from hearth_core import _native
from hearth_core.db.paging import Where
from hearth_core.metrics import repo
from hearth_core.metrics.chunks import HOUR_US, WINDOW_US
from hearth_core.metrics.selectors import NAME_LABEL, Matcher, match_where
from hearth_core.settings import Settings

# What the engine says a query reads, per selector: (matchers, min_t_ms, max_t_ms, hour_edges).
Need = tuple[list[Matcher], int, int, bool]
# Bounds of the µs times handed to SQL: timestamptz arithmetic overflows far beyond them, and
# no stored sample lies outside (epoch ± 285 years).
_MIN_US, _MAX_US = -(2**53), 2**53
# Prometheus's error classes and the status it answers each with (web/api/v1/api.go).
STATUS = {
    "bad_data": 400,
    "not_found": 404,
    "execution": 422,
    "internal": 500,
    "timeout": 503,
    "canceled": 503,
    "unavailable": 503,
}


class QueryFailed(Exception):
    """A request of the Prometheus API without an answer: ``error_type`` is Prometheus's
    ``errorType`` (its HTTP status in :data:`STATUS`), ``message`` its ``error``."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message

    @property
    def status(self) -> int:
        return STATUS.get(self.error_type, 500)


@dataclass(frozen=True)
class Limits:
    timeout_s: float
    lookback_ms: int
    max_samples: int
    max_series: int
    max_query_bytes: int = 16_384

    @classmethod
    def from_settings(cls, s: Settings) -> Limits:
        return cls(
            timeout_s=s.promql_timeout_s,
            lookback_ms=round(s.promql_lookback_s * 1000),
            max_samples=s.promql_max_samples,
            max_series=s.promql_max_series,
            max_query_bytes=s.promql_max_query_bytes,
        )


def _us(ms: int) -> int:
    return min(max(ms * 1000, _MIN_US), _MAX_US)


def _failed(exc: _native.PromqlError) -> QueryFailed:
    return QueryFailed(exc.error_type, exc.message)


def _timed_out(where: str) -> QueryFailed:
    return QueryFailed("timeout", f"query timed out in {where}")


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


async def _selected(
    conn: asyncpg.Connection, namespace: str, matchers: Sequence[Matcher], limits: Limits
) -> list[asyncpg.Record]:
    """The series of ``namespace`` SQL selects for ``matchers`` (a superset of the matching
    ones); 422 when more than ``limits.max_series``."""
    where = match_where(Where().add("s.namespace = {}", namespace), matchers)
    rows = await repo.selector_series(conn, where, limits.max_series + 1)
    if len(rows) > limits.max_series:
        raise _too_many_series(matchers, limits)
    return rows


@dataclass(frozen=True)
class Evaluated:
    """A query's answer: the ``data`` member of Prometheus's answer as JSON bytes, and what it
    read — ``edges`` (hourly edges), ``chunks`` (chunks and write log), both, or ``none``."""

    data: bytes
    read: str


@dataclass
class _Read:
    """What a query read: its series ``(series_id, name, labels)``, chunks ``(series_id,
    data)``, write-log blocks and hourly edges, and the samples the chunks hold."""

    series: list[tuple[int, str, dict[str, str]]]
    chunks: list[tuple[int, bytes]]
    blocks: list[bytes]
    edges: list[tuple[int, bytes]]
    loaded: int
    read: str


def _too_many_series(matchers: Sequence[Matcher], limits: Limits) -> QueryFailed:
    shown = ", ".join(f"{label}{op}{json.dumps(value)}" for label, op, value in matchers)
    return QueryFailed(
        "execution",
        f"the selector {{{shown}}} matches more than {limits.max_series} series "
        "(HEARTH_PROMQL_MAX_SERIES)",
    )


def _too_many_samples(limits: Limits) -> QueryFailed:
    return QueryFailed(
        "execution",
        "query processing would load too many samples into memory in query "
        f"execution (limit {limits.max_samples})",
    )


async def evaluate(
    db: asyncpg.Connection | asyncpg.Pool,
    *,
    namespace: str,
    query: str,
    start_ms: int,
    end_ms: int,
    step_ms: int,
    timeout_s: float,
    limits: Limits,
) -> Evaluated:
    """Evaluate ``query`` (instant: ``step_ms == 0`` and ``start_ms == end_ms``).

    When every selector reads the same time range (most dashboard queries) and none reads
    hourly edges, everything is read in one statement (:func:`_read_one`); otherwise in a
    repeatable-read snapshot, step by step (:func:`_read_snapshot`).
    """
    query_bytes = len(query.encode())
    if query_bytes > limits.max_query_bytes:
        raise QueryFailed(
            "bad_data",
            f"the query is longer than {limits.max_query_bytes} bytes "
            "(HEARTH_PROMQL_MAX_QUERY_BYTES)",
        )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    plan = (query, start_ms, end_ms, step_ms, limits.lookback_ms)
    try:
        if query_bytes <= _INLINE_QUERY_BYTES:
            # The engine plans a short query in microseconds, the GIL held: a hand-off to a
            # thread would cost more.
            needs = _native.promql_needs(*plan)
        else:
            needs = await asyncio.to_thread(_native.promql_needs, *plan)
    except _native.PromqlError as exc:
        raise _failed(exc) from None
    try:
        async with asyncio.timeout_at(deadline):
            span = _one_span(needs)
            if not needs:
                got = _Read([], [], [], [], 0, "none")
            elif span is not None:
                got = await _read_one(db, namespace, needs, span, limits)
            else:
                async with _snapshot(db) as conn:
                    got = await _read_snapshot(conn, namespace, needs, limits)
    except TimeoutError:
        raise _timed_out("query execution") from None
    remaining = deadline - loop.time()
    if remaining <= 0:
        raise _timed_out("query execution")

    def run(detach: bool) -> bytes:
        return _native.promql_eval(
            query,
            start_ms,
            end_ms,
            step_ms,
            limits.lookback_ms,
            got.series,
            got.chunks,
            got.blocks,
            remaining,
            limits.max_samples,
            got.edges,
            detach=detach,
        )

    try:
        if _small(got, needs, query_bytes, plan):
            data = run(detach=False)
        else:
            data = await asyncio.to_thread(run, detach=True)
    except _native.PromqlError as exc:
        raise _failed(exc) from None
    return Evaluated(data, got.read)


# An evaluation this small runs on the event loop with the GIL held — a few hundred µs (one
# series over a day at 1-minute steps: 0.3 ms in bench/query): handing it to a thread and
# taking the GIL back costs as much, and more under load. Anything larger runs on a thread
# with the GIL released. "Small": a short query whose selectors look back no further than the
# lookback delta (a range function over a day reads a day per step: 10-80 ms), few points to
# compute and few samples to decode.
_INLINE_QUERY_BYTES = 512  # as the engine's INLINE_QUERY_BYTES: planned on the calling stack
_INLINE_POINTS = 2_048  # series x steps
_INLINE_SAMPLES = 8_192  # samples the chunks read hold
_INLINE_LOG_BYTES = 32_768  # write-log bytes read


def _small(
    got: _Read, needs: Sequence[Need], query_bytes: int, plan: tuple[str, int, int, int, int]
) -> bool:
    _, start_ms, end_ms, step_ms, lookback_ms = plan
    steps = (end_ms - start_ms) // step_ms + 1 if step_ms > 0 else 1
    window = end_ms - start_ms + lookback_ms
    return (
        query_bytes <= _INLINE_QUERY_BYTES
        and not got.edges
        and max(1, len(got.series)) * steps <= _INLINE_POINTS
        and got.loaded <= _INLINE_SAMPLES
        and sum(len(b) for b in got.blocks) <= _INLINE_LOG_BYTES
        and all(max_t - min_t <= window for _, min_t, max_t, _ in needs)
    )


def _one_span(needs: Sequence[Need]) -> tuple[int, int] | None:
    """The µs range [lo, hi) every selector of ``needs`` reads, when they all read the same
    one and none reads hourly edges: the query then reads in one statement."""
    spans = {(_us(min_t), _us(max_t + 1)) for _, min_t, max_t, _ in needs}
    if len(spans) != 1 or any(hour_edges for *_, hour_edges in needs):
        return None
    return spans.pop()


async def _read_one(
    db: asyncpg.Connection | asyncpg.Pool,
    namespace: str,
    needs: Sequence[Need],
    span: tuple[int, int],
    limits: Limits,
) -> _Read:
    """Read with :func:`repo.selectors_read`: one statement, one round trip, one snapshot."""
    keys = list(dict.fromkeys(tuple(matchers) for matchers, *_ in needs))
    args: list[Any] = []
    wheres = []
    for key in keys:
        where = Where()
        where.args = args  # one numbering for every selector's clause: one statement
        wheres.append(match_where(where.add("s.namespace = {}", namespace), key))
    lo, hi = span
    row = await repo.selectors_read(
        db,
        wheres,
        max_series=limits.max_series,
        lo_us=lo,
        hi_us=hi,
        window_us=WINDOW_US,
        max_samples=limits.max_samples,
    )
    if row["over"]:
        raise _too_many_series(keys[row["over"][0]], limits)
    if row["loaded"] > limits.max_samples:
        raise _too_many_samples(limits)
    ids = row["series_ids"]
    if not ids:
        return _Read([], [], [], [], 0, "none")
    # A series two selectors select comes once per selector.
    found = zip(ids, row["names"], row["labels"], strict=True)
    series = list({sid: (sid, name, labels) for sid, name, labels in found}.values())
    chunks = list(zip(row["chunk_ids"] or (), row["chunks"] or (), strict=True))
    return _Read(series, chunks, row["blocks"] or [], [], row["loaded"], "chunks")


async def _read_snapshot(
    conn: asyncpg.Connection, namespace: str, needs: Sequence[Need], limits: Limits
) -> _Read:
    """Read step by step in the caller's repeatable-read snapshot (the compactor moves samples
    from the write log into chunks in one transaction, so chunks and log read apart could miss
    or double them). The rollup plan: a selector the engine marks ``hour_edges`` (every read
    an instant lookup at a whole hour) reads its series' hourly edges — two entries per hour
    instead of every sample — for the hours the compactor has written, and chunks and log
    only from the first hour the write log still holds; every other selector reads chunks
    and log over its range."""
    series: dict[int, tuple[int, str, dict[str, str]]] = {}
    chunks: list[tuple[int, bytes]] = []
    blocks: list[bytes] = []
    edges: list[tuple[int, bytes]] = []
    raw_spans: dict[tuple[int, int], set[int]] = {}
    edge_ids: set[int] = set()
    edge_lo, edge_hi = _MAX_US, _MIN_US
    by_matchers: dict[tuple[Matcher, ...], list[int]] = {}
    for matchers, min_t, max_t, hour_edges in needs:
        key = tuple(matchers)
        if key not in by_matchers:
            rows = await _selected(conn, namespace, key, limits)
            for r in rows:
                series[r["series_id"]] = (r["series_id"], r["name"], r["labels"])
            by_matchers[key] = [r["series_id"] for r in rows]
        lo, hi = _us(min_t), _us(max_t + 1)
        if hour_edges and by_matchers[key]:
            edge_ids.update(by_matchers[key])
            edge_lo, edge_hi = min(edge_lo, lo), max(edge_hi, hi)
        else:
            raw_spans.setdefault((lo, hi), set()).update(by_matchers[key])
    if edge_ids:
        # Hours from the first the write log holds a sample in are read raw.
        logged = await repo.log_min_time(conn, edge_lo, edge_hi)
        cutoff = edge_hi if logged is None else max(edge_lo, _hour_floor(logged))
        if cutoff < edge_hi:
            raw_spans.setdefault((cutoff, edge_hi), set()).update(edge_ids)
        if cutoff > edge_lo:
            edges = await repo.edges_packed(conn, sorted(edge_ids), _hour_floor(edge_lo), cutoff)
    spans = [(sorted(ids), lo, hi) for (lo, hi), ids in raw_spans.items() if ids]
    loaded = 0
    for ids, lo, hi in spans:
        loaded += await repo.chunk_samples(conn, ids, lo, hi, WINDOW_US)
    if loaded > limits.max_samples:
        raise _too_many_samples(limits)
    for ids, lo, hi in spans:
        chunks += await repo.chunks_between(conn, ids, lo, hi, WINDOW_US)
    if spans:
        lo = min(lo for _, lo, _ in spans)
        hi = max(hi for _, _, hi in spans)
        blocks = await repo.log_between(conn, lo, hi)
    read = "+".join(name for name, used in (("edges", edges), ("chunks", spans)) if used)
    return _Read(list(series.values()), chunks, blocks, edges, loaded, read or "none")


def _hour_floor(us: int) -> int:
    return us - us % HOUR_US


# -- the metadata routes: series, label names, label values ----------------------------


async def parse_selectors(selectors: Sequence[str]) -> list[list[Matcher]]:
    """The matchers of each ``match[]`` selector; bad_data naming why one does not parse."""
    try:
        return await asyncio.to_thread(_native.promql_selectors, list(selectors))
    except _native.PromqlError as exc:
        raise _failed(exc) from None


@dataclass(frozen=True)
class TimeRange:
    """``[start_ms, end_ms]`` (inclusive, as Prometheus's queriers take it); None: unbounded."""

    start_ms: int | None = None
    end_ms: int | None = None

    @property
    def bounded(self) -> bool:
        return self.start_ms is not None or self.end_ms is not None

    @property
    def us(self) -> tuple[int, int]:
        lo = _MIN_US if self.start_ms is None else _us(self.start_ms)
        hi = _MAX_US if self.end_ms is None else _us(self.end_ms + 1)
        return lo, hi


@dataclass(frozen=True)
class _Live:
    """Which series have samples in a time range: a stored chunk overlapping it, or these
    ids, the series with samples there in the write log."""

    lo_us: int
    hi_us: int
    log_ids: list[int]

    def restrict(self, where: Where) -> Where:
        return repo.with_samples(where, self.lo_us, self.hi_us, WINDOW_US, self.log_ids)


async def _live(conn: asyncpg.Connection, span: TimeRange) -> _Live | None:
    """None when ``span`` bounds nothing: without start and end Prometheus answers over all
    time, so every known series counts."""
    if not span.bounded:
        return None
    lo, hi = span.us
    blocks = await repo.log_between(conn, lo, hi)
    log_ids = await asyncio.to_thread(_native.log_series_ids, blocks, lo, hi) if blocks else []
    return _Live(lo, hi, log_ids)


def _in_namespace(namespace: str, live: _Live | None) -> Where:
    where = Where().add("s.namespace = {}", namespace)
    return where if live is None else live.restrict(where)


async def _matching(
    conn: asyncpg.Connection,
    namespace: str,
    selectors: Sequence[str],
    span: TimeRange,
    limits: Limits,
) -> list[tuple[str, dict[str, str]]]:
    """(name, labels) of the series of ``namespace`` that any selector matches exactly and
    that have samples in ``span``."""
    found: dict[int, tuple[str, dict[str, str]]] = {}
    parsed = await parse_selectors(selectors)
    live = await _live(conn, span)
    for matchers in parsed:
        where = match_where(_in_namespace(namespace, live), matchers)
        rows = await repo.selector_series(conn, where, limits.max_series + 1)
        if len(rows) > limits.max_series:
            raise QueryFailed(
                "execution",
                f"match[] selects more than {limits.max_series} series (HEARTH_PROMQL_MAX_SERIES)",
            )
        for r in rows:
            found[r["series_id"]] = (r["name"], r["labels"])
    candidates = list(found.values())
    try:
        keep = await asyncio.to_thread(_native.promql_match_series, list(selectors), candidates)
    except _native.PromqlError as exc:
        raise _failed(exc) from None
    return [candidates[i] for i in keep]


def _label_set(name: str, labels: dict[str, str]) -> dict[str, str]:
    return {NAME_LABEL: name, **{k: v for k, v in labels.items() if v}}


async def find_series(
    db: asyncpg.Connection | asyncpg.Pool,
    *,
    namespace: str,
    selectors: Sequence[str],
    span: TimeRange,
    limits: Limits,
) -> list[dict[str, str]]:
    """The label sets (``__name__`` included) of the series any selector matches, sorted as
    Prometheus sorts label sets."""
    async with _snapshot(db) as conn:
        found = await _matching(conn, namespace, selectors, span, limits)
    out = [_label_set(name, labels) for name, labels in found]
    out.sort(key=lambda ls: sorted(ls.items()))
    return out


async def label_names(
    db: asyncpg.Connection | asyncpg.Pool,
    *,
    namespace: str,
    selectors: Sequence[str],
    span: TimeRange,
    limits: Limits,
) -> list[str]:
    """The label names (``__name__`` among them) of the series any selector matches, or of
    every series of ``namespace`` without selectors; sorted."""
    async with _snapshot(db) as conn:
        if selectors:
            names: set[str] = set()
            for _name, labels in await _matching(conn, namespace, selectors, span, limits):
                names.add(NAME_LABEL)
                names.update(k for k, v in labels.items() if v)
        else:
            where = _in_namespace(namespace, await _live(conn, span))
            names = set(await repo.label_names(conn, where))
            if names or await repo.metric_names(conn, where):
                names.add(NAME_LABEL)
    return sorted(names)


async def label_values(
    db: asyncpg.Connection | asyncpg.Pool,
    *,
    namespace: str,
    label: str,
    selectors: Sequence[str],
    span: TimeRange,
    limits: Limits,
) -> list[str]:
    """The values of ``label`` among the series any selector matches (or every series of
    ``namespace``); sorted, without the empty value."""
    async with _snapshot(db) as conn:
        if selectors:
            found = await _matching(conn, namespace, selectors, span, limits)
            values = {
                name if label == NAME_LABEL else labels.get(label, "") for name, labels in found
            }
        else:
            where = _in_namespace(namespace, await _live(conn, span))
            if label == NAME_LABEL:
                values = set(await repo.metric_names(conn, where))
            else:
                values = set(await repo.label_values(conn, where, label))
    values.discard("")
    return sorted(values)


async def metric_names(db: asyncpg.Connection | asyncpg.Pool, *, namespace: str) -> list[str]:
    """Every metric name of ``namespace``, sorted."""
    where = Where().add("s.namespace = {}", namespace)
    async with _snapshot(db) as conn:
        return sorted(await repo.metric_names(conn, where))
