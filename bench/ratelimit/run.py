"""Rate-limit benchmark: check-endpoint req/s as a ratio of an aiohttp hello-world and of raw
EVALSHA throughput measured in the same run, and the limiter's accuracy under 64-connection
bursts (spec: > 99.9 %).

    .venv/bin/python bench/ratelimit/run.py [--duration 10] [--warmup 2] [--rounds 3]

Starts ``hearth serve`` (bench.harness: embedded PostgreSQL and Redis, a fresh data dir),
registers a client (``ratelimit.read,ratelimit.write``) and takes a client_credentials token.
Then:

1. throughput, with ``wrk -t1 -cN --latency`` (N = 16, 64), ``--rounds`` rounds after a
   warm-up: the hello-world (``bench/harness/hello.py``); ``POST /v1/ratelimits/bench/k/check {}`` under a policy so large
   that every check is allowed (the same work each time), on one bucket and spread over 1000
   buckets (``bench/k<n>``); and raw ``EVALSHA`` of the very script the server runs
   (``hearth_core.ratelimit.bucket.SCRIPT``, same arguments) against the same embedded Redis
   with ``redis-benchmark -c N``;
2. accuracy: a policy of L tokens per W s with burst B, a fresh bucket hit by 64 concurrent
   connections (aiohttp, closed loop) for ``--duration`` s; admitted is compared with the ideal
   B + L/W x elapsed, elapsed on the bucket's own clock (Redis ``TIME`` just before the first
   check, the bucket's ``ts`` field — the TIME of its last check — after the last one);
3. exactness: 1000 concurrent checks on a fresh bucket of 100 tokens that practically never
   refills must admit exactly 100.

If a check rate falls below 0.3x the hello-world, the server is sampled with py-spy during one
more check run and the top frames are reported. Prints the tables and writes ``RESULTS.md``
and ``ratelimit.png`` next to this file; progress goes to stderr. Client, server and Redis share
the machine's cores, so req/s is a comparison, not a capacity figure. Any non-2xx answer, socket
error or decision not made by Redis makes the exit code 1; a missed target shows as NOT met.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import redis
import redis.asyncio as aioredis

from bench.harness.charts import pyplot
from bench.harness.client import bearer_token, create_client
from bench.harness.log import BenchError, run_main, say
from bench.harness.machine import machine_info, machine_line, noise
from bench.harness.profiler import Profiler, profile_lines
from bench.harness.results import figure, finish, write_markdown, write_results
from bench.harness.server import Server, hearth_server, hello_server
from bench.harness.tables import md_table, print_grid
from bench.harness.wrk import Request, Result, Round, error_lines, measure, wrk_version
from hearth_core.ratelimit.bucket import SCRIPT
from hearth_core.ratelimit.service import SCRIPT_SHA, bucket_key

HERE = Path(__file__).resolve().parent
LUA = HERE / "wrk.lua"
SCOPES = "ratelimit.read,ratelimit.write"
HUGE = 1_000_000_000  # limit and burst of the throughput policy: every check is allowed
SPREAD_KEYS = 1000
CONNECTIONS = (16, 64)
BURST_CONNECTIONS = 64
EXACT_CAPACITY, EXACT_CHECKS, EXACT_WINDOW = 100, 1000, 31_536_000  # a year: no refill to speak of
SPEC_ACCURACY = 0.999
PROFILE_BELOW = 0.3  # check ÷ hello under which the server is profiled

ROWS = ("hello", "check", "check-spread", "raw", "raw-spread")
LABELS = {
    "hello": "hello-world GET /",
    "check": "POST /v1/ratelimits/bench/k/check (1 bucket)",
    "check-spread": f"POST …/bench/k<n>/check ({SPREAD_KEYS} buckets)",
    "raw": "raw EVALSHA, redis-benchmark (1 bucket)",
    "raw-spread": f"raw EVALSHA, redis-benchmark ({SPREAD_KEYS} buckets)",
}
RAW_OF = {"check": "raw", "check-spread": "raw-spread"}


# ---------------------------------------------------------------- setup
async def _api(
    session: aiohttp.ClientSession, method: str, url: str, doc: dict[str, Any] | None = None
) -> dict[str, Any]:
    async with session.request(method, url, json=doc) as resp:
        body = await resp.read()
        if resp.status not in (200, 201):
            raise BenchError(f"{method} {url}: {resp.status} {body[:500]!r}")
        return dict(json.loads(body))


def session(token: str, connections: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections),
        headers={"Authorization": f"Bearer {token}"},
        timeout=aiohttp.ClientTimeout(total=60),
    )


@dataclass(frozen=True)
class Plan:
    limit: int
    window_sec: int
    burst: int

    @property
    def rate(self) -> float:
        return self.limit / self.window_sec


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    p.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds before each")
    p.add_argument("--rounds", type=int, default=3, help="rounds per measurement (median)")
    p.add_argument(
        "--raw-requests", type=int, default=200_000, help="EVALSHA per redis-benchmark round"
    )
    acc = p.add_argument_group("the accuracy run's policy acc/*")
    acc.add_argument("--limit", type=int, default=2000, help="L: tokens per window (2000)")
    acc.add_argument("--window", type=int, default=1, help="W: window in seconds (1)")
    acc.add_argument("--burst", type=int, default=500, help="B: bucket capacity (500)")
    return p.parse_args()


async def _put_policies(base: str, token: str, acc: Plan) -> None:
    policies = {
        "bench/*": {"limit": HUGE, "window_sec": 1, "burst": HUGE},
        "acc/*": {"limit": acc.limit, "window_sec": acc.window_sec, "burst": acc.burst},
        "exact/*": {"limit": EXACT_CAPACITY, "window_sec": EXACT_WINDOW},
    }
    async with session(token, 4) as s:
        for path, doc in policies.items():
            await _api(s, "PUT", f"{base}/v1/ratelimits/{path}", {**doc, "fail_mode": "closed"})
        for path in ("bench/k", "bench/k7"):
            got = await _api(s, "POST", f"{base}/v1/ratelimits/{path}/check", {})
            if not (got["allowed"] and got["policy"] == "bench/*" and got["source"] == "redis"):
                raise BenchError(f"check {path} answered {got}")


def setup_policies(server: Server, token: str, acc: Plan) -> None:
    """Every policy through the API (fail_mode closed: a decision not made by Redis shows)."""
    say("putting the policies bench/* (huge), acc/* and exact/* and checking bench/k")
    asyncio.run(_put_policies(server.base, token, acc))


# ---------------------------------------------------------------- raw EVALSHA
# The script's ARGV as RateLimitService.take passes them for the bench/* policy (HUGE per 1 s,
# burst HUGE) and cost 1: limit, window_us, capacity, cost, peek.
RAW_ARGV = [str(HUGE), "1000000", str(HUGE), "1", "0"]


def load_script(server: Server) -> None:
    r = redis.Redis(**server.redis_kwargs())
    try:
        sha = r.script_load(SCRIPT)
        if sha != SCRIPT_SHA:
            raise BenchError(f"SCRIPT LOAD answered {sha}, the service uses {SCRIPT_SHA}")
        allowed, _units, _now = r.evalsha(SCRIPT_SHA, 1, "hearth:rl:{bench:raw}", *RAW_ARGV)
        if int(allowed) != 1:
            raise BenchError("raw EVALSHA did not allow a check under the huge policy")
    finally:
        r.close()


def redis_benchmark(
    server: Server, name: str, connections: int, requests: int, *, spread: bool
) -> Round:
    """``redis-benchmark --csv`` running EVALSHA of the bucket script (one Redis connection per
    client, no pipelining); the password is passed with -a (redis-benchmark 7.0 reads no
    REDISCLI_AUTH) and never printed."""
    exe = shutil.which("redis-benchmark")
    if exe is None:
        raise BenchError("redis-benchmark is missing: apt-get install -y redis-tools")
    key = "hearth:rl:{bench:raw__rand_int__}" if spread else "hearth:rl:{bench:raw}"
    cmd = [exe, "-h", "127.0.0.1", "-p", server.env["HEARTH_REDIS_PORT"]]
    cmd += ["-a", server.secret("redis.password")]
    cmd += ["-c", str(connections), "-n", str(requests), "--csv"]
    cmd += ["-r", str(SPREAD_KEYS)] if spread else []
    cmd += ["EVALSHA", SCRIPT_SHA, "1", key, *RAW_ARGV]
    say(f"measuring {name} @ {connections} connections ({requests:,} EVALSHA)")
    res = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300)
    rows = list(csv.DictReader(res.stdout.splitlines()))
    if res.returncode != 0 or not rows or "rps" not in rows[-1]:
        err = (res.stderr or res.stdout).replace(cmd[6], "***")
        raise BenchError(f"redis-benchmark failed ({res.returncode}): {err[-1000:]}")
    row = rows[-1]
    rps = float(row["rps"])
    result = Round(
        rps=rps,
        p50_ms=float(row["p50_latency_ms"]),
        p99_ms=float(row["p99_latency_ms"]),
        mean_ms=float(row["avg_latency_ms"]),
        max_ms=float(row["max_latency_ms"]),
        requests=requests,
        duration_s=requests / rps if rps else 0.0,
    )
    say(f"  {name} @ {connections}: {rps:,.0f} EVALSHA/s, p50 {result.p50_ms:.2f} ms")
    return result


# ---------------------------------------------------------------- accuracy
@dataclass
class Ramp:
    """The burst's start as Redis saw it (MONITOR), replayed through a perfect token bucket."""

    first_us: int = 0  # Redis timestamp of the first check on the bucket
    decisions: int = 0  # checks watched, until the replayed bucket was a quarter full
    cap_loss: float = 0.0  # refill a perfect bucket could not keep: it was full meanwhile


