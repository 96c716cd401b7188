"""Unleash's SDK-facing APIs: API tokens (environment, type, revocation, hashed at rest), the
client API (features with ETag/304, register, metrics into the metrics store) and the frontend
API (query-string and body contexts, enrichment), plus the token CLI against a real server."""

from __future__ import annotations

import asyncio
import hashlib
import re
import signal
import sys
import time
from datetime import UTC, datetime, timedelta

import aiohttp
import orjson
import pytest

from api.keys import DB, UNLEASH_TOKENS
from api.unleash_auth import REQUIRED_MESSAGE, WRONG_TYPE_MESSAGE
from hearth_core.unleash.model import TokenSpec
from hearth_core.unleash.service import create_token, revoke_token
from tests.conftest import free_port, make_data_dir
from tests.fixtures import run_hearth, service_token

SECRET = re.compile(r"^\*:([a-z0-9][a-z0-9_-]*)\.[0-9a-f]{56}$")


@pytest.fixture
async def fh(live, http):
    return await service_token(live, http, ["flag.read", "flag.write", "metrics.read"])


def _env(enabled=True, strategies=(), variants=()):
    return {"enabled": enabled, "strategies": list(strategies), "variants": list(variants)}


async def _flag(http, live, fh, name, environments):
    async with http.post(
        f"{live.url}/v1/flags", headers=fh, json={"name": name, "environments": environments}
    ) as resp:
        assert resp.status == 201, await resp.text()


async def _token(http, live, fh, type_, environment, name=None):
    body = {"type": type_, "environment": environment, **({"name": name} if name else {})}
    async with http.post(f"{live.url}/v1/flag-tokens", headers=fh, json=body) as resp:
        assert resp.status == 201, await resp.text()
        assert resp.headers["Cache-Control"] == "no-store"
        return await resp.json()


def _auth(secret):
    return {"Authorization": secret}


async def _features(http, live, secret, headers=None):
    async with http.get(
        f"{live.url}/api/client/features", headers={**_auth(secret), **(headers or {})}
    ) as resp:
        body = await resp.json() if resp.status == 200 else await resp.read()
        return resp.status, resp.headers, body


