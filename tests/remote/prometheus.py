"""Debian's Prometheus as the remote metrics store the remote-mode tests write to and read from:
its remote-write receiver on, no scrape jobs, a private data dir and a free loopback port.

It can be stopped (SIGTERM), killed (SIGKILL) and started again on the same port and data dir,
as an outage would, and its output is kept so a failure can quote it. Reading back goes to its
own HTTP API, never through Hearth: :func:`raw_samples` returns the samples it stores, exactly
(its JSON renders a float with Go's shortest round-trip format, which ``float()`` reads back
to the same bits).
"""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from tests.conftest import free_port

BINARY = "/usr/bin/prometheus"  # Debian's package; scripts/system-deps.sh installs it
# No scrape jobs: everything it holds came through remote write. Without an out-of-order
# window its TSDB refuses a sample older than the newest of its series (400 to the sender).
CONFIG = "global: {}\nscrape_configs: []\n"

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]  # (metric name, sorted other labels)
Samples = dict[SeriesKey, dict[int, float]]  # series -> {time ms: value}
K = TypeVar("K")


def bits(v: float) -> int:
    """A float's IEEE-754 bits: values compare exactly (and -0.0 differs from 0.0)."""
    return int(struct.unpack("<Q", struct.pack("<d", v))[0])


def exact(samples: Mapping[K, dict[int, float]]) -> dict[K, dict[int, int]]:
    """``samples`` with every value as its bits, for an exact comparison."""
    return {k: {t: bits(v) for t, v in pts.items()} for k, pts in samples.items()}


def series_key(metric: dict[str, str]) -> SeriesKey:
    labels = dict(metric)
    name = labels.pop("__name__", "")
    return name, tuple(sorted(labels.items()))


class Prometheus:
    """One Prometheus process; :meth:`start` again after :meth:`stop`/:meth:`kill` resumes on
    the same port and data dir (what it acknowledged before must survive: its WAL)."""

    def __init__(self, work: Path) -> None:
        if not os.access(BINARY, os.X_OK):
            raise AssertionError(
                f"{BINARY} is missing: `make test` installs Debian's prometheus "
                "(scripts/system-deps.sh)"
            )
        self.work = work
        self.data = work / "data"
        self.config = work / "prometheus.yml"
        self.config.write_text(CONFIG)
        self.log_path = work / "prometheus.log"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def write_url(self) -> str:
        return f"{self.url}/api/v1/write"

    def start(self, timeout: float = 60) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts + 1} ---\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [
                    BINARY,
                    f"--config.file={self.config}",
                    f"--storage.tsdb.path={self.data}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--web.enable-remote-write-receiver",
                    "--log.level=info",
                ],
                cwd=self.work,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # a Ctrl-C of the test run is not delivered to it
            )
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"prometheus exited with {self.proc.returncode} while starting:\n"
                    + self.log_tail()
                )
            if self._ready():
                return
            time.sleep(0.05)
        raise AssertionError(f"prometheus not ready within {timeout:.0f} s:\n{self.log_tail()}")

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM (it closes its TSDB) and wait; SIGKILL if it does not end in time."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL: a crash. What it acknowledged is in its WAL (written, not fsynced)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.kill()
        self.proc.wait()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.work, ignore_errors=True)

    @classmethod
    def started(cls) -> Prometheus:
        prom = cls(Path(tempfile.mkdtemp(prefix="hearth-test-prometheus-")))
        try:
            prom.start()
        except BaseException:
            prom.close()
            raise
        return prom


# -- reading its own API ---------------------------------------------------------------------


async def api(
    http: aiohttp.ClientSession, prom: Prometheus, path: str, params: Any
) -> dict[str, Any]:
    """``data`` of a successful answer of Prometheus's HTTP API."""
    async with http.get(f"{prom.url}{path}", params=params) as resp:
        body = await resp.json()
        assert resp.status == 200 and body["status"] == "success", (body, prom.log_tail())
        return body["data"]  # type: ignore[no-any-return]


async def raw_samples(
    http: aiohttp.ClientSession, prom: Prometheus, selector: str, *, window: str = "2h"
) -> Samples:
    """Every raw sample Prometheus stores of the series ``selector`` matches, in the last
    ``window`` (a range vector: samples as stored, not resampled)."""
    data = await api(
        http,
        prom,
        "/api/v1/query",
        {"query": f"{selector}[{window}]", "time": f"{time.time() + 60:.3f}"},
    )
    assert data["resultType"] == "matrix", data
    out: Samples = {}
    for r in data["result"]:
        out[series_key(r["metric"])] = {round(float(t) * 1000): float(v) for t, v in r["values"]}
    return out


async def series_of(
    http: aiohttp.ClientSession, prom: Prometheus, selector: str
) -> list[dict[str, str]]:
    """``/api/v1/series`` of one ``match[]`` over the last two hours."""
    now = time.time()
    return await api(  # type: ignore[return-value]
        http,
        prom,
        "/api/v1/series",
        {"match[]": selector, "start": f"{now - 7200:.3f}", "end": f"{now + 60:.3f}"},
    )


async def write_requests(http: aiohttp.ClientSession, prom: Prometheus) -> dict[str, float]:
    """Remote-write requests Prometheus answered, by status code (its own /metrics)."""
    async with http.get(f"{prom.url}/metrics") as resp:
        text = await resp.text()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("prometheus_http_requests_total{") and 'handler="/api/v1/write"' in line:
            code = line.split('code="', 1)[1].split('"', 1)[0]
            out[code] = out.get(code, 0.0) + float(line.rsplit(" ", 1)[1])
    return out
