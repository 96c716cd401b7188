"""Metrics ingestion benchmark: end-to-end POST /v1/metrics/bulk against the physical limit of
the store's write path (the same write-log blocks, pre-encoded, written straight into
``metric_log``) and against a pure-Python implementation, all on the same points in one run.

    .venv/bin/python bench/ingest/run.py [--points 1000000] [--senders 16] [--batch 10000]

Starts ``hearth serve`` (bench.harness: embedded PostgreSQL and Redis, default settings,
``HEARTH_METRICS_*`` taken from the environment), registers a ``metrics.write,metrics.read``
client and takes a client_credentials token. Generates ``--points`` realistic points (2 000
series, 3 to 5 labels, timestamps within the last hour, no two of a series at the same
millisecond: a duplicate would be stored once) as pre-serialised JSON arrays of ``--batch``
points. The acknowledged write is one write-log block per request (encoded in Rust) appended to
``metric_log`` in the batcher's transaction; the compactor folds the blocks into chunks and
hourly rollups afterwards. While a path is timed the bench holds the compactor's advisory lock
(the compactor skips its passes), so each path measures the acknowledged write alone; then it
releases the lock and times the compactor folding that path's samples alone. On the same
points:

1. **raw log write** — the limit: every body pre-encoded outside the timing by the native core
   (``decode_points`` + ``encode_block``, series ids as the server assigned them), then the
   blocks binary-COPYed straight into ``metric_log`` (one row per request) in the batcher's
   batch size (whole requests up to ``HEARTH_METRICS_BATCH_ROWS`` points) over
   ``HEARTH_METRICS_WRITERS`` connections, each COPY its own transaction — no HTTP, no decoding;
2. **end to end** — ``--senders`` concurrent aiohttp senders POST the bodies with the bearer
   token; timed from the first send to the last acknowledgement; every answer must be 200 with
   ``accepted`` equal to the batch size, the log must hold ``--points`` samples, and once
   compacted ``/v1/metrics/query?agg=count`` must count them all. A warm-up (the first 100 000
   points, so every series is known: steady state) runs first and is truncated away;
2b. **batcher SQL alone** — ``repo.append_blocks`` (the batcher's statement) on the
   pre-encoded blocks, in the transaction size (2) produced;
3. **pure Python** — in this process: ``orjson.loads``, per-point validation, series key,
   ids from a dict pre-filled from ``metric_series``, a block per request built in Python
   (samples sorted by series and time, columns packed with ``array``, CRC-32), COPYed into
   ``py_log`` (``metric_log``'s shape) over the same number of connections.

Prints points/s and the ratios, the CPU seconds of the server, PostgreSQL and this process
during (2), the compactor's time for each path's samples, writes ``RESULTS.md``,
``ingest.png`` and ``results.json`` next to this file; progress on stderr. ``--py-spy``
samples the server during (2) and prints its top frames. Exit code 1 when a check fails (wrong
answer, wrong count), 2 on a setup error.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import datetime as dt
import functools
import json
import math
import os
import random
import re
import time
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import orjson

from bench.harness.bulk import send_all
from bench.harness.charts import pyplot
from bench.harness.client import bearer_token, create_client
from bench.harness.log import BenchError, run_main, say
from bench.harness.machine import CpuMeter, cpu_rows, machine_info, machine_line
from bench.harness.metric_names import COUNTERS, GAUGES
from bench.harness.profiler import Profiler, profile_lines
from bench.harness.results import command_line, figure, finish, write_markdown, write_results
from bench.harness.server import Server, hearth_server
from bench.harness.store import stored_count, wait_drained
from bench.harness.tables import md_table, print_grid
from bench.ingest import remote
from hearth_core.metrics import repo
from hearth_core.metrics.codec import decode_points
from hearth_core.settings import Settings

HERE = Path(__file__).resolve().parent

SPEC_POINTS_S = 20_000
AIM_VS_RAW = 0.8
AIM_VS_PY = 3.0
WARMUP_POINTS = 100_000
SERIES = 2_000
LABELS = {
    "raw": "(1) raw log write (limit)",
    "e2e": "(2) end to end, HTTP",
    "replay": "(2b) batcher SQL alone",
    "python": "(3) pure Python",
}
LOG_COLUMNS = ["samples", "min_time", "max_time", "block"]
STORE = ("metric_log", "metric_chunks", "metric_rollup_1h")  # emptied before each path
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
US = dt.timedelta(microseconds=1)


# ---------------------------------------------------------------- data
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
    lo: float  # epoch s: every point is in [lo, hi]
    hi: float


def make_points(points: int, batch: int, *, ordered: bool, seed: int = 1) -> Dataset:
    """Time-ordered (as agents send them: each body covers the next slice of the hour, a few
    seconds of jitter) or, with ``ordered=False``, each point at a random time of the hour.
    No two points of a series are within 2 ms of each other (a later one is moved on by 2 ms):
    whatever the timestamp's form, every point is a distinct sample."""
    rng = random.Random(seed)
    pool = series_pool(SERIES, rng)
    now = time.time()
    lo = now - 3600
    counters = [rng.randrange(1_000_000) for _ in pool]
    used: list[set[int]] = [set() for _ in pool]  # 2-ms slots taken, per series
    bodies: list[bytes] = []
    counts: list[int] = []
    hi = lo
    for start in range(0, points, batch):
        chunk = []
        for k in range(start, min(start + batch, points)):
            if ordered:
                t = min(now, lo + 3600 * k / points + rng.uniform(0, 5))
            else:
                t = rng.uniform(lo, now)
            i = rng.randrange(len(pool))
            while {int(t * 500) - 1, int(t * 500), int(t * 500) + 1} & used[i]:
                t += 0.002
            used[i].add(int(t * 500))
            hi = max(hi, t)
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
        lo=lo,
        hi=hi,
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