def accuracy(admitted: int, ideal: float) -> float:
    return 1 - abs(admitted - ideal) / ideal if ideal else 0.0


@dataclass
class Burst:
    label: str
    connections: int
    checks: int = 0
    admitted: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    sources: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0  # first check to last check, on the bucket's clock (Redis)
    lead_ms: float = 0.0  # Redis TIME read just before the burst, to the first check
    admit_times: list[float] = field(default_factory=list)  # client clock, s from the start
    decisions: list[tuple[float, bool]] = field(default_factory=list)  # (bucket clock, allowed)
    ideal: float = 0.0  # B + L/W x elapsed
    ramp: Ramp = field(default_factory=Ramp)

    plan: Plan | None = None

    @property
    def perfect(self) -> float:
        """What a perfect bucket admits for exactly these arrivals, replayed in the order and
        at the instants the limiter decided them (its own clock, returned with each check):
        whatever the load generator managed, this is the number an exact limiter admits."""
        if self.plan is None or not self.decisions:
            return self.ideal - self.ramp.cap_loss
        rate = self.plan.rate
        tokens, last, admitted = float(self.plan.burst), None, 0
        for at, _ in sorted(self.decisions):
            if last is not None:
                tokens = min(float(self.plan.burst), tokens + (at - last) * rate)
            last = at
            if tokens >= 1.0:
                tokens -= 1.0
                admitted += 1
        return float(admitted)

    @property
    def accuracy(self) -> float:
        return accuracy(self.admitted, self.ideal)

    @property
    def accuracy_perfect(self) -> float:
        return accuracy(self.admitted, self.perfect)

    @property
    def bad(self) -> int:
        return sum(self.errors.values()) + sum(n for s, n in self.sources.items() if s != "redis")


