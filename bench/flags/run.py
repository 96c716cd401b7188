"""Feature flags beside Unleash, and the configuration store: Unleash itself (npm
``unleash-server``) and Hearth serving the same 100 flags, in one run at the same wrk
concurrency; Hearth's evaluation as a ratio of an aiohttp hello-world measured in the same run;
config reads and writes; and the delay from a flag toggle to its Server-Sent Event on the same
and on another worker.

    .venv/bin/python bench/flags/run.py [--duration 10] [--warmup 2] [--rounds 3] [--toggles 200]
        [--no-unleash]

``make bench-peers`` installs Unleash first (scripts/bench-peers.sh, into target/peers/unleash).
When Unleash is missing or fails to start or to load the flags, the comparison with it is a
failed figure with the reason (exit code 0: Hearth's own figures stand) and Hearth takes the
flags from ``bench.harness.flag_data`` directly; ``--no-unleash`` (``make bench``) leaves Unleash
out on purpose.
Starts ``hearth serve`` (bench.harness: embedded PostgreSQL and Redis, a fresh data dir) and
Unleash on the same PostgreSQL in a database of its own (``bench/peers/unleash-server.mjs``:
its open-source API-token authentication, admin/backend/frontend tokens created at start,
logging at error level, its SDK-API rate limit lifted). Then:

1. loads 100 flags with 4 segments (``bench.harness.flag_data``: Unleash's client-API shape)
   into Unleash through its admin API, takes what its ``GET /api/client/features`` serves and
   imports exactly that into Hearth (``POST /v1/flags/import?format=unleash&mode=replace``);
   creates Hearth's Unleash-style tokens (``hearth flags token create --type frontend|backend``)
   and 200 config keys;
2. checks every measured request once: for a fixed context (``user-1``, plan gold) Unleash's and
   Hearth's ``/api/frontend`` and Hearth's ``/v1/flags/evaluate`` name the same enabled flags
   with the same variants, and both ``/api/client/features`` list the same 100 flags;
3. drives, with ``wrk -t1 -c16 --latency`` (``--rounds`` rounds after a warm-up; the median
   and the min-max): the hello-world, Unleash's and Hearth's ``GET /api/frontend`` (a random
   user per request, ``properties[plan]=gold``), Hearth's ``POST /v1/flags/evaluate`` (the
   same context), both ``GET /api/client/features``, ``GET /v1/config/<key>`` and
   ``POST /v1/config`` (at 16 and at 1 connection); Unleash is stopped before Hearth's config
   and toggle parts;
4. starts a second ``hearth serve`` on the same PostgreSQL and Redis (as another machine
   would), opens one SSE subscriber (``GET /v1/flags/stream``) on each server, toggles a flag
   ``--toggles`` times at ``--toggle-rate``/s through the first server and times, per toggle,
   from just before the PUT is sent to the arrival of the matching event at each subscriber.

Prints the tables and writes ``RESULTS.md``, ``flags.png`` and ``results.json`` next to this
file; progress goes to stderr. Client and servers share the machine's cores, so the numbers
are a comparison, not a capacity figure. Any non-2xx answer, socket error, wrong answer or
undelivered event is flagged; the exit code is then 1.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
import urllib.parse
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.flags.sse import Propagation, measure_propagation
from bench.harness.charts import pyplot
from bench.harness.client import bearer_token, create_client, http, post_json
from bench.harness.flag_data import (
    ENV,
    N_FLAGS,
    import_hearth,
    load_unleash,
    seed_config,
    served_state,
    unleash_state,
)
from bench.harness.log import BenchError, run_main, say
from bench.harness.machine import machine_info, machine_line, noise
from bench.harness.paths import ROOT, tool
from bench.harness.results import (
    figure,
    finish,
    peer_failed_figure,
    write_markdown,
    write_results,
)
from bench.harness.server import Server, hearth_server, hello_server
from bench.harness.stats import pct
from bench.harness.tables import md_table, print_grid
from bench.harness.unleash import UNLEASH_VERSION, Unleash, unleash_server
from bench.harness.wrk import Request, Result, error_lines, measure, wrk_version

HERE = Path(__file__).resolve().parent
LUA = HERE / "wrk.lua"

SCOPES = "flag.read,flag.write,config.read,config.write"
AIM_FRONTEND = 10.0  # Hearth's /api/frontend req/s ÷ Unleash's
AIM_EVALUATE = 0.4  # /v1/flags/evaluate req/s ÷ hello-world req/s
AIM_CONFIG = 0.6  # config reads ÷ hello-world
SPEC_WRITE_P99_MS = 50.0
SPEC_SSE_P99_MS = 20.0
FIXED_USER = "user-1"
PLAN = "gold"

# (key, target, label); measured in this order.
ENDPOINTS = (
    ("hello", "hello", "hello-world GET /"),
    ("unleash-frontend", "unleash", "Unleash GET /api/frontend"),
    ("unleash-features", "unleash", "Unleash GET /api/client/features"),
    ("hearth-frontend", "hearth", "Hearth GET /api/frontend"),
    ("hearth-evaluate", "hearth", "Hearth POST /v1/flags/evaluate"),
    ("hearth-features", "hearth", "Hearth GET /api/client/features"),
    ("config-get", "hearth", "Hearth GET /v1/config/{key}"),
    ("config-set", "hearth", "Hearth POST /v1/config (unique value)"),
)
LABELS = {k: label for k, _, label in ENDPOINTS}
MODES = {
    "unleash-frontend": "frontend",
    "hearth-frontend": "frontend",
    "hearth-evaluate": "evaluate",
    "unleash-features": "features",
    "hearth-features": "features",
    "config-get": "config-get",
    "config-set": "config-set",
}


# ---------------------------------------------------------------- setup
def flags_token(server: Server, kind: str) -> str:
    """An Unleash-style token of Hearth's: ``hearth flags token create --type kind``."""
    cmd = [str(tool("hearth")), "flags", "token", "create", "--type", kind]
    cmd += ["--environment", ENV, "--json"]
    res = subprocess.run(cmd, env=server.env, cwd=ROOT, capture_output=True, check=False)
    if res.returncode != 0:
        raise BenchError(f"{' '.join(cmd[1:])} failed:\n{res.stderr.decode()[-2000:]}")
    return str(json.loads(res.stdout)["token"])


