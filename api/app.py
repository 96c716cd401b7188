"""``create_app(settings)``: the whole HTTP service, its resources in ``cleanup_ctx``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

from aiohttp import web

from api import openapi
from api.handlers import (
    analytics,
    audit,
    clients,
    commands,
    config,
    console,
    flags,
    health,
    influx,
    metrics,
    oauth,
    otlp,
    prometheus,
    ratelimits,
    remote_write,
    roles,
    rooms,
    tenants,
    unleash,
    usage,
    users,
)
from api.keys import (
    CIPHER,
    COMMANDS,
    CONFIG,
    CORS_ORIGINS,
    DB,
    DB_READ,
    ENDPOINTS,
    EVENTS,
    FLAGS,
    IDENTITY,
    INGEST,
    METRICS,
    METRICS_READER,
    OPENAPI_CACHE,
    RATELIMITS,
    REDIS,
    ROLES,
    ROOMS,
    SERVICES,
    SETTINGS,
    TENANTS,
    UNLEASH_TOKENS,
    USAGE,
    USERS,
)
from api.middlewares import allowed_origins, edge
from api.observability import HttpMetrics
from api.routing import Endpoint, register
from hearth_core.metrics.promql import Limits
from hearth_core.metrics.reader import EmbeddedReader, RemoteReader
from hearth_core.metrics.remote.backend import RemoteBackend
from hearth_core.metrics.remote.counters import RemoteCounters
from hearth_core.services import open_command_workers, open_services
from hearth_core.settings import Settings
from ingest.service import IngestService


def all_endpoints() -> list[Endpoint]:
    return [
        *health.routes.endpoints,
        *openapi.routes.endpoints,
        *oauth.routes.endpoints,
        *clients.routes.endpoints,
        *users.routes.endpoints,
        *roles.routes.endpoints,
        *flags.routes.endpoints,
        *unleash.routes.endpoints,
        *config.routes.endpoints,
        *metrics.routes.endpoints,
        *remote_write.routes.endpoints,
        *otlp.routes.endpoints,
        *influx.routes.endpoints,
        *prometheus.routes.endpoints,
        *analytics.routes.endpoints,
        *tenants.routes.endpoints,
        *usage.routes.endpoints,
        *ratelimits.routes.endpoints,
        *rooms.routes.endpoints,
        *commands.routes.endpoints,
        *audit.routes.endpoints,
        *console.routes.endpoints,
    ]


async def _services(app: web.Application) -> AsyncIterator[None]:
    """The composition root's services (shared with ``hearth worker``), under the app's keys."""
    async with open_services(app[SETTINGS], on_limiter_degraded=app[METRICS].degraded) as svc:
        app[SERVICES] = svc
        app[DB] = svc.db
        app[DB_READ] = svc.db_read
        app[REDIS] = svc.redis
        app[CIPHER] = svc.cipher
        app[EVENTS] = svc.events
        app[IDENTITY] = svc.identity
        app[USERS] = svc.users
        app[ROLES] = svc.roles
        app[FLAGS] = svc.flags
        app[UNLEASH_TOKENS] = svc.flag_tokens
        app[CONFIG] = svc.config
        app[RATELIMITS] = svc.ratelimits
        app[ROOMS] = svc.rooms
        app[USAGE] = svc.usage
        app[TENANTS] = svc.tenants
        yield


async def _close_streams(app: web.Application) -> None:
    # Long-lived SSE responses end at shutdown instead of holding it for shutdown_timeout.
    if FLAGS in app:
        app[FLAGS].close_subscribers()
    if ROOMS in app:
        app[ROOMS].close_subscribers()


async def _ingest(app: web.Application) -> AsyncIterator[None]:
    """Ingest and the query API's store: PostgreSQL, or the remote backend
    (HEARTH_METRICS_STORE=remote) with its connection pool and counters."""
    settings = app[SETTINGS]
    backend = None
    if settings.metrics_store == "remote":
        backend = RemoteBackend(settings, RemoteCounters(app[METRICS].registry))
        await backend.start()
    try:
        service = IngestService(
            settings,
            app[DB],
            app[REDIS],
            app[USAGE],
            app[METRICS].ingest,
            app[SERVICES].config,
            tenants=app[TENANTS],
            backend=backend,
        )
        await service.start()
        app[INGEST] = service
        app[METRICS_READER] = (
            RemoteReader(
                backend,
                label=settings.metrics_namespace_label,
                timeout_s=settings.promql_timeout_s,
            )
            if backend is not None
            else EmbeddedReader(app[DB_READ], Limits.from_settings(settings))
        )
        yield
        await service.close()
    finally:
        if backend is not None:
            await backend.close()


async def _commands(app: web.Application) -> AsyncIterator[None]:
    routes = commands.callable_routes(app[ENDPOINTS].values())
    concurrency = app[SETTINGS].command_workers
    async with open_command_workers(app[SERVICES], routes, concurrency=concurrency) as service:
        app[COMMANDS] = service
        yield


def create_app(settings: Settings, *, extra: Iterable[Endpoint] = ()) -> web.Application:
    app = web.Application(
        middlewares=[edge],
        client_max_size=settings.max_body_bytes,
        # Bodies reach handlers as sent: the bulk endpoint gunzips in the Rust core, off the
        # event loop and with its own decompressed-size limit (zip bombs).
        # Header limits (aiohttp's defaults, stated): a longer line or field is refused with 400.
        handler_args={"auto_decompress": False, "max_line_size": 8190, "max_field_size": 8190},
    )
    app[SETTINGS] = settings
    app[METRICS] = HttpMetrics()
    app[OPENAPI_CACHE] = {}
    app[CORS_ORIGINS] = allowed_origins(settings.cors_origins)
    app[ENDPOINTS] = register(app, [*all_endpoints(), *extra])
    app.on_shutdown.append(_close_streams)
    app.cleanup_ctx.append(_services)
    app.cleanup_ctx.append(_ingest)
    app.cleanup_ctx.append(_commands)
    app.on_startup.append(console.register_console_client)
    return app
