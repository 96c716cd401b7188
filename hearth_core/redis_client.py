"""The redis-py asyncio client, built from settings."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from hearth_core.settings import Settings


def create_redis(settings: Settings) -> aioredis.Redis:
    """A client for HEARTH_REDIS_URL; with HEARTH_REDIS_CLUSTER a cluster client (same API for
    the single-key commands the service uses)."""
    if settings.redis_url is None:
        raise ValueError("redis_url is not set (the launcher fills it in)")
    if settings.redis_cluster:
        cluster = aioredis.RedisCluster.from_url(
            settings.redis_url,
            socket_timeout=2.0,
            socket_connect_timeout=1.0,
            max_connections=512,
        )
        return cluster  # type: ignore[return-value]
    return aioredis.Redis.from_url(
        settings.redis_url,
        socket_timeout=2.0,
        socket_connect_timeout=1.0,
        health_check_interval=15,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.01), retries=1),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        max_connections=512,
    )
