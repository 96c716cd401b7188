"""Feature flags: /v1/flags (flag.read / flag.write), evaluation (also at OFREP's paths) and the
Server-Sent Events change stream."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from aiohttp import web

from api.jsonio import YAML_TYPES, json_response, read_document, read_query
from api.keys import FLAGS
from api.principal import change_context
from api.routing import Routes
from api.sse import EventStream
from hearth_core.db.paging import Page
from hearth_core.errors import InvalidInput, ServiceError
from hearth_core.flags.evaluate import EvalContext, Evaluation
from hearth_core.flags.model import (
    Change,
    EnvName,
    EnvState,
    Flag,
    FlagRevision,
    FlagSpec,
    Pct,
    Targeting,
    Variant,
    encode_change,
)

routes = Routes("flags")


class FlagUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Fields present are changed. ``expected_version`` (or If-Match) makes it conditional."""

    description: str | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET
    rollout_pct: Pct | msgspec.UnsetType = msgspec.UNSET
    variants: list[Variant] | msgspec.UnsetType = msgspec.UNSET
    targeting: Targeting | msgspec.UnsetType = msgspec.UNSET
    environments: dict[EnvName, EnvState] | msgspec.UnsetType = msgspec.UNSET
    metadata: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    expected_version: int | msgspec.UnsetType = msgspec.UNSET


class FlagList(msgspec.Struct, kw_only=True):
    items: list[Flag]
    total: int
    revision: int


class ListQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    include_archived: bool = False


class ToggleAll(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    enabled: bool
    environment: EnvName | None = None


class Toggled(msgspec.Struct, kw_only=True):
    changed: int


class ImportResult(msgspec.Struct, kw_only=True):
    created: int
    updated: int
    unchanged: int


class ContextIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """OFREP's evaluation context: ``targetingKey`` (or ``user_id``), ``environment``, and any
    other keys as attributes (or an explicit ``attributes`` object)."""

    context: dict[str, Any] = {}


class Evaluations(msgspec.Struct, kw_only=True):
    flags: list[Evaluation]


class PageQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 50
    page: Annotated[int, msgspec.Meta(ge=1)] = 1


class StreamQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    last_event_id: int | None = None


_spec = msgspec.json.Decoder(FlagSpec)
_update = msgspec.json.Decoder(FlagUpdate)
_toggle = msgspec.json.Decoder(ToggleAll)
_context = msgspec.json.Decoder(ContextIn)
_import_json = msgspec.json.Decoder(list[FlagSpec] | dict[str, list[FlagSpec]])


def _if_match(request: web.Request) -> int | None:
    raw = request.headers.get("If-Match")
    if raw is None:
        return None
    try:
        return int(raw.strip().strip("W/").strip('"'))
    except ValueError:
        raise InvalidInput(
            "If-Match must be a version number",
            errors=[{"path": "header.If-Match", "message": "not a version"}],
        ) from None


def _flag_response(flag: Flag, status: int = 200) -> web.Response:
    return json_response(flag, status=status, headers={"ETag": f'"{flag.version}"'})


@routes.get(
    "/v1/flags", scope="flag.read", summary="List flags", query=ListQuery, response=FlagList
)
async def list_flags(request: web.Request) -> web.Response:
    q = read_query(request, ListQuery)
    svc = request.app[FLAGS]
    items = await svc.list(include_archived=q.include_archived)
    return json_response(FlagList(items=items, total=len(items), revision=svc.revision))


@routes.post(
    "/v1/flags",
    scope="flag.write",
    summary="Create a flag",
    body=FlagSpec,
    response=Flag,
    status=201,
)
async def create_flag(request: web.Request) -> web.Response:
    spec = await read_document(request, _spec)
    return _flag_response(await request.app[FLAGS].create(spec, **change_context(request)), 201)


@routes.get(
    "/v1/flags/stream",
    scope="flag.read",
    summary="Server-Sent Events: every flag change; Last-Event-ID replays from a revision",
    query=StreamQuery,
    content_types=("text/event-stream",),
)
async def stream(request: web.Request) -> web.StreamResponse:
    svc = request.app[FLAGS]
    q = read_query(request, StreamQuery)
    header = request.headers.get("Last-Event-ID")
    try:
        last = int(header) if header else q.last_event_id
    except ValueError:
        raise InvalidInput("Last-Event-ID must be a revision number") from None
    # Subscribed before the replay is read, so no change falls between the two.
    with svc.subscribe() as changes:
        async with EventStream(request) as out:
            seen = svc.revision if last is None else last
            await out.send(b'{"revision": %d}' % seen, event="hello", id=seen, retry=1000)
            if last is not None:
                for change in await svc.changes_since(last):
                    await _send(out, change)
                    seen = change.revision
            async for change in out.follow(changes):
                if change.revision > seen:
                    await _send(out, change)
                    seen = change.revision
    return out.response


async def _send(out: EventStream, change: Change) -> None:
    await out.send(encode_change(change), event="flag", id=change.revision)


def _eval_context(body: ContextIn) -> EvalContext:
    ctx = dict(body.context)
    user = ctx.pop("targetingKey", None) or ctx.pop("user_id", None)
    env = ctx.pop("environment", None)
    attributes = ctx.pop("attributes", None)
    if attributes is not None and not isinstance(attributes, dict):
        raise InvalidInput(
            "attributes must be an object",
            errors=[{"path": "$.context.attributes", "message": "not an object"}],
        )
    merged = {**ctx, **(attributes or {})}
    return EvalContext(
        user_id=None if user is None else str(user),
        environment=None if env is None else str(env),
        attributes=merged,
    )


async def _evaluate(request: web.Request) -> web.Response:
    body = await read_document(request, _context, optional=ContextIn)
    ctx = _eval_context(body)
    svc = request.app[FLAGS]
    etag = svc.etag(ctx)
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers={"ETag": etag})
    return json_response(Evaluations(flags=svc.evaluate_all(ctx)), headers={"ETag": etag})