async def _check(s: aiohttp.ClientSession, url: str, burst: Burst, t0: float) -> None:
    try:
        async with s.post(url, data=b"{}", headers={"Content-Type": "application/json"}) as r:
            body = await r.read()
            status = r.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        burst.errors[type(exc).__name__] = burst.errors.get(type(exc).__name__, 0) + 1
        return
    burst.checks += 1
    if status != 200:
        burst.errors[str(status)] = burst.errors.get(str(status), 0) + 1
        return
    doc = json.loads(body)
    burst.sources[doc["source"]] = burst.sources.get(doc["source"], 0) + 1
    if doc.get("decided_at"):
        burst.decisions.append((doc["decided_at"], bool(doc["allowed"])))
    if doc["allowed"]:
        burst.admitted += 1
        burst.admit_times.append(time.perf_counter() - t0)


async def _bucket_clock(r: aioredis.Redis) -> int:
    sec, usec = await r.time()
    return int(sec) * 1_000_000 + int(usec)


async def _watch_ramp(
    r: aioredis.Redis, bucket: str, plan: Plan, ready: asyncio.Event, ramp: Ramp
) -> None:
    """MONITOR the bucket's EVALSHAs from the first on, replaying each through a perfect bucket
    (L/W refill, capacity B, cost 1), until that bucket is down to a quarter of B: from then on
    only a stall of 3/4 B / (L/W) could fill it again. Its timestamps are Redis's clock (the
    script's TIME, microseconds earlier). Detaches then, so it costs the run little."""
    tokens, last = float(plan.burst), 0
    async with r.monitor() as m:
        ready.set()
        while tokens >= plan.burst / 4:
            cmd = await m.next_command()
            if not (cmd["command"][:7].upper() == "EVALSHA" and bucket in cmd["command"]):
                continue
            now = round(cmd["time"] * 1e6)
            if ramp.decisions == 0:
                ramp.first_us = last = now
            tokens += max(0, now - last) * plan.rate / 1e6
            last = now
            if tokens > plan.burst:
                ramp.cap_loss += tokens - plan.burst
                tokens = plan.burst
            tokens -= 1 if tokens >= 1 else 0
            ramp.decisions += 1


