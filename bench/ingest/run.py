"""Metrics ingestion benchmark: end-to-end POST /v1/metrics/bulk against the physical limit (a
raw binary COPY of the same rows into a table of the same shape) and against a pure-Python
implementation, all three on the same points in one run.

    .venv/bin/python bench/ingest/run.py [--points 1000000] [--senders 8] [--batch 10000]

Starts ``hearth serve`` (embedded PostgreSQL and Redis, default settings, ``HEARTH_METRICS_*``
taken from the environment) the way ``bench/auth/run.py`` does (its helpers are imported, not
copied), registers a ``metrics.write`` client and takes a client_credentials token. Generates
``--points`` realistic points (2 000 series, 3 to 5 labels, timestamps within the last hour) as
pre-serialised JSON arrays of ``--batch`` points. Then, on the same points:

1. **raw COPY** — the physical limit: the rows pre-encoded by the native core outside the
   timing, COPYed in binary into ``bench_points`` (same columns, day partitions and
   ``(series_id, time)`` index as ``metric_points``) in the batcher's batch size (up to
   ``HEARTH_METRICS_BATCH_ROWS`` points, whole requests) over ``HEARTH_METRICS_WRITERS``
   connections, each COPY its own transaction, like the batcher's;
2. **end to end** — ``--senders`` concurrent aiohttp senders POST the bodies with the bearer
   token; timed from the first send to the last acknowledgement; every answer must be 200 with
   ``accepted`` equal to the batch size, and ``metric_points`` must then hold exactly
   ``--points`` rows. A warm-up (the first 100 000 points, so every series is known: steady
   state) runs first and is truncated away;
3. **pure Python** — in this process: ``orjson.loads``, per-point validation, series key,
   ids from a dict pre-filled from ``metric_series``, ``copy_records_to_table`` into
   ``py_points`` over the same number of connections.

Prints points/s and the ratios, the CPU seconds of the server, PostgreSQL and this process
during (2), writes ``RESULTS.md`` and ``ingest.png`` next to this file; progress on stderr.
``--py-spy`` samples the server during (2) and prints its top frames. Exit code 1 when a check
fails (wrong answer, wrong row count), 2 on a setup error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import msgspec
import orjson

import bench.auth.run as auth_bench
from bench.auth.run import Server, create_client, hearth_server, machine_info
from bench.common import (
    BenchError,
    figure,
    pyplot,
    report_server_warnings,
    run_main,
    say,
    write_results,
)
from bench.users.run import bearer_token, md_table, print_grid
from hearth_core._native import COPY_HEADER, COPY_TRAILER, decode_points
from hearth_core.metrics.repo import MERGE_PENDING
from hearth_core.settings import Settings

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RESULTS_MD = HERE / "RESULTS.md"
CHART = HERE / "ingest.png"

SPEC_POINTS_S = 20_000
AIM_VS_RAW = 0.8
AIM_VS_PY = 3.0
WARMUP_POINTS = 100_000
SERIES = 2_000
LABELS = {
    "raw": "(1) raw binary COPY (limit)",
    "e2e": "(2) end to end, HTTP",
    "replay": "(2b) batcher SQL alone",
    "python": "(3) pure Python",
}
COLUMNS = ["series_id", "time", "value"]
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- data
COUNTERS = (
    "http_requests_total",
    "http_request_errors_total",
    "cpu_seconds",
    "network_receive_bytes_total",
    "network_transmit_bytes_total",
    "disk_io_seconds_total",
    "gc_collections_total",
    "jobs_processed_total",
)
GAUGES = (
    "http_request_duration_seconds",
    "memory_bytes",
    "queue_depth",
    "open_connections",
    "temperature_celsius",
    "disk_free_bytes",
    "load_average",
    "cache_hit_ratio",
)
REGIONS = ("eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-south-1")
SERVICES = ("api", "auth", "billing", "search", "worker", "gateway", "console", "ingest")
METHODS = ("GET", "POST", "PUT", "DELETE")
CODES = ("200", "201", "400", "404", "500")


def series_pool(n: int, rng: random.Random) -> list[tuple[str, dict[str, str], bool]]:
    """``n`` distinct (name, labels, is_counter), 3 to 5 labels each."""
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    pool: list[tuple[str, dict[str, str], bool]] = []
    while len(pool) < n:
        counter = rng.random() < 0.5
        name = rng.choice(COUNTERS if counter else GAUGES)
        labels = {
            "host": f"host-{rng.randrange(400):03d}",
            "region": rng.choice(REGIONS),
            "service": rng.choice(SERVICES),
        }
        if name.startswith("http_"):
            labels["method"] = rng.choice(METHODS)
            labels["code"] = rng.choice(CODES)
        elif rng.random() < 0.5:
            labels["instance"] = f"i-{rng.getrandbits(32):08x}"
        key = (name, tuple(sorted(labels.items())))
        if key not in seen:
            seen.add(key)
            pool.append((name, labels, counter))
    return pool


def timestamp(t: float, form: int) -> str | int | float:
    """A third each: RFC 3339 with µs, epoch milliseconds, fractional epoch seconds."""
    if form == 0:
        return dt.datetime.fromtimestamp(t, dt.UTC).isoformat().replace("+00:00", "Z")
    if form == 1:
        return int(t * 1000)
    return round(t, 3)


@dataclass
class Dataset:
    bodies: list[bytes]
    counts: list[int]
    points: int
    series: int
    size: int
    min_day: dt.date
    max_day: dt.date


def make_points(points: int, batch: int, *, ordered: bool, seed: int = 1) -> Dataset:
    """Time-ordered (as agents send them: each body covers the next slice of the hour, a few
    seconds of jitter) or, with ``ordered=False``, each point at a random time of the hour."""
    rng = random.Random(seed)
    pool = series_pool(SERIES, rng)
    now = time.time()
    lo = now - 3600
    counters = [rng.randrange(1_000_000) for _ in pool]
    bodies: list[bytes] = []
    counts: list[int] = []
    for start in range(0, points, batch):
        chunk = []
        for k in range(start, min(start + batch, points)):
            if ordered:
                t = min(now, lo + 3600 * k / points + rng.uniform(0, 5))
            else:
                t = rng.uniform(lo, now)
            i = rng.randrange(len(pool))
            name, labels, counter = pool[i]
            if counter:
                counters[i] += rng.randrange(1, 50)
                value: float = counters[i]
            else:
                value = round(rng.lognormvariate(3, 1.5), rng.choice((0, 3, 9)))
            chunk.append(
                {
                    "namespace": "app",
                    "name": name,
                    "labels": labels,
                    "value": value,
                    "timestamp": timestamp(t, rng.randrange(3)),
                }
            )
        bodies.append(orjson.dumps(chunk))
        counts.append(len(chunk))
    return Dataset(
        bodies=bodies,
        counts=counts,
        points=points,
        series=len(pool),
        size=sum(map(len, bodies)),
        min_day=dt.datetime.fromtimestamp(lo, dt.UTC).date(),
        max_day=dt.datetime.fromtimestamp(now, dt.UTC).date(),
    )


def copy_batches(counts: list[int], max_rows: int) -> list[list[int]]:
    """Indices of the bodies each COPY takes: whole requests until ``max_rows``, as the
    batcher's ``_gather`` does when requests are waiting."""
    out: list[list[int]] = []
    cur: list[int] = []
    rows = 0
    for i, n in enumerate(counts):
        cur.append(i)
        rows += n
        if rows >= max_rows:
            out.append(cur)
            cur, rows = [], 0
    if cur:
        out.append(cur)
    return out


