"""Profiles: CRUD, listing against a reference, deactivation and erasure, encryption at rest."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta

import pytest

from api.keys import DB, USERS
from hearth_core.security.crypto import CryptoError
from tests.fixtures import basic, service_token

PROBLEM = "application/problem+json"


async def _create(http, live, headers, **body):
    async with http.post(f"{live.url}/v1/users", json=body, headers=headers) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_crud_round_trip(live, http, admin_headers):
    status, user = await _create(
        http,
        live,
        admin_headers,
        email="Zoe.Quinn@Example.TEST",
        display_name="Zoë Quinn",
        password="s3cret-pass",
        attributes={"team": "ops", "level": 3},
        roles=["admin"],
    )
    assert status == 201
    uid = user["user_id"]
    assert user["email"] == "zoe.quinn@example.test"  # normalized, case-insensitive
    assert user["display_name"] == "Zoë Quinn" and user["attributes"] == {"team": "ops", "level": 3}
    assert user["roles"] == ["admin"] and user["status"] == "active" and user["last_login"] is None
    assert "password" not in user and "password_hash" not in user
    async with http.get(f"{live.url}/v1/users/{uid}", headers=admin_headers) as resp:
        assert (await resp.json()) == user
    async with http.put(
        f"{live.url}/v1/users/{uid}",
        headers=admin_headers,
        json={"display_name": "Zoe Q", "attributes": {"team": "dev"}},
    ) as resp:
        assert resp.status == 200
        updated = await resp.json()
    assert updated["display_name"] == "Zoe Q" and updated["email"] == user["email"]
    assert updated["attributes"] == {"team": "dev"} and updated["roles"] == ["admin"]
    async with http.get(f"{live.url}/v1/users/{uuid.uuid4()}", headers=admin_headers) as resp:
        assert resp.status == 404 and resp.content_type == PROBLEM
    async with http.get(f"{live.url}/v1/users/not-a-uuid", headers=admin_headers) as resp:
        assert resp.status == 404


async def test_duplicate_email_is_409_naming_the_field(live, http, admin_headers):
    await _create(http, live, admin_headers, email="dup@example.test")
    status, body = await _create(http, live, admin_headers, email="DUP@example.test")
    assert status == 409 and body["errors"] == [
        {"path": "$.email", "message": "already registered"}
    ]


@pytest.mark.parametrize(
    "body,path",
    [
        ({"email": "not-an-email"}, "$.email"),
        ({"email": "a@b.test", "password": "short"}, "$.password"),
        ({"email": "a@b.test", "roles": ["nope"]}, "$.roles[0]"),
        ({"email": "a@b.test", "status": "erased"}, "$.status"),
        ({"email": "a@b.test", "colour": "red"}, "$"),
    ],
)
async def test_bad_input_is_400_naming_the_field(live, http, admin_headers, body, path):
    status, problem = await _create(http, live, admin_headers, **body)
    assert status == 400
    assert problem["errors"][0]["path"] == path, problem


async def test_scopes_are_enforced(live, http):
    reader = await service_token(live, http, ["profile.read"])
    status, _ = await _create(http, live, reader, email="x@example.test")
    assert status == 403
    async with http.get(f"{live.url}/v1/users", headers=reader) as resp:
        assert resp.status == 200


async def test_listing_filters_sort_and_pages_match_a_reference(live, http, admin_headers):
    rng = random.Random(7)
    first = ["Ada", "Alan", "Grace", "Greta", "Linus", "Lin", "Barbara", "Ken"]
    made = []
    for i in range(40):
        name = f"{rng.choice(first)} {rng.choice(['Lovelace', 'Kay', 'Hopper', 'Thompson'])}"
        status, u = await _create(
            http,
            live,
            admin_headers,
            email=f"user{i}@example.test",
            display_name=name,
            roles=["admin"] if i % 5 == 0 else [],
            status="inactive" if i % 7 == 0 else "active",
        )
        assert status == 201
        made.append(u)
    everyone = made + [
        u
        for u in await _all(http, live, admin_headers)
        if u["user_id"] not in {m["user_id"] for m in made}
    ]

    async def listed(**params):
        out, page = [], 1
        while True:
            async with http.get(
                f"{live.url}/v1/users",
                headers=admin_headers,
                params={**params, "limit": 7, "page": page},
            ) as resp:
                assert resp.status == 200, await resp.text()
                body = await resp.json()
            out += body["items"]
            if page * 7 >= body["total"]:
                return out, body["total"]
            page += 1

    def ids(users):
        return [u["user_id"] for u in users]

    got, total = await listed(q="gr")
    ref = [u for u in everyone if (u["display_name"] or "").lower().startswith("gr")]
    assert total == len(ref) and set(ids(got)) == set(ids(ref)) and ref
    got, total = await listed(role="admin", status="active")
    ref = [u for u in everyone if "admin" in u["roles"] and u["status"] == "active"]
    assert set(ids(got)) == set(ids(ref)) and total == len(ref)
    got, _ = await listed(email="USER3@example.test")
    assert ids(got) == [made[3]["user_id"]]
    got, _ = await listed(sort="-created_at")
    ref = sorted(
        everyone,
        key=lambda u: (datetime.fromisoformat(u["created_at"]), u["user_id"]),
        reverse=True,
    )
    assert ids(got) == ids(ref)
    middle = datetime.fromisoformat(made[20]["created_at"])
    got, total = await listed(
        created_after=made[20]["created_at"],
        created_before=(middle + timedelta(days=1)).isoformat(),
    )
    ref = [u for u in everyone if datetime.fromisoformat(u["created_at"]) >= middle]
    assert set(ids(got)) == set(ids(ref)) and total == len(ref)
    async with http.get(f"{live.url}/v1/users?limit=5000", headers=admin_headers) as resp:
        assert resp.status == 400
        assert (await resp.json(content_type=PROBLEM))["errors"][0]["path"] == "query.limit"
    async with http.get(f"{live.url}/v1/users?sort=email", headers=admin_headers) as resp:
        assert resp.status == 400


async def _all(http, live, headers):
    async with http.get(f"{live.url}/v1/users?limit=1000", headers=headers) as resp:
        return (await resp.json())["items"]


async def _password_token(http, live, email, password, scope=None):
    client, secret = await live.identity.create_client(
        name="login",
        grants=["password"],
        scopes=["profile.read", "flag.read", "role.write", "openid"],
        redirect_uris=[],
        confidential=True,
        actor="test",
    )
    data = {"grant_type": "password", "username": email, "password": password}
    if scope:
        data["scope"] = scope
    async with http.post(
        f"{live.url}/oauth/token", data=data, headers=basic(client.client_id, secret)
    ) as resp:
        return resp.status, await resp.json()


async def test_delete_deactivates_login_and_tokens(live, http, admin_headers):
    _, u = await _create(
        http, live, admin_headers, email="gone@example.test", password="pw-gone-123"
    )
    status, tok = await _password_token(http, live, "gone@example.test", "pw-gone-123")
    assert status == 200
    assert (await live.identity.introspect(tok["access_token"]))["active"] is True
    async with http.delete(f"{live.url}/v1/users/{u['user_id']}", headers=admin_headers) as resp:
        assert resp.status == 204
    assert (await live.identity.introspect(tok["access_token"])) == {"active": False}
    status, err = await _password_token(http, live, "gone@example.test", "pw-gone-123")
    assert status == 400 and err["error"] == "invalid_grant"
    async with http.get(f"{live.url}/v1/users/{u['user_id']}", headers=admin_headers) as resp:
        assert (await resp.json())["status"] == "inactive"


async def test_erase_removes_pii_and_is_audited(live, http, admin_headers):
    _, u = await _create(
        http,
        live,
        admin_headers,
        email="forget.me@example.test",
        display_name="Forget Me",
        attributes={"phone": "+44 1234"},
    )
    async with http.delete(
        f"{live.url}/v1/users/{u['user_id']}?erase=true", headers=admin_headers
    ) as resp:
        assert resp.status == 204
    async with http.get(f"{live.url}/v1/users/{u['user_id']}", headers=admin_headers) as resp:
        body = await resp.json()
    assert body["status"] == "erased" and body["email"] is None and body["display_name"] is None
    assert body["attributes"] == {}
    row = await live.app[DB].fetchrow(
        "SELECT * FROM users WHERE user_id=$1", uuid.UUID(u["user_id"])
    )
    assert row["email_enc"] is None and row["email_bidx"] is None and row["attributes_enc"] is None
    assert row["name_prefixes"] == []
    audit = await live.app[DB].fetchrow(
        "SELECT actor, before, after FROM audit_log WHERE action='user.erase' AND target=$1",
        f"user:{u['user_id']}",
    )
    assert audit is not None and "forget" not in str(audit).lower()
    # The address is free again.
    status, _ = await _create(http, live, admin_headers, email="forget.me@example.test")
    assert status == 201


async def test_role_scopes_bound_the_token(live, http, admin_headers):
    async with http.post(
        f"{live.url}/v1/roles",
        headers=admin_headers,
        json={"name": "flag-reader", "scopes": ["flag.read"]},
    ) as resp:
        assert resp.status == 201
    _, u = await _create(
        http,
        live,
        admin_headers,
        email="rolly@example.test",
        password="pw-rolly-123",
        roles=["flag-reader"],
    )
    status, tok = await _password_token(
        http, live, "rolly@example.test", "pw-rolly-123", scope="flag.read role.write profile.read"
    )
    assert status == 200 and tok["scope"] == "flag.read"
    async with http.post(
        f"{live.url}/v1/userroles",
        headers=admin_headers,
        json={"user_id": u["user_id"], "role": "admin"},
    ) as resp:
        assert resp.status == 201 and (await resp.json())["added"] is True
    status, tok = await _password_token(
        http, live, "rolly@example.test", "pw-rolly-123", scope="flag.read role.write profile.read"
    )
    assert set(tok["scope"].split()) == {"flag.read", "role.write", "profile.read"}
    # A role's new scopes reach the next token.
    async with http.put(
        f"{live.url}/v1/roles/flag-reader",
        headers=admin_headers,
        json={"scopes": ["flag.read", "openid"]},
    ) as resp:
        assert resp.status == 200
    async with http.delete(
        f"{live.url}/v1/userroles",
        headers=admin_headers,
        json={"user_id": u["user_id"], "role": "admin"},
    ) as resp:
        assert resp.status == 204
    status, tok = await _password_token(
        http, live, "rolly@example.test", "pw-rolly-123", scope="flag.read openid role.write"
    )
    assert set(tok["scope"].split()) == {"flag.read", "openid"}


async def test_pii_is_encrypted_at_rest_and_bound_to_its_row(live, http, admin_headers):
    secrets_ = {
        "email": "cleartext.probe@example.test",
        "name": "Probe Namewise",
        "attr": "attribute-probe-value",
    }
    _, a = await _create(
        http,
        live,
        admin_headers,
        email=secrets_["email"],
        display_name=secrets_["name"],
        attributes={"x": secrets_["attr"]},
    )
    _, b = await _create(
        http, live, admin_headers, email="other@example.test", display_name="Other"
    )
    db = live.app[DB]
    dump = await db.fetchval("SELECT string_agg(t::text, '|') FROM users t")
    raw = await db.fetchval(
        "SELECT string_agg(encode(email_enc, 'escape') || encode(coalesce(display_name_enc, ''), 'escape') || encode(coalesce(attributes_enc, ''), 'escape'), '|') FROM users"
    )
    for value in secrets_.values():
        assert value not in dump and value.lower() not in dump.lower()
        assert value not in raw
    # A ciphertext moved to another row does not decrypt there.
    await db.execute(
        "UPDATE users SET email_enc = (SELECT email_enc FROM users WHERE user_id=$1) WHERE user_id=$2",
        uuid.UUID(a["user_id"]),
        uuid.UUID(b["user_id"]),
    )
    with pytest.raises(CryptoError):
        await live.app[USERS].get(uuid.UUID(b["user_id"]))
