"""The command slice as the app and ``hearth worker`` hold it: the SOP template catalog, the
API's operations on commands, and the queue the workers take them from — one pool, one set of
callable routes."""

from __future__ import annotations

import asyncpg

from hearth_core.commands.catalog import TemplateCatalog
from hearth_core.commands.model import RouteRef
from hearth_core.commands.operations import CommandOperations
from hearth_core.commands.queue import CommandQueue


class CommandService:
    def __init__(self, pool: asyncpg.Pool, routes: dict[str, RouteRef] | None = None) -> None:
        self.pool = pool
        self.templates = TemplateCatalog(pool, routes)
        self.commands = CommandOperations(pool, self.templates)
        self.queue = CommandQueue(pool)
