"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import logging

import asyncpg
import msgspec
from aiohttp import web

from api.jsonio import json_response
from api.keys import DB, METRICS, REDIS
from api.observability import store_exposition
from api.problems import problem_response
from api.routing import Routes
from hearth_core import readiness
from hearth_core.metrics.service import store_state
from hearth_core.scopes import PUBLIC

routes = Routes("health")
log = logging.getLogger("hearth.api")


class Health(msgspec.Struct, kw_only=True):
    status: str


class Readiness(msgspec.Struct, kw_only=True):
    status: str
    checks: dict[str, str]


@routes.get("/healthz", scope=PUBLIC, summary="Liveness: the process answers", response=Health)
async def healthz(request: web.Request) -> web.Response:
    return json_response(Health(status="ok"))


@routes.get(
    "/readyz",
    scope=PUBLIC,
    summary="Readiness: PostgreSQL and Redis reachable",
    response=Readiness,
    responses={503: "PostgreSQL or Redis unreachable"},
)
async def readyz(request: web.Request) -> web.Response:
    checks = await readiness.check(request.app[DB], request.app[REDIS])
    if all(v == readiness.OK for v in checks.values()):
        return json_response(Readiness(status="ready", checks=checks))
    failing = ", ".join(k for k, v in checks.items() if v != readiness.OK)
    return problem_response(
        503,
        f"not ready: {failing} unreachable",
        headers={"Retry-After": "1"},
        extensions={"checks": checks},
    )


@routes.get("/metrics", scope=PUBLIC, summary="Prometheus metrics", content_types=("text/plain",))
async def metrics(request: web.Request) -> web.Response:
    body, content_type = request.app[METRICS].exposition()
    try:
        body += store_exposition(await store_state(request.app[DB]))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        # The process's own metrics still answer when the database does not.
        log.warning("metric store state unavailable", extra={"error": repr(exc)})
    return web.Response(body=body, headers={"Content-Type": content_type})
