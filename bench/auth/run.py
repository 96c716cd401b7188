"""OAuth endpoint benchmark: token issuance (client_credentials) and introspection against the
real server, beside a bare aiohttp hello-world and Ory Hydra v2.3.0, the identity peer, all
measured in the same run.

    .venv/bin/python bench/auth/run.py [--duration S] [--warmup S] [--rounds N]
        [--connections 16,64] [--no-peers]

Starts ``hearth serve`` (bench.harness), registers two confidential clients, and drives every
endpoint with ``wrk -t1 -cN --latency`` (closed loop, one wrk thread), ``--rounds`` times after
a warm-up. Writes ``RESULTS.md``, ``auth.png``, ``hydra.png`` and ``results.json`` next to this
file.

Hydra (``target/peers/bin/hydra``, built by ``make bench-peers``) runs on Hearth's embedded
PostgreSQL in a database of its own, with JWT access tokens and a client_credentials client
(bench.harness.peers.hydra_server); the same wrk script and request bodies drive its
``POST /oauth2/token`` and ``POST /admin/oauth2/introspect``. ``--no-peers`` leaves it out
(no comparison figures); without it, a Hydra that is not built, does not start or answers
wrongly is reported as a failed comparison, and Hearth's own figures are still measured.

Throughput is reported as a ratio against the hello-world measured at the same connection
count, and against Hydra's; latency as p50/p99 at the stated concurrency, the median of the
rounds with their min-max. Client (wrk) and servers share the machine's cores, so the numbers
are a comparison, not a capacity figure. Any non-2xx answer or socket error is counted; the
exit code is then 1 (Hydra's errors fail its comparison figures, not Hearth's).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import textwrap
import time
import urllib.parse
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.harness.charts import pyplot
from bench.harness.client import basic, bearer_token, create_client, http
from bench.harness.log import BenchError, run_main, say
from bench.harness.machine import machine_info, machine_line, noise, wait_idle
from bench.harness.peers import HYDRA_MAX_CONNS, HYDRA_VERSION, Hydra, hydra_server
from bench.harness.results import (
    figure,
    finish,
    peer_failed_figure,
    write_markdown,
    write_results,
)
from bench.harness.server import Server, hearth_server, hello_server
from bench.harness.tables import md_table, print_grid
from bench.harness.wrk import Request, Result, Round, error_lines, measure, run_wrk, wrk_version

HERE = Path(__file__).resolve().parent

# Targets, in milliseconds / as a ratio to hello-world / to Hydra's req/s.
SPEC_P99_MS = {"token": 50.0, "introspect": 20.0}
AIM_P99_MS = 5.0
AIM_INTROSPECT_RATIO = 0.5
AIM_VS_HYDRA = {"token": 20.0, "introspect": 10.0}
ENDPOINTS = ("hello", "token", "introspect")
WORK = ("token", "introspect")
PEER = f"Ory Hydra {HYDRA_VERSION}"
# The tail at the highest connection count, profiled (issue 21): Hearth in two more
# configurations (on the same PostgreSQL and Redis), and a bare aiohttp server spending a token
# request's CPU time on every answer, on each event loop. label: (workers, environment).
TAIL_CONFIGS: dict[str, tuple[int, dict[str, str]]] = {
    "asyncio loop": (1, {"HEARTH_EVENT_LOOP": "asyncio"}),
    "2 workers": (2, {}),
}
BUSY_US = 250
BUSY = {"uvloop": f"busy {BUSY_US} µs (uvloop)", "asyncio": f"busy {BUSY_US} µs (asyncio)"}
HYDRA = {"token": "hydra-token", "introspect": "hydra-introspect"}
LABEL = {"token": "token issuance", "introspect": "introspection"}
# Hydra's defaults, but for the scope of a client_credentials request that names none: granted
# in full, as Hearth grants the client's scopes, so both issue the same token.
HYDRA_ENV = {"OAUTH2_CLIENT_CREDENTIALS_DEFAULT_GRANT_ALLOWED_SCOPE": "true"}
# wrk's timeout for every request (its default is 2 s): a slow answer is measured, not an error.
WRK_TIMEOUT_S = 10.0
# Hydra's rounds last at least this long: at 64 connections its answers take seconds, and a
# shorter round leaves connections unanswered (their latency is then never counted).
PEER_MIN_DURATION_S = 10.0
# Before every wrk run (warm-up and rounds) the servers go idle: below IDLE_CORES for IDLE_S s
# (at most IDLE_LIMIT_S), so that requests a previous run left in flight (Hydra keeps hashing
# them after wrk hung up) do not weigh on the next.
IDLE_CORES, IDLE_S, IDLE_LIMIT_S = 0.1, 1.0, 30.0
HEADER = ["endpoint", "conns", "req/s", "p50 ms", "p99 ms", "x hello", "errors", "spec", "aim"]
PEER_HEADER = [
    "work",
    "conns",
    "Hearth req/s",
    "Hydra req/s",
    "Hearth ÷ Hydra",
    "aim",
    "Hearth p50 / p99 ms",
    "Hydra p50 / p99 ms",
    "Hydra errors",
]


def work_of(endpoint: str) -> str:
    """ "token (2 workers)" → "token": the work a tail configuration's row measures."""
    return endpoint.split(" (", 1)[0]