async def make_tables(conn: asyncpg.Connection) -> None:
    """py_log: the pure-Python path's write log, metric_log's shape."""
    await conn.execute("DROP TABLE IF EXISTS py_log")
    await conn.execute("CREATE TABLE py_log (LIKE metric_log INCLUDING ALL)")


async def log_samples(conn: asyncpg.Connection, table: str = "metric_log") -> int:
    return int(await conn.fetchval(f"SELECT coalesce(sum(samples), 0) FROM {table}"))


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
    copies: int = 0  # transactions committed
    steps: dict[str, float] = field(default_factory=dict)  # (2b): busy s per statement
    compacted_s: float | None = None  # the compactor alone, on this path's samples

    @property
    def rate(self) -> float:
        return self.points / self.seconds if self.seconds else 0.0

    @property
    def cores(self) -> float:
        """CPU seconds of everything measured (server, PostgreSQL, Redis, bench) per second."""
        return sum(self.cpu.values()) / self.seconds if self.seconds else 0.0


# ---------------------------------------------------------------- (1) raw log write
Block = tuple[int, int, int, bytes]  # (samples, min µs, max µs, block): a metric_log row


def pre_encode(data: Dataset, ids: dict[int, int]) -> list[Block]:
    """The write-log block of each body, as the server makes it (native core, not timed)."""
    now_us = time.time_ns() // 1000
    blocks: list[Block] = []
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
        assert batch.min_time_us is not None and batch.max_time_us is not None
        blocks.append(
            (batch.accepted, batch.min_time_us, batch.max_time_us, batch.encode_block(ids))
        )
    return blocks


def log_records(blocks: list[Block], batch: list[int]) -> list[tuple[int, Any, Any, bytes]]:
    """metric_log rows (the columns LOG_COLUMNS) of the bodies in ``batch``."""
    return [(n, EPOCH + lo * US, EPOCH + hi * US, b) for n, lo, hi, b in (blocks[i] for i in batch)]


async def raw_write(
    url: str, table: str, batches: list[list[tuple[int, Any, Any, bytes]]], writers: int
) -> float:
    """Binary COPY of each batch's rows into ``table`` over ``writers`` connections."""
    pending = iter(batches)

    async def writer(conn: asyncpg.Connection) -> None:
        for rows in pending:  # autocommit: one transaction per COPY, like the batcher
            await conn.copy_records_to_table(table, records=rows, columns=LOG_COLUMNS)

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