async def _burst(
    server: Server, token: str, burst: Burst, key: str, plan: Plan, *, seconds: float, total: int
) -> Ramp:
    """Hammer one fresh bucket: with ``seconds``, a closed loop until then (every check sent is
    awaited); else ``total`` checks at once. Times the burst on the bucket's clock: from the
    first command on the bucket (seen by MONITOR, detached right after) to the bucket's own
    ``ts`` at the end (the last check's TIME)."""
    service, k = key.split("/")
    url = f"{server.base}/v1/ratelimits/{service}/{{}}/check"
    r = aioredis.Redis(**server.redis_kwargs())
    try:
        async with session(token, burst.connections) as s:
            # Open the connections first (on another bucket), so the burst starts at once.
            warm = Burst("warm", burst.connections)
            await asyncio.gather(
                *(_check(s, url.format(f"{k}-warm"), warm, 0.0) for _ in range(burst.connections))
            )
            if warm.bad:
                raise BenchError(f"warm-up checks failed: {warm.errors} {warm.sources}")
            bucket = bucket_key(service, k)
            ready = asyncio.Event()
            ramp = Ramp()
            watch = asyncio.create_task(_watch_ramp(r, bucket, plan, ready, ramp))
            await asyncio.wait_for(ready.wait(), 10)
            t0 = time.perf_counter()
            start_us = await _bucket_clock(r)
            if seconds:
                stop = t0 + seconds

                async def worker() -> None:
                    while time.perf_counter() < stop:
                        await _check(s, url.format(k), burst, t0)

                await asyncio.gather(*(worker() for _ in range(burst.connections)))
            else:
                await asyncio.gather(*(_check(s, url.format(k), burst, t0) for _ in range(total)))
            try:
                await asyncio.wait_for(watch, 10)
            except (TimeoutError, redis.exceptions.TimeoutError):
                # The checks never drained the bucket to a quarter of B: main() reports the run
                # as one without overload instead of the watcher's timeout.
                say("!!! the burst never drained the bucket to a quarter of B")
            end_us = int((await r.hget(bucket, "ts")) or 0)
            burst.elapsed_s = (end_us - ramp.first_us) / 1e6
            burst.lead_ms = (ramp.first_us - start_us) / 1000
            return ramp
    finally:
        await r.aclose()


def measure_accuracy(server: Server, token: str, plan: Plan, seconds: float) -> Burst:
    burst = Burst(
        f"L={plan.limit}/{plan.window_sec}s, B={plan.burst}, {BURST_CONNECTIONS} connections",
        BURST_CONNECTIONS,
    )
    key = f"acc/run{int(time.time())}"
    say(f"accuracy: {burst.label}, bucket {key}, {seconds:g} s closed loop")
    burst.plan = plan
    burst.ramp = asyncio.run(_burst(server, token, burst, key, plan, seconds=seconds, total=0))
    burst.ideal = plan.burst + plan.rate * burst.elapsed_s
    say(
        f"  {burst.checks:,} checks, admitted {burst.admitted:,}, ideal {burst.ideal:,.1f} over "
        f"{burst.elapsed_s:.6f} s (bucket clock): accuracy {burst.accuracy:.5%}; ramp-up "
        f"({burst.ramp.decisions} checks watched) lost {burst.ramp.cap_loss:.1f} tokens at "
        f"the cap: vs a perfect bucket {burst.accuracy_perfect:.5%}; the first check came "
        f"{burst.lead_ms:.1f} ms after the TIME read before the burst"
    )
    return burst


def measure_exact(server: Server, token: str) -> Burst:
    burst = Burst(
        f"{EXACT_CHECKS} concurrent checks, {EXACT_CAPACITY}-token bucket, "
        f"{BURST_CONNECTIONS} connections",
        BURST_CONNECTIONS,
    )
    key = f"exact/run{int(time.time())}"
    say(f"exactness: {burst.label}, bucket {key}")
    plan = Plan(EXACT_CAPACITY, EXACT_WINDOW, EXACT_CAPACITY)
    burst.ramp = asyncio.run(_burst(server, token, burst, key, plan, seconds=0, total=EXACT_CHECKS))
    burst.ideal = EXACT_CAPACITY + plan.rate * burst.elapsed_s
    say(f"  admitted {burst.admitted} of {burst.checks} (must be exactly {EXACT_CAPACITY})")
    return burst