def verdicts(r: Result) -> tuple[str, str]:
    """(spec, aim) cells: target and whether it was met."""
    if r.endpoint == "hello":
        return "— (the limit)", "—"
    if r.endpoint.startswith("hydra-"):
        return "— (the peer)", "—"
    if r.endpoint.startswith("busy "):
        return "— (the event loop alone)", "—"
    work = work_of(r.endpoint)
    ok = "met" if r.error_count == 0 else "failed (errors)"
    no = "NOT met" if r.error_count == 0 else "failed (errors)"
    spec_t = SPEC_P99_MS[work]
    spec = f"p99 < {spec_t:g} ms: {ok if r.p99_ms < spec_t else no}"
    aim_ok = r.p99_ms < AIM_P99_MS
    aim = f"p99 < {AIM_P99_MS:g} ms"
    if work == "introspect":
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


def spec_lines(line: Any) -> None:
    """The spec's p99 targets, drawn by ``ax.axhline`` or ``ax.axvline``."""
    for work, style in (("token", "--"), ("introspect", ":")):
        line(
            SPEC_P99_MS[work],
            color="red",
            linestyle=style,
            linewidth=1,
            label=f"spec: {LABEL[work]} p99 < {SPEC_P99_MS[work]:g} ms",
        )


def tail_chart(ax: Any, by: dict[tuple[str, int], Result], tail: list[Result]) -> None:
    """p50/p99 at the highest connection count: each configuration, the busy hello-world on
    each loop; the spec's p99 targets as lines."""
    n = tail[0].connections
    rows = [by[(w, n)] for w in WORK if (w, n) in by] + tail
    ys = range(len(rows))
    ax.barh(ys, [r.p99_ms for r in rows], color="#1f77b4", alpha=0.45, label="p99")
    ax.barh(ys, [r.p50_ms for r in rows], color="#1f77b4", label="p50")
    for y, r in zip(ys, rows, strict=True):
        ax.text(r.p99_ms, y, f" {r.p99_ms:.0f} ms, {r.rps:,.0f}/s", va="center", fontsize=7)
    ax.set_yticks(list(ys), [r.endpoint for r in rows], fontsize=8)
    ax.invert_yaxis()
    spec_lines(ax.axvline)
    ax.set_xlabel("ms (median of the rounds)")
    ax.set_title(f"The tail at {n} connections: event loop, workers")
    ax.legend(fontsize=7)


