"""Faults survived without loss: PostgreSQL restarted under ingest and API load, Redis restarted
while flags and config keep serving. (A killed worker being replaced while the others serve is
tests/api/test_serve.py::test_workers_share_the_port_and_are_replaced.)"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import orjson
import pytest

from api.keys import DB
from hearth_core.localstack import LocalStack
from tests.fixtures import service_token

pytestmark = pytest.mark.faults
NOW = int(time.time())


async def test_postgres_restart_during_ingest_and_api_load(live, http, stack: LocalStack):
    headers = await service_token(live, http, ["metrics.write", "flag.read", "flag.write"])
    async with http.post(
        f"{live.url}/v1/flags",
        headers=headers,
        json={"name": "steady", "environments": {"default": {"enabled": True}}},
    ) as r:
        assert r.status == 201
    batches = 60
    seen_statuses: set[int] = set()
    wrong_answers: list[str] = []

    async def sender(k: int) -> int:
        acked = 0
        for b in range(batches // 6):
            body = orjson.dumps(
                [
                    {
                        "namespace": "fault",
                        "name": "m",
                        "labels": {"s": str(k)},
                        "value": float(b),
                        "timestamp": NOW - 1000 + b * 6 + k + i / 1000,
                    }
                    for i in range(200)
                ]
            )
            key = f"sender-{k}-batch-{b}"
            while True:  # a client retries with the same Idempotency-Key until acknowledged
                try:
                    async with http.post(
                        f"{live.url}/v1/metrics/bulk",
                        data=body,
                        headers={
                            **headers,
                            "Content-Type": "application/json",
                            "Idempotency-Key": key,
                        },
                        timeout=aiohttp.ClientTimeout(total=20),
                    ) as resp:
                        seen_statuses.add(resp.status)
                        if resp.status == 200:
                            acked += (await resp.json())["accepted"]
                            break
                        assert resp.status in (409, 503), await resp.text()  # retryable only
                except (aiohttp.ClientConnectionError, TimeoutError):
                    pass
                await asyncio.sleep(0.2)
        return acked

    async def reader() -> None:
        end = time.monotonic() + 8
        while time.monotonic() < end:
            try:
                async with http.post(
                    f"{live.url}/v1/flags/evaluate",
                    headers=headers,
                    json={"context": {"targetingKey": "u"}},
                ) as resp:
                    seen_statuses.add(resp.status)
                    if resp.status == 200:
                        flags = {f["key"]: f["value"] for f in (await resp.json())["flags"]}
                        if flags.get("steady") is not True:
                            wrong_answers.append(str(flags))
                    else:
                        assert resp.status == 503
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.02)

    async def restart() -> None:
        await asyncio.sleep(1.0)
        await asyncio.to_thread(stack.stop_postgres)
        await asyncio.sleep(1.5)
        await asyncio.to_thread(stack.start_postgres)

    results = await asyncio.gather(*(sender(k) for k in range(6)), reader(), restart())
    acked = sum(r for r in results[:6])
    assert acked == batches * 200
    assert not wrong_answers
    assert 500 not in seen_statuses
    # Every acknowledged point is there exactly once.
    count = await live.app[DB].fetchval("SELECT count(*) FROM metrics('fault')")
    distinct = await live.app[DB].fetchval(
        "SELECT count(DISTINCT (labels, \"timestamp\")) FROM metrics('fault')"
    )
    assert count == distinct == acked


async def test_redis_restart_flags_and_config_keep_serving(live, http, stack: LocalStack):
    headers = await service_token(
        live, http, ["flag.read", "flag.write", "config.read", "config.write"]
    )
    async with http.post(
        f"{live.url}/v1/flags",
        headers=headers,
        json={"name": "mem", "environments": {"default": {"enabled": True}}},
    ) as r:
        assert r.status == 201
    async with http.post(
        f"{live.url}/v1/config",
        headers=headers,
        json={"environment": "prod", "key": "k", "value": 42},
    ) as r:
        assert r.status == 201
    stack.stop_redis()
    try:
        for _ in range(20):
            async with http.post(
                f"{live.url}/v1/flags/evaluate",
                headers=headers,
                json={"context": {"targetingKey": "x"}},
            ) as resp:
                assert resp.status == 200
                assert {f["key"]: f["value"] for f in (await resp.json())["flags"]}["mem"] is True
            async with http.get(
                f"{live.url}/v1/config/k?environment=prod", headers=headers
            ) as resp:
                assert resp.status == 200 and (await resp.json())["value"] == 42
        async with http.get(f"{live.url}/readyz") as resp:
            assert resp.status == 503
    finally:
        await asyncio.to_thread(stack.start_redis)
