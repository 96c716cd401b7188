"""Request id, access log and metrics, and the one place errors become problem+json."""

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

from api.keys import CORS_ORIGINS, ENDPOINTS, METRICS, REQUEST_ID, USAGE
from api.principal import PRINCIPAL
from api.problems import FieldError, problem_response, validation_errors
from hearth_core.errors import ServiceError
from hearth_core.logs import request_id_var

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
async def request_context(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    """Outermost: request id (X-Request-ID in and out), JSON access log, metrics."""
    incoming = request.headers.get("X-Request-ID", "")
    rid = incoming if incoming and _VALID_RID.match(incoming) else new_request_id()
    request[REQUEST_ID] = rid
    token = request_id_var.set(rid)
    start = time.perf_counter()
    status = 499  # client went away before we answered
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:  # redirects are raised, and answered by aiohttp itself
        status = exc.status
        raise
    finally:
        elapsed = time.perf_counter() - start
        route = route_label(request)
        request.app[METRICS].observe(request.method, route, status, elapsed)
        principal = request.get(PRINCIPAL)
        if principal is not None and USAGE in request.app:
            request.app[USAGE].request(principal.client_id, route, request.content_length or 0)
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


async def stamp_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: also reaches streamed responses (SSE) before headers go out."""
    rid = request.get(REQUEST_ID)
    if rid is not None:
        response.headers["X-Request-ID"] = rid
    # Answers are data, never documents to sniff into something executable.
    response.headers.setdefault("X-Content-Type-Options", "nosniff")


@web.middleware
async def problem_details(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    """Every error a client can see, as RFC 9457 problem+json — or in the error shape of the
    protocol a route speaks (``Endpoint.error_shape``); unknown ones opaque."""
    rid = request.get(REQUEST_ID)
    endpoint = request.app[ENDPOINTS].get(request.match_info.route.name or "")
    shape = endpoint.error_shape if endpoint is not None else None

    def answer(
        status: int, detail: str, *, headers: dict[str, str] | None = None, **kw: Any
    ) -> web.Response:
        if shape is not None:
            return shape(status, detail, headers or {})
        return problem_response(status, detail, headers=headers, request_id=rid, **kw)

    try:
        return await handler(request)
    except msgspec.ValidationError as exc:
        errors = validation_errors(exc)
        return answer(400, f"invalid request body at {errors[0].path}", errors=errors)
    except msgspec.DecodeError as exc:
        # A handler decoding a raw body itself: the same answer read_document gives.
        return answer(
            400,
            "the body is not valid JSON",
            errors=[FieldError(path="$", message=str(exc))],
        )
    except asyncpg.UniqueViolationError:
        return answer(409, "that already exists")
    except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as exc:
        # The database refused a value the request carried (a NUL in text, a number out of
        # range, a constraint): the client's input, so a 400 — with PostgreSQL's reason.
        return answer(
            400,
            f"a value in the request cannot be stored: {exc.args[0] if exc.args else type(exc).__name__}",
        )
    except ServiceError as exc:
        return answer(
            exc.status,
            exc.detail,
            title=exc.title,
            errors=[FieldError(path=e["path"], message=e["message"]) for e in exc.errors],
            headers=exc.headers or None,
            type_=exc.type,
        )
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {h: exc.headers[h] for h in _PASS_HEADERS if h in exc.headers}
        return answer(exc.status, _http_detail(request, exc), headers=headers or None)
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except UNAVAILABLE as exc:
        # PostgreSQL or Redis is down or restarting: nothing was done that was acknowledged,
        # and the client may retry — say so instead of an opaque 500.
        error_log.warning("backing service unavailable", extra={"error": type(exc).__name__})
        return answer(
            503,
            "a backing service is unavailable; retry shortly",
            headers={"Retry-After": "1"},
        )
    except Exception:
        error_log.exception(
            "unhandled exception", extra={"method": request.method, "route": route_label(request)}
        )
        return answer(
            500,
            f"An internal error occurred. Quote request id {rid} when reporting it.",
        )


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


@web.middleware
async def cors(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    """Browsers on the allow-listed origins (HEARTH_CORS_ORIGINS) may call the API; others get
    no CORS headers, so their browsers refuse to hand them the answers."""
    origin = request.headers.get("Origin")
    allowed = origin is not None and origin in request.app[CORS_ORIGINS]
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
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
    response = await handler(request)
    if allowed and not response.prepared:
        response.headers["Access-Control-Allow-Origin"] = origin or ""
        response.headers["Access-Control-Expose-Headers"] = CORS_EXPOSE
        response.headers["Vary"] = "Origin"
    return response
