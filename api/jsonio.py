"""Reading request bodies and query strings into msgspec types; writing JSON responses."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from aiohttp import web

from api.keys import ENDPOINTS, SETTINGS
from api.problems import validation_errors
from hearth_core.errors import InvalidInput, ServiceError

T = TypeVar("T")
_encoder = msgspec.json.Encoder()


class BodyDecodeError(InvalidInput):
    """The body is not well-formed JSON."""


class TooLarge(ServiceError):
    status = 413
    title = "Content Too Large"


def too_deep(body: bytes, limit: int) -> bool:
    """Nesting deeper than ``limit``? Counting brackets is C-fast; scan only when it could be."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


async def read_limited(request: web.Request, limit: int) -> bytes:
    """The whole body, or 413 as soon as it is known to exceed ``limit`` bytes."""
    if (request.content_length or 0) > limit:
        raise TooLarge(f"the body is over this route's limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(1 << 20):
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the body is over this route's limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: web.Request, decoder: msgspec.json.Decoder[T]) -> T:
    """Decode the body with the endpoint's module-level Decoder (validation → 400 by path)."""
    endpoint = request.app[ENDPOINTS].get(request.match_info.route.name or "")
    limit = endpoint.max_body if endpoint is not None else request.app[SETTINGS].max_body_bytes
    body = await read_limited(request, limit)
    depth = request.app[SETTINGS].max_json_depth
    if too_deep(body, depth):
        raise InvalidInput(
            f"JSON nested deeper than {depth} levels",
            errors=[{"path": "$", "message": f"nesting deeper than {depth}"}],
        )
    if not body:
        raise InvalidInput(
            "a JSON body is required", errors=[{"path": "$", "message": "empty body"}]
        )
    try:
        return decoder.decode(body)
    except msgspec.ValidationError:
        raise
    except msgspec.DecodeError as exc:
        raise BodyDecodeError(
            "the body is not valid JSON", errors=[{"path": "$", "message": str(exc)}]
        ) from None


def read_query(request: web.Request, typ: type[T]) -> T:
    """Convert the query string into ``typ``; a repeated key becomes a list."""
    raw: dict[str, Any] = {}
    for key in request.query:
        values = request.query.getall(key)
        raw[key] = values if len(values) > 1 else values[0]
    try:
        return msgspec.convert(raw, typ, strict=False)
    except msgspec.ValidationError as exc:
        errors = [
            {"path": e.path, "message": e.message} for e in validation_errors(exc, root="query")
        ]
        raise InvalidInput("invalid query parameters", errors=errors) from None


def json_response(
    obj: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status, body=_encoder.encode(obj), content_type="application/json", headers=headers
    )