def peer_rows(by: dict[tuple[str, int], Result], conns: list[int]) -> list[list[str]]:
    """Hearth beside Hydra, one row per work and connection count."""
    rows = []
    for work in WORK:
        for n in conns:
            h, p = by.get((work, n)), by.get((HYDRA[work], n))
            if h is None:
                continue
            aim = f"≥ {AIM_VS_HYDRA[work]:g}x"
            if p is None:
                cells = ["failed", "—", f"{aim}: failed", "—", "—"]
            else:
                ratio = h.rps / p.rps if p.rps else None
                met = ratio is not None and ratio >= AIM_VS_HYDRA[work]
                verdict = (
                    "failed (errors)"
                    if p.error_count
                    else "failed (stalled)"
                    if short_rounds(p)
                    else "met"
                    if met
                    else "NOT met"
                )
                cells = [
                    p.spread("rps", "{:,.0f}"),
                    f"{ratio:.1f}x" if ratio is not None else "—",
                    f"{aim}: {verdict}",
                    f"{p.p50_ms:.2f} / {p.spread('p99_ms')}",
                    f"{p.error_count} !!" if p.error_count else "0",
                ]
            rows.append(
                [
                    LABEL[work],
                    str(n),
                    h.spread("rps", "{:,.0f}"),
                    cells[0],
                    cells[1],
                    cells[2],
                    f"{h.p50_ms:.2f} / {h.spread('p99_ms')}",
                    cells[3],
                    cells[4],
                ]
            )
    return rows


def write_chart(results: list[Result]) -> None:
    plt = pyplot()
    conns = sorted({r.connections for r in results})
    by = {(r.endpoint, r.connections): r for r in results}
    tail = [r for r in results if r.endpoint not in ENDPOINTS]
    fig, axes = plt.subplots(1, 3 if tail else 2, figsize=(18 if tail else 12, 4.5))
    ax1, ax2 = axes[0], axes[1]
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
    if tail:
        tail_chart(axes[2], by, tail)
    fig.tight_layout()
    fig.savefig(HERE / "auth.png", dpi=110)
    plt.close(fig)


def _whiskers(rs: list[Result | None], attr: str) -> list[list[float]]:
    """matplotlib yerr: the min and max of the rounds around each median."""
    lo = [getattr(r, attr) - min(r.values(attr)) if r else 0.0 for r in rs]
    hi = [max(r.values(attr)) - getattr(r, attr) if r else 0.0 for r in rs]
    return [lo, hi]


def write_peer_chart(results: list[Result], why: str) -> None:
    """hydra.png: Hearth beside Hydra for each work and connection count, req/s and p99
    (medians, whiskers from the min to the max of the rounds, log scale)."""
    plt = pyplot()
    by = {(r.endpoint, r.connections): r for r in results}
    conns = sorted({r.connections for r in results})
    groups = [(w, n) for w in WORK for n in conns]
    hearth = [by.get((w, n)) for w, n in groups]
    hydra = [by.get((HYDRA[w], n)) for w, n in groups]
    xs = list(range(len(groups)))
    width = 0.38
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8))
    for ax, attr in ((ax1, "rps"), (ax2, "p99_ms")):
        for dx, rs, color, who in (
            (-width / 2, hearth, "#1f77b4", "Hearth"),
            (width / 2, hydra, "#ff7f0e", PEER),
        ):
            ax.bar(
                [x + dx for x in xs],
                [getattr(r, attr) if r else 0 for r in rs],
                width,
                color=color,
                label=who,
                yerr=_whiskers(rs, attr),
                error_kw={"ecolor": "black", "capsize": 3, "lw": 1},
            )
        ax.set_xticks(xs, [f"{LABEL[w]}\n{n} conns" for w, n in groups], fontsize=8)
        ax.set_yscale("log")
    for x, h, p in zip(xs, hearth, hydra, strict=True):
        if h and p and p.rps:
            ax1.annotate(
                f"{h.rps / p.rps:.1f}x",
                (x, max(h.rps, p.rps)),
                textcoords="offset points",
                xytext=(0, 12),
                ha="center",
                fontsize=9,
                weight="bold",
            )
    if why:
        for ax in (ax1, ax2):
            ax.text(
                0.5,
                0.5,
                "Hydra failed:\n" + "\n".join(textwrap.wrap(why.split(";")[0], 60)[:3]),
                transform=ax.transAxes,
                ha="center",
                color="#d62728",
                fontsize=8,
            )
    ax1.set_ylabel("requests / s (median; whiskers: min-max of the rounds)")
    ax1.set_title("Throughput, Hearth beside Hydra (label: Hearth ÷ Hydra)", fontsize=10)
    top = max((r.rps for r in hearth + hydra if r), default=1.0)
    ax1.set_ylim(top=top * 8)  # room for the legend above the bars
    ax1.legend(fontsize=8, loc="upper left")
    spec_lines(ax2.axhline)
    ax2.set_ylabel("p99 ms (median; whiskers: min-max of the rounds)")
    ax2.set_title("Latency p99", fontsize=10)
    ax2.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(HERE / "hydra.png", dpi=110)
    plt.close(fig)


