"""Route declarations: each endpoint states its scope and its msgspec types.

The same declarations register the aiohttp routes, drive the scope check and generate
``/openapi.json``, so a new route appears in the document by itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from hearth_core.scopes import ALL_SCOPES, PUBLIC

# Where a route may take its access token from (see api.auth.request_token).
TOKEN_SCHEMES = frozenset({"Bearer", "Token", "Basic", "query"})
# The Unleash API token types an Unleash SDK route may take instead of an OAuth scope.
TOKEN_TYPES = frozenset({"backend", "frontend"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ErrorShape = Callable[[int, str, dict[str, str]], web.Response]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    scope: str
    summary: str
    tag: str
    body: Any = None  # msgspec Struct type of the JSON body
    query: Any = None  # msgspec Struct type of the query string
    response: Any = None  # msgspec type of a 2xx JSON body
    status: int = 200
    content_types: tuple[str, ...] = ("application/json",)
    responses: dict[int, str] = field(default_factory=dict)
    max_body: int = 1 << 20  # JSON bodies; streaming routes (bulk, import) enforce their own
    # A protocol route's own error answer (status, detail, headers) instead of problem+json:
    # Prometheus remote write, OTLP and InfluxDB clients read their protocol's error shape.
    error_shape: ErrorShape | None = None
    # Where the access token may be (api.auth.request_token): a Bearer header everywhere, and
    # on a route of a protocol whose clients send it otherwise, also "Token", "Basic" or
    # "query" (?p=), as InfluxDB clients do.
    token_schemes: tuple[str, ...] = ("Bearer",)
    # An Unleash SDK route (scope PUBLIC): it takes an Unleash API token of this type
    # (api.unleash_auth) instead of an OAuth token.
    token_type: str | None = None

    @property
    def route_name(self) -> str:
        return f"{self.tag}.{self.handler.__name__}"


class Routes:
    """A module's endpoints, declared with decorators like aiohttp's RouteTableDef."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.endpoints: list[Endpoint] = []

    def route(self, method: str, path: str, *, scope: str, summary: str, **kw: Any):
        if scope != PUBLIC and scope not in ALL_SCOPES:
            raise ValueError(f"{method} {path}: unknown scope {scope!r}")
        if not set(kw.get("token_schemes", ())) <= TOKEN_SCHEMES:
            raise ValueError(f"{method} {path}: token_schemes must be some of {TOKEN_SCHEMES}")
        if kw.get("token_type") is not None and (
            kw["token_type"] not in TOKEN_TYPES or scope != PUBLIC
        ):
            raise ValueError(
                f"{method} {path}: token_type must be one of {TOKEN_TYPES}, scope PUBLIC"
            )

        def deco(handler: Handler) -> Handler:
            self.endpoints.append(Endpoint(method, path, handler, scope, summary, self.tag, **kw))
            return handler

        return deco

    def get(self, path: str, **kw: Any):
        return self.route("GET", path, **kw)

    def post(self, path: str, **kw: Any):
        return self.route("POST", path, **kw)

    def put(self, path: str, **kw: Any):
        return self.route("PUT", path, **kw)

    def delete(self, path: str, **kw: Any):
        return self.route("DELETE", path, **kw)


def register(app: web.Application, endpoints: list[Endpoint]) -> dict[str, Endpoint]:
    """Add the routes to the app; return them by route name for the middlewares."""
    by_name: dict[str, Endpoint] = {}
    for ep in endpoints:
        if ep.path.startswith("/v1") and ep.scope == PUBLIC:
            raise ValueError(f"{ep.method} {ep.path}: every /v1 route must require a scope")
        if ep.route_name in by_name:
            raise ValueError(f"duplicate route name {ep.route_name}")
        app.router.add_route(ep.method, ep.path, ep.handler, name=ep.route_name)
        by_name[ep.route_name] = ep
    return by_name
