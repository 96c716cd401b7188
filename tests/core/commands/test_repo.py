"""The command repository against a real PostgreSQL: template versions and search, the command
list's filters and pages, the log, and the queue's lease rules."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from hearth_core.commands import repo
from hearth_core.commands.model import Filters, Log
from hearth_core.errors import NotFound

STEPS = [{"action": "log", "message": "one"}, {"action": "wait", "seconds": 1}]


async def _template(db, name: str, version: int = 1, description: str = "", steps=STEPS) -> None:
    async with db.transaction():
        await repo.insert_template(
            db,
            name=name,
            version=version,
            description=description,
            parameters={"type": "object"},
            steps=steps,
            digest=f"{name}-{version}",
            created_by="alice",
        )


async def _command(db, template: str = "deploy", version: int = 1, by: str = "alice") -> uuid.UUID:
    cid = uuid.uuid4()
    async with db.transaction():
        await repo.insert(
            db, cid, template=template, version=version, parameters={"n": 1}, triggered_by=by
        )
    return cid


async def test_template_versions_and_latest(db):
    assert await repo.template(db, "deploy", None) is None
    await _template(db, "deploy", 1)
    await _template(db, "deploy", 2, steps=[{"action": "log", "message": "v2"}])
    latest = await repo.template(db, "deploy", None)
    assert latest.version == 2 and latest.steps == [Log(message="v2")]
    first = await repo.template(db, "deploy", 1)
    assert first.version == 1 and len(first.steps) == 2 and first.created_by == "alice"
    assert await repo.template(db, "deploy", 3) is None
    async with db.transaction():
        await repo.lock_template_name(db, "deploy")
        assert await repo.latest_digest(db, "deploy") == (2, "deploy-2")
        assert await repo.latest_digest(db, "other") is None
    assert await repo.template_steps(db, "deploy", 1) == STEPS


async def test_template_search_is_literal_and_pages(db):
    await _template(db, "deploy_web", 1, description="Ship the web tier")
    await _template(db, "deploy_web", 2, description="Ship the web tier, safer")
    await _template(db, "deployXweb", 1, description="100% rollout")
    await _template(db, "restart", 1, description="restart a service")
    items, total = await repo.find_templates(
        db, q="deploy_", name=None, all_versions=False, page=1, limit=10
    )
    # "_" is a literal underscore, not LIKE's any-character.
    assert [(t.name, t.version) for t in items] == [("deploy_web", 2)] and total == 1
    items, _ = await repo.find_templates(db, q="%", name=None, all_versions=False, page=1, limit=10)
    assert [t.name for t in items] == ["deployXweb"]
    items, _ = await repo.find_templates(
        db, q="SHIP", name=None, all_versions=True, page=1, limit=10
    )
    assert [(t.name, t.version) for t in items] == [("deploy_web", 2), ("deploy_web", 1)]
    every, total = await repo.find_templates(
        db, q=None, name=None, all_versions=True, page=1, limit=10
    )
    assert total == 4 and len(every) == 4  # by name (the database's collation), newest first
    at = [(t.name, t.version) for t in every].index(("deploy_web", 2))
    assert (every[at + 1].name, every[at + 1].version) == ("deploy_web", 1)
    items, total = await repo.find_templates(
        db, q=None, name=None, all_versions=True, page=2, limit=2
    )
    assert items == every[2:] and total == 4
    items, total = await repo.find_templates(
        db, q=None, name="deploy_web", all_versions=False, page=1, limit=10
    )
    assert [(t.name, t.version) for t in items] == [("deploy_web", 2)] and total == 1


async def test_commands_filter_page_and_export(db):
    await _template(db, "deploy")
    await _template(db, "restart", steps=[{"action": "log", "message": "x"}])
    a = await _command(db, "deploy", by="alice")
    b = await _command(db, "restart", by="bob")
    c = await _command(db, "deploy", by="bob")
    async with db.transaction():
        await repo.cancel_pending(db, b)
    got = await repo.get(db, a)
    assert got.id == str(a) and got.template == "deploy" and got.steps_total == 2
    assert got.status == "pending" and got.parameters == {"n": 1} and got.lease_owner is None
    assert await repo.get(db, uuid.uuid4()) is None

    items, total = await repo.find(db, Filters(), page=1, limit=2)
    assert [i.id for i in items] == [str(c), str(b)] and total == 3  # newest first
    items, _ = await repo.find(db, Filters(), page=2, limit=2)
    assert [i.id for i in items] == [str(a)]
    items, total = await repo.find(db, Filters(status=["cancelled"]), page=1, limit=10)
    assert [i.id for i in items] == [str(b)] and total == 1
    items, total = await repo.find(
        db, Filters(template="deploy", triggered_by="bob"), page=1, limit=10
    )
    assert [i.id for i in items] == [str(c)] and total == 1
    later = datetime.now(UTC) + timedelta(hours=1)
    assert await repo.find(db, Filters(created_after=later), page=1, limit=10) == ([], 0)
    assert len((await repo.find(db, Filters(created_before=later), page=1, limit=10))[0]) == 3
    assert [i.id for i in await repo.every(db, Filters())] == [str(a), str(b), str(c)]
    assert [i.id for i in await repo.every(db, Filters(status=["pending"]))] == [str(a), str(c)]


async def test_edits_lock_and_log(db):
    await _template(db, "deploy")
    await _template(db, "deploy", 2)
    cid = await _command(db)
    with pytest.raises(NotFound, match="no command"):
        async with db.transaction():
            await repo.lock(db, uuid.uuid4())
    async with db.transaction():
        row = await repo.lock(db, cid)
        assert row["status"] == "pending" and row["queued_at"] is None
        after = await repo.set_parameters(db, cid, {"n": 2}, 2)
        assert after["parameters"] == {"n": 2} and after["template_version"] == 2
        await repo.mark_queued(db, cid)
        await repo.request_cancel(db, cid)
    got = await repo.get(db, cid)
    assert got.queued_at is not None and got.cancel_requested and got.status == "pending"

    async with db.transaction():
        await repo.append_log(db, cid, "first")
        await repo.append_log(db, cid, "x" * 20_000, "error")
        await repo.append_log(db, cid, "third", "warning")
    lines = await repo.log_lines(db, cid, after=0, limit=10)
    assert [(ln.level, len(ln.line)) for ln in lines] == [
        ("info", 5),
        ("error", repo.LOG_LINE_CHARS),
        ("warning", 5),
    ]
    rest = await repo.log_lines(db, cid, after=lines[0].seq, limit=1)
    assert [ln.line for ln in rest] == ["x" * repo.LOG_LINE_CHARS]


async def _queued(db) -> uuid.UUID:
    cid = await _command(db)
    async with db.transaction():
        await repo.mark_queued(db, cid)
    return cid


async def test_the_queue_hands_out_the_oldest_and_only_the_lease_holder_may_write(db):
    await _template(db, "deploy")
    await _command(db)  # never queued: not claimable
    first, second = await _queued(db), await _queued(db)
    async with db.transaction():
        row = await repo.lock_next_claimable(db)
        assert row["id"] == first
        taken = await repo.take(db, first, "w1", 30.0)
    assert taken["status"] == "running" and taken["lease_owner"] == "w1"
    assert taken["attempts"] == 1 and taken["started_at"] is not None
    assert taken["lease_until"] > datetime.now(UTC) + timedelta(seconds=20)
    async with db.transaction():
        assert (await repo.lock_next_claimable(db))["id"] == second  # first's lease holds

    assert await repo.renew(db, first, "w1", 30.0) is False
    assert await repo.renew(db, first, "w2", 30.0) is None
    assert await repo.advance(db, first, "w1", 1) is False
    assert await repo.advance(db, first, "w2", 2) is None
    assert (await repo.get(db, first)).current_step == 1
    async with db.transaction():
        await repo.request_cancel(db, first)
    assert await repo.cancel_requested(db, first, "w1") is True
    assert await repo.cancel_requested(db, first, "w2") is None
    async with db.transaction():
        assert await repo.finish(db, first, "w2", "succeeded", None) is None
        assert await repo.finish(db, first, "w1", "cancelled", None) == 1
    done = await repo.get(db, first)
    assert done.status == "cancelled" and done.lease_owner is None and done.finished_at
    async with db.transaction():
        assert await repo.finish(db, first, "w1", "failed", "late") is None  # no longer running


async def test_an_expired_or_released_lease_makes_the_command_claimable_again(db):
    await _template(db, "deploy")
    cid = await _queued(db)
    async with db.transaction():
        await repo.take(db, cid, "w1", 30.0)
    async with db.transaction():
        assert await repo.lock_next_claimable(db) is None
    async with db.transaction():
        assert not await repo.release(db, cid, "w2")
        assert await repo.release(db, cid, "w1")
    got = await repo.get(db, cid)
    assert got.status == "running" and got.lease_owner is None and got.attempts == 0
    async with db.transaction():
        assert (await repo.lock_next_claimable(db))["id"] == cid
        again = await repo.take(db, cid, "w2", 30.0)
        assert again["attempts"] == 1
    await db.execute(
        "UPDATE commands SET lease_until = now() - interval '1 second' WHERE id=$1", cid
    )
    async with db.transaction():
        row = await repo.lock_next_claimable(db)
        assert row["id"] == cid and row["lease_owner"] == "w2"
        await repo.abandon(db, cid, "failed", "worker died 1 times")
    gone = await repo.get(db, cid)
    assert gone.status == "failed" and gone.error == "worker died 1 times"
    assert gone.lease_owner is None and gone.lease_until is None
    async with db.transaction():
        assert await repo.lock_next_claimable(db) is None
