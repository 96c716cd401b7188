"""Liveness, readiness against the real services, and Prometheus metrics."""

from __future__ import annotations

import asyncio

from hearth_core.localstack import LocalStack


async def test_healthz(client):
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert await resp.json() == {"status": "ok"}


async def test_readyz_ok_when_both_reachable(client):
    resp = await client.get("/readyz")
    assert resp.status == 200
    assert await resp.json() == {"status": "ready", "checks": {"postgres": "ok", "redis": "ok"}}


async def test_readyz_follows_redis_down_and_back(client, stack: LocalStack):
    stack.stop_redis()
    try:
        down = await client.get("/readyz")
        assert down.status == 503
        body = await down.json(content_type="application/problem+json")
        assert body["checks"]["postgres"] == "ok"
        assert body["checks"]["redis"].startswith("unavailable")
        assert "redis" in body["detail"]
        assert down.headers["Retry-After"] == "1"
    finally:
        await asyncio.to_thread(stack.start_redis)
    for _ in range(50):  # the client reconnects on its own
        back = await client.get("/readyz")
        if back.status == 200:
            break
        await asyncio.sleep(0.1)
    assert back.status == 200


async def test_metrics_count_requests_by_route_template(client):
    await client.get("/healthz")
    await client.get("/healthz")
    await client.get("/nowhere/at/all")
    resp = await client.get("/metrics")
    assert resp.status == 200
    text = await resp.text()
    assert 'hearth_http_requests_total{method="GET",route="/healthz",status="200"} 2.0' in text
    assert 'route="unmatched",status="404"' in text
    assert "/nowhere/at/all" not in text  # raw paths never become label values
    assert (
        'hearth_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/healthz"}'
        in text
    )


async def test_a_redirect_is_logged_and_counted_with_its_status(client):
    resp = await client.get("/", allow_redirects=False)
    assert resp.status == 302
    text = await (await client.get("/metrics")).text()
    assert 'route="/",status="302"' in text
