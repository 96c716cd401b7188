"""The ``scope`` request parameter (RFC 6749 §3.3)."""

from __future__ import annotations

import re

from hearth_core.identity.errors import OAuthError

_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5B\x5D-\x7E]+$")


def parse_scope(raw: str | None) -> set[str] | None:
    """The requested scopes, or None when the parameter is absent."""
    if raw is None:
        return None
    parts = raw.split(" ")
    if any(not _SCOPE_TOKEN.match(p) for p in parts):
        raise OAuthError("invalid_scope", "scope must be space-separated scope tokens")
    return set(parts)