# ---------------------------------------------------------------- server
def effective_settings() -> Settings:
    """The settings the server will run with: defaults plus this process's HEARTH_* env."""
    try:
        return Settings.from_env()
    except Exception as exc:
        raise BenchError(f"bad HEARTH_* environment: {exc}") from None


@contextmanager
def server_workers(workers: int) -> Iterator[None]:
    """``hearth_server`` starts ``hearth serve`` without --workers (and drops HEARTH_WORKERS):
    put a wrapper adding it in the module's HEARTH for a while."""
    if workers <= 1:
        yield
        return
    real = auth_bench.HEARTH
    with tempfile.TemporaryDirectory(prefix="hearth-wrap-") as tmp:
        wrapper = Path(tmp) / "hearth"
        wrapper.write_text(
            "#!/bin/sh\n"
            f'if [ "$1" = serve ]; then exec "{real}" "$@" --workers {workers}; fi\n'
            f'exec "{real}" "$@"\n'
        )
        wrapper.chmod(0o755)
        auth_bench.HEARTH = wrapper
        try:
            yield
        finally:
            auth_bench.HEARTH = real


def pg_url(server: Server) -> str:
    pw = (server.data_dir / "pg.password").read_text().strip()
    from urllib.parse import quote

    return (
        f"postgresql://hearth:{quote(pw, safe='')}@127.0.0.1:{server.env['HEARTH_PG_PORT']}/hearth"
    )


async def make_tables(conn: asyncpg.Connection, data: Dataset) -> None:
    """bench_points and py_points: metric_points' columns, day partitions and index."""
    for table in ("bench_points", "py_points"):
        await conn.execute(f"DROP TABLE IF EXISTS {table}")
        await conn.execute(
            f"CREATE TABLE {table} (LIKE metric_points INCLUDING ALL) PARTITION BY RANGE (time)"
        )
        day = data.min_day
        while day <= data.max_day:
            nxt = day + dt.timedelta(days=1)
            await conn.execute(
                f"CREATE TABLE {table}_{day:%Y%m%d} PARTITION OF {table}"
                f" FOR VALUES FROM ('{day.isoformat()}') TO ('{nxt.isoformat()}')"
            )
            day = nxt
        idx = await conn.fetchval(
            "SELECT count(*) FROM pg_indexes WHERE tablename = $1 AND indexdef LIKE "
            "'%(series_id, \"time\")%'",
            table,
        )
        if not idx:
            raise BenchError(f"{table} did not get the (series_id, time) index")


async def count_rows(conn: asyncpg.Connection, table: str) -> int:
    return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))


# ---------------------------------------------------------------- CPU accounting
def _stat(pid: int) -> tuple[int, int, int] | None:
    """(ppid, utime + stime, cutime + cstime) in ticks: a process (all its threads) and its
    reaped children."""
    try:
        rest = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(rest[1]), int(rest[11]) + int(rest[12]), int(rest[13]) + int(rest[14])


def _tree(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and (st := _stat(int(d.name))) is not None:
            parents[int(d.name)] = st[0]
    out, frontier = {root}, [root]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parents.items() if pp == p and c not in out]
        out.update(kids)
        frontier.extend(kids)
    return out


