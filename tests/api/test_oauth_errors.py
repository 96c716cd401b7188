"""Every RFC 6749 §5.2 error case of the token endpoint, plus PKCE and authorize errors."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from api.keys import DB
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.fixtures import basic, login_via_page, make_user, pkce

TOKEN = "/oauth/token"
REDIRECT = "http://127.0.0.1:1/cb"


@pytest.fixture
async def svc(live):
    client, secret = await live.identity.create_client(
        name="svc",
        grants=["client_credentials", "password", "refresh_token"],
        scopes=["flag.read", "openid"],
        redirect_uris=[],
        confidential=True,
        actor="test",
    )
    return client.client_id, secret


async def _post(http, live, data, headers=None):
    async with http.post(live.url + TOKEN, data=data, headers=headers or {}) as resp:
        body = await resp.json()
        return resp.status, body, resp.headers


async def test_missing_grant_type_is_invalid_request(live, http, svc):
    status, body, headers = await _post(http, live, {}, basic(*svc))
    assert (status, body["error"]) == (400, "invalid_request")
    assert headers["Cache-Control"] == "no-store" and headers["Pragma"] == "no-cache"


async def test_unknown_grant_type_is_unsupported_grant_type(live, http, svc):
    status, body, _ = await _post(http, live, {"grant_type": "urn:x:magic"}, basic(*svc))
    assert (status, body["error"]) == (400, "unsupported_grant_type")


@pytest.mark.parametrize("how", ["wrong_secret", "unknown_client", "no_auth", "garbled_basic"])
async def test_client_authentication_failures_are_invalid_client_401(live, http, svc, how):
    cid, secret = svc
    headers = {
        "wrong_secret": basic(cid, secret + "x"),
        "unknown_client": basic("nobody", secret),
        "no_auth": {},
        "garbled_basic": {"Authorization": "Basic !!!notbase64"},
    }[how]
    status, body, resp_headers = await _post(
        http, live, {"grant_type": "client_credentials"}, headers
    )
    assert (status, body["error"]) == (401, "invalid_client")
    assert resp_headers["WWW-Authenticate"].startswith("Basic")


async def test_two_client_auth_methods_at_once_is_invalid_request(live, http, svc):
    cid, secret = svc
    status, body, _ = await _post(
        http,
        live,
        {"grant_type": "client_credentials", "client_id": cid, "client_secret": secret},
        basic(cid, secret),
    )
    assert (status, body["error"]) == (400, "invalid_request")


async def test_grant_not_allowed_for_client_is_unauthorized_client(live, http):
    client, secret = await live.identity.create_client(
        name="cc-only",
        grants=["client_credentials"],
        scopes=[],
        redirect_uris=[],
        confidential=True,
        actor="test",
    )
    status, body, _ = await _post(
        http,
        live,
        {"grant_type": "password", "username": "a@b.c", "password": "x"},
        basic(client.client_id, secret),
    )
    assert (status, body["error"]) == (400, "unauthorized_client")


async def test_scope_beyond_the_client_is_invalid_scope(live, http, svc):
    status, body, _ = await _post(
        http,
        live,
        {"grant_type": "client_credentials", "scope": "flag.read role.write"},
        basic(*svc),
    )
    assert (status, body["error"]) == (400, "invalid_scope")
    assert "role.write" in body["error_description"]


async def test_wrong_password_and_inactive_user_are_invalid_grant(live, http, svc):
    uid = await make_user(live.app, "bo@example.test", "right-password-1")
    status, body, _ = await _post(
        http,
        live,
        {"grant_type": "password", "username": "bo@example.test", "password": "nope"},
        basic(*svc),
    )
    assert (status, body["error"]) == (400, "invalid_grant")
    status, body, _ = await _post(
        http,
        live,
        {"grant_type": "password", "username": "ghost@example.test", "password": "x"},
        basic(*svc),
    )
    assert (status, body["error"]) == (400, "invalid_grant")
    await live.app[DB].execute("UPDATE users SET status='inactive' WHERE user_id=$1", uid)
    status, body, _ = await _post(
        http,
        live,
        {"grant_type": "password", "username": "bo@example.test", "password": "right-password-1"},
        basic(*svc),
    )
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_missing_username_is_invalid_request(live, http, svc):
    status, body, _ = await _post(http, live, {"grant_type": "password"}, basic(*svc))
    assert (status, body["error"]) == (400, "invalid_request")


async def test_unknown_refresh_token_is_invalid_grant(live, http, svc):
    status, body, _ = await _post(
        http, live, {"grant_type": "refresh_token", "refresh_token": "hrt_nope"}, basic(*svc)
    )
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_json_body_is_invalid_request(live, http, svc):
    async with http.post(
        live.url + TOKEN, json={"grant_type": "client_credentials"}, headers=basic(*svc)
    ) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"] == "invalid_request"


async def test_repeated_parameter_is_invalid_request(live, http, svc):
    async with http.post(
        live.url + TOKEN,
        data="grant_type=client_credentials&grant_type=password",
        headers={**basic(*svc), "Content-Type": "application/x-www-form-urlencoded"},
    ) as resp:
        assert (resp.status, (await resp.json())["error"]) == (400, "invalid_request")


@pytest.fixture
async def spa(live):
    client, _ = await live.identity.create_client(
        name="spa",
        grants=["authorization_code"],
        scopes=["openid"],
        redirect_uris=[REDIRECT],
        confidential=False,
        actor="test",
    )
    return client.client_id


async def test_authorize_without_pkce_or_with_plain_redirects_an_error(live, http, spa):
    for extra in ("", "&code_challenge=abc&code_challenge_method=plain"):
        url = f"{live.url}/oauth/authorize?response_type=code&client_id={spa}&state=xyz{extra}"
        async with http.get(url, allow_redirects=False) as resp:
            assert resp.status == 302
            q = parse_qs(urlsplit(resp.headers["Location"]).query)
            assert q["error"] == ["invalid_request"] and q["state"] == ["xyz"]


async def test_authorize_unknown_client_or_redirect_shows_a_page_not_a_redirect(live, http, spa):
    for q in (
        "client_id=nobody&response_type=code",
        f"client_id={spa}&response_type=code&redirect_uri=https://evil.example/cb",
    ):
        async with http.get(f"{live.url}/oauth/authorize?{q}", allow_redirects=False) as resp:
            assert resp.status == 400 and resp.content_type == "text/html"


async def test_authorize_bad_response_type_and_scope(live, http, spa):
    base = f"{live.url}/oauth/authorize?client_id={spa}&code_challenge={'a' * 43}&code_challenge_method=S256"
    async with http.get(base + "&response_type=token", allow_redirects=False) as resp:
        assert "error=unsupported_response_type" in resp.headers["Location"]
    async with http.get(
        base + "&response_type=code&scope=role.write", allow_redirects=False
    ) as resp:
        assert "error=invalid_scope" in resp.headers["Location"]


async def test_code_exchange_checks_verifier_and_redirect_uri(live, http, spa):
    verifier, challenge = pkce()
    url = (
        f"{live.url}/oauth/authorize?response_type=code&client_id={spa}&redirect_uri={REDIRECT}"
        f"&code_challenge={challenge}&code_challenge_method=S256"
    )
    location = await login_via_page(http, url, ADMIN_EMAIL, ADMIN_PASSWORD)
    code = parse_qs(urlsplit(location).query)["code"][0]
    base = {"grant_type": "authorization_code", "code": code, "client_id": spa}
    wrong_verifier, _ = pkce()
    status, body, _ = await _post(
        http, live, {**base, "redirect_uri": REDIRECT, "code_verifier": wrong_verifier}
    )
    assert (status, body["error"]) == (400, "invalid_grant") and "code_verifier" in body[
        "error_description"
    ]
    status, body, _ = await _post(
        http, live, {**base, "redirect_uri": REDIRECT + "x", "code_verifier": verifier}
    )
    assert (status, body["error"]) == (400, "invalid_grant")
    status, body, _ = await _post(http, live, {**base, "redirect_uri": REDIRECT})
    assert (status, body["error"]) == (400, "invalid_request")
    status, body, _ = await _post(
        http, live, {**base, "redirect_uri": REDIRECT, "code_verifier": verifier}
    )
    assert status == 200 and body["token_type"] == "Bearer"


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/form-data",  # no boundary: aiohttp's own form reader fails on it
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded; charset=no-such-charset",
    ],
)
async def test_malformed_or_unsupported_form_bodies_are_client_errors(
    live, http, svc, content_type
):
    body = b"grant_type=client_credentials&request=x&email=a&password=b"
    headers = {**basic(*svc), "Content-Type": content_type}
    async with http.post(live.url + TOKEN, data=body, headers=headers) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"] == "invalid_request"
        assert resp.headers["Cache-Control"] == "no-store"
    async with http.post(
        f"{live.url}/oauth/authorize",
        data=body,
        headers={"Content-Type": content_type},
        allow_redirects=False,
    ) as resp:
        assert resp.status == 400 and resp.content_type == "text/html"
        assert "Cannot sign in" in await resp.text()


async def test_login_form_with_a_repeated_or_missing_field_is_a_400_page(live, http):
    async with http.post(
        f"{live.url}/oauth/authorize",
        data="request=x&email=a&email=b&password=c",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        allow_redirects=False,
    ) as resp:
        assert resp.status == 400 and "repeated" in await resp.text()
    async with http.post(
        f"{live.url}/oauth/authorize", data={"email": "a", "password": "b"}, allow_redirects=False
    ) as resp:
        assert resp.status == 400 and "incomplete form" in await resp.text()
