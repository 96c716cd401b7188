"""The authorization endpoint (RFC 6749 §4.1 with PKCE S256): validating the request, carrying
it through the login form signed, and issuing the code once the user has signed in."""

from __future__ import annotations

import hmac
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit, urlunsplit

import msgspec

from hearth_core.identity import repo
from hearth_core.identity.clients import OIDC_SCOPES
from hearth_core.identity.errors import (
    AuthorizePageError,
    AuthorizeRedirectError,
    LoginFailed,
    OAuthError,
    TooManyAttempts,
)
from hearth_core.identity.login import authenticate_user, record_login
from hearth_core.identity.scope import parse_scope
from hearth_core.identity.signing import b64u, unb64u
from hearth_core.identity.tokens import opaque_token, token_hash
from hearth_core.users import repo as users

if TYPE_CHECKING:
    from hearth_core.identity.provider import IdentityProvider

CODE_PREFIX = "hac_"
_CHALLENGE = re.compile(r"^[A-Za-z0-9\-_]{43}$")
_AUTHZ_DOMAIN = "authorize-request"


@dataclass(frozen=True)
class AuthRequest:
    """A validated authorization request, carried through the login form signed."""

    client_id: str
    redirect_uri: str
    scope: str
    state: str | None
    code_challenge: str
    nonce: str | None


class _SignedAuthRequest(msgspec.Struct, array_like=True):
    client_id: str
    redirect_uri: str
    scope: str
    state: str | None
    code_challenge: str
    nonce: str | None
    exp: int


_signed_decoder = msgspec.json.Decoder(_SignedAuthRequest)


def with_query(uri: str, params: dict[str, str | None]) -> str:
    """``uri`` with ``params`` (those not None) appended to its query."""
    parts = urlsplit(uri)
    extra = urlencode({k: v for k, v in params.items() if v is not None})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit(parts._replace(query=query))


def validate_authorization_request(idp: IdentityProvider, params: dict[str, str]) -> AuthRequest:
    client = idp.clients.get(params.get("client_id", ""))
    if client is None:
        raise AuthorizePageError("unknown client_id")
    redirect_uri = params.get("redirect_uri")
    if redirect_uri is None:
        if len(client.redirect_uris) != 1:
            raise AuthorizePageError("redirect_uri is required")
        redirect_uri = client.redirect_uris[0]
    elif redirect_uri not in client.redirect_uris:
        raise AuthorizePageError("redirect_uri is not registered for this client")
    state = params.get("state")

    def fail(error: str, description: str) -> AuthorizeRedirectError:
        return AuthorizeRedirectError(
            with_query(
                redirect_uri,
                {
                    "error": error,
                    "error_description": description,
                    "state": state,
                    "iss": idp.tokens.issuer,
                },
            )
        )

    if params.get("response_type") != "code":
        raise fail("unsupported_response_type", "only response_type=code is supported")
    if "authorization_code" not in client.grants:
        raise fail("unauthorized_client", "this client may not use authorization_code")
    challenge = params.get("code_challenge")
    if not challenge:
        raise fail("invalid_request", "code_challenge is required (PKCE, S256)")
    if params.get("code_challenge_method") != "S256":
        raise fail("invalid_request", "code_challenge_method must be S256")
    if not _CHALLENGE.match(challenge):
        raise fail("invalid_request", "code_challenge must be a base64url SHA-256")
    try:
        requested = parse_scope(params.get("scope"))
    except OAuthError as exc:
        raise fail(exc.error, exc.description) from None
    if requested is not None and not requested <= set(client.scopes):
        raise fail("invalid_scope", "scope not allowed for this client")
    scope = " ".join(sorted(requested if requested is not None else client.scopes))
    return AuthRequest(
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        scope=scope,
        state=state,
        code_challenge=challenge,
        nonce=params.get("nonce"),
    )


def sign_authorization_request(idp: IdentityProvider, req: AuthRequest, *, ttl: int = 600) -> str:
    payload = msgspec.json.encode(
        _SignedAuthRequest(
            req.client_id,
            req.redirect_uri,
            req.scope,
            req.state,
            req.code_challenge,
            req.nonce,
            int(time.time()) + ttl,
        )
    )
    mac = idp.cipher.mac(_AUTHZ_DOMAIN, payload)
    return b64u(payload) + "." + b64u(mac)


def read_signed_request(idp: IdentityProvider, blob: str) -> AuthRequest:
    try:
        payload_b64, mac_b64 = blob.split(".")
        payload, mac = unb64u(payload_b64), unb64u(mac_b64)
    except ValueError:
        raise AuthorizePageError("the login form is damaged; start again") from None
    if not hmac.compare_digest(mac, idp.cipher.mac(_AUTHZ_DOMAIN, payload)):
        raise AuthorizePageError("the login form is damaged; start again")
    signed = _signed_decoder.decode(payload)
    if signed.exp < time.time():
        raise AuthorizePageError("the login form expired; start again")
    return AuthRequest(
        signed.client_id,
        signed.redirect_uri,
        signed.scope,
        signed.state,
        signed.code_challenge,
        signed.nonce,
    )


async def login_and_issue_code(
    idp: IdentityProvider,
    req: AuthRequest,
    email: str,
    password: str,
    *,
    request_id: str | None,
    remote: str | None = None,
) -> str:
    """Authenticate on the login page; return the redirect carrying the code."""
    try:
        user_id = await authenticate_user(
            idp, email, password, client_id=req.client_id, request_id=request_id, remote=remote
        )
    except TooManyAttempts as exc:
        raise LoginFailed(str(exc)) from None
    if user_id is None:
        raise LoginFailed("wrong email or password")
    code = opaque_token(CODE_PREFIX)
    async with idp.pool.acquire() as conn, conn.transaction():
        allowed = await users.granted_scopes(conn, user_id) | set(OIDC_SCOPES)
        await repo.insert_code(
            conn,
            code_hash=token_hash(code),
            client_id=req.client_id,
            user_id=user_id,
            redirect_uri=req.redirect_uri,
            scope=" ".join(sorted(set(req.scope.split()) & allowed)),
            code_challenge=req.code_challenge,
            nonce=req.nonce,
            ttl=idp.settings.auth_code_ttl,
        )
        await record_login(conn, user_id, req.client_id, "authorization_code", request_id)
    return with_query(
        req.redirect_uri, {"code": code, "state": req.state, "iss": idp.tokens.issuer}
    )
