"""Feature flags: /v1/flags (flag.read / flag.write), evaluation (also at OFREP's paths) and the
Server-Sent Events change stream."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

import msgspec
from aiohttp import web

from api.jsonio import YAML_TYPES, json_response, read_document, read_limited, read_query
from api.keys import ENDPOINTS, FLAGS
from api.principal import change_context
from api.routing import Routes
from api.sse import EventStream
from hearth_core._native import FlagContextError
from hearth_core.db.paging import Page
from hearth_core.errors import InvalidInput, NotFound, UnsupportedMediaType
from hearth_core.flags.model import (
    DEFAULT_ENVIRONMENT,
    Change,
    Dependency,
    EnvConfig,
    EnvName,
    Flag,
    FlagRevision,
    FlagSpec,
    Segment,
    SegmentSpec,
    Strategy,
    Variant,
    encode_change,
)
from hearth_core.flags.snapshot import EnvSnapshot
from hearth_core.flags.unleash import ImportMode, UnleashState, state_decoder

routes = Routes("flags")


class FlagUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Fields present are changed. ``expected_version`` (or If-Match) makes it conditional."""

    description: str | msgspec.UnsetType = msgspec.UNSET
    type: str | msgspec.UnsetType = msgspec.UNSET
    impression_data: bool | msgspec.UnsetType = msgspec.UNSET
    stale: bool | msgspec.UnsetType = msgspec.UNSET
    dependencies: list[Dependency] | msgspec.UnsetType = msgspec.UNSET
    environments: dict[EnvName, EnvConfig] | msgspec.UnsetType = msgspec.UNSET
    metadata: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    expected_version: int | msgspec.UnsetType = msgspec.UNSET


class EnvUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One environment of a flag: fields present are changed."""

    enabled: bool | msgspec.UnsetType = msgspec.UNSET
    strategies: list[Strategy] | msgspec.UnsetType = msgspec.UNSET
    variants: list[Variant] | msgspec.UnsetType = msgspec.UNSET
    expected_version: int | msgspec.UnsetType = msgspec.UNSET


class FlagList(msgspec.Struct, kw_only=True):
    items: list[Flag]
    total: int
    revision: int


class ListQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    include_archived: bool = False


class ToggleAll(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    enabled: bool
    environment: EnvName = DEFAULT_ENVIRONMENT


class Toggled(msgspec.Struct, kw_only=True):
    changed: int


class ImportResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    created: int
    updated: int
    unchanged: int
    removed: int = 0
    segments: int = 0


class EnvQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    environment: EnvName = DEFAULT_ENVIRONMENT


class ImportQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    format: Literal["hearth", "unleash"] = "hearth"
    environment: EnvName = DEFAULT_ENVIRONMENT
    mode: ImportMode = "merge"


class ExportQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    format: Literal["unleash"] = "unleash"
    environment: EnvName = DEFAULT_ENVIRONMENT


class EvalContextIn(msgspec.Struct, kw_only=True):
    """Unleash's context (``targetingKey`` — OFREP's — means userId; other keys are
    properties)."""

    userId: str | None = None
    sessionId: str | None = None
    remoteAddress: str | None = None
    environment: str | None = None
    appName: str | None = None
    currentTime: str | None = None
    properties: dict[str, str] = {}


class ContextIn(msgspec.Struct, kw_only=True):
    context: EvalContextIn = msgspec.field(default_factory=EvalContextIn)


class Payload(msgspec.Struct, kw_only=True):
    type: str
    value: str


class Evaluation(msgspec.Struct, kw_only=True):
    """One flag for one context: Unleash's answer (enabled, variant, payload) and OFREP's
    (value, reason)."""

    key: str
    enabled: bool
    variant: str
    value: Any
    reason: Literal["STATIC", "TARGETING_MATCH", "SPLIT", "DEFAULT", "DISABLED"]
    payload: Payload | None = None
    metadata: dict[str, Any] = {}


class Evaluations(msgspec.Struct, kw_only=True):
    flags: list[Evaluation]


class SegmentList(msgspec.Struct, kw_only=True):
    items: list[Segment]
    total: int


class PageQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 50
    page: Annotated[int, msgspec.Meta(ge=1)] = 1


class StreamQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    last_event_id: int | None = None


_spec = msgspec.json.Decoder(FlagSpec)
_update = msgspec.json.Decoder(FlagUpdate)
_env_update = msgspec.json.Decoder(EnvUpdate)
_toggle = msgspec.json.Decoder(ToggleAll)
_segment = msgspec.json.Decoder(SegmentSpec)
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
    items = await svc.list_flags(include_archived=q.include_archived)
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


def _environment(request: web.Request) -> str:
    return read_query(request, EnvQuery).environment


async def _context_body(request: web.Request) -> bytes:
    """The raw body, under the route's limits; the native evaluator parses it."""
    limit = request.app[ENDPOINTS][request.match_info.route.name or ""].max_body
    ctype = request.content_type
    if ctype not in ("application/json", "application/octet-stream") and not ctype.endswith(
        "+json"
    ):
        raise UnsupportedMediaType(f"send application/json, not {ctype}")
    return await read_limited(request, limit)


def _context_error(exc: FlagContextError) -> InvalidInput:
    path = getattr(exc, "path", "$.context")
    return InvalidInput("invalid context", errors=[{"path": path, "message": str(exc)}])


async def _evaluate(request: web.Request, snap: EnvSnapshot) -> web.Response:
    body = await _context_body(request)
    digest = hashlib.blake2b(body, digest_size=8).hexdigest()
    etag = f'"{snap.etag[1:-1]}-{digest}"'
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers={"ETag": etag})
    try:
        out = snap.flagset.evaluate(body)
    except FlagContextError as exc:
        raise _context_error(exc) from None
    return web.Response(body=out, content_type="application/json", headers={"ETag": etag})


