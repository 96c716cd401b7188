"""Feature flags and configuration store benchmark: flag evaluation and config reads as a ratio
of an aiohttp hello-world measured in the same run, config write latency, and the delay from a
flag toggle to its Server-Sent Event on the same and on another worker.

    .venv/bin/python bench/flags/run.py [--duration 10] [--warmup 2] [--rounds 3] [--toggles 200]

Starts ``hearth serve`` (bench.harness: embedded PostgreSQL and Redis, a fresh data dir),
registers a client (``flag.read,flag.write,config.read,config.write``) and takes a
client_credentials token. Then:

1. creates 50 flags (plain on/off, partial rollouts, variants, targeting rules, per-environment
   overrides) and 200 config keys in environment ``prod`` (JSON objects) through the API;
2. drives, with ``wrk -t1 -c16 --latency`` (``--rounds`` rounds after a warm-up; the median
   and the min-max) and beside the hello-world:
   ``POST /v1/flags/evaluate`` (a random user per request), the same with ``If-None-Match`` (the
   304 path, one fixed user), ``GET /v1/config/<key>?environment=prod`` (a random key of the
   200) and ``POST /v1/config`` (a unique value per request, at 16 and at 1 connection);
3. starts a second ``hearth serve`` on the same PostgreSQL and Redis (as another machine
   would), opens one SSE subscriber (``GET /v1/flags/stream``) on each server, toggles a flag
   ``--toggles`` times at ``--toggle-rate``/s through the first server and times, per toggle,
   from just before the PUT is sent to the arrival of the matching event at each subscriber.

Prints the tables and writes ``RESULTS.md``, ``flags.png`` and ``results.json`` next to this file; progress goes
to stderr. Client and servers share the machine's cores, so the numbers are a comparison, not a
capacity figure. Any non-2xx answer, socket error or undelivered event is flagged; the exit code
is then 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.harness.charts import pyplot
from bench.harness.client import bearer_token, create_client, http, post_json
from bench.harness.flag_data import ENV, N_FLAGS, TOGGLE_FLAG, seed_data
from bench.harness.log import BenchError, run_main, say
from bench.harness.machine import machine_info, machine_line, noise
from bench.harness.results import figure, finish, write_markdown, write_results
from bench.harness.server import Server, hearth_server, hello_server
from bench.harness.stats import pct
from bench.harness.tables import md_table, print_grid
from bench.harness.wrk import Request, Result, error_lines, measure, wrk_version

HERE = Path(__file__).resolve().parent
LUA = HERE / "wrk.lua"

SCOPES = "flag.read,flag.write,config.read,config.write"
AIM_RATIO = 0.6  # evaluation and config reads: req/s ÷ hello-world req/s
SPEC_WRITE_P99_MS = 50.0
SPEC_SSE_P99_MS = 20.0
FIXED_USER = "user-1"

ENDPOINTS = ("hello", "evaluate", "evaluate304", "config-get", "config-set")
LABELS = {
    "hello": "hello-world GET /",
    "evaluate": "POST /v1/flags/evaluate (random user)",
    "evaluate304": "POST /v1/flags/evaluate + If-None-Match (304)",
    "config-get": "GET /v1/config/{key}?environment=prod",
    "config-set": "POST /v1/config (unique value)",
}


def eval_body(user: str) -> dict[str, Any]:
    return {"context": {"targetingKey": user, "environment": ENV, "plan": "gold"}}


def check_endpoints(server: Server, token: str, keys: list[str]) -> tuple[str, dict[str, int]]:
    """Every measured request works and means what we say; returns the fixed user's ETag."""
    status, body = post_json(f"{server.base}/v1/flags/evaluate", token, eval_body(FIXED_USER))
    if status != 200:
        raise BenchError(f"evaluate: {status} {body[:500]!r}")
    flags = json.loads(body)["flags"]
    if len(flags) != N_FLAGS:
        raise BenchError(f"evaluate answered {len(flags)} flags, not {N_FLAGS}")
    reasons: dict[str, int] = {}
    for f in flags:
        reasons[f["reason"]] = reasons.get(f["reason"], 0) + 1
    # The ETag only comes with the answer: ask once more with urllib to read the header.
    req = urllib.request.Request(
        f"{server.base}/v1/flags/evaluate",
        data=json.dumps(eval_body(FIXED_USER)).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        etag = resp.headers["ETag"]
    req.add_header("If-None-Match", etag)
    try:
        urllib.request.urlopen(req, timeout=10).close()
        raise BenchError("evaluate with If-None-Match did not answer 304")
    except urllib.error.HTTPError as exc:
        if exc.code != 304:
            raise BenchError(f"evaluate with If-None-Match: {exc.code}") from None
    status, body = http(
        f"{server.base}/v1/config/{keys[0]}?environment={ENV}", auth=f"Bearer {token}"
    )
    if status != 200 or json.loads(body)["key"] != keys[0]:
        raise BenchError(f"config read: {status} {body[:500]!r}")
    return etag, reasons


# ---------------------------------------------------------------- SSE latency
@dataclass
class Subscriber:
    label: str
    base: str
    token: str
    arrivals: dict[int, float] = field(default_factory=dict)  # flag version -> perf_counter
    latencies_ms: list[float] = field(default_factory=list)
    missing: int = 0
    after_answer_ms: list[float] = field(default_factory=list)  # arrival - the PUT's answer
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Propagation:
    subscribers: list[Subscriber]
    put_ms: list[float]
    toggles: int
    put_errors: int
    rate: float
    seconds: float


async def _listen(session: aiohttp.ClientSession, sub: Subscriber) -> None:
    headers = {"Authorization": f"Bearer {sub.token}", "Accept": "text/event-stream"}
    async with session.get(f"{sub.base}/v1/flags/stream", headers=headers) as resp:
        if resp.status != 200:
            raise BenchError(f"{sub.label}: stream answered {resp.status}")
        event, data, first_at = "", [], 0.0
        async for raw in resp.content:
            now = time.perf_counter()
            line = raw.decode().rstrip("\r\n")
            if not line:  # end of one event
                if event == "hello":
                    sub.ready.set()
                elif event == "flag":
                    doc = json.loads("\n".join(data))
                    state = doc.get("state") or {}
                    if doc.get("flag") == TOGGLE_FLAG and "version" in state:
                        sub.arrivals.setdefault(int(state["version"]), first_at)
                        sub.arrived.set()
                event, data, first_at = "", [], 0.0
                continue
            first_at = first_at or now
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)


