"""The flag repository against a real PostgreSQL: rows round-trip as Flags, archive and restore,
environment toggles, locks, and the revision log the stream replays from."""

from __future__ import annotations

import asyncpg
import pytest

from hearth_core.errors import NotFound
from hearth_core.flags import repo
from hearth_core.flags.model import EnvState, FlagSpec, Targeting


def _spec(name: str, **kw) -> FlagSpec:
    return FlagSpec(name=name, **kw)


async def test_insert_reads_back_and_archived_flags_leave_the_live_set(db):
    async with db.transaction():
        made = await repo.insert(
            db,
            _spec(
                "beta",
                enabled=True,
                rollout_pct=30,
                targeting=Targeting(user_ids=["u1"]),
                environments={"prod": EnvState(enabled=False)},
            ),
            "alice",
        )
        await repo.insert(db, _spec("alpha"), "bob")
    assert made.version == 1 and made.updated_by == "alice" and not made.archived
    got = await repo.get(db, "beta")
    assert got == made
    assert got.targeting.user_ids == ["u1"] and got.environments["prod"].enabled is False
    assert await repo.get(db, "nope") is None
    assert await repo.exists(db, "alpha") and not await repo.exists(db, "nope")

    async with db.transaction():
        archived = await repo.set_archived(db, "alpha", True, "carol")
    assert archived.archived and archived.version == 2 and archived.updated_by == "carol"
    assert [f.name for f in await repo.live(db)] == ["beta"]
    assert [f.name for f in await repo.every(db)] == ["alpha", "beta"]
    assert {f.name for f in await repo.named(db, ["alpha", "zeta"])} == {"alpha"}
    async with db.transaction():
        restored = await repo.set_archived(db, "alpha", False, "carol")
    assert not restored.archived and restored.version == 3


async def test_a_taken_name_is_refused_even_when_archived(db):
    async with db.transaction():
        await repo.insert(db, _spec("dup"), "a")
        await repo.set_archived(db, "dup", True, "a")
    with pytest.raises(asyncpg.UniqueViolationError):
        async with db.transaction():
            await repo.insert(db, _spec("dup"), "a")


async def test_replace_writes_every_column_and_restores_only_when_asked(db):
    async with db.transaction():
        await repo.insert(db, _spec("f", description="old", rollout_pct=10), "a")
        await repo.set_archived(db, "f", True, "a")
        kept = await repo.replace(
            db, _spec("f", description="new", enabled=True), "b", restore=False
        )
    assert kept.archived and kept.description == "new" and kept.enabled and kept.rollout_pct == 100
    async with db.transaction():
        back = await repo.replace(db, _spec("f", description="new"), "b", restore=True)
    assert not back.archived and back.version == 4 and not back.enabled
    assert repo.same_spec(back, _spec("f", description="new"))
    assert not repo.same_spec(back, _spec("f", description="newer"))


async def test_set_enabled_globally_or_in_one_environment(db):
    async with db.transaction():
        await repo.insert(db, _spec("g", environments={"prod": EnvState(rollout_pct=5)}), "a")
        on = await repo.set_enabled(db, "g", True, "b", environment=None)
    assert on.enabled and on.environments["prod"] == EnvState(rollout_pct=5)
    async with db.transaction():
        env = await repo.set_enabled(db, "g", False, "b", environment="prod")
        fresh = await repo.set_enabled(db, "g", True, "b", environment="staging")
    # The other fields of that environment's state survive the toggle.
    assert env.enabled and env.environments["prod"] == EnvState(enabled=False, rollout_pct=5)
    assert fresh.environments["staging"] == EnvState(enabled=True) and fresh.version == 4


async def test_locks_need_a_transaction_and_name_what_is_missing(db):
    async with db.transaction():
        await repo.insert(db, _spec("l1"), "a")
        await repo.insert(db, _spec("l2"), "a")
        await repo.set_archived(db, "l2", True, "a")
    with pytest.raises(RuntimeError):
        await repo.lock(db, "l1")
    async with db.transaction():
        assert (await repo.lock(db, "l1")).name == "l1"
        with pytest.raises(NotFound, match="no flag 'zz'"):
            await repo.lock(db, "zz")
    async with db.transaction():
        await repo.lock_writes(db)
        assert [f.name for f in await repo.lock_live(db)] == ["l1"]
        assert sorted(f.name for f in await repo.lock_named(db, ["l1", "l2", "l3"])) == ["l1", "l2"]


async def test_revisions_page_newest_first_and_replay_oldest_first(db):
    assert await repo.latest_revision(db) == 0
    revs = []
    async with db.transaction():
        for i in range(5):
            name = "a" if i % 2 == 0 else "b"
            revs.append(
                await repo.add_revision(
                    db, name, "update", {"i": i - 1}, {"i": i}, actor="x", request_id=f"r{i}"
                )
            )
    assert revs == sorted(revs) and await repo.latest_revision(db) == revs[-1]
    rows, total = await repo.revisions(db, "a", page=1, limit=2)
    assert total == 3
    assert [r["revision"] for r in rows] == [revs[4], revs[2]]
    assert rows[0]["after"] == {"i": 4} and rows[0]["request_id"] == "r4"
    rows, _ = await repo.revisions(db, "a", page=2, limit=2)
    assert [r["revision"] for r in rows] == [revs[0]]
    assert (await repo.revisions(db, "none", page=1, limit=10)) == ([], 0)
    since = await repo.revisions_since(db, revs[1])
    assert [(r["revision"], r["flag_name"]) for r in since] == [
        (revs[2], "a"),
        (revs[3], "b"),
        (revs[4], "a"),
    ]
