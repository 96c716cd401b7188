"""``/v1/metrics/query`` in remote mode: the same windows as the embedded store's, computed by
the backend's PromQL engine where PromQL states them exactly, else from the raw samples.

A window ``[t, t + step)`` is PromQL's range ``sel[step - 1ms]`` evaluated at ``t + step -
1ms``: Prometheus 2.x takes both ends of a range, so it selects exactly the samples with
``t <= time < t + step`` (at the millisecond resolution of remote write). So ``avg``, ``sum``,
``min``, ``max``, ``count`` and ``last`` of each series are ``<agg>_over_time`` over one range
query, and their ``group_by`` forms aggregate those ``by`` the labels (``avg`` = the sum of the
sums over the sum of the counts, so a group averages its samples, not its series' averages).

Two aggregates have no exact PromQL form and are computed here from the samples the backend
returns for one range selector over the whole span: ``rate`` (Hearth's counter increase per
second: each sample adds ``v - previous``, or ``v`` after a reset, the previous sample possibly
in the window before, a series counted only when it has samples in the window before — PromQL's
``rate`` extrapolates instead) and ``last`` with ``group_by`` (the group's latest sample; of
samples at the same millisecond, the first series the backend lists, where the embedded store
takes the lowest series id).

The namespace matcher is injected into every selector (``prometheus_api.evaluate``); the
namespace label never comes back.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

import msgspec

from hearth_core.metrics.query import Query, window_bounds
from hearth_core.metrics.remote import prometheus_api
from hearth_core.metrics.remote.backend import RemoteBackend
from hearth_core.metrics.remote.prometheus_api import Scope
from hearth_core.metrics.service import SeriesResult

SOURCE = "remote"
_decoder = msgspec.json.Decoder()
_OVER_TIME = {
    "avg": "avg_over_time",
    "sum": "sum_over_time",
    "min": "min_over_time",
    "max": "max_over_time",
    "count": "count_over_time",
    "last": "last_over_time",
}
# How each per-series value combines into a group's (avg is sum / count, below).
_GROUPED = {"sum": "sum", "count": "sum", "min": "min", "max": "max"}


def selector(q: Query) -> str:
    """``name{matchers}`` in PromQL (values quoted as Go string literals, which JSON's are)."""
    parts = [f"__name__={json.dumps(q.name)}"]
    parts += [f"{m.label}{m.op}{json.dumps(m.value)}" for m in q.matchers]
    return "{" + ", ".join(parts) + "}"


def pushed_down(q: Query) -> str | None:
    """The PromQL whose range query answers ``q`` at ``t + step - 1ms``; None when only the
    samples can (``rate``; ``last`` with ``group_by``)."""
    if q.agg == "rate" or (q.agg == "last" and q.group_by is not None):
        return None
    ranged = f"{selector(q)}[{q.step * 1000 - 1}ms]"
    if q.group_by is None:
        return f"{_OVER_TIME[q.agg]}({ranged})"
    by = f" by ({', '.join(q.group_by)})"
    if q.agg == "avg":
        return f"sum{by} (sum_over_time({ranged})) / sum{by} (count_over_time({ranged}))"
    return f"{_GROUPED[q.agg]}{by} ({_OVER_TIME[q.agg]}({ranged}))"


def _metric(q: Query, labels: dict[str, str]) -> dict[str, str]:
    if q.group_by is None:
        return {"__name__": q.name, **{k: v for k, v in labels.items() if k != "__name__"}}
    return {g: labels[g] for g in q.group_by if g in labels}


def _key(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


async def run_query(
    backend: RemoteBackend, scope: Scope, q: Query, *, timeout_s: float
) -> list[SeriesResult]:
    q.check()
    lo, first, hi = window_bounds(q)
    expr = pushed_down(q)
    step_ms = q.step * 1000
    if expr is not None:
        answer = await prometheus_api.evaluate(
            backend,
            scope,
            query=expr,
            start_ms=(first + q.step) * 1000 - 1,
            end_ms=hi * 1000 - 1,
            step_ms=step_ms,
            timeout_s=timeout_s,
        )
        out = []
        for item in _decoder.decode(answer.data).get("result") or ():
            values = [
                (float(round(float(t) + 0.001) - q.step), float(v)) for t, v in item["values"]
            ]
            out.append(SeriesResult(metric=_metric(q, item["metric"]), values=values))
        return sorted(out, key=lambda r: _key(r.metric))
    # The raw samples of [lo, hi): one range selector, evaluated at hi - 1ms.
    answer = await prometheus_api.evaluate(
        backend,
        scope,
        query=f"{selector(q)}[{(hi - lo) * 1000 - 1}ms]",
        start_ms=hi * 1000 - 1,
        end_ms=hi * 1000 - 1,
        step_ms=0,
        timeout_s=timeout_s,
    )
    data = _decoder.decode(answer.data)
    series = [
        (item["metric"], [(float(t), float(v)) for t, v in item["values"]])
        for item in data.get("result") or ()
    ]
    if q.agg == "rate":
        return _rates(q, first, series)
    return _group_last(q, first, series)


def _window(t: float, step: int) -> int:
    return math.floor(round(t * 1000) / (step * 1000)) * step


def _rates(
    q: Query, first: int, series: Iterable[tuple[dict[str, str], list[tuple[float, float]]]]
) -> list[SeriesResult]:
    groups: dict[tuple[tuple[str, str], ...], tuple[dict[str, str], dict[int, float]]] = {}
    for labels, samples in series:
        increase: dict[int, float] = {}
        seen: set[int] = set()
        previous: float | None = None
        for t, v in samples:
            w = _window(t, q.step)
            seen.add(w)
            if previous is not None:
                increase[w] = increase.get(w, 0.0) + (v - previous if v >= previous else v)
            else:
                increase.setdefault(w, 0.0)
            previous = v
        metric = _metric(q, labels)
        windows = groups.setdefault(_key(metric), (metric, {}))[1]
        for w, inc in increase.items():
            if w >= first and w - q.step in seen:
                windows[w] = windows.get(w, 0.0) + inc / q.step
    return _results(groups)


def _group_last(
    q: Query, first: int, series: Iterable[tuple[dict[str, str], list[tuple[float, float]]]]
) -> list[SeriesResult]:
    latest: dict[tuple[tuple[str, str], ...], tuple[dict[str, str], dict[int, Any]]] = {}
    for labels, samples in series:
        metric = _metric(q, labels)
        windows = latest.setdefault(_key(metric), (metric, {}))[1]
        for t, v in samples:
            w = _window(t, q.step)
            if w >= first and (w not in windows or t > windows[w][0]):
                windows[w] = (t, v)
    return _results({k: (m, {w: tv[1] for w, tv in ws.items()}) for k, (m, ws) in latest.items()})


def _results(
    groups: dict[tuple[tuple[str, str], ...], tuple[dict[str, str], dict[int, float]]],
) -> list[SeriesResult]:
    return [
        SeriesResult(metric=metric, values=[(float(w), windows[w]) for w in sorted(windows)])
        for _, (metric, windows) in sorted(groups.items())
        if windows
    ]
