"""Unleash itself beside Hearth (bench/flags): npm ``unleash-server`` (installed by ``make
bench-peers`` into target/peers/unleash), started by ``bench/peers/unleash-server.mjs`` on a
Hearth server's embedded PostgreSQL, in a database of its own, with an admin, a backend
(client) and a frontend API token created at start; and the admin-API calls that load flags
into it."""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from bench.harness.log import BenchError, say
from bench.harness.paths import ROOT
from bench.harness.server import Server, free_port, stop_process, wait_http_ok

UNLEASH_VERSION = "8.2.0"  # scripts/bench-peers.sh installs this one
UNLEASH_DIR = ROOT / "target" / "peers" / "unleash"
START_SCRIPT = ROOT / "bench" / "peers" / "unleash-server.mjs"
DATABASE = "unleash"
INSTALL = "run `make bench-peers` (scripts/bench-peers.sh) first"
# Unleash limits each SDK-API caller to 20,000 requests a minute by default: a benchmark
# sends that many in seconds. Lifted, as Hearth runs without an API rate-limit policy.
UNCAPPED = "100000000"


def installed_version() -> str:
    pkg = UNLEASH_DIR / "node_modules" / "unleash-server" / "package.json"
    try:
        return str(json.loads(pkg.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return ""


@dataclass
class Unleash:
    proc: subprocess.Popen[bytes]
    port: int
    version: str
    environment: str
    admin_token: str
    client_token: str
    frontend_token: str
    log_path: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def call(
        self,
        method: str,
        path: str,
        doc: Any = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """One API call with a JSON body; (status, decoded JSON or the raw text)."""
        data = json.dumps(doc).encode() if doc is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", token or self.admin_token)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, body = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read()
        try:
            return status, json.loads(body) if body else None
        except ValueError:
            return status, body.decode(errors="replace")

    def ok(self, method: str, path: str, doc: Any = None) -> Any:
        status, body = self.call(method, path, doc)
        if status >= 300:
            raise BenchError(f"Unleash {method} {path}: {status} {str(body)[:500]}")
        return body


async def _create_database(server: Server) -> str:
    """A fresh database ``unleash`` on the server's PostgreSQL (its superuser owns it)."""
    conn = await asyncpg.connect(server.pg_url())
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}"')
        await conn.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await conn.close()
    return server.pg_url().rsplit("/", 1)[0] + f"/{DATABASE}"


@contextmanager
def unleash_server(pg_of: Server, environment: str) -> Iterator[Unleash]:
    """Unleash on ``pg_of``'s PostgreSQL with tokens for ``environment`` (which must be one
    Unleash knows: ``development`` and ``production`` exist from the start)."""
    version = installed_version()
    if version != UNLEASH_VERSION:
        raise BenchError(f"unleash-server {UNLEASH_VERSION} is not installed: {INSTALL}")
    node = shutil.which("node")
    if node is None:
        raise BenchError(f"node is not installed: {INSTALL}")
    db_url = asyncio.run(_create_database(pg_of))
    port = free_port()
    nonce = secrets.token_hex(16)
    admin = f"*:*.{nonce}admin"
    client = f"default:{environment}.{nonce}client"
    frontend = f"default:{environment}.{nonce}frontend"
    work = Path(tempfile.mkdtemp(prefix="bench-unleash-"))
    log_path = work / "stderr.log"
    env = {
        "PATH": f"{Path(node).parent}:/usr/bin:/bin",
        "HOME": str(work),
        "NODE_ENV": "production",
        "UNLEASH_DIR": str(UNLEASH_DIR),
        "UNLEASH_PORT": str(port),
        "DATABASE_URL": db_url,
        "DATABASE_SSL": "false",
        "INIT_ADMIN_API_TOKENS": admin,
        "INIT_BACKEND_API_TOKENS": client,
        "INIT_FRONTEND_API_TOKENS": frontend,
        "LOG_LEVEL": "error",
        "CHECK_VERSION": "false",
        "SEND_TELEMETRY": "false",
        "SCARF_ANALYTICS": "false",
        # Feature (environment) variants, which the client API still serves and the SDKs
        # evaluate: Unleash 8 takes new ones only with this switch of its own.
        "UNLEASH_EXPERIMENTAL_ENABLE_LEGACY_VARIANTS": "true",
        "SDK_API_RATE_LIMIT_PER_MINUTE": UNCAPPED,
        "TOKEN_AUTHENTICATION_RATE_LIMIT_PER_MINUTE": UNCAPPED,
        "REGISTER_FRONTEND_RATE_LIMIT_PER_MINUTE": UNCAPPED,
        "FRONTEND_METRICS_RATE_LIMIT_PER_MINUTE": UNCAPPED,
    }
    say(
        f"starting Unleash {version} (node) on :{port}, database {DATABASE!r} on PostgreSQL :{pg_of.env['HEARTH_PG_PORT']}"
    )
    with open(log_path, "ab") as log_file:
        proc = subprocess.Popen(
            [node, str(START_SCRIPT)],
            env=env,
            cwd=work,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,
        )
    peer = Unleash(proc, port, version, environment, admin, client, frontend, log_path)
    try:
        try:
            wait_http_ok(f"{peer.base}/health", proc, "unleash", timeout=180)
            _wait_token(peer)
        except BenchError as exc:
            raise BenchError(f"{exc}\n--- unleash log tail ---\n{peer.log_tail()}") from None
        say(f"Unleash ready (pid {proc.pid})")
        yield peer
    finally:
        say("stopping Unleash")
        stop_process(proc, "unleash", timeout=30)
        shutil.rmtree(work, ignore_errors=True)


def _wait_token(peer: Unleash, timeout: float = 30) -> None:
    """The init tokens are stored just after /health answers: wait until the admin one works."""
    deadline = time.monotonic() + timeout
    status, body = 0, None
    while time.monotonic() < deadline:
        status, body = peer.call("GET", "/api/admin/projects")
        if status == 200:
            return
        time.sleep(0.3)
    raise BenchError(f"Unleash did not accept its admin token: {status} {str(body)[:300]}")
