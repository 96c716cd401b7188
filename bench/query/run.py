"""Analytics query benchmark: p50/p99 of GET /v1/metrics/query over tens of millions of points
loaded through the real ingest path.

    .venv/bin/python bench/query/run.py [--points N] [--reuse DIR]

Starts ``hearth serve`` (embedded PostgreSQL and Redis, ``HEARTH_LOG_LEVEL=WARNING``,
``HEARTH_METRICS_RETENTION_DAYS=31``; bench.harness), registers a ``metrics.read,metrics.write`` client and takes a client_credentials token.
Then:

1. **load** — ``--points`` points of ``--series`` series (namespace ``app``; names
   ``http_requests_total`` and ``cpu_seconds`` (counters) and ``latency_ms`` (a gauge); labels
   host ``h00``..``h49``, dc ``dc1``..``dc4`` (by host), route) spread evenly over the last 30
   days, so every day's partition is used: one point per series every 30 d / (points / series).
   The points are rendered in time order, ``--batch`` per JSON body, by a worker process (never
   all in memory: at most ``--window`` bodies ahead of the senders) and POSTed to
   ``/v1/metrics/bulk`` by ``--senders`` concurrent aiohttp senders
   (``bench.harness.bulk.send_all``); the first body, holding every series, goes alone first.
   Then it waits until ``/v1/metrics/store`` shows the write log empty (every point compacted
   into chunks and hourly rollups) and no chunk open (the server runs with
   ``HEARTH_METRICS_SEAL_AFTER_S=3``: every chunk re-encoded with pcodec, as a store holding
   30 days is at rest), checks that the 1-hour rollups count every point, and runs
   ``VACUUM (ANALYZE)`` on the chunks, the rollups and metric_series;
2. **check** — each query once over HTTP, compared with what the generator says it must return;
3. **queries** — ``wrk -t1 -cN --latency --timeout 30s`` (N = 16, then 1), ``--rounds``
   rounds of ``--duration`` s after a
   ``--warmup`` s warm-up, every request on another series / name (``wrk.lua``):
   (a) 24 h, step 1m, ``avg`` of one series chosen by ``match`` on host and route (chunks
   decoded in Rust),
   (b) 30 d, step 1h, ``sum`` of every series of a name, ``group_by=dc`` (hourly rollups,
   ``build_hours_sql``),
   (c) as (a) with ``rate``. Before them it waits (at most ``--load-wait`` s) for the 1-minute
   load average to fall below ``--max-load``;
4. **plans** — ``EXPLAIN (ANALYZE, BUFFERS)`` of the SQL each query runs into ``plans.txt``:
   for (b) ``build_hours_sql``; for (a) and (c) the read of the series' chunks (their rows and
   bytes too).

Prints the tables and writes ``RESULTS.md``, ``query.png`` and ``results.json`` next to this
file; progress goes to stderr. ``--reuse DIR`` keeps the server's data dir in DIR: a later run
with the same ``--points`` and ``--series`` skips the load (its figures are taken from the run
that loaded). Aim: p99 < 50 ms for each query. Exit code 1 when a check fails or a request
errs, 2 on a setup error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import shutil
import time
import urllib.parse
from dataclasses import asdict, dataclass
from multiprocessing.pool import AsyncResult, Pool
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from bench.harness.bulk import send_all
from bench.harness.charts import pyplot
from bench.harness.client import bearer_token, create_client, get_json
from bench.harness.log import BenchError, run_main, say
from bench.harness.machine import (
    CpuMeter,
    cpu_rows,
    machine_info,
    machine_line,
    noise,
    wait_for_quiet,
)
from bench.harness.results import figure, finish, write_markdown, write_results
from bench.harness.server import Server, hearth_server
from bench.harness.store import TABLES, table_sizes, wait_drained
from bench.harness.tables import md_table, print_grid
from bench.harness.wrk import Request, Result, error_lines, measure, wrk_version
from hearth_core.db.paging import Where
from hearth_core.metrics import repo
from hearth_core.metrics.chunks import WINDOW_US
from hearth_core.metrics.query import (
    Query,
    build_hours_sql,
    match_labels,
    parse_matcher,
    uses_rollups,
    window_bounds,
)

HERE = Path(__file__).resolve().parent
LUA = HERE / "wrk.lua"
PLANS = HERE / "plans.txt"
META = "bench-query.json"  # in a --reuse data dir: what was loaded there, and how fast

AIM_P99_MS = 50.0
# wrk's own 2 s: the 30-day query (b) takes 1-2 s at 16 connections on 2 busy cores, so answers
# beyond it were counted as timeouts and left out of the latencies. A request still unanswered
# after this long is an error of the run.
QUERY_TIMEOUT_S = 30.0
DAYS = 30
RETENTION_DAYS = 31  # a day of slack over DAYS: the oldest points stay inside the window
SEAL_AFTER_S = 3  # chunks sealed (pcodec) soon after the load, as in a store at rest
NAMES = ("http_requests_total", "cpu_seconds", "latency_ms")
HOSTS = 50
DCS = 4
ROUTES = ("/api", "/login", "/search", "/checkout", "/static", "/admin", "/health")
# Every name has a series for each (host, route) of these (see series_labels).
FULL_ROUTES = ROUTES[:6]
SAMPLE = {"host": "h17", "route": "/api"}  # the series of the checks and the plans
US = 1_000_000


# ---------------------------------------------------------------- data
def series_labels(s: int) -> tuple[int, dict[str, str]]:
    """Series ``s``: (index of its name, labels). s = 150 * route + 3 * host + name, so the
    first 900 series hold every (name, host, route) of FULL_ROUTES."""
    kind, host, route = s % 3, (s // 3) % HOSTS, (s // (3 * HOSTS)) % len(ROUTES)
    return kind, {"host": f"h{host:02d}", "dc": f"dc{host % DCS + 1}", "route": ROUTES[route]}


def series_of(name: str, labels: dict[str, str], series: int) -> int:
    s = next(
        s
        for s in range(series)
        if NAMES[series_labels(s)[0]] == name
        and all(series_labels(s)[1][k] == v for k, v in labels.items())
    )
    return s


@dataclass(frozen=True)
class Spec:
    """The data set: point j is series j % series at tick j // series, time-ordered."""

    points: int
    series: int
    batch: int
    t_end: int  # epoch seconds: every point is before t_end - 60

    @property
    def per_series(self) -> int:
        return self.points // self.series

    @property
    def interval(self) -> float:
        return (DAYS * 86400 - 120) / self.per_series

    @property
    def t0(self) -> int:
        return self.t_end - DAYS * 86400 + 60

    @property
    def bodies(self) -> int:
        return math.ceil(self.points / self.batch)

    def count(self, k: int) -> int:
        return min(self.batch, self.points - k * self.batch)

    def time(self, s: int, tick: int) -> int:
        # The series of one tick are staggered over the interval, as independent agents are.
        return self.t0 + int((tick + s / self.series) * self.interval)

    def value(self, s: int, tick: int) -> bytes:
        """The value as sent (JSON number): requests are an integer counter, cpu_seconds a
        float counter, latency_ms a gauge."""
        kind = s % 3
        if kind == 0:
            return b"%d" % (1000 + s * 7919 % 100_000 + tick * 3 * (1 + s % 50) + tick * s % 3)
        if kind == 1:
            return b"%.3f" % (tick * self.interval * (0.05 + (s % 19) / 20))
        return b"%.1f" % (20 + (s % 10) * 5 + (tick * 2_654_435_761 + s * 40_503) % 1000 / 10)


