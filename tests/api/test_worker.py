"""``hearth worker`` is built by the same composition root as the server: a real worker process
hears a data-key rotation and a flag change, and applies them to its own caches."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from hearth_core.db.pool import create_pool
from hearth_core.flags.model import EnvConfig, FlagSpec
from hearth_core.flags.service import FlagService
from hearth_core.security.crypto import MasterKeyRing
from hearth_core.security.keyring import rotate_data_keys
from tests.conftest import make_data_dir

HEARTH = Path(sys.executable).with_name("hearth")


class _Lines:
    """The worker's JSON log lines, read on a thread so a test can wait for one."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._q: queue.Queue[dict[str, Any]] = queue.Queue()
        self.raw: list[bytes] = []
        self._proc = proc
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        """After the process has exited: the rest of its output, then the pipe."""
        self._thread.join(timeout=10)
        assert self._proc.stderr is not None
        self._proc.stderr.close()

    def _read(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            self.raw.append(line)
            try:
                self._q.put(orjson.loads(line))
            except orjson.JSONDecodeError:
                self._q.put({"msg": line.decode(errors="replace").strip()})

    def wait_for(self, match: Any, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                record = self._q.get(timeout=left)
            except queue.Empty:
                break
            if match(record):
                return record
        raise AssertionError("no such log line; the worker said:\n" + b"".join(self.raw).decode())


async def test_standalone_worker_reacts_to_key_rotation_and_flag_changes(settings, hearth_env):
    env = {
        **hearth_env,
        "HEARTH_DATABASE_URL": settings.database_url,
        "HEARTH_REDIS_URL": settings.redis_url,
        "HEARTH_DATA_DIR": str(make_data_dir("hearth-worker-")),
        "HEARTH_LOG_LEVEL": "DEBUG",
    }
    proc = subprocess.Popen(  # noqa: ASYNC220 - a real process, read on a thread
        [str(HEARTH), "worker", "--concurrency", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    lines = _Lines(proc)
    pool = await create_pool(settings)
    try:
        lines.wait_for(lambda r: "command worker(s) running" in r["msg"], timeout=60)

        async with pool.acquire() as conn:
            _, new_id = await rotate_data_keys(
                conn, MasterKeyRing.from_settings(settings), actor="test"
            )
        reloaded = lines.wait_for(lambda r: r["msg"] == "data keys reloaded")
        assert reloaded["active_key"] == new_id

        flags = FlagService(pool)
        await flags.create(
            FlagSpec(name="worker-sees-this", environments={"default": EnvConfig(enabled=True)}),
            actor="test",
            request_id=None,
        )
        applied = lines.wait_for(
            lambda r: r["msg"] == "change applied" and r["event"].get("flag") == "worker-sees-this"
        )
        assert applied["kind"] == "flag"

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        await pool.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        lines.close()
