"""Conference rooms: scheduled → active (first join) → ended (archived, everyone out).

Seats are taken under the room's row lock, so two people racing for the last seat cannot both
get it. Every change is audited and announced (NOTIFY "room"), which feeds the participant
stream of every worker.
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from hearth_core.broadcast import Broadcast, Subscription
from hearth_core.db.audited import AuditedWrite, audited_write
from hearth_core.db.paging import Page
from hearth_core.errors import Conflict, NotFound
from hearth_core.rooms import repo
from hearth_core.rooms.model import Participant, Room, RoomEvent, Sort, check_settings


class RoomService:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.events: Broadcast[RoomEvent] = Broadcast()  # one topic per room id

    # --------------------------------------------------------------- stream
    async def on_event(self, event: dict[str, Any]) -> None:
        try:
            ev = msgspec.convert(event.get("event"), RoomEvent)
        except msgspec.ValidationError:
            return
        self.events.publish(ev, ev.room_id)

    def subscribe(
        self, room_id: uuid.UUID
    ) -> contextlib.AbstractContextManager[Subscription[RoomEvent]]:
        return self.events.subscribe(str(room_id))

    def close_subscribers(self) -> None:
        self.events.close()

    async def _announce(
        self, w: AuditedWrite, room: Room, action: str, user_id: str | None
    ) -> None:
        ev = RoomEvent(
            room_id=str(room.id),
            action=action,
            user_id=user_id,
            participants=room.participants,
            status=room.status,
        )
        await w.notify("room", event=msgspec.to_builtins(ev))

    # ---------------------------------------------------------------- reads
    async def get(self, room_id: uuid.UUID) -> Room:
        room = await repo.get(self.pool, room_id)
        if room is None:
            raise NotFound(f"no room {room_id}")
        return room

    async def list(self, *, status: str | None, sort: Sort, limit: int, page: int) -> Page[Room]:
        items, total = await repo.find(self.pool, status=status, sort=sort, page=page, limit=limit)
        return Page(items=items, page=page, limit=limit, total=total)

    async def participants(self, room_id: uuid.UUID, *, include_left: bool) -> list[Participant]:
        await self.get(room_id)
        return await repo.participants(self.pool, room_id, include_left=include_left)

    # --------------------------------------------------------------- writes
    async def _current(self, conn: asyncpg.Connection, room_id: uuid.UUID) -> Room:
        room = await repo.get(conn, room_id)
        assert room is not None  # written in this transaction
        return room

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
        async with audited_write(self.pool, actor=actor, request_id=request_id) as w:
            rid = await repo.insert(
                w.conn, name=name, settings=settings, scheduled_for=scheduled_for, created_by=actor
            )
            room = await self._current(w.conn, rid)
            await w.audit("room.create", f"room:{rid}", after=msgspec.to_builtins(room))
            await self._announce(w, room, "created", None)
        return room

    async def update(
        self, room_id: uuid.UUID, changes: dict[str, Any], *, actor: str, request_id: str | None
    ) -> Room:
        async with audited_write(self.pool, actor=actor, request_id=request_id) as w:
            before = await repo.lock(w.conn, room_id)
            if before.status == "ended":
                raise Conflict("the room has ended and can no longer be changed")
            settings = changes.get("settings", before.settings)
            check_settings(settings)
            await repo.update(
                w.conn,
                room_id,
                name=changes.get("name", before.name),
                settings=settings,
                scheduled_for=changes.get("scheduled_for", before.scheduled_for),
            )
            room = await self._current(w.conn, room_id)
            await w.audit(
                "room.update",
                f"room:{room_id}",
                before=msgspec.to_builtins(before),
                after=msgspec.to_builtins(room),
            )
            await self._announce(w, room, "updated", None)
        return room

    async def delete(self, room_id: uuid.UUID, *, actor: str, request_id: str | None) -> None:
        async with audited_write(self.pool, actor=actor, request_id=request_id) as w:
            before = await repo.lock(w.conn, room_id)
            await repo.delete(w.conn, room_id)
            await w.audit("room.delete", f"room:{room_id}", before=msgspec.to_builtins(before))
            await self._announce(w, before, "deleted", None)

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
        async with audited_write(self.pool, actor=actor, request_id=request_id) as w:
            room = await repo.lock(w.conn, room_id)  # serialises every seat change
            if room.status == "ended":
                raise Conflict("the room has ended")
            if await repo.is_present(w.conn, room_id, user_id):
                return room, False
            settings = check_settings(room.settings)
            if settings.locked:
                raise Conflict("the room is locked")
            if (
                settings.max_participants is not None
                and room.participants >= settings.max_participants
            ):
                raise Conflict(f"the room is full ({settings.max_participants} participants)")
            await repo.seat(w.conn, room_id, user_id, role)
            if room.status == "scheduled":
                await repo.start(w.conn, room_id)
            room = await self._current(w.conn, room_id)
            await w.audit(
                "room.join",
                f"room:{room_id}",
                after={"user_id": user_id, "participants": room.participants},
            )
            await self._announce(w, room, "joined", user_id)
        return room, True

    async def leave(
        self, room_id: uuid.UUID, user_id: str, *, actor: str, request_id: str | None
    ) -> Room:
        async with audited_write(self.pool, actor=actor, request_id=request_id) as w:
            room = await repo.lock(w.conn, room_id)
            if room.status == "ended":
                raise Conflict("the room has ended")
            if not await repo.unseat(w.conn, room_id, user_id):
                raise Conflict(f"{user_id} is not in the room")
            room = await self._current(w.conn, room_id)
            await w.audit(
                "room.leave",
                f"room:{room_id}",
                after={"user_id": user_id, "participants": room.participants},
            )
            await self._announce(w, room, "left", user_id)
        return room

    async def end(self, room_id: uuid.UUID, *, actor: str, request_id: str | None) -> Room:
        async with audited_write(self.pool, actor=actor, request_id=request_id) as w:
            room = await repo.lock(w.conn, room_id)
            if room.status == "ended":
                raise Conflict("the room has already ended")
            await repo.end(w.conn, room_id)
            room = await self._current(w.conn, room_id)
            await w.audit("room.end", f"room:{room_id}", after={"status": "ended"})
            await self._announce(w, room, "ended", None)
        return room
