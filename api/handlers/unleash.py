"""Unleash's SDK-facing APIs, as Unleash and Unleash Edge serve them, and their API tokens.

- Client API (backend tokens): ``GET /api/client/features`` (ETag / If-None-Match → 304),
  ``POST /api/client/register``, ``POST /api/client/metrics``.
- Frontend API (frontend tokens): ``GET`` / ``POST /api/frontend`` (enabled flags for one
  context, enriched with the caller's address and a session id as Unleash does),
  ``GET /api/frontend/features/{name}``, ``POST /api/frontend/client/metrics`` and
  ``/client/register``.
- ``/v1/flag-tokens``: list, create (the secret shown once), revoke.

The environment is always the token's.
"""

from __future__ import annotations

import re
import secrets
import uuid
from typing import Any, TypeVar

import msgspec
import orjson
from aiohttp import web
from multidict import MultiMapping

from api.jsonio import json_response, read_document, read_limited
from api.keys import DB, ENDPOINTS, FLAGS, INGEST, SETTINGS, UNLEASH_TOKENS
from api.principal import PRINCIPAL, change_context
from api.problems import validation_errors
from api.routing import Routes
from api.unleash_auth import UNLEASH_TOKEN, unleash_error
from hearth_core._native import FlagContextError
from hearth_core.errors import InvalidInput, NotFound, UnsupportedMediaType
from hearth_core.flags.unleash import UnleashState
from hearth_core.metrics.codec import decode, window
from hearth_core.scopes import PUBLIC
from hearth_core.unleash import clients
from hearth_core.unleash.model import (
    ApiToken,
    ClientMetrics,
    ClientRegistration,
    CreatedToken,
    TokenSpec,
)

routes = Routes("unleash")
T = TypeVar("T")
BACKEND, FRONTEND = "backend", "frontend"  # the API token type each route takes

_registration = msgspec.json.Decoder(ClientRegistration)
_metrics = msgspec.json.Decoder(ClientMetrics)
_token_spec = msgspec.json.Decoder(TokenSpec)

# The context fields Unleash keeps at the top level; any other query key is a property.
_TOP_LEVEL = ("userId", "sessionId", "remoteAddress", "appName", "environment", "currentTime")


class FrontendVariant(msgspec.Struct, kw_only=True):
    name: str
    enabled: bool
    feature_enabled: bool
    payload: dict[str, str] | None = None


class FrontendToggle(msgspec.Struct, kw_only=True):
    name: str
    enabled: bool
    variant: FrontendVariant
    impressionData: bool


class FrontendToggles(msgspec.Struct, kw_only=True):
    toggles: list[FrontendToggle]


class FrontendContextIn(msgspec.Struct, kw_only=True):
    """Unleash's context; keys other than these are properties."""

    userId: str | None = None
    sessionId: str | None = None
    remoteAddress: str | None = None
    appName: str | None = None
    environment: str | None = None
    currentTime: str | None = None
    properties: dict[str, str] = {}


class FrontendBody(msgspec.Struct, kw_only=True):
    context: FrontendContextIn = msgspec.field(default_factory=FrontendContextIn)


class TokenList(msgspec.Struct, kw_only=True):
    items: list[ApiToken]
    total: int


