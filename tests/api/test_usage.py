"""Usage metering: counts per client and day after a known load, priced from the config store."""

from __future__ import annotations

import csv
import io
import time

import orjson

from api.keys import DB, USAGE
from tests.fixtures import service_token


async def test_usage_totals_and_cost_after_a_known_load(live, http):
    worker = await service_token(live, http, ["flag.read", "metrics.write"])
    billing = await service_token(live, http, ["usage.read", "config.write"])
    prices = {
        "currency": "EUR",
        "request": 0.001,
        "routes": {"/v1/metrics/bulk": 0.01},
        "point": 0.0001,
        "gb_in": 2.0,
    }
    async with http.post(
        f"{live.url}/v1/config",
        headers=billing,
        json={"environment": "billing", "key": "billing.prices", "value": prices},
    ) as resp:
        assert resp.status in (200, 201)
    for _ in range(3):
        async with http.get(f"{live.url}/v1/flags", headers=worker) as resp:
            assert resp.status == 200
    sent = 0
    now = int(time.time())
    for n in (10, 15):
        body = orjson.dumps(
            [
                {"namespace": "u", "name": "m", "labels": {}, "value": 1, "timestamp": now - i}
                for i in range(n)
            ]
        )
        sent += len(body)
        async with http.post(
            f"{live.url}/v1/metrics/bulk",
            data=body,
            headers={**worker, "Content-Type": "application/json"},
        ) as resp:
            assert resp.status == 200
    await live.app[USAGE].flush()
    async with http.get(f"{live.url}/v1/usage", headers=billing) as resp:
        report = await resp.json()
    mine = [d for d in report["items"] if d["requests"].get("/v1/metrics/bulk")]
    assert len(mine) == 1
    day = mine[0]
    assert day["requests"] == {"/v1/flags": 3, "/v1/metrics/bulk": 2}
    assert day["points"] == 25 and day["bytes_in"] == sent
    expected = 3 * 0.001 + 2 * 0.01 + 25 * 0.0001 + sent / 1e9 * 2.0
    assert abs(day["cost"] - expected) < 1e-12
    assert report["totals"]["currency"] == "EUR" and report["totals"]["points"] == 25
    async with http.get(
        f"{live.url}/v1/usage/export", headers=billing, params={"client_id": day["client_id"]}
    ) as resp:
        rows = list(csv.DictReader(io.StringIO(await resp.text())))
    assert {(r["kind"], r["route"], r["value"]) for r in rows} == {
        ("requests", "/v1/flags", "3"),
        ("requests", "/v1/metrics/bulk", "2"),
        ("points", "", "25"),
        ("bytes_in", "", str(sent)),
    }


async def test_a_failed_flush_keeps_the_counts(live):
    meter = live.app[USAGE]
    meter.request("c1", "/v1/x", 10)
    await live.app[DB].execute("ALTER TABLE usage_daily RENAME TO usage_daily_away")
    try:
        assert await meter.flush() == 0
    finally:
        await live.app[DB].execute("ALTER TABLE usage_daily_away RENAME TO usage_daily")
    assert await meter.flush() == 2
