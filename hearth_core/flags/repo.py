"""SQL for feature flags (``flags``) and their revision log (``flag_revisions``).

Writes are serialised by :func:`lock_writes` (one transaction-scoped advisory lock), so a
revision number's order is its commit order — what lets a stream client resume from one.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import asyncpg
import msgspec

from hearth_core.db.locked import fetch_locked
from hearth_core.db.paging import Where, fetch_page
from hearth_core.flags.model import Flag, FlagSpec, Segment, SegmentSpec

WRITE_LOCK = 0x666C6167  # "flag"
REPLAY_LIMIT = 10_000
_SPEC = (
    "description",
    "type",
    "impression_data",
    "stale",
    "dependencies",
    "environments",
    "metadata",
)
_SET_SPEC = ", ".join(f"{c}=${i}" for i, c in enumerate(_SPEC, start=2))

Db: TypeAlias = asyncpg.Connection | asyncpg.Pool


def flag(row: asyncpg.Record) -> Flag:
    return msgspec.convert(
        {
            **{
                c: row[c]
                for c in ("name", *_SPEC, "version", "created_at", "updated_at", "updated_by")
            },
            "archived": row["archived_at"] is not None,
        },
        Flag,
    )


def _spec_values(spec: FlagSpec) -> list[Any]:
    b = msgspec.to_builtins(spec)
    return [b[c] for c in _SPEC]


def same_spec(a: FlagSpec, b: FlagSpec) -> bool:
    """Would writing ``b`` over ``a`` change any stored column?"""
    return _spec_values(a) == _spec_values(b)


# ---------------------------------------------------------------------- reads
async def live(db: Db) -> list[Flag]:
    return [flag(r) for r in await db.fetch("SELECT * FROM flags WHERE archived_at IS NULL")]


async def every(db: Db) -> list[Flag]:
    """Archived ones too, by name."""
    return [flag(r) for r in await db.fetch("SELECT * FROM flags ORDER BY name")]


async def get(db: Db, name: str) -> Flag | None:
    row = await db.fetchrow("SELECT * FROM flags WHERE name = $1", name)
    return None if row is None else flag(row)


async def named(db: Db, names: list[str]) -> list[Flag]:
    return [flag(r) for r in await db.fetch("SELECT * FROM flags WHERE name = ANY($1)", names)]


async def exists(db: Db, name: str) -> bool:
    return bool(await db.fetchval("SELECT 1 FROM flags WHERE name = $1", name))


async def latest_revision(db: Db) -> int:
    return int(await db.fetchval("SELECT coalesce(max(revision), 0) FROM flag_revisions"))


async def revisions(
    db: Db, name: str, *, page: int, limit: int
) -> tuple[list[asyncpg.Record], int]:
    """One flag's revisions, newest first."""
    return await fetch_page(
        db,
        select="revision, action, before, after, actor, at, request_id",
        from_="flag_revisions",
        where=Where().eq("flag_name", name),
        order_by="revision DESC",
        page=page,
        limit=limit,
    )


async def revisions_since(db: Db, revision: int) -> list[asyncpg.Record]:
    """Every flag's revisions after ``revision``, oldest first (a stream's replay)."""
    return await db.fetch(
        "SELECT revision, flag_name, action, after FROM flag_revisions WHERE revision > $1"
        " ORDER BY revision LIMIT $2",
        revision,
        REPLAY_LIMIT,
    )


