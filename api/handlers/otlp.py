"""OTLP/HTTP metrics (ExportMetricsServiceRequest as protobuf or JSON): POST /v1/metrics
(scope metrics.write).

Answers as OTLP/HTTP specifies, in the request's encoding: 200 with an
``ExportMetricsServiceResponse`` (``partial_success`` counting the samples not stored), and
every error — 400 for a body that cannot be decoded, 401/403, 413, 415, 429/503 with
Retry-After — as a ``google.rpc.Status``.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter

from api.ingest_request import gzipped, query_namespace
from api.jsonio import read_limited
from api.keys import INGEST, SETTINGS
from api.principal import PRINCIPAL
from api.routing import Routes
from hearth_core.errors import InvalidInput, TooLarge, UnsupportedMediaType
from hearth_core.metrics import otlp
from hearth_core.metrics.codec import BodyTooLarge, DecodedBatch, MalformedBody

routes = Routes("otlp")

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# A series' namespace (the native validation's NAME_PATTERN, 1-200 characters).
# How many rejection reasons an answer quotes.
_REASONS = 3


class StatusResponse(web.Response):
    """A ``google.rpc.Status`` error answer. The route's error shape does not see the request,
    so the encoding (the request's, as OTLP/HTTP asks) is chosen when the answer is prepared
    for it."""

    def __init__(self, status: int, message: str, headers: dict[str, str]) -> None:
        super().__init__(status=status, headers=headers)
        self._message = message

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        json = request.content_type == JSON
        self.body = otlp.status_body(self.status, self._message, json=json)
        self.content_type = JSON if json else PROTOBUF
        return await super().prepare(request)


def status_error(status: int, detail: str, headers: dict[str, str]) -> web.Response:
    return StatusResponse(status, detail, headers)


def _message(batch: DecodedBatch, refused: int, refusal: str | None) -> str:
    """Why samples were not stored: counts, then the first reasons."""
    parts = []
    if batch.rejected:
        reasons = "; ".join(reason for _, reason in batch.rejected[:_REASONS])
        more = ", …" if len(batch.rejected) > _REASONS else ""
        parts.append(f"{len(batch.rejected)} samples rejected ({reasons}{more})")
    if batch.too_old:
        parts.append(f"{batch.too_old} of them older than the retention")
    if refused:
        parts.append(f"{refused} samples refused: {refusal}")
    return "; ".join(parts)


@routes.post(
    "/v1/metrics",
    scope="metrics.write",
    summary="OTLP/HTTP metrics export (ExportMetricsServiceRequest, protobuf or JSON; gzip)",
    content_types=(PROTOBUF, JSON),
    responses={
        200: "ExportMetricsServiceResponse; partial_success counts the samples not stored",
        400: "the body is not an ExportMetricsServiceRequest (google.rpc.Status)",
        413: "body too large (google.rpc.Status)",
        415: "Content-Type or Content-Encoding not supported (google.rpc.Status)",
        429: "rate limited; Retry-After (google.rpc.Status)",
        503: "at capacity or database unavailable; Retry-After (google.rpc.Status)",
    },
    error_shape=status_error,
)
async def export(request: web.Request) -> web.Response:
    if request.content_type not in (PROTOBUF, JSON):
        raise UnsupportedMediaType(f"send {PROTOBUF} or {JSON}, not {request.content_type!r}")
    json = request.content_type == JSON
    gzip = gzipped(request)
    settings = request.app[SETTINGS]
    namespace = query_namespace(request)
    body = await read_limited(request, settings.metrics_max_body_bytes)
    try:
        batch = await otlp.decode(
            body,
            json=json,
            gzip=gzip,
            namespace=namespace,
            namespace_label=settings.metrics_namespace_label,
            retention_days=settings.metrics_retention_days,
            max_decompressed=settings.metrics_max_body_bytes * 8,  # as /v1/metrics/bulk
        )
    except MalformedBody as exc:
        raise InvalidInput(str(exc)) from None
    except BodyTooLarge as exc:
        raise TooLarge(str(exc)) from None
    written = await request.app[INGEST].write(
        batch, client_id=request[PRINCIPAL].client_id, protocol="otlp"
    )
    rejected = len(batch.rejected) + written.refused_samples
    message = _message(batch, written.refused_samples, written.refusal)
    return web.Response(
        body=otlp.response_body(rejected, message, json=json),
        content_type=JSON if json else PROTOBUF,
    )
