"""Metrics ingestion: POST /v1/metrics/bulk (metrics.write), the caller's recent batches."""

from __future__ import annotations

from typing import Annotated

import msgspec
from aiohttp import web

from api.ingest_request import gzipped
from api.jsonio import json_response, read_limited, read_query
from api.keys import INGEST, SETTINGS
from api.principal import PRINCIPAL
from api.routing import Routes
from hearth_core.errors import UnsupportedMediaType
from hearth_core.metrics.codec import Format

routes = Routes("metrics")

FORMATS: dict[str, Format] = {
    "application/json": "json",
    "application/x-ndjson": "ndjson",
    "application/ndjson": "ndjson",
    "application/jsonl": "ndjson",
    "text/csv": "csv",
}


class BulkQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    partial: bool = False


class Rejected(msgspec.Struct, kw_only=True):
    index: int
    reason: str


class BulkResult(msgspec.Struct, kw_only=True):
    accepted: int
    rejected: list[Rejected]
    rejected_total: int
    # New series the client's cardinality limits refused, and their points (not stored).
    refused_series: int = 0
    refused_samples: int = 0
    refusal: str | None = None


class StatusQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    limit: Annotated[int, msgspec.Meta(ge=1, le=50)] = 10


class BatchStatus(msgspec.Struct, kw_only=True):
    accepted: int
    rejected: int
    bytes: int
    duration_ms: float
    at: float


class IngestStatus(msgspec.Struct, kw_only=True):
    items: list[BatchStatus]


@routes.post(
    "/v1/metrics/bulk",
    scope="metrics.write",
    summary="Ingest points: JSON array or {points}, NDJSON or CSV; gzip; all-or-nothing unless partial=true",
    query=BulkQuery,
    response=BulkResult,
    content_types=tuple(FORMATS),
    responses={
        413: "body too large",
        415: "unknown Content-Type",
        503: "at capacity or database unavailable; retry",
    },
)
async def bulk(request: web.Request) -> web.Response:
    q = read_query(request, BulkQuery)
    fmt = FORMATS.get(request.content_type)
    if fmt is None:
        raise UnsupportedMediaType(
            f"send one of {', '.join(FORMATS)}, not {request.content_type!r}"
        )
    gzip = gzipped(request)
    body = await read_limited(request, request.app[SETTINGS].metrics_max_body_bytes)
    status, result = await request.app[INGEST].ingest(
        body,
        fmt,
        gzip=gzip,
        partial=q.partial,
        client_id=request[PRINCIPAL].client_id,
        idempotency_key=request.headers.get("Idempotency-Key"),
        target=request.path_qs,
    )
    return json_response(result, status=status)


@routes.get(
    "/v1/metrics/ingest-status",
    scope="metrics.write",
    summary="The caller's most recent bulk requests",
    query=StatusQuery,
    response=IngestStatus,
)
async def ingest_status(request: web.Request) -> web.Response:
    q = read_query(request, StatusQuery)
    items = await request.app[INGEST].recent(request[PRINCIPAL].client_id, q.limit)
    return json_response({"items": items})
