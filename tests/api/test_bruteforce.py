"""Brute-force protection: repeated wrong passwords lock the account for a growing delay."""

from __future__ import annotations

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.fixtures import basic, login_via_page, pkce


async def test_password_grant_locks_after_repeated_failures(live, http):
    client, secret = await live.identity.create_client(
        name="bf",
        grants=["password"],
        scopes=["openid"],
        redirect_uris=[],
        confidential=True,
        actor="t",
    )
    auth = basic(client.client_id, secret)

    async def attempt(password):
        async with http.post(
            f"{live.url}/oauth/token",
            headers=auth,
            data={"grant_type": "password", "username": ADMIN_EMAIL, "password": password},
        ) as resp:
            return resp.status, await resp.json(), resp.headers

    for _ in range(5):
        status, body, _ = await attempt("wrong")
        assert (status, body["error_description"]) == (400, "invalid username or password")
    status, body, headers = await attempt(ADMIN_PASSWORD)  # even the right one, while locked
    assert status == 400 and "too many failed sign-ins" in body["error_description"]
    assert int(headers["Retry-After"]) >= 1


async def test_login_page_locks_too(live, http):
    client, _ = await live.identity.create_client(
        name="spa",
        grants=["authorization_code"],
        scopes=["openid"],
        redirect_uris=["http://127.0.0.1:1/cb"],
        confidential=False,
        actor="t",
    )
    _, challenge = pkce()
    url = (
        f"{live.url}/oauth/authorize?response_type=code&client_id={client.client_id}"
        f"&code_challenge={challenge}&code_challenge_method=S256"
    )
    for _ in range(5):
        assert "wrong email or password" in await login_via_page(
            http, url, "someone@example.test", "nope"
        )
    result = await login_via_page(http, url, "someone@example.test", "nope")
    assert "too many failed sign-ins" in result
