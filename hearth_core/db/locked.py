"""The row a write is about, locked for the rest of the transaction, or 404."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from hearth_core.errors import NotFound


async def fetch_locked(
    conn: asyncpg.Connection,
    table: str,
    key: Mapping[str, Any],
    *,
    missing: str,
    columns: str = "*",
) -> asyncpg.Record:
    """``SELECT columns FROM table WHERE k = $1 AND … FOR UPDATE``; :class:`NotFound` with
    ``missing`` as its detail when there is no such row. ``table``, ``columns`` and the keys are
    the repository's own identifiers; only the key values come from the caller."""
    if not conn.is_in_transaction():
        # Outside a transaction the lock would end with the statement: a bug, not a 404.
        raise RuntimeError("fetch_locked needs a transaction")
    where = " AND ".join(f"{column} = ${i}" for i, column in enumerate(key, start=1))
    row = await conn.fetchrow(
        f"SELECT {columns} FROM {table} WHERE {where} FOR UPDATE",  # noqa: S608 - fixed identifiers
        *key.values(),
    )
    if row is None:
        raise NotFound(missing)
    return row