def measure_idle(
    name: str,
    req: Request,
    n: int,
    duration: float,
    warmup: float,
    rounds: int,
    pids: list[int],
    spans: list[tuple[float, float]],
) -> Result:
    """``measure``'s warm-up and rounds, each wrk run started once the process trees of
    ``pids`` are idle; the (start, end) wall-clock time of each wrk run goes to ``spans``."""

    def run(seconds: float) -> Round:
        waited, idle = wait_idle(pids, name, below=IDLE_CORES, quiet_s=IDLE_S, limit_s=IDLE_LIMIT_S)
        if not idle:
            say(f"  the servers were not idle after {waited:.0f} s; measuring {name} anyway")
        t0 = time.time()
        out = run_wrk(req, n, seconds)
        spans.append((t0, time.time()))
        return out

    if warmup > 0:
        say(f"warming up {name} @ {n} connections ({warmup:g} s)")
        run(warmup)
    say(f"measuring {name} @ {n} connections ({rounds} x {duration:g} s)")
    result = Result(name, n, [run(duration) for _ in range(rounds)])
    if result.error_count:
        say(f"!!! {name} @ {n}: {result.error_count} errors {result.errors}")
    say(
        f"  {name} @ {n}: {result.spread('rps', '{:,.0f}')} req/s, "
        f"p50 {result.p50_ms:.2f} ms, p99 {result.spread('p99_ms')} ms"
    )
    return result


def auth_requests(
    base: str, app: tuple[str, str], rs_auth: str, access_token: str
) -> dict[str, Request]:
    """The token and introspection requests wrk sends to the Hearth server at ``base``."""
    form = urllib.parse.urlencode
    return {
        "token": Request(
            f"{base}/oauth/token",
            "POST",
            form({"grant_type": "client_credentials"}),
            basic(*app),
            timeout_s=WRK_TIMEOUT_S,
        ),
        "introspect": Request(
            f"{base}/oauth/introspect",
            "POST",
            form({"token": access_token}),
            rs_auth,
            timeout_s=WRK_TIMEOUT_S,
        ),
    }


def measure_tail(
    args: argparse.Namespace,
    server: Server,
    app: tuple[str, str],
    rs_auth: str,
    hello_url: str,
    stack: ExitStack,
    pids: list[int],
) -> list[Result]:
    """The tail at the highest connection count: the busy hello-world on uvloop and on the
    standard library's loop, then Hearth in each of TAIL_CONFIGS, a server of its own on the
    same PostgreSQL and Redis (its own access token: the issuer is the server's address)."""
    n = max(args.connections)
    out = []
    urls = {"uvloop": hello_url, "asyncio": stack.enter_context(hello_server("asyncio"))}
    for loop, url in urls.items():
        busy = Request(f"{url}busy?us={BUSY_US}", timeout_s=WRK_TIMEOUT_S)
        out.append(measure(BUSY[loop], busy, n, args.duration, args.warmup, args.rounds))
    for label, (workers, env) in TAIL_CONFIGS.items():
        with hearth_server(workers=workers, env=env, share=server) as other:
            reqs = auth_requests(other.base, app, rs_auth, bearer_token(other, app))
            for work in WORK:
                out.append(
                    measure_idle(
                        f"{work} ({label})",
                        reqs[work],
                        n,
                        args.duration,
                        args.warmup,
                        args.rounds,
                        [*pids, other.proc.pid],
                        [],
                    )
                )
    return out


