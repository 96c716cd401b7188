"""Analytics over the rollups: Prometheus query_range semantics on step-aligned windows.

This module parses and builds (label matchers, :class:`Query`, :func:`build_sql`) and does no
I/O; ``repo.windows`` runs the statement, ``service.run_query`` shapes its rows.

A query's windows are ``[t, t + step)`` for t = floor(start / step) * step … < end, each taken
whole (the last one includes its data past ``end``). The source
is the coarsest table whose bucket divides the step: 1-hour rollups, else 1-minute rollups,
else raw points (steps under a minute or not a multiple of one). Rollups are merged in the
same transaction as the points they summarise, so they are never behind the raw data.

``rate`` is per-second increase between the last samples of consecutive windows, treating a
decrease as a counter reset (the counter restarted from zero): increase = last if last < prev
else last - prev. Resets inside one rollup bucket are not visible to it (as with any sampled
counter); on raw points the same rule applies to each window's last sample.
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


def source_for(step: int) -> tuple[str, str]:
    """(table, time column) of the coarsest source whose buckets divide ``step``."""
    if step % 3600 == 0:
        return "metric_rollup_1h", "bucket"
    if step % 60 == 0:
        return "metric_rollup_1m", "bucket"
    return "metric_points", "time"


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


def build_sql(q: Query) -> tuple[str, list[Any], str]:
    """(SQL, args, source table). Rows: (key jsonb, t float8, value float8) ordered by key, t.

    Shape (the cost is per source row, so each row is touched once and cheaply): the result
    key is taken once per series — its id, or the group_by labels as text columns — and rows
    are aggregated straight into (key, window) with only the aggregates ``agg`` needs; the
    jsonb key is built on the result rows. Only ``rate`` goes through a per-series stage (the
    increase between consecutive windows of one series), then sums by key."""
    table, col = source_for(q.step)
    raw = table == "metric_points"
    where = Where().add("s.namespace = {}", q.namespace).add("s.name = {}", q.name)
    match_labels(where, q.matchers)
    arg = where.bind
    step = arg(float(q.step))
    first = math.floor(q.start / q.step) * q.step
    # rate needs the window before the first one: its last sample is the baseline.
    lo = arg(float(first - (q.step if q.agg == "rate" else 0)))
    # Windows are taken whole: the last one runs to its own end, so rollup and raw agree.
    hi = arg(float(math.ceil(q.end / q.step) * q.step))
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
    t = f"(floor(date_part('epoch', d.{col}) / {step}) * {step})"
    if raw:
        exprs = {
            "count": "count(*)::float8",
            "sum": "sum(d.value)",
            "min": "min(d.value)",
            "max": "max(d.value)",
            "avg": "avg(d.value)",
            "last": "(array_agg(d.value ORDER BY d.time DESC))[1]",
        }
    else:
        exprs = {
            "count": "sum(d.count)::float8",
            "sum": "sum(d.sum)",
            "min": "min(d.min)",
            "max": "max(d.max)",
            "avg": "sum(d.sum) / nullif(sum(d.count)::float8, 0)",
            "last": "(array_agg(d.last ORDER BY d.last_time DESC))[1]",
        }
    # Rollups plus the minute aggregates committed but not yet merged into them (at most about
    # a second's worth): both have the same columns, and windows aggregate them alike.
    source = (
        table if raw else f"(SELECT * FROM {table} UNION ALL SELECT * FROM metric_rollup_pending)"
    )
    rows = f"""
        FROM {source} d JOIN s USING (series_id)
        WHERE d.{col} >= to_timestamp({lo}) AND d.{col} < to_timestamp({hi})
    """
    by = "".join(f"s.{k}, " for k in keys)  # the key columns, each followed by a comma
    if q.agg == "rate":
        per_window = f"""
            w AS (SELECT d.series_id, {t} AS t, {exprs["last"]} AS last {rows}
                  GROUP BY d.series_id, 2),
            v AS (SELECT series_id, t, CASE WHEN prev IS NULL OR prev_t <> t - {step} THEN NULL
                                            WHEN last >= prev THEN (last - prev) / {step}
                                            ELSE last / {step} END AS v
                  FROM (SELECT series_id, t, last, lag(last) OVER win AS prev,
                               lag(t) OVER win AS prev_t
                        FROM w WINDOW win AS (PARTITION BY series_id ORDER BY t)) r),
            x AS (SELECT {by}v.t AS t, sum(v.v) AS value
                  FROM v JOIN s USING (series_id)
                  WHERE v.t >= {arg(float(first))} AND v.v IS NOT NULL
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
    return sql, where.args, table
