"""The cardinality guard: a client's new series beyond its limits (policy in the config store)
are refused, their samples not stored; existing series keep being written; refusals counted."""

from __future__ import annotations

import time

import orjson

from api.keys import DB
from tests.fixtures import service_token

NOW = int(time.time())


def _points(names: list[str], value: float = 1.0) -> list[dict]:
    return [
        {
            "namespace": "card",
            "name": "up",
            "labels": {"target": n},
            "value": value,
            "timestamp": NOW,
        }
        for n in names
    ]


async def _post(http, live, headers, points) -> dict:
    async with http.post(
        f"{live.url}/v1/metrics/bulk",
        data=orjson.dumps(points),
        headers={**headers, "Content-Type": "application/json"},
    ) as resp:
        body = await resp.json()
        assert resp.status == 200, body
    return body


async def _policy(http, live, value: dict) -> None:
    ch = await service_token(live, http, ["config.write"])
    async with http.post(
        f"{live.url}/v1/config",
        json={"environment": "default", "key": "metrics.cardinality", "value": value},
        headers=ch,
    ) as resp:
        assert resp.status in (200, 201), await resp.text()


async def _stored(live) -> int:
    return await live.app[DB].fetchval(
        "SELECT count(*) FROM metric_series WHERE namespace = 'card'"
    )


async def test_new_series_beyond_the_hourly_limit_are_refused(live, http, mh):
    await _policy(http, live, {"max_new_series_per_hour": 7})
    first = await _post(http, live, mh, _points([f"a{i}" for i in range(5)]))
    assert first["accepted"] == 5 and first["refused_series"] == 0
    # 5 known + 5 new: two of the new fit, three are refused with their samples
    body = await _post(http, live, mh, _points([f"a{i}" for i in range(10)], 2.0))
    assert body["accepted"] == 7
    assert body["refused_series"] == 3 and body["refused_samples"] == 3
    assert "7 new series per hour" in body["refusal"]
    assert await _stored(live) == 7
    # known series are still written; only new ones are refused
    again = await _post(http, live, mh, _points([f"a{i}" for i in range(10)], 3.0))
    assert again["accepted"] == 7 and again["refused_series"] == 3
    async with http.get(f"{live.url}/metrics") as resp:
        text = await resp.text()
    assert 'hearth_ingest_series_refused_total{protocol="json"} 6.0' in text
    assert 'hearth_ingest_samples_total{outcome="refused_series",protocol="json"} 6.0' in text


async def test_a_clients_own_limit_replaces_the_default(live, http, mh):
    other = await service_token(live, http, ["metrics.write"])
    limited_id = await _client_id(live, mh)
    await _policy(http, live, {"max_series": 100, "clients": {limited_id: {"max_series": 2}}})
    body = await _post(http, live, mh, _points(["x1", "x2", "x3"]))
    assert body["accepted"] == 2 and body["refused_series"] == 1
    assert "limit of 2 series" in body["refusal"]
    # another client has the default limit of 100 and the series x3 is new to it too
    body = await _post(http, live, other, _points(["x3", "y1"]))
    assert body["accepted"] == 2 and body["refused_series"] == 0
    assert await _stored(live) == 4


async def test_without_a_policy_nothing_is_refused(live, http, mh):
    body = await _post(http, live, mh, _points([f"n{i}" for i in range(50)]))
    assert body["accepted"] == 50 and body["refused_series"] == 0


async def _client_id(live, headers: dict[str, str]) -> str:
    token = headers["Authorization"].split()[1]
    claims = await live.identity.verify_bearer(token)
    return claims["client_id"]
