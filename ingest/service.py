"""The bulk ingest path: decode (native, off the loop) → validate → resolve series → encode a
write-log block (native) → batcher → acknowledged after commit. Python never touches individual
points.

In remote mode (``HEARTH_METRICS_STORE=remote``) the series are still admitted here (the
cardinality limits, the series catalogue in PostgreSQL), then the batch is encoded as one
remote-write request (native) and acknowledged once the backend acknowledged it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from hearth_core import idempotency
from hearth_core.config.service import ConfigService
from hearth_core.errors import InvalidInput, Unavailable
from hearth_core.metrics import repo as metrics_repo
from hearth_core.metrics.chunks import native_path
from hearth_core.metrics.codec import DecodedBatch, Format, decode, encode_remote_write
from hearth_core.metrics.compactor import Compactor
from hearth_core.metrics.partitions import Partitions
from hearth_core.metrics.remote.backend import BackendRejected, BackendUnavailable, RemoteBackend
from hearth_core.metrics.series import SeriesDictionary
from hearth_core.settings import Settings
from hearth_core.tenancy.service import TenantService
from hearth_core.usage import UsageMeter
from ingest import errors
from ingest.batcher import Batcher, Job, Overloaded
from ingest.cardinality import CardinalityPolicy
from ingest.counters import IngestCounters

log = logging.getLogger("hearth.ingest")
MAX_REPORTED = 100
STATUS_KEEP = 50
MAINTENANCE_SECONDS = 3600


@dataclass(frozen=True)
class Written:
    """What ``IngestService.write`` stored of a batch."""

    accepted: int  # samples stored
    refused_series: int  # new series a cardinality limit refused
    refused_samples: int  # their samples, not stored
    refusal: str | None = None  # why, for the answer


def _written(
    batch: DecodedBatch,
    kept: DecodedBatch,
    refused_series: int,
    refusal: str | None,
    response: dict[str, Any] | None,
) -> Written:
    """What is written of ``batch`` once a cardinality limit left ``kept``; the bulk answer
    (``response``) says so when series were refused."""
    written = Written(
        accepted=kept.accepted,
        refused_series=refused_series,
        refused_samples=batch.accepted - kept.accepted,
        refusal=refusal,
    )
    if response is not None and refused_series:
        response["accepted"] = written.accepted
        response["refused_series"] = refused_series
        response["refused_samples"] = written.refused_samples
        response["refusal"] = refusal
    return written


def status_key(client_id: str) -> str:
    return f"hearth:ingest:status:{{{client_id}}}"


class IngestService:
    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        redis: aioredis.Redis,
        usage: UsageMeter,
        counters: IngestCounters | None = None,
        config: ConfigService | None = None,
        *,
        tenants: TenantService | None = None,
        backend: RemoteBackend | None = None,
    ) -> None:
        self.settings = settings
        self.tenants = tenants
        self.backend = backend
        self.counters = counters or IngestCounters(None)
        self.policy = CardinalityPolicy(config, settings.metrics_policy_environment)
        self.usage = usage
        self.pool = pool
        self.redis = redis
        self.series = SeriesDictionary(settings.metrics_series_cache)
        self.partitions = Partitions()
        self.batcher = Batcher(
            pool,
            max_rows=settings.metrics_batch_rows,
            max_delay=settings.metrics_batch_delay_ms / 1000,
            writers=settings.metrics_writers,
            budget=settings.metrics_inflight_points,
        )
        self.compactor = Compactor(
            pool,
            self.partitions,
            max_samples=settings.metrics_compact_samples,
            interval=settings.metrics_compact_interval_ms / 1000,
            seal_after=settings.metrics_seal_after_s,
        )
        self._maintenance: asyncio.Task[None] | None = None
        self._compaction: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._maintain()
        if self.backend is not None:  # the backend stores the samples: no log, no chunks
            self._maintenance = asyncio.create_task(
                self._maintain_forever(), name="metrics-maintenance"
            )
            return
        await metrics_repo.register_native(self.pool, native_path())
        self._maintenance = asyncio.create_task(
            self._maintain_forever(), name="metrics-maintenance"
        )
        self._compaction = asyncio.create_task(self.compactor.run_forever(), name="compactor")

    async def close(self) -> None:
        for task in (self._maintenance, self._compaction):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.batcher.close()

    async def _maintain(self) -> None:
        """Partitions ahead, expired days dropped, old Idempotency-Keys gone."""
        if self.backend is None:
            await self.partitions.maintain(
                self.pool, retention_days=self.settings.metrics_retention_days
            )
        await idempotency.prune(self.pool)

    async def _maintain_forever(self) -> None:
        while True:
            await asyncio.sleep(MAINTENANCE_SECONDS)
            try:
                await self._maintain()
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("metrics maintenance failed", extra={"error": repr(exc)})

    async def ingest(
        self,
        body: bytes,
        fmt: Format,
        *,
        gzip: bool,
        partial: bool,
        client_id: str,
        idempotency_key: str | None,
        target: str,
    ) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body). Raises InvalidInput (400), TooLarge (413, decompressed) and
        Unavailable (503)."""
        started = time.perf_counter()
        reservation: idempotency.Reservation | None = None
        if idempotency_key is not None:
            found = await idempotency.reserve(
                self.pool,
                client_id,
                idempotency_key,
                idempotency.request_hash("POST", target, body),
            )
            if isinstance(found, idempotency.Replay):
                return found.status_code, found.response
            reservation = found
        queued: list[Job] = []
        try:
            status, response = await self._ingest(
                body,
                fmt,
                gzip=gzip,
                partial=partial,
                client_id=client_id,
                reservation=reservation,
                queued=queued,
            )
        except BaseException:
            # Once queued, the job completes its key in its own transaction: keep the key then.
            if reservation is not None and not queued:
                await idempotency.release(self.pool, reservation)
            raise
        self.counters.record(
            fmt,
            accepted=response.get("accepted", 0),
            rejected=response.get("rejected_total", 0),
            too_old=0,
            refused_samples=response.get("refused_samples", 0),
            refused_series=response.get("refused_series", 0),
            ignored=[],
        )
        self.usage.points(client_id, int(response.get("accepted", 0)))
        await self._record_status(client_id, response, len(body), time.perf_counter() - started)
        return status, response

    async def _ingest(
        self,
        body: bytes,
        fmt: Format,
        *,
        gzip: bool,
        partial: bool,
        client_id: str,
        reservation: idempotency.Reservation | None,
        queued: list[Job],
    ) -> tuple[int, dict[str, Any]]:
        try:
            batch = await decode(
                body,
                fmt,
                gzip=gzip,
                retention_days=self.settings.metrics_retention_days,
                max_decompressed=self.settings.metrics_max_body_bytes * 8,
            )
        except errors.CLIENT_ERRORS as exc:
            raise errors.problem(exc) from None
        rejected = batch.rejected
        if rejected and not partial:
            raise InvalidInput(
                f"{len(rejected)} of {batch.total} points are invalid; nothing was written"
                " (send ?partial=true to keep the valid ones)",
                errors=[
                    {"path": f"$[{i}]", "message": reason} for i, reason in rejected[:MAX_REPORTED]
                ],
            )
        response = {
            "accepted": batch.accepted,
            "rejected": [{"index": i, "reason": r} for i, r in rejected[:MAX_REPORTED]],
            "rejected_total": len(rejected),
            "refused_series": 0,
            "refused_samples": 0,
        }
        if batch.accepted == 0:
            if reservation is not None:
                async with self.pool.acquire() as conn:
                    await idempotency.complete(conn, reservation, 200, response)
            return 200, response
        await self._write(
            batch, client_id=client_id, reservation=reservation, response=response, queued=queued
        )
        return 200, response

    async def write(self, batch: DecodedBatch, *, client_id: str, protocol: str) -> Written:
        """Store a decoded batch of any protocol once the write committed, and count what
        happened to its samples (``IngestCounters``). The samples of new series the client's
        cardinality limits refuse are not stored (``Written.refused_*``). Raises Unavailable
        (503, Retry-After) when ingest is at capacity or the write did not commit — nothing of
        the batch was stored then."""
        started = time.perf_counter()
        written = Written(accepted=0, refused_series=0, refused_samples=0)
        if batch.accepted:
            written = await self._write(
                batch, client_id=client_id, reservation=None, response=None, queued=[]
            )
        self.counters.record(
            protocol,
            accepted=written.accepted,
            rejected=len(batch.rejected),
            too_old=batch.too_old,
            refused_samples=written.refused_samples,
            refused_series=written.refused_series,
            ignored=batch.ignored,
        )
        self.usage.points(client_id, written.accepted)
        summary = {"accepted": written.accepted, "rejected_total": len(batch.rejected)}
        await self._record_status(client_id, summary, 0, time.perf_counter() - started)
        return written

    async def _write(
        self,
        batch: DecodedBatch,
        *,
        client_id: str,
        reservation: idempotency.Reservation | None,
        response: dict[str, Any] | None,
        queued: list[Job],
    ) -> Written:
        if self.tenants is not None:
            self.tenants.check_written(client_id, batch.namespaces)
        if self.backend is not None:
            return await self._write_remote(
                self.backend, batch, client_id=client_id, reservation=reservation, response=response
            )
        try:
            self.batcher.reserve(batch.accepted)
        except Overloaded:
            raise Unavailable(
                "ingest is at capacity; retry shortly", headers={"Retry-After": "1"}
            ) from None
        try:
            encoded = await self.series.encode_block(
                self.pool, batch, client_id=client_id, limits=self.policy.limits(client_id)
            )
            kept = encoded.batch
            written = _written(batch, kept, encoded.refused_series, encoded.refusal, response)
            if encoded.block is None:  # every series was refused
                if reservation is not None:
                    async with self.pool.acquire() as conn:
                        await idempotency.complete(conn, reservation, 200, response)
                return written
            assert kept.min_time_us is not None and kept.max_time_us is not None
            job = Job(
                block=encoded.block,
                count=kept.accepted,
                min_time_us=kept.min_time_us,
                max_time_us=kept.max_time_us,
                reservation=reservation,
                response=response,
            )
            queued.append(job)
            try:
                await self.batcher.submit(job)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                queued.clear()  # it failed: nothing was written, the key may be reused
                raise Unavailable(
                    f"the write did not commit ({type(exc).__name__}); nothing was stored, retry",
                    headers={"Retry-After": "1"},
                ) from None
        finally:
            self.batcher.release(batch.accepted)
        return written

    async def _write_remote(
        self,
        backend: RemoteBackend,
        batch: DecodedBatch,
        *,
        client_id: str,
        reservation: idempotency.Reservation | None,
        response: dict[str, Any] | None,
    ) -> Written:
        admitted = await self.series.admit(
            self.pool, batch, client_id=client_id, limits=self.policy.limits(client_id)
        )
        kept = admitted.batch
        written = _written(batch, kept, admitted.refused_series, admitted.refusal, response)
        if kept.accepted:
            body = await encode_remote_write(kept, self.settings.metrics_namespace_label)
            tenant = backend.default_tenant
            if self.tenants is not None:
                tenant = self.tenants.backend_tenant(client_id, tenant)
            try:
                await backend.write(body, tenant=tenant, samples=kept.accepted)
            except BackendRejected as exc:
                raise InvalidInput(
                    f"the metrics backend refused the samples ({exc.status}): {exc.message}"
                ) from None
            except BackendUnavailable as exc:
                raise Unavailable(
                    f"the metrics backend did not acknowledge the samples ({exc}); nothing was "
                    "acknowledged, retry",
                    headers={"Retry-After": "1"},
                ) from None
        if reservation is not None:
            async with self.pool.acquire() as conn:
                await idempotency.complete(conn, reservation, 200, response)
        return written

    async def _record_status(
        self, client_id: str, response: dict[str, Any], size: int, seconds: float
    ) -> None:
        entry = orjson.dumps(
            {
                "accepted": response.get("accepted", 0),
                "rejected": response.get("rejected_total", 0),
                "bytes": size,
                "duration_ms": round(seconds * 1000, 3),
                "at": time.time(),
            }
        )
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.lpush(status_key(client_id), entry)
                pipe.ltrim(status_key(client_id), 0, STATUS_KEEP - 1)
                await pipe.execute()
        except RedisError as exc:  # status is informational; the data is already committed
            log.warning("could not record ingest status", extra={"error": repr(exc)})

    async def recent(self, client_id: str, limit: int) -> list[dict[str, Any]]:
        try:
            raw = await self.redis.lrange(status_key(client_id), 0, limit - 1)
        except RedisError:
            raise Unavailable(
                "ingest status is unavailable (Redis)", headers={"Retry-After": "1"}
            ) from None
        return [orjson.loads(r) for r in raw]