def frontend_path(user: str) -> str:
    return f"/api/frontend?userId={urllib.parse.quote(user)}&properties%5Bplan%5D={PLAN}"


def eval_body(user: str) -> dict[str, Any]:
    return {"context": {"userId": user, "properties": {"plan": PLAN}}}


def _get(base: str, path: str, auth: str) -> Any:
    status, body = http(base + path, auth=auth, timeout=30)
    if status != 200:
        raise BenchError(f"GET {base}{path}: {status} {body[:500]!r}")
    return json.loads(body)


def _toggles(doc: dict[str, Any]) -> dict[str, str]:
    """/api/frontend's answer: enabled flag -> variant name."""
    return {t["name"]: t["variant"]["name"] for t in doc["toggles"] if t["enabled"]}


def settle(unleash: Unleash, path: str, quiet_s: float = 3.0, timeout_s: float = 90.0) -> None:
    """Unleash's frontend API answers from a cache it refreshes after changes, a while after
    the admin API has acknowledged them: wait until its answer for the fixed context has not
    changed for ``quiet_s``."""
    deadline = time.monotonic() + timeout_s
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        now = _toggles(_get(unleash.base, path, unleash.frontend_token))
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
        time.sleep(0.5)
    raise BenchError(f"Unleash's /api/frontend kept changing for {timeout_s:.0f} s")