def hydra_requests(hydra: Hydra) -> dict[str, Request]:
    """A client_credentials client of Hydra's, one token from it, both answers checked; the
    requests wrk sends to Hydra, with the same script and bodies as Hearth's."""
    say("creating Hydra's client_credentials client (scope flag.read)")
    app = hydra.create_client("bench-app", "flag.read")
    grant = {"grant_type": "client_credentials"}
    status, body = http(f"{hydra.public}/oauth2/token", data=grant, auth=basic(*app), timeout=30)
    if status != 200:
        raise BenchError(f"Hydra's token endpoint: {status} {body[:500]!r}")
    issued = json.loads(body)
    if issued.get("scope") != "flag.read" or issued["access_token"].count(".") != 2:
        raise BenchError(f"Hydra did not issue a JWT access token for flag.read: {body[:500]!r}")
    token = issued["access_token"]
    status, body = http(f"{hydra.admin}/admin/oauth2/introspect", data={"token": token})
    if status != 200 or not json.loads(body).get("active"):
        raise BenchError(f"Hydra's introspection does not work: {status} {body[:500]!r}")
    say("Hydra's token issuance and introspection verified")
    form = urllib.parse.urlencode
    return {
        "hydra-token": Request(
            f"{hydra.public}/oauth2/token",
            "POST",
            form(grant),
            basic(*app),
            timeout_s=WRK_TIMEOUT_S,
        ),
        # Hydra's admin API has no authentication of its own (it sits behind a private port).
        "hydra-introspect": Request(
            f"{hydra.admin}/admin/oauth2/introspect",
            "POST",
            form({"token": token}),
            timeout_s=WRK_TIMEOUT_S,
        ),
    }


def short_rounds(r: Result) -> str:
    """Why ``r``'s figures describe a stalled server ("" when they do not): a round in which
    fewer requests were answered than connections were open (closed loop: some connections got
    no answer in the whole round; its latencies are those of the few answered)."""
    short = [rd.requests for rd in r.rounds if rd.requests < r.connections]
    if not short:
        return ""
    return (
        f"{r.endpoint} @ {r.connections}: {len(short)} of {len(r.rounds)} rounds answered "
        f"fewer requests than connections (at least {min(short)}): stalled"
    )


def hydra_log_errors(hydra: Hydra | None, spans: list[tuple[float, float]]) -> tuple[int, int, str]:
    """(lines Hydra logged at level error or above; how many of them while a wrk run against
    it was under way, more than a second from its start and end; the last of those, else the
    last line). Lines between runs are the requests wrk left in flight when it stopped."""
    if hydra is None:
        return 0, 0, ""
    try:
        lines = hydra.log_path.read_text(errors="replace").splitlines()
    except OSError:
        return 0, 0, ""
    bad = [ln for ln in lines if "level=error" in ln or "level=fatal" in ln or "panic" in ln]
    during = []
    for ln in bad:
        stamp = ln.split(" ", 1)[0].removeprefix("time=")
        try:
            t = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
        except ValueError:
            during.append(ln)  # no time: counted as during, not explained away
            continue
        if any(a + 1 < t < b - 1 for a, b in spans):
            during.append(ln)
    last = (during or bad)[-1][:300] if bad else ""
    return len(bad), len(during), last


def _rounds(r: Result | None, attr: str) -> list[float]:
    return [round(v, 2) for v in r.values(attr)] if r else []