_SPEC: Spec | None = None
_PREFIX: list[bytes] = []


def _init_renderer(spec: Spec) -> None:
    global _SPEC, _PREFIX
    _SPEC = spec
    _PREFIX = []
    for s in range(spec.series):
        kind, labels = series_labels(s)
        head = orjson.dumps({"namespace": "app", "name": NAMES[kind], "labels": labels})
        _PREFIX.append(head[:-1] + b',"value":')


def render(k: int) -> bytes:
    """Body ``k``: a JSON array of points k * batch … (in a worker process). Spec.time and
    Spec.value, inlined per tick: this loop is the bench client's main cost."""
    spec = _SPEC
    assert spec is not None
    n, iv, t0, prefix = spec.series, spec.interval, spec.t0, _PREFIX
    lo = k * spec.batch
    hi = lo + spec.count(k)
    parts = []
    for tick in range(lo // n, (hi - 1) // n + 1):
        base = tick * iv
        for s in range(max(lo - tick * n, 0), min(hi - tick * n, n)):
            kind = s % 3
            if kind == 0:
                v = b"%d" % (1000 + s * 7919 % 100_000 + tick * 3 * (1 + s % 50) + tick * s % 3)
            elif kind == 1:
                v = b"%.3f" % (base * (0.05 + (s % 19) / 20))
            else:
                v = b"%.1f" % (20 + (s % 10) * 5 + (tick * 2_654_435_761 + s * 40_503) % 1000 / 10)
            t = t0 + int((tick + s / n) * iv)
            parts.append(b'%s%s,"timestamp":%d}' % (prefix[s], v, t))
    return b"[" + b",".join(parts) + b"]"


class Progress:
    def __init__(self, total: int, every: float = 5.0) -> None:
        self.total, self.every = total, every
        self.done = 0
        self.t0 = self.last = time.perf_counter()

    def add(self, points: int) -> None:
        self.done += points
        now = time.perf_counter()
        if now - self.last >= self.every or self.done == self.total:
            self.last = now
            rate = self.done / (now - self.t0) if now > self.t0 else 0.0
            eta = (self.total - self.done) / rate if rate else 0.0
            say(
                f"  loading: {self.done:,} of {self.total:,} points handed to the senders "
                f"({self.done / self.total:.0%}), {rate:,.0f} points/s, ETA {eta:.0f} s"
            )


class Rendered:
    """Bodies ``first`` … for ``send_all``, rendered by ``pool`` at most ``window`` ahead. The
    senders take the indices in order; a sender waiting on a body that is not rendered yet
    holds the event loop, which only happens when the renderer is the bottleneck."""

    def __init__(self, pool: Pool, spec: Spec, first: int, window: int, progress: Progress):
        self.pool, self.spec, self.first, self.window = pool, spec, first, window
        self.progress = progress
        self.pending: dict[int, AsyncResult[bytes]] = {}
        for i in range(min(window, len(self))):
            self._submit(i)

    def _submit(self, i: int) -> None:
        self.pending[i] = self.pool.apply_async(render, (self.first + i,))

    def __len__(self) -> int:
        return self.spec.bodies - self.first

    def __getitem__(self, i: int) -> bytes:
        res = self.pending.pop(i)
        if i + self.window < len(self):
            self._submit(i + self.window)
        body = res.get()
        self.progress.add(self.spec.count(self.first + i))
        return body


# ---------------------------------------------------------------- server and data dir
def read_meta(path: Path | None, spec: Spec) -> dict[str, Any] | None:
    """The load recorded in a --reuse dir when it holds this very data set; a dir left by an
    unfinished or different load of ours is emptied, any other non-empty dir refused."""
    if path is None or not path.exists() or not any(path.iterdir()):
        return None
    try:
        meta: dict[str, Any] = json.loads((path / META).read_text())
    except (OSError, ValueError):
        raise BenchError(f"--reuse {path}: not empty and not a data dir of this bench") from None
    same = (meta.get("points"), meta.get("series"), meta.get("batch")) == (
        spec.points,
        spec.series,
        spec.batch,
    )
    if meta.get("complete") and same:
        return meta
    say(f"--reuse {path}: holds another or an unfinished load; emptying it")
    shutil.rmtree(path)
    return None


def write_meta(path: Path | None, spec: Spec, load: dict[str, Any] | None) -> None:
    if path is not None:
        doc = {**asdict(spec), "complete": load is not None, "load": load}
        (path / META).write_text(json.dumps(doc, indent=2) + "\n")


# ---------------------------------------------------------------- load
async def load(
    server: Server, token: str, spec: Spec, args: argparse.Namespace, pool: Pool
) -> dict[str, Any]:
    warm = math.ceil(spec.series / spec.batch)
    say(f"load: first {warm} body(ies) alone (creates all {spec.series:,} series)")
    first = [render_in(pool, k) for k in range(warm)]
    secs, problems = await send_all(server, token, first, [spec.count(k) for k in range(warm)], 1)
    if problems:
        raise BenchError("the first body failed:\n" + "\n".join(problems[:5]))
    rest = spec.points - sum(spec.count(k) for k in range(warm))
    say(
        f"load: {rest:,} points in {spec.bodies - warm:,} bodies of {spec.batch:,}, "
        f"{args.senders} senders"
    )
    meter = CpuMeter(server)
    meter.start()
    bodies = Rendered(pool, spec, warm, args.window, Progress(rest))
    counts = [spec.count(k) for k in range(warm, spec.bodies)]
    secs, problems = await send_all(server, token, bodies, counts, args.senders)  # type: ignore[arg-type]
    pool.close()
    pool.join()  # the renderer's CPU counts as the bench client's (a reaped child)
    cpu = meter.stop()
    if problems:
        raise BenchError(
            f"{len(problems)} bad answers while loading, e.g.:\n" + "\n".join(problems[:5])
        )
    say(f"  {rest / secs:,.0f} points/s acknowledged ({secs:.1f} s)")
    drain = await asyncio.to_thread(wait_drained, server, token, sealed=True, limit_s=1800)
    say(
        f"  write log compacted {drain.log_s:.1f} s after the last acknowledgement, every "
        f"chunk sealed after {drain.sealed_s or 0:.1f} s"
    )
    return {
        "points": rest,
        "seconds": secs,
        "drain_s": drain.log_s,
        "sealed_s": drain.sealed_s,
        "cpu": cpu,
        "warm": warm,
    }


def render_in(pool: Pool, k: int) -> bytes:
    return pool.apply(render, (k,))


async def prepare(server: Server, token: str, spec: Spec, facts: dict[str, Any]) -> None:
    """Count the rollups, VACUUM (ANALYZE), sizes."""
    await asyncio.to_thread(wait_drained, server, token, sealed=True, limit_s=1800)
    conn = await asyncpg.connect(server.pg_url())
    try:
        counted = await conn.fetchval("SELECT coalesce(sum(count), 0) FROM metric_rollup_1h")
        if counted != spec.points:
            raise BenchError(
                f"metric_rollup_1h counts {counted:,} points, expected {spec.points:,}"
            )
        say("VACUUM (ANALYZE) metric_chunks, metric_rollup_1h, metric_series")
        t = time.perf_counter()
        await conn.execute(
            "VACUUM (ANALYZE) metric_chunks, metric_rollup_1h, metric_series", timeout=1800
        )
        facts["vacuum_s"] = time.perf_counter() - t
        say(f"  {facts['vacuum_s']:.1f} s")
        facts["pg_version"] = await conn.fetchval("SHOW server_version")
        facts["sizes"] = {}
        sizes = await table_sizes(conn)
        for what, tables in TABLES.items():
            rows = sum([await conn.fetchval(f"SELECT count(*) FROM {t}") for t in tables])
            size = sizes[what]
            facts["sizes"][f"{what} ({', '.join(tables)})"] = (rows, size)
        facts["chunk_bytes"] = await conn.fetchval(
            "SELECT coalesce(sum(octet_length(data)), 0) FROM metric_chunks"
        )
        facts["partitions"] = await conn.fetchval(
            "SELECT count(*) FROM pg_partition_tree('metric_chunks') WHERE isleaf"
            " AND pg_total_relation_size(relid) > 16384"
        )
    finally:
        await conn.close()


# ---------------------------------------------------------------- queries
@dataclass(frozen=True)
class QuerySpec:
    key: str
    label: str
    name: str  # a name, or "@NAME@": a random one per request
    seconds: int
    step: str
    agg: str
    matchers: tuple[str, ...] = ()
    group_by: str | None = None

    def params(self, spec: Spec, **values: str) -> list[tuple[str, str]]:
        """Query parameters; ``@KEY@`` placeholders (wrk.lua) unless ``values`` fills them."""

        def fill(text: str) -> str:
            for k, v in values.items():
                text = text.replace(f"@{k}@", v)
            return text

        out = [("namespace", "app"), ("name", fill(self.name))]
        out += [("match", fill(m)) for m in self.matchers]
        out += [
            ("start", str(spec.t_end - self.seconds)),
            ("end", str(spec.t_end)),
            ("step", self.step),
            ("agg", self.agg),
        ]
        return out + ([("group_by", self.group_by)] if self.group_by else [])

    def url(self, server: Server, spec: Spec, **values: str) -> str:
        # '@' survives as is in the template: wrk.lua replaces @KEY@ per request.
        query = urllib.parse.urlencode(self.params(spec, **values)).replace("%40", "@")
        return f"{server.base}/v1/metrics/query?{query}"

    def query(self, spec: Spec, **values: str) -> Query:
        params = self.params(spec, **values)
        p = dict(params)
        return Query(
            namespace="app",
            name=p["name"],
            start=float(p["start"]),
            end=float(p["end"]),
            step={"1m": 60, "1h": 3600}[self.step],
            agg=self.agg,  # type: ignore[arg-type]
            matchers=tuple(
                parse_matcher(m, i) for i, m in enumerate(v for k, v in params if k == "match")
            ),
            group_by=(self.group_by,) if self.group_by else None,
        )


ONE_SERIES = ('host="@HOST@"', 'route="@ROUTE@"')
QUERIES = (
    QuerySpec("a", "(a) 24 h, step 1m, avg, one series", NAMES[0], 86400, "1m", "avg", ONE_SERIES),
    QuerySpec(
        "b",
        "(b) 30 d, step 1h, sum by dc, all series of a name",
        "@NAME@",
        DAYS * 86400,
        "1h",
        "sum",
        group_by="dc",
    ),
    QuerySpec(
        "c", "(c) 24 h, step 1m, rate, one series", NAMES[0], 86400, "1m", "rate", ONE_SERIES
    ),
)
SAMPLE_VALUES = {"HOST": SAMPLE["host"], "ROUTE": SAMPLE["route"], "NAME": NAMES[0]}


def expected_windows(spec: Spec, s: int, q: Query) -> dict[float, float]:
    """What (a) and (c) must answer for series ``s``, from the generator alone."""
    step = q.step
    first = math.floor(q.start / step) * step
    lo = first - (step if q.agg == "rate" else 0)
    hi = math.ceil(q.end / step) * step
    sums: dict[float, list[float]] = {}
    last: dict[float, tuple[int, float]] = {}
    tick = max(0, math.floor((lo - spec.t0) / spec.interval) - 1)
    while tick < spec.per_series and (t := spec.time(s, tick)) < hi:
        if t >= lo:
            w = float(t // step * step)
            v = float(spec.value(s, tick))
            sums.setdefault(w, []).append(v)
            if w not in last or t >= last[w][0]:
                last[w] = (t, v)
        tick += 1
    if q.agg == "avg":
        return {w: sum(vs) / len(vs) for w, vs in sums.items() if w >= first}
    return {
        w: (v - last[w - step][1]) / step
        for w, (_, v) in last.items()
        if w >= first and w - step in last
    }


def check_queries(server: Server, token: str, spec: Spec) -> dict[str, float]:
    """Each query once, against what the generator says; returns each one's seconds."""
    s = series_of(NAMES[0], SAMPLE, spec.series)
    seconds: dict[str, float] = {}
    for qs in QUERIES:
        t = time.perf_counter()
        got = get_json(qs.url(server, spec, **SAMPLE_VALUES), token, timeout=120)
        seconds[qs.key] = time.perf_counter() - t
        result = got["data"]["result"]
        if qs.group_by is None:
            want = expected_windows(spec, s, qs.query(spec, **SAMPLE_VALUES))
            values = {float(t): float(v) for t, v in result[0]["values"]} if result else {}
            bad = [
                w
                for w in want.keys() | values.keys()
                if w not in want or w not in values or not math.isclose(want[w], values[w])
            ]
            if len(result) != (1 if want else 0) or bad:
                raise BenchError(
                    f"{qs.label}: {len(result)} series, {len(values)} windows, {len(want)} "
                    f"expected, {len(bad)} differ (e.g. {sorted(bad)[:3]})"
                )
        else:
            # The same windows counted: every point of the name, each dc once.
            count = qs.url(server, spec, **SAMPLE_VALUES).replace("agg=sum", "agg=count")
            groups = get_json(count, token, timeout=120)["data"]["result"]
            n = sum(v for g in groups for _, v in g["values"])
            of_name = sum(1 for i in range(spec.series) if i % 3 == 0) * spec.per_series
            dcs = sorted(g["metric"].get("dc", "") for g in result)
            if n != of_name or dcs != [f"dc{i + 1}" for i in range(DCS)]:
                raise BenchError(f"{qs.label}: groups {dcs}, count {n:,}, expected {of_name:,}")
        say(f"  checked {qs.label}: {seconds[qs.key] * 1000:.0f} ms (first run)")
    return seconds


class Recorder:
    """Stands in for a connection: records the statements a ``repo`` function would run (so
    the plans are of the server's own SQL, not a copy)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[Any]]] = []

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        self.calls.append((sql, list(args)))
        return []


@dataclass
class Plan:
    query: QuerySpec
    ms: float  # server-side execution of the statements explained
    text: str
    read: str = ""  # what the chunk read returned, for (a) and (c)


async def statements(conn: asyncpg.Connection, q: Query) -> tuple[list[tuple[str, list[Any]]], str]:
    """The SQL run_query sends for ``q`` once everything is compacted, and (for steps finer than
    an hour) what its chunk read returns."""
    lo, _first, hi = window_bounds(q)
    if uses_rollups(q.step):
        return [build_hours_sql(q, hi)], ""
    rec = Recorder()
    where = Where().add("s.namespace = {}", q.namespace).add("s.name = {}", q.name)
    match_labels(where, q.matchers)
    await repo.series_for_query(rec, where)  # type: ignore[arg-type]
    sql, args = rec.calls[0]
    ids = [r["series_id"] for r in await conn.fetch(sql, *args)]
    await repo.chunks_between(rec, ids, lo * US, hi * US, WINDOW_US)  # type: ignore[arg-type]
    rows = await conn.fetch(rec.calls[1][0], *rec.calls[1][1])
    read = f"{len(rows)} chunks, {sum(len(r['data']) for r in rows):,} bytes"
    return rec.calls, read


async def explain(server: Server, spec: Spec) -> list[Plan]:
    """EXPLAIN (ANALYZE, BUFFERS) of each query's SQL for the sample series."""
    conn = await asyncpg.connect(server.pg_url())
    out = []
    try:
        for qs in QUERIES:
            calls, read = await statements(conn, qs.query(spec, **SAMPLE_VALUES))
            text = [
                "=" * 100,
                qs.label,
                qs.url(server, spec, **SAMPLE_VALUES).split("/v1/", 1)[1],
            ]
            total = 0.0
            for sql, args in calls:
                plan = [r[0] for r in await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *args)]
                ms = next(
                    (
                        float(p.split(":")[1].split()[0])
                        for p in plan
                        if p.startswith("Execution Time")
                    ),
                    0.0,
                )
                total += ms
                text += ["-" * 100, sql.strip(), f"args: {args}", "-" * 100, *plan]
            text.insert(2, f"{total:.1f} ms" + (f"; the chunk read returns {read}" if read else ""))
            out.append(Plan(qs, total, "\n".join([*text, ""]), read))
    finally:
        await conn.close()
    return out


# ---------------------------------------------------------------- report
HEADER = ["query", "conns", "req/s", "p50 ms", "p99 ms", "max ms", "errors", "aim p99 < 50 ms"]


def verdict(r: Result) -> str:
    if r.error_count:
        return "failed (errors)"
    return "met" if r.p99_ms < AIM_P99_MS else "NOT met"


def table_rows(results: list[Result]) -> list[list[str]]:
    labels = {q.key: q.label for q in QUERIES}
    return [
        [
            labels[r.endpoint],
            str(r.connections),
            r.spread("rps", "{:,.1f}"),
            f"{r.p50_ms:.1f}",
            r.spread("p99_ms", "{:.1f}"),
            f"{r.max_ms:.1f}",
            f"{r.error_count} !!" if r.error_count else "0",
            verdict(r),
        ]
        for r in results
    ]


LOAD_HEADER = ["load", "points", "seconds", "points/s"]


def load_rows(ld: dict[str, Any]) -> list[list[str]]:
    acked, merged = ld["seconds"], ld["seconds"] + ld["drain_s"]
    return [
        [
            "acknowledged (POST /v1/metrics/bulk)",
            f"{ld['points']:,}",
            f"{acked:.1f}",
            f"{ld['points'] / acked:,.0f}",
        ],
        [
            "… and compacted into chunks and hourly rollups",
            f"{ld['points']:,}",
            f"{merged:.1f}",
            f"{ld['points'] / merged:,.0f}",
        ],
    ]


SIZE_HEADER = ["table", "rows", "size MB", "bytes per point"]


def size_rows(sizes: dict[str, tuple[int, int]], points: int) -> list[list[str]]:
    return [
        [t, f"{rows:,}", f"{size / 1e6:,.1f}", f"{size / points:.1f}"]
        for t, (rows, size) in sizes.items()
    ]


def write_chart(results: list[Result]) -> None:
    plt = pyplot()
    keys = [q.key for q in QUERIES]
    conns = sorted({r.connections for r in results}, reverse=True)
    by = {(r.endpoint, r.connections): r for r in results}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / len(conns)
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c"]
    for i, c in enumerate(conns):
        xs = [j + (i - (len(conns) - 1) / 2) * width for j in range(len(keys))]
        rs = [by.get((k, c)) for k in keys]
        bars = ax1.bar(xs, [r.rps if r else 0 for r in rs], width, color=colors[i % 3])
        ax1.bar_label(bars, [f"{r.rps:,.0f}" if r else "" for r in rs], fontsize=8)
        ax2.bar(xs, [r.p99_ms if r else 0 for r in rs], width, color=colors[i % 3], alpha=0.4)
        ax2.bar(
            xs, [r.p50_ms if r else 0 for r in rs], width, color=colors[i % 3], label=f"{c} conns"
        )
    labels = [q.label.split(",", 1)[0] + "\n" + q.label.split(", ", 1)[1] for q in QUERIES]
    for ax in (ax1, ax2):
        ax.set_xticks(range(len(keys)), labels, fontsize=7)
    ax1.set_ylabel("requests / s")
    ax1.set_title("Throughput by connections")
    ax2.axhline(AIM_P99_MS, color="red", linestyle=":", linewidth=1, label="aim p99 50 ms")
    ax2.set_ylabel("ms")
    ax2.set_yscale("log")
    ax2.set_title("Latency p50 (solid) / p99 (light)")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(HERE / "query.png", dpi=110)
    plt.close(fig)


def write_report(
    results: list[Result],
    spec: Spec,
    ld: dict[str, Any],
    plans: list[Plan],
    args: argparse.Namespace,
    facts: dict[str, Any],
    problems: list[str],
) -> None:
    reused = " (loaded by an earlier run, `--reuse`)" if facts.get("reused") else ""
    lines = [
        f"- Machine: {machine_line(machine_info(), wrk_version())}, PostgreSQL "
        f"{facts.get('pg_version', '?')} (embedded: shared_buffers 256 MB, work_mem 16 MB, "
        "durable). **wrk, the server and PostgreSQL share these cores.** Before the queries: "
        f"{facts['noise_queries']}; at the end: {facts['noise_end']}.",
        "- Server: one `hearth serve` process, `HEARTH_LOG_LEVEL=WARNING`, "
        f"`HEARTH_METRICS_RETENTION_DAYS={RETENTION_DAYS}`, "
        f"`HEARTH_METRICS_SEAL_AFTER_S={SEAL_AFTER_S}`, other settings default.",
        f"- Data{reused}: **{spec.points:,} points** of {spec.series:,} series (namespace `app`; "
        f"{', '.join(f'`{n}`' for n in NAMES)}, a third each; labels host `h00`…`h{HOSTS - 1}`, "
        f"dc `dc1`…`dc{DCS}` by host, route one of {len(ROUTES)}), {spec.per_series:,} points "
        f"per series, one every {spec.interval:.1f} s over the last {DAYS} days "
        f"({facts.get('partitions', '?')} day partitions hold points). Loaded through "
        f"`POST /v1/metrics/bulk` as JSON arrays of {spec.batch:,} points in time order, "
        f"rendered on the fly by a worker process, {args.senders} concurrent senders; the first "
        f"body (every series) alone first, not timed.",
        "",
        *md_table(LOAD_HEADER, load_rows(ld)),
        "",
        "CPU while loading (from /proc; the bench client includes its renderer process):",
        "",
        *md_table(
            ["during the load", "CPU s", "cores busy", "share"], cpu_rows(ld["cpu"], ld["seconds"])
        ),
        "",
        f"Then the compactor emptied the write log ({ld['drain_s']:.1f} s after the last "
        "acknowledgement; every point in per-series chunks of 2 h and hourly rollups) and "
        f"sealed every chunk with pcodec ({ld.get('sealed_s') or 0:.1f} s after it; "
        f"`HEARTH_METRICS_SEAL_AFTER_S={SEAL_AFTER_S}`), the 1-hour rollups were checked to "
        "count every point, and `VACUUM (ANALYZE)` of the chunks, the rollups and "
        f"metric_series took {facts['vacuum_s']:.1f} s. Sizes after it (each table with its "
        "partitions, indexes and TOAST):",
        "",
        *md_table(SIZE_HEADER, size_rows(facts["sizes"], spec.points)),
        "",
        f"The chunks' encoded data: {facts.get('chunk_bytes', 0) / 1e6:,.1f} MB, "
        f"{facts.get('chunk_bytes', 0) / spec.points:.2f} bytes per point.",
        "",
        "## Queries",
        "",
        f"`GET /v1/metrics/query`, `wrk -t1 -cN -d{args.duration:g}s --latency "
        f"--timeout {QUERY_TIMEOUT_S:g}s`, {args.rounds} round(s) after a {args.warmup:g} s "
        "warm-up (`wrk.lua`: every request picks its series), end = the newest data; req/s and "
        "p99 are the median of the rounds (min-max in brackets). A request unanswered within "
        "the timeout is an error and fails the figure:",
        "",
        f'- (a) `name={NAMES[0]}&match=host="hNN"&match=route="R"&step=1m&agg=avg`, start = '
        "end - 24 h: one random series of the 300 (host, route) pairs of the name, 1 440 windows "
        "computed from the series' chunks, decoded in Rust (`aggregate_windows`);",
        f"- (b) `name=N&step=1h&agg=sum&group_by=dc`, start = end - {DAYS} d: a random name (≈ "
        f"{spec.series // 3} series), {DAYS * 24} windows x {DCS} groups from the hourly rollups "
        "(`build_hours_sql`);",
        "- (c) as (a) with `agg=rate`.",
        "",
        "Before them, each query ran once for the series h17 / `/api` and was compared with what "
        "the generator says it must answer (every window of (a) and (c); for (b) the same query "
        "with `agg=count` must count every point of the name, in 4 dc groups): "
        + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in facts["first_s"].items())
        + " on first run.",
        "",
        *md_table(HEADER, table_rows(results)),
        "",
        f"Latencies are wrk's (send to full response). Aim: p99 < {AIM_P99_MS:g} ms.",
        "",
    ]
    lines += ["![req/s and latency](query.png)", ""]
    lines += [
        "## Plans",
        "",
        "`EXPLAIN (ANALYZE, BUFFERS)` of the SQL each query sends once everything is compacted "
        "(the sample series h17 / `/api`, name "
        f"`{NAMES[0]}`) after the runs, in `plans.txt`: for (b) "
        "`hearth_core.metrics.query.build_hours_sql`; for (a) and (c) `repo.series_for_query` "
        "and `repo.chunks_between` (the Rust decoding of the chunks comes after them): "
        + ", ".join(
            f"{p.query.key} {p.ms:.1f} ms" + (f" (reads {p.read})" if p.read else "") for p in plans
        )
        + " (server-side execution).",
        "",
    ]
    write_markdown(HERE, "Analytics query benchmark", lines, problems)