def check_answers(
    server: Server, unleash: Unleash, tokens: dict[str, str], served: dict[str, Any]
) -> tuple[list[str], dict[str, Any]]:
    """Each measured request once, for the fixed context; (problems, facts)."""
    problems: list[str] = []
    path = frontend_path(FIXED_USER)
    settle(unleash, path)
    theirs = _toggles(_get(unleash.base, path, unleash.frontend_token))
    ours = _toggles(_get(server.base, path, tokens["frontend"]))
    if ours != theirs:
        diff = sorted(set(ours.items()) ^ set(theirs.items()))
        problems.append(f"/api/frontend for {FIXED_USER}: Hearth and Unleash differ on {diff}")
    url = f"{server.base}/v1/flags/evaluate?environment={ENV}"
    status, body = post_json(url, tokens["bearer"], eval_body(FIXED_USER))
    if status != 200:
        raise BenchError(f"POST {url}: {status} {body[:500]!r}")
    flags = json.loads(body)["flags"]
    evaluated = {f["key"]: f["variant"] for f in flags if f["enabled"]}
    if len(flags) != N_FLAGS:
        problems.append(f"/v1/flags/evaluate answered {len(flags)} flags, not {N_FLAGS}")
    if evaluated != theirs:
        diff = sorted(set(evaluated.items()) ^ set(theirs.items()))
        problems.append(f"/v1/flags/evaluate for {FIXED_USER}: differs from Unleash on {diff}")
    reasons: dict[str, int] = {}
    for f in flags:
        reasons[f["reason"]] = reasons.get(f["reason"], 0) + 1
    names = sorted(f["name"] for f in served["features"])
    for target, base, token in (
        ("Unleash", unleash.base, unleash.client_token),
        ("Hearth", server.base, tokens["backend"]),
    ):
        got = sorted(f["name"] for f in _get(base, "/api/client/features", token)["features"])
        if got != names:
            problems.append(
                f"{target} /api/client/features lists {len(got)} flags, not the {len(names)} loaded"
            )
    facts = {"enabled": len(theirs), "reasons": reasons}
    for p in problems:
        say(f"!!! {p}")
    return problems, facts


# ---------------------------------------------------------------- report
HEADER = ["endpoint", "conns", "req/s", "p50 ms", "p99 ms", "x hello", "ratio", "errors", "aim"]
SSE_HEADER = ["", "received", "p50 ms", "p95 ms", "p99 ms", "max ms", "vs answer", "target"]


def _by(results: list[Result], key: str, conns: int) -> Result | None:
    return next((r for r in results if r.endpoint == key and r.connections == conns), None)


def ratios(results: list[Result], conns: int) -> dict[str, tuple[float, str]]:
    """The figures the issue asks for: key -> (ratio, what it divides)."""
    out: dict[str, tuple[float, str]] = {}
    hello = _by(results, "hello", conns)
    uf, uc = _by(results, "unleash-frontend", conns), _by(results, "unleash-features", conns)
    for key, peer, what in (
        ("hearth-frontend", uf, "÷ Unleash /api/frontend"),
        ("hearth-evaluate", uf, "÷ Unleash /api/frontend"),
        ("hearth-features", uc, "÷ Unleash /api/client/features"),
    ):
        r = _by(results, key, conns)
        if r and peer and peer.rps:
            out[key] = (r.rps / peer.rps, what)
    r = _by(results, "hearth-evaluate", conns)
    if r and hello and hello.rps:
        out["evaluate/hello"] = (r.rps / hello.rps, "÷ hello-world")
    return out


