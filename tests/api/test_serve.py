"""``hearth serve`` as a user runs it: a real process, real signals, real services."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port, make_data_dir


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def _wait_ready(proc: subprocess.Popen[str], port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"serve exited early with {proc.returncode}:\n{proc.stderr.read()}"
            )
        if _get(f"http://127.0.0.1:{port}/readyz") == 200:
            return
        time.sleep(0.2)
    raise AssertionError("serve did not become ready within 60 s")


def _port_closed(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        out += [int(x) for x in text]
    return out


def test_embedded_serve_stops_cleanly_and_keeps_data(hearth_env):
    data = make_data_dir("hearth-serve-")
    port, pg, rd = free_port(), free_port(), free_port()
    env = {**hearth_env, "HEARTH_PG_PORT": str(pg), "HEARTH_REDIS_PORT": str(rd)}
    env.pop("HEARTH_MASTER_KEY")  # the embedded default makes its own key file
    args = ("--data-dir", str(data), "--port", str(port))
    try:
        first = _start(env, *args)
        _wait_ready(first, port)
        # An admin command beside the running server borrows its database, and leaves it up.
        made = subprocess.run(
            [
                sys.executable,
                "-m",
                "api.cli",
                "client",
                "create",
                "--name",
                "n",
                "--grants",
                "client_credentials",
                "--json",
                "--data-dir",
                str(data),
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert made.returncode == 0, made.stderr
        assert _get(f"http://127.0.0.1:{port}/readyz") == 200
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=60)
        assert first.returncode == 0, err
        assert "First admin created" in err and "password:" in err
        assert (data / "master.key").stat().st_mode & 0o777 == 0o600
        assert _port_closed(pg) and _port_closed(rd) and _port_closed(port)

        second = _start(env, *args)
        _wait_ready(second, port)
        second.send_signal(signal.SIGINT)  # Ctrl-C
        _, err2 = second.communicate(timeout=60)
        assert second.returncode == 0, err2
        assert "First admin created" not in err2  # same cluster, same admin: data kept
        assert "initialising PostgreSQL" not in err2
        assert _port_closed(pg) and _port_closed(rd)
    finally:
        for p in (locals().get("first"), locals().get("second")):
            if p is not None and p.poll() is None:
                p.kill()
        _stop_cluster(data)
        shutil.rmtree(data, ignore_errors=True)


def _stop_cluster(data: Path) -> None:
    pg_ctl = ["pg_ctl", "stop", "-D", str(data / "pg"), "-m", "immediate"]
    cmd = ["runuser", "-u", "postgres", "--", *pg_ctl] if os.geteuid() == 0 else pg_ctl
    subprocess.run(cmd, capture_output=True, check=False)


def _stop_redis(data: Path) -> None:
    with contextlib.suppress(OSError, ValueError):
        os.kill(int((data / "redis" / "redis.pid").read_text()), signal.SIGTERM)


def _processes_using(data: Path) -> list[str]:
    """Command lines of live processes that name the data dir (PostgreSQL, redis.conf)."""
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(data) in cmdline:
            out.append(f"{proc.name}: {cmdline}")
    return out


def test_a_start_after_a_crash_owns_what_the_crashed_run_left(hearth_env):
    """SIGKILL of the supervisor: its workers exit with it; the next start adopts the embedded
    PostgreSQL and Redis still running and stops them when it stops."""
    data = make_data_dir("hearth-crash-")
    port, pg, rd = free_port(), free_port(), free_port()
    env = {**hearth_env, "HEARTH_PG_PORT": str(pg), "HEARTH_REDIS_PORT": str(rd)}
    env.pop("HEARTH_MASTER_KEY")
    args = ("--data-dir", str(data), "--port", str(port), "--workers", "2")
    try:
        crashed = _start(env, *args)
        _wait_ready(crashed, port)
        workers = [
            w
            for w in _children(crashed.pid)
            if b"api.cli" in Path(f"/proc/{w}/cmdline").read_bytes()
        ]
        assert len(workers) == 2
        crashed.kill()
        crashed.communicate(timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(Path(f"/proc/{w}").exists() for w in workers):
            time.sleep(0.1)
        assert not any(Path(f"/proc/{w}").exists() for w in workers), "orphaned workers live on"
        assert _port_closed(port)
        assert not _port_closed(pg)  # left running by the crash

        second = _start(env, *args)
        _wait_ready(second, port)
        second.send_signal(signal.SIGTERM)
        _, err = second.communicate(timeout=60)
        assert second.returncode == 0, err
        assert "already running on this data dir; reusing it" in err
        assert _port_closed(pg) and _port_closed(rd) and _port_closed(port)
        assert _processes_using(data) == []
    finally:
        for p in (locals().get("crashed"), locals().get("second")):
            if p is not None and p.poll() is None:
                p.kill()
        _stop_cluster(data)
        _stop_redis(data)  # a failure before the second start leaves the crashed run's Redis
        shutil.rmtree(data, ignore_errors=True)


def test_workers_share_the_port_and_are_replaced(settings, hearth_env):
    port = free_port()
    env = {
        **hearth_env,
        "HEARTH_DATABASE_URL": settings.database_url,
        "HEARTH_REDIS_URL": settings.redis_url,
        "HEARTH_DATA_DIR": str(make_data_dir("hearth-workers-")),
    }
    proc = _start(env, "--port", str(port), "--workers", "2")
    try:
        _wait_ready(proc, port)
        workers = _children(proc.pid)
        assert len(workers) == 2
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = _children(proc.pid)
            if len(now) == 2 and workers[0] not in now:
                break
            time.sleep(0.1)
        assert len(now) == 2 and workers[0] not in now
        assert all(_get(f"http://127.0.0.1:{port}/healthz") == 200 for _ in range(20))
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
        assert proc.returncode == 0
        assert _port_closed(port)
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_serve_runs_on_the_event_loop_it_is_given(loop, settings, hearth_env):
    """HEARTH_EVENT_LOOP picks the loop of every worker: uvloop is loaded only when chosen."""
    port = free_port()
    env = {
        **hearth_env,
        "HEARTH_DATABASE_URL": settings.database_url,
        "HEARTH_REDIS_URL": settings.redis_url,
        "HEARTH_DATA_DIR": str(make_data_dir("hearth-loop-")),
        "HEARTH_EVENT_LOOP": loop,
    }
    proc = _start(env, "--port", str(port), "--workers", "2")
    try:
        _wait_ready(proc, port)
        workers = _children(proc.pid)
        assert len(workers) == 2
        for pid in workers:
            maps = Path(f"/proc/{pid}/maps").read_text()
            assert ("uvloop" in maps) == (loop == "uvloop"), f"worker {pid} on {loop}"
        assert all(_get(f"http://127.0.0.1:{port}/readyz") == 200 for _ in range(10))
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_an_unknown_event_loop_is_refused(hearth_env):
    env = {**hearth_env, "HEARTH_EVENT_LOOP": "tokio"}
    res = subprocess.run(
        [sys.executable, "-m", "api.cli", "serve"], env=env, capture_output=True, text=True
    )
    assert res.returncode != 0
    assert "HEARTH_EVENT_LOOP" in res.stderr and "tokio" in res.stderr


@pytest.mark.parametrize("command", [[], ["serve"], ["migrate"], ["status"]])
def test_every_command_has_help(command, hearth_env):
    out = subprocess.run(
        [sys.executable, "-m", "api.cli", *command, "--help"],
        env=hearth_env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "Usage:" in out.stdout
