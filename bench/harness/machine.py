"""What the figures ran on: the machine, the load beside the bench, CPU used per process group."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp

from bench.harness.log import say

if TYPE_CHECKING:
    from bench.harness.server import Server

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _proc_field(path: str, key: str) -> str:
    """The value of the first ``key: value`` line of a /proc file ("" when absent)."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def memory_gib() -> float | None:
    """MemTotal of /proc/meminfo, in GiB."""
    kb = _proc_field("/proc/meminfo", "MemTotal").removesuffix("kB").strip()
    return int(kb) / 2**20 if kb.isdigit() else None


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages, as ``uptime`` shows them."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def machine_info() -> dict[str, str]:
    mem = memory_gib()
    return {
        "cores": str(os.cpu_count()),
        "cpu": _proc_field("/proc/cpuinfo", "model name") or "unknown",
        "memory": f"{mem:.1f} GiB" if mem is not None else "unknown",
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "aiohttp": aiohttp.__version__,
    }


def machine_line(info: dict[str, str], *tools: str) -> str:
    return (
        f"{info['cores']} cores ({info['cpu']}), {info['memory']} memory, {info['kernel']}; "
        f"Python {info['python']}, " + ", ".join([f"aiohttp {info['aiohttp']}", *tools])
    )


def noise() -> str:
    """Load average and any compiler or test run beside us: why figures may be noisy."""
    names = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        prog = Path(argv[0].decode(errors="replace")).name
        if prog in {"rustc", "cargo", "cc1", "cc1plus", "maturin"}:
            names.add(prog)
        elif b"pytest" in argv[1:3]:
            names.add("pytest")
    return f"load average {load_average()}" + (
        f"; running: {', '.join(sorted(names))}" if names else ""
    )


def wait_for_quiet(max_load: float, timeout: float) -> float:
    """Wait (at most ``timeout`` s) for the 1-minute load average to fall below ``max_load``."""
    t0 = time.monotonic()
    last = 0.0
    while (load := os.getloadavg()[0]) >= max_load and time.monotonic() - t0 < timeout:
        if time.monotonic() - last >= 15:
            say(f"load average {load:.2f} ≥ {max_load:g}: waiting ({noise()})")
            last = time.monotonic()
        time.sleep(2)
    return load


def _stat(pid: int) -> tuple[int, int, int] | None:
    """(ppid, utime + stime, cutime + cstime) in ticks: a process (all its threads) and its
    reaped children."""
    try:
        rest = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(rest[1]), int(rest[11]) + int(rest[12]), int(rest[13]) + int(rest[14])


def process_tree(root: int) -> set[int]:
    """``root`` and every process under it."""
    parents: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and (st := _stat(int(d.name))) is not None:
            parents[int(d.name)] = st[0]
    out, frontier = {root}, [root]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parents.items() if pp == p and c not in out]
        out.update(kids)
        frontier.extend(kids)
    return out


def pid_from_file(path: Path) -> int | None:
    """The pid a pid file (PostgreSQL's postmaster.pid, Redis') names, if readable."""
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


class CpuMeter:
    """CPU seconds of the server (and its worker processes), its PostgreSQL and Redis, of any
    ``others`` (name -> root pid: that process and everything under it, e.g. a peer store) and
    of this process (with its reaped children: forked senders), between ``start()`` and
    ``stop()`` — read from /proc, so nearly free. ``server`` may be None (a peer alone)."""

    def __init__(self, server: Server | None, others: dict[str, int] | None = None) -> None:
        self.server = server
        self.others = others or {}
        self.before: dict[str, dict[int, int]] = {}

    def _groups(self) -> dict[str, set[int]]:
        groups: dict[str, set[int]] = {}
        if self.server is not None:
            pg = pid_from_file(self.server.data_dir / "pg" / "postmaster.pid")
            redis = pid_from_file(self.server.data_dir / "redis" / "redis.pid")
            pg_set = process_tree(pg) if pg else set()
            redis_set = {redis} if redis else set()
            groups["server"] = process_tree(self.server.proc.pid) - pg_set - redis_set
            groups["postgres"] = pg_set
            groups["redis"] = redis_set
        for name, pid in self.others.items():
            groups[name] = process_tree(pid)
        groups["bench client"] = {os.getpid()}
        return groups

    def _sample(self) -> dict[str, dict[int, int]]:
        """Per group: pid -> own ticks, and -1 -> ticks of the group's reaped children (a
        connection's backend that exits before ``stop()`` is counted there)."""
        out: dict[str, dict[int, int]] = {}
        for name, pids in self._groups().items():
            stats = {p: st for p in pids if (st := _stat(p)) is not None}
            out[name] = {p: st[1] for p, st in stats.items()}
            out[name][-1] = sum(st[2] for st in stats.values())
        return out

    def start(self) -> None:
        self.before = self._sample()

    def stop(self) -> dict[str, float]:
        seconds = {}
        for name, ticks in self._sample().items():
            before = self.before.get(name, {})
            live = sum(t - before.get(p, 0) for p, t in ticks.items())
            gone = sum(t for p, t in before.items() if p not in ticks)
            seconds[name] = (live - gone) / CLK_TCK
        return seconds


def tree_cpu_seconds(pids: list[int]) -> float:
    """CPU seconds used so far by ``pids`` and every process under them (and their reaped
    children)."""
    ticks = 0
    for p in set().union(*(process_tree(pid) for pid in pids)):
        if (st := _stat(p)) is not None:
            ticks += st[1] + st[2]
    return ticks / CLK_TCK


def wait_idle(
    pids: list[int],
    what: str,
    *,
    below: float = 0.05,
    quiet_s: float = 10.0,
    limit_s: float = 1800,
) -> tuple[float, bool]:
    """Wait until the process trees of ``pids`` keep below ``below`` cores for ``quiet_s`` s
    (their background work — compaction, merges, vacuum — is done), at most ``limit_s`` s:
    (seconds waited, idle reached)."""
    t0 = last = time.monotonic()
    cpu0, mark = tree_cpu_seconds(pids), t0
    while (now := time.monotonic()) - t0 < limit_s:
        time.sleep(1.0)
        now, cpu = time.monotonic(), tree_cpu_seconds(pids)
        if cpu - cpu0 > below * (now - mark):
            cpu0, mark = cpu, now  # busy: the quiet period starts again
        elif now - mark >= quiet_s:
            return now - t0, True
        if now - last >= 15:
            say(f"  waiting for {what} to go idle ({now - t0:.0f} s)")
            last = now
    return time.monotonic() - t0, False


def cpu_rows(cpu: dict[str, float], seconds: float) -> list[list[str]]:
    """CPU s, cores busy and share per process group, and the total."""
    total = sum(cpu.values())
    rows = [
        [
            name,
            f"{s:.2f}",
            f"{s / seconds:.2f}" if seconds else "—",
            f"{s / total:.0%}" if total else "—",
        ]
        for name, s in cpu.items()
    ]
    cores = os.cpu_count() or 1
    rows.append(
        ["all", f"{total:.2f}", f"{total / seconds:.2f} of {cores}" if seconds else "—", "100%"]
    )
    return rows