async def replay_batcher(url: str, batches: list[list[Block]], writers: int) -> Replay:
    """``Batcher._write``'s statement (``repo.append_blocks``, imported, not copied) on
    pre-encoded blocks, each step timed: what the database costs end to end, without HTTP,
    decode or the event loop."""
    steps: dict[str, float] = defaultdict(float)
    pending = iter(batches)

    async def writer(conn: asyncpg.Connection) -> None:
        for blocks in pending:
            t = time.perf_counter()
            async with conn.transaction():
                await repo.append_blocks(conn, blocks)
                now = time.perf_counter()
                steps["INSERT the blocks (repo.append_blocks)"] += now - t
                t = now
            steps["commit"] += time.perf_counter() - t

    conns = [await asyncpg.connect(url) for _ in range(writers)]
    try:
        t0 = time.perf_counter()
        await asyncio.gather(*(writer(c) for c in conns))
        return Replay(time.perf_counter() - t0, dict(steps))
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


def py_block(records: list[tuple[int, int, float]]) -> tuple[int, Any, Any, bytes]:
    """A write-log row in pure Python: the samples sorted by (series, time), three packed
    columns and a CRC-32 (the native block's content, not its codec)."""
    records.sort(key=lambda r: (r[0], r[1]))
    ids, ts, vs = zip(*records, strict=True)
    body = (
        array.array("i", ids).tobytes()
        + array.array("q", ts).tobytes()
        + array.array("d", vs).tobytes()
    )
    block = len(records).to_bytes(4, "little") + body + zlib.crc32(body).to_bytes(4, "little")
    return len(records), EPOCH + min(ts) * US, EPOCH + max(ts) * US, block


