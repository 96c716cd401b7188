"""The composition root: every long-lived service, built once, in one order, for both the HTTP
server (``api.app.create_app``) and the standalone ``hearth worker`` — so the two cannot drift.

``open_services`` yields a :class:`Services` whose caches are loaded and subscribed to the
cross-worker events (data-key rotation, flags, config, rate-limit policies, rooms, signing keys
and revocations); leaving it stops them in reverse order. ``open_command_workers`` adds the
project-command queue on top, for whichever process runs commands.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from hearth_core.commands.model import RouteRef
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
from hearth_core.security.crypto import FieldCipher, MasterKeyRing
from hearth_core.security.keyring import load_field_cipher
from hearth_core.settings import Settings
from hearth_core.tenancy.service import TenantService
from hearth_core.unleash.service import TokenService
from hearth_core.usage import UsageMeter
from hearth_core.users.service import UserService

log = logging.getLogger("hearth.services")


@dataclass(frozen=True)
class Services:
    settings: Settings
    db: asyncpg.Pool
    db_read: asyncpg.Pool  # the replica at HEARTH_DATABASE_READ_URL, else ``db``
    redis: aioredis.Redis
    cipher: FieldCipher
    events: EventListener
    identity: IdentityProvider
    users: UserService
    roles: RoleService
    flags: FlagService
    flag_tokens: TokenService  # Unleash API tokens
    config: ConfigService
    ratelimits: RateLimitService
    rooms: RoomService
    usage: UsageMeter
    tenants: TenantService  # each client's metrics namespace / backend tenant


def _applied(
    kind: str, handler: Callable[[dict[str, Any]], Awaitable[None]]
) -> Callable[[dict[str, Any]], Awaitable[None]]:
    """``handler``, then a DEBUG line once the change is in this process's cache (what an
    operator — and the worker's test — looks for to know a process has caught up)."""

    async def apply(event: dict[str, Any]) -> None:
        await handler(event)
        log.debug("change applied", extra={"kind": kind, "event": event})

    return apply


@contextlib.asynccontextmanager
async def _pools(settings: Settings) -> AsyncIterator[tuple[asyncpg.Pool, asyncpg.Pool]]:
    pool = await create_pool(settings)
    try:
        if not settings.database_read_url:
            yield pool, pool
            return
        read = await create_pool(settings, dsn=settings.database_read_url)
        try:
            yield pool, read
        finally:
            await read.close()
    finally:
        await pool.close()


@contextlib.asynccontextmanager
async def open_services(
    settings: Settings, *, on_limiter_degraded: Callable[[str, bool], None] | None = None
) -> AsyncIterator[Services]:
    """Every service, loaded and listening. ``on_limiter_degraded`` is told when rate limiting
    falls back from Redis (the HTTP server counts it in /metrics)."""
    if settings.database_url is None:
        raise ValueError("database_url is not set (the launcher fills it in)")
    async with contextlib.AsyncExitStack() as stack:
        db, db_read = await stack.enter_async_context(_pools(settings))
        redis = create_redis(settings)
        stack.push_async_callback(redis.aclose)

        ring = MasterKeyRing.from_settings(settings)
        async with db.acquire() as conn:
            cipher = await load_field_cipher(conn, ring)
        listener = EventListener(settings.database_url)
        await listener.start()
        stack.push_async_callback(listener.stop)

        async def reload_data_keys(_event: object = None) -> None:
            async with db.acquire() as conn:
                cipher.replace_keys(await load_field_cipher(conn, ring))
            log.info("data keys reloaded", extra={"active_key": cipher.active_id})

        listener.subscribe("data_keys", reload_data_keys, resync=reload_data_keys)

        identity = IdentityProvider(settings, db, cipher, redis=redis)
        await identity.start(listener)
        users = UserService(
            db, cipher, identity.revocations, identity.max_token_life.total_seconds()
        )

        flags = FlagService(db)
        await flags.load()
        listener.subscribe("flag", _applied("flag", flags.on_event), resync=flags.load)
        listener.subscribe(
            "flag_segment", _applied("flag_segment", flags.on_segment_event), resync=flags.load
        )
        flag_tokens = TokenService(db)
        await flag_tokens.load()
        listener.subscribe("flag_token", flag_tokens.on_event, resync=flag_tokens.load)
        stack.push_async_callback(flag_tokens.close)
        config = ConfigService(db)
        await config.load()
        listener.subscribe("config", _applied("config", config.on_event), resync=config.load)
        ratelimits = RateLimitService(db, redis, on_degraded=on_limiter_degraded)
        await ratelimits.load()
        listener.subscribe("ratelimit", ratelimits.on_event, resync=ratelimits.load)
        rooms = RoomService(db)
        listener.subscribe("room", rooms.on_event)
        tenants = TenantService(db)
        await tenants.load()
        listener.subscribe(
            "metric_tenant", _applied("metric_tenant", tenants.on_event), resync=tenants.load
        )

        usage = UsageMeter(db, settings.usage_flush_seconds)
        usage.start()
        stack.push_async_callback(usage.close)

        yield Services(
            settings=settings,
            db=db,
            db_read=db_read,
            redis=redis,
            cipher=cipher,
            events=listener,
            identity=identity,
            users=users,
            roles=RoleService(db),
            flags=flags,
            flag_tokens=flag_tokens,
            config=config,
            ratelimits=ratelimits,
            rooms=rooms,
            usage=usage,
            tenants=tenants,
        )


@contextlib.asynccontextmanager
async def open_command_workers(
    services: Services, routes: dict[str, RouteRef], *, concurrency: int
) -> AsyncIterator[CommandService]:
    """The command queue, and ``concurrency`` worker tasks taking commands from it (none when
    0: this process only queues). ``routes`` are what a ``call`` step may reach."""
    service = CommandService(services.db, routes)
    workers = CommandWorkers(
        service,
        flags=services.flags,
        config=services.config,
        identity=services.identity,
        routes=routes,
        base_url=services.settings.public_base_url,
        concurrency=concurrency,
    )
    workers.subscribe(services.events)
    if concurrency > 0:
        workers.start()
    try:
        yield service
    finally:
        await workers.stop()
