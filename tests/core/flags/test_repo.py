"""The flag repository against a real PostgreSQL: rows round-trip as Flags, archive and restore,
environment toggles, locks, and the revision log the stream replays from."""

from __future__ import annotations

import asyncpg
import pytest

from hearth_core.errors import NotFound
from hearth_core.flags import repo
from hearth_core.flags.model import EnvConfig, FlagSpec, Segment, SegmentSpec, Strategy


def _spec(name: str, **kw) -> FlagSpec:
    return FlagSpec(name=name, **kw)


async def test_insert_reads_back_and_archived_flags_leave_the_live_set(db):
    async with db.transaction():
        made = await repo.insert(
            db,
            _spec(
                "beta",
                environments={
                    "default": EnvConfig(
                        enabled=True,
                        strategies=[Strategy(name="userWithId", parameters={"userIds": "u1"})],
                    ),
                    "prod": EnvConfig(enabled=False),
                },
            ),
            "alice",
        )
        await repo.insert(db, _spec("alpha"), "bob")
    assert made.version == 1 and made.updated_by == "alice" and not made.archived
    got = await repo.get(db, "beta")
    assert got == made
    assert got.environments["default"].strategies[0].parameters == {"userIds": "u1"}
    assert got.environments["prod"].enabled is False
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
    on = {"default": EnvConfig(enabled=True)}
    async with db.transaction():
        await repo.insert(db, _spec("f", description="old", type="ops"), "a")
        await repo.set_archived(db, "f", True, "a")
        kept = await repo.replace(
            db, _spec("f", description="new", environments=on), "b", restore=False
        )
    assert kept.archived and kept.description == "new" and kept.environments == on
    assert kept.type == "release"
    async with db.transaction():
        back = await repo.replace(db, _spec("f", description="new"), "b", restore=True)
    assert not back.archived and back.version == 4 and back.environments == {}
    assert repo.same_spec(back, _spec("f", description="new"))
    assert not repo.same_spec(back, _spec("f", description="newer"))


async def test_set_enabled_in_one_environment_keeps_its_strategies(db):
    rollout = Strategy(name="flexibleRollout", parameters={"rollout": "5"})
    async with db.transaction():
        await repo.insert(
            db, _spec("g", environments={"prod": EnvConfig(strategies=[rollout])}), "a"
        )
        env = await repo.set_enabled(db, "g", True, "b", environment="prod")
        fresh = await repo.set_enabled(db, "g", True, "b", environment="staging")
    assert env.environments["prod"] == EnvConfig(enabled=True, strategies=[rollout])
    assert fresh.environments["staging"] == EnvConfig(enabled=True) and fresh.version == 3


async def test_segments_round_trip_and_know_who_uses_them(db):
    async with db.transaction():
        seg = await repo.insert_segment(db, SegmentSpec(name="eu"), "a")
        given = await repo.insert_segment(db, SegmentSpec(name="given"), "a", segment_id=50)
        after = await repo.insert_segment(db, SegmentSpec(name="after"), "a")
        uses = Strategy(name="default", segments=[seg.id])
        await repo.insert(db, _spec("u", environments={"x": EnvConfig(strategies=[uses])}), "a")
    assert isinstance(seg, Segment) and given.id == 50 and after.id == 51
    async with db.transaction():
        assert await repo.segment_users(db, seg.id) == ["u"]
        assert await repo.segment_users(db, 50) == []
        changed = await repo.update_segment(db, 50, SegmentSpec(name="renamed"), "b")
    assert changed.version == 2 and changed.name == "renamed"
    assert [s.id for s in await repo.segments(db)] == [seg.id, 50, 51]


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