def verdict(r: Result, ratio: dict[str, tuple[float, str]]) -> str:
    mark = "met" if r.error_count == 0 else "failed (errors)"
    if r.endpoint == "hello":
        return "— (the limit)"
    if r.endpoint == "config-set":
        return (
            f"p99 < {SPEC_WRITE_P99_MS:g} ms: {mark if r.p99_ms < SPEC_WRITE_P99_MS else 'NOT met'}"
        )
    if r.endpoint == "hearth-frontend" and r.endpoint in ratio:
        ok = ratio[r.endpoint][0] >= AIM_FRONTEND
        return f"≥ {AIM_FRONTEND:g}x Unleash: {mark if ok else 'NOT met'}"
    if r.endpoint == "hearth-evaluate" and "evaluate/hello" in ratio:
        ok = ratio["evaluate/hello"][0] >= AIM_EVALUATE
        return f"≥ {AIM_EVALUATE:g}x hello: {mark if ok else 'NOT met'}"
    if r.endpoint == "config-get" and r.ratio is not None:
        return f"≥ {AIM_CONFIG:g}x hello: {mark if r.ratio >= AIM_CONFIG else 'NOT met'}"
    return "—"


def table_rows(results: list[Result], ratio: dict[str, tuple[float, str]]) -> list[list[str]]:
    rows = []
    for r in results:
        peer = ratio.get(r.endpoint)
        rows.append(
            [
                LABELS[r.endpoint],
                str(r.connections),
                r.spread("rps", "{:,.0f}"),
                f"{r.p50_ms:.2f}",
                f"{r.p99_ms:.2f}",
                f"{r.ratio:.2f}" if r.ratio is not None else "—",
                f"{peer[0]:.1f}x {peer[1].removeprefix('÷ ')}" if peer else "—",
                f"{r.error_count} !!" if r.error_count else "0",
                verdict(r, ratio),
            ]
        )
    return rows


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
            f"PUT /v1/flags/{{name}}/environments/{ENV} answer (1 connection, {prop.rate:g}/s)",
            f"{len(p)}/{prop.toggles}",
            *(f"{pct(p, q):.2f}" for q in (50, 95, 99, 100)),
            "—",
            "—",
        ]
    )
    return rows