async def _propagation(
    put_base: str, put_token: str, subs: list[Subscriber], toggles: int, rate: float
) -> Propagation:
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=None)
    async with (
        aiohttp.ClientSession(timeout=timeout) as listen,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as writer,
    ):
        tasks = [asyncio.create_task(_listen(listen, s), name=s.label) for s in subs]
        try:
            deadline = time.perf_counter() + 15
            while not all(s.ready.is_set() for s in subs) and time.perf_counter() < deadline:
                for t in tasks:
                    if t.done():
                        t.result()  # a subscriber that failed raises here
                await asyncio.sleep(0.05)
            if not all(s.ready.is_set() for s in subs):
                raise BenchError("the SSE subscribers did not receive their hello event")
            url = f"{put_base}/v1/flags/{TOGGLE_FLAG}"
            headers = {"Authorization": f"Bearer {put_token}"}
            async with writer.get(url, headers=headers) as resp:
                enabled = bool((await resp.json())["enabled"])
            sent: dict[int, float] = {}
            answered: dict[int, float] = {}
            put_ms: list[float] = []
            errors = 0
            start = time.perf_counter()
            for i in range(toggles):
                enabled = not enabled
                t0 = time.perf_counter()
                async with writer.put(url, json={"enabled": enabled}, headers=headers) as resp:
                    body = await resp.read()
                t1 = time.perf_counter()
                if resp.status != 200:
                    errors += 1
                    say(f"!!! PUT {url}: {resp.status} {body[:200]!r}")
                else:
                    version = int(json.loads(body)["version"])
                    sent[version], answered[version] = t0, t1
                    put_ms.append((t1 - t0) * 1000)
                delay = start + (i + 1) / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            seconds = time.perf_counter() - start
            with contextlib.suppress(TimeoutError):  # what has not come in 5 s is missing
                async with asyncio.timeout(5):
                    for s in subs:
                        while not sent.keys() <= s.arrivals.keys():
                            s.arrived.clear()
                            await s.arrived.wait()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    for s in subs:
        s.latencies_ms = [(s.arrivals[v] - t0) * 1000 for v, t0 in sent.items() if v in s.arrivals]
        s.missing = len(sent) - len(s.latencies_ms)
        s.after_answer_ms = [
            (s.arrivals[v] - t1) * 1000 for v, t1 in answered.items() if v in s.arrivals
        ]
    return Propagation(subs, put_ms, toggles, errors, rate, seconds)


