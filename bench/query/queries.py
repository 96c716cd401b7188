"""The four dashboard queries of issue 18, as each target is sent them: a wrk URL template whose
``@KEY@`` slots bench/query/wrk.lua fills per request from the comma-separated lists in
``BENCH_KEY`` (so requests differ: another instance, another end time), and a few concrete
requests for the checks.

Times are aligned to the step, as Grafana aligns them (``alignRange``): dashboards ask for
whole minutes and hours, which is also what lets a store answer from rollups.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field

from bench.query.dataset import COUNTER, GAUGE, Spec

MINUTE, HOUR, DAY = 60, 3600, 86400
ENDS_A = 60  # (a), (c): the end is one of the last 60 minutes
ENDS_B = 24  # (b): one of the last 24 hours
TIMES_D = 24 * 60  # (d): any minute of the last day


@dataclass(frozen=True)
class Query:
    key: str  # "a" … "d"
    label: str
    promql: str  # may hold @INSTANCE@
    range_s: int  # 0: an instant query
    step_s: int

    @property
    def path(self) -> str:
        return "/api/v1/query_range" if self.range_s else "/api/v1/query"


QUERIES = (
    Query("a", "(a) 24 h, step 1m, one series", f'{GAUGE}{{instance="@INSTANCE@"}}', DAY, MINUTE),
    Query(
        "b",
        "(b) {days} d, step 1h, sum by (dc) of a name",
        f"sum by (dc) ({GAUGE})",
        30 * DAY,
        HOUR,
    ),
    Query(
        "c",
        "(c) 24 h, step 1m, sum by (dc) (rate 5m)",
        f"sum by (dc) (rate({COUNTER}[5m]))",
        DAY,
        MINUTE,
    ),
    Query("d", "(d) instant topk(10, rate 5m)", f"topk(10, rate({COUNTER}[5m]))", 0, 0),
)
BY_KEY = {q.key: q for q in QUERIES}


def label(q: Query, spec: Spec) -> str:
    return q.label.format(days=f"{spec.days:g}")


def range_of(q: Query, spec: Spec) -> int:
    """(b) spans the whole data set (its days), the others their fixed range."""
    return round(spec.days * DAY) if q.key == "b" else q.range_s


@dataclass
class Plan:
    """A query against one data set: the wrk template and its choices, and the checks."""

    query: Query
    template: str  # path and query string, with @KEY@ slots
    choices: dict[str, list[str]]  # BENCH_KEY -> URL-encoded items
    checks: list[dict[str, str]] = field(default_factory=list)  # concrete parameter sets

    def url_of(self, params: dict[str, str]) -> str:
        return f"{self.query.path}?{urllib.parse.urlencode(params)}"


def newest(spec: Spec, step: int) -> int:
    """The newest step-aligned time, epoch seconds, not after the end of the data."""
    return spec.t_end_ms // 1000 // step * step


def plan(q: Query, spec: Spec) -> Plan:
    instances = spec.instances_list()
    quoted = urllib.parse.quote(q.promql, safe="@")
    if q.key == "d":
        t = newest(spec, MINUTE)
        times = [t - j * MINUTE for j in range(TIMES_D)]
        return Plan(
            q,
            f"{q.path}?query={quoted}&time=@TIME@",
            {"TIME": [str(x) for x in times]},
            [{"query": q.promql, "time": str(x)} for x in (times[0], times[len(times) // 2])],
        )
    span = range_of(q, spec)
    top = newest(spec, q.step_s)
    count = ENDS_B if q.key == "b" else ENDS_A
    ends = [top - j * q.step_s for j in range(count)]
    ranges = [f"start={e - span}&end={e}" for e in ends]
    choices = {"RANGE": ranges}
    picks = [(ends[0], instances[0]), (ends[-1], instances[len(instances) // 2])]
    if "@INSTANCE@" in q.promql:
        choices["INSTANCE"] = [urllib.parse.quote(i, safe="") for i in instances]
        picks.append((ends[len(ends) // 2], instances[-1]))
    checks = [
        {
            "query": q.promql.replace("@INSTANCE@", inst),
            "start": str(e - span),
            "end": str(e),
            "step": str(q.step_s),
        }
        for e, inst in (picks if "@INSTANCE@" in q.promql else picks[:2])
    ]
    return Plan(q, f"{q.path}?query={quoted}&@RANGE@&step={q.step_s}", choices, checks)


def count_query(name: str, spec_span_s: int) -> str:
    return f"sum(count_over_time({name}[{spec_span_s}s]))"
