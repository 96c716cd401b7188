"""The data-key repository against PostgreSQL."""

from __future__ import annotations

from hearth_core.security import keyring_repo as repo


async def test_keys_insert_rewrap_retire(db):
    # The template database was bootstrapped: one active data key and one blind-index key.
    assert await repo.has_active(db, "data") and await repo.has_active(db, "bidx")
    before = await repo.all_keys(db)
    assert sorted(r["purpose"] for r in before) == ["bidx", "data"]

    key_id = await repo.next_id(db)
    assert key_id > max(r["key_id"] for r in before)
    await repo.retire_data_keys(db)
    assert not await repo.has_active(db, "data") and await repo.has_active(db, "bidx")
    await repo.insert(db, key_id, "data", "m1", b"wrapped")
    await repo.rewrap(db, key_id, "m2", b"again")

    after = {r["key_id"]: r for r in await repo.all_keys(db)}
    assert list(after) == sorted(after)  # key_id order
    assert (after[key_id]["master_kid"], after[key_id]["wrapped"], after[key_id]["active"]) == (
        "m2",
        b"again",
        True,
    )
    old_data = next(r for r in before if r["purpose"] == "data")["key_id"]
    assert after[old_data]["active"] is False
    retired = await db.fetchval("SELECT rotated_at FROM data_keys WHERE key_id=$1", old_data)
    assert retired is not None


async def test_the_key_lock_lasts_until_the_transaction_ends(db):
    held = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
    async with db.transaction():
        await repo.lock(db)
        rows = await repo.lock_all(db)
        assert {r["key_id"] for r in rows} == {r["key_id"] for r in await repo.all_keys(db)}
        assert await db.fetchval(held) == 1
    assert await db.fetchval(held) == 0
