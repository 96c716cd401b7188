"""Reading request bodies and query strings into msgspec types; writing JSON responses.

Every handler reads its body through ``read_document`` (or ``read_limited`` for raw bytes that
a native decoder parses): the route's declared ``max_body`` and content types apply, a body
over the limit answers 413, an undeclared Content-Type 415, nesting deeper than
``HEARTH_MAX_JSON_DEPTH`` 400 — the same for JSON and YAML."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
import yaml
from aiohttp import web

from api.keys import ENDPOINTS, SETTINGS
from api.problems import validation_errors
from hearth_core.errors import InvalidInput, TooLarge, UnsupportedMediaType

T = TypeVar("T")
_encoder = msgspec.json.Encoder()


class BodyDecodeError(InvalidInput):
    """The body is not well-formed JSON."""


JSON_TYPES = ("application/json",)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
# What aiohttp reports when a request has no Content-Type: read as JSON, as before.
_NO_TYPE = "application/octet-stream"


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
    length = request.content_length
    if length is not None:
        if length > limit:
            raise TooLarge(f"the body is over this route's limit of {limit} bytes")
        if length == 0:  # aiohttp's empty payload refuses even readexactly(0)
            return b""
        # A declared length within the limit: one read of exactly that many bytes, no chunk
        # iterator (2.7 -> 1.1 us for a 60-byte body). A body that ends early is a 400.
        try:
            return await request.content.readexactly(length)
        except asyncio.IncompleteReadError:
            raise InvalidInput(
                "the body is shorter than its Content-Length",
                errors=[{"path": "$", "message": "incomplete body"}],
            ) from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(1 << 20):
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the body is over this route's limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _limits(request: web.Request) -> tuple[int, int, tuple[str, ...]]:
    settings = request.app[SETTINGS]
    endpoint = request.app[ENDPOINTS].get(request.match_info.route.name or "")
    if endpoint is None:
        return settings.max_body_bytes, settings.max_json_depth, JSON_TYPES
    return endpoint.max_body, settings.max_json_depth, endpoint.content_types


def _too_deep_object(data: Any, limit: int) -> bool:
    """The same depth rule for a parsed YAML document (iterative: no recursion to exhaust)."""
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > limit:
                return True
            children = node.values() if isinstance(node, dict) else node
            stack.extend((c, depth + 1) for c in children)
    return False


def _depth_error(limit: int) -> InvalidInput:
    return InvalidInput(
        f"JSON nested deeper than {limit} levels",
        errors=[{"path": "$", "message": f"nesting deeper than {limit}"}],
    )


def _parse_yaml(body: bytes, depth: int) -> Any:
    try:
        data = yaml.safe_load(body)
    except (yaml.YAMLError, RecursionError) as exc:
        message = str(exc).replace("\n", " ") if isinstance(exc, yaml.YAMLError) else "too deep"
        raise BodyDecodeError("invalid YAML", errors=[{"path": "$", "message": message}]) from None
    if _too_deep_object(data, depth):
        raise _depth_error(depth)
    return data


async def read_document(
    request: web.Request,
    decoder: msgspec.json.Decoder[T],
    *,
    optional: Callable[[], T] | None = None,
) -> T:
    """The body as ``decoder``'s type: JSON, or YAML where the route declares a YAML type.

    Limits come from the route (size → 413, depth → 400); a Content-Type the route does not
    declare is 415; a validation error names the field (400). An empty body is 400, or
    ``optional()`` when the route makes the body optional."""
    limit, depth, declared = _limits(request)
    ctype = request.content_type
    is_yaml = ctype in YAML_TYPES and ctype in declared
    if not is_yaml and ctype not in (*JSON_TYPES, _NO_TYPE) and not ctype.endswith("+json"):
        accepted = ", ".join(t for t in declared if t in JSON_TYPES + YAML_TYPES) or "JSON"
        raise UnsupportedMediaType(f"send {accepted}, not {ctype}")
    body = await read_limited(request, limit)
    if not body.strip():
        if optional is not None:
            return optional()
        raise InvalidInput("a body is required", errors=[{"path": "$", "message": "empty body"}])
    if is_yaml:
        return msgspec.convert(_parse_yaml(body, depth), decoder.type)
    if too_deep(body, depth):
        raise _depth_error(depth)
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
