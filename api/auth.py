"""Bearer authentication and the scope check for every route that declares a scope."""

from __future__ import annotations

from aiohttp import web

from api.keys import ENDPOINTS, IDENTITY
from api.principal import PRINCIPAL, Principal
from api.ratelimit import limited
from hearth_core.errors import Forbidden, Unauthorized
from hearth_core.identity.tokens import InvalidToken
from hearth_core.scopes import PUBLIC
from hearth_core.security.certs import peer_common_name

REALM = 'Bearer realm="hearth"'


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def authenticate(request: web.Request) -> Principal:
    """The principal behind the request's bearer token; 401 (problem+json) if there is none."""
    token = bearer_token(request)
    if token is None:
        principal = _mtls_principal(request)
        if principal is not None:
            return principal
        raise Unauthorized("a bearer token is required", headers={"WWW-Authenticate": REALM})
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
    if endpoint is None or endpoint.scope == PUBLIC:
        return await handler(request)
    principal = await authenticate(request)
    require_scope(principal, endpoint.scope)
    request[PRINCIPAL] = principal
    return await limited(request, principal, handler)
