"""Metric tenancy of clients: /v1/metrics/tenants (auth.admin). A bound client writes and reads
only its namespace, and in remote mode reaches the backend as its tenant id."""

from __future__ import annotations

import msgspec
from aiohttp import web

from api.jsonio import json_response, read_document
from api.keys import TENANTS
from api.principal import change_context
from api.routing import Routes
from hearth_core.tenancy.service import Tenant, TenantSpec

routes = Routes("tenants")


class TenantList(msgspec.Struct, kw_only=True):
    items: list[Tenant]
    total: int


_spec = msgspec.json.Decoder(TenantSpec)


@routes.get(
    "/v1/metrics/tenants",
    scope="auth.admin",
    summary="Every client's metrics namespace and backend tenant",
    response=TenantList,
)
async def list_tenants(request: web.Request) -> web.Response:
    items = await request.app[TENANTS].list()
    return json_response(TenantList(items=items, total=len(items)))


@routes.put(
    "/v1/metrics/tenants/{client_id}",
    scope="auth.admin",
    summary="Bind a client to a metrics namespace (and optionally a backend tenant id)",
    body=TenantSpec,
    response=Tenant,
)
async def put_tenant(request: web.Request) -> web.Response:
    spec = await read_document(request, _spec)
    tenant = await request.app[TENANTS].put(
        request.match_info["client_id"], spec, **change_context(request)
    )
    return json_response(tenant)


@routes.delete(
    "/v1/metrics/tenants/{client_id}",
    scope="auth.admin",
    summary="Unbind a client: it may write and read any namespace again",
    status=204,
)
async def delete_tenant(request: web.Request) -> web.Response:
    await request.app[TENANTS].remove(request.match_info["client_id"], **change_context(request))
    return web.Response(status=204)