def peer_figures(
    by: dict[tuple[str, int], Result], conns: list[int], why: str
) -> list[dict[str, Any]]:
    """Hearth ÷ Hydra req/s for each work and connection count; failed (with ``why``) when
    Hydra could not be measured."""
    out = []
    for work in WORK:
        for n in conns:
            h, p = by.get((work, n)), by.get((HYDRA[work], n))
            if h is None:
                continue
            aim = AIM_VS_HYDRA[work]
            name = f"Hearth ÷ Hydra, {LABEL[work]} req/s @ {n} conns"
            common: dict[str, Any] = {
                "headline": work,
                "target_value": aim,
                "limit": f"hello-world {by[('hello', n)].rps:,.0f} req/s",
                "chart": "auth/hydra.png",
                "hearth_value": round(h.rps, 1),
                "compared_unit": "req/s",
                "hearth_rounds": _rounds(h, "rps"),
            }
            if p is None or not p.rps:
                reason = why or "Hydra answered no request"
                out.append(
                    peer_failed_figure(name, PEER, reason, target=f"aim ≥ {aim:g}x", **common)
                )
                continue
            ratio = h.rps / p.rps
            stalled = short_rounds(p)
            out.append(
                figure(
                    name,
                    round(ratio, 2),
                    "x peer",
                    f"aim ≥ {aim:g}x",
                    ratio >= aim,
                    detail=f"Hearth {h.spread('rps', '{:,.0f}')} req/s, p50 {h.p50_ms:.2f} "
                    f"ms, p99 {h.p99_ms:.2f} ms; Hydra {p.spread('rps', '{:,.0f}')} req/s, "
                    f"p50 {p.p50_ms:.2f} ms, p99 {p.p99_ms:.2f} ms, {p.error_count} errors",
                    errors=p.error_count + h.error_count + (1 if stalled else 0),
                    peer=PEER,
                    peer_value=round(p.rps, 1),
                    peer_rounds=_rounds(p, "rps"),
                    peer_failed=stalled,
                    **common,
                )
            )
    return out


def p99_figures(by: dict[tuple[str, int], Result], results: list[Result]) -> list[dict[str, Any]]:
    """Hearth's p99 against the spec at each connection count; beside Hydra's p99 when
    Hydra was measured."""
    out = []
    for r in results:
        work = work_of(r.endpoint)
        if work not in WORK:
            continue
        h = by[("hello", r.connections)]
        # Hydra beside Hearth's default configuration only (one worker, uvloop).
        p = by.get((HYDRA[work], r.connections)) if r.endpoint == work else None
        config = r.endpoint[len(work) :]
        beside: dict[str, Any] = {}
        if p is not None and not short_rounds(p):  # a stalled Hydra's p99 is no comparison
            beside = {
                "peer": PEER,
                "hearth_value": round(r.p99_ms, 2),
                "peer_value": round(p.p99_ms, 2),
                "compared_unit": "ms p99",
                "hearth_rounds": _rounds(r, "p99_ms"),
                "peer_rounds": _rounds(p, "p99_ms"),
            }
        fig = figure(
            f"{LABEL[work].split()[0]} p99 @ {r.connections} conns{config}",
            round(r.p99_ms, 2),
            "ms",
            f"p99 < {SPEC_P99_MS[work]:g} ms",
            r.p99_ms < SPEC_P99_MS[work],
            headline=work,
            target_value=SPEC_P99_MS[work],
            limit=f"hello-world p99 {h.p99_ms:.2f} ms, {h.rps:,.0f} req/s",
            limit_value=round(h.p99_ms, 2),
            chart="auth/auth.png",
            detail=f"{r.rps:,.0f} req/s ({r.ratio or 0:.2f}x hello), p50 {r.p50_ms:.2f} ms, "
            f"{r.error_count} errors"
            + (f"; Hydra p99 {p.p99_ms:.2f} ms, {p.rps:,.0f} req/s" if p else ""),
            errors=r.error_count,
            rounds=_rounds(r, "p99_ms"),
            **beside,
        )
        out.append(fig)
    return out


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
    p.add_argument(
        "--no-tail",
        action="store_true",
        help="leave out the tail's profile at the highest connection count (Hearth with "
        "HEARTH_EVENT_LOOP=asyncio and with 2 workers, the busy hello-world on each loop)",
    )
    p.add_argument(
        "--no-peers",
        action="store_true",
        help="leave Ory Hydra out (no comparison figures); by default it runs beside Hearth "
        "and a Hydra that is not built (`make bench-peers`) is a failed comparison",
    )
    return p.parse_args()


