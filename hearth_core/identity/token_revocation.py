"""Token revocation (RFC 7009): a refresh token ends its whole family, an access token is
revoked by its jti until it would have expired anyway."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from hearth_core.db.audited import audited_write
from hearth_core.identity import repo, token_store
from hearth_core.identity.clients import Client
from hearth_core.identity.errors import OAuthError
from hearth_core.identity.tokens import InvalidToken, token_hash

if TYPE_CHECKING:
    from hearth_core.identity.provider import IdentityProvider


def _not_yours() -> OAuthError:
    return OAuthError("unauthorized_client", "the token was not issued to this client")


async def revoke(
    idp: IdentityProvider, client: Client, token: str, *, request_id: str | None = None
) -> None:
    """Effective for introspection as soon as this returns."""
    actor = f"client:{client.client_id}"
    if token.startswith(token_store.REFRESH_PREFIX):
        async with idp.pool.acquire() as conn, conn.transaction():
            row = await repo.refresh_token_owner(conn, token_hash(token))
            if row is None:
                return  # RFC 7009 §2.2: an invalid token is not an error
            if row["client_id"] != client.client_id:
                raise _not_yours()
            await token_store.revoke_family(
                idp,
                conn,
                row["family_id"],
                reason="revoked by client",
                actor=actor,
                request_id=request_id,
            )
        token_store.forget_family(idp, row["family_id"])
        return
    try:
        claims = idp.tokens.verify_access_token(token, check_revoked=False)
    except InvalidToken:
        return
    if claims["client_id"] != client.client_id:
        raise _not_yours()
    remaining = max(1.0, float(claims["exp"]) - time.time() + idp.settings.clock_leeway)
    async with audited_write(idp.pool, actor=actor, request_id=request_id) as w:
        await repo.persist_revocation(w.conn, "jti", claims["jti"], expires_in=remaining)
        await w.audit("token.revoke", f"token:{claims['jti']}")
        await w.notify("revocation")
    idp.revocations.add("jti", claims["jti"], expires_at=float(claims["exp"]))
