"""Client management and key rotation: the change, its audit row and its NOTIFY together."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import orjson
import pytest

from hearth_core.errors import Conflict, InvalidInput, NotFound
from hearth_core.events import CHANNEL
from hearth_core.identity import clients, repo, signing
from hearth_core.security.crypto import MasterKeyRing
from hearth_core.security.keyring import load_field_cipher


@pytest.fixture
async def cipher(db, settings):
    return await load_field_cipher(db, MasterKeyRing.from_settings(settings))


@pytest.fixture
async def notices(db):
    got: list[dict] = []
    await db.add_listener(CHANNEL, lambda *args: got.append(orjson.loads(args[3])))
    return got


async def _audit(db, target):
    return await db.fetch(
        "SELECT actor, action, before, after, request_id FROM audit_log WHERE target = $1"
        " ORDER BY id",
        target,
    )


SPEC = {
    "name": "Svc",
    "grants": ["client_credentials"],
    "scopes": ["flag.read"],
    "redirect_uris": [],
}


async def test_create_update_rotate_delete_are_audited_and_announced(db, cipher, notices):
    client, secret = await clients.create(db, cipher, **SPEC, actor="tester", request_id="r1")
    assert secret is not None and clients.verify_secret(cipher, client, secret)
    cid = client.client_id
    updated = await clients.update(
        db, cid, **{**SPEC, "name": "Svc 2", "scopes": ["flag.write", "flag.read"]}, actor="tester"
    )
    assert updated.scopes == ("flag.read", "flag.write")
    new_secret = await clients.rotate_secret(db, cipher, cid, actor="tester")
    rotated = await clients.get(db, cid)
    assert clients.verify_secret(cipher, rotated, new_secret)
    assert not clients.verify_secret(cipher, rotated, secret)
    await clients.delete(db, cid, actor="tester", revoke_for_seconds=60)
    with pytest.raises(NotFound):
        await clients.get(db, cid)

    rows = await _audit(db, f"client:{cid}")
    assert [r["action"] for r in rows] == [
        "client.create",
        "client.update",
        "client.rotate_secret",
        "client.delete",
    ]
    assert rows[0]["request_id"] == "r1" and rows[0]["actor"] == "tester"
    assert rows[1]["before"]["name"] == "Svc" and rows[1]["after"]["name"] == "Svc 2"
    logged = orjson.dumps([dict(r) for r in rows], default=str).decode()
    assert secret not in logged and new_secret not in logged and "secret_hash" not in logged
    assert ("cid", cid) in {(r["kind"], r["value"]) for r in await repo.live_revocations(db)}
    await asyncio.sleep(0.1)
    assert [n["kind"] for n in notices] == ["client"] * 4 + ["revocation"]
    assert all(n["client_id"] == cid for n in notices[:4])


async def test_refused_changes_leave_nothing_behind(db, cipher, notices):
    public, secret = await clients.create(
        db,
        cipher,
        name="SPA",
        grants=["authorization_code"],
        scopes=[],
        redirect_uris=["https://spa.example/cb"],
        confidential=False,
        actor="tester",
    )
    assert secret is None
    with pytest.raises(Conflict):
        await clients.rotate_secret(db, cipher, public.client_id, actor="tester")
    with pytest.raises(Conflict):
        await clients.create(db, cipher, **SPEC, client_id=public.client_id, actor="tester")
    with pytest.raises(InvalidInput):
        await clients.update(db, public.client_id, **SPEC, actor="tester")  # public + cc
    with pytest.raises(NotFound):
        await clients.delete(db, "nobody", actor="tester", revoke_for_seconds=60)
    rows = await _audit(db, f"client:{public.client_id}")
    assert [r["action"] for r in rows] == ["client.create"]
    assert await _audit(db, "client:nobody") == []
    await asyncio.sleep(0.1)
    assert len(notices) == 1


async def test_key_rotation_retires_the_signer_and_is_audited(db, cipher, notices):
    before = await signing.load(db, cipher)
    kid = await signing.rotate(db, cipher, keep_for=timedelta(minutes=5), actor="tester")
    after = await signing.load(db, cipher)
    assert after.signer.kid == kid != before.signer.kid
    assert before.signer.kid in after.by_kid  # still verifies tokens it signed
    (row,) = await _audit(db, f"signing_key:{kid}")
    assert row["action"] == "signing_key.rotate"
    assert row["before"] == {"active": [before.signer.kid]} and row["after"] == {"active": [kid]}
    await asyncio.sleep(0.1)
    assert [n["kind"] for n in notices] == ["keys"]
