"""What a conference room is, who is in it, and the events its stream carries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

import msgspec

from hearth_core.errors import InvalidInput

Status = Literal["scheduled", "active", "ended"]
Sort = Literal["created_at", "-created_at", "name", "-name"]


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
