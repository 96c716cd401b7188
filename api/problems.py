"""RFC 9457 problem+json bodies, and msgspec validation messages turned into field paths."""

from __future__ import annotations

import re
from http import HTTPStatus

import msgspec
from aiohttp import web

PROBLEM_TYPE = "application/problem+json"


class FieldError(msgspec.Struct, kw_only=True):
    path: str
    message: str


class Problem(msgspec.Struct, kw_only=True, omit_defaults=True):
    type: str  # required, so always present even as "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldError] = []


_encoder = msgspec.json.Encoder()
_AT = re.compile(r"^(?P<msg>.*?)(?: - at `(?P<path>[^`]*)`)?$", re.S)


def problem_response(
    status: int,
    detail: str | None = None,
    *,
    title: str | None = None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
    type_: str = "about:blank",
    request_id: str | None = None,
    extensions: dict[str, object] | None = None,
) -> web.Response:
    body = Problem(
        type=type_,
        title=title or HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        request_id=request_id,
        errors=errors or [],
    )
    payload: object = body
    if extensions:
        # RFC 9457 §3.2: extension members sit beside the standard ones.
        payload = {**msgspec.to_builtins(body), **extensions}
    return web.Response(
        status=status,
        body=_encoder.encode(payload),
        content_type=PROBLEM_TYPE,
        headers=headers,
    )


def validation_errors(exc: msgspec.ValidationError, root: str = "$") -> list[FieldError]:
    """msgspec says ``Expected `int`, got `str` - at `$.items[0].value```: split the path off."""
    m = _AT.match(str(exc))
    assert m is not None
    path = m.group("path") or "$"
    if root != "$":
        path = root + path[1:]
    return [FieldError(path=path, message=m.group("msg"))]
