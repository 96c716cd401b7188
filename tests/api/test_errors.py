"""Problem+json for every client-visible error; request ids in and out."""

from __future__ import annotations

import logging

import msgspec
import pytest
from aiohttp import web

from api.app import create_app
from api.jsonio import json_response, read_document, read_query
from api.routing import Routes
from hearth_core.errors import Conflict
from hearth_core.scopes import PUBLIC

PROBLEM = "application/problem+json"
probe = Routes("probe")


class Item(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: str
    count: int


class Order(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    items: list[Item]


class Page(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    limit: int = 50


_order = msgspec.json.Decoder(Order)


@probe.get("/probe/boom", scope=PUBLIC, summary="raises")
async def boom(request: web.Request) -> web.Response:
    raise RuntimeError("secret internals: password=hunter2")


@probe.post("/probe/orders", scope=PUBLIC, summary="validates", body=Order)
async def orders(request: web.Request) -> web.Response:
    order = await read_document(request, _order)
    return json_response({"n": len(order.items)}, status=201)


@probe.get("/probe/page", scope=PUBLIC, summary="query", query=Page)
async def page(request: web.Request) -> web.Response:
    return json_response({"limit": read_query(request, Page).limit})


@probe.get("/probe/conflict", scope=PUBLIC, summary="domain error")
async def conflict(request: web.Request) -> web.Response:
    raise Conflict("version 3 is not current", errors=[{"path": "$.version", "message": "stale"}])


@pytest.fixture
async def probe_client(settings, aiohttp_client):
    return await aiohttp_client(create_app(settings, extra=probe.endpoints))


async def test_unknown_route_is_problem_404(client):
    resp = await client.get("/no/such/thing")
    assert resp.status == 404
    assert resp.content_type == PROBLEM
    body = await resp.json(content_type=PROBLEM)
    assert body["status"] == 404 and body["title"] == "Not Found"
    assert "/no/such/thing" in body["detail"]
    assert body["request_id"] == resp.headers["X-Request-ID"]


async def test_wrong_method_is_problem_405_with_allow(client):
    resp = await client.post("/healthz")
    assert resp.status == 405
    assert resp.content_type == PROBLEM
    assert "GET" in resp.headers["Allow"]


async def test_handler_exception_is_opaque_500_with_request_id(probe_client, caplog):
    caplog.set_level(logging.ERROR, logger="hearth.errors")
    resp = await probe_client.get("/probe/boom", headers={"X-Request-ID": "req-abc.123"})
    assert resp.status == 500
    assert resp.content_type == PROBLEM
    text = await resp.text()
    assert "hunter2" not in text and "RuntimeError" not in text and "Traceback" not in text
    body = msgspec.json.decode(text)
    assert set(body) == {"type", "title", "status", "detail", "request_id"}
    assert body["request_id"] == "req-abc.123" == resp.headers["X-Request-ID"]
    # ... while the server log keeps the whole story, tied to the same request id.
    logged = [r for r in caplog.records if r.name == "hearth.errors"]
    assert logged and logged[0].exc_info is not None


async def test_validation_error_names_the_field_path(probe_client):
    resp = await probe_client.post(
        "/probe/orders", json={"items": [{"name": "a", "count": 1}, {"name": "b", "count": "x"}]}
    )
    assert resp.status == 400
    body = await resp.json(content_type=PROBLEM)
    assert body["errors"][0]["path"] == "$.items[1].count"
    assert "int" in body["errors"][0]["message"]


async def test_unknown_field_is_rejected(probe_client):
    resp = await probe_client.post("/probe/orders", json={"items": [], "extra": 1})
    assert resp.status == 400
    body = await resp.json(content_type=PROBLEM)
    assert "extra" in body["errors"][0]["message"]


async def test_malformed_json_is_400(probe_client):
    resp = await probe_client.post(
        "/probe/orders", data=b'{"items": [', headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400
    body = await resp.json(content_type=PROBLEM)
    assert body["errors"][0]["path"] == "$"


async def test_query_validation_names_the_parameter(probe_client):
    ok = await probe_client.get("/probe/page?limit=7")
    assert (await ok.json()) == {"limit": 7}
    bad = await probe_client.get("/probe/page?limit=seven")
    assert bad.status == 400
    body = await bad.json(content_type=PROBLEM)
    assert body["errors"][0]["path"] == "query.limit"


async def test_service_error_keeps_status_and_errors(probe_client):
    resp = await probe_client.get("/probe/conflict")
    assert resp.status == 409
    body = await resp.json(content_type=PROBLEM)
    assert body["detail"] == "version 3 is not current"
    assert body["errors"] == [{"path": "$.version", "message": "stale"}]


async def test_request_id_is_generated_or_echoed(client):
    generated = await client.get("/healthz")
    assert len(generated.headers["X-Request-ID"]) == 32
    echoed = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["X-Request-ID"] == "abc-123"
    # Something that could smuggle log lines is replaced, not echoed.
    weird = await client.get("/healthz", headers={"X-Request-ID": "a b\tc"})
    assert weird.headers["X-Request-ID"] != "a b\tc"


def test_v1_route_without_scope_is_refused(settings):
    bad = Routes("bad")

    @bad.get("/v1/open", scope=PUBLIC, summary="oops")
    async def open_route(request: web.Request) -> web.Response:
        return web.Response()

    with pytest.raises(ValueError, match="must require a scope"):
        create_app(settings, extra=bad.endpoints)


def test_unknown_scope_is_refused():
    with pytest.raises(ValueError, match="unknown scope"):
        Routes("x").get("/v1/thing", scope="thing.everything", summary="?")
