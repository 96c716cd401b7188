"""Analytics over the store: Prometheus query_range semantics on step-aligned windows.

This module parses and builds (label matchers, :class:`Query`, :func:`build_hours_sql`) and
does no I/O; ``service.run_query`` reads and shapes.

A query's windows are ``[t, t + step)`` for t = floor(start / step) * step … < end, each taken
whole (the last one includes its data past ``end``). Steps of whole hours are answered from the
hourly rollups (written by the compactor in the transaction that writes the chunks, so never
behind them) plus, for windows the not-yet-compacted write log touches, the chunks and log
decoded in Rust; finer steps decode chunks and log for the whole range. Both give the same
numbers (the rollups hold what decoding would compute).

``rate`` is the per-second counter increase of a window: each sample adds ``v - previous``,
or ``v`` when the value dropped (a reset: the counter restarted from zero), the previous sample
possibly in the window before. A series counts in a window only when it also has samples in the
window before (one window is no rate), as on the old raw path.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from hearth_core.db.paging import Where
from hearth_core.errors import InvalidInput

Agg = Literal["avg", "sum", "min", "max", "count", "last", "rate"]
MAX_POINTS = 11_000
NICE_STEPS = (
    1,
    5,
    10,
    15,
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    10800,
    21600,
    43200,
    86400,
)
_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$", re.S)
_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Matcher:
    label: str
    op: Literal["=", "!=", "=~", "!~"]
    value: str


def parse_matcher(raw: str, index: int) -> Matcher:
    m = _MATCHER.match(raw)
    if m is None:
        raise InvalidInput(
            "bad label matcher",
            errors=[
                {
                    "path": f"query.match[{index}]",
                    "message": 'use label="value", label!="value", label=~"re" or label!~"re"',
                }
            ],
        )
    label, op, value = m.group(1), m.group(2), m.group(3)
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    if op in ("=~", "!~"):
        try:
            re.compile(value)
        except re.error as exc:
            raise InvalidInput(
                "bad regular expression",
                errors=[{"path": f"query.match[{index}]", "message": str(exc)}],
            ) from None
    return Matcher(label, op, value)  # type: ignore[arg-type]


def default_step(start: float, end: float) -> int:
    """About 250 points over the range, rounded up to a readable step."""
    want = max(1.0, (end - start) / 250)
    return next((s for s in NICE_STEPS if s >= want), math.ceil(want / 86400) * 86400)


ROLLUP_SOURCE = "metric_rollup_1h"
CHUNK_SOURCE = "metric_chunks"


def uses_rollups(step: int) -> bool:
    """Hourly rollups answer steps that are whole hours; anything finer decodes chunks."""
    return step % 3600 == 0


@dataclass(frozen=True)
class Query:
    namespace: str
    name: str
    start: float
    end: float
    step: int
    agg: Agg
    matchers: tuple[Matcher, ...] = ()
    group_by: tuple[str, ...] | None = None  # None: one result per series

    def check(self) -> None:
        if self.end <= self.start:
            raise InvalidInput(
                "end must be after start",
                errors=[{"path": "query.end", "message": "not after start"}],
            )
        if self.step <= 0:
            raise InvalidInput(
                "step must be positive", errors=[{"path": "query.step", "message": "must be > 0"}]
            )
        points = math.ceil((self.end - math.floor(self.start / self.step) * self.step) / self.step)
        if points > MAX_POINTS:
            raise InvalidInput(
                f"{points} points per series exceed {MAX_POINTS}; use a larger step or a shorter range",
                errors=[{"path": "query.step", "message": f"gives {points} points per series"}],
            )
        for g in self.group_by or ():
            if not _LABEL.match(g):
                raise InvalidInput(
                    "bad group_by label",
                    errors=[{"path": "query.group_by", "message": f"{g!r} is not a label name"}],
                )


def match_labels(where: Where, matchers: tuple[Matcher, ...]) -> Where:
    """Add each matcher over ``s.labels`` to ``where``; a missing label reads as "" (as in
    Prometheus)."""
    for m in matchers:
        if m.op == "=" and m.value:
            # Containment uses the GIN index on labels.
            where.add("s.labels @> jsonb_build_object({}::text, {}::text)", m.label, m.value)
            continue
        label = "coalesce(s.labels->>{}::text, '')"
        if m.op == "=":
            where.add(f"{label} = ''", m.label)
        elif m.op == "!=":
            where.add(f"{label} <> {{}}", m.label, m.value)
        else:
            op = "~" if m.op == "=~" else "!~"
            where.add(f"{label} {op} {{}}", m.label, "^(?:" + m.value + ")$")
    return where


def window_bounds(q: Query) -> tuple[int, int, int]:
    """(lo, first, hi) in epoch seconds: samples in [lo, hi) answer windows first … < hi; lo is
    one step before first for ``rate`` (the baseline window)."""
    first = math.floor(q.start / q.step) * q.step
    # Windows are taken whole: the last one runs to its own end, so rollups and chunks agree.
    hi = math.ceil(q.end / q.step) * q.step
    return first - (q.step if q.agg == "rate" else 0), first, hi


def build_hours_sql(q: Query, until: float) -> tuple[str, list[Any]]:
    """(SQL, args) over the hourly rollups for the windows of ``q`` before ``until``. Rows:
    (key jsonb, t float8, value float8) ordered by key, t.

    Shape (the cost is per rollup row, so each is touched once and cheaply): the result key is
    taken once per series — its id, or the group_by labels as text columns — and rows are
    aggregated straight into (key, window) with only the aggregates ``agg`` needs; the jsonb
    key is built on the result rows. Only ``rate`` goes through a per-series stage (a window
    counts only when the series has samples in the window before it), then sums by key."""
    where = Where().add("s.namespace = {}", q.namespace).add("s.name = {}", q.name)
    match_labels(where, q.matchers)
    arg = where.bind
    lo_s, first_s, _ = window_bounds(q)
    step = arg(float(q.step))
    lo = arg(float(lo_s))
    hi = arg(float(until))
    if q.group_by is None:
        s_cols, keys = "s.labels", ["series_id"]
        key = "jsonb_build_object('__series', x.series_id) || s.labels"
    else:
        names = [arg(g) for g in q.group_by]
        s_cols = ", ".join(f"s.labels->>{n}::text AS g{i}" for i, n in enumerate(names)) or "1"
        keys = [f"g{i}" for i in range(len(names))]
        parts = ", ".join(f"{n}::text, x.g{i}" for i, n in enumerate(names))
        key = f"jsonb_build_object({parts})" if names else "'{}'::jsonb"
    # date_part is float8; extract() would compute in numeric, row by row.
    t = f"(floor(date_part('epoch', d.bucket) / {step}) * {step})"
    exprs = {
        "count": "sum(d.count)::float8",
        "sum": "sum(d.sum)",
        "min": "min(d.min)",
        "max": "max(d.max)",
        "avg": "sum(d.sum) / nullif(sum(d.count)::float8, 0)",
        # ties across series: the lowest series id, as the chunk path decides
        "last": "(array_agg(d.last ORDER BY d.last_time DESC, d.series_id))[1]",
    }
    rows = f"""
        FROM metric_rollup_1h d JOIN s USING (series_id)
        WHERE d.bucket >= to_timestamp({lo}) AND d.bucket < to_timestamp({hi})
    """
    by = "".join(f"s.{k}, " for k in keys)  # the key columns, each followed by a comma
    if q.agg == "rate":
        per_window = f"""
            w AS (SELECT d.series_id, {t} AS t, sum(d.increase) AS inc {rows}
                  GROUP BY d.series_id, 2),
            v AS (SELECT series_id, t, CASE WHEN prev_t = t - {step} THEN inc / {step} END AS v
                  FROM (SELECT series_id, t, inc, lag(t) OVER win AS prev_t
                        FROM w WINDOW win AS (PARTITION BY series_id ORDER BY t)) r),
            x AS (SELECT {by}v.t AS t, sum(v.v) AS value
                  FROM v JOIN s USING (series_id)
                  WHERE v.t >= {arg(float(first_s))} AND v.v IS NOT NULL
                  GROUP BY {by}v.t)
        """
    else:
        per_window = f"""
            x AS (SELECT {by}{t} AS t, {exprs[q.agg]} AS value {rows}
                  GROUP BY {by}{len(keys) + 1})
        """
    join = "JOIN s USING (series_id)" if q.group_by is None else ""
    order = ", ".join([*(f"x.{k}" for k in keys), "x.t"])
    sql = f"""
        WITH s AS (SELECT s.series_id, {s_cols} FROM metric_series s{where.sql}),
        {per_window}
        SELECT {key} AS key, x.t AS t, x.value AS value FROM x {join} ORDER BY {order}
    """
    return sql, where.args