# ---------------------------------------------------------------- profile
def profile_check(server: Server, req: Request, connections: int, seconds: float) -> dict[str, Any]:
    out = Path(tempfile.mkdtemp(prefix="hearth-bench-rl-")) / "check.raw"
    prof = Profiler(out, workers=1)
    prof.start(server.proc.pid)
    try:
        measure("check (profiled)", req, connections, seconds, 0)
    finally:
        prof.stop()
    top = prof.top(12)
    shutil.rmtree(out.parent, ignore_errors=True)
    return top


# ---------------------------------------------------------------- report
HEADER = ["what", "conns", "req/s", "p50 ms", "p99 ms", "x hello", "x raw", "errors"]
ACC_HEADER = ["burst", "checks", "admitted", "ideal", "elapsed s", "accuracy", "target"]


def ratios(results: list[Result]) -> dict[tuple[str, int], float]:
    """(endpoint, conns) -> req/s ÷ raw EVALSHA req/s of the same bucket layout and conns;
    Result.ratio holds req/s ÷ hello-world at the same conns."""
    by = {(r.endpoint, r.connections): r for r in results}
    x_raw = {}
    for r in results:
        hello = by.get(("hello", r.connections))
        if hello and hello.rps and r.endpoint != "hello":
            r.ratio = r.rps / hello.rps
        raw = by.get((RAW_OF.get(r.endpoint, ""), r.connections))
        if raw and raw.rps:
            x_raw[(r.endpoint, r.connections)] = r.rps / raw.rps
    return x_raw


def table_rows(results: list[Result], x_raw: dict[tuple[str, int], float]) -> list[list[str]]:
    rows = []
    for r in sorted(results, key=lambda r: (r.connections, ROWS.index(r.endpoint))):
        ratios = (r.ratio, x_raw.get((r.endpoint, r.connections)))
        rows.append(
            [LABELS[r.endpoint], str(r.connections), f"{r.rps:,.0f}"]
            + [f"{ms:.2f}" for ms in (r.p50_ms, r.p99_ms)]
            + [f"{x:.3f}" if x is not None else "—" for x in ratios]
            + [f"{r.error_count} !!" if r.error_count else "0"]
        )
    return rows


def acc_rows(acc: Burst, exact: Burst) -> list[list[str]]:
    def spec(value: float) -> str:
        ok = value > SPEC_ACCURACY and not acc.bad
        return f"spec > {SPEC_ACCURACY:.1%}: {'met' if ok else 'NOT met'}"

    exact_ok = exact.admitted == EXACT_CAPACITY and not exact.bad
    return [
        [
            f"{acc.label}: vs B + L/W x elapsed",
            f"{acc.checks:,}",
            f"{acc.admitted:,}",
            f"{acc.ideal:,.1f}",
            f"{acc.elapsed_s:.6f}",
            f"{acc.accuracy:.4%}",
            spec(acc.accuracy),
        ],
        [
            f"  the same vs a perfect bucket (less {acc.ramp.cap_loss:.1f} lost while full)",
            "",
            "",
            f"{acc.perfect:,.1f}",
            "",
            f"{acc.accuracy_perfect:.4%}",
            spec(acc.accuracy_perfect),
        ],
        [
            exact.label,
            f"{exact.checks:,}",
            f"{exact.admitted:,}",
            f"{EXACT_CAPACITY}",
            f"{exact.elapsed_s:.6f}",
            f"{accuracy(exact.admitted, EXACT_CAPACITY):.2%}",
            f"exactly {EXACT_CAPACITY}: {'met' if exact_ok else 'NOT met'}",
        ],
    ]