def measure_propagation(
    server: Server, token: str, client: tuple[str, str], toggles: int, rate: float
) -> Propagation:
    subs = [Subscriber("same worker (the PUT's)", server.base, token)]
    try:
        with hearth_server(share=server) as other:
            other_token = bearer_token(other, client)
            subs.append(Subscriber("other worker (2nd process)", other.base, other_token))
            say(f"toggling {TOGGLE_FLAG} {toggles} times at {rate:g}/s; 1 subscriber per worker")
            return asyncio.run(_propagation(server.base, token, subs, toggles, rate))
    except BenchError as exc:
        if len(subs) > 1:
            raise
        say(f"!!! no second worker ({exc}); both subscribers on the first one")
        subs.append(Subscriber("same worker, 2nd subscriber", server.base, token))
        return asyncio.run(_propagation(server.base, token, subs, toggles, rate))


# ---------------------------------------------------------------- report
HEADER = ["endpoint", "conns", "req/s", "p50 ms", "p99 ms", "x hello", "errors", "target"]
SSE_HEADER = ["", "received", "p50 ms", "p95 ms", "p99 ms", "max ms", "vs answer", "target"]


def verdict(r: Result) -> str:
    if r.endpoint == "hello":
        return "— (the limit)"
    mark = "met" if r.error_count == 0 else "failed (errors)"
    if r.endpoint == "config-set":
        ok = r.p99_ms < SPEC_WRITE_P99_MS
        return f"spec p99 < {SPEC_WRITE_P99_MS:g} ms: {mark if ok else 'NOT met'}"
    ok = (r.ratio or 0.0) >= AIM_RATIO
    return f"aim ≥ {AIM_RATIO:g}x hello: {mark if ok else 'NOT met'}"


def table_rows(results: list[Result]) -> list[list[str]]:
    return [
        [
            LABELS[r.endpoint],
            str(r.connections),
            f"{r.rps:,.0f}",
            f"{r.p50_ms:.2f}",
            f"{r.p99_ms:.2f}",
            f"{r.ratio:.2f}" if r.ratio is not None else "—",
            f"{r.error_count} !!" if r.error_count else "0",
            verdict(r),
        ]
        for r in results
    ]


def sse_rows(prop: Propagation) -> list[list[str]]:
    rows = []
    for s in prop.subscribers:
        ok = not s.missing and pct(s.latencies_ms, 99) < SPEC_SSE_P99_MS
        rows.append(
            [
                f"SSE event at subscriber, {s.label}",
                f"{len(s.latencies_ms)}/{len(s.latencies_ms) + s.missing}",
                *(f"{pct(s.latencies_ms, q):.2f}" for q in (50, 95, 99, 100)),
                f"{pct(s.after_answer_ms, 50):+.2f}",
                f"spec p99 < {SPEC_SSE_P99_MS:g} ms: {'met' if ok else 'NOT met'}",
            ]
        )
    p = prop.put_ms
    rows.append(
        [
            f"PUT /v1/flags/{{name}} answer (1 connection, {prop.rate:g}/s)",
            f"{len(p)}/{prop.toggles}",
            *(f"{pct(p, q):.2f}" for q in (50, 95, 99, 100)),
            "—",
            "—",
        ]
    )
    return rows