def write_report(
    results: list[Result],
    ratio: dict[str, tuple[float, str]],
    prop: Propagation | None,
    args: argparse.Namespace,
    facts: dict[str, Any],
    problems: list[str],
) -> None:
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(facts.get("reasons", {}).items()))
    lines = [
        f"- Machine: {machine_line(machine_info(), wrk_version())}. "
        f"At the start: {facts['noise_start']}; at the end: {facts['noise_end']}.",
        "- Hearth: one `hearth serve` process (`HEARTH_LOG_LEVEL=WARNING`) with its embedded "
        "PostgreSQL and Redis, in a fresh data dir.",
        f"- Unleash: {facts.get('unleash', 'not run')}"
        + (f" — **failed**: {facts['unleash_failed']}" if facts.get("unleash_failed") else "")
        + " — npm `unleash-server` on Node "
        f"{facts.get('node', '?')} (`bench/peers/unleash-server.mjs`), one process, on Hearth's "
        "PostgreSQL in a database of its own; open-source API-token authentication (admin, "
        "backend and frontend tokens created at start), log level error, its SDK-API rate "
        "limit (20,000 requests a minute per caller by default) lifted, as Hearth runs "
        "without an API rate-limit policy.",
        "- **The load generator, both servers and the database share the same cores**: req/s "
        "are compared within this run — Hearth ÷ Unleash, and ÷ a bare aiohttp hello-world "
        "(`bench/harness/hello.py`) at the same concurrency.",
        f"- Data: {N_FLAGS} flags and 4 segments (`bench/harness/flag_data.py`, Unleash's "
        "client-API shape: `default` switches, `flexibleRollout` 10-90 % sticky on userId, "
        "`userWithId` lists, constraints with IN/NOT_IN, STR_*, NUM_*, SEMVER_* and DATE_* "
        "operators, segments, strategy variants, feature variants with string/json/number/csv "
        "payloads and an override; about a tenth off) loaded into Unleash through its admin "
        f"API; what its `/api/client/features` then served for `{ENV}` was imported into "
        "Hearth (`POST /v1/flags/import?format=unleash&mode=replace`). "
        f"{facts.get('keys', 0)} config keys in `{ENV}`.",
        (
            f"- Checked before measuring, for `{FIXED_USER}` with plan `{PLAN}`: Unleash's and "
            "Hearth's `/api/frontend` and Hearth's `/v1/flags/evaluate` name the same "
            f"{facts['enabled']} enabled flags with the same variants (evaluate's reasons: "
            f"{reasons or '—'}); both client APIs list the same flags."
            if "enabled" in facts
            else "- Unleash did not run: Hearth imported the flags of `bench/harness/flag_data.py` "
            "directly and nothing was compared with Unleash."
        ),
        "",
        "## Requests",
        "",
        f"Each measurement: `wrk -t1 -c{args.connections} -d{args.duration:g}s --latency`, "
        f"{args.rounds} round(s) after a {args.warmup:g} s warm-up (closed loop); script "
        "`bench/flags/wrk.lua`. req/s: the median of the rounds (min-max); p50/p99: medians.",
        "",
        "- frontend: `GET /api/frontend?userId=user-<n>&properties[plan]=gold` with a random n "
        "in 1..100 000 per request (as Unleash's browser SDKs send the context), the "
        "environment's frontend token as `Authorization`; each server enriches the context "
        "with the caller's address and a session id.",
        f"- evaluate: `POST /v1/flags/evaluate?environment={ENV}` "
        '`{"context":{"userId":"user-<n>","properties":{"plan":"gold"}}}`, bearer token from '
        f"client_credentials (`{SCOPES}`); the answer holds all {N_FLAGS} flags.",
        "- client features: `GET /api/client/features` with the environment's backend "
        "(client) token, no ETag: the whole state every time.",
        f"- config read: `GET /v1/config/<key>?environment={ENV}`, a random key of the "
        f"{facts.get('keys', 0)}; config write: `POST /v1/config` to a random key, a unique "
        "value per request (a transaction with history, audit and NOTIFY).",
        "",
        *md_table(HEADER, table_rows(results, ratio)),
        "",
        "`x hello` = req/s ÷ hello-world req/s at the same concurrency; `ratio` = Hearth ÷ "
        "Unleash on the same kind of request. `errors` counts non-2xx answers and socket "
        "errors.",
    ]
    if prop is not None:
        lines += [
            "",
            "## Toggle → Server-Sent Event",
            "",
            "A second `hearth serve` process is started on the first one's PostgreSQL and "
            "Redis, as a second machine or worker would be. One subscriber holds "
            "`GET /v1/flags/stream` open on each (aiohttp, bearer token). A separate client "
            f"toggles the flag {prop.toggles} times (`PUT /v1/flags/{{name}}/environments/"
            f'{ENV}` `{{"enabled": …}}`, keep-alive) at {prop.rate:g}/s through the first '
            f"server ({prop.seconds:.1f} s). Latency = from just before the PUT is sent to the "
            "arrival of the first line of the `flag` event whose `state.version` is the "
            "version the PUT answered; all clients run in one process on one clock. `vs "
            "answer` = median of (event arrival - arrival of the PUT's own answer).",
            "",
            *md_table(SSE_HEADER, sse_rows(prop)),
        ]
    lines += ["", "![req/s, latency and toggle→event delay](flags.png)"]
    write_markdown(
        HERE, "Feature flags beside Unleash, and the configuration store", lines, problems
    )


