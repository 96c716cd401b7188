"""The audit log: GET /v1/audit (audit.read)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from aiohttp import web

from api.jsonio import json_response, read_query
from api.keys import DB_READ
from api.routing import Routes
from hearth_core.audit import service as audit
from hearth_core.audit.service import AuditEntry
from hearth_core.db.paging import Page

routes = Routes("audit")


class AuditQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    actor: str | None = None
    action: str | None = None  # prefix, e.g. "flag." or "user.create"
    target: str | None = None  # prefix, e.g. "user:" or "flag:new-checkout"
    since: datetime | None = None
    until: datetime | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 50
    page: Annotated[int, msgspec.Meta(ge=1)] = 1


@routes.get(
    "/v1/audit",
    scope="audit.read",
    summary="Who changed what, newest first (hash-chained)",
    query=AuditQuery,
    response=Page[AuditEntry],
)
async def list_audit(request: web.Request) -> web.Response:
    q = read_query(request, AuditQuery)
    page = await audit.search(
        request.app[DB_READ],
        actor=q.actor,
        action=q.action,
        target=q.target,
        since=q.since,
        until=q.until,
        limit=q.limit,
        page=q.page,
    )
    return json_response(page)
