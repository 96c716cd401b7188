"""``hearth serve`` on a private data dir and free ports, and the hello-world peer.

Every setting goes through ``HEARTH_*`` environment variables (hearth_core/settings.py), as an
operator would set them; the embedded launcher (hearth_core/localstack.py) starts PostgreSQL
and Redis inside the data dir.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness.client import http
from bench.harness.log import BenchError, say
from bench.harness.paths import ROOT, tool

HELLO = Path(__file__).resolve().parent / "hello.py"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http_ok(url: str, proc: subprocess.Popen[bytes], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{what} exited with code {proc.returncode} before it was ready")
        try:
            if http(url, timeout=1.0)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise BenchError(f"{what} was not ready at {url} within {timeout:.0f} s")


def stop_process(proc: subprocess.Popen[bytes], what: str, timeout: float) -> bool:
    """SIGTERM, then SIGKILL after ``timeout``; True when it had to be killed."""
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
        return False
    except subprocess.TimeoutExpired:
        say(f"{what} did not stop within {timeout:.0f} s after SIGTERM; killing it")
        proc.kill()
        proc.wait()
        return True


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

    def secret(self, name: str) -> str:
        return (self.data_dir / name).read_text().strip()

    def pg_url(self) -> str:
        pw = urllib.parse.quote(self.secret("pg.password"), safe="")
        return f"postgresql://hearth:{pw}@127.0.0.1:{self.env['HEARTH_PG_PORT']}/hearth"

    def redis_kwargs(self) -> dict[str, Any]:
        port = int(self.env["HEARTH_REDIS_PORT"])
        return {"host": "127.0.0.1", "port": port, "password": self.secret("redis.password")}


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
    try:
        pid = int((data_dir / "redis" / "redis.pid").read_text().strip())
        if b"redis-server" in Path(f"/proc/{pid}/cmdline").read_bytes():
            os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        pass


def _shared_env(first: Server) -> dict[str, str]:
    """Another server on ``first``'s PostgreSQL and Redis and master key, as a second machine."""
    redis_pw = urllib.parse.quote(first.secret("redis.password"), safe="")
    return {
        "HEARTH_DATABASE_URL": first.pg_url(),
        "HEARTH_REDIS_URL": f"redis://:{redis_pw}@127.0.0.1:{first.env['HEARTH_REDIS_PORT']}/0",
        "HEARTH_MASTER_KEY_FILE": str(first.data_dir / "master.key"),
    }


@contextmanager
def hearth_server(
    *,
    workers: int = 1,
    env: dict[str, str] | None = None,
    data_dir: Path | None = None,
    share: Server | None = None,
) -> Iterator[Server]:
    """A ready ``hearth serve``: ``workers`` processes, ``HEARTH_LOG_LEVEL=WARNING`` plus
    ``env``; a fresh temporary data dir removed at the end, or ``data_dir``, kept; with
    ``share``, on that server's PostgreSQL and Redis instead of embedded ones."""
    keep = data_dir is not None
    path = data_dir or Path(tempfile.mkdtemp(prefix="hearth-bench-"))
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)  # PostgreSQL runs as the postgres user when we are root
    full = {
        k: v
        for k, v in os.environ.items()
        if k not in ("HEARTH_DATABASE_URL", "HEARTH_REDIS_URL", "HEARTH_DATA_DIR")
    }
    full |= {
        "HEARTH_PORT": str(free_port()),
        "HEARTH_DATA_DIR": str(path),
        "HEARTH_WORKERS": str(workers),
        "HEARTH_PG_PORT": str(free_port()),
        "HEARTH_REDIS_PORT": str(free_port()),
        "HEARTH_LOG_LEVEL": "WARNING",
        **(_shared_env(share) if share else {}),
        **(env or {}),
    }
    if share:
        full["HEARTH_PG_PORT"], full["HEARTH_REDIS_PORT"] = (
            share.env["HEARTH_PG_PORT"],
            share.env["HEARTH_REDIS_PORT"],
        )
    port = int(full["HEARTH_PORT"])
    log_path = path / "server.stderr.log"
    what = f"hearth serve (:{port}, {workers} worker(s))"
    say(
        f"starting {what}"
        + (f" on the PostgreSQL and Redis of :{share.port}" if share else "")
        + f", data dir {path}"
    )
    with open(log_path, "ab") as log_file:
        proc = subprocess.Popen(
            [str(tool("hearth")), "serve"],
            env=full,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,  # Ctrl-C here reaches us only; we stop it in order
        )
    server = Server(proc, port, path, full, log_path)
    killed = False
    try:
        try:
            wait_http_ok(f"{server.base}/readyz", proc, what, timeout=180)
        except BenchError as exc:
            raise BenchError(f"{exc}\n--- server log tail ---\n{server.log_tail()}") from None
        say(f"hearth ready (pid {proc.pid})")
        yield server
    finally:
        say(f"stopping {what}")
        killed = stop_process(proc, what, timeout=90)
        if not share and (killed or proc.returncode not in (0, None)):
            _stop_leftovers(path)
        if not keep:
            shutil.rmtree(path, ignore_errors=True)


@contextmanager
def hello_server(loop: str = "uvloop") -> Iterator[str]:
    """The limit every request is compared with: a bare aiohttp hello-world (``hello.py``), on
    uvloop or the standard library's event loop (``loop="asyncio"``)."""
    port = free_port()
    say(f"starting the aiohttp hello-world on :{port} ({loop})")
    proc = subprocess.Popen(
        [sys.executable, str(HELLO), str(port), loop],
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
