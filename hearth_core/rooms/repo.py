"""SQL for conference rooms (``rooms``) and their seats (``room_participants``).

A room's participant count is always computed, never stored; seat changes are serialised by
the room's row lock (:func:`lock`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg

from hearth_core.db.locked import fetch_locked
from hearth_core.db.paging import Where, fetch_page
from hearth_core.rooms.model import Participant, Room, Sort

SORTS: dict[Sort, str] = {
    "created_at": "created_at ASC, id ASC",
    "-created_at": "created_at DESC, id DESC",
    "name": "name ASC, id ASC",
    "-name": "name DESC, id DESC",
}
_COLUMNS = (
    "r.*, (SELECT count(*) FROM room_participants p WHERE p.room_id = r.id AND p.left_at IS NULL)"
    " AS participants"
)

Db: TypeAlias = asyncpg.Connection | asyncpg.Pool


def _room(r: asyncpg.Record) -> Room:
    return Room(
        id=r["id"],
        name=r["name"],
        status=r["status"],
        settings=r["settings"],
        scheduled_for=r["scheduled_for"],
        created_by=r["created_by"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        started_at=r["started_at"],
        ended_at=r["ended_at"],
        participants=r["participants"],
    )


# ---------------------------------------------------------------------- reads
async def get(db: Db, room_id: uuid.UUID) -> Room | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM rooms r WHERE r.id = $1", room_id)  # noqa: S608 - fixed text
    return None if row is None else _room(row)


async def find(
    db: Db, *, status: str | None, sort: Sort, page: int, limit: int
) -> tuple[list[Room], int]:
    rows, total = await fetch_page(
        db,
        select=_COLUMNS,
        from_="rooms r",
        where=Where().eq("r.status", status),
        order_by=SORTS[sort],
        page=page,
        limit=limit,
    )
    return [_room(r) for r in rows], total


async def participants(db: Db, room_id: uuid.UUID, *, include_left: bool) -> list[Participant]:
    rows = await db.fetch(
        "SELECT user_id, role, joined_at, left_at FROM room_participants"
        " WHERE room_id = $1 AND ($2 OR left_at IS NULL) ORDER BY joined_at, user_id",
        room_id,
        include_left,
    )
    return [Participant(**dict(r)) for r in rows]


async def is_present(conn: asyncpg.Connection, room_id: uuid.UUID, user_id: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT 1 FROM room_participants WHERE room_id=$1 AND user_id=$2 AND left_at IS NULL",
            room_id,
            user_id,
        )
    )


# --------------------------------------------------------------------- writes
async def lock(conn: asyncpg.Connection, room_id: uuid.UUID) -> Room:
    """The room, its row locked for the transaction (404 when there is none)."""
    # Lock first, count after: a count taken in the locking statement would come from a
    # snapshot older than the seat a concurrent join just took.
    await fetch_locked(conn, "rooms", {"id": room_id}, missing=f"no room {room_id}", columns="id")
    room = await get(conn, room_id)
    assert room is not None  # locked: it cannot have gone
    return room


async def insert(
    conn: asyncpg.Connection,
    *,
    name: str,
    settings: dict[str, Any],
    scheduled_for: datetime | None,
    created_by: str,
) -> uuid.UUID:
    return await conn.fetchval(
        "INSERT INTO rooms (name, settings, scheduled_for, created_by) VALUES ($1, $2, $3, $4)"
        " RETURNING id",
        name,
        settings,
        scheduled_for,
        created_by,
    )


async def update(
    conn: asyncpg.Connection,
    room_id: uuid.UUID,
    *,
    name: str,
    settings: dict[str, Any],
    scheduled_for: datetime | None,
) -> None:
    await conn.execute(
        "UPDATE rooms SET name=$2, settings=$3, scheduled_for=$4, updated_at=now(),"
        " version=version+1 WHERE id=$1",
        room_id,
        name,
        settings,
        scheduled_for,
    )


async def delete(conn: asyncpg.Connection, room_id: uuid.UUID) -> None:
    await conn.execute("DELETE FROM rooms WHERE id=$1", room_id)


async def seat(conn: asyncpg.Connection, room_id: uuid.UUID, user_id: str, role: str) -> None:
    """Seat ``user_id`` (again, if they had left)."""
    await conn.execute(
        """
        INSERT INTO room_participants (room_id, user_id, role) VALUES ($1, $2, $3)
        ON CONFLICT (room_id, user_id) DO UPDATE SET joined_at = now(), left_at = NULL, role = EXCLUDED.role
        """,
        room_id,
        user_id,
        role,
    )


async def start(conn: asyncpg.Connection, room_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE rooms SET status='active', started_at=now(), updated_at=now() WHERE id=$1",
        room_id,
    )


async def unseat(conn: asyncpg.Connection, room_id: uuid.UUID, user_id: str) -> bool:
    """False when ``user_id`` was not in the room."""
    left = await conn.fetchval(
        "UPDATE room_participants SET left_at = now()"
        " WHERE room_id=$1 AND user_id=$2 AND left_at IS NULL RETURNING 1",
        room_id,
        user_id,
    )
    return bool(left)


async def end(conn: asyncpg.Connection, room_id: uuid.UUID) -> None:
    """Everyone leaves; the room is ended."""
    await conn.execute(
        "UPDATE room_participants SET left_at = now() WHERE room_id=$1 AND left_at IS NULL",
        room_id,
    )
    await conn.execute(
        "UPDATE rooms SET status='ended', ended_at=now(), updated_at=now() WHERE id=$1", room_id
    )
