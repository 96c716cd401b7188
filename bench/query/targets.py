"""The three systems bench/query loads and queries, behind one shape: started on private data
dirs (bench.harness), loaded by remote write with sharded senders, brought to rest, and asked
Prometheus API queries.

- Hearth: ``hearth serve`` (embedded PostgreSQL), its ``POST /api/v1/write`` and
  ``/api/v1/query(_range)`` with a ``metrics.read,metrics.write`` token; at rest once
  ``/v1/metrics/store`` shows the write log empty and every chunk sealed, and after
  ``VACUUM (ANALYZE)`` of the store's tables.
- Prometheus 2.42 (Debian's): its remote-write receiver. Its TSDB takes a sample only up to an
  hour (half a head chunk range) behind the newest it holds: the senders go in lockstep (each
  request a block of at most 30 minutes of sample time, bench/query/dataset.py), so every
  sample goes in in order, without the experimental ``out_of_order_time_window`` (``--ooo``
  sets one). At rest once its process has been idle (head compacted into blocks, blocks
  merged).
- VictoriaMetrics v1.151.0: its remote-write receiver; at rest after ``/internal/force_flush``
  once idle (background merges done). Its rollup result cache is left on (its default).
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from bench.harness.client import bearer_token, create_client, http
from bench.harness.log import BenchError, say
from bench.harness.machine import pid_from_file, wait_idle
from bench.harness.paths import ROOT
from bench.harness.peers import (
    Peer,
    disk_bytes,
    prometheus_server,
    victoria_flush,
    victoria_server,
)
from bench.harness.remote_write import HEADERS as RW_HEADERS
from bench.harness.server import Server, hearth_server
from bench.harness.sharded import Sent, send_sharded
from bench.harness.store import TABLES, table_sizes, wait_drained
from bench.query.dataset import NAMES, Encoded, Spec, span_s
from bench.query.queries import count_query

TITLES = {
    "hearth": "Hearth",
    "prometheus": "Prometheus",
    "victoriametrics": "VictoriaMetrics",
}
SEAL_AFTER_S = 3  # Hearth: chunks sealed (pcodec) soon after the load, as in a store at rest
IDLE_LIMIT_S = 1800
# Query timeout of every target: the counts after the load read every sample.
COUNT_TIMEOUT_S = 900


@dataclass
class Target:
    key: str
    version: str = ""
    base: str = ""
    auth: str = ""  # the Authorization header, when the target wants one
    pids: list[int] = field(default_factory=list)  # processes whose CPU says "at rest"
    failed: str = ""  # why this target gives no figures at all
    query_failed: dict[str, str] = field(default_factory=dict)  # query key -> why not measured
    sent: Sent | None = None
    facts: dict[str, Any] = field(default_factory=dict)  # load, rest, disk, counts
    server: Server | None = None
    peer: Peer | None = None

    @property
    def title(self) -> str:
        return TITLES[self.key]

    @property
    def alive(self) -> bool:
        return not self.failed

    # ------------------------------------------------------------ queries
    def get(self, path: str, timeout: float = 120.0) -> tuple[int, bytes, float]:
        """GET ``path`` (with its query string): status, body, seconds."""
        t = time.perf_counter()
        status, body = http(self.base + path, auth=self.auth or None, timeout=timeout)
        return status, body, time.perf_counter() - t

    def data(
        self, path: str, params: dict[str, str], timeout: float = COUNT_TIMEOUT_S + 60
    ) -> dict[str, Any]:
        """The ``data`` of a successful answer; BenchError naming the answer otherwise."""
        url = f"{path}?{urllib.parse.urlencode(params)}"
        status, body, _ = self.get(url, timeout)
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        if status != 200 or not isinstance(doc, dict) or doc.get("status") != "success":
            raise BenchError(f"{self.title} {url}: HTTP {status} {body[:400]!r}")
        return dict(doc["data"])


# ---------------------------------------------------------------- starting
@contextmanager
def start_hearth(spec: Spec, workers: int) -> Iterator[Target]:
    env = {
        # the oldest samples are days old: a day of slack, and the partitions to hold them
        "HEARTH_METRICS_RETENTION_DAYS": str(math.ceil(spec.days) + 2),
        "HEARTH_METRICS_SEAL_AFTER_S": str(SEAL_AFTER_S),
        "HEARTH_ACCESS_TOKEN_TTL": "86400",  # one token for a run of hours
        # the counts after the load read every sample (50 M at the report's size)
        "HEARTH_PROMQL_TIMEOUT_S": str(COUNT_TIMEOUT_S),
    }
    with hearth_server(workers=workers, env=env) as server:
        token = bearer_token(
            server, create_client(server, "bench-query", "metrics.read,metrics.write")
        )
        pg = pid_from_file(server.data_dir / "pg" / "postmaster.pid")
        yield Target(
            "hearth",
            version=f"{git_commit()}, {workers} worker(s)",
            base=server.base,
            auth=f"Bearer {token}",
            pids=[server.proc.pid, *([pg] if pg else [])],
            server=server,
        )


def git_commit() -> str:
    """The commit Hearth runs from (``+`` when the tree has changes)."""

    def git(*args: str) -> str:
        res = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return res.stdout.strip()

    return (
        "commit "
        + (git("rev-parse", "--short", "HEAD") or "?")
        + ("+" if git("status", "--porcelain", "--untracked-files=no") else "")
    )


@contextmanager
def start_prometheus(spec: Spec, ooo: str) -> Iterator[Target]:
    retention = f"{math.ceil(spec.days) + 365}d"  # counted back from the newest block
    flags = [f"--storage.tsdb.retention.time={retention}", f"--query.timeout={COUNT_TIMEOUT_S}s"]
    with prometheus_server(out_of_order_window=ooo or None, flags=flags) as peer:
        yield Target(
            "prometheus", version=peer.version, base=peer.base, pids=[peer.proc.pid], peer=peer
        )


@contextmanager
def start_victoria(spec: Spec) -> Iterator[Target]:
    del spec
    with victoria_server(flags=[f"-search.maxQueryDuration={COUNT_TIMEOUT_S}s"]) as peer:
        yield Target(
            "victoriametrics",
            version=peer.version,
            base=peer.base,
            pids=[peer.proc.pid],
            peer=peer,
        )


# ---------------------------------------------------------------- loading
class LoadProgress:
    """Progress lines while a target is loaded: acknowledged samples, rate, ETA."""

    def __init__(self, title: str, total: int) -> None:
        self.title, self.total = title, total
        self.t0 = time.monotonic()

    def __call__(self, acked: int) -> None:
        secs = time.monotonic() - self.t0
        rate = acked / secs if secs > 0 else 0.0
        eta = (self.total - acked) / rate if rate else 0.0
        say(
            f"  {self.title}: {acked:,} of {self.total:,} samples acknowledged "
            f"({acked / self.total:.0%}), {rate:,.0f}/s, ETA {eta:.0f} s"
        )


def load(target: Target, data: Encoded, processes: int) -> None:
    """Every request, sharded senders; a request not acknowledged fails the target."""
    say(
        f"loading {target.title}: {data.samples:,} samples in {data.requests:,} remote-write "
        f"requests ({data.bytes / 1e6:,.0f} MB), {len(data.shards)} senders over "
        f"{processes} processes"
    )
    headers = {**RW_HEADERS, **({"Authorization": target.auth} if target.auth else {})}
    sent = send_sharded(
        f"{target.base}/api/v1/write",
        headers,
        data.shards,
        processes,
        progress=LoadProgress(target.title, data.samples),
        lockstep=True,
    )
    target.sent = sent
    say(f"  {target.title}: {sent.rate:,.0f} samples/s acknowledged ({sent.seconds:.1f} s)")
    if sent.problems or sent.samples != data.samples:
        raise BenchError(
            f"{sent.samples:,} of {data.samples:,} samples acknowledged; "
            + "; ".join(sent.problems[:3])
        )


def settle(target: Target) -> None:
    """Bring the target to rest after its load (see the module's docstring); the seconds it
    took go to ``facts``."""
    t0 = time.monotonic()
    if target.key == "hearth":
        assert target.server is not None
        token = target.auth.removeprefix("Bearer ")
        drain = wait_drained(target.server, token, sealed=True, limit_s=IDLE_LIMIT_S)
        target.facts["drained_s"] = drain.log_s
        target.facts["sealed_s"] = drain.sealed_s or 0.0
        say(
            f"  hearth: write log empty {drain.log_s:.1f} s after the load, every chunk sealed "
            f"after {drain.sealed_s or 0:.1f} s"
        )
        target.facts["vacuum_s"], target.facts["tables"] = asyncio.run(
            _vacuum(target.server.pg_url())
        )
    elif target.key == "victoriametrics":
        assert target.peer is not None
        victoria_flush(target.peer)
    waited, idle = wait_idle(target.pids, target.title, limit_s=IDLE_LIMIT_S)
    target.facts["idle"] = idle
    target.facts["settle_s"] = time.monotonic() - t0
    say(
        f"  {target.title} at rest {target.facts['settle_s']:.0f} s after its load"
        + ("" if idle else f" (NOT idle after {waited:.0f} s: measuring anyway)")
    )
    if target.peer is not None:
        target.facts["disk"] = disk_bytes(target.peer.data_dir)
    if target.key == "prometheus":
        target.facts["metrics"] = prometheus_facts(target)


async def _vacuum(pg_url: str) -> tuple[float, dict[str, int]]:
    """``VACUUM (ANALYZE)`` of the store's tables (as autovacuum would leave a store at rest)
    and their sizes after it."""
    conn = await asyncpg.connect(pg_url)
    try:
        tables = ", ".join(t for group in TABLES.values() for t in group)
        t = time.perf_counter()
        await conn.execute(f"VACUUM (ANALYZE) {tables}", timeout=IDLE_LIMIT_S)
        took = time.perf_counter() - t
        say(f"  hearth: VACUUM (ANALYZE) {tables}: {took:.1f} s")
        return took, await table_sizes(conn)
    finally:
        await conn.close()


PROMETHEUS_METRICS = (
    "prometheus_tsdb_head_out_of_order_samples_appended_total",
    "prometheus_tsdb_out_of_order_samples_total",
    "prometheus_tsdb_out_of_bound_samples_total",
    "prometheus_tsdb_blocks_loaded",
    "prometheus_tsdb_compactions_total",
    "prometheus_tsdb_head_series",
)


def prometheus_facts(target: Target) -> dict[str, float]:
    """A few of Prometheus' own metrics about the load (out-of-order samples, blocks)."""
    status, body, _ = target.get("/metrics", timeout=30)
    out: dict[str, float] = {}
    if status != 200:
        return out
    for line in body.decode(errors="replace").splitlines():
        name, _, value = line.partition(" ")
        if name.split("{", 1)[0] in PROMETHEUS_METRICS:
            key = name.split("{", 1)[0]
            out[key] = out.get(key, 0.0) + float(value.split()[0])
    return out


def count_held(target: Target, spec: Spec) -> dict[str, int]:
    """Samples the target holds per name, by its query API: ``sum(count_over_time(…))`` over a
    range that holds the whole load, at its end."""
    out = {}
    for name in NAMES:
        data = target.data(
            "/api/v1/query",
            {"query": count_query(name, span_s(spec)), "time": f"{spec.t_end_ms / 1000:.3f}"},
        )
        result = data.get("result") or []
        out[name] = int(float(result[0]["value"][1])) if result else 0
    return out


def hearth_disk(target: Target) -> int:
    """Bytes of Hearth's store tables after the VACUUM (chunks, rollups, series, write log)."""
    tables: dict[str, int] = target.facts.get("tables", {})
    return sum(tables.values())
