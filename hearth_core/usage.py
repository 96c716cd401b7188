"""Usage metering per client and day: counted in memory on the hot path (a dict increment),
flushed to PostgreSQL every few seconds, priced from a table in the configuration store.

A worker that dies loses at most one flush interval of counts; a graceful stop flushes first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

log = logging.getLogger("hearth.usage")
Key = tuple[date, str, str, str]  # day, client, kind, route
PRICE_ENVIRONMENT = "billing"
PRICE_KEY = "billing.prices"
DEFAULT_PRICES: dict[str, Any] = {
    "currency": "EUR",
    "request": 0.0,
    "routes": {},
    "point": 0.0,
    "gb_in": 0.0,
}


class UsageMeter:
    def __init__(self, pool: asyncpg.Pool, flush_seconds: float) -> None:
        self.pool = pool
        self.flush_seconds = flush_seconds
        self._counts: defaultdict[Key, int] = defaultdict(int)
        self._task: asyncio.Task[None] | None = None

    def request(self, client_id: str, route: str, bytes_in: int) -> None:
        today = datetime.now(UTC).date()
        self._counts[(today, client_id, "requests", route)] += 1
        if bytes_in:
            self._counts[(today, client_id, "bytes_in", "")] += bytes_in

    def points(self, client_id: str, n: int) -> None:
        self._counts[(datetime.now(UTC).date(), client_id, "points", "")] += n

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="usage-flush")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_seconds)
            await self.flush()

    async def flush(self) -> int:
        """Write what was counted since the last flush; on failure keep it for the next one."""
        counts, self._counts = self._counts, defaultdict(int)
        if not counts:
            return 0
        keys = list(counts)
        try:
            await self.pool.execute(
                """
                INSERT INTO usage_daily (day, client_id, kind, route, value)
                SELECT * FROM unnest($1::date[], $2::text[], $3::text[], $4::text[], $5::bigint[])
                ON CONFLICT (day, client_id, kind, route) DO UPDATE SET value = usage_daily.value + EXCLUDED.value
                """,
                [k[0] for k in keys],
                [k[1] for k in keys],
                [k[2] for k in keys],
                [k[3] for k in keys],
                [counts[k] for k in keys],
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            for k, v in counts.items():
                self._counts[k] += v
            log.warning("usage flush failed; kept for the next one", extra={"error": repr(exc)})
            return 0
        return len(keys)


def price(prices: dict[str, Any], kind: str, route: str, value: int) -> float:
    if kind == "requests":
        per = prices.get("routes", {}).get(route, prices.get("request", 0.0))
        return float(per) * value
    if kind == "points":
        return float(prices.get("point", 0.0)) * value
    return float(prices.get("gb_in", 0.0)) * value / 1e9


async def report(
    conn: asyncpg.Connection | asyncpg.Pool,
    prices: dict[str, Any],
    *,
    start: date,
    end: date,
    client_id: str | None,
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT day, client_id, kind, route, value FROM usage_daily"
        " WHERE day >= $1 AND day <= $2 AND ($3::text IS NULL OR client_id = $3)"
        " ORDER BY day, client_id, kind, route",
        start,
        end,
        client_id,
    )
    return [{**dict(r), "cost": price(prices, r["kind"], r["route"], r["value"])} for r in rows]