def main() -> int:
    args = parse_args()
    start = noise()
    results: list[Result] = []
    peer_why = ""  # why Hydra could not be measured ("" when it was, or was not asked for)
    hydra_errors = (0, 0, "")
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
        with ExitStack() as stack:
            hello_url = stack.enter_context(hello_server())
            requests = {
                "hello": Request(hello_url, timeout_s=WRK_TIMEOUT_S),
                **auth_requests(server.base, app, rs_auth, access_token),
            }
            hydra: Hydra | None = None
            names = list(ENDPOINTS)
            if not args.no_peers:
                try:
                    hydra = stack.enter_context(hydra_server(server, env=HYDRA_ENV))
                    requests |= hydra_requests(hydra)
                    names += [HYDRA[w] for w in WORK]
                except BenchError as exc:
                    peer_why = str(exc)
                    say(f"!!! Hydra is left out, its comparison failed: {peer_why}")
            pids = [server.proc.pid] + ([hydra.proc.pid] if hydra else [])
            spans: list[tuple[float, float]] = []  # the wrk runs against Hydra
            for n in args.connections:
                for name in names:
                    if name.startswith("hydra-") and peer_why:
                        continue
                    seconds = args.duration
                    if name.startswith("hydra-"):
                        seconds = max(seconds, PEER_MIN_DURATION_S)
                    try:
                        if name == "hello":
                            r = measure(name, requests[name], n, seconds, args.warmup, args.rounds)
                        else:
                            r = measure_idle(
                                name,
                                requests[name],
                                n,
                                seconds,
                                args.warmup,
                                args.rounds,
                                pids,
                                spans if name.startswith("hydra-") else [],
                            )
                        results.append(r)
                    except BenchError as exc:
                        if not name.startswith("hydra-"):
                            raise
                        peer_why = f"wrk against Hydra failed: {exc}"
                        say(f"!!! {peer_why}")
            if not args.no_tail:
                results += measure_tail(args, server, app, rs_auth, hello_url, stack, pids)
            hydra_errors = hydra_log_errors(hydra, spans)
        log_tail = server.log_tail()

    hello = {r.connections: r for r in results if r.endpoint == "hello"}
    for r in results:
        r.ratio = r.rps / hello[r.connections].rps if hello[r.connections].rps else None
    by = {(r.endpoint, r.connections): r for r in results}
    ours = [r for r in results if not r.endpoint.startswith("hydra-")]
    theirs = [r for r in results if r.endpoint.startswith("hydra-")]
    problems = error_lines(ours)
    peer_problems = [
        *([peer_why.splitlines()[0]] if peer_why else []),
        *error_lines(theirs),
        *filter(None, map(short_rounds, theirs)),
    ]
    print_grid(HEADER, table_rows(results))
    peers_on = not args.no_peers
    if peers_on:
        print()
        print_grid(PEER_HEADER, peer_rows(by, args.connections))
        write_peer_chart(results, peer_why)
    else:
        (HERE / "hydra.png").unlink(missing_ok=True)  # an earlier run's: not this one's
    write_chart(ours)
    write_markdown(
        HERE,
        "OAuth endpoint benchmark",
        [
            f"- Machine: {machine_line(machine_info(), wrk_version())}. At the start: {start}; "
            f"at the end: {noise()}.",
            f"- Each measurement: `wrk -t1 -cN -d{args.duration:g}s --latency "
            f"--timeout={WRK_TIMEOUT_S:g}s`, {args.rounds} round(s) after a {args.warmup:g} s "
            f"warm-up, at N = {', '.join(map(str, args.connections))} connections (closed loop: "
            "each connection sends its next request when the answer arrives). req/s and p99 are "
            "the median of the rounds, with their min-max in brackets.",
            "- **wrk, the server under test (one process, `HEARTH_LOG_LEVEL=WARNING`) and its "
            "embedded PostgreSQL/Redis share the same cores**, so req/s is reported as a ratio "
            "to a bare aiohttp hello-world (`bench/harness/hello.py`: uvloop, one process, no "
            "access log) measured in the same run at the same connection count, and beside "
            "Ory Hydra measured in the same run (below).",
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
            "",
            *hydra_section(args, by, peer_problems, hydra_errors),
        ],
        problems,
    )
    figures = p99_figures(by, ours)
    if peers_on:
        figures += peer_figures(by, args.connections, peer_why)
    write_results(HERE, figures, peer=PEER if peers_on else None)
    if peer_problems:
        print("\n".join(f"!!! {PEER}: {p}" for p in peer_problems), file=sys.stderr)
    return finish(problems, log_tail)


