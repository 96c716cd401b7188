"""SQL for config entries and their history, each function taking a connection."""

from __future__ import annotations

from typing import Any

import asyncpg

from hearth_core.db.paging import Where, fetch_page


async def all_entries(conn: asyncpg.Connection | asyncpg.Pool) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM config_entries")


async def get_entry(
    conn: asyncpg.Connection | asyncpg.Pool, env: str, key: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM config_entries WHERE environment=$1 AND key=$2", env, key
    )


async def lock_entry(conn: asyncpg.Connection, env: str, key: str) -> asyncpg.Record | None:
    """The entry, locked until the transaction ends; None when the key is new."""
    return await conn.fetchrow(
        "SELECT * FROM config_entries WHERE environment=$1 AND key=$2 FOR UPDATE", env, key
    )


async def last_version(conn: asyncpg.Connection, env: str, key: str) -> int:
    """The highest version the key ever had (0 if none), deleted versions included."""
    return int(
        await conn.fetchval(
            "SELECT coalesce(max(version), 0) FROM config_history WHERE environment=$1 AND key=$2",
            env,
            key,
        )
    )


async def upsert_entry(
    conn: asyncpg.Connection,
    env: str,
    key: str,
    *,
    value: Any,
    schema: dict[str, Any] | None,
    version: int,
    actor: str,
) -> asyncpg.Record:
    """Raises CheckViolationError for a malformed key."""
    return await conn.fetchrow(
        """
        INSERT INTO config_entries (environment, key, value, schema, version, updated_by)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (environment, key) DO UPDATE SET value=EXCLUDED.value, schema=EXCLUDED.schema,
            version=EXCLUDED.version, updated_at=now(), updated_by=EXCLUDED.updated_by
        RETURNING *
        """,
        env,
        key,
        value,
        schema,
        version,
        actor,
    )


async def delete_entry(conn: asyncpg.Connection, env: str, key: str) -> asyncpg.Record | None:
    """The deleted entry's version and value, or None when there was none."""
    return await conn.fetchrow(
        "DELETE FROM config_entries WHERE environment=$1 AND key=$2 RETURNING version, value",
        env,
        key,
    )


async def add_history(
    conn: asyncpg.Connection,
    env: str,
    key: str,
    *,
    version: int,
    value: Any,
    schema: dict[str, Any] | None,
    action: str,
    actor: str,
    request_id: str | None,
) -> None:
    await conn.execute(
        "INSERT INTO config_history (environment, key, version, value, schema, action, actor, request_id)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        env,
        key,
        version,
        value,
        schema,
        action,
        actor,
        request_id,
    )


async def history_version(
    conn: asyncpg.Connection, env: str, key: str, version: int
) -> asyncpg.Record | None:
    """One version's value and action."""
    return await conn.fetchrow(
        "SELECT value, action FROM config_history WHERE environment=$1 AND key=$2 AND version=$3",
        env,
        key,
        version,
    )


async def history_page(
    conn: asyncpg.Connection | asyncpg.Pool, env: str, key: str, *, page: int, limit: int
) -> tuple[list[asyncpg.Record], int]:
    """The key's versions, newest first."""
    return await fetch_page(
        conn,
        select="version, value, action, actor, at, request_id",
        from_="config_history",
        where=Where().add("environment = {}", env).add("key = {}", key),
        order_by="version DESC",
        page=page,
        limit=limit,
    )
