"""Users for the benches that need them: a CSV of realistic users and its import through
``POST /v1/users/import`` (streamed from disk, timed, the server's RSS sampled)."""

from __future__ import annotations

import asyncio
import csv
import json
import random
import threading
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import aiohttp

from bench.harness.log import say
from bench.harness.server import Server

FIRST = (
    "Maria Mark Martin Matthew Mason Maya Max Madison Marco Mateo Marie Malik Amelia Olivia "
    "Liam Noah Emma Ava Sophia Isabella Lucas Ethan James Benjamin Charlotte Harper Evelyn "
    "Abigail Emily Elena Daniel Henry Jack Samuel Chloe Grace Zoe Nora Leo Hugo Ines Yuki "
    "Aarav Priya Chen Wei Fatima Omar Ahmed Sofia Lars Ingrid Pierre Camille Giulia Luca "
    "Kwame Amara Diego Lucia Tomas Anna"
).split()
LAST = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
    "Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson "
    "White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott "
    "Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts "
    "Müller Schmidt Dubois Rossi Kowalski Novak Tanaka Sato Kim Park Singh Patel Okafor Silva"
).split()
DEPTS = ("engineering", "sales", "support", "finance", "legal", "ops", "marketing", "hr")


@dataclass
class CsvFile:
    path: Path
    rows: int
    bytes: int
    sample_email: str  # one that exists once imported


def write_csv(path: Path, rows: int, *, passwords: bool, domain: str, seed: int) -> CsvFile:
    """Unique emails, realistic names, ~20 % admins, small JSON attributes."""
    rng = random.Random(seed)
    header = ["email", "display_name", "roles", "attributes"]
    if passwords:
        header.append("password")
    sample = ""
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(header)
        for i in range(rows):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            local = unicodedata.normalize("NFKD", f"{first}.{last}.{i}").encode("ascii", "ignore")
            email = f"{local.decode().lower()}@{domain}"
            attrs = {"dept": rng.choice(DEPTS), "n": rng.randrange(100_000)}
            row = [
                email,
                f"{first} {last}",
                "admin" if rng.random() < 0.2 else "",
                json.dumps(attrs, separators=(",", ":")),
            ]
            if passwords:
                row.append(f"pw-{rng.getrandbits(64):016x}-{i}")
            out.writerow(row)
            if i == rows // 2:
                sample = email
    return CsvFile(path, rows, path.stat().st_size, sample)


def rss_kib(pid: int, field_name: str = "VmRSS") -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


@contextmanager
def rss_sampler(pid: int, every: float = 0.2) -> Iterator[list[int]]:
    """Samples VmRSS (KiB) of ``pid`` into the yielded list until the block ends."""
    samples: list[int] = []
    stop = threading.Event()

    def loop() -> None:
        while True:
            value = rss_kib(pid)
            if value is not None:
                samples.append(value)
            if stop.wait(every):
                return

    thread = threading.Thread(target=loop, name="rss-sampler", daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()


@dataclass
class ImportRun:
    label: str
    rows: int
    csv_mb: float
    seconds: float
    status: int
    report: dict[str, Any]
    rss_before_mib: float
    rss_peak_mib: float
    problem: str = ""

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


async def _post_stream(
    url: str, stream: IO[bytes], token: str, params: dict[str, str]
) -> tuple[int, bytes, float]:
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=1800)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/csv"}
    async with aiohttp.ClientSession(timeout=timeout) as session:
        t0 = time.perf_counter()
        async with session.post(url, params=params, data=stream, headers=headers) as resp:
            body = await resp.read()
        return resp.status, body, time.perf_counter() - t0


def import_csv(
    server: Server, token: str, label: str, data: CsvFile, expect: dict[str, Any], **params: str
) -> ImportRun:
    query = {"mode": "all_or_nothing", **params}
    say(f"importing {label}: {data.rows:,} rows, {data.bytes / 1e6:.1f} MB, {query}")
    pid = server.proc.pid
    before = rss_kib(pid) or 0
    with data.path.open("rb") as stream, rss_sampler(pid) as samples:
        status, body, seconds = asyncio.run(
            _post_stream(f"{server.base}/v1/users/import", stream, token, query)
        )
    try:
        report = json.loads(body)
    except ValueError:
        report = {}
    run = ImportRun(
        label=label,
        rows=data.rows,
        csv_mb=data.bytes / 1e6,
        seconds=seconds,
        status=status,
        report={k: v for k, v in report.items() if k != "rows"},
        rss_before_mib=before / 1024,
        rss_peak_mib=max([before, *samples]) / 1024,
    )
    wrong = {k: report.get(k) for k, v in expect.items() if report.get(k) != v}
    if status != 200 or wrong:
        run.problem = f"HTTP {status}, expected {expect}, got {wrong or body[:300]!r}"
        say(f"!!! import {label}: {run.problem}")
    say(
        f"  {label}: {seconds:.2f} s, {run.rate:,.0f} users/s, "
        f"RSS {run.rss_before_mib:.0f} -> peak {run.rss_peak_mib:.0f} MiB"
    )
    return run