async def python_path(
    url: str, data: Dataset, ids: dict[SeriesKey, int], max_rows: int, writers: int
) -> float:
    """Parse + validate in the event loop, a block per body, COPY the blocks over ``writers``
    connections (whole bodies up to ``max_rows`` points per COPY) while the next body is
    parsed (a bounded queue between them)."""
    queue: asyncio.Queue[list[tuple[int, Any, Any, bytes]] | None] = asyncio.Queue(writers)

    async def writer(conn: asyncpg.Connection) -> None:
        while (rows := await queue.get()) is not None:
            await conn.copy_records_to_table("py_log", records=rows, columns=LOG_COLUMNS)

    conns = [await asyncpg.connect(url) for _ in range(writers)]
    try:
        t0 = time.perf_counter()
        tasks = [asyncio.create_task(writer(c)) for c in conns]
        now = dt.datetime.now(dt.UTC)
        lo, hi = now - dt.timedelta(days=30), now + dt.timedelta(days=1)
        rows: list[tuple[int, Any, Any, bytes]] = []
        samples = 0
        for body in data.bodies:
            records = []
            for p in orjson.loads(body):
                sid, when, value = py_point(p, ids, now, lo, hi)
                records.append((sid, (when - EPOCH) // US, value))
            rows.append(py_block(records))
            samples += len(records)
            if samples >= max_rows:
                await queue.put(rows)
                rows, samples = [], 0
        if rows:
            await queue.put(rows)
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
    url = server.pg_url()
    writers, max_rows = settings.metrics_writers, settings.metrics_batch_rows
    facts["max_rows"] = max_rows
    meter = CpuMeter(server)
    runs: dict[str, list[Outcome]] = {p: [] for p in LABELS}
    admin = await asyncpg.connect(url)

    async def fresh(*tables: str) -> None:
        await admin.execute(f"TRUNCATE {', '.join(tables)}")
        await admin.execute("CHECKPOINT")

    async def compacted(out: Outcome) -> None:
        """The log holds every sample; then the compactor alone folds them (timed), and the
        query API counts them all."""
        out.copies = int(await admin.fetchval("SELECT count(DISTINCT created_at) FROM metric_log"))
        if not out.problem and (n := await log_samples(admin)) != data.points:
            out.problem = f"metric_log holds {n:,} samples, expected {data.points:,}"
        await admin.execute("SELECT pg_advisory_unlock($1)", repo.COMPACT_LOCK)
        try:
            drain = await asyncio.to_thread(wait_drained, server, token, every=0.1)
            out.compacted_s = drain.log_s
            say(f"    compacted by the server's compactor in {drain.log_s:.1f} s")
            n = await asyncio.to_thread(
                functools.partial(
                    stored_count,
                    server,
                    token,
                    namespace="app",
                    names=COUNTERS + GAUGES,
                    group_by="region",  # every series has one
                    start_s=data.lo,
                    end_s=data.hi,
                    step=3600,
                )
            )
            if not out.problem and n != data.points:
                out.problem = f"/v1/metrics/query counts {n:,} samples, expected {data.points:,}"
        finally:
            await admin.execute("SELECT pg_advisory_lock($1)", repo.COMPACT_LOCK)

    async def check(out: Outcome, table: str | None = None) -> Outcome:
        say(f"    {out.rate:,.0f} points/s ({out.seconds:.2f} s)")
        if table is None:
            await compacted(out)
        elif not out.problem and (n := await log_samples(admin, table)) != data.points:
            out.problem = f"{table} holds {n:,} samples, expected {data.points:,}"
        if out.problem:
            say(f"!!! {LABELS[out.path]}: {out.problem}")
        runs[out.path].append(out)
        return out

    try:
        facts["pg_version"] = await admin.fetchval("SHOW server_version")
        await make_tables(admin)
        facts["warmup_s"] = await warm_up(server, token, data, args.warmup_senders, admin)
        # From here on the compactor runs only when the bench lets it (see compacted()).
        await admin.execute("SELECT pg_advisory_lock($1)", repo.COMPACT_LOCK)
        blocks: list[Block] = []
        raw_batches: list[list[tuple[int, Any, Any, bytes]]] = []
        replay_batches: list[list[Block]] = []
        py_ids: dict[SeriesKey, int] = {}
        for rnd in range(1, args.rounds + 1):
            tag = f"[round {rnd}/{args.rounds}]"

            # (2) end to end
            await fresh(*STORE)
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
            e2e = Outcome("e2e", data.points, secs, cpu=cpu, waits=waits.share())
            if problems:
                e2e.problem = f"{len(problems)} bad answers, e.g. {problems[0]}"
            await check(e2e)

            if rnd == 1:
                # Pre-encode once (not timed), with the series ids the server assigned.
                say("(1) pre-encoding every body's block with the native core (not timed)")
                hash_ids = {
                    r["hash"]: r["series_id"]
                    for r in await admin.fetch("SELECT hash, series_id FROM metric_series")
                }
                blocks = pre_encode(data, hash_ids)
                raw_batches = [log_records(blocks, b) for b in copy_batches(data.counts, max_rows)]
                size = max(1, round(data.points / max(e2e.copies, 1)))
                replay_batches = [[blocks[i] for i in b] for b in copy_batches(data.counts, size)]
                facts["raw_copies"] = len(raw_batches)
                facts["replay_size"] = size
                facts["replay_copies"] = len(replay_batches)
                for r in await admin.fetch(
                    "SELECT series_id, namespace, name, labels::text AS labels FROM metric_series"
                ):
                    key = (
                        r["namespace"],
                        r["name"],
                        tuple(sorted(json.loads(r["labels"]).items())),
                    )
                    py_ids[key] = r["series_id"]

            # (1) raw log write
            await fresh(*STORE)
            say(
                f"{tag} (1) raw log write: {len(raw_batches)} COPYs of ≤ {max_rows:,} points "
                f"over {writers} connections"
            )
            meter.start()
            async with WaitSampler(url) as waits:
                secs = await raw_write(url, "metric_log", raw_batches, writers)
            await check(Outcome("raw", data.points, secs, cpu=meter.stop(), waits=waits.share()))

            # (2b) diagnosis: the batcher's transactions alone, at the batch size (2) produced.
            await fresh(*STORE)
            say(
                f"{tag} (2b) the batcher's transactions replayed: {len(replay_batches)} of "
                f"≈ {facts['replay_size']:,} points, {writers} connections"
            )
            meter.start()
            async with WaitSampler(url) as waits:
                rep = await replay_batcher(url, replay_batches, writers)
            replay = Outcome(
                "replay", data.points, rep.seconds, cpu=meter.stop(), waits=waits.share()
            )
            replay.steps = rep.steps
            await check(replay)

            # (3) pure Python, ids pre-resolved (no upsert penalty).
            await fresh("py_log")
            say(f"{tag} (3) pure Python: orjson, validation, blocks, COPY")
            meter.start()
            secs = await python_path(url, data, py_ids, max_rows, writers)
            await check(Outcome("python", data.points, secs, cpu=meter.stop()), "py_log")
        await admin.execute("SELECT pg_advisory_unlock($1)", repo.COMPACT_LOCK)
        await admin.execute("DROP TABLE IF EXISTS py_log")
    finally:
        await admin.close()
    results = [median_outcome(runs[p]) for p in ("raw", "e2e", "replay", "python")]
    e2e = results[1]
    facts["e2e_copies"] = e2e.copies
    facts["replay_steps"] = results[2].steps
    for r in results:
        r.detail = {
            "raw": f"{facts['raw_copies']} COPYs ≤ {max_rows:,} points, {writers} connections",
            "e2e": f"{e2e.copies} transactions, ≈ {data.points / max(e2e.copies, 1):,.0f} "
            "points each",
            "replay": f"{facts['replay_copies']} transactions ≈ {facts['replay_size']:,} points, "
            f"{writers} connections",
            "python": f"COPYs ≤ {max_rows:,} points, {writers} connections",
        }[r.path]
    return results


# ---------------------------------------------------------------- report
HEADER = [
    "path",
    "points",
    "seconds",
    "points/s",
    "x raw log write",
    "x Python",
    "cores busy",
    "rounds: points/s",
    "then compacted in (s)",
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
            "—"
            if r.compacted_s is None
            else f"{r.compacted_s:.1f} ({r.points / r.compacted_s:,.0f} points/s)"
            if r.compacted_s
            else "0",
        ]
        for r in results
    ]


def verdicts(results: list[Outcome]) -> list[tuple[str, bool]]:
    vs_raw, vs_py = ratios(results)
    e2e = next(r for r in results if r.path == "e2e")
    return [
        (
            f"end to end ≥ {AIM_VS_RAW:g} x raw log write (aim): {vs_raw['e2e']:.2f}x",
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
        f"HEARTH_METRICS_BATCH_DELAY_MS={settings.metrics_batch_delay_ms:g}, "
        f"HEARTH_METRICS_COMPACT_SAMPLES={settings.metrics_compact_samples:,}"
    )


def diagnosis(results: list[Outcome], facts: dict[str, Any]) -> list[str]:
    """Where the end-to-end time goes, from this run's figures."""
    by = {r.path: r for r in results}
    e2e, raw, replay = by["e2e"], by["raw"], by["replay"]
    steps = facts.get("replay_steps", {})
    busy = sum(steps.values()) or 1.0
    server = e2e.cpu.get("server", 0.0)
    pg = e2e.cpu.get("postgres", 0.0)
    lines = [
        "## Where the time goes (this run)",
        "",
        f"- The server process used {server:.2f} CPU s for {e2e.points:,} points "
        f"({server / e2e.points * 1e6:.2f} µs/point: HTTP, native decode and block encoding, "
        f"series lookup, batching), PostgreSQL {pg:.2f} s; {e2e.cores:.2f} of "
        f"{os.cpu_count()} cores were busy during (2), {raw.cores:.2f} during (1).",
        f"- The batcher's SQL alone (2b) ran at {replay.rate:,.0f} points/s, "
        f"{replay.rate / e2e.rate:.2f}x end to end: "
        + (
            "the server's own work is not the bottleneck, the database transaction is."
            if replay.rate < 1.25 * e2e.rate
            else "the server's own work (HTTP, decoding, encoding) is most of the cost."
        ),
        "- In (2b) "
        + ", ".join(f"{k} took {v / busy:.0%}" for k, v in steps.items())
        + f" of the busy time; (2) committed {facts.get('e2e_copies', 0)} transactions of ≈ "
        f"{e2e.points / max(facts.get('e2e_copies', 1), 1):,.0f} points where (1) COPYs "
        f"{facts.get('raw_copies', 0)} of up to {facts.get('max_rows', 0):,}.",
    ]
    if e2e.compacted_s:
        lines.append(
            f"- Off the acknowledged path, the server's compactor alone folded (2)'s samples "
            f"into chunks and hourly rollups in {e2e.compacted_s:.1f} s "
            f"({e2e.points / e2e.compacted_s:,.0f} points/s, "
            f"{e2e.compacted_s / e2e.seconds:.2f}x the time they took to arrive): "
            + (
                "compaction keeps pace with this ingest rate."
                if e2e.compacted_s < e2e.seconds
                else "compaction is slower than this ingest rate (bench/store measures both "
                "together)."
            )
        )
    return [*lines, ""]


def write_report(
    results: list[Outcome],
    args: argparse.Namespace,
    settings: Settings,
    data: Dataset,
    facts: dict[str, Any],
    problems: list[str],
    res: remote.Remote | None = None,
) -> None:
    e2e = next(r for r in results if r.path == "e2e")
    info = machine_info()
    lines = [
        f"- Machine: {machine_line(info, f'asyncpg {asyncpg.__version__}')}, "
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
        "The acknowledged write is one write-log block per request (samples sorted by series "
        "and time, encoded by the native core) appended to `metric_log` in the batcher's "
        "transaction; the compactor folds the blocks into per-series chunks and hourly rollups "
        "after the acknowledgement. While a path is timed the bench holds the compactor's "
        "advisory lock (its passes are skipped), so every path measures the acknowledged "
        "write alone; then the lock is released and the server's compactor folds that path's "
        "samples alone (the last column: seconds from the release to an empty write log).",
        "",
        "1. **raw log write** — the limit of this write path: every body's block pre-encoded "
        "by the native core (`decode_points` + `DecodedBatch.encode_block`, series ids as the "
        "server assigned them) outside the timing, then binary COPY "
        "(`copy_records_to_table`) of the rows straight into `metric_log` in COPYs of whole "
        f"requests up to {settings.metrics_batch_rows:,} points over "
        f"{settings.metrics_writers} connections, one transaction each, like the batcher. No "
        "HTTP, no decoding.",
        f"2. **end to end** — {args.senders} concurrent aiohttp senders POST the bodies to "
        "`/v1/metrics/bulk` (bearer token, all-or-nothing); timed from the first send to the "
        "last acknowledgement (acknowledged = committed). Every answer was checked (200, "
        "`accepted` = batch size), the write log then held every point, and once compacted "
        "`/v1/metrics/query?agg=count&step=3600` counted every point (as for (1) and (2b)). "
        "It includes HTTP, native decode and validation, series lookup, block encoding and the "
        f"coalesced INSERT of the blocks. A warm-up of {WARMUP_POINTS:,} points before it (all "
        f"series created: steady state; {facts.get('warmup_s', 0):.2f} s) was truncated away. "
        f"Observed: {e2e.detail}.",
        "3. **pure Python** — in the bench process: `orjson.loads` of the same bodies, each "
        "point validated in Python (types, finite value, name and label rules, timestamp "
        "parsed and windowed), series key = tuple of namespace, name and sorted labels looked "
        "up in a dict pre-filled from metric_series (no upsert penalty), a block per body "
        "(samples sorted by series and time, three columns packed with `array`, CRC-32) "
        "COPYed into `py_log` (`metric_log`'s shape) over "
        f"{settings.metrics_writers} connections while the next body is parsed. No HTTP, not "
        "compacted.",
        "",
        f"Each path ran {args.rounds} time(s), interleaved ((2), (1), (2b), (3), then again); "
        "the table shows the median round (its seconds, CPU and waits) and every round's "
        "rate. Before each timed run: the store's tables (`metric_log`, `metric_chunks`, "
        "`metric_rollup_1h`) or `py_log` truncated, then `CHECKPOINT`.",
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
        "(2b) replays the transactions (2) committed — the statement `Batcher._write` runs "
        "(`hearth_core.metrics.repo.append_blocks`, imported), same batch size, same number of "
        "connections — on blocks pre-encoded by the native core: the database's share of (2), "
        "without HTTP, decoding or the server's event loop. Busy time per statement, summed "
        "over the connections:",
        "",
        *md_table(STEP_HEADER, step_rows(facts.get("replay_steps", {}), e2e.points)),
        "",
    ]
    if facts.get("profile"):
        lines += [
            f"py-spy of the server during (2) ({facts['profile_path']}):",
            "",
            *profile_lines(facts["profile"]),
            "",
        ]
    lines += ["![points/s of the three paths](ingest.png)", "", *diagnosis(results, facts)]
    if res is not None:
        lines += ["", *remote.markdown(res, command_line())]
    write_markdown(HERE, "Metrics ingestion benchmark", lines, problems)


def write_chart(
    results: list[Outcome],
    e2e_cpu: dict[str, float],
    seconds: float,
    res: remote.Remote | None = None,
) -> None:
    plt = pyplot()
    vs_raw, vs_py = ratios(results)
    widths = [3, 2, 2] if res is not None else [3, 2]
    fig, axes = plt.subplots(
        1, len(widths), figsize=(6 + 3 * len(widths), 4.6), gridspec_kw={"width_ratios": widths}
    )
    ax1, ax2 = axes[0], axes[1]
    if res is not None:
        remote.draw(axes[2], res)
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
    fig.savefig(HERE / "ingest.png", dpi=110, bbox_inches="tight")
    plt.close(fig)


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
        "(every request touches every series' chunk: the compactor's worst case)",
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
    g = p.add_argument_group(
        "remote mode (issue 20)",
        "Hearth with HEARTH_METRICS_STORE=remote in front of Prometheus, beside Prometheus "
        "receiving the same remote-write requests directly (bench/ingest/remote.py); needs "
        "Prometheus 2.42 (`make bench-peers`)",
    )
    remote_counts = (
        ("--remote-series", 10_000, "series"),
        ("--remote-samples", 2_400_000, "samples per target and round (at least)"),
        ("--remote-senders", 8, "sharded senders"),
        ("--remote-processes", 2, "processes the senders are spread over"),
        ("--remote-rounds", 3, "rounds, each measuring both targets"),
    )
    for flag, default, text in remote_counts:
        g.add_argument(flag, type=int, default=default, help=f"{text} (default {default})")
    g.add_argument("--no-remote", action="store_true", help="skip the remote-mode comparison")
    g.add_argument(
        "--remote-only",
        action="store_true",
        help="only the remote-mode comparison, printed (RESULTS.md and results.json kept)",
    )
    g.add_argument(
        "--remote-py-spy",
        type=Path,
        default=None,
        metavar="FILE",
        help="after the rounds, one more remote-mode run of Hearth sampled by py-spy into FILE",
    )
    args = p.parse_args()
    if min(args.points, args.batch, args.senders, args.rounds, args.warmup_senders) < 1:
        p.error("--points, --batch, --senders, --rounds and --warmup-senders must be positive")
    if (
        min(
            args.remote_series,
            args.remote_samples,
            args.remote_senders,
            args.remote_processes,
            args.remote_rounds,
        )
        < 1
    ):
        p.error("the --remote-* counts must be positive")
    if args.no_remote and args.remote_only:
        p.error("--no-remote and --remote-only exclude each other")
    return args


def measure_remote(args: argparse.Namespace) -> remote.Remote:
    res = remote.measure(
        series=args.remote_series,
        samples=args.remote_samples,
        senders=args.remote_senders,
        processes=args.remote_processes,
        workers=args.workers,
        rounds=args.remote_rounds,
        profile=args.remote_py_spy,
    )
    print_grid(remote.HEADER, remote.table_rows(res))
    text, ok = remote.verdict(res)
    print(f"{'met    ' if ok else 'NOT MET'}  {text}")
    print_grid(remote.CPU_HEADER, remote.cpu_rows(res))
    return res


def main() -> int:
    args = parse_args()
    if args.remote_only:
        only = measure_remote(args)
        return finish(only.problems(), *remote_tails(only))
    settings = msgspec.structs.replace(effective_settings(), workers=args.workers)
    say(f"generating {args.points:,} points in batches of {args.batch:,}")
    data = make_points(args.points, args.batch, ordered=not args.random_times)
    say(f"  {len(data.bodies)} bodies, {data.size / 1e6:.0f} MB of JSON")
    facts: dict[str, Any] = {"load_before": os.getloadavg()[0]}
    with hearth_server(workers=args.workers) as server:
        say("creating a metrics.write client and taking a client_credentials token")
        client = create_client(server, "bench-ingest", "metrics.write,metrics.read")
        token = bearer_token(server, client)
        results = asyncio.run(run_paths(server, token, data, args, settings, facts))
        log_tail = server.log_tail()
    facts["load_after"] = os.getloadavg()[0]
    res = None if args.no_remote else measure_remote(args)

    e2e = next(r for r in results if r.path == "e2e")
    problems = [f"{LABELS[r.path]}: {r.problem}" for r in results if r.problem]
    remote_problems = res.problems() if res else []
    print_grid(HEADER, table_rows(results))
    for text, ok in verdicts(results):
        print(f"{'met    ' if ok else 'NOT MET'}  {text}")
    print_grid(CPU_HEADER, cpu_rows(e2e.cpu, e2e.seconds))
    print_grid(WAIT_HEADER, wait_rows(results))
    print_grid(STEP_HEADER, step_rows(facts.get("replay_steps", {}), e2e.points))
    tails = [log_tail, *(remote_tails(res) if res else [])]
    if args.no_write:
        return finish(problems + remote_problems, *tails)
    write_chart(results, e2e.cpu, e2e.seconds, res)
    write_report(results, args, settings, data, facts, problems + remote_problems, res)
    by, (vs_raw, vs_py) = {r.path: r for r in results}, ratios(results)
    limit = f"raw log write {by['raw'].rate:,.0f} points/s"
    errors = len(problems)
    write_results(
        HERE,
        [
            figure(
                "ingest end to end (POST /v1/metrics/bulk)",
                round(e2e.rate),
                "points/s",
                f"> {SPEC_POINTS_S:,} points/s",
                e2e.rate > SPEC_POINTS_S,
                headline="ingest",
                target_value=SPEC_POINTS_S,
                limit=limit,
                limit_value=round(by["raw"].rate),
                chart="ingest/ingest.png",
                detail=f"{vs_raw['e2e']:.2f}x raw log write, {vs_py['e2e']:.2f}x pure Python; "
                f"{args.senders} senders x {args.batch:,}-point bodies",
                errors=errors,
                rounds=[round(x) for x in e2e.rounds],
            ),
            figure(
                "ingest end to end ÷ raw log write",
                round(vs_raw["e2e"], 3),
                "x raw log write",
                f"aim ≥ {AIM_VS_RAW:g}x",
                vs_raw["e2e"] >= AIM_VS_RAW,
                headline="ingest",
                target_value=AIM_VS_RAW,
                limit=limit,
                limit_value=1.0,
                chart="ingest/ingest.png",
                errors=errors,
            ),
            figure(
                "batcher SQL alone ÷ raw log write",
                round(vs_raw["replay"], 3),
                "x raw log write",
                "—",
                None,
                limit=limit,
                limit_value=1.0,
                detail=f"{by['replay'].rate:,.0f} points/s",
                errors=errors,
            ),
            figure(
                "compaction of the end-to-end samples (compactor alone)",
                round(e2e.points / e2e.compacted_s) if e2e.compacted_s else None,
                "points/s",
                "—",
                None,
                limit=f"acknowledged {e2e.rate:,.0f} points/s",
                limit_value=round(e2e.rate),
                detail=f"{e2e.points:,} points folded into chunks and hourly rollups in "
                f"{e2e.compacted_s or 0:.1f} s after the load (compactor lock released)",
                errors=errors,
            ),
            *(remote.figures(res, "ingest/ingest.png") if res else []),
        ],
    )
    return finish(problems + remote_problems, *tails)


def remote_tails(res: remote.Remote) -> list[str]:
    """The remote-mode servers' logs (their warnings), the last run's of each round."""
    return [r.log_tail for r in res.runs.get("hearth-remote", []) if r.log_tail]


if __name__ == "__main__":
    run_main(main)
