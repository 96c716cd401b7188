"""The configuration store: /v1/config (config.read / config.write)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from aiohttp import web

from api.jsonio import json_response, read_document, read_query
from api.keys import CONFIG
from api.principal import change_context
from api.routing import Routes
from hearth_core.config.service import ConfigEntry, ConfigVersion
from hearth_core.db.paging import Page
from hearth_core.errors import InvalidInput

routes = Routes("config")

Env = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Key = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,255}$")]


class ConfigWrite(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    environment: Env
    key: Key
    value: Any
    schema: dict[str, Any] | msgspec.UnsetType | None = msgspec.UNSET
    expected_version: Annotated[int, msgspec.Meta(ge=0)] | None = None


class EnvQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    environment: Env


class ListQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    environment: Env
    prefix: str | None = None


class HistoryQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    environment: Env
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 50
    page: Annotated[int, msgspec.Meta(ge=1)] = 1


class Rollback(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    environment: Env
    version: Annotated[int, msgspec.Meta(ge=1)]


class ConfigList(msgspec.Struct, kw_only=True):
    environment: str
    items: list[ConfigEntry]
    total: int


class ExportItem(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    value: Any
    schema: dict[str, Any] | None = None


class EnvDocument(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    environment: Env
    entries: dict[Key, ExportItem]


class ImportResult(msgspec.Struct, kw_only=True):
    written: int
    unchanged: int


_write = msgspec.json.Decoder(ConfigWrite)
_rollback = msgspec.json.Decoder(Rollback)
_document = msgspec.json.Decoder(EnvDocument)


def _entry_response(entry: ConfigEntry, status: int = 200) -> web.Response:
    return json_response(entry, status=status, headers={"ETag": f'"{entry.version}"'})


@routes.get(
    "/v1/config",
    scope="config.read",
    summary="List an environment's entries",
    query=ListQuery,
    response=ConfigList,
)
async def list_config(request: web.Request) -> web.Response:
    q = read_query(request, ListQuery)
    items = request.app[CONFIG].list(q.environment, q.prefix)
    return json_response(ConfigList(environment=q.environment, items=items, total=len(items)))


@routes.post(
    "/v1/config",
    scope="config.write",
    summary="Create or update; expected_version (or If-Match) makes it compare-and-set",
    body=ConfigWrite,
    response=ConfigEntry,
    status=200,
    responses={201: "created", 409: "version conflict"},
)
async def write_config(request: web.Request) -> web.Response:
    body = await read_document(request, _write)
    expected = body.expected_version
    if expected is None and "If-Match" in request.headers:
        try:
            expected = int(request.headers["If-Match"].strip().strip("W/").strip('"'))
        except ValueError:
            raise InvalidInput("If-Match must be a version number") from None
    entry, created = await request.app[CONFIG].set(
        body.environment,
        body.key,
        body.value,
        schema=body.schema,
        expected_version=expected,
        **change_context(request),
    )
    return _entry_response(entry, 201 if created else 200)


@routes.get(
    "/v1/config/export",
    scope="config.read",
    summary="A whole environment as JSON",
    query=EnvQuery,
    response=EnvDocument,
)
async def export_config(request: web.Request) -> web.Response:
    q = read_query(request, EnvQuery)
    entries = {
        e.key: ExportItem(value=e.value, schema=e.schema)
        for e in request.app[CONFIG].list(q.environment)
    }
    return json_response(
        EnvDocument(environment=q.environment, entries=entries),
        headers={"Content-Disposition": f'attachment; filename="config-{q.environment}.json"'},
    )


@routes.post(
    "/v1/config/import",
    scope="config.write",
    summary="Write a whole environment from JSON (all or nothing)",
    body=EnvDocument,
    response=ImportResult,
)
async def import_config(request: web.Request) -> web.Response:
    doc = await read_document(request, _document)
    entries = {k: msgspec.to_builtins(v) | {"value": v.value} for k, v in doc.entries.items()}
    result = await request.app[CONFIG].import_env(
        doc.environment, entries, **change_context(request)
    )
    return json_response(ImportResult(**result))


@routes.get(
    "/v1/config/{key}",
    scope="config.read",
    summary="One entry (ETag = version)",
    query=EnvQuery,
    response=ConfigEntry,
)
async def get_config(request: web.Request) -> web.Response:
    q = read_query(request, EnvQuery)
    entry = request.app[CONFIG].get(q.environment, request.match_info["key"])
    if request.headers.get("If-None-Match") == f'"{entry.version}"':
        return web.Response(status=304, headers={"ETag": f'"{entry.version}"'})
    return _entry_response(entry)


@routes.delete(
    "/v1/config/{key}",
    scope="config.write",
    summary="Delete an entry (history kept)",
    query=EnvQuery,
    status=204,
)
async def delete_config(request: web.Request) -> web.Response:
    q = read_query(request, EnvQuery)
    await request.app[CONFIG].delete(
        q.environment, request.match_info["key"], **change_context(request)
    )
    return web.Response(status=204)


@routes.get(
    "/v1/config/{key}/history",
    scope="config.read",
    summary="Every version of an entry",
    query=HistoryQuery,
    response=Page[ConfigVersion],
)
async def config_history(request: web.Request) -> web.Response:
    q = read_query(request, HistoryQuery)
    page = await request.app[CONFIG].history(
        q.environment, request.match_info["key"], limit=q.limit, page=q.page
    )
    return json_response(page)


@routes.post(
    "/v1/config/{key}/rollback",
    scope="config.write",
    summary="Write an earlier version's value as a new version",
    body=Rollback,
    response=ConfigEntry,
)
async def rollback_config(request: web.Request) -> web.Response:
    body = await read_document(request, _rollback)
    entry = await request.app[CONFIG].rollback(
        body.environment, request.match_info["key"], body.version, **change_context(request)
    )
    return _entry_response(entry)
