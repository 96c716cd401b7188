"""SQL for the audit log (append-only; a trigger assigns ``seq`` and the hash chain)."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson

from hearth_core.db.paging import Where, fetch_page


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


async def record_many(
    conn: asyncpg.Connection,
    *,
    actor: str,
    entries: list[tuple[str, str, Any]],
    request_id: str | None = None,
) -> None:
    """One row per ``(action, target, after)``, in one statement (bulk imports)."""
    if not entries:
        return
    await conn.execute(
        """
        INSERT INTO audit_log (actor, action, target, after, request_id)
        SELECT $1, a, t, x::jsonb, $5 FROM unnest($2::text[], $3::text[], $4::text[]) AS u(a, t, x)
        """,
        actor,
        [a for a, _, _ in entries],
        [t for _, t, _ in entries],
        [orjson.dumps(x).decode() for _, _, x in entries],
        request_id,
    )


async def chain(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every row in ``seq`` order with three checks: its hash still matches its content
    (``intact``), its ``prev_hash`` is its predecessor's hash (``linked``), and ``step`` (1 unless
    rows are missing before it)."""
    return await conn.fetch(
        """
        SELECT seq, id,
               hash = sha256(prev_hash || audit_row_text(a)) AS intact,
               prev_hash = coalesce(lag(hash) OVER w, '\\x'::bytea) AS linked,
               seq - coalesce(lag(seq) OVER w, 0) AS step
        FROM audit_log a WINDOW w AS (ORDER BY seq)
        ORDER BY seq
        """
    )


async def count(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM audit_log"))


async def search(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    actor: str | None,
    action: str | None,
    target: str | None,
    since: Any,
    until: Any,
    limit: int,
    page: int,
) -> tuple[list[asyncpg.Record], int]:
    where = (
        Where()
        .eq("actor", actor)
        .prefix("action", action)
        .prefix("target", target)
        .since("at", since)
        .until("at", until)
    )
    return await fetch_page(
        conn,
        select="seq, at, actor, action, target, before, after, request_id,"
        " encode(hash, 'hex') AS hash",
        from_="audit_log",
        where=where,
        order_by="seq DESC",
        page=page,
        limit=limit,
    )
