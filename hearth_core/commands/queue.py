"""The worker side of commands: the ``commands`` table as a queue with leases.

A worker claims the oldest queued command under a ``LEASE_SECONDS`` lease and renews it while
it runs; a command whose worker died (lease ran out) is taken over at its current step, and
after ``MAX_ATTEMPTS`` such takeovers it is failed. Every write is conditional on still holding
the lease, so a worker that lost it changes nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from hearth_core import events
from hearth_core.commands import repo
from hearth_core.commands.journal import announce
from hearth_core.commands.model import Command
from hearth_core.db.audited import AuditedWrite, audited_write

LEASE_SECONDS = 30
MAX_ATTEMPTS = 3
_FINISH = {
    "succeeded": ("succeed", "info"),
    "failed": ("fail", "error"),
    "cancelled": ("cancel", "warning"),
}


class CommandQueue:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def claim(self, owner: str) -> tuple[Command, list[Any]] | None:
        """Take the oldest queued command that is pending or whose worker's lease expired, with
        its template's raw steps. One that has been taken up ``MAX_ATTEMPTS`` times already (or
        whose cancel was asked) is ended instead, and the next one tried."""
        while True:
            async with audited_write(self.pool, actor=f"worker:{owner}", request_id=None) as w:
                row = await repo.lock_next_claimable(w.conn)
                if row is None:
                    return None
                if row["status"] == "running" and (
                    row["cancel_requested"] or row["attempts"] >= MAX_ATTEMPTS
                ):
                    await _end_abandoned(w, row)
                    continue
                return await _take(w, row, owner)

    async def renew(self, cid: uuid.UUID, owner: str) -> bool | None:
        """Extend the lease; None when it is no longer ours, else whether cancel was asked."""
        return await repo.renew(self.pool, cid, owner, float(LEASE_SECONDS))

    async def cancel_requested(self, cid: uuid.UUID, owner: str) -> bool | None:
        return await repo.cancel_requested(self.pool, cid, owner)

    async def advance(self, cid: uuid.UUID, owner: str, done: int) -> bool | None:
        """Record ``done`` steps finished; None when the lease is no longer ours, else whether
        cancel was asked."""
        return await repo.advance(self.pool, cid, owner, done)

    async def write_log(self, cid: uuid.UUID, line: str, level: str = "info") -> None:
        """A line of the running command's output (status readers poll, NOTIFY tells them)."""
        async with self.pool.acquire() as conn:
            await repo.append_log(conn, cid, line, level)
            await events.notify(conn, "command", id=str(cid), action="log")

    async def finish(
        self, cid: uuid.UUID, owner: str, status: str, error: str | None, line: str
    ) -> bool:
        """End the command (succeeded / failed / cancelled); False when the lease was lost."""
        async with audited_write(self.pool, actor=f"worker:{owner}", request_id=None) as w:
            done = await repo.finish(w.conn, cid, owner, status, error)
            if done is None:
                return False
            action, level = _FINISH[status]
            await announce(
                w,
                cid,
                action,
                before={"status": "running"},
                after={"status": status, "error": error, "current_step": done},
                line=line,
                level=level,
            )
            return True

    async def release(self, cid: uuid.UUID, owner: str) -> None:
        """A worker stopping gracefully hands its command back at once (not counted as a
        death): the next worker resumes it at its current step."""
        async with self.pool.acquire() as conn, conn.transaction():
            if await repo.release(conn, cid, owner):
                await repo.append_log(
                    conn, cid, f"released by {owner} (worker stopping)", "warning"
                )
                await events.notify(conn, "command", id=str(cid), action="release")


async def _end_abandoned(w: AuditedWrite, row: asyncpg.Record) -> None:
    """Its worker died while cancel was asked (cancelled), or too often (failed)."""
    cid = row["id"]
    if row["cancel_requested"]:
        status, error, action = "cancelled", None, "cancel"
        line, level = "cancelled (its worker died)", "warning"
    else:
        status, error, action = "failed", f"worker died {row['attempts']} times", "fail"
        line, level = f"failed: {error}", "error"
    await repo.abandon(w.conn, cid, status, error)
    await announce(
        w,
        cid,
        action,
        before={"status": "running", "lease_owner": row["lease_owner"]},
        after={"status": status, "error": error},
        line=line,
        level=level,
    )


async def _take(w: AuditedWrite, row: asyncpg.Record, owner: str) -> tuple[Command, list[Any]]:
    cid = row["id"]
    claimed = await repo.take(w.conn, cid, owner, float(LEASE_SECONDS))
    if row["status"] == "running":
        was = (
            f"from {row['lease_owner']} (lease expired)"
            if row["lease_owner"]
            else "(its worker stopped)"
        )
        line = (
            f"taken over by {owner} {was}; attempt {claimed['attempts']},"
            f" resuming at step {row['current_step'] + 1}"
        )
        action, level = "recover", "warning"
    else:
        line, action, level = f"started by {owner}", "start", "info"
    await announce(
        w,
        cid,
        action,
        before={"status": row["status"], "lease_owner": row["lease_owner"]},
        after={"status": "running", "lease_owner": owner},
        line=line,
        level=level,
    )
    steps = await repo.template_steps(w.conn, row["template_name"], row["template_version"])
    command = await repo.get(w.conn, cid)
    assert command is not None  # locked by this transaction
    return command, steps
