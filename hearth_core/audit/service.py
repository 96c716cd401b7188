"""Reading the audit log: its search and the verification of its hash chain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from hearth_core.audit import repo
from hearth_core.db.paging import Page


class AuditEntry(msgspec.Struct, kw_only=True):
    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    before: Any
    after: Any
    request_id: str | None
    hash: str


async def verify(conn: asyncpg.Connection) -> list[str]:
    """Walk the chain; return every break found (empty: intact).

    A changed row no longer hashes to its stored hash; a deleted row leaves a gap in ``seq``
    and a ``prev_hash`` that is not its predecessor's hash.
    """
    problems = []
    for r in await repo.chain(conn):
        if r["step"] != 1:
            problems.append(f"rows missing before seq {r['seq']} (id {r['id']})")
        if not r["intact"]:
            problems.append(f"row seq {r['seq']} (id {r['id']}) was changed")
        elif not r["linked"]:
            problems.append(f"row seq {r['seq']} (id {r['id']}) does not follow its predecessor")
    return problems


async def search(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    actor: str | None,
    action: str | None,
    target: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    page: int,
) -> Page[AuditEntry]:
    rows, total = await repo.search(
        conn,
        actor=actor,
        action=action,
        target=target,
        since=since,
        until=until,
        limit=limit,
        page=page,
    )
    return Page(items=[AuditEntry(**dict(r)) for r in rows], page=page, limit=limit, total=total)
