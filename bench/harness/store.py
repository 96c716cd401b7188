"""The metric store's state as a bench sees it: the compaction backlog by ``GET
/v1/metrics/store`` (sampled, or waited on until drained) and the size of its tables.

The write log (``metric_log``) holds acknowledged samples until the compactor folds them into
chunks (``metric_chunks``, Gorilla while open, pcodec once sealed) and hourly rollups
(``metric_rollup_1h``); README “How the store works”.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import asyncpg

from bench.harness.client import get_json
from bench.harness.log import BenchError, say
from bench.harness.server import Server

# What the store's tables are, for the disk breakdown: name -> the tables (partition trees,
# with their indexes and TOAST).
TABLES = {
    "chunks": ("metric_chunks",),
    "hourly rollups": ("metric_rollup_1h",),
    "series": ("metric_series",),
    "write log": ("metric_log",),
}


def stored_count(
    server: Server,
    token: str,
    *,
    namespace: str,
    names: Iterable[str],
    group_by: str,
    start_s: float,
    end_s: float,
    step: int,
    timeout: float = 300,
) -> int:
    """Samples the store holds, by the public query API: ``agg=count`` per ``step`` window of
    every name, grouped by a label every series has (so each sample counts once)."""
    total = 0
    for name in names:
        query = urllib.parse.urlencode(
            {
                "namespace": namespace,
                "name": name,
                "agg": "count",
                "group_by": group_by,
                "step": str(step),
                "start": f"{start_s - 1:.3f}",
                "end": f"{end_s + 1:.3f}",
            }
        )
        doc = get_json(f"{server.base}/v1/metrics/query?{query}", token, timeout=timeout)
        total += sum(int(v) for r in doc["data"]["result"] for _t, v in r["values"])
    return total


@dataclass(frozen=True)
class StoreSample:
    t: float  # time.monotonic() of the answer
    log_blocks: int
    log_samples: int
    log_bytes: int
    lag_s: float  # age of the oldest block not yet compacted
    open_chunks: int


def store_state(server: Server, token: str) -> StoreSample:
    doc = get_json(f"{server.base}/v1/metrics/store", token, timeout=30)
    return StoreSample(
        time.monotonic(),
        int(doc["log_blocks"]),
        int(doc["log_samples"]),
        int(doc["log_bytes"]),
        float(doc["compaction_lag_seconds"]),
        int(doc["open_chunks"]),
    )


@dataclass
class Drain:
    log_s: float  # until the write log was empty
    sealed_s: float | None = None  # until no chunk was open (when waited for)
    peak_log: int = 0  # samples in the log at most, while waiting
    peak_lag_s: float = 0.0


def wait_drained(
    server: Server, token: str, *, sealed: bool = False, limit_s: float = 900, every: float = 0.5
) -> Drain:
    """Seconds until the write log is empty (every acknowledged sample in chunks and
    rollups) and, with ``sealed``, until no chunk is open (all re-encoded with pcodec)."""
    t0 = time.monotonic()
    drain: Drain | None = None
    peak_log, peak_lag, last = 0, 0.0, t0
    while True:
        s = store_state(server, token)
        peak_log, peak_lag = max(peak_log, s.log_samples), max(peak_lag, s.lag_s)
        now = time.monotonic()
        if drain is None and s.log_samples == 0:
            drain = Drain(now - t0)
        if drain is not None and (not sealed or s.open_chunks == 0):
            drain.sealed_s = now - t0 if sealed else None
            drain.peak_log, drain.peak_lag_s = peak_log, peak_lag
            return drain
        if now - t0 > limit_s:
            raise BenchError(
                f"the store did not drain within {limit_s:.0f} s: {s.log_samples:,} samples in "
                f"the write log (oldest {s.lag_s:.0f} s), {s.open_chunks:,} open chunks"
            )
        if now - last >= 10:
            say(
                f"  waiting for the compactor: {s.log_samples:,} samples in the log "
                f"(oldest {s.lag_s:.1f} s), {s.open_chunks:,} open chunks"
            )
            last = now
        time.sleep(every)


@dataclass
class Monitor:
    samples: list[StoreSample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def peak(self, attr: str) -> float:
        return max((getattr(s, attr) for s in self.samples), default=0)


@contextmanager
def monitor(server: Server, token: str, every: float = 1.0) -> Iterator[Monitor]:
    """``/v1/metrics/store`` every ``every`` s in a thread while the block runs."""
    out = Monitor()
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            t = time.monotonic()
            try:
                out.samples.append(store_state(server, token))
            except (OSError, BenchError) as exc:
                out.errors.append(repr(exc))
            stop.wait(max(0.0, every - (time.monotonic() - t)))

    thread = threading.Thread(target=loop, name="store-monitor", daemon=True)
    thread.start()
    try:
        yield out
    finally:
        stop.set()
        thread.join()


async def table_sizes(conn: asyncpg.Connection) -> dict[str, int]:
    """Bytes of each of TABLES (every partition, index and TOAST table)."""
    out = {}
    for what, tables in TABLES.items():
        out[what] = int(
            await conn.fetchval(
                """
                SELECT coalesce(sum(pg_total_relation_size(p.relid)), 0)::bigint
                FROM unnest($1::text[]) AS t,
                     -- a table that is not partitioned has no partition tree: itself
                     LATERAL (SELECT relid FROM pg_partition_tree(t::regclass)
                              UNION SELECT t::regclass) p
                """,
                list(tables),
            )
        )
    return out
