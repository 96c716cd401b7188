"""What every metrics ingestion route reads the same way: the body's Content-Encoding and the
``?namespace=`` of the protocols whose series name none (the error shape is the route's)."""

from __future__ import annotations

from aiohttp import web

from api.keys import SETTINGS, TENANTS
from api.principal import PRINCIPAL
from hearth_core.errors import InvalidInput, UnsupportedMediaType
from hearth_core.tenancy.service import NAMESPACE


def gzipped(request: web.Request) -> bool:
    """Whether the body is gzip; 415 for any encoding but gzip or identity."""
    encoding = request.headers.get("Content-Encoding", "identity").lower()
    if encoding not in ("identity", "gzip"):
        raise UnsupportedMediaType(f"Content-Encoding {encoding!r} is not supported (gzip is)")
    return encoding == "gzip"


def query_namespace(request: web.Request) -> str:
    """``?namespace=``, validated, else HEARTH_METRICS_DEFAULT_NAMESPACE; a client bound to a
    namespace (``hearth metrics tenant set``) gets its own, and 403 for any other."""
    ns = request.query.get("namespace")
    if ns is not None and not NAMESPACE.fullmatch(ns):
        raise InvalidInput(
            f"query parameter namespace: {ns[:64]!r} must be 1 to 200 characters matching "
            f"^{NAMESPACE.pattern}$"
        )
    return request.app[TENANTS].namespace(
        request[PRINCIPAL].client_id, ns, request.app[SETTINGS].metrics_default_namespace
    )
