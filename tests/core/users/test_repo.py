"""The users repository against PostgreSQL: insert and read back, the list's filters, sorts
and pages, the bulk update guard, erasure and the re-encryption scan."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from hearth_core.errors import NotFound
from hearth_core.roles import repo as roles_repo
from hearth_core.security.crypto import FieldCipher, MasterKeyRing
from hearth_core.security.keyring import load_field_cipher
from hearth_core.users import repo
from hearth_core.users.pii import decrypt_row, encrypt_profile, prefix_probe
from tests.conftest import ADMIN_EMAIL, TEST_MASTER_KEY


@pytest.fixture
async def cipher(db: asyncpg.Connection) -> FieldCipher:
    return await load_field_cipher(db, MasterKeyRing.parse(TEST_MASTER_KEY))


def _new(
    cipher: FieldCipher,
    email: str,
    name: str | None = None,
    *,
    status: str = "active",
    attributes: dict | None = None,
) -> repo.NewUser:
    uid = uuid.uuid4()
    return repo.NewUser(
        uid, encrypt_profile(cipher, uid, email, name, attributes or {}), None, status
    )


async def test_insert_then_read_back(db, cipher):
    a = _new(cipher, "Ann@Example.test", "Ann Lee", attributes={"team": "ops"})
    b = _new(cipher, "bob@example.test", status="inactive")
    await repo.insert(db, [a, b])
    await roles_repo.grant_many(db, [(a.user_id, "admin")])

    ann = decrypt_row(cipher, await repo.get(db, a.user_id))
    assert (ann.email, ann.display_name, ann.attributes) == (
        "ann@example.test",
        "Ann Lee",
        {"team": "ops"},
    )
    assert ann.status == "active" and ann.roles == ["admin"] and ann.last_login is None
    bob = decrypt_row(cipher, await repo.get(db, b.user_id))
    assert bob.status == "inactive" and bob.roles == [] and bob.display_name is None
    assert await repo.status_of(db, b.user_id) == "inactive"
    assert await repo.get(db, uuid.uuid4()) is None
    assert await repo.status_of(db, uuid.uuid4()) is None

    login = await repo.find_login(db, cipher, " ANN@example.test")
    assert login is not None and login.user_id == a.user_id
    ident = await repo.get_identity(db, cipher, a.user_id)
    assert ident is not None and ident.email == "ann@example.test"
    assert "role.write" in await repo.granted_scopes(db, a.user_id)
    assert await repo.granted_scopes(db, b.user_id) == set()


async def test_a_taken_email_is_a_unique_violation(db, cipher):
    await repo.insert(db, [_new(cipher, "dup@example.test")])
    with pytest.raises(asyncpg.UniqueViolationError):
        await repo.insert(db, [_new(cipher, "DUP@example.test")])
    assert await repo.insert(db, []) is None  # nothing to write is not an error


async def test_the_bootstrap_admin_is_an_ordinary_user(db, cipher):
    login = await repo.find_login(db, cipher, ADMIN_EMAIL)
    assert login is not None and login.password_hash.startswith("$argon2id$")
    admin = decrypt_row(cipher, await repo.get(db, login.user_id))
    assert admin.display_name == "Administrator" and admin.roles == ["admin"]
    # Written by the same insert as every user, so its name is searchable too.
    rows, total = await repo.list_page(
        db,
        repo.Filters(name_prefix=prefix_probe(cipher, "admin")),
        sort="created_at",
        page=1,
        limit=5,
    )
    assert total == 1 and rows[0]["user_id"] == login.user_id


async def test_lock_needs_a_transaction_and_a_user(db, cipher):
    u = _new(cipher, "lock@example.test")
    await repo.insert(db, [u])
    with pytest.raises(RuntimeError):
        await repo.lock(db, u.user_id)
    async with db.transaction():
        row = await repo.lock(db, u.user_id)
        assert row["user_id"] == u.user_id and list(row["roles"]) == []
        with pytest.raises(NotFound):
            await repo.lock(db, uuid.uuid4())


async def _ids(db, f: repo.Filters, sort: str = "created_at", page: int = 1, limit: int = 50):
    rows, total = await repo.list_page(db, f, sort=sort, page=page, limit=limit)
    return [r["user_id"] for r in rows], total


async def test_list_filters_sorts_and_pages(db, cipher):
    await db.execute("DELETE FROM users")  # only this test's users
    base = datetime(2030, 1, 1, tzinfo=UTC)
    users = [
        _new(cipher, f"u{i}@example.test", name, status=status)
        for i, (name, status) in enumerate(
            [
                ("Grace Hopper", "active"),
                ("Greta Garbo", "inactive"),
                ("Alan Turing", "active"),
                ("Ada Lovelace", "active"),
                (None, "inactive"),
            ]
        )
    ]
    await repo.insert(db, users)
    for i, u in enumerate(users):
        await db.execute(
            "UPDATE users SET created_at=$2 WHERE user_id=$1", u.user_id, base + timedelta(days=i)
        )
    ids = [u.user_id for u in users]
    await roles_repo.grant_many(db, [(ids[1], "admin"), (ids[3], "admin")])

    assert await _ids(db, repo.Filters()) == (ids, 5)
    assert await _ids(db, repo.Filters(), sort="-created_at") == (ids[::-1], 5)
    assert await _ids(db, repo.Filters(status="inactive")) == ([ids[1], ids[4]], 2)
    assert await _ids(db, repo.Filters(role="admin")) == ([ids[1], ids[3]], 2)
    assert await _ids(db, repo.Filters(role="nobody")) == ([], 0)
    gr = prefix_probe(cipher, "GR")
    assert await _ids(db, repo.Filters(name_prefix=gr)) == ([ids[0], ids[1]], 2)
    assert await _ids(db, repo.Filters(name_prefix=gr, status="active")) == ([ids[0]], 1)
    bidx = cipher.blind_index("u2@example.test")
    assert await _ids(db, repo.Filters(email_bidx=bidx)) == ([ids[2]], 1)
    window = repo.Filters(
        created_after=base + timedelta(days=1), created_before=base + timedelta(days=3)
    )
    assert await _ids(db, window) == ([ids[1], ids[2]], 2)  # from inclusive, to exclusive

    # Pages: the total counts every match, each page holds its slice, past the end is empty.
    assert await _ids(db, repo.Filters(), page=1, limit=2) == (ids[:2], 5)
    assert await _ids(db, repo.Filters(), page=3, limit=2) == (ids[4:], 5)
    assert await _ids(db, repo.Filters(), page=4, limit=2) == ([], 5)
    # status sorts ties by user_id; active before inactive.
    by_status, _ = await _ids(db, repo.Filters(), sort="status")
    assert by_status == sorted(ids[i] for i in (0, 2, 3)) + sorted(ids[i] for i in (1, 4))


async def test_update_rewrites_and_keeps_the_password_unless_given(db, cipher):
    uid = uuid.uuid4()
    u = repo.NewUser(uid, encrypt_profile(cipher, uid, "x@example.test", None, {}), "old")
    await repo.insert(db, [u])
    enc = encrypt_profile(cipher, u.user_id, "y@example.test", "Why", {"a": 1})
    await repo.update(db, u.user_id, enc, status="inactive", password_hash=None)
    got = decrypt_row(cipher, await repo.get(db, u.user_id))
    assert (got.email, got.display_name, got.attributes, got.status) == (
        "y@example.test",
        "Why",
        {"a": 1},
        "inactive",
    )
    assert (await repo.find_login(db, cipher, "y@example.test")).password_hash == "old"
    await repo.update(db, u.user_id, enc, status="active", password_hash="new")
    assert (await repo.find_login(db, cipher, "y@example.test")).password_hash == "new"

    other = _new(cipher, "z@example.test")
    await repo.insert(db, [other])
    with pytest.raises(asyncpg.UniqueViolationError):
        await repo.update(db, other.user_id, enc, status="active", password_hash=None)


async def test_update_matching_leaves_a_user_whose_email_changed(db, cipher):
    a, b = _new(cipher, "a@example.test"), _new(cipher, "b@example.test")
    await repo.insert(db, [a, b])
    assert await repo.ids_by_email(
        db, [cipher.blind_index("a@example.test"), cipher.blind_index("nobody@example.test")]
    ) == {cipher.blind_index("a@example.test"): a.user_id}
    # b changed its email after the importer matched it.
    await repo.update(
        db,
        b.user_id,
        encrypt_profile(cipher, b.user_id, "b2@example.test", None, {}),
        status="active",
        password_hash=None,
    )
    renamed = [
        repo.NewUser(x.user_id, encrypt_profile(cipher, x.user_id, e, "New", {}), "h", "inactive")
        for x, e in ((a, "a@example.test"), (b, "b@example.test"))
    ]
    await repo.update_matching(db, renamed)
    got_a = decrypt_row(cipher, await repo.get(db, a.user_id))
    got_b = decrypt_row(cipher, await repo.get(db, b.user_id))
    assert (got_a.display_name, got_a.status) == ("New", "inactive")
    assert (got_b.email, got_b.display_name, got_b.status) == ("b2@example.test", None, "active")


async def test_deactivate_erase_and_the_reencryption_scan(db, cipher):
    before = await repo.count_encrypted(db)
    a, b = _new(cipher, "a@example.test", "A"), _new(cipher, "b@example.test", "B")
    await repo.insert(db, [a, b])
    assert await repo.count_encrypted(db) == before + 2
    await repo.deactivate(db, a.user_id)
    assert await repo.status_of(db, a.user_id) == "inactive"
    await repo.erase(db, b.user_id)
    row = await repo.get(db, b.user_id)
    assert row["status"] == "erased" and row["email_enc"] is None and row["email_bidx"] is None
    assert row["display_name_enc"] is None and list(row["name_prefixes"]) == []
    assert await repo.count_encrypted(db) == before + 1

    seen: list[uuid.UUID] = []
    last = uuid.UUID(int=0)
    while rows := await repo.encrypted_after(db, last, 1):
        assert len(rows) == 1 and rows[0]["user_id"] > last
        last = rows[0]["user_id"]
        seen.append(last)
    assert a.user_id in seen and b.user_id not in seen and len(seen) == before + 1

    fresh = encrypt_profile(cipher, a.user_id, "a@example.test", "A again", {"v": 2})
    await repo.rewrite_ciphertexts(db, a.user_id, fresh)
    got = decrypt_row(cipher, await repo.get(db, a.user_id))
    assert (got.display_name, got.attributes) == ("A again", {"v": 2})
