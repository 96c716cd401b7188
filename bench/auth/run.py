"""OAuth endpoint benchmark: token issuance (client_credentials) and introspection against the
real server, beside a bare aiohttp hello-world measured in the same run.

    .venv/bin/python bench/auth/run.py [--duration S] [--warmup S] [--connections 16,64]

Starts ``hearth serve`` (embedded PostgreSQL and Redis) on free ports in a fresh data dir,
registers two confidential clients with ``hearth client create``, starts ``hello.py``, and
drives every endpoint with ``wrk -t1 -cN --latency`` (closed loop, one wrk thread). Prints a
table and writes ``RESULTS.md`` and ``auth.png`` next to this file.

Throughput is reported as a ratio against the hello-world measured at the same connection
count; latency as p50/p99 at the stated concurrency. Client (wrk) and server share the
machine's cores, so the numbers are a comparison, not a capacity figure. Any non-2xx answer
or socket error is counted and flagged; the exit code is then 1.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import (
    BenchError,
    figure,
    pyplot,
    report_server_warnings,
    run_main,
    say,
    write_results,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
VENV_BIN = ROOT / ".venv" / "bin"
HEARTH = VENV_BIN / "hearth"
PYTHON = VENV_BIN / "python"
LUA = HERE / "wrk.lua"
RESULTS_MD = HERE / "RESULTS.md"
CHART = HERE / "auth.png"

# Targets, in milliseconds / as a ratio to hello-world.
SPEC_P99_MS = {"token": 50.0, "introspect": 20.0}
AIM_P99_MS = 5.0
AIM_INTROSPECT_RATIO = 0.5

ENDPOINTS = ("hello", "token", "introspect")
LABELS = {
    "hello": "hello-world GET /",
    "token": "POST /oauth/token (client_credentials)",
    "introspect": "POST /oauth/introspect",
}


# ----------------------------------------------------------------- helpers
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise BenchError("wrk is not installed; run `sudo apt-get install -y wrk` and try again")
    say("wrk not found; installing it with apt-get")
    res = subprocess.run(["apt-get", "install", "-y", "wrk"], capture_output=True, check=False)
    if res.returncode != 0:
        subprocess.run(["apt-get", "update"], capture_output=True, check=False)
        res = subprocess.run(["apt-get", "install", "-y", "wrk"], capture_output=True, check=False)
    found = shutil.which("wrk")
    if res.returncode != 0 or not found:
        raise BenchError(f"apt-get install -y wrk failed:\n{res.stderr.decode()[-2000:]}")
    return found


def http(
    url: str,
    *,
    data: dict[str, str] | None = None,
    auth: str | None = None,
    timeout: float = 5.0,
) -> tuple[int, bytes]:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body)
    if body is not None:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    if auth is not None:
        req.add_header("Authorization", auth)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def basic(client_id: str, secret: str) -> str:
    # RFC 6749 §2.3.1: form-urlencode both parts, then base64.
    raw = f"{urllib.parse.quote_plus(client_id)}:{urllib.parse.quote_plus(secret)}"
    return "Basic " + base64.b64encode(raw.encode()).decode()


def wait_http_ok(url: str, proc: subprocess.Popen[bytes], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{what} exited with code {proc.returncode} before it was ready")
        try:
            status, _ = http(url, timeout=1.0)
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise BenchError(f"{what} was not ready at {url} within {timeout:.0f} s")


def stop_process(proc: subprocess.Popen[bytes], what: str, timeout: float) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        say(f"{what} did not stop within {timeout:.0f} s after SIGTERM; killing it")
        proc.kill()
        proc.wait()


# ------------------------------------------------------------------ server
@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    env: dict[str, str]
    log_path: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""


def _stop_leftovers(data_dir: Path) -> None:
    """Last resort when the server had to be killed: stop its PostgreSQL and Redis."""
    pg_dir = data_dir / "pg"
    if (pg_dir / "postmaster.pid").exists():
        pg_ctl = shutil.which("pg_ctl") or next(
            iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), reverse=True)), None
        )
        if pg_ctl:
            cmd = [str(pg_ctl), "stop", "-m", "immediate", "-D", str(pg_dir)]
            if os.geteuid() == 0:
                cmd = ["runuser", "-u", "postgres", "--", *cmd]
            subprocess.run(cmd, capture_output=True, check=False)
    pidfile = data_dir / "redis" / "redis.pid"
    try:
        pid = int(pidfile.read_text().strip())
        if b"redis-server" in Path(f"/proc/{pid}/cmdline").read_bytes():
            os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        pass


@contextmanager
def hearth_server() -> Iterator[Server]:
    data_dir = Path(tempfile.mkdtemp(prefix="hearth-bench-"))
    data_dir.chmod(0o755)  # PostgreSQL runs as the postgres user when we are root
    port = free_port()
    env = {
        **os.environ,
        "HEARTH_PG_PORT": str(free_port()),
        "HEARTH_REDIS_PORT": str(free_port()),
        "HEARTH_LOG_LEVEL": "WARNING",
    }
    for var in ("HEARTH_DATABASE_URL", "HEARTH_REDIS_URL", "HEARTH_WORKERS", "HEARTH_PORT"):
        env.pop(var, None)
    log_path = data_dir / "server.stderr.log"
    log_file = open(log_path, "wb")
    say(
        f"starting hearth serve on :{port} (PostgreSQL :{env['HEARTH_PG_PORT']}, "
        f"Redis :{env['HEARTH_REDIS_PORT']}, data dir {data_dir})"
    )
    proc = subprocess.Popen(
        [str(HEARTH), "serve", "--port", str(port), "--data-dir", str(data_dir)],
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=log_file,
        start_new_session=True,  # Ctrl-C here reaches us only; we stop it in order
    )
    server = Server(proc, port, data_dir, env, log_path)
    killed = False
    try:
        try:
            wait_http_ok(f"{server.base}/readyz", proc, "hearth serve", timeout=180)
        except BenchError as exc:
            raise BenchError(f"{exc}\n--- server log tail ---\n{server.log_tail()}") from None
        say(f"hearth ready (pid {proc.pid})")
        yield server
    finally:
        say("stopping hearth (SIGTERM; it stops its PostgreSQL and Redis)")
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                say("hearth did not stop within 90 s; killing it")
                proc.kill()
                proc.wait()
                killed = True
        if killed or proc.returncode not in (0, None):
            _stop_leftovers(data_dir)
        log_file.close()
        shutil.rmtree(data_dir, ignore_errors=True)


@contextmanager
def hello_server() -> Iterator[str]:
    port = free_port()
    say(f"starting aiohttp hello-world on :{port}")
    proc = subprocess.Popen(
        [str(PYTHON), str(HERE / "hello.py"), str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_http_ok(url, proc, "hello.py", timeout=30)
        yield url
    finally:
        stop_process(proc, "hello.py", timeout=15)


def create_client(server: Server, name: str, scopes: str) -> tuple[str, str]:
    res = subprocess.run(
        [
            str(HEARTH),
            "client",
            "create",
            "--name",
            name,
            "--grants",
            "client_credentials",
            "--scopes",
            scopes,
            "--json",
            "--data-dir",
            str(server.data_dir),
        ],
        env=server.env,
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    if res.returncode != 0:
        raise BenchError(f"hearth client create failed:\n{res.stderr.decode()[-2000:]}")
    out = json.loads(res.stdout)
    return out["client_id"], out["client_secret"]


# --------------------------------------------------------------------- wrk
@dataclass
class Request:
    url: str
    method: str = "GET"
    body: str = ""
    auth: str = ""


@dataclass
class Result:
    endpoint: str
    connections: int
    rps: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    requests: int
    duration_s: float
    errors: dict[str, int] = field(default_factory=dict)
    ratio: float | None = None

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def run_wrk(wrk: str, req: Request, connections: int, duration: float) -> dict[str, Any]:
    env = {
        **os.environ,
        "BENCH_METHOD": req.method,
        "BENCH_BODY": req.body,
        "BENCH_AUTH": req.auth,
    }
    cmd = [
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--latency",
        "-s",
        str(LUA),
        req.url,
    ]
    res = subprocess.run(cmd, env=env, capture_output=True, check=False, text=True)
    if res.returncode != 0:
        raise BenchError(f"wrk failed ({res.returncode}): {res.stderr.strip() or res.stdout}")
    for line in res.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            data: dict[str, Any] = json.loads(line[len("BENCH_JSON ") :])
            data["raw"] = res.stdout
            return data
    raise BenchError(f"wrk printed no BENCH_JSON line:\n{res.stdout}\n{res.stderr}")


def measure(
    wrk: str, name: str, req: Request, connections: int, duration: float, warmup: float
) -> Result:
    if warmup > 0:
        say(f"warming up {name} @ {connections} connections ({warmup:g} s)")
        run_wrk(wrk, req, connections, warmup)
    say(f"measuring {name} @ {connections} connections ({duration:g} s)")
    data = run_wrk(wrk, req, connections, duration)
    lat = data["latency_us"]
    secs = data["duration_us"] / 1e6
    result = Result(
        endpoint=name,
        connections=connections,
        rps=data["requests"] / secs if secs else 0.0,
        p50_ms=lat["p50"] / 1000,
        p99_ms=lat["p99"] / 1000,
        mean_ms=lat["mean"] / 1000,
        max_ms=lat["max"] / 1000,
        requests=data["requests"],
        duration_s=secs,
        errors={k: v for k, v in data["errors"].items() if v},
    )
    if result.error_count:
        say(f"!!! {name} @ {connections}: {result.error_count} errors {result.errors}")
    say(
        f"  {name} @ {connections}: {result.rps:,.0f} req/s, "
        f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms"
    )
    return result


# ----------------------------------------------------------------- verdicts
def verdicts(r: Result) -> tuple[str, str]:
    """(spec, aim) cells: target and whether it was met."""
    if r.endpoint == "hello":
        return "— (the limit)", "—"
    ok = "met" if r.error_count == 0 else "met?"
    no = "NOT met"
    spec_t = SPEC_P99_MS[r.endpoint]
    spec = f"p99 < {spec_t:g} ms: {ok if r.p99_ms < spec_t else no}"
    aim_ok = r.p99_ms < AIM_P99_MS
    aim = f"p99 < {AIM_P99_MS:g} ms"
    if r.endpoint == "introspect":
        aim_ok = aim_ok and (r.ratio or 0.0) >= AIM_INTROSPECT_RATIO
        aim += f", ≥ {AIM_INTROSPECT_RATIO:g}x hello"
    return spec, f"{aim}: {ok if aim_ok else no}"


def table_rows(results: list[Result]) -> list[list[str]]:
    rows = []
    for r in results:
        spec, aim = verdicts(r)
        rows.append(
            [
                r.endpoint,
                str(r.connections),
                f"{r.rps:,.0f}",
                f"{r.p50_ms:.2f}",
                f"{r.p99_ms:.2f}",
                f"{r.ratio:.2f}" if r.ratio is not None else "—",
                str(r.error_count) if not r.error_count else f"{r.error_count} !!",
                spec,
                aim,
            ]
        )
    return rows


HEADER = ["endpoint", "conns", "req/s", "p50 ms", "p99 ms", "x hello", "errors", "spec", "aim"]


def print_table(results: list[Result]) -> None:
    rows = [HEADER, *table_rows(results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    right = {1, 2, 3, 4, 5, 6}
    for n, row in enumerate(rows):
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def machine_info() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    first = (out.stdout or out.stderr or "wrk").splitlines()[0]
    wrk_version = "wrk " + first.removeprefix("wrk ").split(" [")[0].strip()
    import aiohttp

    return {
        "cores": str(os.cpu_count()),
        "cpu": model,
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "aiohttp": aiohttp.__version__,
        "wrk": wrk_version,
    }


def write_markdown(
    results: list[Result], info: dict[str, str], args: argparse.Namespace, when: str, chart: bool
) -> None:
    errors = [r for r in results if r.error_count]
    lines = ["# OAuth endpoint benchmark", ""]
    if errors:
        lines += [
            "> **⚠ THIS RUN HAD ERRORS** — non-2xx answers or socket errors were counted "
            "(see the `errors` column); its numbers are not trustworthy.",
            "",
        ]
    lines += [
        f"Generated by `bench/auth/run.py` on {when}.",
        "",
        f"- Machine: {info['cores']} cores ({info['cpu']}), {info['kernel']}; "
        f"Python {info['python']}, aiohttp {info['aiohttp']}, {info['wrk']}.",
        f"- Each measurement: `wrk -t1 -cN -d{args.duration:g}s --latency` after a "
        f"{args.warmup:g} s warm-up, at N = {', '.join(map(str, args.connections))} "
        "connections (closed loop: each connection sends its next request when the answer "
        "arrives).",
        "- **wrk, the server under test (one process, `HEARTH_LOG_LEVEL=WARNING`) and its "
        "embedded PostgreSQL/Redis share the same cores**, so req/s is reported as a ratio "
        "to a bare aiohttp hello-world (`hello.py`: uvloop, one process, no access log) "
        "measured in the same run at the same connection count.",
        "- token: `POST /oauth/token` `grant_type=client_credentials`, client_secret_basic. "
        "introspect: `POST /oauth/introspect` `token=<access token>`, the resource server "
        "authenticated with client_secret_basic (scope `auth.introspect`).",
        f"- Spec targets: token p99 < {SPEC_P99_MS['token']:g} ms, introspection p99 < "
        f"{SPEC_P99_MS['introspect']:g} ms. Our aim: p99 < {AIM_P99_MS:g} ms, introspection "
        f"≥ {AIM_INTROSPECT_RATIO:g}x the hello-world rate.",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "|".join(["---", "--:", "--:", "--:", "--:", "--:", "--:", "---", "---"]) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(results)]
    lines += [
        "",
        "`x hello` = req/s ÷ hello-world req/s at the same connection count. "
        "Latencies are wrk's (per request, from send to full response).",
        "",
    ]
    if chart:
        lines += ["![req/s and latency](auth.png)", ""]
    RESULTS_MD.write_text("\n".join(lines))


def write_chart(results: list[Result]) -> bool:
    plt = pyplot()
    if plt is None:
        return False
    conns = sorted({r.connections for r in results})
    by = {(r.endpoint, r.connections): r for r in results}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / len(ENDPOINTS)
    colors = {"hello": "#9e9e9e", "token": "#1f77b4", "introspect": "#ff7f0e"}
    for i, ep in enumerate(ENDPOINTS):
        xs = [j + (i - 1) * width for j in range(len(conns))]
        rps = [by[(ep, c)].rps if (ep, c) in by else 0 for c in conns]
        bars = ax1.bar(xs, rps, width, label=ep, color=colors[ep])
        for bar, c in zip(bars, conns, strict=True):
            r = by.get((ep, c))
            if r is not None and r.ratio is not None and ep != "hello":
                ax1.annotate(
                    f"{r.ratio:.2f}x",
                    (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center",
                    va="bottom",
                    fontsize=8,
                )
        p50 = [by[(ep, c)].p50_ms if (ep, c) in by else 0 for c in conns]
        p99 = [by[(ep, c)].p99_ms if (ep, c) in by else 0 for c in conns]
        ax2.bar(xs, p99, width, color=colors[ep], alpha=0.45, label=f"{ep} p99")
        ax2.bar(xs, p50, width, color=colors[ep], label=f"{ep} p50")
    for ax in (ax1, ax2):
        ax.set_xticks(range(len(conns)), [f"{c} conns" for c in conns])
    ax1.set_ylabel("requests / s")
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
    fig.savefig(CHART, dpi=110)
    plt.close(fig)
    return True


# -------------------------------------------------------------------- main
def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    p.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds before each")
    p.add_argument(
        "--connections",
        type=lambda s: [int(x) for x in s.split(",") if x.strip()],
        default=[16, 64],
        help="comma-separated connection counts (default 16,64)",
    )
    return p.parse_args()


def main() -> int:
    args = parse_args()
    wrk = ensure_wrk()
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    results: list[Result] = []
    with hearth_server() as server:
        say("creating the app client (flag.read) and the resource-server client (auth.introspect)")
        app_id, app_secret = create_client(server, "bench-app", "flag.read")
        rs_id, rs_secret = create_client(server, "bench-rs", "auth.introspect")
        app_auth, rs_auth = basic(app_id, app_secret), basic(rs_id, rs_secret)
        token_form = {"grant_type": "client_credentials"}
        # The server learns about new clients through LISTEN/NOTIFY: give it a moment.
        deadline = time.monotonic() + 10
        while True:
            status, body = http(f"{server.base}/oauth/token", data=token_form, auth=app_auth)
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        if status != 200:
            raise BenchError(f"cannot obtain a token: {status} {body[:500]!r}")
        access_token = json.loads(body)["access_token"]
        status, body = http(
            f"{server.base}/oauth/introspect", data={"token": access_token}, auth=rs_auth
        )
        if status != 200 or not json.loads(body).get("active"):
            raise BenchError(f"introspection does not work: {status} {body[:500]!r}")
        say("token issuance and introspection verified")

        with hello_server() as hello_url:
            requests = {
                "hello": Request(hello_url),
                "token": Request(
                    f"{server.base}/oauth/token",
                    "POST",
                    urllib.parse.urlencode(token_form),
                    app_auth,
                ),
                "introspect": Request(
                    f"{server.base}/oauth/introspect",
                    "POST",
                    urllib.parse.urlencode({"token": access_token}),
                    rs_auth,
                ),
            }
            for n in args.connections:
                for name in ENDPOINTS:
                    results.append(
                        measure(wrk, name, requests[name], n, args.duration, args.warmup)
                    )
        log_tail = server.log_tail()

    hello_rps = {r.connections: r.rps for r in results if r.endpoint == "hello"}
    for r in results:
        if hello_rps.get(r.connections):
            r.ratio = r.rps / hello_rps[r.connections]

    info = machine_info()
    sys.stderr.flush()
    print()
    print(
        f"OAuth benchmark — {info['cores']} cores ({info['cpu']}), {when}, "
        f"{args.duration:g} s per measurement after {args.warmup:g} s warm-up; "
        "wrk and the servers share the cores"
    )
    print_table(results)
    chart = write_chart(results)
    write_markdown(results, info, args, when, chart)
    hello = {r.connections: r for r in results if r.endpoint == "hello"}
    write_results(
        HERE,
        [
            figure(
                f"{'token' if r.endpoint == 'token' else 'introspection'} p99 @ "
                f"{r.connections} conns",
                round(r.p99_ms, 2),
                "ms",
                f"p99 < {SPEC_P99_MS[r.endpoint]:g} ms",
                r.p99_ms < SPEC_P99_MS[r.endpoint] and not r.error_count,
                headline="token" if r.endpoint == "token" else "introspect",
                target_value=SPEC_P99_MS[r.endpoint],
                limit=f"hello-world p99 {h.p99_ms:.2f} ms, {h.rps:,.0f} req/s",
                limit_value=round(h.p99_ms, 2),
                chart="auth/auth.png" if chart else None,
                detail=f"{r.rps:,.0f} req/s ({r.ratio or 0:.2f}x hello), p50 {r.p50_ms:.2f} ms, "
                f"{r.error_count} errors",
            )
            for r in results
            if r.endpoint != "hello" and (h := hello[r.connections])
        ],
    )
    written = [RESULTS_MD] + ([CHART] if chart else [])
    print("\nwrote " + " and ".join(str(p.relative_to(ROOT)) for p in written))
    report_server_warnings(log_tail)
    bad = [r for r in results if r.error_count]
    if bad:
        print("\n" + "!" * 72, file=sys.stderr)
        for r in bad:
            print(f"!!! ERRORS: {r.endpoint} @ {r.connections}: {r.errors}", file=sys.stderr)
        print("!!! this run is not trustworthy (non-2xx answers or socket errors)", file=sys.stderr)
        print("!" * 72, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    run_main(main)
