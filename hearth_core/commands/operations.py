"""What the API does with commands: create from a template, edit while pending, queue for a
worker, cancel, read (with the log, as of one moment), list and export."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import asyncpg

from hearth_core.commands import repo
from hearth_core.commands.catalog import TemplateCatalog
from hearth_core.commands.journal import announce
from hearth_core.commands.model import TERMINAL, Command, Filters, LogLine, Step, render_steps
from hearth_core.db.audited import audited_write
from hearth_core.db.paging import Page
from hearth_core.errors import Conflict, NotFound

EXPORT_COLUMNS = (
    "id",
    "template",
    "version",
    "status",
    "triggered_by",
    "created_at",
    "started_at",
    "finished_at",
    "error",
)


def command_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(f"no command {raw!r}") from None


def _state(r: asyncpg.Record) -> dict[str, Any]:
    return {
        "status": r["status"],
        "current_step": r["current_step"],
        "parameters": r["parameters"],
        "template_version": r["template_version"],
    }


class CommandOperations:
    def __init__(self, pool: asyncpg.Pool, templates: TemplateCatalog) -> None:
        self.pool = pool
        self.templates = templates

    # ------------------------------------------------------------------ reads
    async def get(self, cid: uuid.UUID, conn: asyncpg.Connection | None = None) -> Command:
        command = await repo.get(conn or self.pool, cid)
        if command is None:
            raise NotFound(f"no command {cid}")
        return command

    async def snapshot(
        self, cid: uuid.UUID, *, after: int = 0, limit: int = 1000
    ) -> tuple[Command, list[LogLine]]:
        """The command and its log lines after ``after``, as of one moment."""
        async with (
            self.pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            command = await self.get(cid, conn)
            return command, await repo.log_lines(conn, cid, after=after, limit=limit)

    async def steps(self, command: Command) -> list[Step]:
        """The command's steps with its parameters filled in."""
        raw = await repo.template_steps(self.pool, command.template, command.template_version)
        steps, _ = render_steps(raw, command.parameters, None)
        return steps

    async def find(self, f: Filters, *, limit: int, page: int) -> Page[Command]:
        items, total = await repo.find(self.pool, f, page=page, limit=limit)
        return Page(items=items, page=page, limit=limit, total=total)

    async def export(self, f: Filters) -> list[Command]:
        return await repo.every(self.pool, f)

    # ----------------------------------------------------------------- writes
    async def create(
        self,
        template: str,
        version: int | None,
        parameters: dict[str, Any],
        *,
        actor: str,
        request_id: str | None,
    ) -> Command:
        cid = uuid.uuid4()
        async with audited_write(self.pool, actor=actor, request_id=request_id) as w:
            t = await self.templates.resolve(w.conn, template, version)
            self.templates.check_parameters(t, parameters)
            await repo.insert(
                w.conn,
                cid,
                template=t.name,
                version=t.version,
                parameters=parameters,
                triggered_by=actor,
            )
            await announce(
                w,
                cid,
                "create",
                before=None,
                after={"template": t.name, "version": t.version, "parameters": parameters},
                line=f"created from {t.name} v{t.version} by {actor}",
            )
            return await self.get(cid, w.conn)

    async def update(
        self,
        cid: uuid.UUID,
        *,
        parameters: dict[str, Any] | None,
        template_version: int | None,
        actor: str,
        request_id: str | None,
    ) -> Command:
        """Change a pending command's parameters and/or template version; 409 once it runs."""
        async with audited_write(self.pool, actor=actor, request_id=request_id) as w:
            row = await repo.lock(w.conn, cid)
            if row["status"] != "pending":
                raise Conflict(f"command {cid} is {row['status']}; only a pending one can change")
            params = row["parameters"] if parameters is None else parameters
            version = row["template_version"] if template_version is None else template_version
            t = await self.templates.resolve(w.conn, row["template_name"], version)
            self.templates.check_parameters(t, params)
            after = await repo.set_parameters(w.conn, cid, params, version)
            await announce(
                w,
                cid,
                "update",
                before=_state(row),
                after=_state(after),
                line=f"edited by {actor}",
            )
            return await self.get(cid, w.conn)

    async def execute(self, cid: uuid.UUID, *, actor: str, request_id: str | None) -> Command:
        """Queue a pending command; a worker claims it (status stays pending until then)."""
        async with audited_write(self.pool, actor=actor, request_id=request_id) as w:
            row = await repo.lock(w.conn, cid)
            if row["status"] != "pending":
                raise Conflict(f"command {cid} is {row['status']}")
            if row["queued_at"] is None:
                await repo.mark_queued(w.conn, cid)
                await announce(
                    w,
                    cid,
                    "queue",
                    before={"queued": False},
                    after={"queued": True},
                    line=f"queued for execution by {actor}",
                )
            return await self.get(cid, w.conn)

    async def cancel(self, cid: uuid.UUID, *, actor: str, request_id: str | None) -> Command:
        """A pending command is cancelled at once; a running one between steps (or in a wait)."""
        async with audited_write(self.pool, actor=actor, request_id=request_id) as w:
            row = await repo.lock(w.conn, cid)
            if row["status"] in TERMINAL:
                raise Conflict(f"command {cid} already {row['status']}")
            if row["status"] == "pending":
                await repo.cancel_pending(w.conn, cid)
                line, after = f"cancelled by {actor}", "cancelled"
            elif not row["cancel_requested"]:
                await repo.request_cancel(w.conn, cid)
                line, after = f"cancel requested by {actor}", "cancel_requested"
            else:
                return await self.get(cid, w.conn)
            await announce(
                w,
                cid,
                "cancel",
                before={"status": row["status"]},
                after={"status": after},
                line=line,
                level="warning",
            )
            return await self.get(cid, w.conn)


def export_csv(items: list[Command]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for c in items:
        writer.writerow(
            [
                c.id,
                c.template,
                c.template_version,
                c.status,
                c.triggered_by,
                c.created_at.isoformat(),
                c.started_at.isoformat() if c.started_at else "",
                c.finished_at.isoformat() if c.finished_at else "",
                c.error or "",
            ]
        )
    return out.getvalue()
