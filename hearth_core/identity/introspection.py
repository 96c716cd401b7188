"""Token introspection (RFC 7662): access tokens from memory, refresh tokens from PostgreSQL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hearth_core.identity import repo
from hearth_core.identity.token_store import REFRESH_PREFIX
from hearth_core.identity.tokens import InvalidToken, token_hash

if TYPE_CHECKING:
    from hearth_core.identity.provider import IdentityProvider


async def introspect(idp: IdentityProvider, token: str) -> dict[str, Any]:
    """RFC 7662 answer for ``token``. Access tokens are checked from memory only."""
    if token.startswith(REFRESH_PREFIX):
        return await _introspect_refresh(idp, token)
    try:
        claims = await idp.verify_bearer(token)
    except InvalidToken:
        return {"active": False}
    return {"active": True, "token_type": "Bearer", **claims}


async def _introspect_refresh(idp: IdentityProvider, token: str) -> dict[str, Any]:
    row = await repo.active_refresh_token(
        idp.pool, token_hash(token), reuse_grace=idp.settings.refresh_reuse_grace
    )
    if row is None or idp.clients.get(row["client_id"]) is None:
        return {"active": False}
    return {
        "active": True,
        "token_type": "refresh_token",
        "client_id": row["client_id"],
        "sub": str(row["user_id"]) if row["user_id"] else row["client_id"],
        "scope": row["scope"],
        "exp": row["exp"],
        "iat": row["iat"],
        "iss": idp.tokens.issuer,
    }
