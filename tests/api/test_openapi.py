"""The OpenAPI document is generated from the declared endpoints."""

from __future__ import annotations

import msgspec
from aiohttp import web

from api.app import create_app
from api.routing import Routes


class Widget(msgspec.Struct, kw_only=True):
    name: str
    size: int = 1


class WidgetQuery(msgspec.Struct, kw_only=True):
    limit: int = 50
    q: str | None = None


async def test_document_lists_builtin_routes(client):
    resp = await client.get("/openapi.json")
    assert resp.status == 200
    doc = await resp.json()
    assert doc["openapi"] == "3.1.0"
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        assert path in doc["paths"], path
    assert doc["paths"]["/readyz"]["get"]["x-scope"] == "public"
    assert "503" in doc["paths"]["/readyz"]["get"]["responses"]
    assert "Problem" in doc["components"]["schemas"]


async def test_a_new_route_appears_by_itself(settings, aiohttp_client):
    extra = Routes("widgets")

    @extra.post(
        "/v1/widgets/{widget_id}",
        scope="flag.write",
        summary="make",
        body=Widget,
        query=WidgetQuery,
        response=Widget,
        status=201,
    )
    async def make_widget(request: web.Request) -> web.Response:
        return web.Response()

    client = await aiohttp_client(create_app(settings, extra=extra.endpoints))
    doc = await (await client.get("/openapi.json")).json()
    op = doc["paths"]["/v1/widgets/{widget_id}"]["post"]
    assert op["x-scope"] == "flag.write"
    assert op["security"][0] == {"oauth2": ["flag.write"]}
    assert op["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Widget"
    }
    assert doc["components"]["schemas"]["Widget"]["required"] == ["name"]
    assert "201" in op["responses"] and "401" in op["responses"] and "403" in op["responses"]
    params = {p["name"]: p for p in op["parameters"]}
    assert params["widget_id"]["in"] == "path" and params["widget_id"]["required"]
    assert params["limit"]["in"] == "query" and not params["limit"]["required"]


async def test_protocol_routes_document_their_token_spellings_and_error_format(client):
    doc = await (await client.get("/openapi.json")).json()
    v1 = doc["paths"]["/write"]["post"]
    schemes = [next(iter(s)) for s in v1["security"]]
    assert schemes == ["oauth2", "influxToken", "bearer", "basic", "tokenQuery"]
    assert "content" not in v1["responses"]["401"]  # not problem+json: InfluxDB's shape
    rw = doc["paths"]["/api/v1/write"]["post"]
    assert [next(iter(s)) for s in rw["security"]] == ["oauth2", "bearer"]
    bulk = doc["paths"]["/v1/metrics/bulk"]["post"]
    assert "application/problem+json" in bulk["responses"]["401"]["content"]
    for name in ("influxToken", "basic", "tokenQuery"):
        assert name in doc["components"]["securitySchemes"]
