"""Reading metrics: aggregated windows of a query, and the series matching names and labels."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import msgspec

from hearth_core.db.paging import Page, Where
from hearth_core.errors import InvalidInput
from hearth_core.metrics import repo
from hearth_core.metrics.query import Matcher, Query, match_labels, source_for


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


async def run_query(
    conn: asyncpg.Connection | asyncpg.Pool, q: Query
) -> tuple[list[SeriesResult], str]:
    """One result per series (or per group_by key) with its windows, and the source table."""
    q.check()
    with _postgres_regex():
        rows = await repo.windows(conn, q)
    out: list[SeriesResult] = []
    current: Any = object()
    for r in rows:
        if r["key"] != current:
            current = r["key"]
            metric = {k: v for k, v in current.items() if k != "__series" and v is not None}
            out.append(
                SeriesResult(
                    metric={"__name__": q.name, **metric} if q.group_by is None else metric,
                    values=[],
                )
            )
        out[-1].values.append((r["t"], r["value"]))
    return out, source_for(q.step)[0]


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
