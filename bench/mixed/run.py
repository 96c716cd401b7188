"""Mixed-load benchmark: telemetry emitters, REST services and dashboards at once (locust,
``bench/mixed/locustfile.py``) against a real ``hearth serve``, for the spec's 5 000 req/s
target, at ``--workers 1`` and ``--workers 2``, beside the same load generator's rate against
an aiohttp hello-world measured in the same run.

    .venv/bin/python bench/mixed/run.py [--duration 30] [--users 64] [--processes 2]
                                        [--workers 2,1] [--profile 10]

For each server worker count (``--workers``, the first is the headline): starts
``hearth serve`` with ``HEARTH_WORKERS=N`` (bench.harness: embedded PostgreSQL and Redis,
fresh data dir), registers one client with every scope the scenario needs, takes a
client_credentials token, seeds 100 flags (imported in Unleash's shape) and 200 config keys (``bench.harness.flag_data``),
imports 1 000 users and ingests 20 000 points so the dashboards find data; checks every
request once; then runs locust headless, ``--users`` closed-loop users spawned at once
(``--reset-stats``: the figures start when all are running), ``--processes`` locust processes
with FastHttpUser, for ``--duration`` s. Users by weight: emitters 1 (a bulk every 0.5-1.5 s),
REST services 6 (closed loop), dashboards 1 (every 1-3 s). On the headline server, ``--profile`` more seconds of the same load are sampled
with py-spy (``--subprocesses``) for the top frames. Before the servers, the same locust
setup drives ``bench/harness/hello.py`` for ``--duration`` s: the most the load generator can
send on this machine.

Writes ``RESULTS.md``, ``mixed.png`` and ``results.json`` next to this file. Client, servers
and databases share the machine's cores, so the numbers say what this machine reaches, not
what the service could on its own cores. Exit code 1 when a request failed.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import os
import random
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.harness.charts import pyplot
from bench.harness.client import bearer_token, create_client, http
from bench.harness.flag_data import ENV, seed_data
from bench.harness.log import BenchError, run_main, say
from bench.harness.machine import CpuMeter, machine_info, machine_line, noise
from bench.harness.paths import ROOT, tool
from bench.harness.profiler import Profiler, profile_lines
from bench.harness.results import figure, finish, write_markdown, write_results
from bench.harness.server import Server, hearth_server, hello_server
from bench.harness.tables import md_table, print_grid
from bench.harness.user_import import import_csv, write_csv
from bench.mixed import scenario as data

HERE = Path(__file__).resolve().parent
LOCUSTFILE = HERE / "locustfile.py"

SCENARIO = ("TelemetryEmitter", "RestService", "Dashboard")
TARGET_RPS = 5000.0
SCOPES = (
    "metrics.write,metrics.read,flag.read,flag.write,config.read,config.write,"
    "auth.introspect,profile.read,profile.write"
)
SEED_USERS = 1000
SEED_POINTS = 20_000


# ---------------------------------------------------------------- seeding
def post_bulk(server: Server, token: str, points: list[dict[str, Any]]) -> None:
    req = urllib.request.Request(
        f"{server.base}/v1/metrics/bulk",
        data=json.dumps(points).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        if resp.status != 200:
            raise BenchError(f"POST /v1/metrics/bulk: {resp.status}")


def seed(server: Server, token: str) -> dict[str, Any]:
    """Flags, config keys, users and points; every request of the scenario checked once."""
    _, keys = seed_data(server, token)
    tmp = Path(tempfile.mkdtemp(prefix="csv-", dir=server.data_dir))
    users = write_csv(tmp / "users.csv", SEED_USERS, passwords=False, domain="mixed.test", seed=3)
    run = import_csv(
        server, token, "users", users, {"created": SEED_USERS, "errors": 0, "committed": True}
    )
    if run.problem:
        raise BenchError(f"user import: {run.problem}")
    status, body = http(f"{server.base}/v1/users?limit=1000", auth=f"Bearer {token}")
    if status != 200:
        raise BenchError(f"GET /v1/users: {status} {body[:300]!r}")
    ids = [u["user_id"] for u in json.loads(body)["items"]]
    say(f"ingesting {SEED_POINTS:,} points for the dashboards")
    now = time.time()
    rng = random.Random(5)
    for _ in range(SEED_POINTS // 1000):
        post_bulk(server, token, data.points(rng, 1000, now, 3600))
    env = bench_env(token, ids, keys)
    checks = {
        "evaluate": (
            "POST",
            f"/v1/flags/evaluate?environment={ENV}",
            json.dumps({"context": {"targetingKey": "u"}}),
        ),
        "config": ("GET", f"/v1/config/{keys[0]}?environment={ENV}", None),
        "introspect": ("POST", "/oauth/introspect", f"token={token}"),
        "user": ("GET", f"/v1/users/{ids[0]}", None),
        "query": (
            "GET",
            f"/v1/metrics/query?namespace={data.NAMESPACE}&name={data.METRICS[0]}&agg=avg"
            "&group_by=region",
            None,
        ),
    }
    for what, (method, path, body_text) in checks.items():
        req = urllib.request.Request(
            server.base + path,
            data=body_text.encode() if body_text is not None else None,
            method=method,
            headers={"Authorization": f"Bearer {token}"},
        )
        req.add_header(
            "Content-Type",
            "application/x-www-form-urlencoded" if what == "introspect" else "application/json",
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                doc = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise BenchError(f"{what}: {exc.code} {exc.read()[:300]!r}") from None
        if what == "introspect" and not doc.get("active"):
            raise BenchError(f"introspection says the token is inactive: {doc}")
        if what == "query" and not doc["data"]["result"]:
            raise BenchError("the metrics query found no data")
    say("every request of the scenario verified")
    return env


def bench_env(token: str, ids: list[str], keys: list[str]) -> dict[str, str]:
    return {
        "BENCH_TOKEN": token,
        "BENCH_USER_IDS": ",".join(ids),
        "BENCH_CONFIG_KEYS": ",".join(keys),
        "BENCH_ENV": ENV,
    }


# ---------------------------------------------------------------- locust
@dataclass
class Run:
    label: str
    workers: int  # hearth serve --workers (0: the hello-world)
    seconds: float
    rows: list[dict[str, Any]]  # per request type
    total: dict[str, Any]
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return float(self.total["Requests/s"])

    @property
    def requests(self) -> int:
        return int(self.total["Request Count"])

    @property
    def failures(self) -> int:
        return int(self.total["Failure Count"])

    @property
    def failure_pct(self) -> float:
        return 100 * self.failures / self.requests if self.requests else 0.0


def run_locust(
    label: str,
    workers: int,
    host: str,
    classes: tuple[str, ...],
    env: dict[str, str],
    args: argparse.Namespace,
    seconds: float,
    meter: CpuMeter | None = None,
) -> Run:
    out = Path(tempfile.mkdtemp(prefix="hearth-bench-locust-"))
    cmd = [
        str(tool("locust")),
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--users",
        str(args.users),
        "--spawn-rate",
        str(args.users),
        "--run-time",
        f"{max(1, round(seconds))}s",
        "--host",
        host,
        "--csv",
        str(out / "run"),
        "--reset-stats",
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    if args.processes > 1:
        cmd += ["--processes", str(args.processes)]
    cmd += list(classes)
    say(
        f"locust {label}: {args.users} users, {args.processes} process(es), {seconds:g} s "
        f"({', '.join(classes)})"
    )
    if meter:
        meter.start()
    res = subprocess.run(
        cmd,
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=seconds + 180,
    )
    cpu = meter.stop() if meter else {}
    stats = out / "run_stats.csv"
    try:
        rows = list(csv.DictReader(stats.open()))
    except OSError:
        raise BenchError(
            f"locust wrote no stats (exit {res.returncode}):\n{res.stderr[-3000:]}"
        ) from None
    finally:
        shutil.rmtree(out, ignore_errors=True)
    total = next(r for r in rows if r["Name"] == "Aggregated")
    run = Run(label, workers, seconds, [r for r in rows if r["Name"] != "Aggregated"], total, cpu)
    say(
        f"  {label}: {run.rps:,.0f} req/s, {run.failures:,} failures of {run.requests:,} "
        f"({run.failure_pct:.3f} %), p50 {total['50%']} ms, p99 {total['99%']} ms"
    )
    if run.failures:
        say(f"!!! locust stderr tail:\n{res.stderr[-1500:]}")
    return run


def profile_top(server: Server, workers: int, run: Any) -> dict[str, Any]:
    out = Path(tempfile.mkdtemp(prefix="hearth-bench-mixed-")) / "mixed.raw"
    prof = Profiler(out, workers=workers)
    prof.start(server.proc.pid)
    try:
        run()
    finally:
        prof.stop()
    top = prof.top(15)
    shutil.rmtree(out.parent, ignore_errors=True)
    return top


# ---------------------------------------------------------------- report
HEADER = ["request", "requests", "failures", "req/s", "share", "p50 ms", "p95 ms", "p99 ms"]


def type_rows(run: Run) -> list[list[str]]:
    rows = []
    for r in [*sorted(run.rows, key=lambda r: -float(r["Requests/s"])), run.total]:
        n = int(r["Request Count"])
        rows.append(
            [
                "all" if r["Name"] == "Aggregated" else r["Name"],
                f"{n:,}",
                f"{int(r['Failure Count']):,}",
                f"{float(r['Requests/s']):,.0f}",
                f"{n / run.requests:.0%}" if run.requests else "—",
                r["50%"],
                r["95%"],
                r["99%"],
            ]
        )
    return rows


CPU_HEADER = ["process group", "CPU s", "cores busy"]


def cpu_rows(run: Run) -> list[list[str]]:
    names = {"bench client": "locust (all its processes) and this script"}
    return [[names.get(k, k), f"{v:.1f}", f"{v / run.seconds:.2f}"] for k, v in run.cpu.items()] + [
        ["all", f"{sum(run.cpu.values()):.1f}", f"{sum(run.cpu.values()) / run.seconds:.2f}"]
    ]


def write_report(
    runs: list[Run],
    hello: Run,
    prof: dict[str, Any] | None,
    args: argparse.Namespace,
    facts: dict[str, Any],
    problems: list[str],
) -> None:
    head = runs[0]
    met = head.rps >= TARGET_RPS and not head.failures
    info = machine_info()
    lines = [
        f"- Machine: {machine_line(info, 'locust ' + facts['locust'])}. At the start: {facts['noise_start']}; at "
        f"the end: {facts['noise_end']}.",
        f"- Load: locust headless, {args.users} FastHttpUser users spawned at once "
        f"over {args.processes} locust process(es), {args.duration:g} s after spawning "
        "(`--reset-stats`); users by weight: telemetry emitters 1 (`POST /v1/metrics/bulk`, "
        "100-1000 points, 0.5-1.5 s apart), REST services 6 (closed loop: flag evaluation 4, "
        "config read 3, introspection 2, user by id 1), dashboards 1 (every 1-3 s: metrics "
        "query by region over the last hour 3, users list 1). Scenario: "
        "`bench/mixed/locustfile.py`.",
        f"- Server: `hearth serve --workers N` with embedded PostgreSQL and Redis, fresh data "
        f"dir, seeded with 100 flags, 200 config keys, {SEED_USERS:,} users and "
        f"{SEED_POINTS:,} points. **Locust, the server and its databases share the "
        f"{info['cores']} cores.**",
        "",
        f"## At --workers {head.workers}: {head.rps:,.0f} req/s — spec target "
        f"{TARGET_RPS:,.0f} req/s **{'met' if met else 'NOT met'}**",
        "",
        f"The load generator alone reached {hello.rps:,.0f} req/s against the hello-world "
        f"(`bench/harness/hello.py`) with the same users and processes: the ceiling of this "
        "client on this machine.",
        "",
        *md_table(HEADER, type_rows(head)),
        "",
        "CPU during the run (from /proc):",
        "",
        *md_table(CPU_HEADER, cpu_rows(head)),
        "",
        "## Scaling: the same scenario at 1 and 2 workers",
        "",
        *md_table(
            ["server", "req/s", "failures", "p50 ms", "p99 ms"],
            [
                [
                    f"--workers {r.workers}",
                    f"{r.rps:,.0f}",
                    f"{r.failure_pct:.3f} %",
                    r.total["50%"],
                    r.total["99%"],
                ]
                for r in sorted(runs, key=lambda r: r.workers)
            ]
            + [["hello-world (the client's ceiling)", f"{hello.rps:,.0f}", "—", "—", "—"]],
        ),
        "",
    ]
    for r in runs[1:]:
        lines += [f"Per request type at --workers {r.workers}:", ""]
        lines += [*md_table(HEADER, type_rows(r)), ""]
    if prof is not None:
        lines += [
            f"## Profile of the server under this load (--workers {head.workers})",
            "",
            f"{args.profile:g} s more of the same scenario, sampled with py-spy.",
            "",
            *profile_lines(prof),
            "",
        ]
    lines += ["![mixed load: req/s by type, latency, scaling](mixed.png)"]
    write_markdown(HERE, "Mixed-load benchmark (locust)", lines, problems)


def write_chart(runs: list[Run], hello: Run) -> None:
    plt = pyplot()
    head = runs[0]
    fig, (ax1, ax2, ax3) = plt.subplots(
        1, 3, figsize=(16, 4.8), gridspec_kw={"width_ratios": [2, 3, 2]}
    )
    names = [r["Name"] for r in sorted(head.rows, key=lambda r: -float(r["Requests/s"]))]
    by = {r["Name"]: r for r in head.rows}
    bottom = 0.0
    for n in names:
        v = float(by[n]["Requests/s"])
        ax1.bar(["achieved"], [v], bottom=bottom, label=n)
        bottom += v
    ax1.bar(["client ceiling\n(hello-world)"], [hello.rps], color="#9e9e9e")
    ax1.axhline(TARGET_RPS, color="red", ls=":", lw=1.2, label=f"spec {TARGET_RPS:,.0f} req/s")
    ax1.set_ylabel("requests / s")
    ax1.set_title(f"Mixed scenario, --workers {head.workers}")
    ax1.legend(fontsize=6)
    xs = range(len(names))
    w = 0.27
    for i, q in enumerate(("50%", "95%", "99%")):
        ax2.bar(
            [x + (i - 1) * w for x in xs],
            [float(by[n][q]) for n in names],
            w,
            label=f"p{q[:-1]}",
        )
    ax2.set_xticks(list(xs), [n.replace(" /", "\n/", 1) for n in names], fontsize=7)
    ax2.set_yscale("log")
    ax2.set_ylabel("ms (log)")
    ax2.set_title("Latency per request type")
    ax2.legend(fontsize=8)
    ordered = sorted(runs, key=lambda r: r.workers)
    bars = ax3.bar([f"--workers {r.workers}" for r in ordered], [r.rps for r in ordered])
    ax3.bar_label(bars, [f"{r.rps:,.0f}" for r in ordered], fontsize=8)
    ax3.axhline(TARGET_RPS, color="red", ls=":", lw=1.2)
    ax3.axhline(hello.rps, color="#9e9e9e", ls="--", lw=1, label="client ceiling")
    ax3.set_title("Scaling (same scenario)")
    ax3.set_ylabel("requests / s")
    ax3.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(HERE / "mixed.png", dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------- main
def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=30.0, help="seconds per locust run")
    p.add_argument("--users", type=int, default=64, help="locust users")
    p.add_argument("--processes", type=int, default=2, help="locust processes")
    p.add_argument(
        "--workers",
        type=lambda s: [int(x) for x in s.split(",") if x.strip()],
        default=[2, 1],
        help="hearth serve --workers of each run, the first the headline (default 2,1)",
    )
    p.add_argument(
        "--profile", type=float, default=10.0, help="py-spy seconds on the headline (0: none)"
    )
    return p.parse_args()


def main() -> int:
    args = parse_args()
    version = subprocess.run(
        [str(tool("locust")), "--version"], capture_output=True, text=True, check=False
    )
    facts: dict[str, Any] = {
        "noise_start": noise(),
        "locust": (version.stdout or version.stderr).split()[1],
    }
    say(f"machine: {facts['noise_start']}")
    with hello_server() as hello_url:
        hello = run_locust(
            "hello-world", 0, hello_url.rstrip("/"), ("HelloUser",), {}, args, args.duration
        )
    runs: list[Run] = []
    prof: dict[str, Any] | None = None
    tails = []
    for i, workers in enumerate(args.workers):
        with hearth_server(workers=workers) as server:
            say(f"creating a client ({SCOPES}) and taking a client_credentials token")
            token = bearer_token(server, create_client(server, "bench-mixed", SCOPES))
            env = seed(server, token)
            meter = CpuMeter(server)
            runs.append(
                run_locust(
                    f"--workers {workers}",
                    workers,
                    server.base,
                    SCENARIO,
                    env,
                    args,
                    args.duration,
                    meter,
                )
            )
            if i == 0 and args.profile > 0:
                prof = profile_top(
                    server,
                    workers,
                    functools.partial(
                        run_locust,
                        "profiled",
                        workers,
                        server.base,
                        SCENARIO,
                        env,
                        args,
                        args.profile,
                    ),
                )
            tails.append(server.log_tail())
    facts["noise_end"] = noise()

    head = runs[0]
    problems = [
        f"--workers {r.workers}: {r.failures:,} failed requests" for r in runs if r.failures
    ]
    for r in runs:
        print(f"\n--workers {r.workers}: {r.rps:,.0f} req/s, {r.failure_pct:.3f} % failed")
        print_grid(HEADER, type_rows(r))
    print(f"\nlocust against the hello-world: {hello.rps:,.0f} req/s")
    write_chart(runs, hello)
    write_report(runs, hello, prof, args, facts, problems)
    png = "mixed/mixed.png"
    by_workers = {r.workers: r for r in runs}
    figures = [
        figure(
            f"mixed scenario req/s at --workers {head.workers} ({args.users} users)",
            round(head.rps),
            "req/s",
            f"≥ {TARGET_RPS:,.0f} req/s",
            head.rps >= TARGET_RPS,
            headline="mixed",
            target_value=TARGET_RPS,
            limit=f"locust vs hello-world {hello.rps:,.0f} req/s (the client's ceiling)",
            limit_value=round(hello.rps),
            chart=png,
            detail=f"{head.failure_pct:.3f} % failed, p50 {head.total['50%']} ms, p99 "
            f"{head.total['99%']} ms",
            errors=head.failures,
        ),
        figure(
            f"mixed scenario failed requests at --workers {head.workers}",
            round(head.failure_pct, 4),
            "%",
            "< 0.1 % (success > 99.9 %)",
            head.failure_pct < 0.1,
            headline="mixed",
            chart=png,
            detail=f"{head.failures:,} of {head.requests:,}",
        ),
        *(
            figure(
                f"mixed scenario req/s at --workers {w}",
                round(by_workers[w].rps),
                "req/s",
                "—",
                None,
                headline="scaling",
                limit=f"locust vs hello-world {hello.rps:,.0f} req/s",
                limit_value=round(hello.rps),
                chart=png,
                detail=f"{by_workers[w].failure_pct:.3f} % failed, p99 "
                f"{by_workers[w].total['99%']} ms",
                errors=by_workers[w].failures,
            )
            for w in sorted(by_workers)
        ),
    ]
    tables = [
        {
            "title": f"Per request type at --workers {r.workers}",
            "header": HEADER,
            "rows": type_rows(r),
        }
        for r in runs
    ]
    write_results(HERE, figures, tables=tables, profile=prof)
    return finish(problems, *tails)


if __name__ == "__main__":
    run_main(main)