def figures(results: list[Result], ld: dict[str, Any]) -> list[dict[str, Any]]:
    labels = {q.key: q.label for q in QUERIES}
    png = "query/query.png"
    out = [
        figure(
            f"query {labels[r.endpoint]} p99 @ {r.connections} conns",
            round(r.p99_ms, 2),
            "ms",
            f"aim p99 < {AIM_P99_MS:g} ms",
            r.p99_ms < AIM_P99_MS,
            headline=None,  # not one of the headline figures (bench/report.py)
            target_value=AIM_P99_MS,
            chart=png,
            detail=f"{r.rps:,.1f} req/s, p50 {r.p50_ms:.1f} ms, {r.error_count} errors "
            f"(timeout {QUERY_TIMEOUT_S:g} s)",
            errors=r.error_count,
            rounds=[round(v, 2) for v in r.values("p99_ms")],
        )
        for r in results
    ]
    out.append(
        figure(
            "query bench: load through POST /v1/metrics/bulk",
            round(ld["points"] / ld["seconds"]),
            "points/s",
            "—",
            None,
            detail=f"{ld['points']:,} points in {ld['seconds']:.1f} s; write log compacted "
            f"{ld['drain_s']:.1f} s later",
        )
    )
    return out


# ---------------------------------------------------------------- main
def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    counts = (
        ("--points", 24_000_000, "points to load (a multiple of --series)"),
        ("--series", 1000, "series (at least 900: every host and route of each name)"),
        ("--senders", 16, "concurrent HTTP senders while loading"),
        ("--batch", 10_000, "points per request"),
        ("--window", 32, "bodies rendered ahead of the senders"),
    )
    for flag, default, text in counts:
        p.add_argument(flag, type=int, default=default, help=f"{text} (default {default:,})")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    p.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds before each")
    p.add_argument("--rounds", type=int, default=3, help="rounds per measurement (median)")
    p.add_argument(
        "--connections",
        type=lambda s: [int(x) for x in s.split(",") if x.strip()],
        default=[16, 1],
        help="comma-separated connection counts (default 16,1)",
    )
    p.add_argument("--max-load", type=float, default=1.2, help="wait for a lower load average")
    p.add_argument("--load-wait", type=float, default=90, help="… at most this many seconds")
    p.add_argument("--reuse", type=Path, default=None, metavar="DIR", help="keep the data in DIR")
    p.add_argument("--no-write", action="store_true", help="print only; keep RESULTS.md")
    args = p.parse_args()
    if args.series < 3 * HOSTS * len(FULL_ROUTES) or args.points % args.series:
        p.error(f"--series must be ≥ {3 * HOSTS * len(FULL_ROUTES)} and divide --points")
    if min(args.points, args.senders, args.batch, args.window) < 1:
        p.error("--points, --senders, --batch and --window must be positive")
    if args.reuse is not None:
        args.reuse = args.reuse.resolve()
    return args


