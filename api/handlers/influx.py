"""InfluxDB line protocol (v1 /write and v2 /api/v2/write): ingestion routes (scope metrics.write).

Telegraf (``outputs.influxdb_v2`` and ``outputs.influxdb``), the InfluxDB client libraries and
scripts post line protocol here as they would to InfluxDB. Each field of a line becomes a
sample of the series ``<measurement>_<field>`` (``hearth_core.metrics.influx``).

- Token: ``Authorization: Token`` (v2 clients) or ``Bearer``; on v1 also HTTP Basic with the
  token as password, or ``?p=<token>`` (Telegraf's v1 output and the 1.x clients send those).
- Namespace: a tag named by the namespace label (``HEARTH_METRICS_NAMESPACE_LABEL``), else
  ``?namespace=``, else the v2 ``bucket`` / v1 ``db``, else the default namespace. ``org``,
  ``orgID``, ``rp`` and ``consistency`` are accepted and ignored.
- Answers as InfluxDB: 204 when every line was stored. A partial write — InfluxDB 1.x, 3 and
  Cloud keep the good lines of a batch and answer 400 naming a bad one, and so does Hearth —
  is a 400 whose message names the first rejected line (1-based) and counts the rest,
  samples older than retention included; the sender does not retry a 400 (Telegraf drops the
  batch), which is right since the good lines are stored and the bad ones would fail again.
- Errors in InfluxDB's shapes: v2 ``{"code": "invalid", "message": ...}``; v1
  ``{"error": ...}``, the shape Telegraf's v1 output reads (``partial write``/``unable to
  parse`` there mean "drop, do not retry"). 429/503 carry Retry-After, and the senders retry.
"""

from __future__ import annotations

from typing import Annotated, Literal, TypeVar

import msgspec
from aiohttp import web

from api.ingest_request import gzipped
from api.jsonio import json_response, read_limited, read_query
from api.keys import INGEST, SETTINGS
from api.principal import PRINCIPAL
from api.routing import Routes
from hearth_core.errors import InvalidInput
from hearth_core.metrics import influx
from hearth_core.metrics.codec import DecodedBatch
from ingest.errors import CLIENT_ERRORS, problem
from ingest.service import Written

routes = Routes("influx")

Namespace = Annotated[
    str, msgspec.Meta(pattern=r"^[A-Za-z_:][A-Za-z0-9_:.]*$", min_length=1, max_length=200)
]

# InfluxDB 2's error codes (its errors.E* constants) by HTTP status.
V2_CODES = {
    400: "invalid",
    401: "unauthorized",
    403: "forbidden",
    404: "not found",
    405: "method not allowed",
    413: "request too large",
    415: "unsupported media type",
    429: "too many requests",
    503: "unavailable",
}


def v2_error(status: int, detail: str, headers: dict[str, str]) -> web.Response:
    code = V2_CODES.get(status, "internal error" if status >= 500 else "invalid")
    return json_response({"code": code, "message": detail}, status=status, headers=headers)


def v1_error(status: int, detail: str, headers: dict[str, str]) -> web.Response:
    return json_response({"error": detail}, status=status, headers=headers)


class V2Query(msgspec.Struct, kw_only=True):
    bucket: Namespace | None = None  # the namespace, unless ?namespace= names one
    org: str | None = None
    orgID: str | None = None  # InfluxDB spells it so
    precision: Literal["ns", "us", "ms", "s"] = "ns"
    namespace: Namespace | None = None


class V1Query(msgspec.Struct, kw_only=True):
    db: Namespace | None = None  # the namespace, unless ?namespace= names one
    rp: str | None = None
    precision: Literal["n", "ns", "u", "us", "ms", "s", "m", "h"] = "ns"
    consistency: str | None = None
    u: str | None = None  # user: ignored
    p: str | None = None  # the token (when not in a header)
    namespace: Namespace | None = None


Q = TypeVar("Q", V1Query, V2Query)

RESPONSES = {
    204: "every line stored",
    400: "partial write: the message names the first rejected line; the other lines are stored",
    401: "no valid token",
    413: "body too large",
    415: "Content-Encoding other than gzip",
    429: "rate limited; retry after Retry-After",
    503: "ingest at capacity or database unavailable; retry after Retry-After",
}
SUMMARY = "Write InfluxDB line protocol: each field a series <measurement>_<field>, tags labels"


@routes.post(
    "/api/v2/write",
    scope="metrics.write",
    summary=f"{SUMMARY} (InfluxDB 2 API)",
    query=V2Query,
    status=204,
    content_types=("text/plain",),
    responses=RESPONSES,
    error_shape=v2_error,
    token_schemes=("Token", "Bearer"),
)
async def write_v2(request: web.Request) -> web.Response:
    q = _query(request, V2Query)
    return await _write(request, q.precision, q.namespace or q.bucket)


@routes.post(
    "/write",
    scope="metrics.write",
    summary=f"{SUMMARY} (InfluxDB 1.x API)",
    query=V1Query,
    status=204,
    content_types=("text/plain",),
    responses=RESPONSES,
    error_shape=v1_error,
    token_schemes=("Token", "Bearer", "Basic", "query"),
)
async def write_v1(request: web.Request) -> web.Response:
    q = _query(request, V1Query)
    return await _write(request, q.precision, q.namespace or q.db)


def _query(request: web.Request, typ: type[Q]) -> Q:
    """The query, a bad parameter named in the message (the only thing these clients show)."""
    try:
        return read_query(request, typ)
    except InvalidInput as exc:
        e = exc.errors[0]
        raise InvalidInput(f"invalid query parameter {e['path']}: {e['message']}") from None


async def _write(
    request: web.Request, precision: influx.Precision, namespace: str | None
) -> web.Response:
    settings = request.app[SETTINGS]
    gzip = gzipped(request)
    body = await read_limited(request, settings.metrics_max_body_bytes)
    try:
        batch = await influx.decode(
            body,
            precision=precision,
            gzip=gzip,
            namespace=namespace or settings.metrics_default_namespace,
            namespace_label=settings.metrics_namespace_label,
            retention_days=settings.metrics_retention_days,
            max_decompressed=settings.metrics_max_body_bytes * 8,
        )
    except CLIENT_ERRORS as exc:
        raise problem(exc) from None
    written = await request.app[INGEST].write(
        batch, client_id=request[PRINCIPAL].client_id, protocol="influx"
    )
    if batch.rejected or written.refused_samples:
        raise InvalidInput(partial_write(batch, written, settings.metrics_retention_days))
    return web.Response(status=204)


def partial_write(batch: DecodedBatch, written: Written, retention_days: int) -> str:
    """InfluxDB's ``partial write: <first error> dropped=N``, the first error naming its line
    (1-based), with what was written and why the rest was not."""
    dropped = len(batch.rejected) + written.refused_samples
    if batch.rejected:
        index, reason = batch.rejected[0]
        first = f"line {index + 1}: {reason}"
    else:
        first = written.refusal or "new series refused"
    counts = f"{written.accepted} sample{'s' * (written.accepted != 1)} written, {dropped} rejected"
    if batch.too_old:
        counts += f" ({batch.too_old} older than the {retention_days}-day retention)"
    if written.refused_samples and batch.rejected:
        counts += f"; {written.refused_samples} of new series refused: {written.refusal}"
    return f"partial write: {first}; {counts} dropped={dropped}"