async def test_tokens_bound_to_environment_and_type_hashed_and_revocable(live, http, fh):
    await _flag(http, live, fh, "everywhere", {"default": _env(), "production": _env()})
    await _flag(http, live, fh, "prod-only", {"production": _env()})
    backend = await _token(http, live, fh, "backend", "production", "api server")
    frontend = await _token(http, live, fh, "frontend", "production")
    dev = await _token(http, live, fh, "backend", "default")
    secret = backend["token"]
    assert SECRET.match(secret) and SECRET.match(secret).group(1) == "production"
    assert backend["type"] == "backend" and backend["environment"] == "production"
    assert backend["name"] == "api server" and frontend["name"] == "frontend token for production"
    assert backend["hint"] == secret[: len("*:production.") + 8] + "…"
    assert backend["created_by"].startswith("client:") and backend["revoked_at"] is None

    # Environment binding: each token reads its own environment's flags.
    status, headers, body = await _features(http, live, secret)
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert body["version"] == 2 and {f["name"] for f in body["features"]} == {
        "everywhere",
        "prod-only",
    }
    assert all(f["enabled"] for f in body["features"])
    status, _, body = await _features(http, live, dev["token"])
    prod_only = [f for f in body["features"] if f["name"] == "prod-only"]
    assert status == 200 and all(not f["enabled"] for f in prod_only)
    # Bearer spelling too.
    assert (await _features(http, live, f"Bearer {secret}"))[0] == 200

    # Type: a frontend token is refused on the client API, a backend one on the frontend API,
    # with Unleash's 403 message; nothing or a bad token is 401 with its message.
    status, _, raw = await _features(http, live, frontend["token"])
    assert status == 403 and orjson.loads(raw) == {"message": WRONG_TYPE_MESSAGE}
    async with http.get(f"{live.url}/api/frontend", headers=_auth(secret)) as resp:
        assert resp.status == 403 and (await resp.json())["message"] == WRONG_TYPE_MESSAGE
    async with http.get(f"{live.url}/api/client/features") as resp:
        assert resp.status == 401 and await resp.json() == {"message": REQUIRED_MESSAGE}
    tampered = secret[:-4] + ("0000" if not secret.endswith("0000") else "1111")
    assert (await _features(http, live, tampered))[0] == 401
    assert (await _features(http, live, "Bearer "))[0] == 401

    # Listed without secrets; only a SHA-256 of the secret is stored, nowhere the secret.
    async with http.get(f"{live.url}/v1/flag-tokens", headers=fh) as resp:
        listing = await resp.json()
    assert listing["total"] == 3 and secret not in orjson.dumps(listing).decode()
    assert {t["id"] for t in listing["items"]} == {backend["id"], frontend["id"], dev["id"]}
    async with live.app[DB].acquire() as conn:
        row = await conn.fetchrow(
            "SELECT to_jsonb(t) AS doc, secret_hash FROM flag_api_tokens t WHERE id = $1",
            backend["id"],
        )
        audit = await conn.fetch("SELECT to_jsonb(a)::text AS doc FROM audit_log a")
    assert bytes(row["secret_hash"]) == hashlib.sha256(secret.encode()).digest()
    assert secret.split(".")[1] not in str(row["doc"])
    assert any("flag_token.create" in a["doc"] for a in audit)
    assert not any(secret.split(".")[1] in a["doc"] for a in audit)

    # last_used_at is recorded (flushed in the background; here on demand).
    await live.app[UNLEASH_TOKENS].flush_usage()
    async with http.get(f"{live.url}/v1/flag-tokens", headers=fh) as resp:
        used = {t["id"]: t["last_used_at"] for t in (await resp.json())["items"]}
    assert used[backend["id"]] is not None and used[frontend["id"]] is not None

    # Revoked: refused at once; listed with its time; revoking again changes nothing.
    async with http.delete(f"{live.url}/v1/flag-tokens/{backend['id']}", headers=fh) as resp:
        assert resp.status == 204
    assert (await _features(http, live, secret))[0] == 401
    assert (await _features(http, live, dev["token"]))[0] == 200
    async with http.delete(f"{live.url}/v1/flag-tokens/{backend['id']}", headers=fh) as resp:
        assert resp.status == 204
    async with http.delete(f"{live.url}/v1/flag-tokens/not-a-uuid", headers=fh) as resp:
        assert resp.status == 404
    async with http.delete(
        f"{live.url}/v1/flag-tokens/00000000-0000-0000-0000-000000000000", headers=fh
    ) as resp:
        assert resp.status == 404
    async with http.get(f"{live.url}/v1/flag-tokens", headers=fh) as resp:
        revoked = {t["id"]: t["revoked_at"] for t in (await resp.json())["items"]}
    assert revoked[backend["id"]] is not None and revoked[dev["id"]] is None

    # Bad requests name the field; the admin routes need their scopes.
    async with http.post(
        f"{live.url}/v1/flag-tokens", headers=fh, json={"type": "admin", "environment": "x"}
    ) as resp:
        assert resp.status == 400 and (await resp.json())["errors"][0]["path"] == "$.type"
    async with http.post(
        f"{live.url}/v1/flag-tokens", headers=fh, json={"type": "backend", "environment": "A B"}
    ) as resp:
        assert resp.status == 400 and (await resp.json())["errors"][0]["path"] == "$.environment"
    reader = await service_token(live, http, ["flag.read"])
    async with http.post(
        f"{live.url}/v1/flag-tokens", headers=reader, json={"type": "backend", "environment": "x"}
    ) as resp:
        assert resp.status == 403


async def test_a_token_made_elsewhere_works_and_a_revocation_reaches_the_cache(live, http, fh):
    """A token created by another process (no NOTIFY heard yet) is found in the database; a
    revocation made elsewhere takes effect when its event arrives."""
    made = await create_token(
        live.app[DB], TokenSpec(type="backend", environment="default"), actor="t", request_id=None
    )
    assert (await _features(http, live, made.token))[0] == 200
    await revoke_token(live.app[DB], made.id, actor="t", request_id=None)
    for _ in range(100):  # the listener's NOTIFY, not this test, updates the cache
        if (await _features(http, live, made.token))[0] == 401:
            break
        await asyncio.sleep(0.05)
    assert (await _features(http, live, made.token))[0] == 401


