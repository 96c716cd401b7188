"""One audited write: the change, its audit row and its NOTIFY commit together or not at all.

    async with audited_write(pool, actor=actor, request_id=request_id) as w:
        row = await repo.update_thing(w.conn, …)
        await w.audit("thing.update", f"thing:{name}", before=old, after=new)
        await w.notify("thing", name=name)

Other workers hear the NOTIFY only when the transaction commits (PostgreSQL delivers it then),
so a cache is never refreshed from a change that was rolled back.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg

from hearth_core import events
from hearth_core.audit import repo as audit_repo


@dataclass(frozen=True)
class AuditedWrite:
    """The open transaction of one audited write, and who is making it."""

    conn: asyncpg.Connection
    actor: str
    request_id: str | None

    async def audit(
        self, action: str, target: str, *, before: Any = None, after: Any = None
    ) -> None:
        await audit_repo.record(
            self.conn,
            actor=self.actor,
            action=action,
            target=target,
            before=before,
            after=after,
            request_id=self.request_id,
        )

    async def notify(self, kind: str, **payload: Any) -> None:
        await events.notify(self.conn, kind, **payload)


@contextlib.asynccontextmanager
async def audited_write(
    db: asyncpg.Pool | asyncpg.Connection, *, actor: str, request_id: str | None
) -> AsyncIterator[AuditedWrite]:
    """A transaction on a pooled connection (or a savepoint on a given one) for one change."""
    if isinstance(db, asyncpg.Connection):
        async with db.transaction():
            yield AuditedWrite(db, actor, request_id)
        return
    async with db.acquire() as conn, conn.transaction():
        yield AuditedWrite(conn, actor, request_id)
