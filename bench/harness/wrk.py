"""wrk runs: a request (URL, method, body, Lua script and its variables), the rounds of a
measurement and their median and spread."""

from __future__ import annotations

import functools
import json
import math
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness.log import BenchError, say
from bench.harness.stats import median, spread

# Sets the method, body and Authorization from BENCH_* and prints the BENCH_JSON summary;
# a bench's own script dofile()s it and adds its request() function.
BASE_LUA = Path(__file__).resolve().parent / "wrk.lua"


@functools.cache
def wrk_path() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    raise BenchError("wrk is not installed: `make bench` installs it (apt-get install -y wrk)")


def wrk_version() -> str:
    out = subprocess.run([wrk_path(), "-v"], capture_output=True, text=True, check=False)
    first = (out.stdout or out.stderr or "wrk").splitlines()[0]
    return "wrk " + first.removeprefix("wrk ").split(" [")[0].strip()


@dataclass
class Request:
    url: str
    method: str = "GET"
    body: str = ""
    auth: str = ""
    script: Path = BASE_LUA
    env: dict[str, str] = field(default_factory=dict)  # the script's BENCH_* variables
    timeout_s: float = 2.0  # wrk's own default: a slower answer counts as a timeout error


@dataclass
class Round:
    rps: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    requests: int
    duration_s: float
    errors: dict[str, int] = field(default_factory=dict)


@dataclass
class Result:
    """One measurement: the median of its rounds; ``ratio`` is set by the bench (÷ a peer)."""

    endpoint: str
    connections: int
    rounds: list[Round]
    ratio: float | None = None

    def values(self, attr: str) -> list[float]:
        return [getattr(r, attr) for r in self.rounds]

    def spread(self, attr: str, fmt: str = "{:,.2f}") -> str:
        return spread(self.values(attr), fmt)

    @property
    def rps(self) -> float:
        return median(self.values("rps"))

    @property
    def p50_ms(self) -> float:
        return median(self.values("p50_ms"))

    @property
    def p99_ms(self) -> float:
        return median(self.values("p99_ms"))

    @property
    def mean_ms(self) -> float:
        return median(self.values("mean_ms"))

    @property
    def max_ms(self) -> float:
        return max(self.values("max_ms"))

    @property
    def requests(self) -> int:
        return sum(r.requests for r in self.rounds)

    @property
    def errors(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.rounds:
            for k, v in r.errors.items():
                out[k] = out.get(k, 0) + v
        return out

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def run_wrk(req: Request, connections: int, duration: float) -> Round:
    env = {
        **os.environ,
        "BENCH_METHOD": req.method,
        "BENCH_BODY": req.body,
        "BENCH_AUTH": req.auth,
        **req.env,
    }
    cmd = [wrk_path(), "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s"]
    # wrk reads whole seconds only ("1.5s" is a usage error)
    cmd += [f"--timeout={math.ceil(req.timeout_s)}s", "--latency", "-s", str(req.script), req.url]
    res = subprocess.run(cmd, env=env, capture_output=True, check=False, text=True)
    if res.returncode != 0:
        raise BenchError(
            f"wrk failed ({res.returncode}): {' '.join(cmd)}\n{res.stderr.strip() or res.stdout}"
        )
    line = next((ln for ln in res.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if line is None:
        raise BenchError(f"wrk printed no BENCH_JSON line:\n{res.stdout}\n{res.stderr}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    lat, secs = data["latency_us"], data["duration_us"] / 1e6
    return Round(
        rps=data["requests"] / secs if secs else 0.0,
        p50_ms=lat["p50"] / 1000,
        p99_ms=lat["p99"] / 1000,
        mean_ms=lat["mean"] / 1000,
        max_ms=lat["max"] / 1000,
        requests=data["requests"],
        duration_s=secs,
        errors={k: v for k, v in data["errors"].items() if v},
    )


def measure(
    name: str,
    req: Request,
    connections: int,
    duration: float,
    warmup: float,
    rounds: int = 1,
) -> Result:
    """``wrk -t1 -cN --latency``: a warm-up, then ``rounds`` runs of ``duration`` s."""
    if warmup > 0:
        say(f"warming up {name} @ {connections} connections ({warmup:g} s)")
        run_wrk(req, connections, warmup)
    say(f"measuring {name} @ {connections} connections ({rounds} x {duration:g} s)")
    result = Result(name, connections, [run_wrk(req, connections, duration) for _ in range(rounds)])
    if result.error_count:
        say(f"!!! {name} @ {connections}: {result.error_count} errors {result.errors}")
    say(
        f"  {name} @ {connections}: {result.spread('rps', '{:,.0f}')} req/s, "
        f"p50 {result.p50_ms:.2f} ms, p99 {result.spread('p99_ms')} ms"
    )
    return result


def error_lines(results: list[Result]) -> list[str]:
    """One problem line per measurement that had wrk errors (non-2xx, socket, timeout)."""
    return [f"{r.endpoint} @ {r.connections}: errors {r.errors}" for r in results if r.error_count]
