"""py-spy on the server for the duration of a block, and what its samples say."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.harness.log import say
from bench.harness.paths import tool

PROJECT = ("api/", "ingest/", "hearth_core/")
# py-spy sees a thread as busy unless the OS says it sleeps; these leaves are mostly waiting.
# Native calls made straight through asyncio.to_thread end in the pool's _WorkItem.run: ingest's
# decode_points and batch.encode_block_mapped (hearth_core.metrics.codec), the compactor's
# touched_windows, compact_columns and reencode_chunks, the queries' aggregate_windows. A kind
# matches a leaf frame containing its pattern.
LEAF_KINDS = (
    (
        "_WorkItem.run (",
        "native call in a to_thread worker (decode_points, batch.encode_block_mapped, compactor "
        "and query kernels; GIL released)",
    ),
    ("run_app (", "event loop in C: uvloop, HTTP parsing, socket I/O, polling"),
    ("_worker (", "thread-pool worker waiting for work"),
)


class Profiler:
    """``py-spy record --format raw`` of ``pid`` (and its worker processes) into ``out``."""

    def __init__(self, out: Path, workers: int) -> None:
        self.out = out
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, pid: int) -> None:
        cmd = [str(tool("py-spy")), "record", "--pid", str(pid), "--rate", "200"]
        cmd += ["--format", "raw", "--threads", "--nonblocking", "-o", str(self.out)]
        if self.workers > 1:
            cmd.append("--subprocesses")
        say(f"py-spy sampling pid {pid} into {self.out}")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(1.0)  # let it attach before the timed run starts

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        if not self.out.exists():
            say(f"py-spy wrote nothing: {err.decode(errors='replace')[-1000:]}")

    def _stacks(self) -> list[tuple[list[str], int]]:
        try:
            lines = self.out.read_text().splitlines()
        except OSError:
            return []
        out = []
        for line in lines:
            stack, _, count = line.rpartition(" ")
            frames = [f for f in stack.split(";") if not f.startswith(("thread (", "process "))]
            if count.isdigit() and frames:
                out.append((frames, int(count)))
        return out

    def top(self, n: int = 12) -> dict[str, Any]:
        """Samples by leaf kind and by the package of the leaf, top leaf frames and top
        project frames (inclusive)."""
        kinds: Counter[str] = Counter()
        leaf: Counter[str] = Counter()
        incl: Counter[str] = Counter()
        packages: Counter[str] = Counter()
        total = 0
        for frames, c in self._stacks():
            total += c
            kind = next((k for p, k in LEAF_KINDS if p in frames[-1]), "Python code")
            kinds[kind] += c
            if kind != LEAF_KINDS[-1][1]:
                leaf[frames[-1]] += c
            if " (" in frames[-1]:
                path = frames[-1].rsplit(" (", 1)[1].split(":", 1)[0]
                packages[path.split("/", 1)[0] if "/" in path else path.removesuffix(".py")] += c
            for f in set(frames):
                loc = f.split(" (", 1)[1] if " (" in f else ""
                if loc.startswith(PROJECT) and not loc.startswith(("api/cli.py", "api/server.py")):
                    incl[f] += c
        return {
            "total": total,
            "kinds": kinds.most_common(),
            "packages": packages.most_common(10),
            "leaf": leaf.most_common(n),
            "incl": incl.most_common(n),
        }


def profile_lines(top: dict[str, Any]) -> list[str]:
    """The profile as Markdown lists."""
    total = top.get("total") or 0
    if not total:
        return ["(py-spy recorded no samples)"]
    out = [f"{total:,} samples (py-spy, 200 Hz, `--threads --nonblocking`).", ""]
    out += ["Where the samples end (leaf kind):", ""]
    out += [f"- {k}: {c / total:.0%}" for k, c in top["kinds"]]
    out += ["", "By the package of the innermost frame:", ""]
    out += [f"- `{p}`: {c / total:.1%}" for p, c in top.get("packages", [])]
    out += ["", "Top leaf frames (self):", ""]
    out += [f"- `{f}`: {c / total:.1%}" for f, c in top["leaf"]]
    out += ["", "Top project frames (inclusive):", ""]
    out += [f"- `{f}`: {c / total:.1%}" for f, c in top["incl"]]
    return out
