"""Input limits, CORS allow-list and response hardening."""

from __future__ import annotations

import io

import pytest

from api.app import create_app
from tests.fixtures import service_token

PROBLEM = "application/problem+json"


async def test_body_over_the_route_limit_is_413(live, http):
    h = await service_token(live, http, ["flag.write"])
    big = io.BytesIO(b'{"name": "big", "metadata": {"blob": "' + b"x" * (1 << 20) + b'"}}')
    async with http.post(
        f"{live.url}/v1/flags", headers={**h, "Content-Type": "application/json"}, data=big
    ) as resp:
        assert resp.status == 413 and resp.content_type == PROBLEM


async def test_json_nested_too_deep_is_400(live, http):
    h = await service_token(live, http, ["flag.write"])
    deep = b'{"name": "deep", "metadata": {"a": ' + b"[" * 200 + b"]" * 200 + b"}}"
    async with http.post(
        f"{live.url}/v1/flags", headers={**h, "Content-Type": "application/json"}, data=deep
    ) as resp:
        assert resp.status == 400
        assert "deeper" in (await resp.json(content_type=PROBLEM))["detail"]
    fine = (
        b'{"name": "shallow", "metadata": {"a": ' + b"[" * 30 + b"]" * 30 + b', "s": "[[[[[[[["}}'
    )
    async with http.post(
        f"{live.url}/v1/flags", headers={**h, "Content-Type": "application/json"}, data=fine
    ) as resp:
        assert resp.status == 201


async def test_oversized_header_is_refused(live, http):
    async with http.get(f"{live.url}/healthz", headers={"X-Big": "x" * 20000}) as resp:
        assert resp.status in (400, 431)


async def test_every_response_is_nosniff(live, http):
    for path in ("/healthz", "/nope", "/openapi.json"):
        async with http.get(f"{live.url}{path}") as resp:
            assert resp.headers["X-Content-Type-Options"] == "nosniff"


@pytest.fixture
async def cors_live(settings, aiohttp_server):
    s = settings.replace(cors_origins="https://app.example, https://admin.example")
    server = await aiohttp_server(create_app(s))
    return f"http://127.0.0.1:{server.port}"


async def test_cors_allow_list(cors_live, http):
    pre = {
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    async with http.options(f"{cors_live}/v1/flags", headers=pre) as resp:
        assert resp.status == 204
        assert resp.headers["Access-Control-Allow-Origin"] == "https://app.example"
        assert "Authorization" in resp.headers["Access-Control-Allow-Headers"]
    async with http.options(
        f"{cors_live}/v1/flags", headers={**pre, "Origin": "https://evil.example"}
    ) as resp:
        assert resp.status == 403 and "Access-Control-Allow-Origin" not in resp.headers
    async with http.get(
        f"{cors_live}/healthz", headers={"Origin": "https://admin.example"}
    ) as resp:
        assert resp.headers["Access-Control-Allow-Origin"] == "https://admin.example"
        assert "X-Request-ID" in resp.headers["Access-Control-Expose-Headers"]
    async with http.get(f"{cors_live}/healthz", headers={"Origin": "https://evil.example"}) as resp:
        assert "Access-Control-Allow-Origin" not in resp.headers


async def test_cors_and_request_id_reach_errors_and_streams(cors_live, live, http):
    """The one middleware stamps every answer: an allowed origin reads a 401's problem (and
    its request id); a stream, which sends its headers itself, carries its request id too."""
    origin = {"Origin": "https://app.example"}
    async with http.get(f"{cors_live}/v1/flags", headers=origin) as resp:
        assert resp.status == 401
        assert resp.headers["Access-Control-Allow-Origin"] == "https://app.example"
        body = await resp.json(content_type=PROBLEM)
        assert body["request_id"] == resp.headers["X-Request-ID"]
    h = await service_token(live, http, ["flag.read"])
    rid = {"X-Request-ID": "stream-1"}
    async with http.get(f"{live.url}/v1/flags/stream", headers={**h, **rid}) as resp:
        assert resp.status == 200
        assert resp.headers["X-Request-ID"] == "stream-1"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