def write_chart(results: list[Result], prop: Propagation | None) -> None:
    plt = pyplot()
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(17, 5))
    names = [f"{r.endpoint}\n@{r.connections}" for r in results]
    xs = range(len(results))
    colors = {"hello": "#7f7f7f", "unleash": "#d62728", "hearth": "#1f77b4"}
    target = {k: t for k, t, _ in ENDPOINTS}
    bars = ax1.bar(
        xs, [r.rps for r in results], color=[colors[target[r.endpoint]] for r in results]
    )
    for bar, r in zip(bars, results, strict=True):
        lo, hi = min(r.values("rps")), max(r.values("rps"))
        ax1.plot([bar.get_x() + bar.get_width() / 2] * 2, [lo, hi], color="black", lw=1)
        if r.ratio is not None and r.endpoint != "hello":
            ax1.annotate(
                f"{r.ratio:.2f}x",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=8,
            )
    ax1.set_xticks(list(xs), names, fontsize=6, rotation=30)
    ax1.set_ylabel("requests / s (bar: median, line: min-max)")
    ax1.set_title("Throughput (grey hello, red Unleash, blue Hearth; label: x hello)")
    width = 0.38
    ax2.bar([x - width / 2 for x in xs], [r.p50_ms for r in results], width, label="p50")
    ax2.bar([x + width / 2 for x in xs], [r.p99_ms for r in results], width, label="p99")
    ax2.set_xticks(list(xs), names, fontsize=6, rotation=30)
    ax2.set_yscale("log")
    ax2.set_ylabel("ms (log)")
    ax2.set_title("wrk latency")
    ax2.legend(fontsize=8)
    if prop is not None:
        series = [(s.label, s.latencies_ms) for s in prop.subscribers]
        series.append(("PUT answer", prop.put_ms))
        for label, values in series:
            ordered = sorted(values)
            if ordered:
                ys = [100 * (i + 1) / len(ordered) for i in range(len(ordered))]
                ax3.plot(ordered, ys, label=label, drawstyle="steps-post")
        ax3.axvline(SPEC_SSE_P99_MS, color="red", ls=":", lw=1, label="spec p99 20 ms")
        ax3.set_xscale("log")
        ax3.set_xlabel("ms from just before the PUT (log)")
        ax3.set_ylabel("% of toggles")
        ax3.set_title(f"Toggle → SSE event ({prop.toggles} toggles at {prop.rate:g}/s)")
        ax3.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(HERE / "flags.png", dpi=110)
    plt.close(fig)


def result_figures(
    results: list[Result],
    ratio: dict[str, tuple[float, str]],
    prop: Propagation | None,
    facts: dict[str, Any],
) -> list[dict[str, Any]]:
    png = "flags/flags.png"
    conns = results[0].connections if results else 0
    hello = _by(results, "hello", conns) if results else None
    peer_name = facts.get("unleash") or f"Unleash {UNLEASH_VERSION}"
    out = []
    if facts.get("unleash_failed"):
        mine = _by(results, "hearth-frontend", conns)
        out.append(
            peer_failed_figure(
                f"{LABELS['hearth-frontend']} req/s ÷ Unleash /api/frontend",
                peer_name,
                facts["unleash_failed"],
                unit="x",
                target=f"≥ {AIM_FRONTEND:g}x",
                target_value=AIM_FRONTEND,
                headline="flags",
                compared_unit="req/s",
                hearth_value=round(mine.rps) if mine else None,
                limit=f"hello-world {hello.rps:,.0f} req/s" if hello else "",
                chart=png,
            )
        )
    for key, aim, headline in (
        ("hearth-frontend", AIM_FRONTEND, "flags"),
        ("hearth-evaluate", None, "flags"),
        ("hearth-features", None, "flags"),
        ("evaluate/hello", AIM_EVALUATE, "flags"),
    ):
        if key not in ratio:
            continue
        value, what = ratio[key]
        r = _by(results, "hearth-evaluate" if key == "evaluate/hello" else key, conns)
        assert r is not None
        theirs = None
        if key != "evaluate/hello":
            theirs = _by(
                results,
                "unleash-features" if key == "hearth-features" else "unleash-frontend",
                conns,
            )
        den = theirs if key != "evaluate/hello" else hello  # each round's ratio: same round
        name = (
            "POST /v1/flags/evaluate req/s ÷ hello-world"
            if key == "evaluate/hello"
            else f"{LABELS[key]} req/s {what}"
        )
        out.append(
            figure(
                name,
                round(value, 3),
                "x",
                f"≥ {aim:g}x" if aim else "—",
                value >= aim if aim else None,
                headline=headline,
                target_value=aim,
                limit=f"hello-world {hello.rps:,.0f} req/s" if hello else "",
                chart=png,
                detail=f"{r.rps:,.0f} req/s ({r.spread('rps', '{:,.0f}')}), p99 {r.p99_ms:.2f} ms",
                errors=r.error_count + (theirs.error_count if theirs else 0),
                rounds=[
                    round(a / b, 3)
                    for a, b in zip(r.values("rps"), den.values("rps"), strict=False)
                    if b
                ]
                if den
                else [],
                **(
                    {
                        "peer": peer_name,
                        "hearth_value": round(r.rps),
                        "peer_value": round(theirs.rps),
                        "compared_unit": "req/s",
                        "hearth_rounds": [round(v) for v in r.values("rps")],
                        "peer_rounds": [round(v) for v in theirs.values("rps")],
                    }
                    if theirs
                    else {}
                ),
            )
        )
    for r in results:
        if r.endpoint in ("config-get", "config-set"):
            out.append(
                figure(
                    f"{LABELS[r.endpoint]} p99 @ {r.connections} conns",
                    round(r.p99_ms, 2),
                    "ms",
                    "p99 < 50 ms",
                    r.p99_ms < 50 and not r.error_count,
                    headline="config",
                    target_value=50.0,
                    chart=png,
                    detail=f"{r.rps:,.0f} req/s, p50 {r.p50_ms:.2f} ms",
                    errors=r.error_count,
                    rounds=[round(v, 2) for v in r.values("p99_ms")],
                )
            )
    if prop is not None:
        put_p99 = pct(prop.put_ms, 99)
        for s in prop.subscribers:
            out.append(
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
            )
    return out


