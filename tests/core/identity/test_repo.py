"""hearth_core.identity.repo against a real PostgreSQL (a fresh migrated database per test)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import asyncpg
import pytest

from hearth_core.errors import NotFound
from hearth_core.identity import repo
from hearth_core.identity.tokens import token_hash


async def _client(db: asyncpg.Connection, client_id: str = "app", **over) -> asyncpg.Record:
    spec = {
        "name": "App",
        "confidential": True,
        "secret_hash": b"h" * 32,
        "grants": ["authorization_code", "refresh_token"],
        "scopes": ["openid"],
        "redirect_uris": ["https://app.example/cb"],
        **over,
    }
    return await repo.insert_client(db, client_id=client_id, **spec)


async def _user(db: asyncpg.Connection, status: str = "active") -> uuid.UUID:
    return await db.fetchval("INSERT INTO users (status) VALUES ($1) RETURNING user_id", status)


# ------------------------------------------------------------------------------ clients


async def test_client_insert_get_list_update_delete(db):
    row = await _client(db)
    assert (row["client_id"], row["name"], row["confidential"]) == ("app", "App", True)
    assert row["grants"] == ["authorization_code", "refresh_token"]
    await _client(db, "other", confidential=False, secret_hash=None)

    assert (await repo.get_client(db, "app"))["secret_hash"] == b"h" * 32
    assert await repo.get_client(db, "nobody") is None
    assert [r["client_id"] for r in await repo.list_clients(db)][-2:] == ["app", "other"]

    updated = await repo.update_client(
        db, "app", name="App 2", grants=["refresh_token"], scopes=[], redirect_uris=[]
    )
    assert (updated["name"], updated["grants"], updated["scopes"]) == (
        "App 2",
        ["refresh_token"],
        [],
    )
    assert updated["updated_at"] >= row["updated_at"]
    assert (
        await repo.update_client(db, "nobody", name="x", grants=[], scopes=[], redirect_uris=[])
        is None
    )

    assert await repo.delete_client(db, "app") is True
    assert await repo.delete_client(db, "app") is False
    assert "app" not in [r["client_id"] for r in await repo.list_clients(db)]


async def test_client_id_is_unique(db):
    await _client(db)
    with pytest.raises(asyncpg.UniqueViolationError):
        await _client(db)


async def test_upsert_public_client_keeps_operator_redirects(db):
    spec = {"client_id": "spa", "name": "SPA", "grants": ["authorization_code"]}
    await repo.upsert_public_client(db, **spec, scopes=["openid"], redirect_uri="https://a/cb")
    row = await repo.get_client(db, "spa")
    assert (row["confidential"], row["secret_hash"], row["scopes"]) == (False, None, ["openid"])
    assert row["redirect_uris"] == ["https://a/cb"]
    await repo.update_client(
        db, "spa", name="SPA", grants=spec["grants"], scopes=[], redirect_uris=["https://op/cb"]
    )
    for _ in range(2):
        await repo.upsert_public_client(
            db, **spec, scopes=["openid", "email"], redirect_uri="https://b/cb"
        )
    row = await repo.get_client(db, "spa")
    assert row["scopes"] == ["openid", "email"]
    assert row["redirect_uris"] == ["https://op/cb", "https://b/cb"]


async def test_set_client_secret_replaces_the_hash_and_stamps_the_rotation(db):
    await _client(db)
    await repo.set_client_secret(db, "app", b"n" * 32)
    row = await repo.get_client(db, "app")
    assert row["secret_hash"] == b"n" * 32 and row["secret_rotated_at"] is not None


async def test_client_for_update_locks_the_row_or_is_not_found(db, settings):
    await _client(db)
    other = await asyncpg.connect(settings.database_url)
    try:
        async with db.transaction():
            assert (await repo.client_for_update(db, "app"))["client_id"] == "app"
            with pytest.raises(asyncpg.LockNotAvailableError):
                async with other.transaction():
                    await other.execute("SET LOCAL lock_timeout = '100ms'")
                    await other.execute(
                        "UPDATE oauth_clients SET name = 'x' WHERE client_id = 'app'"
                    )
            with pytest.raises(NotFound):
                await repo.client_for_update(db, "nobody")
    finally:
        await other.close()


# ------------------------------------------------------------------------------ revocations


async def test_revocation_persisted_listed_and_refreshed(db):
    await repo.persist_revocation(db, "jti", "t1", expires_in=60)
    await repo.persist_revocation(db, "sub", "u1", expires_in=60)
    await repo.persist_revocation(db, "cid", "gone", expires_in=-1)  # already expired
    rows = {(r["kind"], r["value"]): r for r in await repo.live_revocations(db)}
    assert set(rows) == {("jti", "t1"), ("sub", "u1")}
    now = await db.fetchval("SELECT extract(epoch FROM now())::float8")
    assert isinstance(rows["jti", "t1"]["expires"], float)
    assert rows["jti", "t1"]["expires"] == pytest.approx(now + 60, abs=1)
    assert rows["sub", "u1"]["revoked"] == pytest.approx(now, abs=1)

    # Revoking again moves the expiry instead of failing on the primary key.
    await repo.persist_revocation(db, "jti", "t1", expires_in=600)
    (again,) = [r for r in await repo.live_revocations(db) if r["value"] == "t1"]
    assert again["expires"] == pytest.approx(now + 600, abs=1)


async def test_unknown_revocation_kind_is_refused(db):
    with pytest.raises(asyncpg.CheckViolationError):
        await repo.persist_revocation(db, "nope", "x", expires_in=60)


# ------------------------------------------------------------------------------ signing keys


async def test_signing_keys_insert_publish_and_retire(db):
    await repo.retire_active_keys(db, keep_for=timedelta(0))  # whatever the template holds
    async with db.transaction():
        await repo.lock_signing_keys(db)
        assert await repo.has_active_key(db) is False
        jwk = {"kty": "EC", "crv": "P-256", "x": "x", "y": "y"}
        await repo.insert_signing_key(db, kid="k1", alg="ES256", private_enc=b"enc", public_jwk=jwk)
    assert await repo.has_active_key(db) is True
    (row,) = await repo.published_keys(db)
    assert (row["kid"], row["public_jwk"], row["private_enc"]) == ("k1", jwk, b"enc")

    assert await repo.retire_active_keys(db, keep_for=timedelta(minutes=5)) == ["k1"]
    assert await repo.has_active_key(db) is False
    assert await repo.retire_active_keys(db, keep_for=timedelta(minutes=5)) == []
    (row,) = await repo.published_keys(db)  # still verifies tokens for keep_for
    assert row["retired_at"] is not None and row["expires_at"] > row["retired_at"]

    await repo.insert_signing_key(db, kid="k0", alg="ES256", private_enc=b"e", public_jwk=jwk)
    await repo.retire_active_keys(db, keep_for=timedelta(0))
    assert [r["kid"] for r in await repo.published_keys(db)] == ["k1"]


async def test_signing_key_lock_serialises_transactions(db, settings):
    other = await asyncpg.connect(settings.database_url)
    try:
        second = other.transaction()
        await second.start()
        async with db.transaction():
            await repo.lock_signing_keys(db)
            waiter = asyncio.ensure_future(repo.lock_signing_keys(other))
            await asyncio.sleep(0.2)
            assert not waiter.done()  # held until the first transaction ends
        await asyncio.wait_for(waiter, 5)
        await second.rollback()
    finally:
        await other.close()


# ------------------------------------------------------------------------------ refresh tokens


async def _refresh(db, family_id, user_id, value="hrt_1", *, ttl=3600.0, auth_time=1_700_000_000):
    await repo.insert_refresh_token(
        db,
        token_hash=token_hash(value),
        family_id=family_id,
        client_id="app",
        user_id=user_id,
        scope="openid",
        auth_time=auth_time,
        ttl=ttl,
    )


async def test_family_and_refresh_token_insert_then_lookup(db):
    await _client(db)
    user_id = await _user(db)
    family_id = uuid.uuid4()
    await repo.insert_family(db, family_id, "app", user_id)
    await _refresh(db, family_id, user_id)

    async with db.transaction():
        row = await repo.refresh_token_for_update(db, token_hash("hrt_1"))
    assert (row["family_id"], row["client_id"], row["user_id"]) == (family_id, "app", user_id)
    assert row["family_revoked"] is None and row["user_status"] == "active"
    assert row["expired"] is False and row["used_at"] is None and row["used_ago"] is None
    assert row["auth_epoch"] == 1_700_000_000
    assert await repo.refresh_token_for_update(db, token_hash("hrt_other")) is None

    owner = await repo.refresh_token_owner(db, token_hash("hrt_1"))
    assert (owner["family_id"], owner["client_id"]) == (family_id, "app")
    assert await repo.refresh_token_owner(db, token_hash("hrt_other")) is None


async def test_family_must_belong_to_a_known_client(db):
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await repo.insert_family(db, uuid.uuid4(), "nobody", None)


async def test_refresh_token_used_once_and_introspection_grace(db):
    await _client(db)
    user_id = await _user(db)
    family_id = uuid.uuid4()
    await repo.insert_family(db, family_id, "app", user_id)
    await _refresh(db, family_id, user_id)
    h = token_hash("hrt_1")

    active = await repo.active_refresh_token(db, h, reuse_grace=0)
    assert (active["client_id"], active["user_id"], active["scope"]) == ("app", user_id, "openid")
    assert active["exp"] - active["iat"] == pytest.approx(3600, abs=1)

    await repo.mark_refresh_token_used(db, h)
    first_use = (await repo.refresh_token_for_update(db, h))["used_at"]
    assert first_use is not None
    await asyncio.sleep(0.05)
    await repo.mark_refresh_token_used(db, h)  # the first use is what counts
    assert (await repo.refresh_token_for_update(db, h))["used_at"] == first_use

    assert await repo.active_refresh_token(db, h, reuse_grace=60) is not None
    assert await repo.active_refresh_token(db, h, reuse_grace=0) is None


async def test_expired_refresh_token_and_inactive_user(db):
    await _client(db)
    user_id = await _user(db, status="inactive")
    family_id = uuid.uuid4()
    await repo.insert_family(db, family_id, "app", user_id)
    await _refresh(db, family_id, user_id, "hrt_old", ttl=-1)
    await _refresh(db, family_id, user_id, "hrt_new")
    assert (await repo.refresh_token_for_update(db, token_hash("hrt_old")))["expired"] is True
    assert await repo.active_refresh_token(db, token_hash("hrt_old"), reuse_grace=0) is None
    row = await repo.refresh_token_for_update(db, token_hash("hrt_new"))
    assert row["user_status"] == "inactive"
    assert await repo.active_refresh_token(db, token_hash("hrt_new"), reuse_grace=0) is None


async def test_revoke_family_once_and_every_family_of_a_user(db):
    await _client(db)
    user_id, other_user = await _user(db), await _user(db)
    fams = [uuid.uuid4() for _ in range(3)]
    await repo.insert_family(db, fams[0], "app", user_id)
    await repo.insert_family(db, fams[1], "app", user_id)
    await repo.insert_family(db, fams[2], "app", other_user)
    await _refresh(db, fams[0], user_id)

    assert await repo.revoke_family(db, fams[0], "refresh token reuse") is True
    assert await repo.revoke_family(db, fams[0], "later reason") is False
    assert (await repo.refresh_token_for_update(db, token_hash("hrt_1")))[
        "family_revoked"
    ] is not None
    assert await repo.active_refresh_token(db, token_hash("hrt_1"), reuse_grace=0) is None
    reason = await db.fetchval(
        "SELECT revoked_reason FROM token_families WHERE family_id = $1", fams[0]
    )
    assert reason == "refresh token reuse"

    assert await repo.revoke_user_families(db, user_id, "user deactivated") == 1  # fams[1]
    live = await db.fetch("SELECT family_id FROM token_families WHERE revoked_at IS NULL")
    assert [r["family_id"] for r in live] == [fams[2]]


# ------------------------------------------------------------------------------ codes


async def _code(db, user_id, value="hac_1", *, ttl=60.0):
    await repo.insert_code(
        db,
        code_hash=token_hash(value),
        client_id="app",
        user_id=user_id,
        redirect_uri="https://app.example/cb",
        scope="openid",
        code_challenge="c" * 43,
        nonce="n-1",
        ttl=ttl,
    )


async def test_code_insert_lookup_and_consumed_once(db):
    await _client(db)
    user_id = await _user(db)
    await _code(db, user_id)
    h = token_hash("hac_1")
    async with db.transaction():
        row = await repo.code_for_update(db, h)
    assert (row["client_id"], row["user_id"], row["redirect_uri"]) == (
        "app",
        user_id,
        "https://app.example/cb",
    )
    assert (row["code_challenge"], row["nonce"], row["scope"]) == ("c" * 43, "n-1", "openid")
    assert row["expired"] is False and row["used_at"] is None and row["user_status"] == "active"
    assert isinstance(row["auth_epoch"], int)
    assert await repo.code_for_update(db, token_hash("hac_other")) is None

    family_id = uuid.uuid4()
    assert await repo.consume_code(db, h, family_id) is True
    assert await repo.consume_code(db, h, uuid.uuid4()) is False
    row = await repo.code_for_update(db, h)
    assert row["used_at"] is not None and row["family_id"] == family_id


async def test_expired_code_and_code_of_an_inactive_user(db):
    await _client(db)
    user_id = await _user(db)
    await _code(db, user_id, "hac_old", ttl=-1)
    assert (await repo.code_for_update(db, token_hash("hac_old")))["expired"] is True
    await db.execute("UPDATE users SET status = 'inactive' WHERE user_id = $1", user_id)
    assert (await repo.code_for_update(db, token_hash("hac_old")))["user_status"] == "inactive"


async def test_deleting_a_client_deletes_its_codes_tokens_and_families(db):
    await _client(db)
    user_id = await _user(db)
    family_id = uuid.uuid4()
    await repo.insert_family(db, family_id, "app", user_id)
    await _refresh(db, family_id, user_id)
    await _code(db, user_id)
    assert await repo.delete_client(db, "app") is True
    assert await repo.refresh_token_owner(db, token_hash("hrt_1")) is None
    assert await repo.code_for_update(db, token_hash("hac_1")) is None
