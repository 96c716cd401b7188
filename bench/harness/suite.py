"""What ``make bench`` runs each bench through, so the report knows what ran in this run.

    python -m bench.harness.suite begin [TARGET]   # a new run (make TARGET): forget the last one
    python -m bench.harness.suite build            # scripts/bench-peers.sh, recorded
    python -m bench.harness.suite run NAME ARGS…   # bench/NAME/run.py ARGS…, recorded

``begin`` writes ``target/bench/started`` (when, the load average, the make target). ``run``
passes the bench's output through and writes ``target/bench/runs/NAME.json``: its exit code
(``null`` when it was stopped at the time limit, ``BENCH_TIME_LIMIT`` s), its seconds and its
last stderr lines. ``build`` does the same for the peers' build (``target/bench/build.json``):
a peer that failed to build is then failed in the benches that compare with it, and the report
shows the build's last lines. bench/report.py shows a bench without a record, or with a
non-zero exit, as stale or failed, never with an earlier run's figures as results.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

from bench.harness.paths import ROOT

RUNS = ROOT / "target" / "bench" / "runs"
STARTED = ROOT / "target" / "bench" / "started"
BUILD = ROOT / "target" / "bench" / "build.json"
BUILD_SCRIPT = "scripts/bench-peers.sh"
TAIL_LINES = 12


def begin(target: str) -> int:
    shutil.rmtree(RUNS, ignore_errors=True)
    BUILD.unlink(missing_ok=True)
    RUNS.mkdir(parents=True)
    doc = {"started": time.time(), "load": [round(x, 2) for x in os.getloadavg()], "target": target}
    STARTED.write_text(json.dumps(doc) + "\n")
    return 0


def build() -> int:
    """scripts/bench-peers.sh (it builds or installs each peer once, cached under
    target/peers/), its output passed through and recorded in ``BUILD``."""
    t0 = time.time()
    proc = subprocess.Popen(
        ["bash", str(ROOT / BUILD_SCRIPT)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    )
    assert proc.stdout is not None
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    for line in proc.stdout:
        sys.stderr.write(line)
        tail.append(line.rstrip("\n"))
    code = proc.wait()
    record = {
        "command": f"bash {BUILD_SCRIPT}",
        "exit": code,
        "started": t0,
        "seconds": round(time.time() - t0, 1),
        "tail": list(tail),
    }
    BUILD.parent.mkdir(parents=True, exist_ok=True)
    BUILD.write_text(json.dumps(record, indent=2) + "\n")
    return code


def run(name: str, args: list[str], limit: float) -> int:
    script = ROOT / "bench" / name / "run.py"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    t0 = time.time()
    proc = subprocess.Popen(
        [sys.executable, str(script), *args],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,  # the time limit stops the bench and everything it started
    )
    assert proc.stderr is not None
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    late = threading.Event()

    def stop() -> None:
        # Ctrl-C first: the bench stops its servers (they run in sessions of their own).
        late.set()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)

    timer = threading.Timer(limit, stop)
    timer.start()
    try:
        for line in proc.stderr:
            sys.stderr.write(line)
            tail.append(line.rstrip("\n"))
        code = proc.wait()
    finally:
        timer.cancel()
    killed = late.is_set()
    record = {
        "bench": name,
        "command": " ".join([".venv/bin/python", f"bench/{name}/run.py", *args]),
        "exit": None if killed else code,
        "why": f"stopped at the time limit of {limit:g} s" if killed else "",
        "started": t0,
        "seconds": round(time.time() - t0, 1),
        "tail": list(tail),
    }
    RUNS.mkdir(parents=True, exist_ok=True)
    (RUNS / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
    return 1 if killed else code


def main(argv: list[str]) -> int:
    if argv[:1] == ["begin"]:
        return begin(argv[1] if len(argv) > 1 else "")
    if argv[:1] == ["build"]:
        return build()
    if argv[:1] == ["run"] and len(argv) > 1:
        return run(argv[1], argv[2:], float(os.environ.get("BENCH_TIME_LIMIT") or "3600"))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