def _pid_file(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


class CpuMeter:
    """CPU seconds of the server (and its worker processes), its PostgreSQL and Redis, and
    this process, between ``start()`` and ``stop()`` — read from /proc, so nearly free."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.before: dict[str, dict[int, int]] = {}
        self.seconds: dict[str, float] = {}

    def _groups(self) -> dict[str, set[int]]:
        pg = _pid_file(self.server.data_dir / "pg" / "postmaster.pid")
        redis = _pid_file(self.server.data_dir / "redis" / "redis.pid")
        pg_set = _tree(pg) if pg else set()
        redis_set = {redis} if redis else set()
        server_set = _tree(self.server.proc.pid) - pg_set - redis_set
        return {
            "server": server_set,
            "postgres": pg_set,
            "redis": redis_set,
            "bench client": {os.getpid()},
        }

    def _sample(self) -> dict[str, dict[int, int]]:
        """Per group: pid -> own ticks, and -1 -> ticks of the group's reaped children (a
        connection's backend that exits before ``stop()`` is counted there)."""
        out: dict[str, dict[int, int]] = {}
        for name, pids in self._groups().items():
            stats = {p: st for p in pids if (st := _stat(p)) is not None}
            out[name] = {p: st[1] for p, st in stats.items()}
            out[name][-1] = sum(st[2] for st in stats.values())
        return out

    def start(self) -> None:
        self.before = self._sample()

    def stop(self) -> dict[str, float]:
        after = self._sample()
        self.seconds = {}
        for name, ticks in after.items():
            before = self.before.get(name, {})
            live = sum(t - before.get(p, 0) for p, t in ticks.items())
            gone = sum(t for p, t in before.items() if p not in ticks)
            self.seconds[name] = (live - gone) / CLK_TCK
        return self.seconds


# ---------------------------------------------------------------- wait events
class WaitSampler:
    """What the database's client backends are doing, sampled from pg_stat_activity every
    10 ms on a connection of its own: CPU (no wait event), lock waits, WAL I/O, ..."""

    QUERY = """
        SELECT coalesce(wait_event_type || ':' || wait_event, 'on CPU') AS w
        FROM pg_stat_activity
        WHERE state = 'active' AND backend_type = 'client backend' AND pid <> pg_backend_pid()
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.counts: Counter[str] = Counter()
        self.samples = 0
        self._task: asyncio.Task[None] | None = None
        self._conn: asyncpg.Connection | None = None

    async def __aenter__(self) -> WaitSampler:
        self._conn = await asyncpg.connect(self.url)
        self._task = asyncio.create_task(self._loop(self._conn))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn is not None:
            await self._conn.close()

    async def _loop(self, conn: asyncpg.Connection) -> None:
        while True:
            for r in await conn.fetch(self.QUERY):
                self.counts[r["w"]] += 1
            self.samples += 1
            await asyncio.sleep(0.01)

    def share(self, n: int = 5) -> list[tuple[str, float]]:
        """Top wait states as backends busy in that state on average (a sample's count / all
        samples): 1.0 = one backend in that state all the time."""
        return (
            [(w, c / self.samples) for w, c in self.counts.most_common(n)] if self.samples else []
        )


def waits_text(waits: list[tuple[str, float]]) -> str:
    return ", ".join(f"{w} {v:.2f}" for w, v in waits) or "—"


# ---------------------------------------------------------------- py-spy
class Profiler:
    """``py-spy record --format raw`` on the server for the duration of a block."""

    def __init__(self, out: Path, workers: int) -> None:
        self.out = out
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, pid: int) -> None:
        cmd = [
            str(auth_bench.VENV_BIN / "py-spy"),
            "record",
            "--pid",
            str(pid),
            "--rate",
            "200",
            "--format",
            "raw",
            "--threads",
            "--nonblocking",
            "-o",
            str(self.out),
        ]
        if self.workers > 1:
            cmd.append("--subprocesses")
        say(f"py-spy sampling pid {pid} into {self.out}")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(1.0)  # let it attach before the timed run starts

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        if not self.out.exists():
            say(f"py-spy wrote nothing: {err.decode(errors='replace')[-1000:]}")

    def top(self, n: int = 12) -> dict[str, Any]:
        """Samples by kind, top leaf frames and top project frames (inclusive)."""
        kinds: Counter[str] = Counter()
        leaf: Counter[str] = Counter()
        incl: Counter[str] = Counter()
        total = 0
        try:
            lines = self.out.read_text().splitlines()
        except OSError:
            return {"total": 0}
        for line in lines:
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            c = int(count)
            frames = [f for f in stack.split(";") if not f.startswith(("thread (", "process "))]
            if not frames:
                continue
            total += c
            kind = next((k for p, k in LEAF_KINDS if frames[-1].startswith(p)), "Python code")
            kinds[kind] += c
            if kind != LEAF_KINDS[-1][1]:
                leaf[frames[-1]] += c
            for f in set(frames):
                loc = f.split(" (", 1)[1] if " (" in f else ""
                if loc.startswith(PROJECT) and not loc.startswith(("api/cli.py", "api/server.py")):
                    incl[f] += c
        return {
            "total": total,
            "kinds": kinds.most_common(),
            "leaf": leaf.most_common(n),
            "incl": incl.most_common(n),
        }


PROJECT = ("api/", "ingest/", "hearth_core/")
# py-spy sees a thread as busy unless the OS says it sleeps; these leaves are mostly waiting.
LEAF_KINDS = (
    ("_WorkItem.run (", "native call in a to_thread worker (decode_points, GIL released)"),
    ("encode.<locals>.both (", "native call in a to_thread worker (encode_copy/encode_rollups)"),
    ("run_app (", "event loop in C: uvloop, HTTP parsing, socket I/O, polling"),
    ("_worker (", "thread-pool worker waiting for work"),
)


# ---------------------------------------------------------------- (2) end to end
@dataclass
class Outcome:
    path: str
    points: int
    seconds: float
    detail: str = ""
    problem: str = ""
    cpu: dict[str, float] = field(default_factory=dict)
    waits: list[tuple[str, float]] = field(default_factory=list)
    rounds: list[float] = field(default_factory=list)  # points/s of every round
    copies: int = 0  # (2): transactions committed
    steps: dict[str, float] = field(default_factory=dict)  # (2b): busy s per statement

    @property
    def rate(self) -> float:
        return self.points / self.seconds if self.seconds else 0.0

    @property
    def cores(self) -> float:
        """CPU seconds of everything measured (server, PostgreSQL, Redis, bench) per second."""
        return sum(self.cpu.values()) / self.seconds if self.seconds else 0.0


async def send_all(
    server: Server, token: str, bodies: list[bytes], counts: list[int], senders: int
) -> tuple[float, list[str]]:
    """POST every body from ``senders`` concurrent senders; (seconds, problems)."""
    url = f"{server.base}/v1/metrics/bulk"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    problems: list[str] = []
    next_index = iter(range(len(bodies)))
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=300)
    connector = aiohttp.TCPConnector(limit=senders, force_close=False)

    async def sender(session: aiohttp.ClientSession) -> None:
        for i in next_index:
            async with session.post(url, data=bodies[i], headers=headers) as resp:
                raw = await resp.read()
                if resp.status != 200:
                    problems.append(f"batch {i}: HTTP {resp.status} {raw[:300]!r}")
                    continue
                accepted = orjson.loads(raw).get("accepted")
                if accepted != counts[i]:
                    problems.append(f"batch {i}: accepted {accepted} of {counts[i]}")

    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        t0 = time.perf_counter()
        await asyncio.gather(*(sender(session) for _ in range(senders)))
        seconds = time.perf_counter() - t0
    return seconds, problems


# ---------------------------------------------------------------- (1) raw COPY
def pre_encode(data: Dataset, ids: dict[int, int]) -> tuple[list[bytes], list[bytes]]:
    """(points, minute rollups) COPY tuples of each body, by the native core (not timed)."""
    now_us = time.time_ns() // 1000
    tuples: list[bytes] = []
    rollups: list[bytes] = []
    for body in data.bodies:
        batch = decode_points(
            body,
            "json",
            now_us=now_us,
            min_time_us=now_us - 30 * 86_400_000_000,
            max_time_us=now_us + 86_400_000_000,
        )
        if batch.rejected:
            raise BenchError(f"the native decoder rejected points: {batch.rejected[:3]}")
        tuples.append(batch.encode_copy(ids))
        rollups.append(batch.encode_rollups(ids, 60))
    return tuples, rollups


def streams(parts: list[bytes], batches: list[list[int]]) -> list[bytes]:
    """One complete binary COPY stream per batch of bodies."""
    return [COPY_HEADER + b"".join(parts[i] for i in b) + COPY_TRAILER for b in batches]


async def raw_copy(url: str, copies: list[bytes], writers: int) -> float:
    pending = iter(copies)

    async def writer(conn: asyncpg.Connection) -> None:
        for stream in pending:  # autocommit: one transaction per COPY, like the batcher
            await conn.copy_to_table(
                "bench_points", source=memoryview(stream), columns=COLUMNS, format="binary"
            )

    conns = [await asyncpg.connect(url) for _ in range(writers)]
    try:
        t0 = time.perf_counter()
        await asyncio.gather(*(writer(c) for c in conns))
        return time.perf_counter() - t0
    finally:
        for c in conns:
            await c.close()


@dataclass
class Replay:
    seconds: float
    steps: dict[str, float]  # busy seconds per statement, summed over the connections


async def replay_batcher(
    url: str, points: list[bytes], rollups: list[bytes], writers: int
) -> Replay:
    """``Batcher._write``'s statements (imported, not copied) on pre-encoded streams, each
    step timed: what the database costs end to end, without HTTP, decode or the event loop."""
    steps: Counter[str] = Counter()
    pending = iter(zip(points, rollups, strict=True))

    async def writer(conn: asyncpg.Connection) -> None:
        for pts, rus in pending:
            t = time.perf_counter()

            def lap(step: str) -> None:
                nonlocal t
                now = time.perf_counter()
                steps[step] += now - t
                t = now

            async with conn.transaction():
                await conn.copy_to_table(
                    "metric_points", source=memoryview(pts), columns=COLUMNS, format="binary"
                )
                lap("COPY points")
                await conn.copy_to_table(
                    "metric_rollup_pending", source=memoryview(rus), format="binary"
                )
                lap("COPY rollup aggregates")
            lap("commit")

    conns = [await asyncpg.connect(url) for _ in range(writers)]
    try:
        t0 = time.perf_counter()
        await asyncio.gather(*(writer(c) for c in conns))
        elapsed = time.perf_counter() - t0
        # What the server's merger then does off the acknowledged path, timed on its own.
        t = time.perf_counter()
        await conns[0].fetchval(MERGE_PENDING, 10**9)
        steps["merge into rollups (after ack)"] += time.perf_counter() - t
        return Replay(elapsed, dict(steps))
    finally:
        for c in conns:
            await c.close()


# ---------------------------------------------------------------- (3) pure Python
NAME_RE = re.compile(r"[A-Za-z_:][A-Za-z0-9_:.]*")
LABEL_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SeriesKey = tuple[str, str, tuple[tuple[str, str], ...]]


class PointError(ValueError):
    pass


def py_point(
    p: Any, ids: dict[SeriesKey, int], now: dt.datetime, lo: dt.datetime, hi: dt.datetime
) -> tuple[int, dt.datetime, float]:
    """What a careful Python handler does per point: the native core's rules."""
    if not isinstance(p, dict):
        raise PointError("not an object")
    ns, name = p.get("namespace"), p.get("name")
    for what, s in (("namespace", ns), ("name", name)):
        if not isinstance(s, str) or not 0 < len(s) <= 200 or not NAME_RE.fullmatch(s):
            raise PointError(f"{what}: invalid")
    labels = p.get("labels") or {}
    if not isinstance(labels, dict) or len(labels) > 64:
        raise PointError("labels: must be an object of at most 64")
    for k, v in labels.items():
        if len(k) > 128 or not LABEL_RE.fullmatch(k):
            raise PointError(f"labels.{k}: invalid key")
        if not isinstance(v, str) or len(v) > 1024:
            raise PointError(f"labels.{k}: must be a string")
    value = p.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PointError("value: must be a finite number")
    ts = p.get("timestamp")
    if ts is None:
        when = now
    elif isinstance(ts, str):
        when = dt.datetime.fromisoformat(ts)
        if when.tzinfo is None:
            raise PointError("timestamp: no offset")
    elif isinstance(ts, int | float) and not isinstance(ts, bool):
        when = dt.datetime.fromtimestamp(ts / 1000 if abs(ts) >= 1e11 else ts, dt.UTC)
    else:
        raise PointError("timestamp: invalid")
    if not lo <= when <= hi:
        raise PointError("timestamp outside the accepted window")
    key = (ns, name, tuple(sorted(labels.items())))
    return ids[key], when, float(value)


async def python_path(
    url: str, data: Dataset, ids: dict[SeriesKey, int], max_rows: int, writers: int
) -> float:
    """Parse + validate in the event loop, COPY records over ``writers`` connections while
    the next batch is parsed (a bounded queue between them)."""
    queue: asyncio.Queue[list[tuple[int, dt.datetime, float]] | None] = asyncio.Queue(writers)

    async def writer(conn: asyncpg.Connection) -> None:
        while (records := await queue.get()) is not None:
            await conn.copy_records_to_table("py_points", records=records, columns=COLUMNS)

    conns = [await asyncpg.connect(url) for _ in range(writers)]
    try:
        t0 = time.perf_counter()
        tasks = [asyncio.create_task(writer(c)) for c in conns]
        now = dt.datetime.now(dt.UTC)
        lo, hi = now - dt.timedelta(days=30), now + dt.timedelta(days=1)
        records: list[tuple[int, dt.datetime, float]] = []
        for body in data.bodies:
            records.extend(py_point(p, ids, now, lo, hi) for p in orjson.loads(body))
            if len(records) >= max_rows:
                await queue.put(records)
                records = []
        if records:
            await queue.put(records)
        for _ in tasks:
            await queue.put(None)
        await asyncio.gather(*tasks)
        return time.perf_counter() - t0
    finally:
        for c in conns:
            await c.close()


# ---------------------------------------------------------------- the run
async def warm_up(
    server: Server, token: str, data: Dataset, senders: int, admin: asyncpg.Connection
) -> float:
    """The first bodies through the endpoint: every series gets created (steady state)."""
    warm = 0
    while warm < len(data.bodies) and sum(data.counts[:warm]) < WARMUP_POINTS:
        warm += 1
    say(
        f"(2) warm-up: {sum(data.counts[:warm]):,} points through the endpoint, {senders} sender(s)"
    )
    secs, problems = await send_all(server, token, data.bodies[:warm], data.counts[:warm], senders)
    if problems:
        raise BenchError(
            "warm-up failed:\n"
            + "\n".join(problems[:5])
            + f"\n--- server log tail ---\n{server.log_tail()}"
        )
    return secs


def median_outcome(runs: list[Outcome]) -> Outcome:
    """The median round (its CPU and wait figures too), with every round's rate and any
    round's problem."""
    ordered = sorted(runs, key=lambda r: r.seconds)
    mid = ordered[(len(ordered) - 1) // 2]
    mid.rounds = [r.rate for r in runs]
    mid.problem = next((r.problem for r in runs if r.problem), "")
    return mid


async def run_paths(
    server: Server,
    token: str,
    data: Dataset,
    args: argparse.Namespace,
    settings: Settings,
    facts: dict[str, Any],
) -> list[Outcome]:
    url = pg_url(server)
    writers, max_rows = settings.metrics_writers, settings.metrics_batch_rows
    facts["max_rows"] = max_rows
    meter = CpuMeter(server)
    runs: dict[str, list[Outcome]] = {p: [] for p in LABELS}
    admin = await asyncpg.connect(url)

    async def fresh(*tables: str) -> None:
        await admin.execute(f"TRUNCATE {', '.join(tables)}")
        await admin.execute("CHECKPOINT")

    async def check(out: Outcome, table: str) -> Outcome:
        if not out.problem and (n := await count_rows(admin, table)) != data.points:
            out.problem = f"{table} holds {n:,} rows, expected {data.points:,}"
        say(f"    {out.rate:,.0f} points/s ({out.seconds:.2f} s)")
        if out.problem:
            say(f"!!! {LABELS[out.path]}: {out.problem}")
        runs[out.path].append(out)
        return out

    try:
        facts["pg_version"] = await admin.fetchval("SHOW server_version")
        await make_tables(admin, data)
        facts["warmup_s"] = await warm_up(server, token, data, args.warmup_senders, admin)
        tuples: list[bytes] = []
        rollups: list[bytes] = []
        raw_streams: list[bytes] = []
        replay_points: list[bytes] = []
        replay_rollups: list[bytes] = []
        py_ids: dict[SeriesKey, int] = {}
        for rnd in range(1, args.rounds + 1):
            tag = f"[round {rnd}/{args.rounds}]"

            # (2) end to end
            await fresh(
                "metric_points", "metric_rollup_1m", "metric_rollup_1h", "metric_rollup_pending"
            )
            say(f"{tag} (2) end to end: {data.points:,} points, {args.senders} senders")
            profiler = Profiler(args.py_spy, settings.workers) if args.py_spy and rnd == 1 else None
            if profiler:
                profiler.start(server.proc.pid)
            meter.start()
            try:
                async with WaitSampler(url) as waits:
                    secs, problems = await send_all(
                        server, token, data.bodies, data.counts, args.senders
                    )
            finally:
                cpu = meter.stop()
                if profiler:
                    profiler.stop()
                    facts["profile"] = profiler.top()
                    facts["profile_path"] = str(args.py_spy)
            copies = int(
                await admin.fetchval("SELECT count(DISTINCT xmin::text) FROM metric_points")
            )
            e2e = Outcome("e2e", data.points, secs, cpu=cpu, waits=waits.share())
            e2e.copies = copies
            if problems:
                e2e.problem = f"{len(problems)} bad answers, e.g. {problems[0]}"
            await check(e2e, "metric_points")

            if rnd == 1:
                # Pre-encode once (not timed), with the series ids the server assigned.
                say("(1) pre-encoding every row with the native core (not timed)")
                hash_ids = {
                    r["hash"]: r["series_id"]
                    for r in await admin.fetch("SELECT hash, series_id FROM metric_series")
                }
                tuples, rollups = pre_encode(data, hash_ids)
                raw_streams = streams(tuples, copy_batches(data.counts, max_rows))
                size = max(1, round(data.points / max(copies, 1)))
                batches = copy_batches(data.counts, size)
                replay_points, replay_rollups = streams(tuples, batches), streams(rollups, batches)
                facts["raw_copies"] = len(raw_streams)
                facts["replay_size"] = size
                facts["replay_copies"] = len(batches)
                for r in await admin.fetch(
                    "SELECT series_id, namespace, name, labels::text AS labels FROM metric_series"
                ):
                    key = (
                        r["namespace"],
                        r["name"],
                        tuple(sorted(json.loads(r["labels"]).items())),
                    )
                    py_ids[key] = r["series_id"]

            # (1) raw COPY
            await fresh("bench_points")
            say(
                f"{tag} (1) raw COPY: {len(raw_streams)} COPYs of ≤ {max_rows:,} rows over "
                f"{writers} connections"
            )
            meter.start()
            async with WaitSampler(url) as waits:
                secs = await raw_copy(url, raw_streams, writers)
            await check(
                Outcome("raw", data.points, secs, cpu=meter.stop(), waits=waits.share()),
                "bench_points",
            )

            # (2b) diagnosis: the batcher's transactions alone, at the batch size (2) produced.
            await fresh(
                "metric_points", "metric_rollup_1m", "metric_rollup_1h", "metric_rollup_pending"
            )
            say(
                f"{tag} (2b) the batcher's transactions replayed: {len(replay_points)} of "
                f"≈ {facts['replay_size']:,} rows, {writers} connections"
            )
            meter.start()
            async with WaitSampler(url) as waits:
                rep = await replay_batcher(url, replay_points, replay_rollups, writers)
            replay = Outcome(
                "replay", data.points, rep.seconds, cpu=meter.stop(), waits=waits.share()
            )
            replay.steps = rep.steps
            await check(replay, "metric_points")

            # (3) pure Python, ids pre-resolved (no upsert penalty).
            await fresh("py_points")
            say(f"{tag} (3) pure Python: orjson, validation, copy_records_to_table")
            meter.start()
            secs = await python_path(url, data, py_ids, max_rows, writers)
            await check(Outcome("python", data.points, secs, cpu=meter.stop()), "py_points")
        await admin.execute("DROP TABLE IF EXISTS bench_points, py_points")
    finally:
        await admin.close()
    results = [median_outcome(runs[p]) for p in ("raw", "e2e", "replay", "python")]
    e2e = results[1]
    facts["e2e_copies"] = e2e.copies
    facts["replay_steps"] = results[2].steps
    for r in results:
        r.detail = {
            "raw": f"{facts['raw_copies']} COPYs ≤ {max_rows:,} rows, {writers} connections",
            "e2e": f"{e2e.copies} COPY transactions, ≈ {data.points / max(e2e.copies, 1):,.0f} "
            "rows each",
            "replay": f"{facts['replay_copies']} transactions ≈ {facts['replay_size']:,} rows, "
            f"{writers} connections",
            "python": f"COPYs ≤ {max_rows:,} records, {writers} connections",
        }[r.path]
    return results


# ---------------------------------------------------------------- report
HEADER = [
    "path",
    "points",
    "seconds",
    "points/s",
    "x raw COPY",
    "x Python",
    "cores busy",
    "rounds: points/s",
]


def spread(rates: list[float]) -> str:
    return " / ".join(f"{r / 1000:,.0f}k" for r in rates)


def ratios(results: list[Outcome]) -> tuple[dict[str, float], dict[str, float]]:
    by = {r.path: r.rate for r in results}
    return (
        {p: by[p] / by["raw"] if by.get("raw") else 0.0 for p in by},
        {p: by[p] / by["python"] if by.get("python") else 0.0 for p in by},
    )


def table_rows(results: list[Outcome]) -> list[list[str]]:
    vs_raw, vs_py = ratios(results)
    return [
        [
            LABELS[r.path] + (f" !! {r.problem}" if r.problem else ""),
            f"{r.points:,}",
            f"{r.seconds:.2f}",
            f"{r.rate:,.0f}",
            f"{vs_raw[r.path]:.2f}",
            f"{vs_py[r.path]:.2f}",
            f"{r.cores:.2f}",
            spread(r.rounds),
        ]
        for r in results
    ]


def verdicts(results: list[Outcome]) -> list[tuple[str, bool]]:
    vs_raw, vs_py = ratios(results)
    e2e = next(r for r in results if r.path == "e2e")
    return [
        (
            f"end to end ≥ {AIM_VS_RAW:g} x raw COPY (aim): {vs_raw['e2e']:.2f}x",
            vs_raw["e2e"] >= AIM_VS_RAW,
        ),
        (
            f"end to end ≥ {AIM_VS_PY:g} x pure Python (aim): {vs_py['e2e']:.2f}x",
            vs_py["e2e"] >= AIM_VS_PY,
        ),
        (
            f"end to end > {SPEC_POINTS_S:,} points/s (spec): {e2e.rate:,.0f}",
            e2e.rate > SPEC_POINTS_S,
        ),
    ]


def cpu_rows(cpu: dict[str, float], seconds: float) -> list[list[str]]:
    total = sum(cpu.values())
    rows = [
        [
            name,
            f"{s:.2f}",
            f"{s / seconds:.2f}" if seconds else "—",
            f"{s / total:.0%}" if total else "—",
        ]
        for name, s in cpu.items()
    ]
    cores = os.cpu_count() or 1
    rows.append(
        ["all", f"{total:.2f}", f"{total / seconds:.2f} of {cores}" if seconds else "—", "100%"]
    )
    return rows


CPU_HEADER = ["during (2)", "CPU s", "cores busy", "share"]
WAIT_HEADER = ["path", "client backends by state (mean number active in it)"]


def wait_rows(results: list[Outcome]) -> list[list[str]]:
    return [[LABELS[r.path], waits_text(r.waits)] for r in results if r.waits]


STEP_HEADER = ["(2b) statement", "busy s", "share", "µs / point"]


def step_rows(steps: dict[str, float], points: int) -> list[list[str]]:
    total = sum(steps.values())
    return [
        [name, f"{s:.2f}", f"{s / total:.0%}" if total else "—", f"{s / points * 1e6:.2f}"]
        for name, s in steps.items()
    ]


def settings_line(settings: Settings) -> str:
    return (
        f"workers {settings.workers}, HEARTH_METRICS_WRITERS={settings.metrics_writers}, "
        f"HEARTH_METRICS_BATCH_ROWS={settings.metrics_batch_rows:,}, "
        f"HEARTH_METRICS_BATCH_DELAY_MS={settings.metrics_batch_delay_ms:g}"
    )


def profile_lines(facts: dict[str, Any]) -> list[str]:
    prof = facts.get("profile") or {}
    total = prof.get("total", 0)
    if not total:
        return []
    out = [
        f"py-spy --threads --nonblocking, {total:,} samples of the server's non-sleeping "
        f"threads during (2) ({facts['profile_path']}):",
        "  by leaf kind:",
    ]
    out += [f"    {c / total:6.1%}  {k}" for k, c in prof["kinds"]]
    out += ["  top leaf frames (not counting the thread-pool wait):"]
    out += [f"    {c / total:6.1%}  {f}" for f, c in prof["leaf"]]
    out += ["  top project frames (inclusive):"]
    out += [f"    {c / total:6.1%}  {f}" for f, c in prof["incl"]]
    return out


NOTES_MARK = (
    "<!-- notes: everything below this line is written by hand and kept when the bench "
    "rewrites this file -->"
)


def kept_notes() -> str:
    try:
        text = RESULTS_MD.read_text()
    except OSError:
        return ""
    return text.split(NOTES_MARK, 1)[1].strip("\n") + "\n" if NOTES_MARK in text else ""


def diagnosis(results: list[Outcome], facts: dict[str, Any]) -> list[str]:
    """Where the end-to-end time goes, from this run's figures."""
    by = {r.path: r for r in results}
    e2e, raw, replay = by["e2e"], by["raw"], by["replay"]
    steps = facts.get("replay_steps", {})
    busy = sum(steps.values()) or 1.0
    rollup = sum(v for k, v in steps.items() if k != "COPY points" and k != "commit")
    server = e2e.cpu.get("server", 0.0)
    pg = e2e.cpu.get("postgres", 0.0)
    return [
        "## Where the time goes (this run)",
        "",
        f"- The server process used {server:.2f} CPU s for {e2e.points:,} points "
        f"({server / e2e.points * 1e6:.2f} µs/point: HTTP, native decode and encode, series "
        f"lookup, batching), PostgreSQL {pg:.2f} s; {e2e.cores:.2f} of "
        f"{os.cpu_count()} cores were busy during (2), {raw.cores:.2f} during (1).",
        f"- The batcher's SQL alone (2b) ran at {replay.rate:,.0f} points/s, "
        f"{replay.rate / e2e.rate:.2f}x end to end: "
        + (
            "the server's own work is not the bottleneck, the database transaction is."
            if replay.rate < 1.25 * e2e.rate
            else "the server adds a significant share on top of the database."
        ),
        f"- In (2b) the rollups (stage COPY and the two merges) took {rollup / busy:.0%} of "
        f"the busy time, the points COPY {steps.get('COPY points', 0) / busy:.0%}; (2) "
        f"committed {facts.get('e2e_copies', 0)} transactions of ≈ "
        f"{e2e.points / max(facts.get('e2e_copies', 1), 1):,.0f} rows where (1) COPYs "
        f"{facts.get('raw_copies', 0)} of up to {facts.get('max_rows', 0):,}.",
        "",
    ]


def write_markdown(
    results: list[Outcome],
    info: dict[str, str],
    args: argparse.Namespace,
    settings: Settings,
    data: Dataset,
    when: str,
    facts: dict[str, Any],
    chart: bool,
) -> None:
    e2e = next(r for r in results if r.path == "e2e")
    lines = ["# Metrics ingestion benchmark", ""]
    if any(r.problem for r in results):
        lines += [
            "> **⚠ THIS RUN FAILED A CHECK** (see the table); its numbers are not trustworthy.",
            "",
        ]
    lines += [
        f"Generated by `bench/ingest/run.py --points {args.points} --senders {args.senders} "
        f"--batch {args.batch}` on {when}.",
        "",
        f"- Machine: {info['cores']} cores ({info['cpu']}), {info['kernel']}; Python "
        f"{info['python']}, aiohttp {info['aiohttp']}, asyncpg {asyncpg.__version__}, "
        f"PostgreSQL {facts.get('pg_version', '?')} (embedded, durable: fsync and "
        "synchronous_commit on). **The bench client, the server and PostgreSQL share these "
        "cores**, so the figures compare paths; they are not a capacity figure. Load average "
        f"(1 min) {facts.get('load_before', 0):.2f} before the run, "
        f"{facts.get('load_after', 0):.2f} after it (above ≈ 0.5 before, something else was "
        "using the cores).",
        f"- Server: `hearth serve`, {settings_line(settings)}, `HEARTH_LOG_LEVEL=WARNING`.",
        f"- Data: {data.points:,} points of {data.series:,} series (namespace `app`, 16 metric "
        "names, 3 to 5 labels: host, region, service, and method/code or instance), timestamps "
        "within the last hour (a third each RFC 3339 with µs, epoch ms, fractional epoch s), "
        f"as {len(data.bodies)} JSON arrays of {args.batch:,} points "
        f"({data.size / len(data.bodies) / 1e6:.1f} MB each, {data.size / 1e6:.0f} MB in all), "
        "serialised before any timing. The same points go through all three paths.",
        "",
        "Paths:",
        "",
        "1. **raw binary COPY** — the physical limit: every row pre-encoded by the native core "
        "(`decode_points` + `encode_copy`, series ids as the server assigned them) outside the "
        "timing, then `copy_to_table(format='binary')` into `bench_points` (metric_points' "
        "columns, day partitions and `(series_id, time)` index) in COPYs of whole requests up "
        f"to {settings.metrics_batch_rows:,} rows over {settings.metrics_writers} connections, "
        "one transaction each, like the batcher. No rollups.",
        f"2. **end to end** — {args.senders} concurrent aiohttp senders POST the bodies to "
        "`/v1/metrics/bulk` (bearer token, all-or-nothing); timed from the first send to the "
        "last acknowledgement (acknowledged = committed). Every answer was checked (200, "
        "`accepted` = batch size) and `count(*)` of metric_points = points afterwards. It "
        "includes HTTP, native decode and validation, series lookup, COPY encoding, the "
        "coalesced COPY, the rollup COPY and the two rollup merges. A warm-up of "
        f"{WARMUP_POINTS:,} points before it (all series created: steady state; "
        f"{facts.get('warmup_s', 0):.2f} s) was truncated away. "
        f"Observed: {e2e.detail}.",
        "3. **pure Python** — in the bench process: `orjson.loads` of the same bodies, each "
        "point validated in Python (types, finite value, name and label rules, timestamp "
        "parsed and windowed), series key = tuple of namespace, name and sorted labels looked "
        "up in a dict pre-filled from metric_series (no upsert penalty), records "
        "`(series_id, datetime, float)` COPYed with `copy_records_to_table` into `py_points` "
        f"(same shape) over {settings.metrics_writers} connections while the next batch is "
        "parsed. No HTTP, no rollups.",
        "",
        f"Each path ran {args.rounds} time(s), interleaved ((2), (1), (2b), (3), then again); "
        "the table shows the median round (its seconds, CPU and waits) and every round's "
        "rate. Before each timed run: its table truncated, then `CHECKPOINT`.",
        "",
        *md_table(HEADER, table_rows(results)),
        "",
        "Aims:",
        "",
    ]
    lines += [f"- {text}: **{'met' if ok else 'NOT met'}**" for text, ok in verdicts(results)]
    lines += [
        "",
        f"CPU during (2), from /proc ({e2e.seconds:.2f} s wall):",
        "",
        *md_table(CPU_HEADER, cpu_rows(e2e.cpu, e2e.seconds)),
        "",
    ]
    lines += [
        "What PostgreSQL's client backends were doing (pg_stat_activity sampled every 10 ms; "
        "`on CPU` = no wait event; `Lock:transactionid` = waiting for another transaction's "
        "row lock; `LWLock:WALWrite`/`IO:WALSync` = waiting for the WAL):",
        "",
        *md_table(WAIT_HEADER, wait_rows(results)),
        "",
    ]
    lines += [
        "(2b) replays the transactions (2) committed — same statements as `Batcher._write` "
        "(imported from `ingest.batcher`), same batch size, same number of connections — on "
        "rows pre-encoded by the native core: the database's share of (2), without HTTP, "
        "decoding or the server's event loop. Busy time per statement, summed over the "
        "connections:",
        "",
        *md_table(STEP_HEADER, step_rows(facts.get("replay_steps", {}), e2e.points)),
        "",
    ]
    if prof := profile_lines(facts):
        lines += ["```", *prof, "```", ""]
    if chart:
        lines += ["![points/s of the three paths](ingest.png)", ""]
    lines += diagnosis(results, facts)
    lines += [NOTES_MARK, kept_notes()]
    RESULTS_MD.write_text("\n".join(lines).rstrip() + "\n")


def write_chart(results: list[Outcome], e2e_cpu: dict[str, float], seconds: float) -> bool:
    plt = pyplot()
    if plt is None:
        return False
    vs_raw, vs_py = ratios(results)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.6), gridspec_kw={"width_ratios": [3, 2]})
    colors = {"raw": "#9e9e9e", "e2e": "#1f77b4", "replay": "#aec7e8", "python": "#ff7f0e"}
    bars = ax1.bar(
        [LABELS[r.path].replace(" ", "\n", 1) for r in results],
        [r.rate for r in results],
        color=[colors[r.path] for r in results],
    )
    ax1.bar_label(
        bars,
        [
            f"{r.rate:,.0f}/s\n{vs_raw[r.path]:.2f}x raw, {vs_py[r.path]:.2f}x Python"
            for r in results
        ],
        fontsize=8,
    )
    ax1.axhline(SPEC_POINTS_S, color="red", linestyle=":", linewidth=1, label="spec 20 000/s")
    ax1.set_ylabel("points / s")
    ax1.set_ylim(0, max(r.rate for r in results) * 1.25)
    ax1.set_title("Ingest throughput, same points")
    ax1.legend(fontsize=8, loc="upper right")
    ax1.tick_params(axis="x", labelsize=8)
    names = list(e2e_cpu)
    ax2.bar(names, [e2e_cpu[n] / seconds if seconds else 0 for n in names], color="#2ca02c")
    ax2.axhline(os.cpu_count() or 1, color="black", linestyle="--", linewidth=1, label="cores")
    ax2.set_ylabel("cores busy (CPU s / wall s)")
    ax2.set_title("CPU during end to end")
    ax2.legend(fontsize=8)
    ax2.tick_params(axis="x", labelsize=8)
    fig.savefig(CHART, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return True


# ---------------------------------------------------------------- main
def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    counts = (
        ("--points", 1_000_000, "points in all"),
        ("--senders", 16, "concurrent HTTP senders (16 keeps both cores busy)"),
        ("--batch", 10_000, "points per request"),
        ("--workers", 1, "hearth serve --workers"),
        ("--rounds", 3, "measure every path this many times, interleaved; report the median"),
    )
    for flag, default, text in counts:
        p.add_argument(flag, type=int, default=default, help=f"{text} (default {default})")
    p.add_argument(
        "--random-times",
        action="store_true",
        help="each point at a random time of the hour instead of time-ordered bodies "
        "(as many minute rollups as points: the rollup merge's worst case)",
    )
    p.add_argument(
        "--warmup-senders",
        type=int,
        default=1,
        help="senders of the warm-up, which creates the series (default 1: concurrent "
        "first-sight upserts of overlapping series can deadlock in PostgreSQL, answered 500)",
    )
    p.add_argument(
        "--py-spy",
        type=Path,
        default=None,
        metavar="FILE",
        help="sample the server with py-spy during (2) into FILE (collapsed stacks)",
    )
    p.add_argument("--no-write", action="store_true", help="print only; keep RESULTS.md")
    args = p.parse_args()
    if min(args.points, args.batch, args.senders, args.rounds, args.warmup_senders) < 1:
        p.error("--points, --batch, --senders, --rounds and --warmup-senders must be positive")
    return args


def main() -> int:
    args = parse_args()
    settings = msgspec.structs.replace(effective_settings(), workers=args.workers)
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    say(f"generating {args.points:,} points in batches of {args.batch:,}")
    data = make_points(args.points, args.batch, ordered=not args.random_times)
    say(f"  {len(data.bodies)} bodies, {data.size / 1e6:.0f} MB of JSON")
    facts: dict[str, Any] = {}
    facts["load_before"] = os.getloadavg()[0]
    with server_workers(args.workers), hearth_server() as server:
        say("creating a metrics.write client and taking a client_credentials token")
        token = bearer_token(server, create_client(server, "bench-ingest", "metrics.write"))
        results = asyncio.run(run_paths(server, token, data, args, settings, facts))
        log_tail = server.log_tail()
    facts["load_after"] = os.getloadavg()[0]

    info = machine_info()
    e2e = next(r for r in results if r.path == "e2e")
    sys.stderr.flush()
    print()
    print(
        f"Metrics ingestion — {info['cores']} cores ({info['cpu']}), {when}; "
        f"{settings_line(settings)}; {args.senders} senders x {args.batch:,}-point JSON bodies; "
        f"load average {facts['load_before']:.2f} before, {facts['load_after']:.2f} after"
    )
    print_grid(HEADER, table_rows(results))
    print()
    for text, ok in verdicts(results):
        print(f"{'met    ' if ok else 'NOT MET'}  {text}")
    print()
    print_grid(CPU_HEADER, cpu_rows(e2e.cpu, e2e.seconds))
    print()
    print_grid(WAIT_HEADER, wait_rows(results))
    print()
    print_grid(STEP_HEADER, step_rows(facts.get("replay_steps", {}), e2e.points))
    print(f"(2): {e2e.detail}; (1): {facts.get('raw_copies')} COPYs")
    for line in profile_lines(facts):
        print(line)
    if not args.no_write:
        chart = write_chart(results, e2e.cpu, e2e.seconds)
        write_markdown(results, info, args, settings, data, when, facts, chart)
        by, (vs_raw, vs_py) = {r.path: r for r in results}, ratios(results)
        png = "ingest/ingest.png" if chart else None
        limit = f"raw binary COPY {by['raw'].rate:,.0f} points/s"
        write_results(
            HERE,
            [
                figure(
                    "ingest end to end (POST /v1/metrics/bulk)",
                    round(e2e.rate),
                    "points/s",
                    f"> {SPEC_POINTS_S:,} points/s",
                    e2e.rate > SPEC_POINTS_S and not e2e.problem,
                    headline="ingest",
                    target_value=SPEC_POINTS_S,
                    limit=limit,
                    limit_value=round(by["raw"].rate),
                    chart=png,
                    detail=f"{vs_raw['e2e']:.2f}x raw COPY, {vs_py['e2e']:.2f}x pure Python; "
                    f"{args.senders} senders x {args.batch:,}-point bodies",
                ),
                figure(
                    "ingest end to end ÷ raw COPY",
                    round(vs_raw["e2e"], 3),
                    "x raw COPY",
                    f"aim ≥ {AIM_VS_RAW:g}x",
                    vs_raw["e2e"] >= AIM_VS_RAW,
                    headline="ingest",
                    target_value=AIM_VS_RAW,
                    limit=limit,
                    limit_value=1.0,
                    chart=png,
                ),
                figure(
                    "batcher SQL alone ÷ raw COPY",
                    round(vs_raw["replay"], 3),
                    "x raw COPY",
                    "—",
                    None,
                    limit=limit,
                    limit_value=1.0,
                    detail=f"{by['replay'].rate:,.0f} points/s",
                ),
            ],
        )
        print(f"\nwrote {RESULTS_MD.relative_to(ROOT)}" + (f" and {CHART.name}" if chart else ""))

    report_server_warnings(log_tail)
    failed = [f"!!! {LABELS[r.path]}: {r.problem}" for r in results if r.problem]
    if failed:
        rule = "!" * 72
        failed.append("!!! this run failed a check; its numbers are not trustworthy")
        print("\n".join(["", rule, *failed, rule]), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    run_main(main)
