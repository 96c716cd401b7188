"""Conference rooms: scheduled → active (first join) → ended (archived, everyone out).

Seats are taken under the room's row lock, so two people racing for the last seat cannot both
get it. Every change is audited and announced (NOTIFY "room"), which feeds the participant
stream of every worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Literal

import asyncpg
import msgspec

from hearth_core import audit, events
from hearth_core.errors import Conflict, InvalidInput, NotFound

Status = Literal["scheduled", "active", "ended"]
SORTS = {
    "created_at": "created_at ASC, id ASC",
    "-created_at": "created_at DESC, id DESC",
    "name": "name ASC, id ASC",
    "-name": "name DESC, id DESC",
}


class RoomSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=False, omit_defaults=True):
    """Known settings are checked; other keys are kept as given (clients' own preferences)."""

    max_participants: int | None = None
    locked: bool = False


class Room(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str
    status: Status
    settings: dict[str, Any]
    scheduled_for: datetime | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    participants: int


class Participant(msgspec.Struct, kw_only=True):
    user_id: str
    role: str
    joined_at: datetime
    left_at: datetime | None


class RoomEvent(msgspec.Struct, kw_only=True):
    room_id: str
    action: str  # created | updated | joined | left | ended | deleted
    user_id: str | None
    participants: int
    status: str


_SELECT = """
    SELECT r.*, (SELECT count(*) FROM room_participants p WHERE p.room_id = r.id AND p.left_at IS NULL)
           AS participants
    FROM rooms r
"""


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


def check_settings(settings: dict[str, Any]) -> RoomSettings:
    try:
        parsed = msgspec.convert(settings, RoomSettings)
    except msgspec.ValidationError as exc:
        msg, _, at = str(exc).partition(" - at `")
        path = "$.settings" + at.rstrip("`")[1:]
        raise InvalidInput(
            "invalid room settings", errors=[{"path": path, "message": msg}]
        ) from None
    if parsed.max_participants is not None and parsed.max_participants < 1:
        raise InvalidInput(
            "invalid room settings",
            errors=[{"path": "$.settings.max_participants", "message": "must be at least 1"}],
        )
    return parsed


class RoomService:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._subscribers: dict[str, set[asyncio.Queue[RoomEvent | None]]] = {}

    # --------------------------------------------------------------- stream
    async def on_event(self, event: dict[str, Any]) -> None:
        try:
            ev = msgspec.convert(event.get("event"), RoomEvent)
        except msgspec.ValidationError:
            return
        for q in list(self._subscribers.get(ev.room_id, ())):
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait(ev)

    @contextlib.asynccontextmanager
    async def subscribe(self, room_id: uuid.UUID) -> AsyncIterator[asyncio.Queue[RoomEvent | None]]:
        q: asyncio.Queue[RoomEvent | None] = asyncio.Queue(1000)
        self._subscribers.setdefault(str(room_id), set()).add(q)
        try:
            yield q
        finally:
            self._subscribers.get(str(room_id), set()).discard(q)

    def close_subscribers(self) -> None:
        for qs in self._subscribers.values():
            for q in qs:
                with contextlib.suppress(asyncio.QueueFull):
                    q.put_nowait(None)

    async def _announce(
        self, conn: asyncpg.Connection, room: Room, action: str, user_id: str | None
    ) -> None:
        ev = RoomEvent(
            room_id=str(room.id),
            action=action,
            user_id=user_id,
            participants=room.participants,
            status=room.status,
        )
        await events.notify(conn, "room", event=msgspec.to_builtins(ev))

    # ---------------------------------------------------------------- reads
    async def _fetch(
        self, conn: asyncpg.Connection | asyncpg.Pool, room_id: uuid.UUID, lock: bool = False
    ) -> Room:
        if lock:
            # Lock first, count after: a count taken in the locking statement would come from a
            # snapshot older than the seat a concurrent join just took.
            await conn.execute("SELECT 1 FROM rooms WHERE id = $1 FOR UPDATE", room_id)
        row = await conn.fetchrow(_SELECT + " WHERE r.id = $1", room_id)
        if row is None:
            raise NotFound(f"no room {room_id}")
        return _room(row)

    async def get(self, room_id: uuid.UUID) -> Room:
        return await self._fetch(self.pool, room_id)

    async def list(
        self, *, status: str | None, sort: str, limit: int, page: int
    ) -> tuple[list[Room], int]:
        where = " WHERE r.status = $1" if status else ""
        args: list[Any] = [status] if status else []
        total = await self.pool.fetchval("SELECT count(*) FROM rooms r" + where, *args)  # noqa: S608 - fixed text
        rows = await self.pool.fetch(
            _SELECT
            + where
            + f" ORDER BY {SORTS[sort]} LIMIT {int(limit)} OFFSET {int((page - 1) * limit)}",
            *args,
        )
        return [_room(r) for r in rows], total

    async def participants(self, room_id: uuid.UUID, *, include_left: bool) -> list[Participant]:
        await self.get(room_id)
        rows = await self.pool.fetch(
            "SELECT user_id, role, joined_at, left_at FROM room_participants"
            " WHERE room_id = $1 AND ($2 OR left_at IS NULL) ORDER BY joined_at, user_id",
            room_id,
            include_left,
        )
        return [Participant(**dict(r)) for r in rows]

    # --------------------------------------------------------------- writes
    async def create(
        self,
        *,
        name: str,
        settings: dict[str, Any],
        scheduled_for: datetime | None,
        actor: str,
        request_id: str | None,
    ) -> Room:
        check_settings(settings)
        async with self.pool.acquire() as conn, conn.transaction():
            rid = await conn.fetchval(
                "INSERT INTO rooms (name, settings, scheduled_for, created_by) VALUES ($1, $2, $3, $4) RETURNING id",
                name,
                settings,
                scheduled_for,
                actor,
            )
            room = await self._fetch(conn, rid)
            await audit.record(
                conn,
                actor=actor,
                action="room.create",
                target=f"room:{rid}",
                after=msgspec.to_builtins(room),
                request_id=request_id,
            )
            await self._announce(conn, room, "created", None)
        return room

    async def update(
        self, room_id: uuid.UUID, changes: dict[str, Any], *, actor: str, request_id: str | None
    ) -> Room:
        async with self.pool.acquire() as conn, conn.transaction():
            before = await self._fetch(conn, room_id, lock=True)
            if before.status == "ended":
                raise Conflict("the room has ended and can no longer be changed")
            settings = changes.get("settings", before.settings)
            check_settings(settings)
            await conn.execute(
                "UPDATE rooms SET name=$2, settings=$3, scheduled_for=$4, updated_at=now(), version=version+1"
                " WHERE id=$1",
                room_id,
                changes.get("name", before.name),
                settings,
                changes.get("scheduled_for", before.scheduled_for),
            )
            room = await self._fetch(conn, room_id)
            await audit.record(
                conn,
                actor=actor,
                action="room.update",
                target=f"room:{room_id}",
                before=msgspec.to_builtins(before),
                after=msgspec.to_builtins(room),
                request_id=request_id,
            )
            await self._announce(conn, room, "updated", None)
        return room

    async def delete(self, room_id: uuid.UUID, *, actor: str, request_id: str | None) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            before = await self._fetch(conn, room_id, lock=True)
            await conn.execute("DELETE FROM rooms WHERE id=$1", room_id)
            await audit.record(
                conn,
                actor=actor,
                action="room.delete",
                target=f"room:{room_id}",
                before=msgspec.to_builtins(before),
                request_id=request_id,
            )
            await self._announce(conn, before, "deleted", None)

    async def join(
        self,
        room_id: uuid.UUID,
        user_id: str,
        *,
        role: str = "participant",
        actor: str,
        request_id: str | None,
    ) -> tuple[Room, bool]:
        """Take a seat; (room, False) when the user was already in. 409s name the reason."""
        async with self.pool.acquire() as conn, conn.transaction():
            room = await self._fetch(conn, room_id, lock=True)  # serialises every seat change
            if room.status == "ended":
                raise Conflict("the room has ended")
            present = await conn.fetchval(
                "SELECT 1 FROM room_participants WHERE room_id=$1 AND user_id=$2 AND left_at IS NULL",
                room_id,
                user_id,
            )
            if present:
                return room, False
            settings = check_settings(room.settings)
            if settings.locked:
                raise Conflict("the room is locked")
            if (
                settings.max_participants is not None
                and room.participants >= settings.max_participants
            ):
                raise Conflict(f"the room is full ({settings.max_participants} participants)")
            await conn.execute(
                """
                INSERT INTO room_participants (room_id, user_id, role) VALUES ($1, $2, $3)
                ON CONFLICT (room_id, user_id) DO UPDATE SET joined_at = now(), left_at = NULL, role = EXCLUDED.role
                """,
                room_id,
                user_id,
                role,
            )
            if room.status == "scheduled":
                await conn.execute(
                    "UPDATE rooms SET status='active', started_at=now(), updated_at=now() WHERE id=$1",
                    room_id,
                )
            room = await self._fetch(conn, room_id)
            await audit.record(
                conn,
                actor=actor,
                action="room.join",
                target=f"room:{room_id}",
                after={"user_id": user_id, "participants": room.participants},
                request_id=request_id,
            )
            await self._announce(conn, room, "joined", user_id)
        return room, True

    async def leave(
        self, room_id: uuid.UUID, user_id: str, *, actor: str, request_id: str | None
    ) -> Room:
        async with self.pool.acquire() as conn, conn.transaction():
            room = await self._fetch(conn, room_id, lock=True)
            if room.status == "ended":
                raise Conflict("the room has ended")
            left = await conn.fetchval(
                "UPDATE room_participants SET left_at = now() WHERE room_id=$1 AND user_id=$2 AND left_at IS NULL"
                " RETURNING 1",
                room_id,
                user_id,
            )
            if not left:
                raise Conflict(f"{user_id} is not in the room")
            room = await self._fetch(conn, room_id)
            await audit.record(
                conn,
                actor=actor,
                action="room.leave",
                target=f"room:{room_id}",
                after={"user_id": user_id, "participants": room.participants},
                request_id=request_id,
            )
            await self._announce(conn, room, "left", user_id)
        return room

    async def end(self, room_id: uuid.UUID, *, actor: str, request_id: str | None) -> Room:
        async with self.pool.acquire() as conn, conn.transaction():
            room = await self._fetch(conn, room_id, lock=True)
            if room.status == "ended":
                raise Conflict("the room has already ended")
            await conn.execute(
                "UPDATE room_participants SET left_at = now() WHERE room_id=$1 AND left_at IS NULL",
                room_id,
            )
            await conn.execute(
                "UPDATE rooms SET status='ended', ended_at=now(), updated_at=now() WHERE id=$1",
                room_id,
            )
            room = await self._fetch(conn, room_id)
            await audit.record(
                conn,
                actor=actor,
                action="room.end",
                target=f"room:{room_id}",
                after={"status": "ended"},
                request_id=request_id,
            )
            await self._announce(conn, room, "ended", None)
        return room
