"""The token endpoint's grants (RFC 6749 §4): client_credentials, password, refresh_token
(rotation with reuse detection) and authorization_code with PKCE."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
import uuid
from typing import TYPE_CHECKING, Any

from hearth_core.identity import repo, token_store
from hearth_core.identity.client_auth import authenticate_client
from hearth_core.identity.clients import GRANTS, OIDC_SCOPES, Client
from hearth_core.identity.errors import OAuthError, TooManyAttempts
from hearth_core.identity.login import authenticate_user, record_login
from hearth_core.identity.scope import parse_scope
from hearth_core.identity.signing import b64u
from hearth_core.identity.tokens import token_hash
from hearth_core.users import repo as users

if TYPE_CHECKING:
    from hearth_core.identity.provider import IdentityProvider

_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


async def token(
    idp: IdentityProvider,
    form: dict[str, str],
    authorization: str | None,
    *,
    request_id: str | None = None,
    remote: str | None = None,
) -> dict[str, Any]:
    grant = form.get("grant_type")
    if not grant:
        raise OAuthError("invalid_request", "grant_type is required")
    if grant not in GRANTS:
        raise OAuthError("unsupported_grant_type", f"grant_type {grant!r} is not supported")
    client = authenticate_client(idp.clients, idp.cipher, form, authorization)
    if grant not in client.grants:
        raise OAuthError("unauthorized_client", f"this client may not use {grant}")
    if grant == "client_credentials":
        return client_credentials(idp, client, form)
    if grant == "password":
        return await password(idp, client, form, request_id, remote)
    if grant == "refresh_token":
        return await refresh(idp, client, form, request_id)
    return await authorization_code(idp, client, form, request_id)


def _requested_scope(client: Client, form: dict[str, str]) -> set[str] | None:
    requested = parse_scope(form.get("scope"))
    if requested is not None and not requested <= set(client.scopes):
        extra = " ".join(sorted(requested - set(client.scopes)))
        raise OAuthError("invalid_scope", f"scope not allowed for this client: {extra}")
    return requested


def client_credentials(
    idp: IdentityProvider, client: Client, form: dict[str, str]
) -> dict[str, Any]:
    requested = _requested_scope(client, form)
    granted = requested if requested is not None else set(client.scopes) - set(OIDC_SCOPES)
    scope = " ".join(sorted(granted))
    access, _ = idp.tokens.issue_access_token(
        sub=client.client_id, client_id=client.client_id, scope=scope
    )
    return {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": idp.settings.access_token_ttl,
        "scope": scope,
    }


async def password(
    idp: IdentityProvider,
    client: Client,
    form: dict[str, str],
    request_id: str | None,
    remote: str | None,
) -> dict[str, Any]:
    username, secret = form.get("username"), form.get("password")
    if not username or secret is None:
        raise OAuthError("invalid_request", "username and password are required")
    requested = _requested_scope(client, form)
    try:
        user_id = await authenticate_user(
            idp, username, secret, client_id=client.client_id, request_id=request_id, remote=remote
        )
    except TooManyAttempts as exc:
        raise OAuthError(
            "invalid_grant", str(exc), headers={"Retry-After": str(exc.retry_after)}
        ) from None
    if user_id is None:
        raise OAuthError("invalid_grant", "invalid username or password")
    async with idp.pool.acquire() as conn, conn.transaction():
        allowed = await users.granted_scopes(conn, user_id) | set(OIDC_SCOPES)
        granted = (requested if requested is not None else set(client.scopes)) & allowed
        await record_login(conn, user_id, client.client_id, "password", request_id)
        return await token_store.issue_user_tokens(
            idp,
            conn,
            client,
            user_id,
            granted,
            auth_time=int(time.time()),
            nonce=None,
            family_id=await token_store.new_family(conn, client, user_id),
        )


async def refresh(
    idp: IdentityProvider, client: Client, form: dict[str, str], request_id: str | None
) -> dict[str, Any]:
    presented = form.get("refresh_token")
    if not presented:
        raise OAuthError("invalid_request", "refresh_token is required")
    requested = parse_scope(form.get("scope"))
    async with idp.pool.acquire() as conn, conn.transaction():
        row = await repo.refresh_token_for_update(conn, token_hash(presented))
        if row is None or row["client_id"] != client.client_id:
            raise OAuthError("invalid_grant", "unknown refresh token")
        if row["family_revoked"] is not None:
            raise OAuthError("invalid_grant", "refresh token revoked")
        if row["expired"]:
            raise OAuthError("invalid_grant", "refresh token expired")
        if row["user_status"] not in (None, "active"):
            raise OAuthError("invalid_grant", "the user is not active")
        original = set(row["scope"].split()) if row["scope"] else set()
        if requested is not None and not requested <= original:
            raise OAuthError("invalid_scope", "a refresh may only narrow the scope")
        reused = row["used_at"] is not None and row["used_ago"] > idp.settings.refresh_reuse_grace
        if not reused:
            await repo.mark_refresh_token_used(conn, row["token_hash"])
            # Within the grace window a concurrent refresh gets its own new pair.
            return await token_store.issue_user_tokens(
                idp,
                conn,
                client,
                row["user_id"],
                requested if requested is not None else original,
                auth_time=row["auth_epoch"],
                nonce=None,
                family_id=row["family_id"],
            )
        # RFC 9700 §4.14.2: a used token presented again means theft; end the family.
        await token_store.revoke_family(
            idp,
            conn,
            row["family_id"],
            reason="refresh token reuse",
            actor=f"client:{client.client_id}",
            request_id=request_id,
        )
    token_store.forget_family(idp, row["family_id"])
    raise OAuthError("invalid_grant", "refresh token already used; the token family is revoked")


def _s256(verifier: str) -> str:
    return b64u(hashlib.sha256(verifier.encode("ascii")).digest())


async def authorization_code(
    idp: IdentityProvider, client: Client, form: dict[str, str], request_id: str | None
) -> dict[str, Any]:
    code, verifier = form.get("code"), form.get("code_verifier")
    redirect_uri = form.get("redirect_uri")
    if not code:
        raise OAuthError("invalid_request", "code is required")
    if not verifier:
        raise OAuthError("invalid_request", "code_verifier is required (PKCE)")
    if not _VERIFIER.match(verifier):
        raise OAuthError("invalid_request", "code_verifier must be 43-128 unreserved characters")
    replayed: uuid.UUID | None = None
    async with idp.pool.acquire() as conn, conn.transaction():
        row = await repo.code_for_update(conn, token_hash(code))
        if row is None or row["client_id"] != client.client_id:
            raise OAuthError("invalid_grant", "unknown authorization code")
        if row["used_at"] is None:
            if row["expired"]:
                raise OAuthError("invalid_grant", "authorization code expired")
            if redirect_uri != row["redirect_uri"]:
                raise OAuthError(
                    "invalid_grant", "redirect_uri does not match the authorization request"
                )
            if not hmac.compare_digest(_s256(verifier), row["code_challenge"]):
                raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
            if row["user_status"] != "active":
                raise OAuthError("invalid_grant", "the user is not active")
            family_id = await token_store.new_family(conn, client, row["user_id"])
            await repo.consume_code(conn, row["code_hash"], family_id)
            return await token_store.issue_user_tokens(
                idp,
                conn,
                client,
                row["user_id"],
                set(row["scope"].split()),
                auth_time=row["auth_epoch"],
                nonce=row["nonce"],
                family_id=family_id,
            )
        # RFC 6749 §4.1.2: a code used twice revokes what it was exchanged for.
        replayed = row["family_id"]
        if replayed is not None:
            await token_store.revoke_family(
                idp,
                conn,
                replayed,
                reason="authorization code replay",
                actor=f"client:{client.client_id}",
                request_id=request_id,
            )
    if replayed is not None:
        token_store.forget_family(idp, replayed)
    raise OAuthError("invalid_grant", "authorization code already used")
