"""OAuth 2.0 / OpenID Connect endpoints: token, authorize (login page), introspect, revoke,
userinfo, discovery and JWKS. Errors follow RFC 6749 §5.2, not problem+json."""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from api.auth import authenticate, bearer_token
from api.jsonio import json_response
from api.keys import IDENTITY, REQUEST_ID, SETTINGS
from api.routing import Routes
from hearth_core.errors import Forbidden
from hearth_core.identity.authorize import AuthRequest
from hearth_core.identity.clients import GRANTS, OIDC_SCOPES
from hearth_core.identity.errors import (
    AuthorizePageError,
    AuthorizeRedirectError,
    LoginFailed,
    OAuthError,
)
from hearth_core.identity.tokens import InvalidToken
from hearth_core.scopes import ALL_SCOPES, PUBLIC

routes = Routes("oauth")
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
FORM = "application/x-www-form-urlencoded"
INTROSPECT_SCOPE = "auth.introspect"


def _oauth_error(exc: OAuthError) -> web.Response:
    return json_response(exc.body(), status=exc.status, headers={**NO_STORE, **exc.headers})


class MalformedForm(ValueError):
    """The body is not a single-valued application/x-www-form-urlencoded form."""


async def _read_form(request: web.Request) -> dict[str, str]:
    """Every form these endpoints take is urlencoded (a multipart body, even one aiohttp
    cannot parse, is refused here rather than failing later)."""
    if request.content_type != FORM:
        raise MalformedForm(f"the body must be {FORM}")
    body = await request.read()
    try:
        # parse_qsl on the raw body: a third of the cost of request.post() on this hot path.
        pairs = parse_qsl(
            body.decode(request.charset or "utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=64,
        )
    except (UnicodeDecodeError, LookupError, ValueError):
        raise MalformedForm("the body is not a valid form") from None
    out: dict[str, str] = {}
    for key, value in pairs:
        if key in out:
            raise MalformedForm(f"parameter {key} is repeated")
        out[key] = value
    return out


async def _form(request: web.Request) -> dict[str, str]:
    """The form of a token/introspection/revocation request; RFC 6749 invalid_request if bad."""
    try:
        return await _read_form(request)
    except MalformedForm as exc:
        raise OAuthError("invalid_request", str(exc)) from None


def _query(request: web.Request) -> dict[str, str]:
    out: dict[str, str] = {}
    for key in request.query:
        values = request.query.getall(key)
        if len(values) > 1:
            raise AuthorizePageError(f"parameter {key} is repeated")
        out[key] = values[0]
    return out


@routes.post(
    "/oauth/token",
    scope=PUBLIC,
    summary="OAuth 2.0 token endpoint (RFC 6749)",
    content_types=(FORM,),
)
async def token(request: web.Request) -> web.Response:
    try:
        form = await _form(request)
        body = await request.app[IDENTITY].token(
            form,
            request.headers.get("Authorization"),
            request_id=request[REQUEST_ID],
            remote=request.remote,
        )
    except OAuthError as exc:
        return _oauth_error(exc)
    return json_response(body, headers=NO_STORE)


@routes.post(
    "/oauth/introspect",
    scope=PUBLIC,
    summary="Token introspection (RFC 7662); caller needs auth.introspect",
    content_types=(FORM,),
)
async def introspect(request: web.Request) -> web.Response:
    identity = request.app[IDENTITY]
    try:
        form = await _form(request)
        if bearer_token(request) is not None:
            principal = await authenticate(request)
            if INTROSPECT_SCOPE not in principal.scopes:
                raise Forbidden(f"the token lacks scope {INTROSPECT_SCOPE}")
        else:
            client = identity.authenticate_client(form, request.headers.get("Authorization"))
            if INTROSPECT_SCOPE not in client.scopes:
                raise Forbidden(f"client lacks scope {INTROSPECT_SCOPE}")
        token_value = form.get("token")
        if not token_value:
            raise OAuthError("invalid_request", "token is required")
    except OAuthError as exc:
        return _oauth_error(exc)
    return json_response(await identity.introspect(token_value), headers=NO_STORE)


@routes.post(
    "/oauth/revoke", scope=PUBLIC, summary="Token revocation (RFC 7009)", content_types=(FORM,)
)
async def revoke(request: web.Request) -> web.Response:
    identity = request.app[IDENTITY]
    try:
        form = await _form(request)
        client = identity.authenticate_client(form, request.headers.get("Authorization"))
        token_value = form.get("token")
        if not token_value:
            raise OAuthError("invalid_request", "token is required")
        await identity.revoke(client, token_value, request_id=request[REQUEST_ID])
    except OAuthError as exc:
        return _oauth_error(exc)
    return web.Response(status=200, headers=NO_STORE)


async def _userinfo(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    if "openid" not in principal.scopes:
        raise Forbidden(
            "the token lacks scope openid",
            headers={
                "WWW-Authenticate": 'Bearer realm="hearth", error="insufficient_scope", scope="openid"'
            },
        )
    try:
        info = await request.app[IDENTITY].userinfo(principal.claims)
    except InvalidToken as exc:
        return json_response(
            {"error": "invalid_token", "error_description": exc.reason},
            status=401,
            headers={
                "WWW-Authenticate": f'Bearer realm="hearth", error="invalid_token", error_description="{exc.reason}"'
            },
        )
    return json_response(info, headers=NO_STORE)


@routes.get(
    "/oauth/userinfo", scope=PUBLIC, summary="OpenID Connect UserInfo (bearer token with openid)"
)
async def userinfo(request: web.Request) -> web.Response:
    return await _userinfo(request)


@routes.post("/oauth/userinfo", scope=PUBLIC, summary="OpenID Connect UserInfo (POST form)")
async def userinfo_post(request: web.Request) -> web.Response:
    return await _userinfo(request)


# ----------------------------------------------------------------- authorize
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_STYLE = (
    "body{font-family:system-ui,sans-serif;background:#f4f1ec;display:flex;justify-content:center;"
    "padding-top:10vh}main{background:#fff;padding:2rem 2.5rem;border-radius:12px;"
    "box-shadow:0 2px 12px #0002;min-width:20rem}label{display:block;margin:.8rem 0 .2rem}"
    "input{width:100%;padding:.5rem;box-sizing:border-box}button{margin-top:1.2rem;padding:.6rem 1.2rem}"
    ".err{color:#a00}"
)


def _page(title: str, body: str, status: int = 200) -> web.Response:
    text = (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<meta name=viewport content='width=device-width,initial-scale=1'><style>{_STYLE}</style>"
        f"</head><body><main>{body}</main></body></html>"
    )
    return web.Response(text=text, status=status, content_type="text/html", headers=_PAGE_HEADERS)


def _error_page(message: str) -> web.Response:
    return _page(
        "Authorization error",
        f"<h1>Cannot sign in</h1><p class=err>{html.escape(message)}</p>",
        400,
    )


def _login_form(
    request: web.Request, req: AuthRequest, signed: str, error: str | None, email: str = ""
) -> web.Response:
    client = request.app[IDENTITY].clients.get(req.client_id)
    name = html.escape(client.name if client else req.client_id)
    err = f"<p class=err role=alert>{html.escape(error)}</p>" if error else ""
    body = (
        f"<h1>Sign in</h1><p>to continue to <b>{name}</b></p>{err}"
        "<form method=post action='/oauth/authorize'>"
        f"<input type=hidden name=request value='{html.escape(signed, quote=True)}'>"
        "<label for=email>Email</label>"
        f"<input id=email name=email type=email autocomplete=username required autofocus value='{html.escape(email, quote=True)}'>"
        "<label for=password>Password</label>"
        "<input id=password name=password type=password autocomplete=current-password required>"
        "<button type=submit>Sign in</button></form>"
    )
    return _page("Sign in", body, status=401 if error else 200)


@routes.get(
    "/oauth/authorize",
    scope=PUBLIC,
    summary="Authorization endpoint (code + PKCE S256): shows the login page",
    content_types=("text/html",),
)
async def authorize(request: web.Request) -> web.Response:
    identity = request.app[IDENTITY]
    try:
        req = identity.validate_authorization_request(_query(request))
    except AuthorizePageError as exc:
        return _error_page(str(exc))
    except AuthorizeRedirectError as exc:
        raise web.HTTPFound(exc.location) from None
    return _login_form(request, req, identity.sign_authorization_request(req), None)


@routes.post(
    "/oauth/authorize", scope=PUBLIC, summary="Login form submission", content_types=(FORM,)
)
async def authorize_submit(request: web.Request) -> web.Response:
    identity = request.app[IDENTITY]
    try:
        data = await _read_form(request)
    except MalformedForm as exc:
        return _error_page(str(exc))
    signed, email, password = data.get("request"), data.get("email"), data.get("password")
    if signed is None or email is None or password is None:
        return _error_page("incomplete form")
    try:
        req = identity.read_signed_request(signed)
        location = await identity.login_and_issue_code(
            req, email, password, request_id=request[REQUEST_ID], remote=request.remote
        )
    except AuthorizePageError as exc:
        return _error_page(str(exc))
    except LoginFailed as exc:
        return _login_form(request, req, signed, str(exc), email)
    raise web.HTTPFound(location)


# ----------------------------------------------------------------- discovery
@routes.get("/.well-known/openid-configuration", scope=PUBLIC, summary="OpenID Provider metadata")
async def openid_configuration(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    issuer = settings.public_base_url
    meta: dict[str, Any] = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth/authorize",
        "token_endpoint": f"{issuer}/oauth/token",
        "userinfo_endpoint": f"{issuer}/oauth/userinfo",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "introspection_endpoint": f"{issuer}/oauth/introspect",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(GRANTS),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "bearer",
        ],
        "revocation_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": [*OIDC_SCOPES, *ALL_SCOPES],
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "email",
            "email_verified",
            "name",
        ],
        "authorization_response_iss_parameter_supported": True,
    }
    return json_response(meta, headers={"Cache-Control": "public, max-age=300"})


@routes.get("/.well-known/jwks.json", scope=PUBLIC, summary="Public signing keys (JWKS)")
async def jwks(request: web.Request) -> web.Response:
    return json_response(
        request.app[IDENTITY].tokens.keys.jwks(), headers={"Cache-Control": "public, max-age=300"}
    )