def hydra_section(
    args: argparse.Namespace,
    by: dict[tuple[str, int], Result],
    problems: list[str],
    log_errors: tuple[int, int, str],
) -> list[str]:
    lines = [f"## Beside {PEER}", ""]
    if args.no_peers:
        return [
            *lines,
            "Not run (`--no-peers`): `make bench-peers` builds Hydra and runs this bench with it.",
        ]
    if problems:
        lines += ["> **⚠ Hydra's comparison failed in this run:**", ">"]
        lines += [f"> - {p}" for p in problems] + [""]
    lines += [
        f"- {PEER}, built from the Go module proxy by `make bench-peers` "
        "(`bench/peers/hydra/build.sh`, see `bench/peers/hydra/README.md`) into "
        "`target/peers/bin/hydra`; run by `bench.harness.peers.hydra_server` on Hearth's "
        "embedded PostgreSQL in a database of its own (`hydra`, migrated by `hydra migrate sql "
        f"-e --yes`; DSN pool `max_conns={HYDRA_MAX_CONNS}`: with its default pool Hydra stalls "
        "under 16 concurrent token requests), `hydra serve all --dev` (plain HTTP) with JWT "
        "access tokens (`STRATEGIES_ACCESS_TOKEN=jwt`), `LOG_LEVEL=warn`, telemetry off, and "
        "otherwise its defaults (client secrets hashed with PBKDF2-SHA256, 25,000 iterations; "
        "access tokens signed RS256), but for "
        "`OAUTH2_CLIENT_CREDENTIALS_DEFAULT_GRANT_ALLOWED_SCOPE=true`: a client_credentials "
        "request naming no scope gets the client's scope, `flag.read`, as Hearth grants it.",
        "- The same wrk script (`bench/harness/wrk.lua`) and request bodies: token "
        "`POST /oauth2/token` `grant_type=client_credentials` with client_secret_basic (a "
        "client created by `POST /admin/clients`); introspection `POST "
        "/admin/oauth2/introspect` `token=<one access token>` on Hydra's admin port (Hydra's "
        "admin API authenticates no caller, Hearth's introspection authenticates the resource "
        "server). Both answers are checked once before measuring (a JWT for `flag.read`; "
        "`active: true`); wrk counts every non-2xx answer as an error.",
        "- Hydra and Hearth run side by side, each idle while the other is measured; every "
        "wrk run of either (warm-up and rounds) starts once both, with their PostgreSQL, use "
        f"less than {IDLE_CORES:g} core for {IDLE_S:g} s (at most {IDLE_LIMIT_S:g} s of "
        "waiting): Hydra goes on hashing the requests wrk left in flight at the end of a run. "
        f"Hydra's rounds last at least {PEER_MIN_DURATION_S:g} s "
        f"({max(args.duration, PEER_MIN_DURATION_S):g} s in this run): at 64 connections its "
        "answers take seconds, and a shorter round leaves connections unanswered. A round that "
        "answers fewer requests than it has connections is reported as stalled (failed).",
        f"- Aims (issue 21): token issuance ≥ {AIM_VS_HYDRA['token']:g}x and introspection ≥ "
        f"{AIM_VS_HYDRA['introspect']:g}x Hydra's req/s.",
        "",
        *md_table(PEER_HEADER, peer_rows(by, args.connections)),
        "",
    ]
    n_err, n_during, last = log_errors
    if n_err:
        lines += [
            f"Hydra logged {n_err} error line(s), {n_during} of them while a wrk run against it "
            "was under way (more than 1 s from its start and end); the others came between "
            "runs: requests wrk left in flight when a run stopped, whose context Hydra then saw "
            f"cancelled. What wrk itself received is in the errors column. The last"
            f"{' during a run' if n_during else ''}: `{last}`",
            "",
        ]
    lines += ["![Hearth beside Hydra: req/s and p99](hydra.png)"]
    return lines


if __name__ == "__main__":
    run_main(main)
