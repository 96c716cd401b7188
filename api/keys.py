"""Typed application keys: what the app holds for its handlers."""

from __future__ import annotations

import asyncpg
import redis.asyncio as aioredis
from aiohttp import web

from api.observability import HttpMetrics
from api.routing import Endpoint
from hearth_core.commands.service import CommandService
from hearth_core.config.service import ConfigService
from hearth_core.events import EventListener
from hearth_core.flags.service import FlagService
from hearth_core.identity.provider import IdentityProvider
from hearth_core.metrics.reader import MetricsReader
from hearth_core.ratelimit.service import RateLimitService
from hearth_core.roles.service import RoleService
from hearth_core.rooms.service import RoomService
from hearth_core.security.crypto import FieldCipher
from hearth_core.services import Services
from hearth_core.settings import Settings
from hearth_core.tenancy.service import TenantService
from hearth_core.unleash.service import TokenService
from hearth_core.usage import UsageMeter
from hearth_core.users.service import UserService
from ingest.service import IngestService

SETTINGS = web.AppKey("settings", Settings)
SERVICES = web.AppKey("services", Services)
DB = web.AppKey("db", asyncpg.Pool)
# Analytics reads: the replica at HEARTH_DATABASE_READ_URL, else the same pool as DB.
DB_READ = web.AppKey("db_read", asyncpg.Pool)
REDIS = web.AppKey("redis", aioredis.Redis)
METRICS = web.AppKey("metrics", HttpMetrics)
ENDPOINTS = web.AppKey("endpoints", dict[str, Endpoint])  # by route name
# Mutable holder filled on first request (the app is frozen by then).
OPENAPI_CACHE = web.AppKey("openapi_cache", dict)
CIPHER = web.AppKey("cipher", FieldCipher)
EVENTS = web.AppKey("events", EventListener)
IDENTITY = web.AppKey("identity", IdentityProvider)
USERS = web.AppKey("users", UserService)
ROLES = web.AppKey("roles", RoleService)
FLAGS = web.AppKey("flags", FlagService)
UNLEASH_TOKENS = web.AppKey("unleash_tokens", TokenService)
CONFIG = web.AppKey("config", ConfigService)
INGEST = web.AppKey("ingest", IngestService)
# The Prometheus query API's store: embedded (PostgreSQL) or the remote backend.
METRICS_READER: web.AppKey[MetricsReader] = web.AppKey("metrics_reader")
USAGE = web.AppKey("usage", UsageMeter)
TENANTS = web.AppKey("tenants", TenantService)
RATELIMITS = web.AppKey("ratelimits", RateLimitService)
ROOMS = web.AppKey("rooms", RoomService)
COMMANDS = web.AppKey("commands", CommandService)
CORS_ORIGINS = web.AppKey("cors_origins", frozenset)
REQUEST_ID = web.RequestKey("request_id", str)
