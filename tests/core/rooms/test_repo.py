"""The room repository against a real PostgreSQL: the computed participant count, seats,
listing (filter, sort, pages), the row lock and the end of a room."""

from __future__ import annotations

import uuid

import pytest

from hearth_core.errors import NotFound
from hearth_core.rooms import repo


async def _room(db, name: str, **kw) -> uuid.UUID:
    async with db.transaction():
        return await repo.insert(
            db,
            name=name,
            settings=kw.get("settings", {}),
            scheduled_for=kw.get("scheduled_for"),
            created_by=kw.get("created_by", "host"),
        )


async def test_seats_are_counted_and_a_returning_user_takes_their_seat_again(db):
    rid = await _room(db, "Standup", settings={"max_participants": 3, "theme": "dark"})
    room = await repo.get(db, rid)
    assert room.name == "Standup" and room.status == "scheduled" and room.participants == 0
    assert room.settings == {"max_participants": 3, "theme": "dark"}
    async with db.transaction():
        await repo.seat(db, rid, "ann", "moderator")
        await repo.seat(db, rid, "ben", "participant")
        await repo.start(db, rid)
    room = await repo.get(db, rid)
    assert room.participants == 2 and room.status == "active" and room.started_at is not None
    assert await repo.is_present(db, rid, "ann") and not await repo.is_present(db, rid, "cid")
    async with db.transaction():
        assert await repo.unseat(db, rid, "ann")
        assert not await repo.unseat(db, rid, "ann")  # already out
        assert not await repo.unseat(db, rid, "cid")  # never in
    assert (await repo.get(db, rid)).participants == 1
    assert [p.user_id for p in await repo.participants(db, rid, include_left=False)] == ["ben"]
    everyone = await repo.participants(db, rid, include_left=True)
    assert [(p.user_id, p.left_at is not None) for p in everyone] == [
        ("ann", True),
        ("ben", False),
    ]
    async with db.transaction():
        await repo.seat(db, rid, "ann", "viewer")
    back = {p.user_id: p for p in await repo.participants(db, rid, include_left=True)}
    assert back["ann"].left_at is None and back["ann"].role == "viewer"
    assert (await repo.get(db, rid)).participants == 2


async def test_find_filters_sorts_and_pages(db):
    ids = {n: await _room(db, n) for n in ["delta", "alpha", "charlie", "bravo"]}
    async with db.transaction():
        await repo.end(db, ids["delta"])
    items, total = await repo.find(db, status=None, sort="name", page=2, limit=2)
    assert [r.name for r in items] == ["charlie", "delta"] and total == 4
    items, total = await repo.find(db, status="ended", sort="name", page=1, limit=10)
    assert [r.name for r in items] == ["delta"] and total == 1
    items, _ = await repo.find(db, status=None, sort="-created_at", page=1, limit=10)
    assert [r.id for r in items] == list(ids.values())[::-1]
    items, _ = await repo.find(db, status=None, sort="-name", page=1, limit=1)
    assert [r.name for r in items] == ["delta"]
    assert await repo.find(db, status="active", sort="name", page=1, limit=5) == ([], 0)


async def test_lock_update_end_and_delete(db):
    rid = await _room(db, "Retro")
    with pytest.raises(NotFound, match="no room"):
        async with db.transaction():
            await repo.lock(db, uuid.uuid4())
    async with db.transaction():
        locked = await repo.lock(db, rid)
        assert locked.id == rid
        await repo.update(db, rid, name="Retro 2", settings={"locked": True}, scheduled_for=None)
        await repo.seat(db, rid, "ann", "participant")
        await repo.seat(db, rid, "ben", "participant")
    room = await repo.get(db, rid)
    assert room.name == "Retro 2" and room.settings == {"locked": True}
    assert await db.fetchval("SELECT version FROM rooms WHERE id=$1", rid) == 2
    async with db.transaction():
        await repo.end(db, rid)
    ended = await repo.get(db, rid)
    assert ended.status == "ended" and ended.ended_at is not None and ended.participants == 0
    assert all(p.left_at for p in await repo.participants(db, rid, include_left=True))
    async with db.transaction():
        await repo.delete(db, rid)
    assert await repo.get(db, rid) is None
    assert await repo.participants(db, rid, include_left=True) == []
