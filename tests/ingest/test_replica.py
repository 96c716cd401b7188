"""Analytics reads served by a real streaming replica (HEARTH_DATABASE_READ_URL)."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import orjson

from api.app import create_app
from api.keys import DB, DB_READ
from tests.conftest import free_port
from tests.fixtures import Live, service_token


async def _replicated(replica_base: str, database: str) -> None:
    """The per-test database was created on the primary a moment ago: wait for its replay."""
    for _ in range(200):
        try:
            conn = await asyncpg.connect(f"{replica_base}/{database}")
        except asyncpg.InvalidCatalogNameError:
            await asyncio.sleep(0.05)
            continue
        await conn.close()
        return
    raise AssertionError("the replica never replayed CREATE DATABASE")


async def test_queries_are_served_by_the_replica(
    settings, database, replica_base, aiohttp_server, http
):
    await _replicated(replica_base, database)
    port = free_port()
    s = settings.replace(
        issuer=f"http://127.0.0.1:{port}", database_read_url=f"{replica_base}/{database}"
    )
    server = await aiohttp_server(create_app(s), port=port)
    live = Live(url=f"http://127.0.0.1:{port}", app=server.app, settings=s)
    assert live.app[DB_READ] is not live.app[DB]
    assert await live.app[DB_READ].fetchval("SELECT pg_is_in_recovery()") is True
    headers = await service_token(live, http, ["metrics.write", "metrics.read"])
    now = int(time.time())
    points = [
        {
            "namespace": "rep",
            "name": "m",
            "labels": {"k": "v"},
            "value": float(i),
            "timestamp": now - 600 + i,
        }
        for i in range(120)
    ]
    async with http.post(
        f"{live.url}/v1/metrics/bulk",
        data=orjson.dumps(points),
        headers={**headers, "Content-Type": "application/json"},
    ) as resp:
        assert resp.status == 200
    # Replication is asynchronous: wait for the replica to replay the commit.
    for _ in range(200):
        async with http.get(
            f"{live.url}/v1/metrics/query",
            headers=headers,
            params={
                "namespace": "rep",
                "name": "m",
                "start": str(now - 600),
                "end": str(now),
                "step": "60",
                "agg": "count",
            },
        ) as resp:
            body = await resp.json()
        if body["data"]["result"] and sum(v for _, v in body["data"]["result"][0]["values"]) == 120:
            break
        await asyncio.sleep(0.05)
    assert sum(v for _, v in body["data"]["result"][0]["values"]) == 120
    # And the replica really is read-only: the answer could only have come from replayed WAL.
    conn = await asyncpg.connect(f"{replica_base}/{database}")
    try:
        assert await conn.fetchval("SELECT count(*) FROM metrics('rep')") == 120
    finally:
        await conn.close()
