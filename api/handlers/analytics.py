"""Analytics over metrics: /v1/metrics/query and /v1/metrics/series (metrics.read), served from
the read replica when one is configured — or, in remote mode, /v1/metrics/query by the backend
(``remote.analytics``). A client bound to a namespace reads only its own."""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from aiohttp import web

from api.jsonio import json_response, read_query
from api.keys import DB_READ, INGEST, METRICS_READER, SETTINGS, TENANTS
from api.principal import PRINCIPAL
from api.routing import Routes
from hearth_core.db.paging import Page
from hearth_core.errors import Forbidden, InvalidInput
from hearth_core.metrics.query import Query, default_step, parse_matcher
from hearth_core.metrics.service import (
    SeriesItem,
    StoreState,
    find_series,
    store_state,
)

routes = Routes("analytics")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)?$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


class QueryParams(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    namespace: str | None = None  # default HEARTH_METRICS_DEFAULT_NAMESPACE; a bound client's own
    name: str
    match: list[str] | str = []
    start: str | None = None
    end: str | None = None
    step: str | None = None
    agg: Literal["avg", "sum", "min", "max", "count", "last", "rate"] = "avg"
    group_by: list[str] | str | None = None


class SeriesOut(msgspec.Struct, kw_only=True):
    metric: dict[str, str]
    values: list[tuple[float, float]]


class QueryData(msgspec.Struct, kw_only=True):
    resultType: str
    result: list[SeriesOut]


class QueryResult(msgspec.Struct, kw_only=True):
    status: str
    data: QueryData
    start: float
    end: float
    step: int
    source: str


class SeriesParams(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    namespace: str | None = None
    name: str | None = None
    match: list[str] | str = []
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 100
    page: Annotated[int, msgspec.Meta(ge=1)] = 1


def _instant(raw: str, field: str) -> float:
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise InvalidInput(
            f"{field}: not RFC 3339 or epoch seconds",
            errors=[{"path": f"query.{field}", "message": "not RFC 3339 or epoch seconds"}],
        ) from None


def _step(raw: str) -> int:
    m = _DURATION.match(raw.strip())
    if m is None:
        raise InvalidInput(
            "step: a number of seconds or a duration like 30s, 5m, 1h",
            errors=[{"path": "query.step", "message": "not a duration"}],
        )
    seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if seconds < 1 or seconds != int(seconds):
        raise InvalidInput(
            "step must be a whole number of seconds ≥ 1",
            errors=[{"path": "query.step", "message": "must be whole seconds ≥ 1"}],
        )
    return int(seconds)


def _listed(value: list[str] | str | None) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    return [part.strip() for item in items for part in item.split(",") if part.strip()]


@routes.get(
    "/v1/metrics/query",
    scope="metrics.read",
    summary="Aggregates over a time range (Prometheus query_range shape), from rollups",
    query=QueryParams,
    response=QueryResult,
)
async def query(request: web.Request) -> web.Response:
    p = read_query(request, QueryParams)
    end = _instant(p.end, "end") if p.end else time.time()
    start = _instant(p.start, "start") if p.start else end - 3600
    step = _step(p.step) if p.step else default_step(start, end)
    matchers = tuple(
        parse_matcher(m, i)
        for i, m in enumerate([p.match] if isinstance(p.match, str) else p.match)
    )
    settings = request.app[SETTINGS]
    client_id = request[PRINCIPAL].client_id
    tenants = request.app[TENANTS]
    q = Query(
        namespace=tenants.namespace(client_id, p.namespace, settings.metrics_default_namespace),
        name=p.name,
        start=start,
        end=end,
        step=step,
        agg=p.agg,
        matchers=matchers,
        group_by=tuple(_listed(p.group_by)) if p.group_by is not None else None,
    )
    results, source = await request.app[METRICS_READER].analytics(
        q, tenant=tenants.backend_tenant(client_id, settings.metrics_remote_tenant)
    )
    body: dict[str, Any] = {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [{"metric": r.metric, "values": r.values} for r in results],
        },
        "start": start,
        "end": end,
        "step": step,
        "source": source,
    }
    return json_response(body)


@routes.get(
    "/v1/metrics/series",
    scope="metrics.read",
    summary="Find series by name and labels",
    query=SeriesParams,
    response=Page[SeriesItem],
)
async def series(request: web.Request) -> web.Response:
    p = read_query(request, SeriesParams)
    matchers = tuple(
        parse_matcher(m, i)
        for i, m in enumerate([p.match] if isinstance(p.match, str) else p.match)
    )
    # The series catalogue is PostgreSQL's in both modes (remote mode admits series there).
    bound = request.app[TENANTS].of(request[PRINCIPAL].client_id)
    if bound is not None and p.namespace not in (None, bound.namespace):
        raise Forbidden(f"this client is bound to metrics namespace {bound.namespace!r}")
    page = await find_series(
        request.app[DB_READ],
        namespace=p.namespace if bound is None else bound.namespace,
        name=p.name,
        matchers=matchers,
        limit=p.limit,
        page=p.page,
    )
    return json_response(page)


@routes.get(
    "/v1/metrics/store",
    scope="metrics.read",
    summary="The metric store's compaction backlog (write log not yet in chunks), or in remote "
    "mode what waits for the backend",
    response=StoreState,
)
async def store(request: web.Request) -> web.Response:
    state = await store_state(request.app[DB_READ])
    backend = request.app[INGEST].backend
    if backend is not None:
        state.mode = "remote"
        state.remote = backend.state()
    return json_response(state)
