"""Usage reports: the daily counters, priced from the table in the configuration store."""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg

from hearth_core.config.service import ConfigService
from hearth_core.usage import repo
from hearth_core.usage.model import UsageDay, UsageReport, UsageTotals

PRICE_ENVIRONMENT = "billing"
PRICE_KEY = "billing.prices"
DEFAULT_PRICES: dict[str, Any] = {
    "currency": "EUR",
    "request": 0.0,
    "routes": {},
    "point": 0.0,
    "gb_in": 0.0,
}


def prices(config: ConfigService) -> dict[str, Any]:
    """The price table (``billing.prices`` in environment ``billing``) over the defaults."""
    entry = config.entries.get((PRICE_ENVIRONMENT, PRICE_KEY))
    if entry is not None and isinstance(entry.value, dict):
        return {**DEFAULT_PRICES, **entry.value}
    return DEFAULT_PRICES


def price(prices: dict[str, Any], kind: str, route: str, value: int) -> float:
    if kind == "requests":
        per = prices.get("routes", {}).get(route, prices.get("request", 0.0))
        return float(per) * value
    if kind == "points":
        return float(prices.get("point", 0.0)) * value
    return float(prices.get("gb_in", 0.0)) * value / 1e9


async def counters(
    conn: asyncpg.Connection | asyncpg.Pool,
    prices: dict[str, Any],
    *,
    start: date,
    end: date,
    client_id: str | None,
) -> list[dict[str, Any]]:
    """Every counter (day, client_id, kind, route, value) in the range with its ``cost``."""
    rows = await repo.counters(conn, start=start, end=end, client_id=client_id)
    return [{**dict(r), "cost": price(prices, r["kind"], r["route"], r["value"])} for r in rows]


async def report(
    conn: asyncpg.Connection | asyncpg.Pool,
    prices: dict[str, Any],
    *,
    start: date,
    end: date,
    client_id: str | None,
) -> UsageReport:
    """The counters folded into one entry per client and day, with totals."""
    days: dict[tuple[date, str], UsageDay] = {}
    for r in await counters(conn, prices, start=start, end=end, client_id=client_id):
        d = days.setdefault(
            (r["day"], r["client_id"]),
            UsageDay(
                day=r["day"], client_id=r["client_id"], requests={}, points=0, bytes_in=0, cost=0.0
            ),
        )
        if r["kind"] == "requests":
            d.requests[r["route"]] = r["value"]
        elif r["kind"] == "points":
            d.points = r["value"]
        else:
            d.bytes_in = r["value"]
        d.cost += r["cost"]
    items = list(days.values())
    totals = UsageTotals(
        requests=sum(sum(d.requests.values()) for d in items),
        points=sum(d.points for d in items),
        bytes_in=sum(d.bytes_in for d in items),
        cost=sum(d.cost for d in items),
        currency=str(prices.get("currency", "EUR")),
    )
    return UsageReport(start=start, end=end, items=items, totals=totals)
