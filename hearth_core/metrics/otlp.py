"""OTLP/HTTP metrics: the native decoder off the loop, and the protocol's answer bodies.

An answer uses the encoding of its request (OTLP/HTTP asks for the same Content-Type): the
protobuf messages are encoded natively, their JSON forms (the protobuf JSON mapping) here.
"""

from __future__ import annotations

import asyncio

import msgspec

from hearth_core._native import (
    DecodedBatch,
    decode_otlp,
    encode_otlp_response,
    encode_rpc_status,
)
from hearth_core.metrics.codec import window

__all__ = ["decode", "grpc_code", "response_body", "status_body"]

_json = msgspec.json.Encoder()

# google.rpc.Code of an HTTP status (the mapping of google/rpc/code.proto).
_GRPC_CODES = {
    400: 3,  # INVALID_ARGUMENT
    401: 16,  # UNAUTHENTICATED
    403: 7,  # PERMISSION_DENIED
    404: 5,  # NOT_FOUND
    409: 10,  # ABORTED
    413: 11,  # OUT_OF_RANGE
    415: 3,  # INVALID_ARGUMENT
    429: 8,  # RESOURCE_EXHAUSTED
    500: 13,  # INTERNAL
    503: 14,  # UNAVAILABLE
    504: 4,  # DEADLINE_EXCEEDED
}


async def decode(
    body: bytes,
    *,
    json: bool,
    gzip: bool,
    namespace: str,
    namespace_label: str,
    retention_days: int,
    max_decompressed: int,
) -> DecodedBatch:
    """Decode an ``ExportMetricsServiceRequest`` (off the loop). Raises ``MalformedBody``
    (not OTLP, bad gzip) or ``BodyTooLarge`` (gzip inflating past ``max_decompressed``)."""
    return await asyncio.to_thread(
        decode_otlp,
        body,
        json=json,
        gzip=gzip,
        namespace=namespace,
        namespace_label=namespace_label,
        **window(retention_days),
        max_decompressed=max_decompressed,
    )


def response_body(rejected_data_points: int, error_message: str, *, json: bool) -> bytes:
    """An ``ExportMetricsServiceResponse``; ``partial_success`` only when something was
    rejected or there is a message."""
    if not json:
        return encode_otlp_response(rejected_data_points, error_message)
    if not rejected_data_points and not error_message:
        return b"{}"
    partial = {"rejectedDataPoints": rejected_data_points, "errorMessage": error_message}
    return _json.encode({"partialSuccess": partial})


def grpc_code(http_status: int) -> int:
    """The ``google.rpc.Code`` of an HTTP error status (UNKNOWN when none fits)."""
    return _GRPC_CODES.get(http_status, 2)


def status_body(http_status: int, message: str, *, json: bool) -> bytes:
    """A ``google.rpc.Status`` for an error answer."""
    code = grpc_code(http_status)
    if not json:
        return encode_rpc_status(code, message)
    return _json.encode({"code": code, "message": message})