async def test_client_features_etag_304(live, http, fh):
    await _flag(http, live, fh, "e1", {"default": _env()})
    secret = (await _token(http, live, fh, "backend", "default"))["token"]
    status, headers, body = await _features(http, live, secret)
    etag = headers["ETag"]
    assert (
        status == 200 and etag.startswith('"') and [f["name"] for f in body["features"]] == ["e1"]
    )
    status, headers, raw = await _features(http, live, secret, {"If-None-Match": etag})
    assert status == 304 and raw == b"" and headers["ETag"] == etag
    status, *_ = await _features(http, live, secret, {"If-None-Match": f'"x", W/{etag}'})
    assert status == 304
    async with http.put(
        f"{live.url}/v1/flags/e1/environments/default", headers=fh, json={"enabled": False}
    ) as resp:
        assert resp.status == 200
    status, headers, body = await _features(http, live, secret, {"If-None-Match": etag})
    assert status == 200 and headers["ETag"] != etag and body["features"][0]["enabled"] is False


async def test_register_upserts_the_instance(live, http, fh):
    secret = (await _token(http, live, fh, "backend", "staging"))["token"]
    reg = {
        "appName": "checkout",
        "instanceId": "pod-1",
        "sdkVersion": "unleash-client-node:5.0.0",
        "strategies": ["default", "flexibleRollout"],
        "started": "2024-05-01T12:00:00.000Z",
        "interval": 15000,
        "platformName": "node",  # fields Hearth does not know are ignored
    }
    url = f"{live.url}/api/client/register"
    for _ in range(2):
        async with http.post(url, headers=_auth(secret), json=reg) as resp:
            assert resp.status == 202
    async with live.app[DB].acquire() as conn:
        rows = await conn.fetch("SELECT * FROM flag_client_instances")
    assert len(rows) == 1
    row = rows[0]
    assert (row["app_name"], row["instance_id"], row["environment"]) == (
        "checkout",
        "pod-1",
        "staging",
    )
    assert row["sdk_version"] == "unleash-client-node:5.0.0" and row["interval_ms"] == 15000
    assert row["strategies"] == ["default", "flexibleRollout"]
    assert row["started"] == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert row["last_seen"] >= row["first_seen"]
    async with http.post(url, headers=_auth(secret), json={"instanceId": "x"}) as resp:
        assert resp.status == 400 and "$.appName" in (await resp.json())["message"]
    async with http.post(url, headers=_auth(secret), json={**reg, "started": "soon"}) as resp:
        assert resp.status == 400 and "$.started" in (await resp.json())["message"]


async def _query(http, live, fh, promql):
    async with http.get(f"{live.url}/api/v1/query", headers=fh, params={"query": promql}) as resp:
        body = await resp.json()
        assert resp.status == 200, body
        return {
            tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in body["data"]["result"]
        }


async def test_metrics_become_samples_of_the_metrics_store(live, http, fh):
    backend = (await _token(http, live, fh, "backend", "production"))["token"]
    frontend = (await _token(http, live, fh, "frontend", "production"))["token"]
    now = datetime.now(UTC)
    bucket = {
        "start": (now - timedelta(seconds=60)).isoformat(),
        "stop": now.isoformat(),
        "toggles": {
            "checkout-v2": {"yes": 30, "no": 12, "variants": {"red": 20, "blue": 10}},
            "Feature.Ø": {"yes": 0, "no": 5},
        },
    }
    body = {"appName": "web", "instanceId": "i1", "environment": "ignored", "bucket": bucket}
    async with http.post(
        f"{live.url}/api/client/metrics", headers=_auth(backend), json=body
    ) as resp:
        assert resp.status == 202, await resp.text()
    # The frontend API's metrics: Unleash answers 200; stored the same way.
    stop_ms = int(now.timestamp() * 1000) - 1000
    fbody = {
        "appName": "spa",
        "bucket": {
            "start": stop_ms - 5000,
            "stop": stop_ms,
            "toggles": {"checkout-v2": {"yes": 3, "no": 0}},
        },
    }
    async with http.post(
        f"{live.url}/api/frontend/client/metrics", headers=_auth(frontend), json=fbody
    ) as resp:
        assert resp.status == 200, await resp.text()

    got = await _query(http, live, fh, "sum_over_time(unleash_feature_evaluations[10m])")

    def key(**labels):
        return tuple(sorted(labels.items()))

    common = {"environment": "production"}  # sum_over_time drops the name
    assert got == {
        key(**common, app_name="web", feature="checkout-v2", result="yes"): 30.0,
        key(**common, app_name="web", feature="checkout-v2", result="no"): 12.0,
        key(**common, app_name="web", feature="Feature.Ø", result="yes"): 0.0,
        key(**common, app_name="web", feature="Feature.Ø", result="no"): 5.0,
        key(**common, app_name="spa", feature="checkout-v2", result="yes"): 3.0,
        key(**common, app_name="spa", feature="checkout-v2", result="no"): 0.0,
    }
    variants = await _query(
        http,
        live,
        fh,
        'sum by (variant) (sum_over_time(unleash_feature_variant_evaluations{feature="checkout-v2"}[10m]))',
    )
    assert variants == {(("variant", "red"),): 20.0, (("variant", "blue"),): 10.0}

    url = f"{live.url}/api/client/metrics"
    bad = {**body, "bucket": {**bucket, "toggles": {"x": {"yes": -1}}}}
    async with http.post(url, headers=_auth(backend), json=bad) as resp:
        assert resp.status == 400 and "$.bucket.toggles[...].yes" in (await resp.json())["message"]
    old = {**body, "bucket": {**bucket, "stop": "1999-01-01T00:00:00Z"}}
    async with http.post(url, headers=_auth(backend), json=old) as resp:
        assert resp.status == 400 and "$.bucket.stop" in (await resp.json())["message"]
    async with http.post(url, headers=_auth(backend), json={"appName": "web"}) as resp:
        assert resp.status == 400 and "bucket" in (await resp.json())["message"]
    async with http.post(
        url, headers=_auth(backend), json={"appName": "web", "bucket": None}
    ) as resp:
        assert resp.status == 202  # impact metrics only: nothing to store
    async with http.post(
        url, headers={**_auth(backend), "Content-Type": "application/json"}, data=b"{"
    ) as resp:
        assert resp.status == 400 and "message" in await resp.json()


