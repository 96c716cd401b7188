"""Usage and billing: /v1/usage and /v1/usage/export (usage.read)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import msgspec
from aiohttp import web

from api.jsonio import json_response, read_query
from api.keys import CONFIG, DB_READ
from api.routing import Routes
from hearth_core.usage import service
from hearth_core.usage.model import UsageReport

routes = Routes("usage")


class UsageQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    start: date | None = None
    end: date | None = None
    client_id: str | None = None


def _range(q: UsageQuery) -> tuple[date, date]:
    end = q.end or datetime.now(UTC).date()
    return q.start or end - timedelta(days=30), end


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
    report = await service.report(
        request.app[DB_READ],
        service.prices(request.app[CONFIG]),
        start=start,
        end=end,
        client_id=q.client_id,
    )
    return json_response(report)


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
    rows = await service.counters(
        request.app[DB_READ],
        service.prices(request.app[CONFIG]),
        start=start,
        end=end,
        client_id=q.client_id,
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
