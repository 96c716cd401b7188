"""Feature flags: CRUD, evaluation (OFREP shape, ETag), rollout distribution, SSE across workers."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import orjson
import pytest
from aiohttp import web

from api.app import create_app
from api.keys import DB, FLAGS
from tests.conftest import free_port
from tests.fixtures import Live, service_token

PROBLEM = "application/problem+json"


@pytest.fixture
async def fh(live, http):
    return await service_token(live, http, ["flag.read", "flag.write"])


async def _post(http, url, headers, body, status=None):
    async with http.post(url, headers=headers, json=body) as resp:
        data = await resp.json(content_type=None)
        if status is not None:
            assert resp.status == status, data
        return resp.status, data


def _env(enabled=True, strategies=(), variants=()):
    return {"enabled": enabled, "strategies": list(strategies), "variants": list(variants)}


def _rollout(pct, stickiness="userId", **params):
    return {
        "name": "flexibleRollout",
        "parameters": {"rollout": str(pct), "stickiness": stickiness, **params},
    }


async def _evaluate(http, live, fh, context, environment=None):
    q = f"?environment={environment}" if environment else ""
    _, body = await _post(http, f"{live.url}/v1/flags/evaluate{q}", fh, {"context": context}, 200)
    return {f["key"]: f for f in body["flags"]}


async def test_flag_crud_archive_restore_and_audit(live, http, fh):
    base = f"{live.url}/v1/flags"
    _, flag = await _post(
        http,
        base,
        fh,
        {
            "name": "new-checkout",
            "description": "v2 checkout",
            "environments": {"default": _env(strategies=[_rollout(30)])},
            "metadata": {"owner": "payments"},
        },
        201,
    )
    assert (
        flag["version"] == 1
        and flag["archived"] is False
        and flag["updated_by"].startswith("client:")
    )
    status, problem = await _post(http, base, fh, {"name": "new-checkout"})
    assert status == 409
    status, problem = await _post(
        http, base, fh, {"name": "x", "environments": {"default": _env(strategies=[_rollout(101)])}}
    )
    assert status == 400
    assert problem["errors"][0]["path"] == "$.environments.default.strategies[0].parameters.rollout"
    bad_op = {"name": "default", "constraints": [{"contextName": "a", "operator": "LIKE"}]}
    status, problem = await _post(
        http, base, fh, {"name": "x", "environments": {"default": _env(strategies=[bad_op])}}
    )
    assert status == 400
    assert problem["errors"][0]["path"] == (
        "$.environments.default.strategies[0].constraints[0].operator"
    )
    status, problem = await _post(http, base, fh, {"name": "a/b"})
    assert status == 400 and problem["errors"][0]["path"] == "$.name"
    status, problem = await _post(http, base, fh, {"name": "x", "rollout_pct": 5})
    assert status == 400  # the old model's fields are refused, not ignored
    async with http.put(
        f"{base}/new-checkout/environments/default",
        headers=fh,
        json={"strategies": [_rollout(50)], "expected_version": 1},
    ) as resp:
        assert resp.status == 200 and (await resp.json())["version"] == 2
    async with http.put(
        f"{base}/new-checkout/environments/default",
        headers={**fh, "If-Match": '"1"'},
        json={"enabled": False},
    ) as resp:
        assert resp.status == 412  # stale version
    async with http.delete(f"{base}/new-checkout", headers=fh) as resp:
        assert resp.status == 204
    async with http.get(base, headers=fh) as resp:
        assert "new-checkout" not in [f["name"] for f in (await resp.json())["items"]]
    async with http.get(f"{base}?include_archived=true", headers=fh) as resp:
        assert [
            f["archived"] for f in (await resp.json())["items"] if f["name"] == "new-checkout"
        ] == [True]
    await _post(http, f"{base}/new-checkout/restore", fh, None, 200)
    async with http.get(f"{base}/new-checkout/audit", headers=fh) as resp:
        trail = await resp.json()
    assert [e["action"] for e in trail["items"]] == ["restore", "archive", "update", "create"]
    upd = trail["items"][2]
    before = upd["before"]["environments"]["default"]["strategies"][0]["parameters"]["rollout"]
    after = upd["after"]["environments"]["default"]["strategies"][0]["parameters"]["rollout"]
    assert (before, after) == ("30", "50")
    assert upd["actor"].startswith("client:") and upd["at"]


async def test_evaluation_reasons_variants_and_environments(live, http, fh):
    base = f"{live.url}/v1/flags"
    flags = {
        "off": {"default": _env(False)},
        "on": {"default": _env()},
        "half": {"default": _env(strategies=[_rollout(50)])},
        "vip": {
            "default": _env(
                strategies=[
                    {"name": "userWithId", "parameters": {"userIds": "alice, bob"}},
                    {
                        "name": "default",
                        "constraints": [
                            {"contextName": "plan", "operator": "IN", "values": ["gold"]}
                        ],
                    },
                ]
            )
        },
        "colour": {
            "default": _env(
                variants=[
                    {
                        "name": "red",
                        "weight": 250,
                        "payload": {"type": "json", "value": '{"hex": "#f00"}'},
                    },
                    {"name": "blue", "weight": 750, "stickiness": "userId"},
                ]
            )
        },
        "prod-only": {"default": _env(False), "prod": _env()},
    }
    for name, envs in flags.items():
        await _post(http, base, fh, {"name": name, "environments": envs}, 201)

    r = await _evaluate(http, live, fh, {"userId": "carol", "environment": "prod"})
    assert (r["off"]["enabled"], r["off"]["value"], r["off"]["reason"]) == (
        False,
        False,
        "DISABLED",
    )
    assert r["off"]["variant"] == "disabled"
    assert (r["on"]["value"], r["on"]["reason"]) == (True, "STATIC")
    assert r["half"]["reason"] == ("SPLIT" if r["half"]["enabled"] else "DEFAULT")
    assert (r["vip"]["value"], r["vip"]["reason"]) == (False, "DEFAULT")
    assert r["colour"]["variant"] in ("red", "blue") and r["colour"]["reason"] == "SPLIT"
    if r["colour"]["variant"] == "red":
        assert r["colour"]["value"] == {"hex": "#f00"}
        assert r["colour"]["payload"] == {"type": "json", "value": '{"hex": "#f00"}'}
    else:
        assert r["colour"]["value"] == "blue" and "payload" not in r["colour"]
    # context.environment is a context field, never the flag environment
    assert r["prod-only"]["enabled"] is False
    r = await _evaluate(http, live, fh, {"userId": "carol"}, environment="prod")
    assert r["prod-only"]["enabled"] is True and r["off"]["reason"] == "DISABLED"
    r = await _evaluate(http, live, fh, {"targetingKey": "alice"})  # OFREP's key is userId
    assert (r["vip"]["value"], r["vip"]["reason"]) == (True, "TARGETING_MATCH")
    r = await _evaluate(http, live, fh, {"userId": "dan", "properties": {"plan": "gold"}})
    assert r["vip"]["reason"] == "TARGETING_MATCH"
    r = await _evaluate(http, live, fh, {"userId": "dan", "plan": "gold"})  # a property too
    assert r["vip"]["enabled"] is True
    # Variant choice is sticky per user and follows the weights.
    counts = {"red": 0, "blue": 0}
    for i in range(400):
        first = (await _evaluate(http, live, fh, {"userId": f"u{i}"}))["colour"]["variant"]
        counts[first] += 1
        if i % 50 == 0:
            again = (await _evaluate(http, live, fh, {"userId": f"u{i}"}))["colour"]["variant"]
            assert again == first
    assert 60 <= counts["red"] <= 140 and counts["red"] + counts["blue"] == 400
    status, problem = await _post(
        http, f"{base}/evaluate", fh, {"context": {"properties": {"a": {"nested": 1}}}}
    )
    assert status == 400 and problem["errors"][0]["path"].startswith("$.context.properties")


async def test_rollout_distribution_25_percent(live, http, fh):
    envs = {"default": _env(strategies=[_rollout(25)])}
    await _post(http, f"{live.url}/v1/flags", fh, {"name": "quarter", "environments": envs}, 201)
    snap = live.app[FLAGS].snapshot("default")
    on = 0
    for i in range(10_000):
        body = orjson.dumps({"context": {"userId": f"user-{i}"}})
        on += orjson.loads(snap.flagset.evaluate_one("quarter", body))["enabled"]
    assert abs(on / 10_000 - 0.25) <= 0.015


async def test_etag_and_304(live, http, fh):
    await _post(
        http, f"{live.url}/v1/flags", fh, {"name": "e1", "environments": {"default": _env()}}, 201
    )
    url = f"{live.url}/v1/flags/evaluate"
    body = {"context": {"userId": "u1"}}
    async with http.post(url, headers=fh, json=body) as resp:
        etag = resp.headers["ETag"]
    async with http.post(url, headers={**fh, "If-None-Match": etag}, json=body) as resp:
        assert resp.status == 304
    async with http.post(
        url, headers={**fh, "If-None-Match": etag}, json={"context": {"userId": "u2"}}
    ) as resp:
        assert resp.status == 200  # another context, another ETag
    async with http.put(
        f"{live.url}/v1/flags/e1/environments/default", headers=fh, json={"enabled": False}
    ) as resp:
        assert resp.status == 200
    async with http.post(url, headers={**fh, "If-None-Match": etag}, json=body) as resp:
        assert resp.status == 200 and resp.headers["ETag"] != etag  # a change invalidates it


async def test_ofrep_paths(live, http, fh):
    envs = {"default": _env(), "prod": _env(False)}
    await _post(http, f"{live.url}/v1/flags", fh, {"name": "ofrep-flag", "environments": envs}, 201)
    _, body = await _post(
        http,
        f"{live.url}/ofrep/v1/evaluate/flags/ofrep-flag",
        fh,
        {"context": {"targetingKey": "x"}},
        200,
    )
    assert (body["key"], body["value"], body["reason"]) == ("ofrep-flag", True, "STATIC")
    _, body = await _post(
        http, f"{live.url}/ofrep/v1/evaluate/flags/ofrep-flag?environment=prod", fh, {}, 200
    )
    assert (body["value"], body["reason"]) == (False, "DISABLED")
    status, body = await _post(
        http, f"{live.url}/ofrep/v1/evaluate/flags/missing", fh, {"context": {}}
    )
    assert status == 404 and body["errorCode"] == "FLAG_NOT_FOUND"
    _, bulk = await _post(http, f"{live.url}/ofrep/v1/evaluate/flags", fh, {"context": {}}, 200)
    assert [f["key"] for f in bulk["flags"]] == ["ofrep-flag"]


async def test_import_is_atomic_and_yaml_works(live, http, fh):
    url = f"{live.url}/v1/flags/import"
    _, res = await _post(
        http, url, fh, [{"name": "i1", "environments": {"default": _env()}}, {"name": "i2"}], 200
    )
    assert res == {"created": 2, "updated": 0, "unchanged": 0}
    bad = {"name": "i1", "environments": {"default": _env(strategies=[_rollout(500)])}}
    status, problem = await _post(http, url, fh, [{"name": "i3"}, bad])
    assert status == 400
    assert (
        problem["errors"][0]["path"] == "$[1].environments.default.strategies[0].parameters.rollout"
    )
    async with http.get(f"{live.url}/v1/flags/i3", headers=fh) as resp:
        assert resp.status == 404  # nothing of the failed import was written
    yaml_doc = (
        "flags:\n  - name: i1\n    environments: {default: {enabled: false}}\n"
        "  - name: i2\n  - name: i4\n"
    )
    async with http.post(
        url, headers={**fh, "Content-Type": "application/yaml"}, data=yaml_doc
    ) as resp:
        assert resp.status == 200
        assert await resp.json() == {"created": 1, "updated": 1, "unchanged": 1}


UNLEASH_DOC = {
    "version": 2,
    "features": [
        {
            "name": "Feature.Ø",
            "description": "UTF-8 name",
            "type": "experiment",
            "project": "default",
            "enabled": True,
            "stale": False,
            "impressionData": True,
            "strategies": [
                {
                    "id": "b1f1-not-kept",
                    "name": "flexibleRollout",
                    "parameters": {"rollout": "100", "stickiness": "default", "groupId": "g"},
                    "constraints": [
                        {
                            "contextName": "appName",
                            "operator": "IN",
                            "values": ["web"],
                            "inverted": False,
                            "caseInsensitive": False,
                        }
                    ],
                    "segments": [7],
                    "variants": [
                        {
                            "name": "s1",
                            "weight": 1000,
                            "weightType": "variable",
                            "stickiness": "default",
                            "payload": {"type": "number", "value": "42"},
                        }
                    ],
                }
            ],
            "variants": [],
            "dependencies": [],
        },
        {
            "name": "child",
            "enabled": True,
            "strategies": [],
            "dependencies": [{"feature": "Feature.Ø", "enabled": True}],
        },
    ],
    "segments": [
        {
            "id": 7,
            "name": "beta",
            "constraints": [{"contextName": "region", "operator": "IN", "values": ["eu"]}],
        }
    ],
}


async def test_unleash_import_export_round_trip(live, http, fh):
    url = f"{live.url}/v1/flags/import?format=unleash&environment=staging&mode=replace"
    _, res = await _post(http, url, fh, UNLEASH_DOC, 200)
    assert (res["created"], res["segments"]) == (2, 1)
    async with http.get(
        f"{live.url}/v1/flags/export?format=unleash&environment=staging", headers=fh
    ) as resp:
        exported = await resp.json()
    assert exported["segments"] == [
        {
            **seg,
            "constraints": [
                {**c, "inverted": False, "caseInsensitive": False} for c in seg["constraints"]
            ],
        }
        for seg in UNLEASH_DOC["segments"]
    ]
    got = {f["name"]: f for f in exported["features"]}
    strategy = dict(UNLEASH_DOC["features"][0]["strategies"][0])
    del strategy["id"]  # Unleash's strategy ids are not kept
    assert got["Feature.Ø"]["strategies"] == [strategy]
    assert got["Feature.Ø"]["impressionData"] is True and got["Feature.Ø"]["type"] == "experiment"
    assert got["child"]["dependencies"] == [{"feature": "Feature.Ø", "enabled": True}]
    # Importing the export again changes nothing.
    _, res = await _post(http, url, fh, exported, 200)
    assert (res["created"], res["updated"], res["unchanged"]) == (0, 0, 2)
    ctx = {"appName": "web", "properties": {"region": "eu"}}
    r = await _evaluate(http, live, fh, ctx, environment="staging")
    assert (r["Feature.Ø"]["variant"], r["Feature.Ø"]["value"]) == ("s1", 42)
    assert r["child"]["enabled"] is True
    r = await _evaluate(http, live, fh, {**ctx, "properties": {"region": "us"}}, "staging")
    assert r["Feature.Ø"]["enabled"] is False and r["child"]["reason"] == "DISABLED"
    # The flag exists once, with the imported environment; "default" is untouched.
    r = await _evaluate(http, live, fh, ctx)
    assert r["Feature.Ø"]["enabled"] is False
    # merge keeps what the document lacks; replace takes it out of the environment.
    one = {**UNLEASH_DOC, "features": UNLEASH_DOC["features"][:1]}
    merge = url.replace("mode=replace", "mode=merge")
    _, res = await _post(http, merge, fh, one, 200)
    assert res.get("removed", 0) == 0
    _, res = await _post(http, url, fh, one, 200)
    assert res["removed"] == 1
    async with http.get(f"{live.url}/v1/flags/child", headers=fh) as resp:
        assert "staging" not in (await resp.json())["environments"]
    status, problem = await _post(
        http,
        url,
        fh,
        {"features": [{"name": "n", "enabled": True, "variants": [{"name": "a", "weight": 0}]}]},
    )
    assert (
        status == 400
        and problem["errors"][0]["path"] == "$.features[0].environments.staging.variants"
    )
    status, problem = await _post(http, url.replace("unleash", "other"), fh, UNLEASH_DOC)
    assert status == 400 and problem["errors"][0]["path"] == "query.format"


async def test_segments_api(live, http, fh):
    base = f"{live.url}/v1/segments"
    _, seg = await _post(
        http,
        base,
        fh,
        {
            "name": "adults",
            "constraints": [{"contextName": "age", "operator": "NUM_GTE", "value": "18"}],
        },
        201,
    )
    status, problem = await _post(
        http,
        base,
        fh,
        {
            "name": "bad",
            "constraints": [{"contextName": "age", "operator": "NUM_GT", "value": "x"}],
        },
    )
    assert status == 400 and problem["errors"][0]["path"] == "$.constraints[0].value"
    strategy = {"name": "default", "segments": [seg["id"]]}
    await _post(
        http,
        f"{live.url}/v1/flags",
        fh,
        {"name": "grown-up", "environments": {"default": _env(strategies=[strategy])}},
        201,
    )
    missing = {"name": "default", "segments": [9999]}
    status, problem = await _post(
        http,
        f"{live.url}/v1/flags",
        fh,
        {"name": "m", "environments": {"default": _env(strategies=[missing])}},
    )
    assert status == 400 and problem["errors"][0]["path"].endswith("segments[0]")
    r = await _evaluate(http, live, fh, {"properties": {"age": "20"}})
    assert r["grown-up"]["enabled"] is True
    async with http.put(
        f"{base}/{seg['id']}",
        headers=fh,
        json={
            "name": "adults",
            "constraints": [{"contextName": "age", "operator": "NUM_GTE", "value": "21"}],
        },
    ) as resp:
        assert resp.status == 200
    r = await _evaluate(http, live, fh, {"properties": {"age": "20"}})
    assert r["grown-up"]["enabled"] is False  # the segment's change reached the evaluator
    async with http.delete(f"{base}/{seg['id']}", headers=fh) as resp:
        assert resp.status == 409 and "grown-up" in (await resp.json())["detail"]


async def test_toggle_all(live, http, fh):
    for n in ("t1", "t2", "t3"):
        envs = {"default": _env(n != "t3")}
        await _post(http, f"{live.url}/v1/flags", fh, {"name": n, "environments": envs}, 201)
    _, res = await _post(http, f"{live.url}/v1/flags/toggle-all", fh, {"enabled": False}, 200)
    assert res == {"changed": 2}
    _, res = await _post(
        http, f"{live.url}/v1/flags/toggle-all", fh, {"enabled": True, "environment": "prod"}, 200
    )
    assert res == {"changed": 3}
    r = await _evaluate(http, live, fh, {}, environment="prod")
    assert all(f["value"] is True for f in r.values())
    r = await _evaluate(http, live, fh, {})
    assert all(f["value"] is False for f in r.values())


async def _read_events(resp, n):
    events, current = [], {}
    async with asyncio.timeout(5.0):
        async for raw in resp.content:
            line = raw.decode().rstrip("\n")
            if not line:
                if current.get("event") == "flag":
                    events.append(current)
                    if len(events) >= n:
                        return events
                current = {}
            elif not line.startswith(":"):
                k, _, v = line.partition(": ")
                current[k] = v
    return events


async def _read_until_update(resp):
    """The first update event: the second worker may still relay the create (revision 1) it
    heard of over NOTIFY just after the stream opened — an earlier event, delivered late."""
    while True:
        (event,) = await _read_events(resp, 1)
        if '"action":"create"' not in event["data"]:
            return event


async def test_sse_delivers_a_toggle_to_subscribers_on_two_workers(
    live, http, fh, settings, aiohttp_server
):
    other = await aiohttp_server(create_app(live.settings))  # a second worker, same database
    envs = {"default": _env(False)}
    await _post(http, f"{live.url}/v1/flags", fh, {"name": "live-flag", "environments": envs}, 201)
    urls = [f"{live.url}/v1/flags/stream", f"http://127.0.0.1:{other.port}/v1/flags/stream"]
    streams = [
        await http.get(u, headers=fh, timeout=aiohttp.ClientTimeout(total=None)) for u in urls
    ]
    try:
        for s in streams:
            assert s.status == 200 and s.headers["Content-Type"] == "text/event-stream"
            hello = (await s.content.readuntil(b"\n\n")).decode()
            assert "event: hello" in hello
        async with http.put(
            f"{live.url}/v1/flags/live-flag/environments/default",
            headers=fh,
            json={"enabled": True},
        ) as resp:
            assert resp.status == 200
        got = await asyncio.gather(*(_read_until_update(s) for s in streams))
        for event in got:
            assert '"flag":"live-flag"' in event["data"] and '"enabled":true' in event["data"]
        revision = int(got[0]["id"])
        assert revision == int(got[1]["id"])
    finally:
        for s in streams:
            s.close()
    # Resume from an earlier revision: the missed change is replayed from the log.
    async with http.get(urls[1], headers={**fh, "Last-Event-ID": str(revision - 1)}) as resp:
        await resp.content.readuntil(b"\n\n")
        replayed = await _read_events(resp, 1)
        assert replayed[0]["id"] == str(revision)
    n = await live.app[DB].fetchval("SELECT count(*) FROM audit_log WHERE action LIKE 'flag.%'")
    assert n == 2


@pytest.fixture
async def served(settings):
    """The app run as ``hearth serve`` runs it (``web.run_app``): a client that leaves does not
    cancel its handler — the handler finds out when its next write fails. (The test server
    cancels handlers instead, which would hide that write.)"""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    s = settings.replace(issuer=url)
    runner = web.AppRunner(create_app(s))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield Live(url=url, app=runner.app, settings=s)
    finally:
        await runner.cleanup()


async def test_a_client_leaving_the_stream_is_not_logged_as_an_error(served, http, caplog):
    caplog.set_level(logging.DEBUG)
    headers = await service_token(served, http, ["flag.read", "flag.write"])
    changes = served.app[FLAGS].changes
    stream = await http.get(
        f"{served.url}/v1/flags/stream",
        headers=headers,
        timeout=aiohttp.ClientTimeout(total=None),
    )
    assert "event: hello" in (await stream.content.readuntil(b"\n\n")).decode()
    assert changes.subscribers() == 1
    stream.close()  # the client goes away
    await asyncio.sleep(0.2)
    assert changes.subscribers() == 1  # still waiting: nothing written since
    # The handler finds out on its next write: give it a change to send.
    await _post(http, f"{served.url}/v1/flags", headers, {"name": "after-leaving"}, 201)
    for _ in range(100):  # the handler ends once that write fails
        if not changes.subscribers():
            break
        await asyncio.sleep(0.05)
    assert changes.subscribers() == 0
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert any(
        r.name == "hearth.sse" and r.levelno == logging.DEBUG and "went away" in r.getMessage()
        for r in caplog.records
    )