def main() -> int:
    args = parse_args()
    facts: dict[str, Any] = {}
    spec = Spec(args.points, args.series, args.batch, int(time.time()))
    meta = read_meta(args.reuse, spec)
    if meta is not None:
        spec = Spec(args.points, args.series, args.batch, meta["t_end"])
        say(f"--reuse {args.reuse}: {spec.points:,} points already loaded; skipping the load")
    # wrk.lua's choices: every request its own series (a, c) or name (b).
    choices = {
        "BENCH_HOST": ",".join(f"h{h:02d}" for h in range(HOSTS)),
        "BENCH_ROUTE": ",".join(urllib.parse.quote(r, safe="") for r in FULL_ROUTES),
        "BENCH_NAME": ",".join(NAMES),
    }
    results: list[Result] = []
    # Forked before the server and the event loop exist; closed by load(), else terminated.
    pool = multiprocessing.get_context("fork").Pool(1, _init_renderer, (spec,))
    try:
        env = {
            "HEARTH_METRICS_RETENTION_DAYS": str(RETENTION_DAYS),
            "HEARTH_METRICS_SEAL_AFTER_S": str(SEAL_AFTER_S),
        }
        with hearth_server(data_dir=args.reuse, env=env) as server:
            client = create_client(
                server, f"bench-query-{os.getpid()}", "metrics.read,metrics.write"
            )
            token = bearer_token(server, client)
            if meta is None:
                write_meta(args.reuse, spec, None)
                ld = asyncio.run(load(server, token, spec, args, pool))
                write_meta(args.reuse, spec, ld)
            else:
                ld, facts["reused"] = meta["load"], True
            pool.terminate()
            asyncio.run(prepare(server, token, spec, facts))
            say("checking each query against the generator")
            facts["first_s"] = check_queries(server, token, spec)
            facts["load_before"] = wait_for_quiet(args.max_load, args.load_wait)
            facts["noise_queries"] = noise()
            for conns in args.connections:
                for qs in QUERIES:
                    req = Request(
                        qs.url(server, spec),
                        auth=f"Bearer {token}",
                        script=LUA,
                        env=choices,
                        timeout_s=QUERY_TIMEOUT_S,
                    )
                    results.append(
                        measure(qs.key, req, conns, args.duration, args.warmup, args.rounds)
                    )
            facts["noise_end"] = noise()
            say("EXPLAIN (ANALYZE, BUFFERS) of each query")
            plans = asyncio.run(explain(server, spec))
            log_tail = server.log_tail()
    finally:
        pool.terminate()

    problems = error_lines(results)
    print_grid(LOAD_HEADER, load_rows(ld))
    print_grid(SIZE_HEADER, size_rows(facts["sizes"], spec.points))
    print(f"chunks' encoded data: {facts.get('chunk_bytes', 0) / spec.points:.2f} bytes per point")
    print_grid(HEADER, table_rows(results))
    for p in plans:
        print(f"EXPLAIN ANALYZE {p.query.label}: {p.ms:.1f} ms {p.read}")
    if not args.no_write:
        PLANS.write_text("\n".join(p.text for p in plans))
        write_chart(results)
        write_report(results, spec, ld, plans, args, facts, problems)
        write_results(HERE, figures(results, ld), points=spec.points, series=spec.series)
    return finish(problems, log_tail)


if __name__ == "__main__":
    run_main(main)