# --------------------------------------------------------------------- writes
async def lock_writes(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock($1)", WRITE_LOCK)


async def lock(conn: asyncpg.Connection, name: str) -> Flag:
    return flag(await fetch_locked(conn, "flags", {"name": name}, missing=f"no flag {name!r}"))


async def lock_live(conn: asyncpg.Connection) -> list[Flag]:
    rows = await conn.fetch(
        "SELECT * FROM flags WHERE archived_at IS NULL ORDER BY name FOR UPDATE"
    )
    return [flag(r) for r in rows]


async def lock_named(conn: asyncpg.Connection, names: list[str]) -> list[Flag]:
    rows = await conn.fetch("SELECT * FROM flags WHERE name = ANY($1) FOR UPDATE", names)
    return [flag(r) for r in rows]


async def insert(conn: asyncpg.Connection, spec: FlagSpec, actor: str) -> Flag:
    """Raises UniqueViolationError when the name is taken (archived flags keep theirs)."""
    row = await conn.fetchrow(
        f"INSERT INTO flags (name, {', '.join(_SPEC)}, updated_by)"  # noqa: S608 - fixed columns
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *",
        spec.name,
        *_spec_values(spec),
        actor,
    )
    return flag(row)


async def replace(conn: asyncpg.Connection, spec: FlagSpec, actor: str, *, restore: bool) -> Flag:
    """Write every spec column of ``spec.name``; ``restore`` also un-archives it."""
    row = await conn.fetchrow(
        f"UPDATE flags SET {_SET_SPEC},"  # noqa: S608 - fixed columns
        f"{' archived_at=NULL,' if restore else ''}"
        " version=version+1, updated_at=now(), updated_by=$9 WHERE name=$1 RETURNING *",
        spec.name,
        *_spec_values(spec),
        actor,
    )
    return flag(row)


async def set_archived(conn: asyncpg.Connection, name: str, archived: bool, actor: str) -> Flag:
    row = await conn.fetchrow(
        "UPDATE flags SET archived_at = CASE WHEN $2 THEN now() END, version=version+1,"
        " updated_at=now(), updated_by=$3 WHERE name=$1 RETURNING *",
        name,
        archived,
        actor,
    )
    return flag(row)


async def set_enabled(
    conn: asyncpg.Connection, name: str, enabled: bool, actor: str, *, environment: str
) -> Flag:
    """Switch the flag in one environment (configuring it there, with no strategy, if new)."""
    row = await conn.fetchrow(
        "UPDATE flags SET environments = jsonb_set(environments, ARRAY[$2],"
        " coalesce(environments->$2, '{}'::jsonb) || jsonb_build_object('enabled', $3::boolean)),"
        " version=version+1, updated_at=now(), updated_by=$4 WHERE name=$1 RETURNING *",
        name,
        environment,
        enabled,
        actor,
    )
    return flag(row)


async def add_revision(
    conn: asyncpg.Connection,
    name: str,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    *,
    actor: str,
    request_id: str | None,
) -> int:
    return int(
        await conn.fetchval(
            "INSERT INTO flag_revisions (flag_name, action, before, after, actor, request_id)"
            " VALUES ($1, $2, $3, $4, $5, $6) RETURNING revision",
            name,
            action,
            before,
            after,
            actor,
            request_id,
        )
    )


# ------------------------------------------------------------------- segments
def segment(row: asyncpg.Record) -> Segment:
    return msgspec.convert(dict(row), Segment)


async def segments(db: Db) -> list[Segment]:
    return [segment(r) for r in await db.fetch("SELECT * FROM flag_segments ORDER BY id")]


async def lock_segment(conn: asyncpg.Connection, segment_id: int) -> Segment:
    return segment(
        await fetch_locked(
            conn, "flag_segments", {"id": segment_id}, missing=f"no segment {segment_id}"
        )
    )


async def insert_segment(
    conn: asyncpg.Connection, spec: SegmentSpec, actor: str, *, segment_id: int | None = None
) -> Segment:
    """Raises UniqueViolationError when the name (or the given id) is taken."""
    b = msgspec.to_builtins(spec)
    if segment_id is None:
        row = await conn.fetchrow(
            "INSERT INTO flag_segments (name, description, constraints, updated_by)"
            " VALUES ($1, $2, $3, $4) RETURNING *",
            b["name"],
            b.get("description", ""),
            b.get("constraints", []),
            actor,
        )
    else:
        row = await conn.fetchrow(
            "INSERT INTO flag_segments (id, name, description, constraints, updated_by)"
            " VALUES ($1, $2, $3, $4, $5) RETURNING *",
            segment_id,
            b["name"],
            b.get("description", ""),
            b.get("constraints", []),
            actor,
        )
        # Ids given by an import must not collide with the ones the sequence hands out later.
        await conn.execute(
            "SELECT setval(pg_get_serial_sequence('flag_segments', 'id'),"
            " greatest((SELECT max(id) FROM flag_segments), 1))"
        )
    return segment(row)


async def update_segment(
    conn: asyncpg.Connection, segment_id: int, spec: SegmentSpec, actor: str
) -> Segment:
    b = msgspec.to_builtins(spec)
    row = await conn.fetchrow(
        "UPDATE flag_segments SET name=$2, description=$3, constraints=$4, version=version+1,"
        " updated_at=now(), updated_by=$5 WHERE id=$1 RETURNING *",
        segment_id,
        b["name"],
        b.get("description", ""),
        b.get("constraints", []),
        actor,
    )
    return segment(row)


async def delete_segment(conn: asyncpg.Connection, segment_id: int) -> None:
    await conn.execute("DELETE FROM flag_segments WHERE id = $1", segment_id)


async def segment_users(conn: asyncpg.Connection, segment_id: int) -> list[str]:
    """Live flags with a strategy (in any environment) that uses the segment."""
    rows = await conn.fetch(
        "SELECT name FROM flags f WHERE archived_at IS NULL AND EXISTS ("
        " SELECT 1 FROM jsonb_each(f.environments) e,"
        " jsonb_array_elements(coalesce(e.value->'strategies', '[]')) s"
        " WHERE coalesce(s->'segments', '[]') @> to_jsonb(ARRAY[$1::int])) ORDER BY name",
        segment_id,
    )
    return [r["name"] for r in rows]
