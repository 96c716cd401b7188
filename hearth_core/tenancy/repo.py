"""SQL for ``metric_tenants``."""

from __future__ import annotations

from typing import TypeAlias

import asyncpg

Db: TypeAlias = asyncpg.Connection | asyncpg.Pool
_COLUMNS = "client_id, namespace, tenant, updated_at, updated_by"


async def list_all(db: Db) -> list[asyncpg.Record]:
    return await db.fetch(f"SELECT {_COLUMNS} FROM metric_tenants ORDER BY client_id")  # noqa: S608


async def get(db: Db, client_id: str) -> asyncpg.Record | None:
    return await db.fetchrow(
        f"SELECT {_COLUMNS} FROM metric_tenants WHERE client_id = $1",  # noqa: S608
        client_id,
    )


async def upsert(
    conn: asyncpg.Connection, client_id: str, namespace: str, tenant: str | None, actor: str
) -> asyncpg.Record:
    row = await conn.fetchrow(
        "INSERT INTO metric_tenants (client_id, namespace, tenant, updated_by)"
        " VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (client_id) DO UPDATE SET namespace = excluded.namespace,"
        " tenant = excluded.tenant, updated_at = now(), updated_by = excluded.updated_by"
        " RETURNING client_id, namespace, tenant, updated_at, updated_by",
        client_id,
        namespace,
        tenant,
        actor,
    )
    assert row is not None
    return row


async def delete(conn: asyncpg.Connection, client_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"DELETE FROM metric_tenants WHERE client_id = $1 RETURNING {_COLUMNS}",  # noqa: S608
        client_id,
    )