async def test_frontend_api_contexts_and_enrichment(live, http, fh):
    def constraint(name, *values):
        return {"contextName": name, "operator": "IN", "values": list(values)}

    prod = {
        # Enabled only through the caller's address (the frontend API fills remoteAddress).
        "from-localhost": _env(
            strategies=[{"name": "remoteAddress", "parameters": {"IPs": "127.0.0.1"}}]
        ),
        # Needs a sessionId: one is made up when the context has none.
        "by-session": _env(
            strategies=[
                {
                    "name": "flexibleRollout",
                    "parameters": {"rollout": "100", "stickiness": "sessionId", "groupId": "g"},
                }
            ]
        ),
        "pro-users": _env(
            strategies=[{"name": "default", "constraints": [constraint("plan", "pro")]}]
        ),
        "gold-tier": _env(
            strategies=[{"name": "default", "constraints": [constraint("tier", "gold")]}]
        ),
        "alice": _env(strategies=[{"name": "userWithId", "parameters": {"userIds": "alice"}}]),
        "web-app": _env(
            strategies=[{"name": "default", "constraints": [constraint("appName", "web")]}]
        ),
        "colour": _env(
            strategies=[{"name": "default"}],
            variants=[
                {
                    "name": "red",
                    "weight": 1000,
                    "payload": {"type": "json", "value": '{"hex": "#f00"}'},
                }
            ],
        ),
        "off": _env(False),
    }
    for name, env in prod.items():
        await _flag(http, live, fh, name, {"production": env})
    secret = (await _token(http, live, fh, "frontend", "production"))["token"]
    url = f"{live.url}/api/frontend"

    async def get(params):
        async with http.get(url, headers=_auth(secret), params=params) as resp:
            assert resp.status == 200, await resp.text()
            assert resp.headers["Cache-Control"] == "no-cache"
            return {t["name"]: t for t in (await resp.json())["toggles"]}

    async def post(context):
        async with http.post(url, headers=_auth(secret), json={"context": context}) as resp:
            assert resp.status == 200, await resp.text()
            return {t["name"]: t for t in (await resp.json())["toggles"]}

    base = {"from-localhost", "by-session", "colour"}
    assert set(await get({})) == base
    got = await get(
        {"userId": "alice", "appName": "web", "plan": "pro", "properties[tier]": "gold"}
    )
    assert set(got) == base | {"alice", "web-app", "pro-users", "gold-tier"}
    assert got["colour"] == {
        "name": "colour",
        "enabled": True,
        "variant": {
            "name": "red",
            "enabled": True,
            "feature_enabled": True,
            "payload": {"type": "json", "value": '{"hex": "#f00"}'},
        },
        "impressionData": False,
    }
    assert got["alice"]["variant"] == {
        "name": "disabled",
        "enabled": False,
        "feature_enabled": True,
    }
    # properties[x] wins over a bare x; the caller's remoteAddress wins over the address.
    assert "gold-tier" not in await get({"tier": "gold", "properties[tier]": "silver"})
    assert "from-localhost" not in await get({"remoteAddress": "10.1.2.3"})
    assert set(await get({"userId": ""})) == base  # empty = absent
    # POST: the body's context; same enrichment.
    got = await post({"userId": "alice", "properties": {"plan": "pro"}, "tier": "gold"})
    assert set(got) == base | {"alice", "pro-users", "gold-tier"}
    assert "from-localhost" not in await post({"remoteAddress": "10.1.2.3"})
    async with http.post(url, headers=_auth(secret)) as resp:  # no body = empty context
        assert resp.status == 200 and len((await resp.json())["toggles"]) == len(base)
    async with http.post(
        url, headers=_auth(secret), json={"context": {"properties": {"a": {"b": 1}}}}
    ) as resp:
        assert resp.status == 400 and "$.context.properties" in (await resp.json())["message"]
    for bad in (b"[null, null]", b'"x"', b'{"context": 5}', b'{"context": {"userId": {}}}', b"{"):
        async with http.post(
            url, headers={**_auth(secret), "Content-Type": "application/json"}, data=bad
        ) as resp:
            assert resp.status == 400, (bad, await resp.text())
            assert (await resp.json())["message"].startswith("invalid context at $")
    # One flag.
    async with http.get(
        f"{url}/features/alice", headers=_auth(secret), params={"userId": "alice"}
    ) as r:
        assert r.status == 200 and (await r.json())["name"] == "alice"
    async with http.get(f"{url}/features/alice", headers=_auth(secret)) as resp:
        assert resp.status == 404 and "message" in await resp.json()
    async with http.post(
        f"{url}/client/register", headers=_auth(secret), json={"appName": "spa"}
    ) as resp:
        assert resp.status == 200


