"""OpenID Connect claims about the user: the UserInfo answer and the ID token's profile part."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from hearth_core.identity.tokens import InvalidToken
from hearth_core.users import repo as users

if TYPE_CHECKING:
    from hearth_core.identity.provider import IdentityProvider


async def userinfo(idp: IdentityProvider, claims: dict[str, Any]) -> dict[str, Any]:
    try:
        user_id = uuid.UUID(claims["sub"])
    except ValueError:
        raise InvalidToken("token has no user subject") from None
    ident = await users.get_identity(idp.pool, idp.cipher, user_id)
    if ident is None or ident.status != "active":
        raise InvalidToken("the user is not active")
    scopes = set(claims.get("scope", "").split())
    return {"sub": str(user_id), **profile_claims(ident, scopes)}


def profile_claims(ident: users.Identity | None, scopes: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if ident is None:
        return out
    if "email" in scopes and ident.email is not None:
        out["email"] = ident.email
        out["email_verified"] = False
    if "profile" in scopes and ident.display_name is not None:
        out["name"] = ident.display_name
    return out
