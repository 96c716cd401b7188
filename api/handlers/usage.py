"""Usage and billing: /v1/usage and /v1/usage/export (usage.read)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
from aiohttp import web

from api.jsonio import json_response, read_query
from api.keys import CONFIG, DB_READ
from api.routing import Routes
from hearth_core.usage import DEFAULT_PRICES, PRICE_ENVIRONMENT, PRICE_KEY, report

routes = Routes("usage")


class UsageQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    start: date | None = None
    end: date | None = None
    client_id: str | None = None


class UsageDay(msgspec.Struct, kw_only=True):
    day: date
    client_id: str
    requests: dict[str, int]
    points: int
    bytes_in: int
    cost: float


class UsageTotals(msgspec.Struct, kw_only=True):
    requests: int
    points: int
    bytes_in: int
    cost: float
    currency: str


class UsageReport(msgspec.Struct, kw_only=True):
    start: date
    end: date
    items: list[UsageDay]
    totals: UsageTotals


def _range(q: UsageQuery) -> tuple[date, date]:
    end = q.end or datetime.now(UTC).date()
    return q.start or end - timedelta(days=30), end


def _prices(request: web.Request) -> dict[str, Any]:
    entry = request.app[CONFIG].entries.get((PRICE_ENVIRONMENT, PRICE_KEY))
    return (
        {**DEFAULT_PRICES, **entry.value}
        if entry is not None and isinstance(entry.value, dict)
        else DEFAULT_PRICES
    )


@routes.get(
    "/v1/usage",
    scope="usage.read",
    summary="Requests by route, points ingested and bytes in, per client and day, priced",
    query=UsageQuery,
    response=UsageReport,
)
async def usage(request: web.Request) -> web.Response:
    q = read_query(request, UsageQuery)
    start, end = _range(q)
    prices = _prices(request)
    rows = await report(request.app[DB_READ], prices, start=start, end=end, client_id=q.client_id)
    days: dict[tuple[date, str], UsageDay] = {}
    for r in rows:
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
    return json_response(UsageReport(start=start, end=end, items=items, totals=totals))


@routes.get(
    "/v1/usage/export",
    scope="usage.read",
    summary="Usage as CSV, one row per counter",
    query=UsageQuery,
    content_types=("text/csv",),
)
async def usage_export(request: web.Request) -> web.Response:
    q = read_query(request, UsageQuery)
    start, end = _range(q)
    rows = await report(
        request.app[DB_READ], _prices(request), start=start, end=end, client_id=q.client_id
    )
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["day", "client_id", "kind", "route", "value", "cost"])
    for r in rows:
        w.writerow(
            [
                r["day"].isoformat(),
                r["client_id"],
                r["kind"],
                r["route"],
                r["value"],
                f"{r['cost']:.6f}",
            ]
        )
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="usage-{start}-{end}.csv"'},
    )