def write_report(
    results: list[Result],
    prop: Propagation,
    args: argparse.Namespace,
    facts: dict[str, Any],
    problems: list[str],
) -> None:
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(facts["reasons"].items()))
    lines = [
        f"- Machine: {machine_line(machine_info(), wrk_version())}. "
        f"At the start: {facts['noise_start']}; at the end: {facts['noise_end']}.",
        "- Server: one `hearth serve` process (`HEARTH_LOG_LEVEL=WARNING`) with its embedded "
        "PostgreSQL and Redis, in a fresh data dir. **The load generator, the server and its "
        "database share the same cores**, so req/s is given as a ratio to a bare aiohttp "
        "hello-world (`bench/harness/hello.py`) measured in the same run at the same concurrency.",
        f"- Data, created through the API before measuring: {N_FLAGS} flags (a fifth each: "
        "plain on/off, gradual rollout 10-90 %, variants, targeting by user list and attribute "
        "rules, off globally but staged per environment; about a third of the rest carry a "
        f"`prod` override) and {facts['keys']} config keys `<service>.<aspect>` in `{ENV}`, "
        "each a nested JSON object of ~250 bytes.",
        "",
        "## Requests",
        "",
        f"Each measurement: `wrk -t1 -cN -d{args.duration:g}s --latency`, {args.rounds} "
        f"round(s) after a {args.warmup:g} s warm-up (closed loop), bearer token from "
        f"client_credentials (`{SCOPES}`); script `bench/flags/wrk.lua`. req/s and p99 are "
        "the median of the rounds (min-max in brackets).",
        "",
        '- evaluate: `POST /v1/flags/evaluate` `{"context":{"targetingKey":"user-<n>",'
        f'"environment":"{ENV}","plan":"gold"}}}}` with a random n in 1..100 000 per request; '
        f"the answer holds all {N_FLAGS} flags (for `{FIXED_USER}`: {reasons}).",
        f"- evaluate 304: the same body for the fixed user `{FIXED_USER}` with `If-None-Match` "
        "of its ETag: the server still parses the context and hashes it for the ETag, but "
        "evaluates and encodes nothing.",
        f"- config read: `GET /v1/config/<key>?environment={ENV}`, a random key of the "
        f"{facts['keys']} per request (served from memory).",
        "- config write: `POST /v1/config` `{environment, key, value}` to a random key of "
        "the same keys, a unique value per request, no `expected_version`; every write is a "
        "transaction (row lock, new version, history row, audit row, NOTIFY).",
        "",
        *md_table(HEADER, table_rows(results)),
        "",
        "`x hello` = req/s ÷ hello-world req/s at the same concurrency. Latencies are wrk's "
        "(per request, from send to full response). `errors` counts non-2xx answers and "
        "socket errors.",
        "",
        "## Toggle → Server-Sent Event",
        "",
        f"A second `hearth serve` process is started on the first one's PostgreSQL and Redis "
        "(`HEARTH_DATABASE_URL`, `HEARTH_REDIS_URL`, `HEARTH_MASTER_KEY_FILE`), as a second "
        "machine or worker would be. One subscriber holds `GET /v1/flags/stream` open on each "
        f"(aiohttp, bearer token). A separate client toggles `{TOGGLE_FLAG}` "
        f'{prop.toggles} times (`PUT /v1/flags/{{name}}` `{{"enabled": …}}`, keep-alive) at '
        f"{prop.rate:g}/s through the first server ({prop.seconds:.1f} s). Latency = from just "
        "before the PUT is sent to the arrival of the first line of the `flag` event whose "
        "`state.version` is the version the PUT answered; all clients run in one process on "
        "one clock (`perf_counter`). The event path: commit → PostgreSQL NOTIFY → each "
        "worker's LISTEN connection → re-read of the flag → every subscriber's queue → SSE. "
        "`vs answer` = median of (event arrival - arrival of the PUT's own answer): negative "
        "when the event comes before the writer hears back, i.e. the delay is the write's own "
        "transaction, not the fan-out.",
        "",
        *md_table(SSE_HEADER, sse_rows(prop)),
        "",
        "![req/s, latency and toggle→event delay](flags.png)",
    ]
    write_markdown(HERE, "Feature flags and configuration store benchmark", lines, problems)


