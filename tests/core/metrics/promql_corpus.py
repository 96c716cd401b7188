"""The PromQL queries of the differential test (tests/core/metrics/test_promql_differential.py),
each run on Prometheus and on Hearth holding the same samples (promql_dataset.py).

A case is a query with its evaluation times, relative to the dataset's base time ``t0`` (the
data covers ``[t0, t0 + 3 h]``), and what Prometheus answers: data, an empty result, or an
error. ``{t0+95m}`` in a query stands for that Unix time (for ``@``). Every function and
operator of issue 18 appears, as instant and as range queries with several steps (some not
dividing the range, some hour-aligned, where Hearth may answer from rollups), with offsets,
``@``, vector matching, staleness, and queries both sides must refuse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

M = 60
H = 3600

Expect = Literal["data", "empty", "error"]

# Instant evaluation times: between samples mid-data, on the hour, just after the first
# counter reset, inside the 25-minute gap of node_temperature_celsius{instance="b"}, just
# before and after job_up{instance="x"}'s staleness marker, after the data ends.
MID = 95 * M + 7.3
HOUR = 2 * H
AFTER_RESET = 70 * M + 20
IN_GAP = 75 * M
BEFORE_STALE = 60 * M + 5
AFTER_STALE = 60 * M + 40
END = 3 * H + 2 * M

# Range windows: most of the data; the whole hours (rollup-shaped); around the staleness.
WIDE = (10 * M, 170 * M)
HOURS = (H, 3 * H)
STALENESS = (55 * M, 125 * M)


@dataclass(frozen=True)
class Case:
    query: str
    expect: Expect = "data"
    at: float | None = None  # instant query time (seconds after t0)
    start: float = 0.0  # range query window and step (seconds)
    end: float = 0.0
    step: float = 0.0
    ordered: bool = False  # the result's order matters (sort, sort_desc)
    rfc3339: bool = False  # times as RFC 3339, the step as a duration ("5m")

    @property
    def kind(self) -> str:
        return "instant" if self.at is not None else "range"

    @property
    def id(self) -> str:
        if self.at is not None:
            when = f"@{_dur(self.at)}"
        else:
            when = f"{_dur(self.start)}..{_dur(self.end)}/{_dur(self.step)}"
        return f"{self.kind}[{when}{' rfc3339' if self.rfc3339 else ''}] {self.query}"

    def text(self, t0: int) -> str:
        """The query with its ``{t0+…}`` placeholders replaced by Unix times."""
        return _PLACEHOLDER.sub(lambda m: _unix(t0, m.group(1)), self.query)

    def params(self, t0: int) -> dict[str, str]:
        when = _rfc3339 if self.rfc3339 else _num
        if self.at is not None:
            return {"query": self.text(t0), "time": when(t0 + self.at)}
        return {
            "query": self.text(t0),
            "start": when(t0 + self.start),
            "end": when(t0 + self.end),
            "step": _dur(self.step) if self.rfc3339 else _num(self.step),
        }


_PLACEHOLDER = re.compile(r"\{t0\+([0-9hms]+)\}")


def _seconds(d: str) -> int:
    total = 0
    for n, unit in re.findall(r"(\d+)([hms])", d):
        total += int(n) * {"h": H, "m": M, "s": 1}[unit]
    return total


def _unix(t0: int, d: str) -> str:
    return str(t0 + _seconds(d))


def _num(x: float) -> str:
    return f"{x:.6f}".rstrip("0").rstrip(".")


def _rfc3339(x: float) -> str:
    moment = datetime.fromtimestamp(x, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _dur(s: float) -> str:
    """A readable duration for case ids: 1h35m7.3s."""
    out = ""
    whole = int(s)
    if whole >= H:
        out += f"{whole // H}h"
    if whole % H >= M:
        out += f"{whole % H // M}m"
    rest = s - whole // M * M
    if rest or not out:
        out += f"{_num(rest)}s"
    return out


def instant(query: str, at: float = MID, expect: Expect = "data", ordered: bool = False) -> Case:
    return Case(query, expect, at=at, ordered=ordered)


def span(
    query: str, step: float, window: tuple[float, float] = WIDE, expect: Expect = "data"
) -> Case:
    return Case(query, expect, start=window[0], end=window[1], step=step)


def both(query: str, step: float = 5 * M, at: float = MID) -> list[Case]:
    """The query as an instant query and as a range query."""
    return [instant(query, at), span(query, step)]


REQ = "http_requests_total"
TEMP = "node_temperature_celsius"
BUCKET = "http_request_duration_seconds_bucket"

CASES: list[Case] = [
    # ---------------------------------------------------------------- selectors
    instant(REQ),
    instant(f'{REQ}{{job="api"}}', HOUR),
    instant(f'{REQ}{{code!="200"}}'),
    instant(f'{REQ}{{method=~"g.*"}}'),
    instant(f'{REQ}{{method!~"get|post"}}', 100 * M),
    instant(f'{REQ}{{method=""}}', 100 * M),
    instant('{__name__=~"node_.*", instance="a"}'),
    instant('{__name__=~"node_temp.*|job_up", zone!="eu"}', BEFORE_STALE),
    instant(f'{REQ}{{job="api", method=~"GET"}}', expect="empty"),  # regexes are case-sensitive
    instant(TEMP, IN_GAP),
    instant(TEMP, END),
    instant("special_value"),
    instant("queue_depth", 150 * M),
    instant(f"{REQ}[5m]"),
    instant(f"{TEMP}[2m] offset 10m"),
    instant('job_up{instance="x"}[2m]', AFTER_STALE),
    instant(f"{TEMP} offset 30m"),
    instant(f"{TEMP} offset -10m", HOUR),
    instant(f"{TEMP} @ {{t0+60m}}", END),
    instant(f"{REQ} @ {{t0+70m20s}} offset 1m"),
    instant("node_memory_free_bytes[3m] @ {t0+2h}"),
    span(TEMP, 60),
    span(TEMP, 17),
    span(f"{TEMP} offset 7m", 7 * M),
    Case(TEMP, start=10 * M + 0.25, end=100 * M, step=7 * M + 30, rfc3339=True),
    Case(f"rate({REQ}[5m])", at=MID, rfc3339=True),
    span(f"{TEMP} @ start()", 5 * M),
    span(f"{TEMP} @ end()", 5 * M),
    span(f"{REQ} @ {{t0+1h30m}}", 11 * M),
    span(f'{REQ}{{code="500"}}', 7 * M),
    span("queue_depth", 45),
    span("node_info", H, HOURS),
    # ---------------------------------------------------------------- counters
    instant(f"rate({REQ}[5m])"),
    instant(f"rate({REQ}[5m])", AFTER_RESET),
    instant(f"rate({REQ}[1h])", HOUR),
    span(f"rate({REQ}[5m])", 60),
    span(f"rate({REQ}[5m])", 7 * M),
    span(f"rate({REQ}[90s])", 17),
    span(f"rate({REQ}[1h])", H, HOURS),
    span(f"rate({REQ}[1h] offset 30m)", H, HOURS),
    span(f'rate({REQ}{{job="web"}}[10m])', 2 * M),  # starts late, ends with a marker
    span(f'rate({REQ}{{instance="b", method="post"}}[10m])', 3 * M),  # across a gap
    instant(f"rate({REQ}[5m] offset 1h)"),
    instant(f"rate({REQ}[5m] @ {{t0+90m}})", END),
    instant(f"rate({REQ}[5s])", expect="empty"),  # fewer than two samples in each window
    instant(f"irate({REQ}[5m])"),
    instant(f"irate({REQ}[5m])", AFTER_RESET),
    span(f"irate({REQ}[1m])", 60),
    instant(f"increase({REQ}[10m])"),
    span(f"increase({REQ}[10m])", 5 * M),
    span(f"increase({REQ}[1h])", H, HOURS),
    span(f'increase({REQ}{{code="500"}}[2m])', 37),
    instant(f"delta({TEMP}[10m])"),
    span(f"delta({TEMP}[10m])", 7 * M),
    span(f"delta({TEMP}[1h])", H, HOURS),
    instant(f"deriv({TEMP}[10m])"),
    span(f"deriv({TEMP}[15m])", 13 * M),
    span("deriv(node_memory_free_bytes[1h])", H, HOURS),
    instant(f"resets({REQ}[30m])", 45 * M),
    span(f"resets({REQ}[1h])", 10 * M),
    span(f"resets({BUCKET}[1h])", H, HOURS),
    instant(f"changes({TEMP}[10m])"),
    span(f"changes({TEMP}[1h])", H, HOURS),
    span('changes(job_up{instance="x"}[1h])', 10 * M),
    # ---------------------------------------------------------------- aggregations
    instant(f"sum({REQ})"),
    *both(f"sum by (job) (rate({REQ}[5m]))", 60),
    instant(f"sum without (instance, method) (rate({REQ}[5m]))"),
    instant(f"sum({TEMP}) by (zone)"),
    *both(f"avg by (zone) ({TEMP})", 7 * M),
    instant(f"min({TEMP})"),
    instant(f"max by (instance) ({REQ})"),
    *both(f"count by (job) ({REQ})", 10 * M),
    instant(f"count without (method) ({REQ})", HOUR),
    instant(f"stddev({TEMP})"),
    instant(f"stdvar by (job) (rate({REQ}[5m]))"),
    span(f"stddev by (job) ({REQ})", 13 * M),
    *both(f"topk(2, {REQ})", 10 * M),
    instant(f"topk(1, {TEMP}) by (zone)"),
    instant(f"bottomk(2, rate({REQ}[5m])) by (job)"),
    span(f"bottomk(1, {TEMP})", 5 * M),
    instant(f"topk(0, {TEMP})", expect="empty"),
    *both(f"quantile(0.9, {TEMP})", 5 * M),
    instant(f"quantile by (job) (0.5, rate({REQ}[5m]))"),
    instant(f"quantile(1.5, {TEMP})"),
    instant(f'count_values("value", {TEMP})'),
    instant('count_values by (instance) ("version", node_boot_time_seconds)'),
    span(f'count_values("code_count", count by (code) ({REQ}))', 20 * M),
    *both(f"group by (job) ({REQ})", 10 * M),
    instant(f"group({REQ})"),
    instant("sum by (le) (rate(http_request_duration_seconds_bucket[5m]))"),
    span(f"sum by (job) (rate({REQ}[1h]))", H, HOURS),
    span(f"avg by (zone) ({TEMP})", H, HOURS),
    span(f"max(max_over_time({TEMP}[1h]))", H, HOURS),
    instant("sum by (kind) (special_value)"),
    instant("avg(special_value)"),
    instant("max(special_value)"),
    instant('min(special_value{kind!="nan"})'),
    instant("sum(nonexistent_metric)", expect="empty"),
    # ---------------------------------------------------------------- *_over_time
    *both(f"avg_over_time({TEMP}[10m])", 7 * M),
    *both(f"min_over_time({TEMP}[10m])", 60),
    *both(f"max_over_time({TEMP}[10m])", 13 * M),
    *both(f"sum_over_time({REQ}[5m])", 5 * M),
    *both(f"count_over_time({TEMP}[10m])", 17),
    *both(f"quantile_over_time(0.25, {TEMP}[15m])", 7 * M),
    instant(f"stddev_over_time({TEMP}[20m])"),
    span(f"stdvar_over_time({TEMP}[20m])", 11 * M),
    *both(f"last_over_time({TEMP}[10m])", 60, at=IN_GAP),
    *both(f"present_over_time({TEMP}[10m])", 5 * M, at=IN_GAP),
    span(f"avg_over_time({TEMP}[1h])", H, HOURS),
    span(f"min_over_time({TEMP}[1h])", H, HOURS),
    span(f"max_over_time({TEMP}[1h])", H, HOURS),
    span(f"sum_over_time({TEMP}[1h])", H, HOURS),
    span(f"count_over_time({TEMP}[1h])", H, HOURS),  # c: both ends of each hour
    span("count_over_time(node_info[1h])", 30 * M),
    span("last_over_time(node_memory_free_bytes[1h])", H, HOURS),
    span(f"sum_over_time({REQ}[1h]) / count_over_time({REQ}[1h])", H, HOURS),
    instant('quantile_over_time(0.5, special_value{kind="nan"}[10m])'),
    instant("max_over_time(special_value[10m])"),
    instant(f"avg_over_time({TEMP}[10m] @ {{t0+30m}} offset 5m)"),
    instant("count_over_time(queue_depth[1h])", HOUR),
    span('stddev_over_time(queue_depth{queue="jobs"}[30m])', 10 * M),
    # ---------------------------------------------------------------- absent
    instant("absent(nonexistent_metric)"),
    instant('absent(nonexistent_metric{job="x", instance=~"a.*", zone="eu"})'),
    instant(f"absent({REQ})", expect="empty"),
    instant("absent(sum(nonexistent_metric))"),
    span('absent(job_up{instance="x"})', 5 * M, STALENESS),
    span(f'absent({TEMP}{{instance="b"}})', 2 * M),
    instant('absent_over_time(job_up{instance="x"}[10m])', 80 * M),
    instant(f"absent_over_time({REQ}[10m])", expect="empty"),
    span('absent_over_time(job_up{instance="x", job="batch"}[10m])', 5 * M, STALENESS),
    instant("absent_over_time(nonexistent_metric[5m])"),
    # ---------------------------------------------------------------- histograms
    *both(f"histogram_quantile(0.9, rate({BUCKET}[5m]))", 7 * M),
    *both(f"histogram_quantile(0.5, sum by (le) (rate({BUCKET}[5m])))", 60),
    span(f"histogram_quantile(0.99, sum by (le, instance) (increase({BUCKET}[1h])))", H, HOURS),
    instant(f"histogram_quantile(0, rate({BUCKET}[10m]))"),
    instant(f"histogram_quantile(1, rate({BUCKET}[10m]))"),
    instant(f"histogram_quantile(1.5, rate({BUCKET}[10m]))"),
    instant(f"histogram_quantile(-1, rate({BUCKET}[10m]))"),
    instant(f"histogram_quantile(0.75, {BUCKET})"),
    instant(f'histogram_quantile(0.9, rate({BUCKET}{{instance="b"}}[5m]))', 100 * M + 20),
    instant(f'histogram_quantile(0.5, {BUCKET}{{le!="+Inf"}})'),  # no +Inf bucket: NaN
    instant("histogram_quantile(0.5, rate(http_request_duration_seconds_sum[5m]))", expect="empty"),
    instant(
        "rate(http_request_duration_seconds_sum[5m]) / rate(http_request_duration_seconds_count[5m])"
    ),
    # ---------------------------------------------------------------- labels
    instant(f'label_replace({TEMP}, "host", "$1", "instance", "(.*)")'),
    span(f'label_replace(rate({REQ}[5m]), "class", "${{1}}xx", "code", "(\\\\d).*")', 10 * M),
    instant('label_replace(node_info, "major", "$1", "version", "(\\\\d+)\\\\..*")'),
    instant(f'label_replace({TEMP}, "zone", "", "zone", ".*")'),
    instant(f'label_replace({TEMP}, "zone", "$1", "instance", "(z.*)")'),  # no match: unchanged
    instant(f'label_replace({TEMP}, "missing", "x$1", "nolabel", "(.*)")'),
    instant('label_join(node_info, "id", "-", "instance", "os", "version")'),
    instant(f'label_join({TEMP}, "where", "/", "zone", "instance", "nolabel")'),
    span(f'label_join(sum by (job, code) ({REQ}), "key", ":", "job", "code")', 15 * M),
    # ---------------------------------------------------------------- math
    *both(f"clamp({TEMP}, 0, 20)", 7 * M),
    instant(f"clamp({TEMP}, 10, 5)", expect="empty"),
    instant(f"clamp_min({TEMP}, 0)"),
    instant(f"clamp_max({REQ}, 500)"),
    *both(f"abs({TEMP})", 11 * M),
    instant(f"ceil({TEMP})"),
    instant(f"floor({TEMP})"),
    instant(f"round({TEMP})"),
    instant(f"round({TEMP}, 0.25)"),
    instant(f"round(-{TEMP}, 5)"),
    instant(f"ln({TEMP})"),  # negative: NaN
    instant(f"log2({REQ})"),
    instant("log10(node_memory_total_bytes)"),
    instant(f"exp({TEMP})"),
    instant("exp(node_memory_free_bytes)"),  # +Inf
    instant(f"sqrt({TEMP})"),
    span(f"sqrt(abs({TEMP}))", 17),
    instant("abs(special_value)"),
    instant("ln(special_value)"),
    # ---------------------------------------------------------------- scalars and time
    instant("time()"),
    span("time()", 7 * M),
    instant("vector(1)"),
    span("vector(time())", 13 * M),
    instant(f"scalar(sum({REQ}))"),
    instant(f"scalar({REQ})"),  # several series: NaN
    span(f'scalar({TEMP}{{instance="a"}}) * 2', 5 * M),
    instant("1 + 2 * 3 - 4 / 8"),
    instant("2 ^ 3 ^ 2"),
    instant("-2 ^ 2"),
    instant("10 % 3 + -7 % 3"),
    instant("5 / 0 + 0 / 0"),
    instant("1 > bool 2"),
    span("3 >= bool 3", 20 * M),
    instant('"a string"'),
    instant(f"timestamp({TEMP})"),
    span('timestamp(job_up{instance="x"})', 2 * M, STALENESS),
    # ---------------------------------------------------------------- date functions
    instant("day_of_month()"),
    instant("day_of_week()"),
    instant("day_of_year()"),
    instant("days_in_month()"),
    instant("hour()"),
    instant("minute()"),
    instant("month()"),
    instant("year()"),
    span("minute()", 17),
    span("hour() * 60 + minute()", 7 * M),
    instant("day_of_month(node_boot_time_seconds)"),
    instant("day_of_week(node_boot_time_seconds)"),
    instant("day_of_year(node_boot_time_seconds)"),
    instant("days_in_month(node_boot_time_seconds)"),
    instant("hour(node_boot_time_seconds)"),
    instant("minute(node_boot_time_seconds)"),
    instant("month(node_boot_time_seconds)"),
    instant("year(node_boot_time_seconds)"),
    instant("days_in_month(vector(1709251200))"),  # February 2024
    instant("year(vector(-1))"),
    instant("day_of_week(timestamp(node_info))"),
    # ---------------------------------------------------------------- binary operators
    *both(f"{TEMP} * 2", 7 * M),
    instant(f"2 - {TEMP}"),
    instant(f"{TEMP} / 0"),
    instant(f"{TEMP} ^ 2"),
    instant(f"{TEMP} % 7"),
    instant(f"-{TEMP}"),
    *both(f"{TEMP} > 20", 5 * M),
    instant(f"{TEMP} > bool 20"),
    instant(f"20 < {TEMP}"),
    instant(f"{TEMP} != 18"),
    instant(f"{TEMP} <= 0"),
    span(f"{TEMP} >= 15", 10 * M),
    instant("node_info == 1"),
    instant(f"{REQ} < bool 1000"),
    instant(f"{TEMP} == bool {TEMP}"),
    *both("node_memory_free_bytes / node_memory_total_bytes", 11 * M),
    instant("node_memory_free_bytes > node_memory_total_bytes * 0.25"),
    instant("node_memory_free_bytes > bool node_memory_total_bytes * 0.25"),
    instant(f"{TEMP} / on(instance) node_memory_total_bytes"),
    instant(f"{TEMP} - ignoring(zone) node_memory_total_bytes", IN_GAP),
    *both(f"{TEMP} * on(instance) group_left(version, os) node_info", 7 * M),
    instant(f"node_info * on(instance) group_right(version) {TEMP}"),
    instant(f"{REQ} / on(instance) group_left node_memory_total_bytes"),
    instant(f"rate({REQ}[5m]) < on(instance) group_left(version) node_info"),
    span(
        f"sum by (job) (rate({REQ}[5m])) / ignoring(job) group_left sum(rate({REQ}[5m]))",
        9 * M,
    ),
    instant(f"{REQ} and on(instance) ({TEMP} > 20)"),
    instant(f"{TEMP} or node_info"),
    instant(f'{REQ} unless {REQ}{{code="500"}}'),
    instant(f'{TEMP} unless on(zone) {TEMP}{{zone="eu"}}'),
    span('job_up{instance="x"} or on() vector(0)', 5 * M, STALENESS),
    span(f'rate({REQ}{{job="web"}}[5m]) or vector(0)', 10 * M),
    instant(f"({TEMP} > 20) * 2"),
    instant(f"{REQ} > 100 < 1000"),
    instant(f"node_memory_free_bytes and ignoring(zone) {TEMP}", IN_GAP),
    instant(f"{REQ} == bool on(instance, job, method, code) {REQ}"),
    instant(f"sum by (instance) ({REQ}) / on(instance) node_memory_total_bytes"),
    instant("special_value * 0"),
    instant("special_value > 0"),
    # ---------------------------------------------------------------- staleness
    instant('job_up{instance="x"}', BEFORE_STALE),
    instant('job_up{instance="x"}', AFTER_STALE, expect="empty"),
    instant("job_up", 154 * M),
    instant('job_up{instance="y"}', 156 * M, expect="empty"),
    span("job_up", 15, STALENESS),
    span("job_up", 60, (140 * M, 170 * M)),
    span(f'{REQ}{{job="web"}}', 30, (145 * M, 160 * M)),
    instant('count_over_time(job_up{instance="x"}[10m])', AFTER_STALE + 5 * M),
    instant('last_over_time(job_up{instance="x"}[10m])', AFTER_STALE),
    span('max_over_time(job_up{instance="x"}[2m])', 60, STALENESS),
    instant(TEMP, 60 * M + 4 * M + 50),  # b's last sample before its gap, just in lookback
    # ---------------------------------------------------------------- subqueries
    instant(f"max_over_time(rate({REQ}[5m])[30m:1m])"),
    span(f"avg_over_time({TEMP}[30m:5m])", 10 * M),
    instant(f"min_over_time(sum by (job) ({REQ})[20m:])"),
    # ---------------------------------------------------------------- ordered results
    instant(f"sort({TEMP})", ordered=True),
    instant(f"sort_desc(rate({REQ}[5m]))", ordered=True),
    # ---------------------------------------------------------------- edges
    # Where the store's states meet (sealed chunks end at 2h, Gorilla chunks at 2h30m, the
    # write log after), samples exactly at the evaluation time and at a window's start, times
    # before and after the data, sub-millisecond times, ties, formatting of label values.
    instant(f"rate({REQ}[5m])", 2 * H + 30 * M + 40),
    instant(f"{TEMP}[1m]", 2 * H + 30 * M + 20),
    span(f"increase({REQ}[3m])", 50, (2 * H - 5 * M, 2 * H + 35 * M)),
    instant("node_info", HOUR),
    instant("node_info[1m]", HOUR),  # both ends inclusive: 2 samples
    instant(f'{TEMP}{{instance="c"}}[2m] offset 1500ms', HOUR + 1.5),
    instant(f"{TEMP}", -M, expect="empty"),
    span(f"rate({REQ}[5m])", 2 * M, (-10 * M, 15 * M)),
    instant(f"{TEMP}", END + 10 * M, expect="empty"),
    instant(f"max_over_time({TEMP}[3h])", END),
    instant(f"rate({REQ}[3h])", 3 * H),
    span(f"sum by (job) ({REQ})", 4 * H),  # a step longer than the range: one point
    span(TEMP, 12.5, (30 * M, 40 * M)),
    instant(f"{REQ}", MID + 0.0004),  # Prometheus rounds times to milliseconds
    instant(f"{TEMP} @ {{t0+1h30m}}", HOUR),
    instant('{__name__="node_info", version=~"1\\\\..*"}'),
    instant('{__name__!="node_info", __name__=~"node_(info|boot_time_seconds)"}'),
    instant(f'{REQ}{{instance=~"a|b", code!~"5.."}}'),
    instant('node_info{os!~""}'),
    instant("topk(2, node_info)"),
    instant("bottomk(1, node_info)"),
    instant('count_values("bytes", node_memory_total_bytes)'),
    instant(f'count_values("v", round({TEMP} * 1000) / 7)'),
    instant("sum(special_value)"),
    instant('stddev(special_value{kind=~"zero|neg|pos_inf"})'),
    instant("changes(special_value[10m])"),
    instant("resets(special_value[10m])"),
    instant("delta(special_value[10m])"),
    instant("deriv(queue_depth[1h])", HOUR),
    instant(f"irate({REQ}[20s])"),
    instant('label_replace(node_info, "all", "$0/$1/$2", "version", "(\\\\d)\\\\.(.*)")'),
    instant("sort_desc(special_value)", ordered=True),
    instant(f"timestamp({TEMP} offset 5m)"),
    instant("node_info * on() group_left vector(2)"),
    instant("-(node_info == bool 1)"),
    instant("time() - node_boot_time_seconds"),
    instant("scalar(vector(1)) + vector(2)"),
    instant("count(count by (instance) (node_info))"),
    instant(f"max_over_time({TEMP}[10m:1m] offset 5m)"),
    instant(f"rate({REQ}[5m:1m])"),
    span(f"histogram_quantile(0.95, sum by (le) (rate({BUCKET}[2m])))", 90),
    # ---------------------------------------------------------------- errors
    instant("sum(", expect="error"),
    instant(f"rate({TEMP})", expect="error"),
    span(f"{REQ}[5m]", 60, expect="error"),
    span('"a string"', 60, expect="error"),
    instant("{}", expect="error"),
    instant('{job=~".*"}', expect="error"),
    instant("histogram_quantile(0.9)", expect="error"),
    instant(f"unknown_function({TEMP})", expect="error"),
    instant("1 > 2", expect="error"),
    instant(f'quantile_over_time("a", {TEMP}[5m])', expect="error"),
    instant(f"topk({TEMP}, {TEMP})", expect="error"),
    instant(f"{TEMP} and on(instance) group_left node_info", expect="error"),
    instant(f"{REQ} / on(instance) node_memory_total_bytes", expect="error"),  # many-to-one
    instant(f"node_memory_total_bytes * on(instance) group_left {REQ}", expect="error"),
    instant(
        f'label_replace(label_replace({TEMP}, "instance", "same", "", ""), "zone", "", "", "")',
        expect="error",
    ),
    instant(f'label_replace({TEMP}, "1bad", "x", "instance", ".*")', expect="error"),
    instant(f'label_replace({TEMP}, "a", "b", "instance", "(")', expect="error"),
    instant(f'count_values("bad-label", {TEMP})', expect="error"),
    span(TEMP, 0.5, expect="error"),  # more than 11,000 points
    Case(TEMP, "error", start=2 * H, end=H, step=60),  # end before start
]


# The rollup plan's cases: instant selectors read only at whole hours (test_hour_aligned_…).
WHOLE = (0.0, 3.0 * H)
EDGE_CASES: list[Case] = [
    span("edge_probe", H, WHOLE),
    span("sum by (case) (edge_probe)", H, WHOLE),
    span(f"sum by (instance) ({TEMP})", H, WHOLE),
    span(f"avg without (zone) ({TEMP})", 2 * H, WHOLE),
    span("job_up", H, WHOLE),
    span("special_value", H, HOURS),
    span(f"{TEMP} offset 1h", H, HOURS),
    span(f"{TEMP} - {TEMP} offset 1h", H, HOURS),
    span("timestamp(edge_probe)", H, WHOLE),
    span("edge_probe @ {t0+2h}", H, WHOLE),
    instant("edge_probe", 2 * H),
    instant("edge_probe", H),
    instant(f"topk(2, {TEMP})", 2 * H),
    instant("count by (case) (edge_probe)", H),
]
