"""The configuration store: versions, compare-and-set, schema, history, rollback, import/export."""

from __future__ import annotations

import asyncio

import pytest

from api.app import create_app
from api.keys import DB
from tests.fixtures import service_token

PROBLEM = "application/problem+json"


@pytest.fixture
async def ch(live, http):
    return await service_token(live, http, ["config.read", "config.write"])


async def _write(http, live, headers, **body):
    async with http.post(f"{live.url}/v1/config", headers=headers, json=body) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_versions_history_and_rollback(live, http, ch):
    status, e = await _write(
        http, live, ch, environment="prod", key="checkout.limits", value={"max": 5}
    )
    assert status == 201 and e["version"] == 1
    status, e = await _write(
        http, live, ch, environment="prod", key="checkout.limits", value={"max": 9}
    )
    assert status == 200 and e["version"] == 2
    await _write(http, live, ch, environment="dev", key="checkout.limits", value={"max": 100})
    async with http.get(
        f"{live.url}/v1/config/checkout.limits?environment=prod", headers=ch
    ) as resp:
        assert (await resp.json())["value"] == {"max": 9} and resp.headers["ETag"] == '"2"'
        etag = resp.headers["ETag"]
    async with http.get(
        f"{live.url}/v1/config/checkout.limits?environment=prod",
        headers={**ch, "If-None-Match": etag},
    ) as resp:
        assert resp.status == 304
    async with http.get(
        f"{live.url}/v1/config/checkout.limits/history?environment=prod", headers=ch
    ) as resp:
        hist = await resp.json()
    assert [(v["version"], v["value"]) for v in hist["items"]] == [(2, {"max": 9}), (1, {"max": 5})]
    async with http.post(
        f"{live.url}/v1/config/checkout.limits/rollback",
        headers=ch,
        json={"environment": "prod", "version": 1},
    ) as resp:
        rolled = await resp.json()
    assert rolled["version"] == 3 and rolled["value"] == {"max": 5}
    async with http.get(f"{live.url}/v1/config?environment=prod", headers=ch) as resp:
        listing = await resp.json()
    assert [(i["key"], i["version"]) for i in listing["items"]] == [("checkout.limits", 3)]
    async with http.post(
        f"{live.url}/v1/config/checkout.limits/rollback",
        headers=ch,
        json={"environment": "prod", "version": 42},
    ) as resp:
        assert resp.status == 404
    actions = [
        r["action"]
        for r in await live.app[DB].fetch(
            "SELECT action FROM audit_log WHERE target='config:prod/checkout.limits' ORDER BY id"
        )
    ]
    assert actions == ["config.set", "config.set", "config.rollback"]


async def test_compare_and_set_one_concurrent_writer_wins(live, http, ch):
    await _write(http, live, ch, environment="prod", key="counter", value=0)
    results = await asyncio.gather(
        *(
            _write(http, live, ch, environment="prod", key="counter", value=i, expected_version=1)
            for i in range(1, 11)
        )
    )
    statuses = sorted(s for s, _ in results)
    assert statuses == [200] + [409] * 9
    conflict = next(body for s, body in results if s == 409)
    assert conflict["errors"][0]["path"] == "$.expected_version"
    # If-Match works the same way.
    async with http.post(
        f"{live.url}/v1/config",
        headers={**ch, "If-Match": '"1"'},
        json={"environment": "prod", "key": "counter", "value": -1},
    ) as resp:
        assert resp.status == 409
    status, _ = await _write(
        http, live, ch, environment="prod", key="fresh", value=1, expected_version=0
    )
    assert status == 201  # expected_version 0: create only if absent
    status, _ = await _write(
        http, live, ch, environment="prod", key="fresh", value=2, expected_version=0
    )
    assert status == 409


async def test_json_schema_rejects_with_the_violation_path(live, http, ch):
    schema = {
        "type": "object",
        "properties": {
            "retries": {"type": "integer", "minimum": 0},
            "hosts": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["retries"],
    }
    status, _ = await _write(
        http, live, ch, environment="prod", key="svc", value={"retries": 3}, schema=schema
    )
    assert status == 201
    status, problem = await _write(
        http, live, ch, environment="prod", key="svc", value={"retries": 1, "hosts": ["a", 7]}
    )
    assert status == 400 and problem["errors"][0]["path"] == "$.value.hosts[1]"
    status, problem = await _write(
        http, live, ch, environment="prod", key="svc", value={"retries": -1}
    )
    assert status == 400 and problem["errors"][0]["path"] == "$.value.retries"
    status, problem = await _write(
        http, live, ch, environment="prod", key="svc2", value=1, schema={"type": "no-such-type"}
    )
    assert status == 400 and problem["errors"][0]["path"] == "$.schema"
    status, problem = await _write(http, live, ch, environment="Prod!", key="k", value=1)
    assert status == 400 and problem["errors"][0]["path"] == "$.environment"


async def test_export_import_all_or_nothing(live, http, ch):
    await _write(http, live, ch, environment="staging", key="a", value=1)
    await _write(
        http,
        live,
        ch,
        environment="staging",
        key="b",
        value={"x": [1, 2]},
        schema={"type": "object"},
    )
    async with http.get(f"{live.url}/v1/config/export?environment=staging", headers=ch) as resp:
        doc = await resp.json()
    assert doc == {
        "environment": "staging",
        "entries": {"a": {"value": 1}, "b": {"value": {"x": [1, 2]}, "schema": {"type": "object"}}},
    }
    doc["environment"] = "qa"
    async with http.post(f"{live.url}/v1/config/import", headers=ch, json=doc) as resp:
        assert resp.status == 200 and await resp.json() == {"written": 2, "unchanged": 0}
    bad = {
        "environment": "qa",
        "entries": {"a": {"value": 2}, "b": {"value": 5, "schema": {"type": "object"}}},
    }
    async with http.post(f"{live.url}/v1/config/import", headers=ch, json=bad) as resp:
        assert resp.status == 400
        assert (await resp.json(content_type=PROBLEM))["errors"][0]["path"] == "$.entries.b.value"
    async with http.get(f"{live.url}/v1/config/a?environment=qa", headers=ch) as resp:
        assert (await resp.json())["value"] == 1  # the failed import changed nothing


async def test_a_write_reaches_another_worker(live, http, ch, aiohttp_server):
    other = await aiohttp_server(create_app(live.settings))
    await _write(http, live, ch, environment="prod", key="shared", value="v1")
    url = f"http://127.0.0.1:{other.port}/v1/config/shared?environment=prod"
    for _ in range(200):
        async with http.get(url, headers=ch) as resp:
            if resp.status == 200 and (await resp.json())["value"] == "v1":
                break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("the other worker never saw the write")
    async with http.delete(f"{live.url}/v1/config/shared?environment=prod", headers=ch) as resp:
        assert resp.status == 204
    for _ in range(200):
        async with http.get(url, headers=ch) as resp:
            if resp.status == 404:
                break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("the other worker never saw the delete")