def write_chart(results: list[Result], prop: Propagation) -> None:
    plt = pyplot()
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(16, 4.8))
    names = [f"{r.endpoint}\n@{r.connections}" for r in results]
    xs = range(len(results))
    bars = ax1.bar(xs, [r.rps for r in results], color="#1f77b4")
    for bar, r in zip(bars, results, strict=True):
        if r.ratio is not None and r.endpoint != "hello":
            ax1.annotate(
                f"{r.ratio:.2f}x",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=8,
            )
    hello = next((r.rps for r in results if r.endpoint == "hello"), 0)
    if hello:
        ax1.axhline(hello * AIM_RATIO, color="green", ls="--", lw=1, label=f"aim {AIM_RATIO}x")
        ax1.legend(fontsize=8)
    ax1.set_xticks(list(xs), names, fontsize=7)
    ax1.set_ylabel("requests / s")
    ax1.set_title("Throughput (label: ratio to hello-world)")
    width = 0.38
    ax2.bar([x - width / 2 for x in xs], [r.p50_ms for r in results], width, label="p50")
    ax2.bar([x + width / 2 for x in xs], [r.p99_ms for r in results], width, label="p99")
    ax2.axhline(SPEC_WRITE_P99_MS, color="red", ls=":", lw=1, label="write spec p99 50 ms")
    ax2.set_xticks(list(xs), names, fontsize=7)
    ax2.set_yscale("log")
    ax2.set_ylabel("ms (log)")
    ax2.set_title("wrk latency")
    ax2.legend(fontsize=8)
    series = [(s.label, s.latencies_ms) for s in prop.subscribers]
    series.append(("PUT answer", prop.put_ms))
    for label, values in series:
        ordered = sorted(values)
        if ordered:
            ys = [100 * (i + 1) / len(ordered) for i in range(len(ordered))]
            ax3.plot(ordered, ys, label=label, drawstyle="steps-post")
    ax3.axvline(SPEC_SSE_P99_MS, color="red", ls=":", lw=1, label="spec p99 20 ms")
    ax3.axhline(99, color="grey", ls="--", lw=0.7)
    ax3.set_xscale("log")
    ax3.set_xlabel("ms from just before the PUT (log)")
    ax3.set_ylabel("% of toggles")
    ax3.set_title(f"Toggle → SSE event ({prop.toggles} toggles at {prop.rate:g}/s)")
    ax3.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(HERE / "flags.png", dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------- main
def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    p.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds before each")
    p.add_argument("--rounds", type=int, default=3, help="rounds per measurement (median)")
    p.add_argument("--connections", type=int, default=16, help="wrk connections")
    p.add_argument("--toggles", type=int, default=200, help="flag toggles for the SSE delay")
    p.add_argument("--toggle-rate", type=float, default=20.0, help="toggles per second")
    return p.parse_args()


def main() -> int:
    args = parse_args()
    facts: dict[str, Any] = {"noise_start": noise()}
    say(f"machine: {facts['noise_start']}")
    results: list[Result] = []
    with hearth_server() as server:
        say(f"creating a client ({SCOPES}) and taking a client_credentials token")
        client = create_client(server, "bench-flags", SCOPES)
        token = bearer_token(server, client)
        _, keys = seed_data(server, token)
        token = bearer_token(server, client)  # fresh: a whole access-token TTL from here
        etag, facts["reasons"] = check_endpoints(server, token, keys)
        facts["keys"] = len(keys)
        say(f"evaluation (ETag {etag}), 304 path and config reads verified")
        auth = f"Bearer {token}"
        n = args.connections
        plan = [
            ("hello", None, {}, n),
            ("evaluate", "evaluate", {}, n),
            ("evaluate304", "evaluate304", {"BENCH_ETAG": etag}, n),
            ("config-get", "config-get", {"BENCH_KEYS": ",".join(keys)}, n),
            ("config-set", "config-set", {"BENCH_KEYS": ",".join(keys)}, n),
            ("config-set", "config-set", {"BENCH_KEYS": ",".join(keys)}, 1),
        ]
        urls = {
            "evaluate": f"{server.base}/v1/flags/evaluate",
            "evaluate304": f"{server.base}/v1/flags/evaluate",
            "config-get": f"{server.base}/v1/config",
            "config-set": f"{server.base}/v1/config",
        }
        with hello_server() as hello_url:
            for name, mode, env, conns in plan:
                req = (
                    Request(urls[name], auth=auth, script=LUA, env={"BENCH_MODE": mode, **env})
                    if mode
                    else Request(hello_url)
                )
                results.append(measure(name, req, conns, args.duration, args.warmup, args.rounds))
        prop = measure_propagation(server, token, client, args.toggles, args.toggle_rate)
        for s in prop.subscribers:
            say(
                f"  {s.label}: {len(s.latencies_ms)} events, p50 {pct(s.latencies_ms, 50):.2f} "
                f"ms, p99 {pct(s.latencies_ms, 99):.2f} ms, max {pct(s.latencies_ms, 100):.2f} ms"
            )
        log_tail = server.log_tail()
    facts["noise_end"] = noise()

    hello = next((r for r in results if r.endpoint == "hello"), None)
    for r in results:
        if hello and hello.rps and r.connections == hello.connections:
            r.ratio = r.rps / hello.rps

    problems = error_lines(results)
    problems += [
        f"{s.label}: {s.missing} toggle event(s) never arrived"
        for s in prop.subscribers
        if s.missing
    ]
    if prop.put_errors:
        problems.append(f"{prop.put_errors} toggle PUT(s) failed")
    print_grid(HEADER, table_rows(results))
    print_grid(SSE_HEADER, sse_rows(prop))
    write_chart(results, prop)
    write_report(results, prop, args, facts, problems)
    png = "flags/flags.png"
    put_p99 = pct(prop.put_ms, 99)
    h = hello or results[0]
    write_results(
        HERE,
        [
            *(
                figure(
                    f"toggle → SSE event p99, {s.label}",
                    round(pct(s.latencies_ms, 99), 2),
                    "ms",
                    f"p99 < {SPEC_SSE_P99_MS:g} ms",
                    not s.missing and pct(s.latencies_ms, 99) < SPEC_SSE_P99_MS,
                    headline="toggle",
                    target_value=SPEC_SSE_P99_MS,
                    limit=f"the toggle PUT's own answer p99 {put_p99:.2f} ms",
                    limit_value=round(put_p99, 2),
                    chart=png,
                    detail=f"{len(s.latencies_ms)}/{prop.toggles} events, p50 "
                    f"{pct(s.latencies_ms, 50):.2f} ms, {prop.rate:g} toggles/s",
                    errors=s.missing + prop.put_errors,
                )
                for s in prop.subscribers
            ),
            *(
                figure(
                    f"{'config read' if r.endpoint == 'config-get' else 'config write'} p99 @ "
                    f"{r.connections} conns",
                    round(r.p99_ms, 2),
                    "ms",
                    "p99 < 50 ms",
                    r.p99_ms < 50 and not r.error_count,
                    headline="config",
                    target_value=50.0,
                    limit=f"hello-world p99 {h.p99_ms:.2f} ms @ {h.connections}",
                    limit_value=round(h.p99_ms, 2),
                    chart=png,
                    detail=f"{r.rps:,.0f} req/s, p50 {r.p50_ms:.2f} ms, {r.error_count} errors",
                    errors=r.error_count,
                    rounds=[round(v, 2) for v in r.values("p99_ms")],
                )
                for r in results
                if r.endpoint in ("config-get", "config-set")
            ),
            *(
                figure(
                    f"{LABELS[r.endpoint]}: req/s ÷ hello-world @ {r.connections}",
                    round(r.ratio, 3),
                    "x hello",
                    f"aim ≥ {AIM_RATIO:g}x",
                    r.ratio >= AIM_RATIO,
                    target_value=AIM_RATIO,
                    limit=f"hello-world {h.rps:,.0f} req/s",
                    limit_value=1.0,
                    chart=png,
                    detail=f"{r.rps:,.0f} req/s, p99 {r.p99_ms:.2f} ms",
                    errors=r.error_count,
                )
                for r in results
                if r.endpoint in ("evaluate", "evaluate304", "config-get") and r.ratio is not None
            ),
        ],
    )
    return finish(problems, log_tail)


if __name__ == "__main__":
    run_main(main)
