"""Bearer authentication and the scope check for every route that declares a scope."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

from aiohttp import web

from api.keys import ENDPOINTS, IDENTITY
from api.principal import PRINCIPAL, Principal
from api.ratelimit import limited
from api.unleash_auth import unleash_guard
from hearth_core.errors import Forbidden, Unauthorized
from hearth_core.identity.tokens import InvalidToken
from hearth_core.scopes import PUBLIC
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
    try:
        claims = await request.app[IDENTITY].verify_bearer(token)
    except InvalidToken as exc:
        challenge = f'{REALM}, error="invalid_token", error_description="{exc.reason}"'
        raise Unauthorized(exc.reason, headers={"WWW-Authenticate": challenge}) from None
    return Principal(
        sub=claims["sub"],
        client_id=claims["client_id"],
        scopes=frozenset(claims.get("scope", "").split()),
        claims=claims,
    )


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


@web.middleware
async def scope_guard(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    """Looks up the matched route's declared scope; public routes pass untouched. Authorised
    calls then go through the API's own rate limit."""
    endpoint = request.app[ENDPOINTS].get(request.match_info.route.name or "")
    if endpoint is not None and endpoint.token_type is not None:
        return await unleash_guard(request, endpoint.token_type, handler)
    if endpoint is None or endpoint.scope == PUBLIC:
        return await handler(request)
    principal = await authenticate(request, endpoint.token_schemes)
    require_scope(principal, endpoint.scope)
    request[PRINCIPAL] = principal
    return await limited(request, principal, handler)
