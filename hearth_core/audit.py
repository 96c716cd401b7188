"""The audit log: who changed what, before and after, under which request."""

from __future__ import annotations

from typing import Any

import asyncpg


async def record(
    conn: asyncpg.Connection,
    *,
    actor: str,
    action: str,
    target: str,
    before: Any = None,
    after: Any = None,
    request_id: str | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO audit_log (actor, action, target, before, after, request_id)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        actor,
        action,
        target,
        before,
        after,
        request_id,
    )
