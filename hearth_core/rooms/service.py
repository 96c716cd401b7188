"""Conference rooms (filled in below)."""

from __future__ import annotations

import asyncpg


class RoomService:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
