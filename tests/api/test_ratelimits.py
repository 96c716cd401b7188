"""Rate limiting: policies, exact token buckets under bursts, the API's own limits, Redis down,
and a real three-master Redis Cluster."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis

from api.keys import DB, RATELIMITS
from hearth_core.localstack import LocalStack
from hearth_core.ratelimit.service import RateLimitService, bucket_key
from tests.fixtures import service_token

PROBLEM = "application/problem+json"


@pytest.fixture
async def rh(live, http):
    return await service_token(live, http, ["ratelimit.read", "ratelimit.write", "flag.read"])


async def _put(http, live, rh, service, key, **body):
    async with http.put(f"{live.url}/v1/ratelimits/{service}/{key}", headers=rh, json=body) as resp:
        return resp.status, await resp.json(content_type=None)


async def _check(http, live, rh, service, key, cost=None):
    async with http.post(
        f"{live.url}/v1/ratelimits/{service}/{key}/check",
        headers=rh,
        json={} if cost is None else {"cost": cost},
    ) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def test_policies_crud_default_and_audit(live, http, rh):
    status, p = await _put(http, live, rh, "mail", "*", limit=10, window_sec=60)
    assert status == 201 and p["fail_mode"] == "open" and p["burst"] is None
    status, p = await _put(
        http, live, rh, "mail", "vip", limit=100, window_sec=60, burst=150, fail_mode="closed"
    )
    assert status == 201
    status, _ = await _put(http, live, rh, "mail", "vip", limit=200, window_sec=60)
    assert status == 200
    status, problem = await _put(http, live, rh, "mail", "x", limit=0, window_sec=60)
    assert status == 400 and problem["errors"][0]["path"] == "$.limit"
    async with http.get(f"{live.url}/v1/ratelimits", headers=rh) as resp:
        items = (await resp.json())["items"]
    assert [(i["service"], i["key"], i["limit"]) for i in items] == [
        ("mail", "*", 10),
        ("mail", "vip", 200),
    ]
    # An unknown key falls back to the service default.
    r = await _check(http, live, rh, "mail", "someone")
    assert (
        r["policy"] == "mail/*" and r["allowed"] and r["remaining"] == 9 and r["source"] == "redis"
    )
    async with http.get(f"{live.url}/v1/ratelimits/mail/someone", headers=rh) as resp:
        state = await resp.json()
    assert state["policy"]["key"] == "*" and state["bucket"]["tokens"] == 9
    async with http.delete(f"{live.url}/v1/ratelimits/mail/vip", headers=rh) as resp:
        assert resp.status == 204
    async with http.post(f"{live.url}/v1/ratelimits/nope/x/check", headers=rh, json={}) as resp:
        assert resp.status == 404
    actions = [
        r["action"]
        for r in await live.app[DB].fetch(
            "SELECT action FROM audit_log WHERE target LIKE 'ratelimit:%' ORDER BY id"
        )
    ]
    assert actions == [
        "ratelimit.create",
        "ratelimit.create",
        "ratelimit.update",
        "ratelimit.delete",
    ]


async def test_check_numbers(live, http, rh):
    await _put(http, live, rh, "svc", "k", limit=10, window_sec=10)  # 1 token / s
    r = await _check(http, live, rh, "svc", "k", cost=10)
    assert r["allowed"] and r["remaining"] == 0 and 9.5 < r["reset_after"] <= 10.0
    r = await _check(http, live, rh, "svc", "k", cost=3)
    assert not r["allowed"] and 2.5 < r["retry_after"] <= 3.0
    async with http.post(
        f"{live.url}/v1/ratelimits/svc/k/check", headers=rh, json={"cost": 11}
    ) as resp:
        assert resp.status == 400


async def test_1000_concurrent_checks_admit_exactly_100(live, http, rh):
    await _put(
        http, live, rh, "burst", "b", limit=100, window_sec=31_536_000
    )  # no refill to speak of
    results = await asyncio.gather(*(_check(http, live, rh, "burst", "b") for _ in range(1000)))
    assert sum(r["allowed"] for r in results) == 100


async def _overload(
    limiter: RateLimitService, policy, key: str, seconds: float
) -> tuple[int, float]:
    """Hammer one bucket from 16 tasks; returns (admitted, elapsed between the first and the last
    decision by the bucket's own clock, Redis TIME — not this loaded machine's scheduling)."""
    stop = time.monotonic() + seconds
    admitted = 0
    stamps: list[int] = []

    async def worker():
        nonlocal admitted
        while time.monotonic() < stop:
            decision, source = await limiter.take(policy, key)
            assert source == "redis"
            admitted += decision.allowed
            stamps.append(decision.at_us)

    await asyncio.gather(*(worker() for _ in range(16)))
    return admitted, (max(stamps) - min(stamps)) / 1e6


async def test_steady_overload_admits_limit_plus_rate_times_elapsed(live, http, rh):
    await _put(http, live, rh, "steady", "s", limit=1000, window_sec=1, burst=500)
    limiter = live.app[RATELIMITS]
    admitted, elapsed = await _overload(
        limiter, limiter.get("steady", "s"), bucket_key("steady", "s"), 10.0
    )
    expected = 500 + 1000 * elapsed
    assert abs(admitted - expected) <= expected * 0.001, (admitted, expected)


async def test_the_api_limits_itself_per_client_and_group(live, http, rh):
    await _put(http, live, rh, "api", "flags", limit=3, window_sec=60)
    statuses = []
    for _ in range(4):
        async with http.get(f"{live.url}/v1/flags", headers=rh) as resp:
            statuses.append(resp.status)
            last = resp
    assert statuses == [200, 200, 200, 429]
    assert last.content_type == PROBLEM
    assert int(last.headers["Retry-After"]) >= 1
    assert last.headers["RateLimit-Policy"] == '"default";q=3;w=60'
    assert last.headers["RateLimit"].startswith('"default";r=0;t=')
    other = await service_token(live, http, ["flag.read"])
    async with http.get(f"{live.url}/v1/flags", headers=other) as resp:
        assert resp.status == 200 and resp.headers["RateLimit"].startswith('"default";r=2;')
    async with http.get(f"{live.url}/v1/ratelimits", headers=rh) as resp:
        assert resp.status == 200  # another group: not limited


async def test_redis_down_fails_open_or_closed_never_500(live, http, rh, stack: LocalStack):
    await _put(http, live, rh, "open", "k", limit=2, window_sec=3600, fail_mode="open")
    await _put(http, live, rh, "closed", "k", limit=2, window_sec=3600, fail_mode="closed")
    stack.stop_redis()
    try:
        opened = [await _check(http, live, rh, "open", "k") for _ in range(3)]
        assert [r["allowed"] for r in opened] == [True, True, False]  # the in-process bucket
        assert {r["source"] for r in opened} == {"fallback"}
        closed = await _check(http, live, rh, "closed", "k")
        assert closed["allowed"] is False and closed["source"] == "closed"
        async with http.get(f"{live.url}/metrics") as resp:
            text = await resp.text()
        assert 'hearth_ratelimit_degraded_total{mode="open",outcome="allowed"} 2.0' in text
        assert 'hearth_ratelimit_degraded_total{mode="closed",outcome="denied"} 1.0' in text
    finally:
        await asyncio.to_thread(stack.start_redis)
    for _ in range(50):
        r = await _check(http, live, rh, "open", "k")
        if r["source"] == "redis":
            break
        await asyncio.sleep(0.1)
    assert r["source"] == "redis"


async def test_on_a_three_master_cluster(live, http, rh, redis_cluster_url):
    cluster = aioredis.RedisCluster.from_url(redis_cluster_url)
    try:
        await cluster.initialize()
        assert len(cluster.get_primaries()) == 3
        limiter = RateLimitService(live.app[DB], cluster)
        await _put(http, live, rh, "cl", "*", limit=100, window_sec=31_536_000)
        await _put(http, live, rh, "cl2", "s", limit=1000, window_sec=1, burst=500)
        await limiter.load()
        policy = limiter.get("cl", "*")
        # Buckets spread over the cluster's slots, each one exact under 1 000 concurrent takes.
        keys = [bucket_key("cl", f"user{i}") for i in range(3)]
        slots = {cluster.keyslot(k) for k in keys}
        assert len(slots) == 3
        for k in keys:
            results = await asyncio.gather(*(limiter.take(policy, k) for _ in range(1000)))
            assert sum(d.allowed for d, _ in results) == 100
            assert {s for _, s in results} == {"redis"}
        admitted, elapsed = await _overload(
            limiter, limiter.get("cl2", "s"), bucket_key("cl2", "s"), 10.0
        )
        expected = 500 + 1000 * elapsed
        assert abs(admitted - expected) <= expected * 0.001, (admitted, expected)
    finally:
        await cluster.aclose()