# ---------------------------------------------------------------- main
def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    p.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds before each")
    p.add_argument("--rounds", type=int, default=3, help="rounds per measurement (median)")
    p.add_argument("--connections", type=int, default=16, help="wrk connections")
    p.add_argument("--toggles", type=int, default=200, help="flag toggles for the SSE delay")
    p.add_argument("--toggle-rate", type=float, default=20.0, help="toggles per second")
    p.add_argument(
        "--no-unleash",
        action="store_true",
        help="leave Unleash out (make bench): Hearth's figures only",
    )
    return p.parse_args()


def start_unleash(stack: ExitStack, server: Server, facts: dict[str, Any]) -> Unleash | None:
    """Unleash on ``server``'s PostgreSQL, closed with ``stack``; None (and the reason in
    ``facts``) when it is not installed or does not start: Hearth's figures are measured all
    the same, and the comparison is a failed figure."""
    try:
        unleash = stack.enter_context(unleash_server(server, ENV))
    except BenchError as exc:
        return unleash_failed(facts, str(exc))
    facts["unleash"] = f"Unleash {unleash.version}"
    return unleash


def unleash_failed(facts: dict[str, Any], why: str, unleash: Unleash | None = None) -> None:
    """Record why Unleash is not compared (the first line of ``why``; all of it, and its log
    tail, on stderr)."""
    say(f"!!! Unleash failed, not compared: {why}")
    if unleash is not None:
        say(f"--- unleash log tail ---\n{unleash.log_tail()}")
    facts["unleash_failed"] = why.strip().splitlines()[0][:400] if why.strip() else "?"
    return None


def node_version() -> str:
    res = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False)
    return res.stdout.strip().removeprefix("v") or "?"


