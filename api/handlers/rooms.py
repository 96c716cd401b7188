"""Conference rooms: /v1/conference/rooms (room.read / room.write)."""

from __future__ import annotations

from api.routing import Routes

routes = Routes("rooms")