@routes.post(
    "/v1/flags/evaluate",
    scope="flag.read",
    summary="Evaluate every flag for one context (OFREP bulk shape; ETag/If-None-Match)",
    body=ContextIn,
    response=Evaluations,
)
async def evaluate_flags(request: web.Request) -> web.Response:
    return await _evaluate(request)


@routes.post(
    "/ofrep/v1/evaluate/flags",
    scope="flag.read",
    summary="OpenFeature remote evaluation (bulk)",
    body=ContextIn,
    response=Evaluations,
)
async def ofrep_bulk(request: web.Request) -> web.Response:
    return await _evaluate(request)


@routes.post(
    "/ofrep/v1/evaluate/flags/{key}",
    scope="flag.read",
    summary="OpenFeature remote evaluation (one flag)",
    body=ContextIn,
    response=Evaluation,
)
async def ofrep_one(request: web.Request) -> web.Response:
    body = await read_document(request, _context, optional=ContextIn)
    key = request.match_info["key"]
    try:
        result = request.app[FLAGS].evaluate_one(key, _eval_context(body))
    except ServiceError:
        return json_response(
            {"key": key, "errorCode": "FLAG_NOT_FOUND", "errorDetails": f"no flag {key!r}"},
            status=404,
        )
    return json_response(result)


@routes.post(
    "/v1/flags/toggle-all",
    scope="flag.write",
    summary="Switch every flag on or off (globally or in one environment)",
    body=ToggleAll,
    response=Toggled,
)
async def toggle_all(request: web.Request) -> web.Response:
    body = await read_document(request, _toggle)
    n = await request.app[FLAGS].toggle_all(
        body.enabled, environment=body.environment, **change_context(request)
    )
    return json_response(Toggled(changed=n))


@routes.post(
    "/v1/flags/import",
    scope="flag.write",
    summary="Upsert flags from JSON or YAML, atomically",
    body=list[FlagSpec],
    response=ImportResult,
    content_types=("application/json", *YAML_TYPES),
)
async def import_flags(request: web.Request) -> web.Response:
    parsed = await read_document(request, _import_json)
    specs = parsed if isinstance(parsed, list) else parsed.get("flags", [])
    result = await request.app[FLAGS].import_flags(specs, **change_context(request))
    return json_response(ImportResult(**result))


@routes.get(
    "/v1/flags/{name}", scope="flag.read", summary="One flag (archived ones too)", response=Flag
)
async def get_flag(request: web.Request) -> web.Response:
    return _flag_response(await request.app[FLAGS].get(request.match_info["name"]))


@routes.put(
    "/v1/flags/{name}",
    scope="flag.write",
    summary="Change a flag (fields present); If-Match or expected_version for compare-and-set",
    body=FlagUpdate,
    response=Flag,
    responses={412: "version changed meanwhile"},
)
async def update_flag(request: web.Request) -> web.Response:
    body = await read_document(request, _update)
    changes = {k: v for k, v in msgspec.structs.asdict(body).items() if v is not msgspec.UNSET}
    expected = changes.pop("expected_version", None)
    if expected is None:
        expected = _if_match(request)
    changes = {k: msgspec.to_builtins(v) for k, v in changes.items()}
    flag = await request.app[FLAGS].update(
        request.match_info["name"], changes, expected_version=expected, **change_context(request)
    )
    return _flag_response(flag)


@routes.delete(
    "/v1/flags/{name}", scope="flag.write", summary="Archive a flag (restorable)", status=204
)
async def archive_flag(request: web.Request) -> web.Response:
    await request.app[FLAGS].set_archived(
        request.match_info["name"], True, **change_context(request)
    )
    return web.Response(status=204)


@routes.post(
    "/v1/flags/{name}/restore",
    scope="flag.write",
    summary="Restore an archived flag",
    response=Flag,
)
async def restore_flag(request: web.Request) -> web.Response:
    flag = await request.app[FLAGS].set_archived(
        request.match_info["name"], False, **change_context(request)
    )
    return _flag_response(flag)


@routes.get(
    "/v1/flags/{name}/audit",
    scope="flag.read",
    summary="Who changed the flag, what, before and after, when",
    query=PageQuery,
    response=Page[FlagRevision],
)
async def flag_audit(request: web.Request) -> web.Response:
    q = read_query(request, PageQuery)
    trail = await request.app[FLAGS].audit_trail(
        request.match_info["name"], limit=q.limit, page=q.page
    )
    return json_response(trail)