def write_report(
    results: list[Result],
    x_raw: dict[tuple[str, int], float],
    acc: Burst,
    exact: Burst,
    plan: Plan,
    profile: dict[str, Any] | None,
    args: argparse.Namespace,
    facts: dict[str, str],
    problems: list[str],
) -> None:
    lines = []
    if facts["busy"]:
        lines += [
            f"> **Busy machine**: {facts['noise_start']} at the start — other work shared the two "
            "cores, so req/s and even the ratios (measured minutes apart) are noisy; the "
            "accuracy and exactness figures do not depend on speed.",
            "",
        ]
    demand = acc.checks / acc.elapsed_s if acc.elapsed_s else 0.0
    lead_ideal = acc.ideal + plan.rate * acc.lead_ms / 1000
    lines += [
        f"- Machine: {machine_line(machine_info(), wrk_version(), facts['redis_benchmark'])}. "
        "At the start: {facts['noise_start']}; at the end: "
        f"{facts['noise_end']}.",
        "- Server: one `hearth serve` process (`HEARTH_LOG_LEVEL=WARNING`) with its embedded "
        "PostgreSQL and Redis, in a fresh data dir. **The load generators, the server and Redis "
        "share the same cores**, so req/s is given as ratios measured in the same run: to a "
        "bare aiohttp hello-world (`bench/harness/hello.py`) at the same concurrency, and to raw "
        "`EVALSHA` of the bucket script against the same Redis at the same concurrency.",
        "",
        "## Throughput",
        "",
        f"- check: `wrk -t1 -cN -d{args.duration:g}s --latency` after a {args.warmup:g} s "
        "warm-up, `POST /v1/ratelimits/bench/k/check` with the body `{}` and a bearer token "
        f"(`{SCOPES}`), under the policy `bench/*` = {HUGE:,} per 1 s with burst {HUGE:,}: "
        "every check is allowed, so each does the same work (policy lookup from memory, one "
        "`EVALSHA`, JSON answer). The spread variant picks `bench/k<n>`, n random in "
        f"0..{SPREAD_KEYS - 1}, per request (script `bench/ratelimit/wrk.lua`).",
        f"- raw EVALSHA: `hearth_core.ratelimit.bucket.SCRIPT` loaded with `SCRIPT LOAD` (SHA "
        f"`{SCRIPT_SHA[:12]}…`, the service's), then `redis-benchmark -c N -n {args.raw_requests:,} "
        f"--csv EVALSHA <sha> 1 hearth:rl:{{bench:raw}} {' '.join(RAW_ARGV)}` — ARGV "
        "limit, window_us, capacity, cost, peek exactly as the service passes them for "
        "`bench/*`; the spread variant uses the key `hearth:rl:{bench:raw__rand_int__}` with "
        f"`-r {SPREAD_KEYS}`. One connection per client, no pipelining, after a warm-up of "
        f"{args.raw_requests // 10:,}.",
        "",
        *md_table(HEADER, table_rows(results, x_raw)),
        "",
        "`x hello` = req/s ÷ hello-world req/s at the same connection count; `x raw` = req/s "
        "÷ raw EVALSHA/s of the same bucket layout at the same count. Latencies are wrk's and "
        "redis-benchmark's (per request, from send to full response).",
        "",
        "## Accuracy under 64-connection bursts",
        "",
        f"- Policy `acc/*`: L = {plan.limit} tokens per W = {plan.window_sec} s, burst B = "
        f"{plan.burst}, on a fresh bucket. {BURST_CONNECTIONS} aiohttp connections (one task "
        f"each, closed loop) send `POST …/check {{}}` for {args.duration:g} s; every check "
        "sent is awaited, so none is in flight uncounted at the end. Demand: "
        f"{demand:,.0f} checks/s on the bucket's clock, {demand / plan.rate:.1f}x the refill "
        "rate, so the bucket is drained throughout.",
        "- ideal = B + L/W x elapsed, elapsed from the first check to the last on the "
        "bucket's own clock (Redis): the start is the Redis timestamp of the first `EVALSHA` "
        "on the bucket, seen by a `MONITOR` connection (the script's `TIME` is microseconds "
        "before it); the end is the bucket's `ts` field read after the last answer, which the "
        "script sets to Redis `TIME` at every check. accuracy = 1 - |admitted - ideal| / "
        "ideal.",
        "- That ideal assumes the checks outpace the refill from the very first one. They do "
        "not quite: the first check reaches Redis alone and the other connections' follow "
        "milliseconds later, while the bucket is still full, so part of that refill cannot be "
        "kept — by any token bucket. The `MONITOR` connection therefore replays the first "
        f"checks' Redis timestamps ({acc.ramp.decisions} here) through a perfect bucket (L/W "
        "refill, capacity B) until it is down to a quarter of B — from then on only a stall "
        f"of {0.75 * plan.burst / plan.rate * 1000:.0f} ms could fill it again — and then "
        f"detaches. That bucket had to drop {acc.ramp.cap_loss:.1f} tokens while full; "
        "`vs a perfect bucket` compares admitted with the ideal less those. The exit code "
        "follows that figure.",
        f"- (Starting at a Redis `TIME` read just before the burst would instead add the "
        f"{acc.lead_ms:.1f} ms until the first check was decided: "
        f"{plan.rate * acc.lead_ms / 1000:.0f} tokens the bucket never had — it is created "
        "full by its first check — and this run's accuracy would read "
        f"{accuracy(acc.admitted, lead_ideal):.4%}.)",
        f"- Exactness: {EXACT_CHECKS} checks launched at once (`asyncio.gather`) over "
        f"{BURST_CONNECTIONS} connections on a fresh bucket of `exact/*` = {EXACT_CAPACITY} "
        f"per {EXACT_WINDOW:,} s (one token every {EXACT_WINDOW // EXACT_CAPACITY:,} s).",
        "",
        *md_table(ACC_HEADER, acc_rows(acc, exact)),
        "",
        f"Decisions by source: accuracy run {acc.sources}, exactness run {exact.sources}; "
        "errors: "
        f"{acc.errors or 'none'} / {exact.errors or 'none'}. Every policy is `fail_mode: "
        "closed`, so a decision not made by Redis would be counted here, not slip in.",
        "",
    ]
    if profile is not None:
        lines += [
            "## Profile of the check endpoint",
            "",
            f"A check rate fell below {PROFILE_BELOW}x the hello-world, so the server was "
            f"sampled with py-spy during one more {args.duration:g} s run of `check` at "
            f"{max(CONNECTIONS)} connections.",
            "",
            *profile_lines(profile),
            "",
        ]
    lines += ["![throughput and admitted checks](ratelimit.png)"]
    write_markdown(HERE, "Rate-limit benchmark", lines, problems)


