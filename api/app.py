"""``create_app(settings)``: the whole HTTP service, its resources in ``cleanup_ctx``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

from aiohttp import web

from api import openapi
from api.auth import scope_guard
from api.handlers import (
    analytics,
    audit,
    clients,
    commands,
    config,
    console,
    flags,
    health,
    metrics,
    oauth,
    ratelimits,
    roles,
    rooms,
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
    OPENAPI_CACHE,
    RATELIMITS,
    REDIS,
    ROLES,
    ROOMS,
    SETTINGS,
    USAGE,
    USERS,
)
from api.middlewares import (
    allowed_origins,
    cors,
    problem_details,
    request_context,
    stamp_request_id,
)
from api.observability import HttpMetrics
from api.routing import Endpoint, register
from hearth_core.commands.service import CommandService
from hearth_core.commands.worker import CommandWorkers
from hearth_core.config.service import ConfigService
from hearth_core.db.pool import create_pool
from hearth_core.events import EventListener
from hearth_core.flags.service import FlagService
from hearth_core.identity.provider import IdentityProvider
from hearth_core.ratelimit.service import RateLimitService
from hearth_core.redis_client import create_redis
from hearth_core.roles.service import RoleService
from hearth_core.rooms.service import RoomService
from hearth_core.security.crypto import MasterKeyRing
from hearth_core.security.keyring import load_field_cipher
from hearth_core.settings import Settings
from hearth_core.usage import UsageMeter
from hearth_core.users.service import UserService
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
        *config.routes.endpoints,
        *metrics.routes.endpoints,
        *analytics.routes.endpoints,
        *usage.routes.endpoints,
        *ratelimits.routes.endpoints,
        *rooms.routes.endpoints,
        *commands.routes.endpoints,
        *audit.routes.endpoints,
        *console.routes.endpoints,
    ]


async def _postgres(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    pool = await create_pool(settings)
    app[DB] = pool
    read = (
        await create_pool(settings, dsn=settings.database_read_url)
        if settings.database_read_url
        else pool
    )
    app[DB_READ] = read
    yield
    if read is not pool:
        await read.close()
    await pool.close()


async def _redis(app: web.Application) -> AsyncIterator[None]:
    client = create_redis(app[SETTINGS])
    app[REDIS] = client
    yield
    await client.aclose()


async def _identity(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    assert settings.database_url is not None
    ring = MasterKeyRing.from_settings(settings)
    async with app[DB].acquire() as conn:
        cipher = await load_field_cipher(conn, ring)
    app[CIPHER] = cipher
    listener = EventListener(settings.database_url)
    await listener.start()
    app[EVENTS] = listener
    provider = IdentityProvider(settings, app[DB], cipher, redis=app[REDIS])
    await provider.start(listener)
    app[IDENTITY] = provider
    app[USERS] = UserService(
        app[DB], cipher, provider.revocations, provider.max_token_life.total_seconds()
    )
    app[ROLES] = RoleService(app[DB])

    async def reload_data_keys(_event: object = None) -> None:
        async with app[DB].acquire() as conn:
            cipher.replace_keys(await load_field_cipher(conn, ring))

    listener.subscribe("data_keys", reload_data_keys, resync=reload_data_keys)

    flags_svc = FlagService(app[DB])
    await flags_svc.load()
    listener.subscribe("flag", flags_svc.on_event, resync=flags_svc.load)
    app[FLAGS] = flags_svc
    config_svc = ConfigService(app[DB])
    await config_svc.load()
    listener.subscribe("config", config_svc.on_event, resync=config_svc.load)
    app[CONFIG] = config_svc
    limiter = RateLimitService(app[DB], app[REDIS], on_degraded=app[METRICS].degraded)
    await limiter.load()
    listener.subscribe("ratelimit", limiter.on_event, resync=limiter.load)
    app[RATELIMITS] = limiter
    rooms_svc = RoomService(app[DB])
    listener.subscribe("room", rooms_svc.on_event)
    app[ROOMS] = rooms_svc
    yield
    await listener.stop()


async def _close_streams(app: web.Application) -> None:
    # Long-lived SSE responses end at shutdown instead of holding it for shutdown_timeout.
    if FLAGS in app:
        app[FLAGS].close_subscribers()
    if ROOMS in app:
        app[ROOMS].close_subscribers()


async def _usage(app: web.Application) -> AsyncIterator[None]:
    meter = UsageMeter(app[DB], app[SETTINGS].usage_flush_seconds)
    meter.start()
    app[USAGE] = meter
    yield
    await meter.close()


async def _ingest(app: web.Application) -> AsyncIterator[None]:
    service = IngestService(app[SETTINGS], app[DB], app[REDIS], app[USAGE])
    await service.start()
    app[INGEST] = service
    yield
    await service.close()


async def _commands(app: web.Application) -> AsyncIterator[None]:
    routes = commands.callable_routes(app[ENDPOINTS].values())
    service = CommandService(app[DB], routes)
    app[COMMANDS] = service
    settings = app[SETTINGS]
    workers = CommandWorkers(
        service,
        flags=app[FLAGS],
        config=app[CONFIG],
        identity=app[IDENTITY],
        routes=routes,
        base_url=settings.public_base_url,
        concurrency=settings.command_workers,
    )
    workers.subscribe(app[EVENTS])
    if settings.command_workers > 0:
        workers.start()
    yield
    await workers.stop()


def create_app(settings: Settings, *, extra: Iterable[Endpoint] = ()) -> web.Application:
    app = web.Application(
        middlewares=[request_context, problem_details, cors, scope_guard],
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
    app.on_response_prepare.append(stamp_request_id)
    app.on_shutdown.append(_close_streams)
    app.cleanup_ctx.append(_postgres)
    app.cleanup_ctx.append(_redis)
    app.cleanup_ctx.append(_identity)
    app.cleanup_ctx.append(_usage)
    app.cleanup_ctx.append(_ingest)
    app.cleanup_ctx.append(_commands)
    app.on_startup.append(console.register_console_client)
    return app
