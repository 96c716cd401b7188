"""Master-key rotation: re-wrap, new data key, old rows readable, re-encryption."""

from __future__ import annotations

import base64
import subprocess
import sys
import uuid

import pytest

from hearth_core.security.crypto import CryptoError, MasterKeyRing
from hearth_core.security.keyring import load_field_cipher, rotate_data_keys
from hearth_core.users import repo as users_repo
from hearth_core.users.pii import decrypt_row, encrypt_profile
from hearth_core.users.service import reencrypt_all
from tests.conftest import TEST_MASTER_KEY

NEW_MASTER = "new:" + base64.b64encode(b"n" * 32).decode()


async def _insert(db, cipher, email: str) -> uuid.UUID:
    uid = uuid.uuid4()
    enc = encrypt_profile(cipher, uid, email, "Name " + email, {"k": email})
    await users_repo.insert(db, [users_repo.NewUser(uid, enc, None)])
    return uid


async def _read(db, cipher, uid):
    row = await db.fetchrow("SELECT u.*, '{}'::text[] AS roles FROM users u WHERE user_id=$1", uid)
    return decrypt_row(cipher, row)


async def test_rotation_keeps_old_rows_readable_and_drops_the_old_master(db):
    old_ring = MasterKeyRing.parse(TEST_MASTER_KEY)
    cipher = await load_field_cipher(db, old_ring)
    old_user = await _insert(db, cipher, "before@example.test")

    both = MasterKeyRing.parse(f"{NEW_MASTER},{TEST_MASTER_KEY}")
    rewrapped, new_id = await rotate_data_keys(db, both, actor="test")
    assert rewrapped >= 2 and new_id != cipher.active_id

    # Only the new master key is needed from now on.
    only_new = MasterKeyRing.parse(NEW_MASTER)
    rotated = await load_field_cipher(db, only_new)
    assert rotated.active_id == new_id
    assert (await _read(db, rotated, old_user)).email == "before@example.test"
    new_user = await _insert(db, rotated, "after@example.test")
    new_row = await db.fetchrow("SELECT email_enc FROM users WHERE user_id=$1", new_user)
    assert rotated.key_id_of(new_row["email_enc"]) == new_id
    # Blind index unchanged: lookups by email still find the old row.
    assert rotated.blind_index("before@example.test") == cipher.blind_index("before@example.test")
    with pytest.raises(CryptoError):
        await load_field_cipher(db, old_ring)  # the old master no longer unwraps anything

    rewritten = await reencrypt_all(db, rotated)
    assert rewritten >= 1
    row = await db.fetchrow("SELECT email_enc FROM users WHERE user_id=$1", old_user)
    assert rotated.key_id_of(row["email_enc"]) == new_id
    assert (await _read(db, rotated, old_user)).attributes == {"k": "before@example.test"}
    assert await reencrypt_all(db, rotated) == 0


def test_cli_rotate_data_and_import(settings, hearth_env, tmp_path):
    env = {
        **hearth_env,
        "HEARTH_DATABASE_URL": settings.database_url,
        "HEARTH_REDIS_URL": settings.redis_url,
    }
    csv = tmp_path / "people.csv"
    csv.write_text(
        "email,display_name\n" + "".join(f"p{i}@example.test,P {i}\n" for i in range(2500))
    )
    out = subprocess.run(
        [sys.executable, "-m", "api.cli", "users", "import", str(csv)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "created 2500, updated 0, skipped 0, errors 0 (committed)" in out.stdout
    assert "importing people.csv" in out.stderr  # the progress bar
    bad = tmp_path / "bad.yaml"
    bad.write_text("- email: nope\n")
    out = subprocess.run(
        [sys.executable, "-m", "api.cli", "users", "import", str(bad)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 1 and "row 1: email" in out.stderr
    env["HEARTH_MASTER_KEY"] = f"{NEW_MASTER},{TEST_MASTER_KEY}"
    out = subprocess.run(
        [sys.executable, "-m", "api.cli", "keys", "rotate-data", "--reencrypt"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "re-encrypted" in out.stdout and "new data key" in out.stdout
