"""Feature flags: CRUD, evaluation (OFREP shape, ETag), rollout distribution, SSE across workers."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
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


async def test_flag_crud_archive_restore_and_audit(live, http, fh):
    base = f"{live.url}/v1/flags"
    _, flag = await _post(
        http,
        base,
        fh,
        {
            "name": "new-checkout",
            "description": "v2 checkout",
            "enabled": True,
            "rollout_pct": 30,
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
    status, problem = await _post(http, base, fh, {"name": "x", "rollout_pct": 101})
    assert status == 400 and problem["errors"][0]["path"] == "$.rollout_pct"
    status, problem = await _post(http, base, fh, {"name": "bad name!"})
    assert status == 400 and problem["errors"][0]["path"] == "$.name"
    async with http.put(
        f"{base}/new-checkout", headers=fh, json={"rollout_pct": 50, "expected_version": 1}
    ) as resp:
        assert resp.status == 200 and (await resp.json())["version"] == 2
    async with http.put(
        f"{base}/new-checkout", headers={**fh, "If-Match": '"1"'}, json={"enabled": False}
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
    assert upd["before"]["rollout_pct"] == 30 and upd["after"]["rollout_pct"] == 50
    assert upd["actor"].startswith("client:") and upd["at"]


async def test_evaluation_reasons_variants_and_environments(live, http, fh):
    base = f"{live.url}/v1/flags"
    await _post(http, base, fh, {"name": "off", "enabled": False}, 201)
    await _post(http, base, fh, {"name": "on", "enabled": True}, 201)
    await _post(http, base, fh, {"name": "half", "enabled": True, "rollout_pct": 50}, 201)
    await _post(
        http,
        base,
        fh,
        {
            "name": "vip",
            "enabled": True,
            "rollout_pct": 0,
            "targeting": {
                "user_ids": ["alice"],
                "rules": [{"attribute": "plan", "op": "in", "values": ["gold"]}],
            },
        },
        201,
    )
    await _post(
        http,
        base,
        fh,
        {
            "name": "colour",
            "enabled": True,
            "variants": [
                {"name": "red", "weight": 1, "value": "#f00"},
                {"name": "blue", "weight": 3},
            ],
        },
        201,
    )
    await _post(
        http,
        base,
        fh,
        {"name": "prod-only", "enabled": False, "environments": {"prod": {"enabled": True}}},
        201,
    )

    async def evaluate(context):
        _, body = await _post(http, f"{base}/evaluate", fh, {"context": context}, 200)
        return {f["key"]: f for f in body["flags"]}

    r = await evaluate({"targetingKey": "bob", "environment": "dev"})
    assert (r["off"]["value"], r["off"]["reason"]) == (False, "DISABLED")
    assert (r["on"]["value"], r["on"]["reason"]) == (True, "DEFAULT")
    assert r["half"]["reason"] == "ROLLOUT"
    from hearth_core._native import rollout_bucket

    assert r["half"]["value"] is (rollout_bucket("half", "bob") <= 50)
    assert (r["vip"]["value"], r["vip"]["reason"]) == (False, "ROLLOUT")
    assert r["colour"]["variant"] in ("red", "blue")
    assert r["colour"]["value"] == {"red": "#f00", "blue": "blue"}[r["colour"]["variant"]]
    assert r["prod-only"]["value"] is False
    r = await evaluate({"targetingKey": "alice"})
    assert (r["vip"]["value"], r["vip"]["reason"]) == (True, "TARGETED")
    r = await evaluate({"targetingKey": "carol", "plan": "gold", "environment": "prod"})
    assert r["vip"]["reason"] == "TARGETED" and r["prod-only"]["value"] is True
    # Variant choice is sticky per user and follows the weights.
    counts = {"red": 0, "blue": 0}
    for i in range(400):
        counts[(await evaluate({"targetingKey": f"u{i}"}))["colour"]["variant"]] += 1
    assert 60 <= counts["red"] <= 140 and counts["red"] + counts["blue"] == 400


async def test_rollout_distribution_25_percent(live, http, fh):
    await _post(
        http,
        f"{live.url}/v1/flags",
        fh,
        {"name": "quarter", "enabled": True, "rollout_pct": 25},
        201,
    )
    from hearth_core.flags.evaluate import EvalContext

    svc = live.app[FLAGS]
    on = sum(
        svc.evaluate_one("quarter", EvalContext(user_id=f"user-{i}")).value for i in range(10_000)
    )
    assert abs(on / 10_000 - 0.25) <= 0.015


async def test_etag_and_304(live, http, fh):
    await _post(http, f"{live.url}/v1/flags", fh, {"name": "e1", "enabled": True}, 201)
    url = f"{live.url}/v1/flags/evaluate"
    body = {"context": {"targetingKey": "u1"}}
    async with http.post(url, headers=fh, json=body) as resp:
        etag = resp.headers["ETag"]
    async with http.post(url, headers={**fh, "If-None-Match": etag}, json=body) as resp:
        assert resp.status == 304
    async with http.post(
        url, headers={**fh, "If-None-Match": etag}, json={"context": {"targetingKey": "u2"}}
    ) as resp:
        assert resp.status == 200  # another context, another ETag
    async with http.put(f"{live.url}/v1/flags/e1", headers=fh, json={"enabled": False}) as resp:
        assert resp.status == 200
    async with http.post(url, headers={**fh, "If-None-Match": etag}, json=body) as resp:
        assert resp.status == 200 and resp.headers["ETag"] != etag  # a change invalidates it


async def test_ofrep_paths(live, http, fh):
    await _post(http, f"{live.url}/v1/flags", fh, {"name": "ofrep-flag", "enabled": True}, 201)
    _, body = await _post(
        http,
        f"{live.url}/ofrep/v1/evaluate/flags/ofrep-flag",
        fh,
        {"context": {"targetingKey": "x"}},
        200,
    )
    assert body == {"key": "ofrep-flag", "value": True, "reason": "DEFAULT", "variant": "on"}
    status, body = await _post(
        http, f"{live.url}/ofrep/v1/evaluate/flags/missing", fh, {"context": {}}
    )
    assert status == 404 and body["errorCode"] == "FLAG_NOT_FOUND"


async def test_import_is_atomic_and_yaml_works(live, http, fh):
    url = f"{live.url}/v1/flags/import"
    _, res = await _post(http, url, fh, [{"name": "i1", "enabled": True}, {"name": "i2"}], 200)
    assert res == {"created": 2, "updated": 0, "unchanged": 0}
    status, problem = await _post(
        http, url, fh, [{"name": "i3"}, {"name": "i1", "rollout_pct": 500}]
    )
    assert status == 400 and problem["errors"][0]["path"] == "$[1].rollout_pct"
    async with http.get(f"{live.url}/v1/flags/i3", headers=fh) as resp:
        assert resp.status == 404  # nothing of the failed import was written
    yaml_doc = "flags:\n  - name: i1\n    enabled: false\n  - name: i2\n  - name: i4\n    rollout_pct: 10\n"
    async with http.post(
        url, headers={**fh, "Content-Type": "application/yaml"}, data=yaml_doc
    ) as resp:
        assert resp.status == 200
        assert await resp.json() == {"created": 1, "updated": 1, "unchanged": 1}


async def test_toggle_all(live, http, fh):
    for n in ("t1", "t2", "t3"):
        await _post(http, f"{live.url}/v1/flags", fh, {"name": n, "enabled": n != "t3"}, 201)
    _, res = await _post(http, f"{live.url}/v1/flags/toggle-all", fh, {"enabled": False}, 200)
    assert res == {"changed": 2}
    _, res = await _post(
        http, f"{live.url}/v1/flags/toggle-all", fh, {"enabled": True, "environment": "prod"}, 200
    )
    assert res == {"changed": 3}
    _, body = await _post(
        http, f"{live.url}/v1/flags/evaluate", fh, {"context": {"environment": "prod"}}, 200
    )
    assert all(f["value"] is True for f in body["flags"])


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
    await _post(http, f"{live.url}/v1/flags", fh, {"name": "live-flag", "enabled": False}, 201)
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
            f"{live.url}/v1/flags/live-flag", headers=fh, json={"enabled": True}
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
