"""Roles and role assignments: /v1/roles, /v1/userroles (role.read / role.write)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import msgspec
from aiohttp import web

from api.jsonio import json_response, read_document, read_query
from api.keys import ROLES
from api.principal import change_context
from api.routing import Routes
from hearth_core.roles.model import Role
from hearth_core.roles.service import export_csv

routes = Routes("roles")

RoleName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class NewRole(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: RoleName
    description: Annotated[str, msgspec.Meta(max_length=500)] = ""
    scopes: list[str] = []


class RoleUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    description: Annotated[str, msgspec.Meta(max_length=500)] = ""
    scopes: list[str] = []


class RoleList(msgspec.Struct, kw_only=True):
    items: list[Role]
    total: int


class ExportQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    format: Literal["json", "csv"] = "json"


class ForceQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    force: bool = False


class UserRole(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    user_id: uuid.UUID
    role: RoleName


class Assigned(msgspec.Struct, kw_only=True):
    user_id: uuid.UUID
    role: str
    added: bool


_new = msgspec.json.Decoder(NewRole)
_update = msgspec.json.Decoder(RoleUpdate)
_user_role = msgspec.json.Decoder(UserRole)


@routes.get("/v1/roles", scope="role.read", summary="List roles", response=RoleList)
async def list_roles(request: web.Request) -> web.Response:
    items = await request.app[ROLES].list_roles()
    return json_response(RoleList(items=items, total=len(items)))


@routes.post(
    "/v1/roles",
    scope="role.write",
    summary="Create a role",
    body=NewRole,
    response=Role,
    status=201,
)
async def create_role(request: web.Request) -> web.Response:
    spec = await read_document(request, _new)
    role = await request.app[ROLES].create(
        **msgspec.structs.asdict(spec), **change_context(request)
    )
    return json_response(role, status=201)


@routes.get(
    "/v1/roles/export",
    scope="role.read",
    summary="Export roles as JSON or CSV",
    query=ExportQuery,
    content_types=("application/json", "text/csv"),
)
async def export_roles(request: web.Request) -> web.Response:
    q = read_query(request, ExportQuery)
    items = await request.app[ROLES].list_roles()
    disposition = {"Content-Disposition": f'attachment; filename="roles.{q.format}"'}
    if q.format == "csv":
        return web.Response(text=export_csv(items), content_type="text/csv", headers=disposition)
    return json_response(RoleList(items=items, total=len(items)), headers=disposition)


@routes.put(
    "/v1/roles/{name}",
    scope="role.write",
    summary="Update a role's description and scopes",
    body=RoleUpdate,
    response=Role,
)
async def update_role(request: web.Request) -> web.Response:
    spec = await read_document(request, _update)
    role = await request.app[ROLES].update(
        request.match_info["name"], **msgspec.structs.asdict(spec), **change_context(request)
    )
    return json_response(role)


@routes.delete(
    "/v1/roles/{name}",
    scope="role.write",
    summary="Delete a role (422 while assigned, unless force=true)",
    query=ForceQuery,
    status=204,
    responses={422: "role still assigned"},
)
async def delete_role(request: web.Request) -> web.Response:
    q = read_query(request, ForceQuery)
    await request.app[ROLES].delete(
        request.match_info["name"], force=q.force, **change_context(request)
    )
    return web.Response(status=204)


@routes.post(
    "/v1/userroles",
    scope="role.write",
    summary="Grant a role to a user",
    body=UserRole,
    response=Assigned,
    status=201,
)
async def assign_role(request: web.Request) -> web.Response:
    spec = await read_document(request, _user_role)
    added = await request.app[ROLES].assign(spec.user_id, spec.role, **change_context(request))
    return json_response(
        Assigned(user_id=spec.user_id, role=spec.role, added=added), status=201 if added else 200
    )


@routes.delete(
    "/v1/userroles",
    scope="role.write",
    summary="Take a role from a user",
    body=UserRole,
    status=204,
)
async def unassign_role(request: web.Request) -> web.Response:
    spec = await read_document(request, _user_role)
    await request.app[ROLES].unassign(spec.user_id, spec.role, **change_context(request))
    return web.Response(status=204)