_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]+)`")


async def _read_sdk_body(request: web.Request, decoder: msgspec.json.Decoder[T]) -> T:
    """The body, or a 400 whose message (Unleash's errors have only a message) names the
    field, a missing one included."""
    try:
        return await read_document(request, decoder)
    except msgspec.ValidationError as exc:
        error = validation_errors(exc)[0]
        path = error.path
        if missing := _MISSING.match(error.message):
            path = f"{path}.{missing['field']}"
        raise InvalidInput(f"invalid request body at {path}: {error.message}") from None


# ------------------------------------------------------------------ client API
def _not_modified(header: str | None, etag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))


@routes.get(
    "/api/client/features",
    scope=PUBLIC,
    token_type=BACKEND,
    summary="Unleash client API: the token's environment's flags and segments, for SDKs that "
    "evaluate locally (ETag / If-None-Match → 304)",
    response=UnleashState,
    responses={304: "not modified since the ETag sent"},
    error_shape=unleash_error,
)
async def client_features(request: web.Request) -> web.Response:
    snap = request.app[FLAGS].snapshot(request[UNLEASH_TOKEN].environment)
    headers = {"ETag": snap.etag, "Cache-Control": "no-cache"}
    if _not_modified(request.headers.get("If-None-Match"), snap.etag):
        return web.Response(status=304, headers=headers)
    return web.Response(body=snap.client_body, content_type="application/json", headers=headers)


@routes.post(
    "/api/client/register",
    scope=PUBLIC,
    token_type=BACKEND,
    summary="Unleash client API: an SDK instance announces itself",
    body=ClientRegistration,
    status=202,
    error_shape=unleash_error,
)
async def client_register(request: web.Request) -> web.Response:
    reg = await _read_sdk_body(request, _registration)
    await clients.register(request.app[DB], reg, request[UNLEASH_TOKEN].environment)
    return web.Response(status=202)


async def _store_metrics(request: web.Request) -> None:
    """The body's counts as samples of the metrics store (``hearth_core.unleash.clients``)."""
    metrics = await _read_sdk_body(request, _metrics)
    settings = request.app[SETTINGS]
    w = window(settings.metrics_retention_days)
    points, paths = clients.metric_points(
        metrics,
        environment=request[UNLEASH_TOKEN].environment,
        namespace=settings.metrics_default_namespace,
        min_time_us=w["min_time_us"],
        max_time_us=w["max_time_us"],
    )
    if not paths:
        return
    batch = await decode(
        points,
        "json",
        gzip=False,
        retention_days=settings.metrics_retention_days,
        max_decompressed=len(points) + 1,
    )
    if batch.rejected:
        index, reason = batch.rejected[0]
        raise InvalidInput(f"{paths[index]}: {reason}")
    await request.app[INGEST].write(
        batch, client_id=request[PRINCIPAL].client_id, protocol="unleash"
    )


@routes.post(
    "/api/client/metrics",
    scope=PUBLIC,
    token_type=BACKEND,
    summary="Unleash client API: one bucket of evaluation counts, stored as "
    "unleash_feature_evaluations / unleash_feature_variant_evaluations samples",
    body=ClientMetrics,
    status=202,
    error_shape=unleash_error,
)
async def client_metrics(request: web.Request) -> web.Response:
    await _store_metrics(request)
    return web.Response(status=202)


# ---------------------------------------------------------------- frontend API
def query_context(query: MultiMapping[str]) -> dict[str, Any]:
    """The context Unleash reads from a query string: its own fields at the top level (empty
    ones absent), ``properties[x]=v`` and every other key as properties (``properties[x]``
    winning over a bare ``x``); of a repeated key, the first value."""
    context: dict[str, Any] = {}
    rest: dict[str, str] = {}
    named: dict[str, str] = {}
    for key in dict.fromkeys(query.keys()):
        value = query[key]
        if key in _TOP_LEVEL:
            if value:
                context[key] = value
        elif key.startswith("properties[") and key.endswith("]") and len(key) > 12:
            named[key[11:-1]] = value
        elif key != "properties":
            rest[key] = value
    if rest or named:
        context["properties"] = {**rest, **named}
    return context


def _session_id() -> str:
    # What Unleash makes for a context without one: 18 random bytes, hex.
    return secrets.token_hex(18)


async def _frontend_body(request: web.Request) -> bytes:
    if request.method == "GET":
        return orjson.dumps({"context": query_context(request.query)})
    ctype = request.content_type
    if ctype not in ("application/json", "application/octet-stream") and not ctype.endswith(
        "+json"
    ):
        raise UnsupportedMediaType(f"send application/json, not {ctype}")
    limit = request.app[ENDPOINTS][request.match_info.route.name or ""].max_body
    return await read_limited(request, limit)


async def _toggles(request: web.Request) -> bytes:
    body = await _frontend_body(request)
    snap = request.app[FLAGS].snapshot(request[UNLEASH_TOKEN].environment)
    try:
        return snap.flagset.frontend(body, remote_address=request.remote, session_id=_session_id())
    except FlagContextError as exc:
        path = getattr(exc, "path", "$.context")
        raise InvalidInput(f"invalid context at {path}: {exc}") from None


def _frontend_response(body: bytes) -> web.Response:
    return web.Response(
        body=body, content_type="application/json", headers={"Cache-Control": "no-cache"}
    )


@routes.get(
    "/api/frontend",
    scope=PUBLIC,
    token_type=FRONTEND,
    summary="Unleash frontend API: the flags enabled for the context in the query string "
    "(userId, sessionId, remoteAddress, appName, environment, currentTime, properties[x]; "
    "other keys are properties), with their variants",
    response=FrontendToggles,
    error_shape=unleash_error,
)
async def frontend_get(request: web.Request) -> web.Response:
    return _frontend_response(await _toggles(request))


@routes.post(
    "/api/frontend",
    scope=PUBLIC,
    token_type=FRONTEND,
    summary="Unleash frontend API: the flags enabled for the body's context, with variants",
    body=FrontendBody,
    response=FrontendToggles,
    error_shape=unleash_error,
)
async def frontend_post(request: web.Request) -> web.Response:
    return _frontend_response(await _toggles(request))


@routes.get(
    "/api/frontend/features/{name}",
    scope=PUBLIC,
    token_type=FRONTEND,
    summary="Unleash frontend API: one flag for the query string's context; 404 unless enabled",
    response=FrontendToggle,
    error_shape=unleash_error,
)
async def frontend_feature(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    for toggle in orjson.loads(await _toggles(request))["toggles"]:
        if toggle["name"] == name:
            return json_response(toggle, headers={"Cache-Control": "no-cache"})
    raise NotFound(f"flag {name!r} is not enabled for this context")


@routes.post(
    "/api/frontend/client/metrics",
    scope=PUBLIC,
    token_type=FRONTEND,
    summary="Unleash frontend API: evaluation counts from a frontend SDK (stored as the client "
    "API's are)",
    body=ClientMetrics,
    error_shape=unleash_error,
)
async def frontend_metrics(request: web.Request) -> web.Response:
    await _store_metrics(request)
    return web.Response(status=200)


@routes.post(
    "/api/frontend/client/register",
    scope=PUBLIC,
    token_type=FRONTEND,
    summary="Unleash frontend API: accepted and not stored, as Unleash does",
    error_shape=unleash_error,
)
async def frontend_register(request: web.Request) -> web.Response:
    return web.Response(status=200)


# ------------------------------------------------------------------ API tokens
@routes.get(
    "/v1/flag-tokens",
    scope="flag.read",
    summary="Unleash API tokens (revoked ones too); never their secrets",
    response=TokenList,
)
async def list_tokens(request: web.Request) -> web.Response:
    items = await request.app[UNLEASH_TOKENS].list()
    return json_response(TokenList(items=items, total=len(items)))


@routes.post(
    "/v1/flag-tokens",
    scope="flag.write",
    summary="Create an Unleash API token (backend or frontend, bound to one environment); the "
    "secret is in this answer only",
    body=TokenSpec,
    response=CreatedToken,
    status=201,
)
async def create_token(request: web.Request) -> web.Response:
    spec = await read_document(request, _token_spec)
    created = await request.app[UNLEASH_TOKENS].create(spec, **change_context(request))
    return json_response(created, status=201, headers={"Cache-Control": "no-store"})


@routes.delete(
    "/v1/flag-tokens/{id}",
    scope="flag.write",
    summary="Revoke an Unleash API token (every worker refuses it from then on)",
    status=204,
)
async def revoke_token(request: web.Request) -> web.Response:
    raw = request.match_info["id"]
    try:
        token_id = uuid.UUID(raw)
    except ValueError:
        raise NotFound(f"no token {raw!r}") from None
    await request.app[UNLEASH_TOKENS].revoke(token_id, **change_context(request))
    return web.Response(status=204)
