"""Bearer authentication, the scope check and the rate limit of every route that declares a
scope (``guard``, called by the one middleware, ``api.middlewares.edge``)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from api.keys import IDENTITY
from api.principal import PRINCIPAL, Principal
from api.ratelimit import limited
from api.routing import Endpoint
from hearth_core.errors import Forbidden, Unauthorized
from hearth_core.identity.tokens import InvalidToken
from hearth_core.security.certs import peer_common_name

REALM = 'Bearer realm="hearth"'


BEARER_ONLY = ("Bearer",)
# How each scheme a route may accept (Endpoint.token_schemes) is spelled, for the 401 message.
_SCHEME_HINTS = {
    "Bearer": "Authorization: Bearer <token>",
    "Token": "Authorization: Token <token>",
    "Basic": "HTTP Basic with the token as password",
    "query": "?p=<token>",
}


def bearer_token(request: web.Request) -> str | None:
    return request_token(request, BEARER_ONLY)


def request_token(request: web.Request, schemes: Sequence[str]) -> str | None:
    """The access token the request carries in one of ``schemes``: ``Bearer`` or ``Token``
    (``Authorization: <scheme> <token>``; InfluxDB 2 clients say Token), ``Basic`` (the
    password of HTTP Basic, user ignored) or ``query`` (``?p=<token>``, user ``u`` ignored):
    InfluxDB 1.x clients send their credentials these two ways."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    value = value.strip()
    for accepted in schemes:
        if accepted == "query":
            token = request.query.get("p", "").strip()
        elif scheme.lower() != accepted.lower() or not value:
            continue
        elif accepted == "Basic":
            token = _basic_password(value)
        else:
            token = value
        if token:
            return token
    return None


def _basic_password(value: str) -> str:
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""
    return decoded.partition(":")[2].strip()


async def authenticate(request: web.Request, schemes: Sequence[str] = BEARER_ONLY) -> Principal:
    """The principal behind the request's token, looked for in the route's ``schemes``
    (bearer only unless a route declares more); 401 if there is none."""
    token = request_token(request, schemes)
    if token is None:
        principal = _mtls_principal(request)
        if principal is not None:
            return principal
        if tuple(schemes) == BEARER_ONLY:
            detail = "a bearer token is required"
        else:
            detail = "a token is required: " + ", or ".join(_SCHEME_HINTS[s] for s in schemes)
        raise Unauthorized(detail, headers={"WWW-Authenticate": REALM})
    identity = request.app[IDENTITY]
    try:
        try:
            # Synchronous: the signature check is cached per token (TokenService); expiry and
            # revocation are checked on every call. Only a kid not known yet needs the
            # (awaited) key reload of verify_bearer.
            claims = identity.tokens.verify_access_token(token)
        except InvalidToken as exc:
            if exc.reason != "unknown signing key":
                raise
            claims = await identity.verify_bearer(token)
    except InvalidToken as exc:
        challenge = f'{REALM}, error="invalid_token", error_description="{exc.reason}"'
        raise Unauthorized(exc.reason, headers={"WWW-Authenticate": challenge}) from None
    return _principal(claims)


_PRINCIPALS: dict[int, Principal] = {}


def _principal(claims: dict[str, Any]) -> Principal:
    """The principal of verified ``claims``. TokenService hands back the same claims object
    for a token while it stays valid (expiry and revocation checked on every call before we
    get here), so the principal built from it is kept under that object's identity — checked
    against the object itself, never reused for a new one that took the same id."""
    p = _PRINCIPALS.get(id(claims))
    if p is not None and p.claims is claims:
        return p
    p = Principal(
        sub=claims["sub"],
        client_id=claims["client_id"],
        scopes=frozenset(claims.get("scope", "").split()),
        claims=claims,
    )
    if len(_PRINCIPALS) >= 8192:
        _PRINCIPALS.clear()  # cheap bound; refilled by the tokens still in use
    _PRINCIPALS[id(claims)] = p
    return p


def _mtls_principal(request: web.Request) -> Principal | None:
    """A verified client certificate whose CN is a client_id stands for that client (mTLS)."""
    transport = request.transport
    if transport is None or transport.get_extra_info("sslcontext") is None:
        return None
    cn = peer_common_name(transport.get_extra_info("peercert"))
    client = request.app[IDENTITY].clients.get(cn) if cn else None
    if client is None:
        return None
    return Principal(
        sub=client.client_id,
        client_id=client.client_id,
        scopes=frozenset(client.scopes),
        claims={"cnf": "mtls", "sub": client.client_id},
    )


def require_scope(principal: Principal, scope: str) -> None:
    if scope not in principal.scopes:
        challenge = f'{REALM}, error="insufficient_scope", scope="{scope}"'
        raise Forbidden(f"the token lacks scope {scope}", headers={"WWW-Authenticate": challenge})


async def guard(
    request: web.Request, endpoint: Endpoint, handler: web.Handler
) -> web.StreamResponse:
    """A route that declares a scope (called by ``api.middlewares.edge`` for every such
    route): the caller's token, the scope, then the API's own rate limit."""
    principal = await authenticate(request, endpoint.token_schemes)
    require_scope(principal, endpoint.scope)
    request[PRINCIPAL] = principal
    return await limited(request, principal, handler)
