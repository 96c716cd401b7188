"""Two ``hearth serve`` processes on different ports, standing for two API machines behind a
load balancer: one PostgreSQL, one Redis (the test stack's), one metrics backend (Prometheus),
both in remote mode and with the issuer the balancer's URL. Both take writes that land in
Prometheus; a flag change and a config change made through one reach the other (its reads
and its flag stream) within seconds, through LISTEN/NOTIFY; a token one issued is accepted by
the other; a client's tenant mapping set through one is enforced by the other."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson
import pytest

from hearth_core.db.pool import connect
from hearth_core.identity import clients
from hearth_core.security.crypto import MasterKeyRing
from hearth_core.security.keyring import load_field_cipher
from hearth_core.settings import Settings
from tests.conftest import free_port, make_data_dir
from tests.fixtures import basic
from tests.remote.prometheus import Prometheus, raw_samples

ISSUER = "http://hearth.example.test"  # the load balancer's URL: the same for both
SEEN_WITHIN_S = 5.0
OPS_SCOPES = [
    *("auth.admin", "flag.read", "flag.write", "config.read", "config.write"),
    *("metrics.read", "metrics.write"),
]


@dataclass
class Process:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self) -> str:
        try:
            return f"--- {self.name} ---\n" + self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return ""


def _start(name: str, env: dict[str, str], work: Path) -> Process:
    port = free_port()
    log = work / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    return Process(name, proc, port, log)


def _wait_ready(p: Process, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if p.proc.poll() is not None:
            raise AssertionError(f"{p.name} exited with {p.proc.returncode}\n{p.log_tail()}")
        try:
            with urllib.request.urlopen(f"{p.url}/readyz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"{p.name} not ready within {timeout:.0f} s\n{p.log_tail()}")


def _stop(p: Process) -> None:
    if p.proc.poll() is None:
        p.proc.send_signal(signal.SIGTERM)
        try:
            p.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.proc.kill()
            p.proc.wait()


@pytest.fixture
async def two(
    settings: Settings, hearth_env: dict[str, str], prometheus: Prometheus
) -> AsyncIterator[tuple[Process, Process]]:
    if not prometheus.running():
        await asyncio.to_thread(prometheus.start)
    assert settings.database_url and settings.redis_url
    work = make_data_dir("hearth-two-")
    procs = []
    try:
        for name in ("api1", "api2"):
            data = work / name
            data.mkdir()
            env = {
                **hearth_env,
                "HEARTH_DATA_DIR": str(data),
                "HEARTH_DATABASE_URL": settings.database_url,
                "HEARTH_REDIS_URL": settings.redis_url,
                "HEARTH_ISSUER": ISSUER,
                "HEARTH_METRICS_STORE": "remote",
                "HEARTH_METRICS_REMOTE_WRITE_URL": prometheus.write_url,
                "HEARTH_METRICS_REMOTE_QUERY_URL": prometheus.url,
                "HEARTH_COMMAND_WORKERS": "0",
            }
            procs.append(_start(name, env, work))
        await asyncio.gather(*(asyncio.to_thread(_wait_ready, p) for p in procs))
        yield procs[0], procs[1]
    except BaseException:
        for p in procs:
            sys.stderr.write(p.log_tail())
        raise
    finally:
        await asyncio.gather(*(asyncio.to_thread(_stop, p) for p in procs))
        for p in procs:
            assert p.proc.returncode == 0, p.log_tail()
        shutil.rmtree(work, ignore_errors=True)


async def _client(settings: Settings, name: str, scopes: list[str]) -> tuple[str, str]:
    """A client_credentials client, made in the database as ``hearth client create`` does."""
    assert settings.database_url
    conn = await connect(settings.database_url)
    try:
        cipher = await load_field_cipher(conn, MasterKeyRing.from_settings(settings))
        client, secret = await clients.create(
            conn,
            cipher,
            name=name,
            grants=["client_credentials"],
            scopes=scopes,
            redirect_uris=[],
            confidential=True,
            actor="test",
        )
    finally:
        await conn.close()
    assert secret
    return client.client_id, secret


async def _token(http: aiohttp.ClientSession, p: Process, client_id: str, secret: str) -> str:
    """A client_credentials token from ``p``, once the client (made in the database beside
    the running servers) has reached its client cache (NOTIFY)."""
    deadline = time.monotonic() + SEEN_WITHIN_S
    while True:
        async with http.post(
            f"{p.url}/oauth/token",
            data={"grant_type": "client_credentials"},
            headers=basic(client_id, secret),
        ) as resp:
            if resp.status == 200:
                return str((await resp.json())["access_token"])
            assert resp.status == 401 and time.monotonic() < deadline, await resp.text()
        await asyncio.sleep(0.05)


async def _eventually(what: str, check: Callable[[], Awaitable[bool]]) -> None:
    deadline = time.monotonic() + SEEN_WITHIN_S
    while not await check():
        assert time.monotonic() < deadline, f"{what}: not within {SEEN_WITHIN_S} s"
        await asyncio.sleep(0.05)


async def _bulk(http, p: Process, headers, ns: str, value: float, t: int) -> tuple[int, str]:
    body = [{"namespace": ns, "name": "two_up", "labels": {}, "value": value, "timestamp": t}]
    async with http.post(
        f"{p.url}/v1/metrics/bulk",
        data=orjson.dumps(body),
        headers={**headers, "Content-Type": "application/json"},
    ) as resp:
        return resp.status, await resp.text()


async def test_two_api_processes_share_state_and_the_backend(
    two: tuple[Process, Process],
    settings: Settings,
    http: aiohttp.ClientSession,
    prometheus: Prometheus,
    ns: str,
) -> None:
    p1, p2 = two
    ops_id, ops_secret = await _client(
        settings,
        "ops",
        OPS_SCOPES,
    )
    # A token issued by process 1 is accepted by process 2 (same keys, same issuer).
    token = await _token(http, p1, ops_id, ops_secret)
    ops = {"Authorization": f"Bearer {token}"}
    async with http.get(f"{p2.url}/v1/flags", headers=ops) as resp:
        assert resp.status == 200, await resp.text()

    # Both write into the one backend.
    t = (time.time_ns() // 1_000_000) - 10_000
    for i, p in enumerate((p1, p2)):
        status, text = await _bulk(http, p, ops, f"{ns}_{i + 1}", float(i + 1), t)
        assert status == 200, text
    stored = await raw_samples(http, prometheus, f'two_up{{hearth_namespace=~"{ns}_.*"}}')
    assert stored == {
        ("two_up", (("hearth_namespace", f"{ns}_{i}"),)): {t: float(i)} for i in (1, 2)
    }

    # A flag change through 1 reaches 2: its stream and its reads.
    async with http.post(
        f"{p1.url}/v1/flags",
        headers=ops,
        json={
            "name": "two-procs",
            "environments": {"default": {"enabled": False, "strategies": [], "variants": []}},
        },
    ) as resp:
        assert resp.status == 201, await resp.text()
    stream = await http.get(
        f"{p2.url}/v1/flags/stream", headers=ops, timeout=aiohttp.ClientTimeout(total=None)
    )
    try:
        assert stream.status == 200
        assert "event: hello" in (await stream.content.readuntil(b"\n\n")).decode()
        async with http.put(
            f"{p1.url}/v1/flags/two-procs/environments/default",
            headers=ops,
            json={"enabled": True},
        ) as resp:
            assert resp.status == 200, await resp.text()
        async with asyncio.timeout(SEEN_WITHIN_S):
            while True:
                event = (await stream.content.readuntil(b"\n\n")).decode()
                if '"two-procs"' in event and '"enabled":true' in event:
                    break
    finally:
        stream.close()

    async def flag_on() -> bool:
        async with http.get(f"{p2.url}/v1/flags/two-procs", headers=ops) as resp:
            return resp.status == 200 and (await resp.json())["environments"]["default"]["enabled"]

    await _eventually("process 2 reads the flag on", flag_on)

    # A config change through 1 is read through 2, and so is its next version.
    for version, value in ((None, {"limit": 5}), (1, {"limit": 6})):
        body: dict = {"environment": "prod", "key": "two.procs", "value": value}
        if version is not None:
            body["expected_version"] = version
        async with http.post(f"{p1.url}/v1/config", headers=ops, json=body) as resp:
            assert resp.status in (200, 201), await resp.text()

        async def config_seen(want: dict = value) -> bool:
            async with http.get(
                f"{p2.url}/v1/config/two.procs?environment=prod", headers=ops
            ) as resp:
                return resp.status == 200 and (await resp.json())["value"] == want

        await _eventually(f"process 2 reads config {value}", config_seen)

    # A tenant mapping set through 1 is enforced by 2.
    tenant_id, tenant_secret = await _client(settings, "tenant", ["metrics.read", "metrics.write"])
    tenant = {"Authorization": f"Bearer {await _token(http, p2, tenant_id, tenant_secret)}"}
    own, other = f"{ns}_own", f"{ns}_other"
    async with http.put(
        f"{p1.url}/v1/metrics/tenants/{tenant_id}", headers=ops, json={"namespace": own}
    ) as resp:
        assert resp.status in (200, 201, 204), await resp.text()

    async def refused_elsewhere() -> bool:
        # A read probes (a write probe would land in `other` while the NOTIFY is on its way).
        async with http.get(
            f"{p2.url}/api/v1/labels", params={"namespace": other}, headers=tenant
        ) as resp:
            return resp.status == 403

    await _eventually("process 2 enforces the mapping", refused_elsewhere)
    status, text = await _bulk(http, p2, tenant, other, 9.0, t)
    assert status == 403, text
    status, text = await _bulk(http, p2, tenant, own, 3.0, t)
    assert status == 200, text
    async with http.get(
        f"{p2.url}/api/v1/query", params={"query": "two_up", "namespace": other}, headers=tenant
    ) as resp:
        assert resp.status == 403, await resp.text()
    async with http.get(
        f"{p2.url}/api/v1/query", params={"query": '{__name__=~".+"}'}, headers=tenant
    ) as resp:
        body = await resp.json()
        assert resp.status == 200, body
    assert [(r["metric"], r["value"][1]) for r in body["data"]["result"]] == [
        ({"__name__": "two_up"}, "3")
    ]
    stored = await raw_samples(http, prometheus, f'two_up{{hearth_namespace=~"{ns}_o.*"}}')
    assert stored == {("two_up", (("hearth_namespace", own),)): {t: 3.0}}
