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


async def verify(conn: asyncpg.Connection) -> list[str]:
    """Walk the chain; return every break found (empty: intact).

    A changed row no longer hashes to its stored hash; a deleted row leaves a gap in ``seq``
    and a ``prev_hash`` that is not its predecessor's hash.
    """
    rows = await conn.fetch(
        """
        SELECT seq, id,
               hash = sha256(prev_hash || audit_row_text(a)) AS intact,
               prev_hash = coalesce(lag(hash) OVER w, '\\x'::bytea) AS linked,
               seq - coalesce(lag(seq) OVER w, 0) AS step
        FROM audit_log a WINDOW w AS (ORDER BY seq)
        ORDER BY seq
        """
    )
    problems = []
    for r in rows:
        if r["step"] != 1:
            problems.append(f"rows missing before seq {r['seq']} (id {r['id']})")
        if not r["intact"]:
            problems.append(f"row seq {r['seq']} (id {r['id']}) was changed")
        elif not r["linked"]:
            problems.append(f"row seq {r['seq']} (id {r['id']}) does not follow its predecessor")
    return problems


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
) -> tuple[list[dict[str, Any]], int]:
    where, args = [], []
    for clause, value in (
        ("actor = ${}", actor),
        ("action LIKE ${} || '%'", action),
        ("target LIKE ${} || '%'", target),
        ("at >= ${}", since),
        ("at < ${}", until),
    ):
        if value is not None:
            args.append(value)
            where.append(clause.format(len(args)))
    sql_where = (" WHERE " + " AND ".join(where)) if where else ""
    total = await conn.fetchval("SELECT count(*) FROM audit_log" + sql_where, *args)
    page_sql = (
        "SELECT seq, at, actor, action, target, before, after, request_id, encode(hash, 'hex') AS hash"
        f" FROM audit_log{sql_where} ORDER BY seq DESC LIMIT {int(limit)} OFFSET {int((page - 1) * limit)}"
    )
    rows = await conn.fetch(page_sql, *args)
    return [dict(r) for r in rows], total
