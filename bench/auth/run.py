"""OAuth endpoint benchmark: token issuance (client_credentials) and introspection against the
real server, beside a bare aiohttp hello-world measured in the same run.

    .venv/bin/python bench/auth/run.py [--duration S] [--warmup S] [--rounds N] [--connections 16,64]

Starts ``hearth serve`` (bench.harness), registers two confidential clients, and drives every
endpoint with ``wrk -t1 -cN --latency`` (closed loop, one wrk thread), ``--rounds`` times after
a warm-up. Writes ``RESULTS.md``, ``auth.png`` and ``results.json`` next to this file.

Throughput is reported as a ratio against the hello-world measured at the same connection
count; latency as p50/p99 at the stated concurrency, the median of the rounds with their
min-max. Client (wrk) and server share the machine's cores, so the numbers are a comparison,
not a capacity figure. Any non-2xx answer or socket error is counted; the exit code is then 1.
"""

from __future__ import annotations

import argparse
import json
import urllib.parse
from pathlib import Path

from bench.harness.charts import pyplot
from bench.harness.client import basic, bearer_token, create_client, http
from bench.harness.log import BenchError, run_main, say
from bench.harness.machine import machine_info, machine_line, noise
from bench.harness.results import figure, finish, write_markdown, write_results
from bench.harness.server import hearth_server, hello_server
from bench.harness.tables import md_table, print_grid
from bench.harness.wrk import Request, Result, error_lines, measure, wrk_version

HERE = Path(__file__).resolve().parent

# Targets, in milliseconds / as a ratio to hello-world.
SPEC_P99_MS = {"token": 50.0, "introspect": 20.0}
AIM_P99_MS = 5.0
AIM_INTROSPECT_RATIO = 0.5
ENDPOINTS = ("hello", "token", "introspect")
HEADER = ["endpoint", "conns", "req/s", "p50 ms", "p99 ms", "x hello", "errors", "spec", "aim"]


def verdicts(r: Result) -> tuple[str, str]:
    """(spec, aim) cells: target and whether it was met."""
    if r.endpoint == "hello":
        return "— (the limit)", "—"
    ok = "met" if r.error_count == 0 else "failed (errors)"
    no = "NOT met" if r.error_count == 0 else "failed (errors)"
    spec_t = SPEC_P99_MS[r.endpoint]
    spec = f"p99 < {spec_t:g} ms: {ok if r.p99_ms < spec_t else no}"
    aim_ok = r.p99_ms < AIM_P99_MS
    aim = f"p99 < {AIM_P99_MS:g} ms"
    if r.endpoint == "introspect":
        aim_ok = aim_ok and (r.ratio or 0.0) >= AIM_INTROSPECT_RATIO
        aim += f", ≥ {AIM_INTROSPECT_RATIO:g}x hello"
    return spec, f"{aim}: {ok if aim_ok else no}"


def table_rows(results: list[Result]) -> list[list[str]]:
    return [
        [
            r.endpoint,
            str(r.connections),
            r.spread("rps", "{:,.0f}"),
            f"{r.p50_ms:.2f}",
            r.spread("p99_ms"),
            f"{r.ratio:.2f}" if r.ratio is not None else "—",
            f"{r.error_count} !!" if r.error_count else "0",
            *verdicts(r),
        ]
        for r in results
    ]


def write_chart(results: list[Result]) -> None:
    plt = pyplot()
    conns = sorted({r.connections for r in results})
    by = {(r.endpoint, r.connections): r for r in results}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / len(ENDPOINTS)
    colors = {"hello": "#9e9e9e", "token": "#1f77b4", "introspect": "#ff7f0e"}
    for i, ep in enumerate(ENDPOINTS):
        xs = [j + (i - 1) * width for j in range(len(conns))]
        found = [by.get((ep, c)) for c in conns]
        bars = ax1.bar(xs, [r.rps if r else 0 for r in found], width, label=ep, color=colors[ep])
        marks = [f"{r.ratio:.2f}x" if r and r.ratio and ep != "hello" else "" for r in found]
        ax1.bar_label(bars, marks, fontsize=8)
        ax2.bar(xs, [r.p99_ms if r else 0 for r in found], width, color=colors[ep], alpha=0.45)
        ax2.bar(xs, [r.p50_ms if r else 0 for r in found], width, color=colors[ep], label=ep)
    for ax in (ax1, ax2):
        ax.set_xticks(range(len(conns)), [f"{c} conns" for c in conns])
    ax1.set_ylabel("requests / s (median of the rounds)")
    ax1.set_title("Throughput (label: ratio to hello-world)")
    ax1.legend()
    ax2.axhline(AIM_P99_MS, color="green", linestyle="--", linewidth=1, label="aim p99 5 ms")
    ax2.axhline(
        SPEC_P99_MS["introspect"], color="red", linestyle=":", linewidth=1, label="spec 20 ms"
    )
    ax2.set_ylabel("ms")
    ax2.set_yscale("log")
    ax2.set_title("Latency p50 (solid) / p99 (light)")
    ax2.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(HERE / "auth.png", dpi=110)
    plt.close(fig)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=10.0, help="seconds per round")
    p.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds before each")
    p.add_argument("--rounds", type=int, default=3, help="rounds per measurement (median)")
    p.add_argument(
        "--connections",
        type=lambda s: [int(x) for x in s.split(",") if x.strip()],
        default=[16, 64],
        help="comma-separated connection counts (default 16,64)",
    )
    return p.parse_args()


