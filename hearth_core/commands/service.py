"""SOP templates and commands in PostgreSQL; the queue operations the workers use.

Every state change is audited, written to the command's log and announced with a ``command``
NOTIFY (which wakes idle workers and interrupts a running ``wait`` on cancel).
"""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from datetime import datetime
from typing import Any

import asyncpg
import msgspec
import orjson

from hearth_core import audit, events
from hearth_core.commands.model import (
    Command,
    LogLine,
    RouteRef,
    SopTemplate,
    Step,
    parse_templates,
    render_steps,
)
from hearth_core.config.service import check_schema, check_value
from hearth_core.errors import Conflict, InvalidInput, NotFound

LEASE_SECONDS = 30
MAX_ATTEMPTS = 3
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
_SELECT = (
    "SELECT c.*, jsonb_array_length(t.steps) AS steps_total FROM commands c"
    " JOIN sop_templates t ON t.name = c.template_name AND t.version = c.template_version"
)


class Filters(msgspec.Struct, kw_only=True):
    status: list[str] = []
    template: str | None = None
    triggered_by: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


def _digest(description: str, parameters: Any, steps: list[Any]) -> str:
    canon = orjson.dumps(
        {"description": description, "parameters": parameters, "steps": steps},
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(canon).hexdigest()


def _template(r: asyncpg.Record) -> SopTemplate:
    return msgspec.convert(
        {
            "name": r["name"],
            "version": r["version"],
            "description": r["description"],
            "parameters": r["parameters"],
            "steps": r["steps"],
            "created_at": r["created_at"],
            "created_by": r["created_by"],
        },
        SopTemplate,
    )


def _command(r: asyncpg.Record) -> Command:
    return Command(
        id=str(r["id"]),
        template=r["template_name"],
        template_version=r["template_version"],
        parameters=r["parameters"],
        status=r["status"],
        triggered_by=r["triggered_by"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        queued_at=r["queued_at"],
        started_at=r["started_at"],
        finished_at=r["finished_at"],
        current_step=r["current_step"],
        steps_total=r["steps_total"],
        error=r["error"],
        cancel_requested=r["cancel_requested"],
        attempts=r["attempts"],
        lease_owner=r["lease_owner"],
        lease_until=r["lease_until"],
    )


def command_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(f"no command {raw!r}") from None


async def write_log(
    conn: asyncpg.Connection, cid: uuid.UUID, line: str, level: str = "info"
) -> None:
    await conn.execute(
        "INSERT INTO command_log (command_id, level, line) VALUES ($1, $2, $3)",
        cid,
        level,
        line[:10_000],
    )


async def _announce(
    conn: asyncpg.Connection,
    cid: uuid.UUID,
    action: str,
    *,
    actor: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    request_id: str | None,
    line: str,
    level: str = "info",
) -> None:
    await audit.record(
        conn,
        actor=actor,
        action=f"command.{action}",
        target=f"command:{cid}",
        before=before,
        after=after,
        request_id=request_id,
    )
    await write_log(conn, cid, line, level)
    await events.notify(conn, "command", id=str(cid), action=action)


def _state(r: asyncpg.Record) -> dict[str, Any]:
    return {
        "status": r["status"],
        "current_step": r["current_step"],
        "parameters": r["parameters"],
        "template_version": r["template_version"],
    }


async def _locked(conn: asyncpg.Connection, cid: uuid.UUID) -> asyncpg.Record:
    """The command's row, locked for this transaction; 404 when there is none."""
    row = await conn.fetchrow("SELECT * FROM commands WHERE id=$1 FOR UPDATE", cid)
    if row is None:
        raise NotFound(f"no command {cid}")
    return row


class CommandService:
    def __init__(self, pool: asyncpg.Pool, routes: dict[str, RouteRef] | None = None) -> None:
        self.pool = pool
        self.routes = routes

    # ------------------------------------------------------------- templates
    async def import_templates(
        self, data: Any, *, actor: str, request_id: str | None
    ) -> dict[str, Any]:
        """Every template valid, or nothing written. A changed template becomes a new version;
        an identical one stays as it is."""
        specs, errors = parse_templates(data, self.routes)
        if errors:
            raise InvalidInput("invalid SOP templates; nothing imported", errors=errors[:100])
        results = []
        counts = {"created": 0, "updated": 0, "unchanged": 0}
        async with self.pool.acquire() as conn, conn.transaction():
            for spec in specs:
                steps = msgspec.to_builtins(spec.steps)
                digest = _digest(spec.description, spec.parameters, steps)
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", spec.name)
                latest = await conn.fetchrow(
                    "SELECT version, digest FROM sop_templates WHERE name=$1"
                    " ORDER BY version DESC LIMIT 1",
                    spec.name,
                )
                if latest is not None and latest["digest"] == digest:
                    counts["unchanged"] += 1
                    results.append(
                        {"name": spec.name, "version": latest["version"], "result": "unchanged"}
                    )
                    continue
                version = 1 if latest is None else latest["version"] + 1
                await conn.execute(
                    "INSERT INTO sop_templates (name, version, description, parameters, steps,"
                    " digest, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    spec.name,
                    version,
                    spec.description,
                    spec.parameters,
                    steps,
                    digest,
                    actor,
                )
                await audit.record(
                    conn,
                    actor=actor,
                    action="sop_template.import",
                    target=f"sop_template:{spec.name}",
                    before=None if latest is None else {"version": latest["version"]},
                    after={"version": version, "steps": len(steps)},
                    request_id=request_id,
                )
                result = "created" if latest is None else "updated"
                counts[result] += 1
                results.append({"name": spec.name, "version": version, "result": result})
        return {**counts, "templates": results}

    async def list_templates(
        self, *, q: str | None, name: str | None, all_versions: bool, limit: int, page: int
    ) -> tuple[list[SopTemplate], int]:
        where, args = [], []
        if q:
            args.append(f"%{_like(q)}%")
            where.append(f"(t.name ILIKE ${len(args)} OR t.description ILIKE ${len(args)})")
        if name:
            args.append(name)
            where.append(f"t.name = ${len(args)}")
        if not all_versions:
            where.append(
                "t.version = (SELECT max(version) FROM sop_templates m WHERE m.name=t.name)"
            )
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        async with self.pool.acquire() as conn:
            total = await conn.fetchval(f"SELECT count(*) FROM sop_templates t{clause}", *args)  # noqa: S608 - fixed fragments
            rows = await conn.fetch(
                f"SELECT * FROM sop_templates t{clause} ORDER BY t.name, t.version DESC"  # noqa: S608 - fixed fragments
                f" LIMIT {int(limit)} OFFSET {int((page - 1) * limit)}",
                *args,
            )
        return [_template(r) for r in rows], total

    async def _template_row(
        self, conn: asyncpg.Connection, name: str, version: int | None
    ) -> asyncpg.Record:
        if version is None:
            row = await conn.fetchrow(
                "SELECT * FROM sop_templates WHERE name=$1 ORDER BY version DESC LIMIT 1", name
            )
        else:
            row = await conn.fetchrow(
                "SELECT * FROM sop_templates WHERE name=$1 AND version=$2", name, version
            )
        if row is None:
            what = name if version is None else f"{name} version {version}"
            raise NotFound(
                f"no SOP template {what}", errors=[{"path": "$.template", "message": "unknown"}]
            )
        return row

    def _check_parameters(self, template: asyncpg.Record, params: dict[str, Any]) -> None:
        check_value(check_schema(template["parameters"]), params, "$.parameters")
        _, errors = render_steps(template["steps"], params, self.routes)
        if errors:
            raise InvalidInput("the parameters do not fit the template", errors=errors)

    # -------------------------------------------------------------- commands
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
        async with self.pool.acquire() as conn, conn.transaction():
            trow = await self._template_row(conn, template, version)
            self._check_parameters(trow, parameters)
            await conn.execute(
                "INSERT INTO commands (id, template_name, template_version, parameters, triggered_by)"
                " VALUES ($1, $2, $3, $4, $5)",
                cid,
                trow["name"],
                trow["version"],
                parameters,
                actor,
            )
            await _announce(
                conn,
                cid,
                "create",
                actor=actor,
                before=None,
                after={
                    "template": trow["name"],
                    "version": trow["version"],
                    "parameters": parameters,
                },
                request_id=request_id,
                line=f"created from {trow['name']} v{trow['version']} by {actor}",
            )
            return _command(await conn.fetchrow(f"{_SELECT} WHERE c.id=$1", cid))

    async def get(self, cid: uuid.UUID, conn: asyncpg.Connection | None = None) -> Command:
        row = await (conn or self.pool).fetchrow(f"{_SELECT} WHERE c.id=$1", cid)
        if row is None:
            raise NotFound(f"no command {cid}")
        return _command(row)

    async def snapshot(
        self, cid: uuid.UUID, *, after: int = 0, limit: int = 1000
    ) -> tuple[Command, list[LogLine]]:
        """The command and its log lines after ``after``, as of one moment."""
        async with (
            self.pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            command = await self.get(cid, conn)
            return command, await self.log(cid, after=after, limit=limit, conn=conn)

    async def log(
        self,
        cid: uuid.UUID,
        *,
        after: int = 0,
        limit: int = 1000,
        conn: asyncpg.Connection | None = None,
    ) -> list[LogLine]:
        rows = await (conn or self.pool).fetch(
            "SELECT seq, at, level, line FROM command_log WHERE command_id=$1 AND seq > $2"
            " ORDER BY seq LIMIT $3",
            cid,
            after,
            limit,
        )
        return [LogLine(**dict(r)) for r in rows]

    async def steps(self, command: Command) -> list[Step]:
        raw = await self.pool.fetchval(
            "SELECT steps FROM sop_templates WHERE name=$1 AND version=$2",
            command.template,
            command.template_version,
        )
        steps, _ = render_steps(raw, command.parameters, None)
        return steps

    def _where(self, f: Filters) -> tuple[str, list[Any]]:
        where: list[str] = []
        args: list[Any] = []
        if f.status:
            args.append(f.status)
            where.append(f"c.status = ANY(${len(args)})")
        if f.template:
            args.append(f.template)
            where.append(f"c.template_name = ${len(args)}")
        if f.triggered_by:
            args.append(f.triggered_by)
            where.append(f"c.triggered_by = ${len(args)}")
        if f.created_after:
            args.append(f.created_after)
            where.append(f"c.created_at >= ${len(args)}")
        if f.created_before:
            args.append(f.created_before)
            where.append(f"c.created_at < ${len(args)}")
        return (" WHERE " + " AND ".join(where)) if where else "", args

    async def find(self, f: Filters, *, limit: int, page: int) -> tuple[list[Command], int]:
        clause, args = self._where(f)
        async with self.pool.acquire() as conn:
            total = await conn.fetchval(f"SELECT count(*) FROM commands c{clause}", *args)  # noqa: S608 - fixed fragments
            rows = await conn.fetch(
                f"{_SELECT}{clause} ORDER BY c.created_at DESC, c.id"
                f" LIMIT {int(limit)} OFFSET {int((page - 1) * limit)}",
                *args,
            )
        return [_command(r) for r in rows], total

    async def export(self, f: Filters) -> list[Command]:
        clause, args = self._where(f)
        rows = await self.pool.fetch(f"{_SELECT}{clause} ORDER BY c.created_at, c.id", *args)
        return [_command(r) for r in rows]

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
        async with self.pool.acquire() as conn, conn.transaction():
            row = await _locked(conn, cid)
            if row["status"] != "pending":
                raise Conflict(f"command {cid} is {row['status']}; only a pending one can change")
            params = row["parameters"] if parameters is None else parameters
            version = row["template_version"] if template_version is None else template_version
            trow = await self._template_row(conn, row["template_name"], version)
            self._check_parameters(trow, params)
            after = await conn.fetchrow(
                "UPDATE commands SET parameters=$2, template_version=$3, updated_at=now()"
                " WHERE id=$1 RETURNING *",
                cid,
                params,
                version,
            )
            await _announce(
                conn,
                cid,
                "update",
                actor=actor,
                before=_state(row),
                after=_state(after),
                request_id=request_id,
                line=f"edited by {actor}",
            )
            return await self.get(cid, conn)

    async def execute(self, cid: uuid.UUID, *, actor: str, request_id: str | None) -> Command:
        """Queue a pending command; a worker claims it (status stays pending until then)."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await _locked(conn, cid)
            if row["status"] != "pending":
                raise Conflict(f"command {cid} is {row['status']}")
            if row["queued_at"] is None:
                await conn.execute(
                    "UPDATE commands SET queued_at=clock_timestamp(), updated_at=now() WHERE id=$1",
                    cid,
                )
                await _announce(
                    conn,
                    cid,
                    "queue",
                    actor=actor,
                    before={"queued": False},
                    after={"queued": True},
                    request_id=request_id,
                    line=f"queued for execution by {actor}",
                )
            return await self.get(cid, conn)

    async def cancel(self, cid: uuid.UUID, *, actor: str, request_id: str | None) -> Command:
        """A pending command is cancelled at once; a running one between steps (or in a wait)."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await _locked(conn, cid)
            if row["status"] in ("succeeded", "failed", "cancelled"):
                raise Conflict(f"command {cid} already {row['status']}")
            if row["status"] == "pending":
                await conn.execute(
                    "UPDATE commands SET status='cancelled', cancel_requested=true,"
                    " finished_at=now(), updated_at=now() WHERE id=$1",
                    cid,
                )
                line = f"cancelled by {actor}"
                after = "cancelled"
            elif not row["cancel_requested"]:
                await conn.execute(
                    "UPDATE commands SET cancel_requested=true, updated_at=now() WHERE id=$1", cid
                )
                line = f"cancel requested by {actor}"
                after = "cancel_requested"
            else:
                return await self.get(cid, conn)
            await _announce(
                conn,
                cid,
                "cancel",
                actor=actor,
                before={"status": row["status"]},
                after={"status": after},
                request_id=request_id,
                line=line,
                level="warning",
            )
            return await self.get(cid, conn)

    # ------------------------------------------------------- the queue (workers)
    async def claim(self, owner: str) -> tuple[Command, list[Any]] | None:
        """Take the oldest queued command that is pending or whose worker's lease expired.
        One that has been taken up ``MAX_ATTEMPTS`` times already is failed instead."""
        while True:
            async with self.pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(
                    "SELECT * FROM commands WHERE queued_at IS NOT NULL AND (status = 'pending'"
                    " OR (status = 'running' AND lease_until < now()))"
                    " ORDER BY queued_at FOR UPDATE SKIP LOCKED LIMIT 1"
                )
                if row is None:
                    return None
                cid = row["id"]
                actor = f"worker:{owner}"
                takeover = row["status"] == "running"
                if takeover and (row["cancel_requested"] or row["attempts"] >= MAX_ATTEMPTS):
                    status, error = (
                        ("cancelled", None)
                        if row["cancel_requested"]
                        else ("failed", f"worker died {row['attempts']} times")
                    )
                    await conn.execute(
                        "UPDATE commands SET status=$2, error=$3, finished_at=now(), updated_at=now(),"
                        " lease_owner=NULL, lease_until=NULL WHERE id=$1",
                        cid,
                        status,
                        error,
                    )
                    await _announce(
                        conn,
                        cid,
                        "cancel" if status == "cancelled" else "fail",
                        actor=actor,
                        before={"status": "running", "lease_owner": row["lease_owner"]},
                        after={"status": status, "error": error},
                        request_id=None,
                        line=f"{status}: {error}" if error else "cancelled (its worker died)",
                        level="error" if error else "warning",
                    )
                    continue
                claimed = await conn.fetchrow(
                    "UPDATE commands SET status='running', lease_owner=$2,"
                    " lease_until=now() + make_interval(secs => $3),"
                    " attempts=attempts+1, started_at=coalesce(started_at, now()), updated_at=now()"
                    " WHERE id=$1 RETURNING *",
                    cid,
                    owner,
                    float(LEASE_SECONDS),
                )
                if takeover:
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
                await _announce(
                    conn,
                    cid,
                    action,
                    actor=actor,
                    before={"status": row["status"], "lease_owner": row["lease_owner"]},
                    after={"status": "running", "lease_owner": owner},
                    request_id=None,
                    line=line,
                    level=level,
                )
                steps = await conn.fetchval(
                    "SELECT steps FROM sop_templates WHERE name=$1 AND version=$2",
                    row["template_name"],
                    row["template_version"],
                )
                return await self.get(cid, conn), steps

    async def renew(self, cid: uuid.UUID, owner: str) -> bool | None:
        """Extend the lease; None when it is no longer ours, else whether cancel was asked."""
        return await self.pool.fetchval(
            "UPDATE commands SET lease_until=clock_timestamp() + make_interval(secs => $3)"
            " WHERE id=$1 AND lease_owner=$2 AND status='running' RETURNING cancel_requested",
            cid,
            owner,
            float(LEASE_SECONDS),
        )

    async def cancel_requested(self, cid: uuid.UUID, owner: str) -> bool | None:
        return await self.pool.fetchval(
            "SELECT cancel_requested FROM commands WHERE id=$1 AND lease_owner=$2"
            " AND status='running'",
            cid,
            owner,
        )

    async def advance(self, cid: uuid.UUID, owner: str, done: int) -> bool | None:
        """Record ``done`` steps finished; None when the lease is no longer ours, else whether
        cancel was asked."""
        return await self.pool.fetchval(
            "UPDATE commands SET current_step=$3, updated_at=now() WHERE id=$1 AND lease_owner=$2"
            " AND status='running' RETURNING cancel_requested",
            cid,
            owner,
            done,
        )

    async def write_log(self, cid: uuid.UUID, line: str, level: str = "info") -> None:
        async with self.pool.acquire() as conn:
            await write_log(conn, cid, line, level)
            await events.notify(conn, "command", id=str(cid), action="log")

    async def finish(
        self, cid: uuid.UUID, owner: str, status: str, error: str | None, line: str
    ) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "UPDATE commands SET status=$3, error=$4, finished_at=now(), updated_at=now(),"
                " lease_owner=NULL, lease_until=NULL WHERE id=$1 AND lease_owner=$2"
                " AND status='running' RETURNING current_step",
                cid,
                owner,
                status,
                error,
            )
            if row is None:
                return False
            action = {"succeeded": "succeed", "failed": "fail", "cancelled": "cancel"}[status]
            await _announce(
                conn,
                cid,
                action,
                actor=f"worker:{owner}",
                before={"status": "running"},
                after={"status": status, "error": error, "current_step": row["current_step"]},
                request_id=None,
                line=line,
                level="info"
                if status == "succeeded"
                else "error"
                if status == "failed"
                else "warning",
            )
            return True

    async def release(self, cid: uuid.UUID, owner: str) -> None:
        """A worker stopping gracefully hands its command back at once (not counted as a
        death): the next worker resumes it at its current step."""
        async with self.pool.acquire() as conn, conn.transaction():
            done = await conn.fetchval(
                "UPDATE commands SET lease_until=now(), lease_owner=NULL,"
                " attempts=greatest(attempts - 1, 0), updated_at=now()"
                " WHERE id=$1 AND lease_owner=$2 AND status='running' RETURNING id",
                cid,
                owner,
            )
            if done is not None:
                await write_log(conn, cid, f"released by {owner} (worker stopping)", "warning")
                await events.notify(conn, "command", id=str(cid), action="release")


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


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
