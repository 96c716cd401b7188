"""SIGKILL of a real ``hearth serve`` while it ingests and while it compacts: afterwards every
acknowledged sample is readable exactly once, and the hourly rollups still equal the samples."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import aiohttp
import orjson
import pytest

from api.keys import DB, INGEST
from hearth_core.metrics import repo
from hearth_core.metrics.chunks import encode_block
from tests.conftest import free_port, make_data_dir
from tests.fixtures import basic

pytestmark = pytest.mark.faults
NOW = int(time.time())


class Server:
    """``hearth serve`` on the test database, started and SIGKILLed by the test."""

    def __init__(self, settings, hearth_env, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **hearth_env,
            "HEARTH_DATABASE_URL": settings.database_url,
            "HEARTH_REDIS_URL": settings.redis_url,
            "HEARTH_ISSUER": self.url,
            "HEARTH_DATA_DIR": str(make_data_dir("hearth-crash-")),
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def spawn(self) -> None:
        """Start it without waiting: its compactor starts before it answers HTTP."""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(self.port), "--workers", "1"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: the kill takes every child
        )

    async def start(self, http: aiohttp.ClientSession) -> None:
        self.spawn()
        assert self.proc is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "serve exited early"
            try:
                async with http.get(f"{self.url}/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.2)
        raise AssertionError("serve did not become ready")

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()


async def _token(live, http, server: Server) -> dict[str, str]:
    client, secret = await live.identity.create_client(
        name="crash-test",
        grants=["client_credentials"],
        scopes=["metrics.write", "metrics.read"],
        redirect_uris=[],
        confidential=True,
        actor="test",
    )
    # The server learns of the new client by NOTIFY: a moment after the commit.
    for _ in range(50):
        async with http.post(
            f"{server.url}/oauth/token",
            data={"grant_type": "client_credentials"},
            headers=basic(client.client_id, secret or ""),
        ) as resp:
            if resp.status == 200:
                return {"Authorization": f"Bearer {(await resp.json())['access_token']}"}
            assert resp.status == 401, await resp.text()
        await asyncio.sleep(0.1)
    raise AssertionError("the server never knew the client")


async def _drained(http, server: Server, headers, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        async with http.get(f"{server.url}/v1/metrics/store", headers=headers) as resp:
            if (await resp.json())["log_samples"] == 0:
                return
        await asyncio.sleep(0.2)
    raise AssertionError("the compactor did not drain the write log")


async def _stored(live, namespace: str) -> dict[tuple[str, int], list[float]]:
    rows = await live.app[DB].fetch(
        "SELECT labels->>'s' AS s, time_us(\"timestamp\") AS t, value FROM metrics($1)",
        namespace,
    )
    out: dict[tuple[str, int], list[float]] = {}
    for r in rows:
        out.setdefault((r["s"], r["t"]), []).append(r["value"])
    return out


async def _hours_match_samples(live, namespace: str) -> None:
    """Each hourly rollup's count and sum equal the stored samples of that hour."""
    diff = await live.app[DB].fetchval(
        """
        WITH ref AS (SELECT labels, date_trunc('hour', "timestamp") AS bucket,
                            count(*) AS n, sum(value) AS total FROM metrics($1) GROUP BY 1, 2),
             got AS (SELECT s.labels, h.bucket, h.count AS n, h.sum AS total
                     FROM metric_rollup_1h h JOIN metric_series s USING (series_id)
                     WHERE s.namespace = $1)
        SELECT count(*) FROM ref FULL JOIN got USING (labels, bucket)
        WHERE ref.n IS DISTINCT FROM got.n OR ref.total IS DISTINCT FROM got.total
        """,
        namespace,
    )
    assert diff == 0


