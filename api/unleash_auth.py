"""Unleash API tokens on Unleash's SDK routes (``Endpoint.token_type``), checked as Unleash
checks them: the secret in ``Authorization`` as it is (``Bearer <secret>`` accepted too); none
or an unknown one → 401, a token of the other type → 403, both with Unleash's messages and
its ``{"message"}`` error body (``unleash_error``)."""

from __future__ import annotations

from aiohttp import web

from api.keys import UNLEASH_TOKENS
from api.principal import PRINCIPAL, Principal
from api.ratelimit import limited
from hearth_core.errors import Forbidden, Unauthorized
from hearth_core.unleash.model import ApiToken

UNLEASH_TOKEN = web.RequestKey("unleash_token", ApiToken)

# Unleash's own wording (its api-token middleware), which SDK users search for.
REQUIRED_MESSAGE = (
    "This endpoint requires an API token. Please add an authorization header to your request"
    " with a valid token"
)
WRONG_TYPE_MESSAGE = "invalid token: expected a different token type for this endpoint"


def unleash_error(status: int, detail: str, headers: dict[str, str]) -> web.Response:
    return web.json_response({"message": detail}, status=status, headers=headers)


def unleash_secret(request: web.Request) -> str | None:
    raw = request.headers.get("Authorization", "").strip()
    scheme, _, rest = raw.partition(" ")
    if scheme.lower() == "bearer":
        return rest.strip() or None
    return raw or None


async def unleash_guard(
    request: web.Request, token_type: str, handler: web.Handler
) -> web.StreamResponse:
    secret = unleash_secret(request)
    token = await request.app[UNLEASH_TOKENS].verify(secret) if secret else None
    if token is None:
        raise Unauthorized(REQUIRED_MESSAGE)
    if token.type != token_type:
        raise Forbidden(WRONG_TYPE_MESSAGE)
    request[UNLEASH_TOKEN] = token
    # The token stands for a client of its own: usage metering, rate limits, audit actors.
    who = f"flag-token:{token.id}"
    principal = Principal(sub=who, client_id=who, scopes=frozenset(), claims={})
    request[PRINCIPAL] = principal
    return await limited(request, principal, handler)
