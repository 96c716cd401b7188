"""Standard OAuth/OIDC clients against the running server: authlib and PyJWT, unchanged."""

from __future__ import annotations

import asyncio
import secrets
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client

from api.keys import DB
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.fixtures import login_via_page, make_user, pkce

REDIRECT = "http://127.0.0.1:1/callback"


async def _confidential(live, grants, scopes, **kw):
    client, secret = await live.identity.create_client(
        name="svc",
        grants=grants,
        scopes=scopes,
        redirect_uris=kw.get("redirect_uris", []),
        confidential=True,
        actor="test",
    )
    return client.client_id, secret


def _jwk_client(live) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(f"{live.url}/.well-known/jwks.json", cache_keys=False)


async def _verify_with_jwks(live, token: str, audience: str) -> dict:
    jwk_client = _jwk_client(live)
    key = await asyncio.to_thread(jwk_client.get_signing_key_from_jwt, token)
    return jwt.decode(token, key.key, algorithms=["ES256"], audience=audience, issuer=live.url)


async def test_discovery_document_describes_the_provider(live, http):
    async with http.get(f"{live.url}/.well-known/openid-configuration") as resp:
        assert resp.status == 200
        assert "max-age" in resp.headers["Cache-Control"]
        meta = await resp.json()
    assert meta["issuer"] == live.url
    assert meta["token_endpoint"] == f"{live.url}/oauth/token"
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["id_token_signing_alg_values_supported"] == ["ES256"]
    async with http.get(meta["jwks_uri"]) as resp:
        assert "max-age" in resp.headers["Cache-Control"]
        keys = (await resp.json())["keys"]
    assert keys and all(k["kty"] == "EC" and k["alg"] == "ES256" and "d" not in k for k in keys)


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
async def test_client_credentials_with_authlib_verified_by_pyjwkclient(live, method):
    cid, secret = await _confidential(live, ["client_credentials"], ["flag.read", "config.read"])
    async with AsyncOAuth2Client(cid, secret, token_endpoint_auth_method=method) as oauth:
        token = await oauth.fetch_token(
            f"{live.url}/oauth/token", grant_type="client_credentials", scope="flag.read"
        )
    assert token["token_type"] == "Bearer" and token["scope"] == "flag.read"
    assert "refresh_token" not in token
    header = jwt.get_unverified_header(token["access_token"])
    assert header["alg"] == "ES256" and header["typ"] == "at+jwt" and header["kid"]
    claims = await _verify_with_jwks(live, token["access_token"], "hearth")
    # RFC 9068 claims
    assert {"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"} <= set(claims)
    assert claims["sub"] == cid == claims["client_id"]
    assert claims["exp"] - claims["iat"] == live.settings.access_token_ttl


async def test_password_grant_refresh_rotation_and_userinfo(live):
    cid, secret = await _confidential(
        live,
        ["password", "refresh_token"],
        ["openid", "email", "profile", "flag.read", "role.write"],
    )
    user_id = await make_user(
        live.app, "ann@example.test", "pw-ann-123456", {"viewer": ["flag.read"]}
    )
    async with AsyncOAuth2Client(cid, secret) as oauth:
        first = await oauth.fetch_token(
            f"{live.url}/oauth/token",
            username="Ann@Example.test",
            password="pw-ann-123456",
            scope="openid email profile flag.read role.write",
        )
        # role.write is allowed for the client but not for this user: silently narrowed.
        assert set(first["scope"].split()) == {"openid", "email", "profile", "flag.read"}
        id_claims = await _verify_with_jwks(live, first["id_token"], cid)
        assert id_claims["sub"] == str(user_id) and id_claims["email"] == "ann@example.test"
        second = await oauth.refresh_token(
            f"{live.url}/oauth/token", refresh_token=first["refresh_token"]
        )
        assert second["refresh_token"] != first["refresh_token"]
        resp = await oauth.get(f"{live.url}/oauth/userinfo")
        assert resp.status_code == 200
        assert resp.json() == {
            "sub": str(user_id),
            "email": "ann@example.test",
            "email_verified": False,
            "name": "Ann",
        }
    row = await live.app[DB].fetchrow("SELECT last_login FROM users WHERE user_id=$1", user_id)
    assert row["last_login"] is not None


async def test_authorization_code_with_pkce_end_to_end(live, http):
    client, _ = await live.identity.create_client(
        name="spa",
        grants=["authorization_code", "refresh_token"],
        scopes=["openid", "profile", "email", "flag.read"],
        redirect_uris=[REDIRECT],
        confidential=False,
        actor="test",
    )
    verifier, _ = pkce()
    nonce = secrets.token_urlsafe(8)
    async with AsyncOAuth2Client(
        client.client_id,
        redirect_uri=REDIRECT,
        scope="openid profile flag.read",
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
    ) as oauth:
        url, state = oauth.create_authorization_url(
            f"{live.url}/oauth/authorize", code_verifier=verifier, nonce=nonce
        )
        location = await login_via_page(http, url, ADMIN_EMAIL, ADMIN_PASSWORD)
        params = parse_qs(urlsplit(location).query)
        assert location.startswith(REDIRECT) and params["state"] == [state]
        assert params["iss"] == [live.url]
        token = await oauth.fetch_token(
            f"{live.url}/oauth/token", authorization_response=location, code_verifier=verifier
        )
        assert "refresh_token" in token
        id_claims = await _verify_with_jwks(live, token["id_token"], client.client_id)
        assert id_claims["nonce"] == nonce and id_claims["name"] == "Administrator"
        last = await live.app[DB].fetchval(
            "SELECT last_login FROM users WHERE user_id = $1::uuid", id_claims["sub"]
        )
        assert last is not None  # the login page's sign-in counts as a login
        refreshed = await oauth.refresh_token(
            f"{live.url}/oauth/token", refresh_token=token["refresh_token"]
        )
        assert refreshed["access_token"] != token["access_token"]

        # The same code again: refused, and what it was exchanged for is revoked.
        code = params["code"][0]
        async with http.post(
            f"{live.url}/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT,
                "client_id": client.client_id,
                "code_verifier": verifier,
            },
        ) as resp:
            assert resp.status == 400 and (await resp.json())["error"] == "invalid_grant"
        info = await live.identity.introspect(refreshed["access_token"])
        assert info == {"active": False}


async def test_login_page_rejects_wrong_password_and_audits_it(live, http):
    client, _ = await live.identity.create_client(
        name="spa",
        grants=["authorization_code"],
        scopes=["openid"],
        redirect_uris=[REDIRECT],
        confidential=False,
        actor="test",
    )
    _, challenge = pkce()
    url = (
        f"{live.url}/oauth/authorize?response_type=code&client_id={client.client_id}"
        f"&code_challenge={challenge}&code_challenge_method=S256&state=s1"
    )
    result = await login_via_page(http, url, ADMIN_EMAIL, "wrong password")
    assert result.startswith("status:401:") and "wrong email or password" in result
    n = await live.app[DB].fetchval("SELECT count(*) FROM audit_log WHERE action='login.failed'")
    assert n == 1
