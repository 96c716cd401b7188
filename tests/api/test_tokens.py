"""Introspection, revocation, key rotation and the bearer/scope check on /v1 routes."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from api.keys import DB
from hearth_core.events import EventListener
from hearth_core.identity.provider import IdentityProvider
from tests.fixtures import basic, make_user


@pytest.fixture
async def rs(live):
    """A resource server: may introspect."""
    c, s = await live.identity.create_client(
        name="rs",
        grants=["client_credentials"],
        scopes=["auth.introspect"],
        redirect_uris=[],
        confidential=True,
        actor="test",
    )
    return c.client_id, s


@pytest.fixture
async def app_client(live):
    c, s = await live.identity.create_client(
        name="app",
        grants=["client_credentials", "password", "refresh_token"],
        scopes=["flag.read", "auth.admin", "openid"],
        redirect_uris=[],
        confidential=True,
        actor="test",
    )
    return c.client_id, s


async def _token(http, live, creds, **form) -> dict:
    data = {"grant_type": "client_credentials", **form}
    async with http.post(f"{live.url}/oauth/token", data=data, headers=basic(*creds)) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def _introspect(http, live, rs, token: str) -> dict:
    async with http.post(
        f"{live.url}/oauth/introspect", data={"token": token}, headers=basic(*rs)
    ) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["Cache-Control"] == "no-store"
        return await resp.json()


async def test_introspection_of_active_and_revoked_tokens(live, http, rs, app_client):
    tok = (await _token(http, live, app_client, scope="flag.read"))["access_token"]
    info = await _introspect(http, live, rs, tok)
    assert info["active"] is True
    assert info["client_id"] == app_client[0] and info["scope"] == "flag.read"
    assert info["iss"] == live.url and info["token_type"] == "Bearer"
    async with http.post(
        f"{live.url}/oauth/revoke", data={"token": tok}, headers=basic(*app_client)
    ) as resp:
        assert resp.status == 200
    assert await _introspect(http, live, rs, tok) == {"active": False}
    n = await live.app[DB].fetchval("SELECT count(*) FROM audit_log WHERE action='token.revoke'")
    assert n == 1


async def test_introspection_inactive_for_expired_malformed_and_foreign(live, http, rs):
    expired, _ = live.identity.tokens.issue_access_token(
        sub="x", client_id="x", scope="", now=int(time.time()) - 3600
    )
    foreign_key = ec.generate_private_key(ec.SECP256R1())
    foreign = jwt.encode(
        {
            "iss": live.url,
            "sub": "x",
            "aud": "hearth",
            "exp": int(time.time()) + 60,
            "iat": int(time.time()),
            "jti": "j",
            "client_id": "x",
            "scope": "",
        },
        foreign_key,
        algorithm="ES256",
        headers={"kid": live.identity.tokens.keys.signer.kid, "typ": "at+jwt"},
    )
    for tok in (expired, "not-a-jwt", "a.b.c", foreign, "hrt_unknown"):
        assert await _introspect(http, live, rs, tok) == {"active": False}, tok


async def test_introspection_caller_must_authenticate_and_hold_the_scope(live, http, app_client):
    tok = (await _token(http, live, app_client))["access_token"]
    async with http.post(f"{live.url}/oauth/introspect", data={"token": tok}) as resp:
        assert resp.status == 401 and (await resp.json())["error"] == "invalid_client"
    async with http.post(
        f"{live.url}/oauth/introspect", data={"token": tok}, headers=basic(*app_client)
    ) as resp:
        assert resp.status == 403
    async with http.post(
        f"{live.url}/oauth/introspect",
        data={"token": tok},
        headers={"Authorization": f"Bearer {tok}"},
    ) as resp:
        assert resp.status == 403  # a bearer without auth.introspect


async def test_introspection_with_bearer_caller(live, http, rs, app_client):
    caller = (await _token(http, live, rs))["access_token"]
    tok = (await _token(http, live, app_client))["access_token"]
    async with http.post(
        f"{live.url}/oauth/introspect",
        data={"token": tok},
        headers={"Authorization": f"Bearer {caller}"},
    ) as resp:
        assert resp.status == 200 and (await resp.json())["active"] is True


async def test_refresh_reuse_revokes_the_whole_family(live, http, rs, app_client):
    live.identity.settings = live.identity.settings.replace(refresh_reuse_grace=0.0)
    await make_user(live.app, "cy@example.test", "pw-cy-12345678")
    first = await _token(
        http,
        live,
        app_client,
        grant_type="password",
        username="cy@example.test",
        password="pw-cy-12345678",
        scope="openid",
    )
    second = await _token(
        http, live, app_client, grant_type="refresh_token", refresh_token=first["refresh_token"]
    )
    await asyncio.sleep(0.05)
    async with http.post(
        f"{live.url}/oauth/token",
        headers=basic(*app_client),
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
    ) as resp:
        assert resp.status == 400 and (await resp.json())["error"] == "invalid_grant"
    # The thief's replay ended the family: the legitimate newest token is dead too...
    async with http.post(
        f"{live.url}/oauth/token",
        headers=basic(*app_client),
        data={"grant_type": "refresh_token", "refresh_token": second["refresh_token"]},
    ) as resp:
        assert resp.status == 400 and (await resp.json())["error"] == "invalid_grant"
    # ... and so are the access tokens issued from it.
    assert await _introspect(http, live, rs, second["access_token"]) == {"active": False}
    assert await _introspect(http, live, rs, second["refresh_token"]) == {"active": False}
    n = await live.app[DB].fetchval(
        "SELECT count(*) FROM audit_log WHERE action='token.family_revoked'"
    )
    assert n == 1


async def test_concurrent_refreshes_within_grace_both_succeed(live, http, app_client):
    await make_user(live.app, "di@example.test", "pw-di-12345678")
    first = await _token(
        http,
        live,
        app_client,
        grant_type="password",
        username="di@example.test",
        password="pw-di-12345678",
    )
    results = await asyncio.gather(
        *(
            _token(
                http,
                live,
                app_client,
                grant_type="refresh_token",
                refresh_token=first["refresh_token"],
            )
            for _ in range(2)
        )
    )
    assert len({r["refresh_token"] for r in results}) == 2


async def test_revoking_a_refresh_token_kills_its_family(live, http, rs, app_client):
    await make_user(live.app, "ed@example.test", "pw-ed-12345678")
    first = await _token(
        http,
        live,
        app_client,
        grant_type="password",
        username="ed@example.test",
        password="pw-ed-12345678",
    )
    async with http.post(
        f"{live.url}/oauth/revoke",
        data={"token": first["refresh_token"]},
        headers=basic(*app_client),
    ) as resp:
        assert resp.status == 200
    assert await _introspect(http, live, rs, first["access_token"]) == {"active": False}


async def test_revoking_another_clients_token_is_refused(live, http, rs, app_client):
    tok = (await _token(http, live, app_client))["access_token"]
    async with http.post(
        f"{live.url}/oauth/revoke", data={"token": tok}, headers=basic(*rs)
    ) as resp:
        assert resp.status == 400 and (await resp.json())["error"] == "unauthorized_client"
    assert (await _introspect(http, live, rs, tok))["active"] is True


async def test_key_rotation_keeps_old_tokens_valid_and_signs_with_the_new_kid(
    live, http, rs, app_client
):
    old = (await _token(http, live, app_client))["access_token"]
    old_kid = jwt.get_unverified_header(old)["kid"]
    new_kid = await live.identity.rotate_keys(actor="test")
    assert new_kid != old_kid
    new = (await _token(http, live, app_client))["access_token"]
    assert jwt.get_unverified_header(new)["kid"] == new_kid
    async with http.get(f"{live.url}/.well-known/jwks.json") as resp:
        kids = {k["kid"] for k in (await resp.json())["keys"]}
    assert {old_kid, new_kid} <= kids
    assert (await _introspect(http, live, rs, old))["active"] is True
    async with http.get(
        f"{live.url}/v1/clients", headers={"Authorization": f"Bearer {old}"}
    ) as resp:
        assert resp.status == 200
    n = await live.app[DB].fetchval(
        "SELECT count(*) FROM audit_log WHERE action='signing_key.rotate'"
    )
    assert n == 1


def _forge(live, **changes) -> str:
    now = int(time.time())
    claims = {
        "iss": live.url,
        "sub": "x",
        "aud": "hearth",
        "exp": now + 60,
        "iat": now,
        "jti": "j1",
        "client_id": "x",
        "scope": "auth.admin",
    }
    header = {"kid": live.identity.tokens.keys.signer.kid, "typ": "at+jwt"}
    alg = changes.pop("alg", "ES256")
    header.update(changes.pop("header", {}))
    claims.update(changes)
    if alg == "none":
        return jwt.encode(claims, None, algorithm="none", headers=header)
    if alg == "HS256":
        pem = live.identity.tokens.keys.signer.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        # The classic confusion attack: the public key used as an HMAC secret.
        h = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", **header}).encode()).rstrip(b"=")
        p = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
        sig = base64.urlsafe_b64encode(hmac.new(pem, h + b"." + p, hashlib.sha256).digest()).rstrip(
            b"="
        )
        return (h + b"." + p + b"." + sig).decode()
    return jwt.encode(
        claims, live.identity.tokens.keys.signer.private, algorithm="ES256", headers=header
    )


@pytest.mark.parametrize(
    "case",
    [
        "none",
        "hs256",
        "unknown_kid",
        "wrong_issuer",
        "wrong_audience",
        "expired",
        "id_token_typ",
    ],
)
async def test_v1_rejects_forged_or_foreign_tokens(live, http, case):
    token = {
        "none": lambda: _forge(live, alg="none"),
        "hs256": lambda: _forge(live, alg="HS256"),
        "unknown_kid": lambda: _forge(live, header={"kid": "nope"}),
        "wrong_issuer": lambda: _forge(live, iss="https://evil.example"),
        "wrong_audience": lambda: _forge(live, aud="someone-else"),
        "expired": lambda: _forge(live, exp=int(time.time()) - 60, iat=int(time.time()) - 120),
        "id_token_typ": lambda: _forge(live, header={"typ": "JWT"}),
    }[case]()
    async with http.get(
        f"{live.url}/v1/clients", headers={"Authorization": f"Bearer {token}"}
    ) as resp:
        assert resp.status == 401
        assert resp.content_type == "application/problem+json"
        assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]


async def test_v1_needs_a_token_and_the_scope(live, http, app_client):
    async with http.get(f"{live.url}/v1/clients") as resp:
        assert resp.status == 401 and resp.headers["WWW-Authenticate"] == 'Bearer realm="hearth"'
    weak = (await _token(http, live, app_client, scope="flag.read"))["access_token"]
    async with http.get(
        f"{live.url}/v1/clients", headers={"Authorization": f"Bearer {weak}"}
    ) as resp:
        assert resp.status == 403
        assert 'error="insufficient_scope", scope="auth.admin"' in resp.headers["WWW-Authenticate"]
    strong = (await _token(http, live, app_client, scope="auth.admin"))["access_token"]
    async with http.get(
        f"{live.url}/v1/clients", headers={"Authorization": f"Bearer {strong}"}
    ) as resp:
        assert resp.status == 200


async def test_every_v1_route_declares_a_known_scope(live, http):
    async with http.get(f"{live.url}/openapi.json") as resp:
        doc = await resp.json()
    v1 = [
        (p, m, op)
        for p, ops in doc["paths"].items()
        for m, op in ops.items()
        if p.startswith("/v1")
    ]
    assert v1
    for path, method, op in v1:
        assert op["x-scope"] != "public", (method, path)
        assert op["security"][0]["oauth2"] == [op["x-scope"]]


async def test_client_admin_api_lifecycle(live, http, rs, app_client):
    admin = (await _token(http, live, app_client, scope="auth.admin"))["access_token"]
    auth = {"Authorization": f"Bearer {admin}"}
    async with http.post(
        f"{live.url}/v1/clients",
        headers=auth,
        json={"name": "billing", "grants": ["client_credentials"], "scopes": ["usage.read"]},
    ) as resp:
        assert resp.status == 201
        created = await resp.json()
    cid, secret = created["client_id"], created["client_secret"]
    assert secret.startswith("hcs_") and len(secret) > 40
    tok = (await _token(http, live, (cid, secret)))["access_token"]
    async with http.post(f"{live.url}/v1/clients/{cid}/rotate-secret", headers=auth) as resp:
        new_secret = (await resp.json())["client_secret"]
    async with http.post(
        f"{live.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic(cid, secret),
    ) as resp:
        assert resp.status == 401  # the old secret stopped working at once
    await _token(http, live, (cid, new_secret))
    async with http.post(
        f"{live.url}/v1/clients",
        headers=auth,
        json={"name": "x", "grants": ["teleport"], "scopes": ["everything"]},
    ) as resp:
        assert resp.status == 400
        paths = {
            e["path"] for e in (await resp.json(content_type="application/problem+json"))["errors"]
        }
        assert paths == {"$.grants[0]", "$.scopes[0]"}
    async with http.delete(f"{live.url}/v1/clients/{cid}", headers=auth) as resp:
        assert resp.status == 204
    assert await _introspect(http, live, rs, tok) == {"active": False}
    actions = [
        r["action"]
        for r in await live.app[DB].fetch(
            "SELECT action FROM audit_log WHERE target=$1 ORDER BY id", f"client:{cid}"
        )
    ]
    assert actions == ["client.create", "client.rotate_secret", "client.delete"]
    secrets_in_db = await live.app[DB].fetchval(
        "SELECT count(*) FROM audit_log WHERE after::text LIKE '%' || $1 || '%'", new_secret
    )
    assert secrets_in_db == 0


async def test_revocation_reaches_another_worker_through_notify(live, http, app_client):
    """A second provider (another worker's) learns of a revocation without being asked."""
    other = IdentityProvider(live.settings, live.app[DB], live.identity.cipher)
    listener = EventListener(live.settings.database_url)
    await listener.start()
    try:
        await other.start(listener)
        tok = (await _token(http, live, app_client))["access_token"]
        assert (await other.introspect(tok))["active"] is True
        async with http.post(
            f"{live.url}/oauth/revoke", data={"token": tok}, headers=basic(*app_client)
        ) as resp:
            assert resp.status == 200
        for _ in range(100):
            if (await other.introspect(tok)) == {"active": False}:
                break
            await asyncio.sleep(0.02)
        assert (await other.introspect(tok)) == {"active": False}
        # Key rotation reaches it the same way.
        kid = await live.identity.rotate_keys(actor="test")
        for _ in range(100):
            if other.tokens.keys.signer.kid == kid:
                break
            await asyncio.sleep(0.02)
        assert other.tokens.keys.signer.kid == kid
    finally:
        await listener.stop()


async def test_introspecting_a_jwt_does_not_query_postgres(live, http, rs, app_client):
    tok = (await _token(http, live, app_client))["access_token"]
    pool = live.app[DB]
    # Hold every pooled connection: anything that needed PostgreSQL would now wait forever.
    held = [await pool.acquire() for _ in range(pool.get_max_size())]
    try:
        async with asyncio.timeout(5):
            for _ in range(20):
                assert (await _introspect(http, live, rs, tok))["active"] is True
            # Issuing a client_credentials token needs no database either.
            await _token(http, live, app_client)
    finally:
        for conn in held:
            await pool.release(conn)
