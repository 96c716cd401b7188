"""Admin API for OAuth clients (scope auth.admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from aiohttp import web

from api.jsonio import json_response, read_document
from api.keys import IDENTITY
from api.principal import change_context
from api.routing import Routes
from hearth_core.identity.clients import Client

routes = Routes("clients")


class ClientSpec(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    grants: list[str]
    scopes: list[str] = []
    redirect_uris: list[str] = []
    confidential: bool = True


class ClientUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    grants: list[str]
    scopes: list[str] = []
    redirect_uris: list[str] = []


class ClientOut(msgspec.Struct, kw_only=True):
    client_id: str
    name: str
    confidential: bool
    grants: list[str]
    scopes: list[str]
    redirect_uris: list[str]
    created_at: datetime
    updated_at: datetime


class ClientCreated(ClientOut, kw_only=True):
    client_secret: str | None  # shown once


class ClientList(msgspec.Struct, kw_only=True):
    items: list[ClientOut]
    total: int


class SecretOut(msgspec.Struct, kw_only=True):
    client_id: str
    client_secret: str


_spec = msgspec.json.Decoder(ClientSpec)
_update = msgspec.json.Decoder(ClientUpdate)


def _out(client: Client) -> ClientOut:
    return msgspec.convert(client.public_view(), ClientOut)


@routes.get("/v1/clients", scope="auth.admin", summary="List OAuth clients", response=ClientList)
async def list_clients(request: web.Request) -> web.Response:
    items = [_out(c) for c in await request.app[IDENTITY].list_clients()]
    return json_response(ClientList(items=items, total=len(items)))


@routes.post(
    "/v1/clients",
    scope="auth.admin",
    summary="Register an OAuth client",
    body=ClientSpec,
    response=ClientCreated,
    status=201,
)
async def create_client(request: web.Request) -> web.Response:
    spec = await read_document(request, _spec)
    client, secret = await request.app[IDENTITY].create_client(
        **msgspec.structs.asdict(spec), **change_context(request)
    )
    body = ClientCreated(**msgspec.structs.asdict(_out(client)), client_secret=secret)
    return json_response(body, status=201, headers={"Cache-Control": "no-store"})


@routes.get(
    "/v1/clients/{client_id}", scope="auth.admin", summary="One OAuth client", response=ClientOut
)
async def get_client(request: web.Request) -> web.Response:
    return json_response(
        _out(await request.app[IDENTITY].get_client(request.match_info["client_id"]))
    )


@routes.put(
    "/v1/clients/{client_id}",
    scope="auth.admin",
    summary="Update an OAuth client",
    body=ClientUpdate,
    response=ClientOut,
)
async def update_client(request: web.Request) -> web.Response:
    spec = await read_document(request, _update)
    client = await request.app[IDENTITY].update_client(
        request.match_info["client_id"], **msgspec.structs.asdict(spec), **change_context(request)
    )
    return json_response(_out(client))


@routes.post(
    "/v1/clients/{client_id}/rotate-secret",
    scope="auth.admin",
    summary="Issue a new client secret (the old one stops working)",
    response=SecretOut,
)
async def rotate_secret(request: web.Request) -> web.Response:
    cid = request.match_info["client_id"]
    secret = await request.app[IDENTITY].rotate_client_secret(cid, **change_context(request))
    return json_response(
        SecretOut(client_id=cid, client_secret=secret), headers={"Cache-Control": "no-store"}
    )


@routes.delete(
    "/v1/clients/{client_id}",
    scope="auth.admin",
    summary="Delete a client; its tokens stop introspecting active",
    status=204,
)
async def delete_client(request: web.Request) -> web.Response:
    await request.app[IDENTITY].delete_client(
        request.match_info["client_id"], **change_context(request)
    )
    return web.Response(status=204)
