"""The Prometheus HTTP query API (scope metrics.read): /api/v1/query, /api/v1/query_range,
/api/v1/series, /api/v1/labels, /api/v1/label/{name}/values, /api/v1/metadata,
/api/v1/status/buildinfo — Prometheus's envelope and error types, so Grafana's Prometheus data
source, promtool and any client of the Prometheus API read Hearth unchanged.

Every route takes GET and form-encoded POST (Prometheus 2.42 takes POST on query, query_range,
series and labels; the others accept it here too). Answers are Prometheus's
``{"status":"success","data":…}``; errors ``{"status":"error","errorType":…,"error":…}`` with
Prometheus's statuses (bad_data 400, execution 422, timeout 503, internal 500) — and the
errors the middlewares raise (401, 403, 413, 429, 503) in the same shape (``error_shape``).
A query's result arrives from the native engine as JSON bytes and is wrapped, never parsed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, Literal

import msgspec
from aiohttp import web

from api.keys import METRICS_READER, SETTINGS, TENANTS
from api.principal import PRINCIPAL
from api.prometheus_params import (
    FORM,
    NS_PER_MS,
    Params,
    duration_ns,
    go_quote,
    invalid,
    optional_time_ms,
    read_params,
    time_ms,
    timeout_s,
)
from api.routing import Routes
from hearth_core import __version__
from hearth_core.metrics.promql import Evaluated, QueryFailed, TimeRange
from hearth_core.metrics.remote.prometheus_api import Scope
from hearth_core.tenancy.service import NAMESPACE

routes = Routes("prometheus")

# The Prometheus version whose API this is: Grafana reads it to choose the features it uses.
PROMETHEUS_VERSION = "2.42.0"
MAX_POINTS = 11_000  # per series of a range query (Prometheus's own bound)
MAX_FORM_BYTES = 1 << 20
_LABEL_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
_encoder = msgspec.json.Encoder()
_SUCCESS = b'{"status":"success","data":'
# errorType of the errors the middlewares answer (auth, limits, a backing service down):
# Prometheus's own classes where one fits.
_ERROR_TYPES = {
    400: "bad_data",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "bad_data",
    413: "bad_data",
    415: "bad_data",
    422: "execution",
    429: "unavailable",
    500: "internal",
    503: "unavailable",
}


# -- the envelope ------------------------------------------------------------------------


def _json(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=body, content_type="application/json", headers=headers)


def success(data: Any) -> web.Response:
    return _json(_SUCCESS + _encoder.encode(data) + b"}")


def success_raw(data: bytes) -> web.Response:
    """``data`` is JSON already (the engine's result): wrapped as is."""
    return _json(_SUCCESS + data + b"}")


def failure(
    error_type: str, message: str, status: int, headers: dict[str, str] | None = None
) -> web.Response:
    body = {"status": "error", "errorType": error_type, "error": message}
    return _json(_encoder.encode(body), status, headers)


def prometheus_error(status: int, detail: str, headers: dict[str, str]) -> web.Response:
    """``Endpoint.error_shape``: what the middlewares refuse, in Prometheus's error shape."""
    error_type = _ERROR_TYPES.get(status, "internal" if status >= 500 else "bad_data")
    return failure(error_type, detail, status, headers)


Handler = Callable[[web.Request, Params], Awaitable[web.Response]]


def _api(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Read the parameters, run ``handler``, answer a :class:`QueryFailed` in Prometheus's
    shape."""

    @wraps(handler)
    async def wrapper(request: web.Request) -> web.Response:
        try:
            params = await read_params(request, MAX_FORM_BYTES)
            return await handler(request, params)
        except QueryFailed as exc:
            return failure(exc.error_type, exc.message, exc.status)

    return wrapper


def _scope(request: web.Request, params: Params) -> Scope:
    """Where the request reads: ``namespace`` (form or query string), else
    HEARTH_METRICS_DEFAULT_NAMESPACE — the rule of the ingest routes (a client bound to a
    namespace reads only its own: 403) — and the client's backend tenant."""
    ns = params.get("namespace")
    if ns != "" and not NAMESPACE.fullmatch(ns):
        raise invalid("namespace", f"must be 1 to 200 characters matching ^{NAMESPACE.pattern}$")
    if len(params.getall("namespace")) > 1:
        raise invalid("namespace", "give one namespace")
    settings = request.app[SETTINGS]
    client_id = request[PRINCIPAL].client_id
    tenants = request.app[TENANTS]
    return Scope(
        tenant=tenants.backend_tenant(client_id, settings.metrics_remote_tenant),
        label=settings.metrics_namespace_label,
        namespace=tenants.namespace(client_id, ns or None, settings.metrics_default_namespace),
    )


# -- OpenAPI: the parameters and answers (the handlers read parameters as Prometheus does) --


class PromInstantParams(msgspec.Struct, kw_only=True):
    query: str
    time: str | None = None  # RFC 3339 or Unix seconds; default now
    timeout: str | None = None  # duration (5m, 1h30m) or seconds
    namespace: str | None = None


class PromRangeParams(msgspec.Struct, kw_only=True):
    query: str
    start: str
    end: str
    step: str  # duration (5m, 1h30m) or seconds
    timeout: str | None = None
    namespace: str | None = None


class PromSeriesParams(msgspec.Struct, kw_only=True):
    match: list[str] = msgspec.field(name="match[]")
    start: str | None = None
    end: str | None = None
    namespace: str | None = None


class PromLabelsParams(msgspec.Struct, kw_only=True):
    match: list[str] | None = msgspec.field(default=None, name="match[]")
    start: str | None = None
    end: str | None = None
    namespace: str | None = None


class PromMetadataParams(msgspec.Struct, kw_only=True):
    metric: str | None = None
    limit: int | None = None
    namespace: str | None = None


class PromQueryData(msgspec.Struct, kw_only=True):
    resultType: Literal["vector", "matrix", "scalar", "string"]
    result: Any


class PromQueryAnswer(msgspec.Struct, kw_only=True):
    status: Literal["success"]
    data: PromQueryData


class PromSeriesAnswer(msgspec.Struct, kw_only=True):
    status: Literal["success"]
    data: list[dict[str, str]]


class PromNamesAnswer(msgspec.Struct, kw_only=True):
    status: Literal["success"]
    data: list[str]


class PromMetricMetadata(msgspec.Struct, kw_only=True):
    type: str
    help: str
    unit: str


class PromMetadataAnswer(msgspec.Struct, kw_only=True):
    status: Literal["success"]
    data: dict[str, list[PromMetricMetadata]]


class PromBuildInfo(msgspec.Struct, kw_only=True):
    version: str
    revision: str
    branch: str
    buildUser: str
    buildDate: str
    goVersion: str


class PromBuildInfoAnswer(msgspec.Struct, kw_only=True):
    status: Literal["success"]
    data: PromBuildInfo


_QUERY_ERRORS = {
    400: "bad_data: a bad parameter or a query that does not parse",
    422: "execution: the query cannot be evaluated (unsupported, too many samples or series)",
    503: "timeout: the query ran past its timeout",
}
_LOOKUP_ERRORS = {
    400: "bad_data: a bad parameter or match[] selector",
    422: "execution: match[] selects too many series",
}


def _both(path: str, *, summary: str, params: Any, response: Any, responses: dict[int, str]):
    """Declare GET (parameters in the query string) and POST (form-encoded) for one handler."""

    def deco(handler: Handler):
        wrapped = _api(handler)
        common: dict[str, Any] = {
            "scope": "metrics.read",
            "response": response,
            "responses": responses,
            "error_shape": prometheus_error,
            # Grafana sends a bearer token as a custom header, or HTTP Basic (the token as the
            # password); promtool 2.42 can send only Basic, from the server URL's userinfo.
            "token_schemes": ("Bearer", "Basic"),
        }
        get = _named(wrapped, handler.__name__)
        post = _named(wrapped, handler.__name__ + "_post")
        routes.get(path, summary=summary, query=params, **common)(get)
        routes.post(
            path,
            summary=summary + " (form-encoded POST)",
            body=params,
            content_types=(FORM,),
            max_body=MAX_FORM_BYTES,
            **common,
        )(post)
        return wrapped

    return deco


def _named(
    fn: Callable[[web.Request], Awaitable[web.Response]], name: str
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A distinct function per route (route names come from handler names)."""

    async def route(request: web.Request) -> web.Response:
        return await fn(request)

    route.__name__ = route.__qualname__ = name
    return route


# -- the routes ----------------------------------------------------------------------------


@_both(
    "/api/v1/query",
    summary="PromQL instant query (Prometheus API)",
    params=PromInstantParams,
    response=PromQueryAnswer,
    responses=_QUERY_ERRORS,
)
async def query(request: web.Request, params: Params) -> web.Response:
    t = time_ms(params, "time", default=time.time_ns() // NS_PER_MS, wrap=True)
    budget = timeout_s(params, request.app[SETTINGS].promql_timeout_s)
    scope = _scope(request, params)
    try:
        answer = await request.app[METRICS_READER].evaluate(
            scope,
            query=params.get("query"),
            start_ms=t,
            end_ms=t,
            step_ms=0,
            timeout_s=budget,
        )
    except QueryFailed as exc:
        if exc.error_type == "bad_data":  # the query does not parse: Prometheus names it
            raise invalid("query", exc.message) from None
        raise
    return _answered(answer)


@_both(
    "/api/v1/query_range",
    summary="PromQL range query (Prometheus API)",
    params=PromRangeParams,
    response=PromQueryAnswer,
    responses=_QUERY_ERRORS,
)
async def query_range(request: web.Request, params: Params) -> web.Response:
    start = time_ms(params, "start")
    end = time_ms(params, "end")
    if end < start:
        raise invalid("end", "end timestamp must not be before start time")
    step_ns = duration_ns(params, "step")
    step = step_ns // NS_PER_MS if step_ns > 0 else 0
    if step <= 0:
        raise invalid(
            "step",
            "zero or negative query resolution step widths are not accepted. "
            "Try a positive integer",
        )
    if (end - start) * NS_PER_MS // step_ns > MAX_POINTS:
        raise QueryFailed(
            "bad_data",
            "exceeded maximum resolution of 11,000 points per timeseries. "
            "Try decreasing the query resolution (?step=XX)",
        )
    budget = timeout_s(params, request.app[SETTINGS].promql_timeout_s)
    answer = await request.app[METRICS_READER].evaluate(
        _scope(request, params),
        query=params.get("query"),
        start_ms=start,
        end_ms=end,
        step_ms=step,
        timeout_s=budget,
    )
    return _answered(answer)


def _answered(answer: Evaluated) -> web.Response:
    """The answer, saying what the query read (X-Hearth-Read: edges, chunks, edges+chunks or
    none; README "Which queries read what")."""
    resp = success_raw(answer.data)
    resp.headers["X-Hearth-Read"] = answer.read
    return resp


def _span(params: Params) -> TimeRange:
    return TimeRange(optional_time_ms(params, "start"), optional_time_ms(params, "end"))


@_both(
    "/api/v1/series",
    summary="Series matching match[] selectors (Prometheus API)",
    params=PromSeriesParams,
    response=PromSeriesAnswer,
    responses=_LOOKUP_ERRORS,
)
async def series(request: web.Request, params: Params) -> web.Response:
    selectors = params.getall("match[]")
    if not selectors:
        raise QueryFailed("bad_data", "no match[] parameter provided")
    span = _span(params)
    scope = _scope(request, params)
    try:
        found = await request.app[METRICS_READER].find_series(scope, selectors=selectors, span=span)
    except QueryFailed as exc:
        if exc.error_type == "bad_data":
            raise invalid("match[]", exc.message) from None
        raise
    return success(found)


@_both(
    "/api/v1/labels",
    summary="Label names (Prometheus API)",
    params=PromLabelsParams,
    response=PromNamesAnswer,
    responses=_LOOKUP_ERRORS,
)
async def labels(request: web.Request, params: Params) -> web.Response:
    span = _span(params)
    names = await request.app[METRICS_READER].label_names(
        _scope(request, params), selectors=params.getall("match[]"), span=span
    )
    return success(names)


@_both(
    "/api/v1/label/{name}/values",
    summary="Values of one label (Prometheus API)",
    params=PromLabelsParams,
    response=PromNamesAnswer,
    responses=_LOOKUP_ERRORS,
)
async def label_values(request: web.Request, params: Params) -> web.Response:
    name = request.match_info["name"]
    if not re.fullmatch(_LABEL_NAME, name):
        raise QueryFailed("bad_data", f"invalid label name: {go_quote(name)}")
    span = _span(params)
    values = await request.app[METRICS_READER].label_values(
        _scope(request, params), label=name, selectors=params.getall("match[]"), span=span
    )
    return success(values)


# Hearth keeps no metric metadata (remote write's metadata is not stored): every metric
# name is answered with Prometheus's "unknown" type and empty help and unit.
_UNKNOWN = [{"type": "unknown", "help": "", "unit": ""}]


@_both(
    "/api/v1/metadata",
    summary='Metric metadata (Prometheus API): every metric name, type "unknown"',
    params=PromMetadataParams,
    response=PromMetadataAnswer,
    responses={400: "bad_data: limit is not a number"},
)
async def metadata(request: web.Request, params: Params) -> web.Response:
    limit = -1
    if (raw := params.get("limit")) != "":
        try:
            limit = int(raw)
        except ValueError:
            raise QueryFailed("bad_data", "limit must be a number") from None
    names = await request.app[METRICS_READER].metric_names(_scope(request, params))
    metric = params.get("metric")
    if metric:
        names = [n for n in names if n == metric]
    if limit >= 0:
        names = names[:limit]
    return success({n: _UNKNOWN for n in names})


@_both(
    "/api/v1/status/buildinfo",
    summary="Build information (Prometheus API): Prometheus 2.42.0's API, served by Hearth",
    params=None,
    response=PromBuildInfoAnswer,
    responses={},
)
async def buildinfo(request: web.Request, params: Params) -> web.Response:
    return success(
        {
            "version": PROMETHEUS_VERSION,
            "revision": f"hearth-{__version__}",
            "branch": "hearth",
            "buildUser": "hearth",
            "buildDate": "",
            "goVersion": f"none: Hearth Core Services {__version__}, PromQL engine in Rust",
        }
    )
