"""SQL for SOP templates (``sop_templates``, versioned), commands (``commands``, which is also
the work queue) and their output (``command_log``).

Every queue write a worker makes is conditional on ``lease_owner`` still being that worker and
the command still running: a worker that lost its lease changes nothing.
"""

from __future__ import annotations

import uuid
from typing import Any, TypeAlias

import asyncpg
import msgspec

from hearth_core.commands.model import Command, Filters, LogLine, SopTemplate
from hearth_core.db.locked import fetch_locked
from hearth_core.db.paging import Where, fetch_page

Db: TypeAlias = asyncpg.Connection | asyncpg.Pool
LOG_LINE_CHARS = 10_000
_COMMAND = "c.*, jsonb_array_length(t.steps) AS steps_total"
_WITH_TEMPLATE = (
    "commands c JOIN sop_templates t ON t.name = c.template_name AND t.version = c.template_version"
)
# Only the newest version of each template.
_LATEST = "t.version = (SELECT max(version) FROM sop_templates m WHERE m.name = t.name)"
# Claimable: queued, and pending or abandoned (running, but its worker's lease ran out).
_CLAIMABLE = (
    "queued_at IS NOT NULL AND (status = 'pending' OR (status = 'running' AND lease_until < now()))"
)
_HELD = "id=$1 AND lease_owner=$2 AND status='running'"


def _where(f: Filters) -> Where:
    return (
        Where()
        .any("c.status", f.status or None)
        .eq("c.template_name", f.template or None)
        .eq("c.triggered_by", f.triggered_by or None)
        .since("c.created_at", f.created_after)
        .until("c.created_at", f.created_before)
    )


def _template(r: asyncpg.Record) -> SopTemplate:
    return msgspec.convert(
        {
            k: r[k]
            for k in (
                "name",
                "version",
                "description",
                "parameters",
                "steps",
                "created_at",
                "created_by",
            )
        },
        SopTemplate,
    )


def _command(r: asyncpg.Record) -> Command:
    return msgspec.convert({**dict(r), "id": str(r["id"]), "template": r["template_name"]}, Command)


# ----------------------------------------------------------------- templates
async def lock_template_name(conn: asyncpg.Connection, name: str) -> None:
    """Serialise imports of one template name (its next version number)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", name)


async def latest_digest(conn: asyncpg.Connection, name: str) -> tuple[int, str] | None:
    """(version, digest) of the template's newest version."""
    row = await conn.fetchrow(
        "SELECT version, digest FROM sop_templates WHERE name=$1 ORDER BY version DESC LIMIT 1",
        name,
    )
    return None if row is None else (row["version"], row["digest"])


async def insert_template(
    conn: asyncpg.Connection,
    *,
    name: str,
    version: int,
    description: str,
    parameters: dict[str, Any] | None,
    steps: list[Any],
    digest: str,
    created_by: str,
) -> None:
    await conn.execute(
        "INSERT INTO sop_templates (name, version, description, parameters, steps, digest,"
        " created_by) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        name,
        version,
        description,
        parameters,
        steps,
        digest,
        created_by,
    )


async def template(db: Db, name: str, version: int | None) -> SopTemplate | None:
    """That version of the template, or (``version`` None) its newest."""
    if version is None:
        row = await db.fetchrow(
            "SELECT * FROM sop_templates WHERE name=$1 ORDER BY version DESC LIMIT 1", name
        )
    else:
        row = await db.fetchrow(
            "SELECT * FROM sop_templates WHERE name=$1 AND version=$2", name, version
        )
    return None if row is None else _template(row)


async def template_steps(db: Db, name: str, version: int) -> list[Any]:
    """The template version's steps as stored (``{{param}}`` placeholders unfilled)."""
    return await db.fetchval(
        "SELECT steps FROM sop_templates WHERE name=$1 AND version=$2", name, version
    )