async def test_sigkill_during_ingest_keeps_every_acknowledged_sample_once(
    live, http, settings, hearth_env
):
    live.app[INGEST]._compaction.cancel()  # the server under test compacts, not the fixture
    server = Server(settings, hearth_env)
    acked: dict[tuple[str, int], float] = {}
    try:
        await server.start(http)
        headers = await _token(live, http, server)

        async def sender(k: int) -> None:
            for b in range(10_000):
                batch = [
                    {
                        "namespace": "crash",
                        "name": "m",
                        "labels": {"s": f"{k}-{i % 40}"},
                        "value": float(b * 1000 + i),
                        "timestamp": (NOW - 7200) + b * 0.5 + i // 40 * 0.01,
                    }
                    for i in range(400)
                ]
                try:
                    async with http.post(
                        f"{server.url}/v1/metrics/bulk",
                        data=orjson.dumps(batch),
                        headers={**headers, "Content-Type": "application/json"},
                    ) as resp:
                        if resp.status != 200:
                            continue
                        await resp.read()
                except (aiohttp.ClientError, TimeoutError):
                    return  # the server is gone: this request was never acknowledged
                for p in batch:
                    acked[(p["labels"]["s"], round(p["timestamp"] * 1e6))] = p["value"]

        senders = [asyncio.create_task(sender(k)) for k in range(4)]
        await asyncio.sleep(4)
        server.kill()
        await asyncio.gather(*senders)
        assert len(acked) > 10_000
        await server.start(http)
        await _drained(http, server, headers)
        stored = await _stored(live, "crash")
        assert all(len(v) == 1 for v in stored.values()), "a sample was stored twice"
        missing = [k for k, v in acked.items() if stored.get(k) != [v]]
        assert not missing, f"{len(missing)} acknowledged samples lost, e.g. {missing[:3]}"
        await _hours_match_samples(live, "crash")
    finally:
        server.stop()


async def test_sigkill_during_compaction_keeps_every_sample_once(live, http, settings, hearth_env):
    live.app[INGEST]._compaction.cancel()
    # 192 000 committed samples in the log before any server runs, in 96 blocks: the server
    # under test compacts them a block per pass, and is killed three times while doing so.
    ids = await live.app[INGEST].series.resolve(
        live.app[DB],
        [(h, "kill", "m", orjson.dumps({"s": str(h)}).decode()) for h in range(1, 121)],
    )
    sids = [ids[h] for h in range(1, 121)]
    written: dict[tuple[str, int], float] = {}
    base = (NOW - 6 * 3600) * 1_000_000
    async with live.app[DB].acquire() as conn:
        for b in range(96):
            s, t, v = [], [], []
            for h, sid in enumerate(sids, start=1):
                for i in range(b * 20, b * 20 + 20):
                    us = base + i * 10_000_000 + h
                    s.append(sid)
                    t.append(us)
                    v.append(float(i % 97))
                    written[(str(h), us)] = float(i % 97)
            await repo.append_blocks(conn, [(len(s), min(t), max(t), encode_block(s, t, v))])
    server = Server(settings, hearth_env, HEARTH_METRICS_COMPACT_SAMPLES="2000")
    try:
        for kill in range(3):
            start = await live.app[DB].fetchval("SELECT count(*) FROM metric_log")
            assert start > 0, "the log drained before the kill"
            # Polled from the spawn on, not from readiness: a loaded machine can take longer
            # to answer HTTP than the compactor takes to drain the log.
            server.spawn()
            while await live.app[DB].fetchval("SELECT count(*) FROM metric_log") == start:
                assert server.proc is not None and server.proc.poll() is None, "serve exited"
                await asyncio.sleep(0.005)  # a pass has committed: the next one is under way
            await asyncio.sleep(0.01 + 0.02 * kill)  # at a different point of a pass each time
            server.kill()
        await server.start(http)
        headers = await _token(live, http, server)
        await _drained(http, server, headers)
        stored = await _stored(live, "kill")
        assert all(len(v) == 1 for v in stored.values()), "a sample was stored twice"
        assert {k: v[0] for k, v in stored.items()} == written
        await _hours_match_samples(live, "kill")
    finally:
        server.stop()
