"""The audit repository against PostgreSQL: bulk rows, search filters and paging, the chain."""

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


async def test_search_filters_prefixes_and_pages_newest_first(db):
    for i in range(5):
        await repo.record(db, actor="user:a", action="flag.update", target=f"flag:f_{i}")
    await repo.record(db, actor="user:b", action="flag.create", target="flag:fx1")
    await repo.record(db, actor="user:a", action="config.set", target="config:prod/k")

    def seqs(rows):
        return [r["target"] for r in rows]

    rows, total = await repo.search(
        db, actor="user:a", action="flag.", target=None, since=None, until=None, limit=2, page=2
    )
    assert total == 5 and seqs(rows) == ["flag:f_2", "flag:f_1"]  # newest first
    # A target prefix is literal: "flag:f_" does not match "flag:fx1".
    rows, total = await repo.search(
        db, actor=None, action=None, target="flag:f_", since=None, until=None, limit=50, page=1
    )
    assert total == 5 and "flag:fx1" not in seqs(rows)
    last = rows[0]
    rows, total = await repo.search(
        db, actor=None, action=None, target=None, since=last["at"], until=None, limit=50, page=1
    )
    assert total >= 3 and all(r["at"] >= last["at"] for r in rows)
    rows, total = await repo.search(
        db, actor="nobody", action=None, target=None, since=None, until=None, limit=50, page=1
    )
    assert (rows, total) == ([], 0)
    assert len(last["hash"]) == 64  # sha256, hex
