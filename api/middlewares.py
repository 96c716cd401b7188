"""The one middleware (``edge``): request id, CORS, scope and rate limit, access log and
metrics, and the one place errors become problem+json."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
import time
from typing import Any

import asyncpg
import msgspec
from aiohttp import web
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from api.auth import guard
from api.keys import CORS_ORIGINS, ENDPOINTS, METRICS, REQUEST_ID, USAGE
from api.principal import PRINCIPAL
from api.problems import FieldError, problem_response, validation_errors
from api.routing import Endpoint
from api.unleash_auth import unleash_guard
from hearth_core.errors import ServiceError
from hearth_core.logs import request_id_var
from hearth_core.scopes import PUBLIC

UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,  # connection refused / reset while connecting
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,  # e.g. the connection was closed mid-query
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.TransactionRollbackError,  # deadlock or serialization failure: retry and it passes
    RedisConnectionError,
    RedisTimeoutError,
)
_VALID_RID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_PASS_HEADERS = ("Allow", "WWW-Authenticate", "Retry-After")

access_log = logging.getLogger("hearth.access")
error_log = logging.getLogger("hearth.errors")


def route_label(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


_RID_PREFIX = os.urandom(8).hex()  # per process: ids stay unique across workers and restarts
_RID_COUNTER = itertools.count(1)


def new_request_id() -> str:
    """32 hex digits like a UUID, without a syscall per request (a profile showed uuid4)."""
    return f"{_RID_PREFIX}{next(_RID_COUNTER):016x}"


@web.middleware
async def edge(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    """The one middleware, outermost: request id (X-Request-ID in and out), CORS, the route's
    scope and the API rate limit (``api.auth.guard``), every error as problem+json, metrics,
    usage and the access log. One coroutine layer instead of four: on a cheap authenticated
    route the four layers and the response-prepare signal cost ~20 % of the request."""
    app = request.app
    incoming = request.headers.get("X-Request-ID")
    rid = incoming if incoming and _VALID_RID.match(incoming) else new_request_id()
    request[REQUEST_ID] = rid
    token = request_id_var.set(rid)
    start = time.perf_counter()
    status = 499  # client went away before we answered
    endpoint = app[ENDPOINTS].get(request.match_info.route.name or "")
    origin = request.headers.get("Origin")
    cors_ok = origin is not None and origin in app[CORS_ORIGINS]
    try:
        try:
            if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
                response: web.StreamResponse = _preflight(origin, cors_ok)
            elif endpoint is not None and endpoint.token_type is not None:
                # An Unleash SDK route: an Unleash API token of its type instead of OAuth.
                response = await unleash_guard(request, endpoint.token_type, handler)
            elif endpoint is None or endpoint.scope == PUBLIC:
                response = await handler(request)
            else:
                response = await guard(request, endpoint, handler)
        except web.HTTPException as exc:
            if exc.status < 400:  # redirects are raised, and answered by aiohttp itself
                status = exc.status
                exc.headers["X-Request-ID"] = rid
                exc.headers.setdefault("X-Content-Type-Options", "nosniff")
                raise
            response = error_answer(request, endpoint, rid, exc)
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception as exc:
            response = error_answer(request, endpoint, rid, exc)
        status = response.status
        if not response.prepared:  # a stream (SSE) stamps itself before it starts: stamp()
            headers = response.headers
            headers["X-Request-ID"] = rid
            # Answers are data, never documents to sniff into something executable.
            headers.setdefault("X-Content-Type-Options", "nosniff")
            if cors_ok:
                headers["Access-Control-Allow-Origin"] = origin or ""
                headers["Access-Control-Expose-Headers"] = CORS_EXPOSE
                headers["Vary"] = "Origin"
        return response
    finally:
        elapsed = time.perf_counter() - start
        route = route_label(request)
        app[METRICS].observe(request.method, route, status, elapsed)
        principal = request.get(PRINCIPAL)
        if principal is not None and USAGE in app:
            app[USAGE].request(principal.client_id, route, request.content_length or 0)
        if access_log.isEnabledFor(logging.INFO):  # the record costs more than the check
            access_log.info(
                "request",
                extra={
                    "method": request.method,
                    "path": request.path,
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                    "remote": request.remote,
                },
            )
        request_id_var.reset(token)


def stamp(request: web.Request, response: web.StreamResponse) -> None:
    """What ``edge`` puts on every answer, for a response the handler prepares itself (a
    stream: its headers are gone before ``edge`` sees it)."""
    rid = request.get(REQUEST_ID)
    if rid is not None:
        response.headers["X-Request-ID"] = rid
    response.headers.setdefault("X-Content-Type-Options", "nosniff")


def error_answer(
    request: web.Request, endpoint: Endpoint | None, rid: str, exc: Exception
) -> web.Response:
    """Every error a client can see, as RFC 9457 problem+json — or in the error shape of the
    protocol a route speaks (``Endpoint.error_shape``); unknown ones opaque."""
    shape = endpoint.error_shape if endpoint is not None else None

    def answer(
        status: int, detail: str, *, headers: dict[str, str] | None = None, **kw: Any
    ) -> web.Response:
        if shape is not None:
            return shape(status, detail, headers or {})
        return problem_response(status, detail, headers=headers, request_id=rid, **kw)

    if isinstance(exc, msgspec.ValidationError):
        errors = validation_errors(exc)
        return answer(400, f"invalid request body at {errors[0].path}", errors=errors)
    if isinstance(exc, msgspec.DecodeError):
        # A handler decoding a raw body itself: the same answer read_document gives.
        return answer(
            400,
            "the body is not valid JSON",
            errors=[FieldError(path="$", message=str(exc))],
        )
    if isinstance(exc, asyncpg.UniqueViolationError):
        return answer(409, "that already exists")
    if isinstance(exc, asyncpg.DataError | asyncpg.IntegrityConstraintViolationError):
        # The database refused a value the request carried (a NUL in text, a number out of
        # range, a constraint): the client's input, so a 400 — with PostgreSQL's reason.
        return answer(
            400,
            f"a value in the request cannot be stored: {exc.args[0] if exc.args else type(exc).__name__}",
        )
    if isinstance(exc, ServiceError):
        return answer(
            exc.status,
            exc.detail,
            title=exc.title,
            errors=[FieldError(path=e["path"], message=e["message"]) for e in exc.errors],
            headers=exc.headers or None,
            type_=exc.type,
        )
    if isinstance(exc, web.HTTPException):
        headers = {h: exc.headers[h] for h in _PASS_HEADERS if h in exc.headers}
        return answer(exc.status, _http_detail(request, exc), headers=headers or None)
    if isinstance(exc, UNAVAILABLE):
        # PostgreSQL or Redis is down or restarting: nothing was done that was acknowledged,
        # and the client may retry — say so instead of an opaque 500.
        error_log.warning("backing service unavailable", extra={"error": type(exc).__name__})
        return answer(
            503,
            "a backing service is unavailable; retry shortly",
            headers={"Retry-After": "1"},
        )
    error_log.exception(
        "unhandled exception",
        exc_info=exc,
        extra={"method": request.method, "route": route_label(request)},
    )
    return answer(500, f"An internal error occurred. Quote request id {rid} when reporting it.")


def _http_detail(request: web.Request, exc: web.HTTPException) -> str:
    if exc.status == 404:
        return f"no resource at {request.path}"
    if exc.status == 405:
        return f"method {request.method} not allowed on {request.path}"
    if exc.status == 413:
        return "request body too large"
    return exc.reason


CORS_EXPOSE = "X-Request-ID, ETag, Location, Retry-After, RateLimit, RateLimit-Policy"
CORS_HEADERS = "Authorization, Content-Type, Content-Encoding, If-Match, If-None-Match, Idempotency-Key, Last-Event-ID, X-Request-ID"


def allowed_origins(settings_value: str) -> frozenset[str]:
    return frozenset(o.strip().rstrip("/") for o in settings_value.split(",") if o.strip())


def _preflight(origin: str | None, allowed: bool) -> web.Response:
    """Browsers on the allow-listed origins (HEARTH_CORS_ORIGINS) may call the API; others get
    no CORS headers, so their browsers refuse to hand them the answers."""
    if not allowed:
        return web.Response(status=403, text="origin not allowed")
    return web.Response(
        status=204,
        headers={
            "Access-Control-Allow-Origin": origin or "",
            "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, OPTIONS",
            "Access-Control-Allow-Headers": CORS_HEADERS,
            "Access-Control-Max-Age": "600",
            "Vary": "Origin",
        },
    )