async def find_templates(
    db: Db, *, q: str | None, name: str | None, all_versions: bool, page: int, limit: int
) -> tuple[list[SopTemplate], int]:
    """``q``: a substring of the name or description (case-insensitive)."""
    where = Where().eq("t.name", name).substring(("t.name", "t.description"), q)
    if not all_versions:
        where.add(_LATEST)
    rows, total = await fetch_page(
        db,
        select="t.*",
        from_="sop_templates t",
        where=where,
        order_by="t.name, t.version DESC",
        page=page,
        limit=limit,
    )
    return [_template(r) for r in rows], total


# ------------------------------------------------------------------ commands
async def get(db: Db, cid: uuid.UUID) -> Command | None:
    row = await db.fetchrow(f"SELECT {_COMMAND} FROM {_WITH_TEMPLATE} WHERE c.id=$1", cid)  # noqa: S608 - fixed text
    return None if row is None else _command(row)


async def find(db: Db, f: Filters, *, page: int, limit: int) -> tuple[list[Command], int]:
    """Newest first."""
    rows, total = await fetch_page(
        db,
        select=_COMMAND,
        from_=_WITH_TEMPLATE,
        count_from="commands c",
        where=_where(f),
        order_by="c.created_at DESC, c.id",
        page=page,
        limit=limit,
    )
    return [_command(r) for r in rows], total


async def every(db: Db, f: Filters) -> list[Command]:
    """Oldest first, no page limit (the export)."""
    where = _where(f)
    rows = await db.fetch(
        f"SELECT {_COMMAND} FROM {_WITH_TEMPLATE}{where.sql} ORDER BY c.created_at, c.id",  # noqa: S608 - fixed fragments
        *where.args,
    )
    return [_command(r) for r in rows]


async def lock(conn: asyncpg.Connection, cid: uuid.UUID) -> asyncpg.Record:
    """The command's row, locked for the transaction; 404 when there is none."""
    return await fetch_locked(conn, "commands", {"id": cid}, missing=f"no command {cid}")


async def insert(
    conn: asyncpg.Connection,
    cid: uuid.UUID,
    *,
    template: str,
    version: int,
    parameters: dict[str, Any],
    triggered_by: str,
) -> None:
    await conn.execute(
        "INSERT INTO commands (id, template_name, template_version, parameters, triggered_by)"
        " VALUES ($1, $2, $3, $4, $5)",
        cid,
        template,
        version,
        parameters,
        triggered_by,
    )


async def set_parameters(
    conn: asyncpg.Connection, cid: uuid.UUID, parameters: dict[str, Any], version: int
) -> asyncpg.Record:
    return await conn.fetchrow(
        "UPDATE commands SET parameters=$2, template_version=$3, updated_at=now()"
        " WHERE id=$1 RETURNING *",
        cid,
        parameters,
        version,
    )


async def mark_queued(conn: asyncpg.Connection, cid: uuid.UUID) -> None:
    # clock_timestamp: the queue's order is the order of the calls, not of their transactions.
    await conn.execute(
        "UPDATE commands SET queued_at=clock_timestamp(), updated_at=now() WHERE id=$1", cid
    )


async def cancel_pending(conn: asyncpg.Connection, cid: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE commands SET status='cancelled', cancel_requested=true, finished_at=now(),"
        " updated_at=now() WHERE id=$1",
        cid,
    )


async def request_cancel(conn: asyncpg.Connection, cid: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE commands SET cancel_requested=true, updated_at=now() WHERE id=$1", cid
    )


# ----------------------------------------------------------------------- log
async def append_log(
    conn: asyncpg.Connection, cid: uuid.UUID, line: str, level: str = "info"
) -> None:
    await conn.execute(
        "INSERT INTO command_log (command_id, level, line) VALUES ($1, $2, $3)",
        cid,
        level,
        line[:LOG_LINE_CHARS],
    )