def write_chart(results: list[Result], acc: Burst, plan: Plan) -> None:
    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 4.8))
    by = {(r.endpoint, r.connections): r for r in results}
    width = 0.8 / len(ROWS)
    colors = ["#9e9e9e", "#1f77b4", "#6baed6", "#ff7f0e", "#fdae6b"]
    for i, ep in enumerate(ROWS):
        xs = [j + (i - (len(ROWS) - 1) / 2) * width for j in range(len(CONNECTIONS))]
        found = [by.get((ep, c)) for c in CONNECTIONS]
        bars = ax1.bar(xs, [r.rps if r else 0 for r in found], width, label=ep, color=colors[i])
        marks = [f"{r.ratio:.2f}x" if r and r.ratio is not None else "" for r in found]
        ax1.bar_label(bars, labels=marks, fontsize=7)
    ax1.set_xticks(range(len(CONNECTIONS)), [f"{c} conns" for c in CONNECTIONS])
    ax1.set_yscale("log")
    ax1.set_ylabel("requests / s (log)")
    ax1.set_title("Throughput (label: ratio to hello-world)")
    ax1.legend(fontsize=7)
    ts = acc.admit_times
    ax2.plot(ts, range(1, len(ts) + 1), label=f"admitted ({acc.admitted:,})", lw=1.5)
    end = max(ts, default=0.0)
    ax2.plot(
        [0, end],
        [plan.burst, plan.burst + plan.rate * end],
        "--",
        color="red",
        lw=1,
        label=f"B + L/W x t (ideal {acc.ideal:,.0f})",
    )
    ax2.set_xlabel("s since the start (client clock)")
    ax2.set_ylabel("checks admitted")
    ax2.set_title(
        f"Admitted, {acc.connections} connections: accuracy {acc.accuracy:.3%} "
        f"({acc.accuracy_perfect:.3%} vs a perfect bucket)",
        fontsize=10,
    )
    ax2.legend(fontsize=8)
    try:
        fig.savefig(HERE / "ratelimit.png", dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)


