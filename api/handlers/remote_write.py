"""Prometheus remote write 1.0 and 2.0 (snappy block format, protobuf): ingestion routes (scope metrics.write).

Answers follow Prometheus's own receiver, because senders act on the status alone: 204 when
the request was handled (samples that fail validation are refused individually and counted
in headers — a 400 would make the sender drop every valid sample with them), 400 only for a
body that cannot be decoded, 413/415 for what no retry fixes, 503 with Retry-After when
ingest is at capacity (the sender retries). Errors are plain text, as Prometheus answers.
"""

from __future__ import annotations

import re

from aiohttp import web

from api.ingest_request import query_namespace
from api.jsonio import read_limited
from api.keys import INGEST, SETTINGS
from api.principal import PRINCIPAL
from api.routing import Routes
from hearth_core.errors import InvalidInput, TooLarge, UnsupportedMediaType
from hearth_core.metrics import remote_write
from hearth_core.metrics.codec import BodyTooLarge, MalformedBody

routes = Routes("remote_write")

CONTENT_TYPE = "application/x-protobuf"
# The `proto` parameter of the Content-Type: absent means 1.0 (its spec predates it).
PROTOS: dict[str | None, remote_write.Version] = {
    None: 1,
    "prometheus.WriteRequest": 1,
    "io.prometheus.write.v2.Request": 2,
}
# X-Prometheus-Remote-Write-Version of each protocol version (the header is optional).
VERSION_HEADER = "X-Prometheus-Remote-Write-Version"
SENDER_VERSIONS = re.compile(r"^(0\.1|2\.0)\.\d+$")


def plain_error(status: int, detail: str, headers: dict[str, str]) -> web.Response:
    """An error as Prometheus's receiver writes it: the message as text, headers such as
    Retry-After kept."""
    return web.Response(status=status, text=f"{detail}\n", headers=headers)


def _version(request: web.Request) -> remote_write.Version:
    if request.content_type != CONTENT_TYPE:
        raise UnsupportedMediaType(
            f"Content-Type must be {CONTENT_TYPE}, not {request.content_type!r}"
        )
    proto = None
    for param in request.headers.get("Content-Type", "").split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "proto":
            proto = value.strip().strip('"')
    if proto not in PROTOS:
        raise UnsupportedMediaType(
            f"proto={proto} is not supported (prometheus.WriteRequest or "
            "io.prometheus.write.v2.Request are)"
        )
    encoding = request.headers.get("Content-Encoding", "")
    if encoding.lower() != "snappy":
        raise UnsupportedMediaType(f"Content-Encoding must be snappy, not {encoding or 'absent'!r}")
    sender = request.headers.get(VERSION_HEADER)
    if sender is not None and not SENDER_VERSIONS.match(sender):
        raise UnsupportedMediaType(f"{VERSION_HEADER} {sender!r} is not 0.1.x or 2.0.x")
    return PROTOS[proto]


def _header_text(s: str) -> str:
    """A reason fit for a header: ASCII, one line, short."""
    return s.encode("ascii", "backslashreplace").decode()[:200].replace("\n", " ")


@routes.post(
    "/api/v1/write",
    scope="metrics.write",
    summary="Prometheus remote write 1.0 and 2.0 (snappy protobuf); 204, counts in headers",
    content_types=(CONTENT_TYPE,),
    status=204,
    responses={
        400: "the body cannot be decoded (not snappy, not the protobuf message)",
        413: "body too large (sent or decompressed)",
        415: "not application/x-protobuf with snappy, or an unknown proto",
        503: "ingest at capacity or database unavailable; retry after Retry-After",
    },
    error_shape=plain_error,
)
async def write(request: web.Request) -> web.Response:
    version = _version(request)
    namespace = query_namespace(request)
    settings = request.app[SETTINGS]
    body = await read_limited(request, settings.metrics_max_body_bytes)
    try:
        batch = await remote_write.decode(
            body,
            version=version,
            namespace=namespace,
            namespace_label=settings.metrics_namespace_label,
            retention_days=settings.metrics_retention_days,
            # The bulk route's bound on gzip bodies.
            max_decompressed=settings.metrics_max_body_bytes * 8,
        )
    except BodyTooLarge as exc:
        raise TooLarge(str(exc)) from None
    except MalformedBody as exc:
        raise InvalidInput(str(exc)) from None
    written = await request.app[INGEST].write(
        batch, client_id=request[PRINCIPAL].client_id, protocol="remote_write"
    )
    headers: dict[str, str] = {}
    if version == 2:
        # Remote write 2.0: what was stored; native histograms and exemplars never are.
        headers["X-Prometheus-Remote-Write-Samples-Written"] = str(written.accepted)
        headers["X-Prometheus-Remote-Write-Histograms-Written"] = "0"
        headers["X-Prometheus-Remote-Write-Exemplars-Written"] = "0"
    if batch.ignored:
        headers["X-Hearth-Ignored"] = ", ".join(f"{what}={n}" for what, n in batch.ignored)
    rejected = batch.rejected
    counts = {
        "invalid": len(rejected) - batch.too_old,
        "too_old": batch.too_old,
        "refused": written.refused_samples,
    }
    if any(counts.values()):
        headers["X-Hearth-Rejected"] = ", ".join(f"{k}={n}" for k, n in counts.items() if n)
        reason = written.refusal if written.refused_samples else None
        if reason is None and rejected:
            reason = rejected[0][1]
        if reason:
            headers["X-Hearth-Rejected-Reason"] = _header_text(reason)
    return web.Response(status=204, headers=headers)