def main() -> int:
    args = parse_args()
    start = noise()
    results: list[Result] = []
    with hearth_server() as server:
        say("creating the app client (flag.read) and the resource-server client (auth.introspect)")
        app = create_client(server, "bench-app", "flag.read")
        rs_auth = basic(*create_client(server, "bench-rs", "auth.introspect"))
        access_token = bearer_token(server, app)
        status, body = http(
            f"{server.base}/oauth/introspect", data={"token": access_token}, auth=rs_auth
        )
        if status != 200 or not json.loads(body).get("active"):
            raise BenchError(f"introspection does not work: {status} {body[:500]!r}")
        say("token issuance and introspection verified")
        with hello_server() as hello_url:
            form = urllib.parse.urlencode
            requests = {
                "hello": Request(hello_url),
                "token": Request(
                    f"{server.base}/oauth/token",
                    "POST",
                    form({"grant_type": "client_credentials"}),
                    basic(*app),
                ),
                "introspect": Request(
                    f"{server.base}/oauth/introspect",
                    "POST",
                    form({"token": access_token}),
                    rs_auth,
                ),
            }
            for n in args.connections:
                for name in ENDPOINTS:
                    results.append(
                        measure(name, requests[name], n, args.duration, args.warmup, args.rounds)
                    )
        log_tail = server.log_tail()

    hello = {r.connections: r for r in results if r.endpoint == "hello"}
    for r in results:
        r.ratio = r.rps / hello[r.connections].rps if hello[r.connections].rps else None
    problems = error_lines(results)
    print_grid(HEADER, table_rows(results))
    write_chart(results)
    write_markdown(
        HERE,
        "OAuth endpoint benchmark",
        [
            f"- Machine: {machine_line(machine_info(), wrk_version())}. At the start: {start}; "
            f"at the end: {noise()}.",
            f"- Each measurement: `wrk -t1 -cN -d{args.duration:g}s --latency`, {args.rounds} "
            f"round(s) after a {args.warmup:g} s warm-up, at N = "
            f"{', '.join(map(str, args.connections))} connections (closed loop: each connection "
            "sends its next request when the answer arrives). req/s and p99 are the median of "
            "the rounds, with their min-max in brackets.",
            "- **wrk, the server under test (one process, `HEARTH_LOG_LEVEL=WARNING`) and its "
            "embedded PostgreSQL/Redis share the same cores**, so req/s is reported as a ratio "
            "to a bare aiohttp hello-world (`bench/harness/hello.py`: uvloop, one process, no "
            "access log) measured in the same run at the same connection count.",
            "- token: `POST /oauth/token` `grant_type=client_credentials`, client_secret_basic. "
            "introspect: `POST /oauth/introspect` `token=<access token>`, the resource server "
            "authenticated with client_secret_basic (scope `auth.introspect`).",
            f"- Spec targets: token p99 < {SPEC_P99_MS['token']:g} ms, introspection p99 < "
            f"{SPEC_P99_MS['introspect']:g} ms. Our aim: p99 < {AIM_P99_MS:g} ms, introspection "
            f"≥ {AIM_INTROSPECT_RATIO:g}x the hello-world rate.",
            "",
            *md_table(HEADER, table_rows(results)),
            "",
            "`x hello` = req/s ÷ hello-world req/s at the same connection count. Latencies are "
            "wrk's (per request, from send to full response).",
            "",
            "![req/s and latency](auth.png)",
        ],
        problems,
    )
    write_results(
        HERE,
        [
            figure(
                f"{'token' if r.endpoint == 'token' else 'introspection'} p99 @ "
                f"{r.connections} conns",
                round(r.p99_ms, 2),
                "ms",
                f"p99 < {SPEC_P99_MS[r.endpoint]:g} ms",
                r.p99_ms < SPEC_P99_MS[r.endpoint],
                headline="token" if r.endpoint == "token" else "introspect",
                target_value=SPEC_P99_MS[r.endpoint],
                limit=f"hello-world p99 {h.p99_ms:.2f} ms, {h.rps:,.0f} req/s",
                limit_value=round(h.p99_ms, 2),
                chart="auth/auth.png",
                detail=f"{r.rps:,.0f} req/s ({r.ratio or 0:.2f}x hello), p50 {r.p50_ms:.2f} ms, "
                f"{r.error_count} errors",
                errors=r.error_count,
                rounds=[round(v, 2) for v in r.values("p99_ms")],
            )
            for r in results
            if r.endpoint != "hello" and (h := hello[r.connections])
        ],
    )
    return finish(problems, log_tail)


if __name__ == "__main__":
    run_main(main)
