"""Where Hearth's time goes on one query, two ways:

- **phases** — one request at a time, in this process: the service's own
  ``hearth_core.metrics.promql.evaluate`` on a connection to Hearth's PostgreSQL, with its
  steps timed (each ``repo`` read and native call wrapped): parse and plan, the SQL reads
  (one statement when every selector reads one time range; else series, the chunk count of
  the sample limit, the chunks, the write log, each apart), and the native
  ``promql_eval`` (decode the chunks, merge, evaluate, render the JSON). HTTP, auth and the
  event loop are what the request's latency holds beyond these.
- **perf** — ``perf record -a`` while wrk runs the query at the most connections: the CPU
  samples of Hearth's server process and of its PostgreSQL, by binary, and the native core's
  by what its symbols say they do (chunk decoding, the PromQL engine, JSON, memory).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.harness.log import say
from bench.harness.server import Server

# The steps of evaluate() that are timed: attribute of repo / _native -> what it is.
PHASES = {
    "promql_needs": "parse and plan (native promql_needs)",
    "selectors_read": "SQL, one statement (every selector reads one time range): the series, "
    "the samples their chunks hold (the limits), the chunks, the write-log blocks",
    "selector_series": "SQL: the series each selector may match",
    "chunk_samples": "SQL: samples the chunks hold (the sample limit)",
    "chunks_between": "SQL: fetch the chunks",
    "log_between": "SQL: fetch the write-log blocks",
    "log_min_time": "SQL: the earliest sample the write log holds (the hourly edges' cut-off)",
    "edges_packed": "SQL: fetch the hourly edges",
    "promql_eval": "native promql_eval: decode, merge, evaluate, render JSON",
}
NATIVE = ("promql_needs", "promql_eval")
# Runs before the timed ones, not counted: they warm the caches, and PostgreSQL plans a
# prepared statement afresh for its first 5 runs on a connection before it may keep a generic
# plan — the server's pooled connections run each of these statements thousands of times.
WARMUP = 10


@dataclass
class Phases:
    ms: dict[str, float]  # mean per request, per phase
    total_ms: float  # mean of evaluate() as a whole
    rows: dict[str, int] = field(default_factory=dict)  # series, chunks, bytes, result bytes
    reps: int = 0


async def _phases(server: Server, params: dict[str, str], reps: int) -> Phases:
    from hearth_core import _native
    from hearth_core.db.pool import connect
    from hearth_core.metrics import promql, repo
    from hearth_core.settings import Settings

    settings = Settings.from_env(server.env)
    limits = promql.Limits.from_settings(settings)
    spent: dict[str, float] = {}
    rows: dict[str, int] = {}
    originals: dict[str, tuple[Any, Callable[..., Any]]] = {}

    def wrap(owner: Any, name: str) -> None:
        fn = getattr(owner, name)
        originals[name] = (owner, fn)
        if name in NATIVE:

            def sync(*a: Any, **k: Any) -> Any:
                t = time.perf_counter()
                try:
                    out = fn(*a, **k)
                finally:
                    spent[name] = spent.get(name, 0.0) + time.perf_counter() - t
                if name == "promql_eval":
                    rows["result bytes"] = len(out)
                return out

            setattr(owner, name, sync)
        else:

            async def timed(*a: Any, **k: Any) -> Any:
                t = time.perf_counter()
                try:
                    out = await fn(*a, **k)
                finally:
                    spent[name] = spent.get(name, 0.0) + time.perf_counter() - t
                if name == "chunks_between":
                    rows["chunks"] = rows.get("chunks", 0) + len(out)
                    rows["chunk bytes"] = rows.get("chunk bytes", 0) + sum(len(d) for _, d in out)
                elif name == "selector_series":
                    rows["series"] = rows.get("series", 0) + len(out)
                elif name == "selectors_read":
                    rows["series"] = len(out["series_ids"] or ())
                    rows["chunks"] = len(out["chunks"] or ())
                    rows["chunk bytes"] = sum(len(d) for d in out["chunks"] or ())
                return out

            setattr(owner, name, timed)

    for name in PHASES:
        wrap(_native if name in NATIVE else repo, name)
    step = params.get("step")
    if "time" in params:
        start_ms = end_ms = int(float(params["time"]) * 1000)
        step_ms = 0
    else:
        start_ms, end_ms = int(float(params["start"]) * 1000), int(float(params["end"]) * 1000)
        step_ms = int(float(step or 0) * 1000)
    per: dict[str, list[float]] = {name: [] for name in PHASES}
    totals = []
    conn = await connect(server.pg_url())
    try:
        for i in range(WARMUP + reps):
            spent.clear()
            rows.clear()
            t = time.perf_counter()
            await promql.evaluate(
                conn,
                namespace=settings.metrics_default_namespace,
                query=params["query"],
                start_ms=start_ms,
                end_ms=end_ms,
                step_ms=step_ms,
                timeout_s=limits.timeout_s,
                limits=limits,
            )
            if i < WARMUP:
                continue
            totals.append(time.perf_counter() - t)
            for name in PHASES:
                per[name].append(spent.get(name, 0.0))
    finally:
        await conn.close()
        for name, (owner, fn) in originals.items():
            setattr(owner, name, fn)
    return Phases(
        {name: statistics.mean(v) * 1000 for name, v in per.items()},
        statistics.mean(totals) * 1000,
        dict(rows),
        reps,
    )


def phases(server: Server, params: dict[str, str], reps: int = 20) -> Phases:
    return asyncio.run(_phases(server, params, reps))


# ---------------------------------------------------------------- perf
# Native symbols by what they do, first match wins (Rust symbols, demangled).
NATIVE_KINDS = (
    ("decode the chunks (pcodec, Gorilla)", re.compile(r"pco|gorilla|chunk|bitread|decode", re.I)),
    ("render JSON", re.compile(r"json|ryu|itoa|fmt::|write_fmt|flt2dec|grisu|dragon", re.I)),
    ("PromQL engine (select, evaluate, aggregate)", re.compile(r"promql|eval|regex", re.I)),
    ("memory (allocate, copy, free)", re.compile(r"mi_|alloc|memcpy|memmove|free|drop", re.I)),
)
_LINE = re.compile(r"^\s*([\d.]+)%\s+(\S+)\s+(\S+)\s+\[(.)\]\s+(.*)$")
_SAMPLES = re.compile(r"# Samples: ([\d.]+)([KMG]?)")


@dataclass
class Perf:
    samples: int  # in Hearth's processes (the shares below are of these)
    by_process: dict[str, float]
    by_binary: dict[str, float]  # the server's samples, by binary
    native: dict[str, float]  # the server's native core's, by kind
    top: list[tuple[float, str]]  # the hottest symbols (share, "binary: symbol")


def perf_available() -> bool:
    return shutil.which("perf") is not None


def perf_record(out: Path, seconds: float) -> subprocess.Popen[bytes]:
    cmd = ["perf", "record", "-a", "-F", "499", "-o", str(out), "--", "sleep", f"{seconds:g}"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def perf_report(data: Path, server_pid: int, pg_pids: list[int]) -> Perf | None:
    """The samples of ``server_pid`` (every thread) and ``pg_pids``, as shares of theirs."""
    pids = [server_pid, *pg_pids]
    cmd = ["perf", "report", "-i", str(data), "--stdio", "--no-children"]
    # comm: PostgreSQL's backends are "postgres"; every thread of the server (event loop,
    # to_thread workers, the engine's own thread) is in the server's process
    cmd += ["--sort", "comm,dso,sym", "--pid", ",".join(map(str, pids))]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        say(f"perf report failed: {res.stderr[-500:]}")
        return None
    found = _SAMPLES.search(res.stdout)
    scale = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9}
    machine = round(float(found[1]) * scale[found[2]]) if found else 0
    entries = []
    for line in res.stdout.splitlines():
        m = _LINE.match(line)
        if m:
            entries.append((float(m[1]), m[2], m[3], m[5].strip()))
    ours = sum(e[0] for e in entries)
    if not ours:
        return None
    by_process: dict[str, float] = {}
    by_binary: dict[str, float] = {}
    native: dict[str, float] = {}
    top: list[tuple[float, str]] = []
    for pct, comm, dso, sym in entries:
        share = pct / ours  # of the samples in Hearth's processes
        if comm.startswith("postgres"):
            by_process["PostgreSQL"] = by_process.get("PostgreSQL", 0.0) + share
            continue
        by_process["Hearth server"] = by_process.get("Hearth server", 0.0) + share
        binary = _binary(dso)
        by_binary[binary] = by_binary.get(binary, 0.0) + share
        if binary == "native core (_native)":
            kind = next((k for k, rx in NATIVE_KINDS if rx.search(sym)), "other native code")
            native[kind] = native.get(kind, 0.0) + share
        top.append((share, f"{binary}: {sym[:120]}"))
    top.sort(reverse=True)
    return Perf(
        round(machine * ours / 100),
        _ordered(by_process),
        _ordered(by_binary),
        _ordered(native),
        top[:12],
    )


def _ordered(shares: dict[str, float]) -> dict[str, float]:
    return dict(sorted(shares.items(), key=lambda kv: -kv[1]))


def _binary(dso: str) -> str:
    if "_native" in dso:
        return "native core (_native)"
    if "libpython" in dso or dso == "python3.11":
        return "Python interpreter"
    if "asyncpg" in dso:
        return "asyncpg (PostgreSQL protocol)"
    if "kernel" in dso:
        return "kernel (sockets, memory)"
    for name in ("orjson", "uvloop", "aiohttp", "msgspec", "libc", "yarl", "multidict"):
        if name in dso:
            return name
    return dso


def lines(ph: Phases | None, pf: Perf | None, label: str, conns: int) -> list[str]:
    out: list[str] = []
    if ph is not None:
        out += [
            f"One request at a time ({label}), the service's `evaluate` in-process with its "
            f"steps timed, mean of {ph.reps} runs: {ph.total_ms:,.1f} ms in all — "
            + ", ".join(f"{k} {v:,}" for k, v in ph.rows.items())
            + ":",
            "",
            "| step | ms | share |",
            "|---|--:|--:|",
        ]
        # The steps this query's path took (one statement, or the snapshot's several).
        out += [
            f"| {PHASES[k]} | {v:,.1f} | {v / ph.total_ms:.0%} |" for k, v in ph.ms.items() if v
        ]
        rest = ph.total_ms - sum(ph.ms.values())
        out += [
            "| the rest: the snapshot transaction's BEGIN/COMMIT (several statements only), "
            f"hand-offs to a thread, Python between the steps | {rest:,.1f} | "
            f"{rest / ph.total_ms:.0%} |",
            "",
        ]
    if pf is not None and pf.samples:
        out += [
            f"CPU while wrk ran it at {conns} connections (`perf record -a -F 499`; "
            f"{pf.samples:,} samples fell in Hearth's server and its PostgreSQL, the shares "
            "are of these):",
            "",
            "- by process: " + ", ".join(f"{k} {v:.0%}" for k, v in pf.by_process.items()),
            "- the server by binary: "
            + ", ".join(f"{k} {v:.0%}" for k, v in pf.by_binary.items() if v >= 0.005),
            "- its native core by what the symbols do: "
            + ", ".join(f"{k} {v:.0%}" for k, v in pf.native.items()),
            "- the hottest symbols: " + "; ".join(f"`{s}` {v:.1%}" for v, s in pf.top[:8]),
            "",
        ]
    return out