async def log_lines(db: Db, cid: uuid.UUID, *, after: int, limit: int) -> list[LogLine]:
    rows = await db.fetch(
        "SELECT seq, at, level, line FROM command_log WHERE command_id=$1 AND seq > $2"
        " ORDER BY seq LIMIT $3",
        cid,
        after,
        limit,
    )
    return [LogLine(**dict(r)) for r in rows]


# --------------------------------------------------------------------- queue
async def lock_next_claimable(conn: asyncpg.Connection) -> asyncpg.Record | None:
    """The oldest claimable command, locked; None when there is none (or all are taken)."""
    return await conn.fetchrow(
        f"SELECT * FROM commands WHERE {_CLAIMABLE}"  # noqa: S608 - fixed text
        " ORDER BY queued_at FOR UPDATE SKIP LOCKED LIMIT 1"
    )


async def take(
    conn: asyncpg.Connection, cid: uuid.UUID, owner: str, lease_seconds: float
) -> asyncpg.Record:
    """Run it under ``owner``'s lease (another attempt)."""
    return await conn.fetchrow(
        "UPDATE commands SET status='running', lease_owner=$2,"
        " lease_until=now() + make_interval(secs => $3),"
        " attempts=attempts+1, started_at=coalesce(started_at, now()), updated_at=now()"
        " WHERE id=$1 RETURNING *",
        cid,
        owner,
        lease_seconds,
    )


async def abandon(conn: asyncpg.Connection, cid: uuid.UUID, status: str, error: str | None) -> None:
    """End an abandoned command without running it again (no lease is held)."""
    await conn.execute(
        "UPDATE commands SET status=$2, error=$3, finished_at=now(), updated_at=now(),"
        " lease_owner=NULL, lease_until=NULL WHERE id=$1",
        cid,
        status,
        error,
    )


async def renew(db: Db, cid: uuid.UUID, owner: str, lease_seconds: float) -> bool | None:
    """Extend the lease; None when it is no longer ``owner``'s, else whether cancel was asked."""
    return await db.fetchval(
        "UPDATE commands SET lease_until=clock_timestamp() + make_interval(secs => $3)"  # noqa: S608 - fixed text
        f" WHERE {_HELD} RETURNING cancel_requested",
        cid,
        owner,
        lease_seconds,
    )


async def cancel_requested(db: Db, cid: uuid.UUID, owner: str) -> bool | None:
    """None when the lease is no longer ``owner``'s."""
    return await db.fetchval(
        f"SELECT cancel_requested FROM commands WHERE {_HELD}",  # noqa: S608 - fixed text
        cid,
        owner,
    )


async def advance(db: Db, cid: uuid.UUID, owner: str, done: int) -> bool | None:
    """``done`` steps finished; None when the lease is no longer ``owner``'s, else whether
    cancel was asked."""
    return await db.fetchval(
        f"UPDATE commands SET current_step=$3, updated_at=now() WHERE {_HELD}"  # noqa: S608 - fixed text
        " RETURNING cancel_requested",
        cid,
        owner,
        done,
    )


async def finish(
    conn: asyncpg.Connection, cid: uuid.UUID, owner: str, status: str, error: str | None
) -> int | None:
    """The command's end, under ``owner``'s lease; its steps done, or None (not ours)."""
    return await conn.fetchval(
        "UPDATE commands SET status=$3, error=$4, finished_at=now(), updated_at=now(),"  # noqa: S608 - fixed text
        f" lease_owner=NULL, lease_until=NULL WHERE {_HELD} RETURNING current_step",
        cid,
        owner,
        status,
        error,
    )


async def release(conn: asyncpg.Connection, cid: uuid.UUID, owner: str) -> bool:
    """Hand the command back at once, the attempt not counted; False when it was not ours."""
    done = await conn.fetchval(
        "UPDATE commands SET lease_until=now(), lease_owner=NULL,"  # noqa: S608 - fixed text
        " attempts=greatest(attempts - 1, 0), updated_at=now()"
        f" WHERE {_HELD} RETURNING id",
        cid,
        owner,
    )
    return done is not None
