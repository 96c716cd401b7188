"""A user's tokens: refresh-token families (one per sign-in, rotated on every refresh) and the
token response issued from them; ending a family when its tokens are stolen or revoked."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

import asyncpg

from hearth_core.db.audited import audited_write
from hearth_core.identity import repo
from hearth_core.identity.clients import Client
from hearth_core.identity.tokens import opaque_token, token_hash
from hearth_core.identity.userinfo import profile_claims
from hearth_core.users import repo as users

if TYPE_CHECKING:
    from hearth_core.identity.provider import IdentityProvider

REFRESH_PREFIX = "hrt_"


async def new_family(
    conn: asyncpg.Connection, client: Client, user_id: uuid.UUID
) -> uuid.UUID | None:
    """A fresh family for a sign-in, or None when the client gets no refresh tokens."""
    if "refresh_token" not in client.grants:
        return None
    family_id = uuid.uuid4()
    await repo.insert_family(conn, family_id, client.client_id, user_id)
    return family_id


async def issue_user_tokens(
    idp: IdentityProvider,
    conn: asyncpg.Connection,
    client: Client,
    user_id: uuid.UUID,
    scopes: set[str],
    *,
    auth_time: int | None,
    nonce: str | None,
    family_id: uuid.UUID | None,
) -> dict[str, Any]:
    """The token response: an access token, a refresh token of ``family_id`` (when there is
    one) and an ID token when ``openid`` was granted."""
    settings = idp.settings
    scope = " ".join(sorted(scopes))
    refresh: str | None = None
    if family_id is not None:
        refresh = opaque_token(REFRESH_PREFIX)
        await repo.insert_refresh_token(
            conn,
            token_hash=token_hash(refresh),
            family_id=family_id,
            client_id=client.client_id,
            user_id=user_id,
            scope=scope,
            auth_time=auth_time,
            ttl=settings.refresh_token_ttl,
        )
    access, _ = idp.tokens.issue_access_token(
        sub=str(user_id),
        client_id=client.client_id,
        scope=scope,
        sid=str(family_id) if family_id is not None else None,
        auth_time=auth_time,
    )
    out: dict[str, Any] = {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": settings.access_token_ttl,
        "scope": scope,
    }
    if refresh is not None:
        out["refresh_token"] = refresh
    if "openid" in scopes:
        ident = await users.get_identity(conn, idp.cipher, user_id)
        out["id_token"] = idp.tokens.issue_id_token(
            sub=str(user_id),
            client_id=client.client_id,
            access_token=access,
            auth_time=auth_time,
            nonce=nonce,
            extra=profile_claims(ident, scopes),
        )
    return out


async def revoke_family(
    idp: IdentityProvider,
    conn: asyncpg.Connection,
    family_id: uuid.UUID,
    *,
    reason: str,
    actor: str,
    request_id: str | None,
) -> None:
    """End the family inside the caller's transaction (every worker hears of it on commit)."""
    async with audited_write(conn, actor=actor, request_id=request_id) as w:
        await repo.revoke_family(w.conn, family_id, reason)
        await repo.persist_revocation(
            w.conn, "sid", str(family_id), expires_in=idp.max_token_life.total_seconds()
        )
        await w.audit("token.family_revoked", f"token_family:{family_id}", after={"reason": reason})
        await w.notify("revocation")


def forget_family(idp: IdentityProvider, family_id: uuid.UUID) -> None:
    """Revoke the family in this worker's cache now, without waiting for the NOTIFY."""
    idp.revocations.add(
        "sid", str(family_id), expires_at=time.time() + idp.max_token_life.total_seconds()
    )
