"""Bulk audit rows (user imports) against PostgreSQL."""

from __future__ import annotations

from hearth_core.audit import repo


async def test_record_many_writes_one_row_per_entry(db):
    before = await repo.count(db)
    await repo.record_many(
        db,
        actor="importer",
        entries=[
            ("user.import.create", "user:1", {"row": 1}),
            ("user.import.update", "user:2", None),
        ],
        request_id="req",
    )
    await repo.record_many(db, actor="importer", entries=[], request_id=None)
    rows = await db.fetch(
        "SELECT actor, action, target, before, after, request_id FROM audit_log"
        " ORDER BY seq DESC LIMIT 2"
    )
    assert await repo.count(db) == before + 2
    assert [tuple(r) for r in reversed(rows)] == [
        ("importer", "user.import.create", "user:1", None, {"row": 1}, "req"),
        ("importer", "user.import.update", "user:2", None, None, "req"),
    ]
    assert await repo.chain(db)  # the rows joined the hash chain
    assert all(r["intact"] and r["linked"] for r in await repo.chain(db))
