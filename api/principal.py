"""Who is calling: the principal a bearer token or client certificate stands for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from api.keys import REQUEST_ID


@dataclass(frozen=True)
class Principal:
    sub: str
    client_id: str
    scopes: frozenset[str]
    claims: dict[str, Any]

    @property
    def actor(self) -> str:
        return f"client:{self.client_id}" if self.sub == self.client_id else f"user:{self.sub}"


PRINCIPAL = web.RequestKey("principal", Principal)


def change_context(request: web.Request) -> dict[str, Any]:
    """Who is changing something, and under which request: what every audited write takes."""
    return {"actor": request[PRINCIPAL].actor, "request_id": request[REQUEST_ID]}