@routes.post(
    "/v1/flags/evaluate",
    scope="flag.read",
    summary="Evaluate every flag of an environment for one context (Unleash's semantics; "
    "OFREP's bulk shape; ETag/If-None-Match)",
    query=EnvQuery,
    body=ContextIn,
    response=Evaluations,
)
async def evaluate_flags(request: web.Request) -> web.Response:
    return await _evaluate(request, request.app[FLAGS].snapshot(_environment(request)))


@routes.post(
    "/ofrep/v1/evaluate/flags",
    scope="flag.read",
    summary="OpenFeature remote evaluation (bulk)",
    query=EnvQuery,
    body=ContextIn,
    response=Evaluations,
)
async def ofrep_bulk(request: web.Request) -> web.Response:
    return await _evaluate(request, request.app[FLAGS].snapshot(_environment(request)))


@routes.post(
    "/ofrep/v1/evaluate/flags/{key}",
    scope="flag.read",
    summary="OpenFeature remote evaluation (one flag)",
    query=EnvQuery,
    body=ContextIn,
    response=Evaluation,
)
async def ofrep_one(request: web.Request) -> web.Response:
    snap = request.app[FLAGS].snapshot(_environment(request))
    body = await _context_body(request)
    key = request.match_info["key"]
    try:
        out = snap.flagset.evaluate_one(key, body)
    except FlagContextError as exc:
        return json_response(
            {"key": key, "errorCode": "INVALID_CONTEXT", "errorDetails": str(exc)}, status=400
        )
    if out is None:
        return json_response(
            {"key": key, "errorCode": "FLAG_NOT_FOUND", "errorDetails": f"no flag {key!r}"},
            status=404,
        )
    return web.Response(body=out, content_type="application/json")


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
    summary="Import flags atomically: Hearth's flags (JSON/YAML list), or (format=unleash) "
    "Unleash's client-API document into one environment, mode replace or merge",
    query=ImportQuery,
    body=UnleashState,
    response=ImportResult,
    content_types=("application/json", *YAML_TYPES),
    max_body=16 << 20,
)
async def import_flags(request: web.Request) -> web.Response:
    q = read_query(request, ImportQuery)
    svc = request.app[FLAGS]
    if q.format == "unleash":
        state = await read_document(request, state_decoder)
        result = await svc.import_unleash(state, q.environment, q.mode, **change_context(request))
        return json_response(ImportResult(**result))
    parsed = await read_document(request, _import_json)
    specs = parsed if isinstance(parsed, list) else parsed.get("flags", [])
    return json_response(ImportResult(**await svc.import_flags(specs, **change_context(request))))


@routes.get(
    "/v1/flags/export",
    scope="flag.read",
    summary="One environment's flags and segments as Unleash's client API serves them",
    query=ExportQuery,
    response=UnleashState,
)
async def export_flags(request: web.Request) -> web.Response:
    q = read_query(request, ExportQuery)
    return json_response(request.app[FLAGS].export_unleash(q.environment))


@routes.get(
    "/v1/segments",
    scope="flag.read",
    summary="Segments: named constraint sets",
    response=SegmentList,
)
async def list_segments(request: web.Request) -> web.Response:
    items = request.app[FLAGS].list_segments()
    return json_response(SegmentList(items=items, total=len(items)))


@routes.post(
    "/v1/segments",
    scope="flag.write",
    summary="Create a segment",
    body=SegmentSpec,
    response=Segment,
    status=201,
)
async def create_segment(request: web.Request) -> web.Response:
    spec = await read_document(request, _segment)
    seg = await request.app[FLAGS].create_segment(spec, **change_context(request))
    return json_response(seg, status=201)


def _segment_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdigit() or len(raw) > 9:
        raise NotFound(f"no segment {raw!r}")
    return int(raw)


@routes.get("/v1/segments/{id}", scope="flag.read", summary="One segment", response=Segment)
async def get_segment(request: web.Request) -> web.Response:
    return json_response(request.app[FLAGS].get_segment(_segment_id(request)))


@routes.put(
    "/v1/segments/{id}",
    scope="flag.write",
    summary="Replace a segment (every strategy using it sees the change)",
    body=SegmentSpec,
    response=Segment,
)
async def update_segment(request: web.Request) -> web.Response:
    spec = await read_document(request, _segment)
    seg = await request.app[FLAGS].update_segment(
        _segment_id(request), spec, **change_context(request)
    )
    return json_response(seg)


@routes.delete(
    "/v1/segments/{id}",
    scope="flag.write",
    summary="Delete a segment no strategy uses (409 names the flags that do)",
    status=204,
)
async def delete_segment(request: web.Request) -> web.Response:
    await request.app[FLAGS].delete_segment(_segment_id(request), **change_context(request))
    return web.Response(status=204)


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


@routes.put(
    "/v1/flags/{name}/environments/{environment}",
    scope="flag.write",
    summary="Change a flag in one environment (enabled, strategies, variants: fields present)",
    body=EnvUpdate,
    response=Flag,
    responses={412: "version changed meanwhile"},
)
async def update_flag_environment(request: web.Request) -> web.Response:
    body = await read_document(request, _env_update)
    env = msgspec.convert(request.match_info["environment"], EnvName)
    changes = {
        k: msgspec.to_builtins(v)
        for k, v in msgspec.structs.asdict(body).items()
        if v is not msgspec.UNSET and k != "expected_version"
    }
    expected = body.expected_version if body.expected_version is not msgspec.UNSET else None
    flag = await request.app[FLAGS].update_environment(
        request.match_info["name"],
        env,
        changes,
        expected_version=_if_match(request) if expected is None else expected,
        **change_context(request),
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
