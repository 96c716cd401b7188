"""The cost of one compaction pass, step by step (issue 16): where a pass's time goes when it
re-merges the chunks of every series.

    .venv/bin/python -m bench.store.compact_pass [--series 10000,100000] [--pass-samples 1000000]
        [--prefill 40] [--passes 3]

For each ``--series`` count: a fresh embedded PostgreSQL (durable, as ``hearth serve`` runs it)
migrated to the current schema; a pre-fill of ``--prefill`` samples per series (15 s apart,
compacted in one pass, so every series has an open chunk in the current window); then
``--passes`` passes of ``--pass-samples`` samples each (blocks of 10 000 samples, the next
scrapes of every series), each compacted by ``Compactor.compact_once`` with its budget set to
the pass. Every ``repo`` call and every native call the compactor makes is timed (the native
ones run in a thread, timed there). Prints one line per series count: the median over the
passes of each step and of the whole pass, µs per touched window, and the process's peak RSS
(the pre-fill pass included: keep ``--prefill`` times the series below ``--pass-samples`` to see a
pass's own).

Only the compactor module's own names are wrapped, so the same script times any version of
the compactor (run it from another checkout's root to compare).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import inspect
import os
import resource
import shutil
import socket
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg

from hearth_core.db import migrations
from hearth_core.localstack import LocalStack
from hearth_core.metrics import compactor as compactor_module
from hearth_core.metrics import repo
from hearth_core.metrics.chunks import WINDOW_US, encode_block
from hearth_core.metrics.partitions import Partitions

STEP_US = 15_000_000
BLOCK_SAMPLES = 10_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def timed(times: dict[str, float], name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def coro(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                times[name] += time.perf_counter() - t

        return coro

    @functools.wraps(fn)
    def plain(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            times[name] += time.perf_counter() - t

    return plain


def instrument(times: dict[str, float]) -> None:
    """Time every repo function and every native chunk function the compactor calls."""
    for name, fn in vars(repo).items():
        if inspect.iscoroutinefunction(fn) and fn.__module__ == repo.__name__:
            setattr(repo, name, timed(times, name, fn))
    for name, fn in list(vars(compactor_module).items()):
        native = getattr(fn, "__module__", None) in ("hearth_core._native", "_native")
        if native or getattr(fn, "__module__", None) == "hearth_core.metrics.chunks":
            if callable(fn) and not isinstance(fn, type):
                setattr(compactor_module, name, timed(times, name, fn))


async def append(conn: asyncpg.Connection, series: int, first_t: int, scrapes: int) -> int:
    """``scrapes`` samples per series from ``first_t`` on, as blocks of ~BLOCK_SAMPLES."""
    per_block = max(1, BLOCK_SAMPLES // series)
    rows = []
    for s0 in range(0, scrapes, per_block):
        n = min(per_block, scrapes - s0)
        ids = [sid for sid in range(1, series + 1) for _ in range(n)]
        ts = [first_t + (s0 + k) * STEP_US for _ in range(series) for k in range(n)]
        vs = [float(t // STEP_US % 1000) for t in ts]
        rows.append((len(ids), min(ts), max(ts), encode_block(ids, ts, vs)))
    await repo.append_blocks(conn, rows)
    return series * scrapes


async def run_one(url: str, series: int, pass_samples: int, prefill: int, passes: int) -> dict:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
    try:
        scrapes = max(1, pass_samples // series)
        # room for the whole run in the current window
        start = time.time_ns() // 1000 // WINDOW_US * WINDOW_US
        comp = compactor_module.Compactor(
            pool, Partitions(), max_samples=10**9, interval=1.0, seal_after=3600.0
        )
        async with pool.acquire() as conn:
            await append(conn, series, start, prefill)
        t = time.perf_counter()
        await comp.compact_once()
        prefill_s = time.perf_counter() - t
        results = []
        for p in range(passes):
            async with pool.acquire() as conn:
                n = await append(conn, series, start + (prefill + p * scrapes) * STEP_US, scrapes)
            comp.max_samples = n
            times: dict[str, float] = defaultdict(float)
            instrument(times)
            try:
                result = await comp.compact_once()
            finally:
                restore()
            assert result is not None and result.samples == n, result
            results.append((result, dict(times)))
        return {"prefill_s": prefill_s, "passes": results}
    finally:
        await pool.close()


_ORIGINAL: dict[tuple[Any, str], Any] = {}


def snapshot() -> None:
    for mod in (repo, compactor_module):
        for name, fn in vars(mod).items():
            if callable(fn):
                _ORIGINAL[(mod, name)] = fn


def restore() -> None:
    for (mod, name), fn in _ORIGINAL.items():
        setattr(mod, name, fn)


def report(series: int, out: dict) -> None:
    passes = out["passes"]
    total = statistics.median(r.seconds for r, _ in passes)
    windows = passes[0][0].windows
    steps: dict[str, list[float]] = defaultdict(list)
    for _, times in passes:
        for name, s in times.items():
            steps[name].append(s)
    parts = ", ".join(
        f"{name} {statistics.median(v):.3f}"
        for name, v in sorted(steps.items(), key=lambda kv: -statistics.median(kv[1]))
        if name not in ("log_span",)
    )
    print(
        f"series={series:,} samples/pass={passes[0][0].samples:,} windows={windows:,}: "
        f"pass {total:.3f} s ({total / windows * 1e6:.1f} µs/window; "
        f"prefill pass {out['prefill_s']:.2f} s; peak RSS so far "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB) | {parts}",
        flush=True,
    )


async def main_async(args: argparse.Namespace) -> None:
    snapshot()
    for series in args.series:
        data = Path(tempfile.mkdtemp(prefix="hearth-compact-pass-"))
        os.chmod(data, 0o755)  # the postgres system user must traverse it when we run as root
        stack = LocalStack(data, pg_port=free_port(), redis_port=free_port(), log=lambda _m: None)
        stack.start()
        try:
            conn = await asyncpg.connect(stack.database_url)
            try:
                await migrations.apply_all(conn)
            finally:
                await conn.close()
            out = await run_one(
                stack.database_url, series, args.pass_samples, args.prefill, args.passes
            )
            report(series, out)
        finally:
            stack.stop()
            shutil.rmtree(data, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--series", type=lambda s: [int(x) for x in s.split(",")], default=[10_000, 100_000]
    )
    ap.add_argument("--pass-samples", type=int, default=1_000_000)
    ap.add_argument("--prefill", type=int, default=40, help="samples per series before")
    ap.add_argument("--passes", type=int, default=3)
    asyncio.run(main_async(ap.parse_args()))


if __name__ == "__main__":
    main()