def main() -> int:
    args = parse_args()
    if args.rounds < 3:
        raise BenchError("--rounds must be at least 3 (a median and a spread)")
    facts: dict[str, Any] = {"noise_start": noise(), "node": node_version()}
    say(f"machine: {facts['noise_start']}")
    results: list[Result] = []
    problems: list[str] = []
    n = args.connections
    with hearth_server() as server:
        say(f"creating a client ({SCOPES}) and taking a client_credentials token")
        client = create_client(server, "bench-flags", SCOPES)
        token = bearer_token(server, client)
        tokens = {
            "bearer": token,
            "frontend": flags_token(server, "frontend"),
            "backend": flags_token(server, "backend"),
        }
        keys = seed_config(server, token)
        facts["keys"] = len(keys)

        def hearth_req(key: str) -> Request:
            mode = MODES[key]
            path = {
                "frontend": "/api/frontend",
                "features": "/api/client/features",
                "evaluate": "/v1/flags/evaluate",
            }.get(mode, "/v1/config")
            auth = {"frontend": tokens["frontend"], "features": tokens["backend"]}
            return Request(
                server.base + path,
                auth=auth.get(mode, f"Bearer {tokens['bearer']}"),
                script=LUA,
                env={"BENCH_MODE": mode, "BENCH_ENV": ENV, "BENCH_KEYS": ",".join(keys)},
            )

        def run(key: str, req: Request, conns: int = n) -> None:
            results.append(measure(key, req, conns, args.duration, args.warmup, args.rounds))

        log_tails: list[str] = []
        with hello_server() as hello_url, ExitStack() as peer:
            unleash = None if args.no_unleash else start_unleash(peer, server, facts)
            served = state = unleash_state()
            if unleash is not None:
                try:
                    say(f"loading {len(state['features'])} flags into Unleash (its admin API)")
                    load_unleash(unleash, state)
                    served = served_state(unleash)
                except BenchError as exc:
                    unleash = unleash_failed(facts, f"loading the flags failed: {exc}", unleash)
            say(f"importing what Unleash serves ({len(served['features'])} flags) into Hearth")
            import_hearth(server, token, served)
            token = tokens["bearer"] = bearer_token(server, client)  # a whole TTL from here
            if unleash is not None:
                found, facts_check = check_answers(server, unleash, tokens, served)
                problems += found
                facts |= facts_check
            run("hello", Request(hello_url))
            if unleash is not None:
                for key in ("unleash-frontend", "unleash-features"):
                    mode = MODES[key]
                    path = "/api/frontend" if mode == "frontend" else "/api/client/features"
                    auth = unleash.frontend_token if mode == "frontend" else unleash.client_token
                    env = {"BENCH_MODE": mode}
                    run(key, Request(unleash.base + path, auth=auth, script=LUA, env=env))
                log_tails.append(unleash.log_tail())
        for key in ("hearth-frontend", "hearth-evaluate", "hearth-features", "config-get"):
            run(key, hearth_req(key))
        run("config-set", hearth_req("config-set"))
        run("config-set", hearth_req("config-set"), 1)
        prop = measure_propagation(server, token, client, args.toggles, args.toggle_rate)
        for s in prop.subscribers:
            say(
                f"  {s.label}: {len(s.latencies_ms)} events, p50 {pct(s.latencies_ms, 50):.2f} "
                f"ms, p99 {pct(s.latencies_ms, 99):.2f} ms, max {pct(s.latencies_ms, 100):.2f} ms"
            )
        log_tails.append(server.log_tail())
    facts["noise_end"] = noise()

    hello = _by(results, "hello", n)
    for r in results:
        if hello and hello.rps and r.connections == hello.connections:
            r.ratio = r.rps / hello.rps
    ratio = ratios(results, n)
    problems += error_lines(results)
    problems += [
        f"{s.label}: {s.missing} toggle event(s) never arrived"
        for s in prop.subscribers
        if s.missing
    ]
    if prop.put_errors:
        problems.append(f"{prop.put_errors} toggle PUT(s) failed")
    print_grid(HEADER, table_rows(results, ratio))
    print_grid(SSE_HEADER, sse_rows(prop))
    write_chart(results, prop)
    write_report(results, ratio, prop, args, facts, problems)
    write_results(HERE, result_figures(results, ratio, prop, facts))
    return finish(problems, *log_tails)


if __name__ == "__main__":
    run_main(main)