# ---------------------------------------------------------------- main
def main() -> int:
    args = parse_args()
    plan = Plan(args.limit, args.window, args.burst)
    out = subprocess.run(["redis-benchmark", "--version"], capture_output=True, text=True)
    facts = {"noise_start": noise(), "redis_benchmark": out.stdout.strip() or "redis-benchmark"}
    facts["busy"] = "yes" if os.getloadavg()[0] >= 1.0 else ""
    say(f"machine: {facts['noise_start']}")
    results: list[Result] = []
    profile: dict[str, Any] | None = None
    with hearth_server() as server:
        say(f"creating a client ({SCOPES}) and taking a client_credentials token")
        token = bearer_token(server, create_client(server, "bench-ratelimit", SCOPES))
        setup_policies(server, token, plan)
        load_script(server)
        auth = f"Bearer {token}"
        keys = {"BENCH_KEYS": str(SPREAD_KEYS)}
        check, spread = (
            Request(f"{server.base}/v1/ratelimits/bench/{k}/check", "POST", "{}", auth, LUA, keys)
            for k in ("k", "k*")
        )
        with hello_server() as hello_url:
            for n in CONNECTIONS:
                for name, req in (
                    ("hello", Request(hello_url, script=LUA)),
                    ("check", check),
                    ("check-spread", spread),
                ):
                    results.append(measure(name, req, n, args.duration, args.warmup, args.rounds))
                for name, rand in (("raw", False), ("raw-spread", True)):
                    redis_benchmark(server, name, n, args.raw_requests // 10, spread=rand)
                    rounds = [
                        redis_benchmark(server, name, n, args.raw_requests, spread=rand)
                        for _ in range(args.rounds)
                    ]
                    results.append(Result(name, n, rounds))
            x_raw = ratios(results)
            slow = [r for r in results if r.endpoint == "check" and (r.ratio or 0) < PROFILE_BELOW]
            if slow:
                say(f"check at {slow[0].ratio:.2f}x hello (< {PROFILE_BELOW}): profiling")
                profile = profile_check(server, check, max(CONNECTIONS), args.duration)
        acc = measure_accuracy(server, token, plan, args.duration)
        exact = measure_exact(server, token)
        log_tail = server.log_tail()
    facts["noise_end"] = noise()

    problems = error_lines(results)
    if acc.bad or exact.bad:
        problems.append(f"burst errors {acc.errors} {exact.errors}, sources {acc.sources}")
    if acc.checks <= plan.burst + plan.rate * acc.elapsed_s:
        problems.append("the accuracy run's checks did not outpace the refill: no overload")
    print_grid(HEADER, table_rows(results, x_raw))
    print_grid(ACC_HEADER, acc_rows(acc, exact))
    write_chart(results, acc, plan)
    write_report(results, x_raw, acc, exact, plan, profile, args, facts, problems)
    png = "ratelimit/ratelimit.png"
    raw = max((r.rps for r in results if r.endpoint == "raw"), default=0.0)
    exact_line = (
        f"exactness: {exact.admitted} of {exact.checks} admitted (must be {EXACT_CAPACITY})"
    )
    write_results(
        HERE,
        [
            *(
                figure(
                    f"rate-limit accuracy, {BURST_CONNECTIONS}-connection burst, vs {what}",
                    round(100 * value, 4),
                    "%",
                    f"> {SPEC_ACCURACY:.1%}",
                    value > SPEC_ACCURACY,
                    headline="ratelimit",
                    target_value=100 * SPEC_ACCURACY,
                    limit=f"{exact_line}; raw EVALSHA {raw:,.0f}/s",
                    limit_value=100.0,
                    chart=png,
                    detail=f"admitted {acc.admitted:,} of {acc.checks:,} checks, ideal {ideal:,.1f}, "
                    f"L={plan.limit}/{plan.window_sec}s B={plan.burst}",
                    errors=acc.bad,
                )
                for what, value, ideal in (
                    ("B + L/W x elapsed", acc.accuracy, acc.ideal),
                    ("a perfect bucket", acc.accuracy_perfect, acc.perfect),
                )
            ),
            figure(
                f"exactness: {EXACT_CHECKS} concurrent checks on a {EXACT_CAPACITY}-token bucket",
                exact.admitted,
                "admitted",
                f"exactly {EXACT_CAPACITY}",
                exact.admitted == EXACT_CAPACITY,
                errors=exact.bad,
                chart=png,
            ),
            *(
                figure(
                    f"{LABELS[r.endpoint]} @ {r.connections}: req/s ÷ raw EVALSHA",
                    round(x_raw[(r.endpoint, r.connections)], 3),
                    "x raw",
                    "—",
                    None,
                    limit="raw EVALSHA of the same bucket layout",
                    detail=f"{r.rps:,.0f} req/s, p99 {r.p99_ms:.2f} ms, {r.ratio or 0:.3f}x hello",
                    errors=r.error_count,
                )
                for r in results
                if (r.endpoint, r.connections) in x_raw
            ),
        ],
    )
    return finish(problems, log_tail)


if __name__ == "__main__":
    run_main(main)
