"""Rate-limit policies (cached in every worker, invalidated by NOTIFY) and their enforcement.

Buckets live in Redis under ``hearth:rl:{service:key}`` — the whole identity is the hash tag,
so on Redis Cluster each bucket sits in one slot and the script touches one key. When Redis
cannot be reached, a policy's ``fail_mode`` decides: ``open`` falls back to an in-process
bucket with the same parameters (each worker limits on its own), ``closed`` denies.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

import asyncpg
import msgspec
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError, RedisError

from hearth_core.db.audited import audited_write
from hearth_core.errors import InvalidInput, NotFound
from hearth_core.ratelimit import repo
from hearth_core.ratelimit.bucket import SCRIPT, Decision, LocalBucket, Params, decide

log = logging.getLogger("hearth.ratelimit")
SCRIPT_SHA = hashlib.sha1(SCRIPT.encode()).hexdigest()  # noqa: S324 - Redis names scripts by SHA-1
REDIS_TIMEOUT = 2.0  # for one script call, once it has a connection slot
# Calls in flight per worker: a burst queues here instead of opening a connection per request
# (a connection storm would blow the timeout and push decisions to the fallback bucket).
REDIS_SLOTS = 64
Source = Literal["redis", "fallback", "closed"]


class Policy(msgspec.Struct, kw_only=True):
    service: str
    key: str
    limit: int
    window_sec: int
    burst: int | None
    fail_mode: Literal["open", "closed"]
    created_at: datetime
    updated_at: datetime
    updated_by: str

    @property
    def params(self) -> Params:
        return Params(
            limit=self.limit, window_sec=self.window_sec, capacity=self.burst or self.limit
        )


def bucket_key(service: str, key: str) -> str:
    return f"hearth:rl:{{{service}:{key}}}"


def _policy(r: asyncpg.Record) -> Policy:
    return Policy(
        service=r["service"],
        key=r["key"],
        limit=r["limit"],
        window_sec=r["window_sec"],
        burst=r["burst"],
        fail_mode=r["fail_mode"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        updated_by=r["updated_by"],
    )


class RateLimitService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        redis: Any,
        *,
        on_degraded: Callable[[str, bool], None] | None = None,
    ) -> None:
        self.pool = pool
        self.redis = redis
        self.policies: dict[tuple[str, str], Policy] = {}
        self._fallback: dict[str, LocalBucket] = {}
        self._on_degraded = on_degraded or (lambda _mode, _allowed: None)
        self._slots = asyncio.Semaphore(REDIS_SLOTS)
        self._loading = asyncio.Lock()
        self._loaded = False

    # ------------------------------------------------------------- policies
    async def load(self) -> None:
        rows = await repo.all_policies(self.pool)
        self.policies = {(r["service"], r["key"]): _policy(r) for r in rows}

    async def on_event(self, _event: dict[str, Any]) -> None:
        await self.load()

    def resolve(self, service: str, *keys: str) -> Policy | None:
        """The first policy among ``keys`` (most specific first), then the service default."""
        for k in (*keys, "*"):
            p = self.policies.get((service, k))
            if p is not None:
                return p
        return None

    def list(self, service: str | None = None) -> list[Policy]:
        return sorted(
            (p for p in self.policies.values() if service is None or p.service == service),
            key=lambda p: (p.service, p.key),
        )

    def get(self, service: str, key: str) -> Policy:
        p = self.policies.get((service, key))
        if p is None:
            raise NotFound(f"no rate-limit policy {service}/{key}")
        return p

    async def put(
        self,
        service: str,
        key: str,
        *,
        limit: int,
        window_sec: int,
        burst: int | None,
        fail_mode: str,
        actor: str,
        request_id: str | None,
    ) -> tuple[Policy, bool]:
        if not Params(limit, window_sec, burst or limit).fits():
            raise InvalidInput(
                "policy too large",
                errors=[
                    {
                        "path": "$.window_sec",
                        "message": "capacity * window_sec * 1e6 must stay below 2^53",
                    }
                ],
            )
        async with audited_write(self.pool, actor=actor, request_id=request_id) as w:
            before = await repo.lock(w.conn, service, key)
            try:
                row = await repo.upsert(
                    w.conn,
                    service,
                    key,
                    limit=limit,
                    window_sec=window_sec,
                    burst=burst,
                    fail_mode=fail_mode,
                    actor=actor,
                )
            except asyncpg.CheckViolationError:
                raise InvalidInput(
                    "invalid service or key",
                    errors=[
                        {
                            "path": "path",
                            "message": "service [A-Za-z0-9_.:-]{1,64}; key '*' or [A-Za-z0-9_.:@/-]{1,200}",
                        }
                    ],
                ) from None
            policy = _policy(row)
            await w.audit(
                "ratelimit.update" if before else "ratelimit.create",
                f"ratelimit:{service}/{key}",
                before=msgspec.to_builtins(_policy(before)) if before else None,
                after=msgspec.to_builtins(policy),
            )
            await w.notify("ratelimit")
        self.policies[(service, key)] = policy
        self._fallback.pop(bucket_key(service, key), None)
        return policy, before is None

    async def delete(self, service: str, key: str, *, actor: str, request_id: str | None) -> None:
        async with audited_write(self.pool, actor=actor, request_id=request_id) as w:
            row = await repo.delete(w.conn, service, key)
            if row is None:
                raise NotFound(f"no rate-limit policy {service}/{key}")
            await w.audit(
                "ratelimit.delete",
                f"ratelimit:{service}/{key}",
                before=msgspec.to_builtins(_policy(row)),
            )
            await w.notify("ratelimit")
        self.policies.pop((service, key), None)

    # ---------------------------------------------------------- enforcement
    async def _load_script(self) -> None:
        async with self._loading:
            if isinstance(self.redis, RedisCluster):
                # Every node: a key's slot may live on any of them (or move there later).
                await self.redis.execute_command(
                    "SCRIPT LOAD", SCRIPT, target_nodes=RedisCluster.ALL_NODES
                )
            else:
                await self.redis.script_load(SCRIPT)
            self._loaded = True

    async def _script(self, key: str, args: list[Any]) -> list[Any]:
        if not self._loaded:
            await self._load_script()
        try:
            return list(await self.redis.evalsha(SCRIPT_SHA, 1, key, *args))
        except NoScriptError:
            # Redis restarted (or a node joined) and forgot the script: load it, run again.
            await self._load_script()
            return list(await self.redis.evalsha(SCRIPT_SHA, 1, key, *args))

    async def take(self, policy: Policy, bucket: str, cost: int = 1) -> tuple[Decision, Source]:
        """Spend ``cost`` tokens from ``bucket`` (a bucket_key) under ``policy``."""
        p = policy.params
        if cost > p.capacity:
            raise InvalidInput(
                f"cost {cost} exceeds the bucket's capacity {p.capacity}",
                errors=[{"path": "$.cost", "message": f"at most {p.capacity}"}],
            )
        try:
            async with self._slots, asyncio.timeout(REDIS_TIMEOUT):
                allowed, units, now = await self._script(
                    bucket, [p.limit, p.window_us, p.capacity, cost, 0]
                )
        except (RedisError, OSError, TimeoutError) as exc:
            return self._degraded(policy, bucket, cost, exc)
        return decide(p, bool(int(allowed)), int(units), cost, int(now)), "redis"

    def _degraded(
        self, policy: Policy, bucket: str, cost: int, exc: BaseException
    ) -> tuple[Decision, Source]:
        log.warning(
            "rate limiter cannot reach Redis",
            extra={"error": type(exc).__name__, "mode": policy.fail_mode},
        )
        p = policy.params
        if policy.fail_mode == "closed":
            self._on_degraded("closed", False)
            return Decision(
                allowed=False,
                remaining=0,
                reset_after=1.0,
                retry_after=1.0,
                limit=p.capacity,
                window_sec=p.window_sec,
            ), "closed"
        local = self._fallback.get(bucket)
        if local is None or local.p != p:
            local = self._fallback[bucket] = LocalBucket(p)
        decision = local.take(cost)
        self._on_degraded("open", decision.allowed)
        return decision, "fallback"

    async def peek(self, policy: Policy, bucket: str) -> tuple[Decision, Source]:
        p = policy.params
        try:
            async with self._slots, asyncio.timeout(REDIS_TIMEOUT):
                _allowed, units, _now = await self._script(
                    bucket, [p.limit, p.window_us, p.capacity, 0, 1]
                )
        except (RedisError, OSError, TimeoutError):
            local = self._fallback.get(bucket)
            units = local.units if local is not None else p.capacity * p.window_us
            return decide(p, True, int(units), 0), "fallback"
        return decide(p, True, int(units), 0), "redis"
