"""Reading request bodies and query strings into msgspec types; writing JSON responses."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from aiohttp import web

from api.problems import validation_errors
from hearth_core.errors import InvalidInput

T = TypeVar("T")
_encoder = msgspec.json.Encoder()


class BodyDecodeError(InvalidInput):
    """The body is not well-formed JSON."""


async def read_json(request: web.Request, decoder: msgspec.json.Decoder[T]) -> T:
    """Decode the body with the endpoint's module-level Decoder (validation → 400 by path)."""
    body = await request.read()
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
