"""Readiness: can this worker reach PostgreSQL and Redis right now (``/readyz``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import asyncpg
import redis.asyncio as aioredis

from hearth_core.db.pool import ping

OK = "ok"


async def _answers(call: Awaitable[object], seconds: float) -> str:
    try:
        async with asyncio.timeout(seconds):
            await call
        return OK
    except Exception as exc:  # any failure means "not ready", reported by type
        return f"unavailable: {type(exc).__name__}"


async def check(pool: asyncpg.Pool, redis: aioredis.Redis) -> dict[str, str]:
    """``{"postgres": ..., "redis": ...}``, each "ok" or "unavailable: <error type>"."""
    pg, rd = await asyncio.gather(_answers(ping(pool), 2), _answers(redis.ping(), 1))
    return {"postgres": pg, "redis": rd}
