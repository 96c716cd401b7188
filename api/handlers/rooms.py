"""Conference rooms: /v1/conference/rooms (room.read / room.write), with a participant stream."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from aiohttp import web

from api.jsonio import json_response, read_document, read_query
from api.keys import ROOMS
from api.principal import PRINCIPAL, change_context
from api.routing import Routes
from api.sse import EventStream
from hearth_core.db.paging import Page
from hearth_core.errors import NotFound
from hearth_core.rooms.model import Participant, Room, Sort

routes = Routes("rooms")
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class NewRoom(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Name
    settings: dict[str, Any] = {}
    scheduled_for: datetime | None = None


class RoomUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    settings: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    scheduled_for: datetime | msgspec.UnsetType | None = msgspec.UNSET


class RoomQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    status: Literal["scheduled", "active", "ended"] | None = None
    sort: Sort = "-created_at"
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 50
    page: Annotated[int, msgspec.Meta(ge=1)] = 1


class AddParticipant(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    user_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    role: Literal["participant", "moderator", "viewer"] = "participant"


class ParticipantQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    include_left: bool = False


class ParticipantList(msgspec.Struct, kw_only=True):
    items: list[Participant]
    total: int


_new = msgspec.json.Decoder(NewRoom)
_update = msgspec.json.Decoder(RoomUpdate)
_add = msgspec.json.Decoder(AddParticipant)


def _id(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["room_id"])
    except ValueError:
        raise NotFound(f"no room {request.match_info['room_id']!r}") from None


@routes.get(
    "/v1/conference/rooms",
    scope="room.read",
    summary="List rooms (status filter, sort, pages)",
    query=RoomQuery,
    response=Page[Room],
)
async def list_rooms(request: web.Request) -> web.Response:
    q = read_query(request, RoomQuery)
    return json_response(
        await request.app[ROOMS].list(status=q.status, sort=q.sort, limit=q.limit, page=q.page)
    )


@routes.post(
    "/v1/conference/rooms",
    scope="room.write",
    summary="Create a room",
    body=NewRoom,
    response=Room,
    status=201,
)
async def create_room(request: web.Request) -> web.Response:
    body = await read_document(request, _new)
    room = await request.app[ROOMS].create(
        name=body.name,
        settings=body.settings,
        scheduled_for=body.scheduled_for,
        **change_context(request),
    )
    return json_response(room, status=201)


@routes.get("/v1/conference/rooms/{room_id}", scope="room.read", summary="One room", response=Room)
async def get_room(request: web.Request) -> web.Response:
    return json_response(await request.app[ROOMS].get(_id(request)))


@routes.put(
    "/v1/conference/rooms/{room_id}",
    scope="room.write",
    summary="Change name, settings or schedule (not after it ended)",
    body=RoomUpdate,
    response=Room,
)
async def update_room(request: web.Request) -> web.Response:
    body = await read_document(request, _update)
    changes = {k: v for k, v in msgspec.structs.asdict(body).items() if v is not msgspec.UNSET}
    return json_response(
        await request.app[ROOMS].update(_id(request), changes, **change_context(request))
    )


@routes.delete(
    "/v1/conference/rooms/{room_id}", scope="room.write", summary="Delete a room", status=204
)
async def delete_room(request: web.Request) -> web.Response:
    await request.app[ROOMS].delete(_id(request), **change_context(request))
    return web.Response(status=204)


@routes.get(
    "/v1/conference/rooms/{room_id}/participants",
    scope="room.read",
    summary="Who is in the room (include_left for everyone who was)",
    query=ParticipantQuery,
    response=ParticipantList,
)
async def list_participants(request: web.Request) -> web.Response:
    q = read_query(request, ParticipantQuery)
    items = await request.app[ROOMS].participants(_id(request), include_left=q.include_left)
    return json_response(ParticipantList(items=items, total=len(items)))


@routes.post(
    "/v1/conference/rooms/{room_id}/participants",
    scope="room.write",
    summary="Add someone to the room (same rules as joining)",
    body=AddParticipant,
    response=Room,
    status=201,
    responses={409: "ended, locked or full"},
)
async def add_participant(request: web.Request) -> web.Response:
    body = await read_document(request, _add)
    room, added = await request.app[ROOMS].join(
        _id(request), body.user_id, role=body.role, **change_context(request)
    )
    return json_response(room, status=201 if added else 200)


@routes.post(
    "/v1/conference/rooms/{room_id}/join",
    scope="room.write",
    summary="Join the room yourself",
    response=Room,
    responses={409: "ended, locked or full"},
)
async def join_room(request: web.Request) -> web.Response:
    room, _ = await request.app[ROOMS].join(
        _id(request), request[PRINCIPAL].sub, **change_context(request)
    )
    return json_response(room)


@routes.post(
    "/v1/conference/rooms/{room_id}/leave",
    scope="room.write",
    summary="Leave the room",
    response=Room,
    responses={409: "not in the room, or it ended"},
)
async def leave_room(request: web.Request) -> web.Response:
    return json_response(
        await request.app[ROOMS].leave(
            _id(request), request[PRINCIPAL].sub, **change_context(request)
        )
    )


@routes.post(
    "/v1/conference/rooms/{room_id}/end",
    scope="room.write",
    summary="End (archive) the room: everyone leaves",
    response=Room,
    responses={409: "already ended"},
)
async def end_room(request: web.Request) -> web.Response:
    return json_response(await request.app[ROOMS].end(_id(request), **change_context(request)))


@routes.get(
    "/v1/conference/rooms/{room_id}/events",
    scope="room.read",
    summary="Server-Sent Events: participant and status changes of one room",
    content_types=("text/event-stream",),
)
async def room_events(request: web.Request) -> web.StreamResponse:
    svc = request.app[ROOMS]
    room = await svc.get(_id(request))
    with svc.subscribe(room.id) as events:
        async with EventStream(request) as out:
            # The room as it is now: where a (re)connecting client starts from.
            await out.send(msgspec.json.encode(room), event="room")
            async for ev in out.follow(events):
                await out.send(msgspec.json.encode(ev), event=ev.action)
                if ev.action in ("ended", "deleted"):
                    break
    return out.response