async def test_token_cli_against_a_running_server(settings, hearth_env, tmp_path):
    """``hearth flags token create|list|revoke`` beside a real ``hearth serve``: the secret
    works at once, is revoked across processes, and never reaches the server's log."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **hearth_env,
        "HEARTH_DATABASE_URL": settings.database_url,
        "HEARTH_REDIS_URL": settings.redis_url,
        "HEARTH_LOG_LEVEL": "DEBUG",
        "HEARTH_ISSUER": url,
        "HEARTH_DATA_DIR": str(make_data_dir("unleash-cli-")),
    }

    async def hearth(*args: str) -> str:
        rc, out, err = await run_hearth(env, *args)
        assert rc == 0, err
        return out

    log = tmp_path / "server.log"
    with open(log, "wb") as out:  # noqa: ASYNC230 - the child process writes it
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "api.cli",
            "serve",
            "--port",
            str(port),
            env=env,
            stdout=out,
            stderr=out,
        )
        try:
            async with aiohttp.ClientSession() as http:
                for _ in range(200):
                    try:
                        async with http.get(f"{url}/readyz") as r:
                            if r.status == 200:
                                break
                    except aiohttp.ClientConnectionError:
                        pass
                    await asyncio.sleep(0.1)
                made = orjson.loads(
                    await hearth(
                        "flags",
                        "token",
                        "create",
                        "--type",
                        "frontend",
                        "--environment",
                        "production",
                        "--name",
                        "spa",
                        "--json",
                    )
                )
                secret = made["token"]
                assert SECRET.match(secret) and made["type"] == "frontend"
                async with http.get(f"{url}/api/frontend", headers=_auth(secret)) as r:
                    assert r.status == 200 and await r.json() == {"toggles": []}
                listed = await hearth("flags", "token", "list")
                assert made["id"] in listed and made["hint"] in listed and secret not in listed
                await hearth("flags", "token", "revoke", made["id"])
                deadline = time.monotonic() + 5
                while True:
                    async with http.get(f"{url}/api/frontend", headers=_auth(secret)) as r:
                        if r.status == 401 or time.monotonic() > deadline:
                            break
                    await asyncio.sleep(0.05)
                assert r.status == 401
                listed_json = orjson.loads(await hearth("flags", "token", "list", "--json"))
                assert listed_json[0]["revoked_at"] is not None
        finally:
            proc.send_signal(signal.SIGTERM)
            await proc.wait()
    text = log.read_text(errors="replace")
    assert '"msg":"request"' in text
    assert secret.split(".")[1] not in text
