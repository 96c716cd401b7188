"""SQL for Unleash API tokens (``flag_api_tokens``) and registered SDK instances
(``flag_client_instances``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TypeAlias

import asyncpg
import msgspec

from hearth_core.unleash.model import ApiToken, ClientRegistration, TokenType

Db: TypeAlias = asyncpg.Connection | asyncpg.Pool
_COLUMNS = "id, name, type, environment, hint, created_at, created_by, last_used_at, revoked_at"


def _token(row: asyncpg.Record) -> ApiToken:
    # Rows come as ``*``: ApiToken ignores secret_hash, which never leaves this module.
    return msgspec.convert(dict(row), ApiToken)


async def insert_token(
    conn: asyncpg.Connection,
    *,
    name: str,
    type_: TokenType,
    environment: str,
    secret_hash: bytes,
    hint: str,
    created_by: str,
) -> ApiToken:
    row = await conn.fetchrow(
        "INSERT INTO flag_api_tokens (name, type, environment, secret_hash, hint, created_by)"
        " VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
        name,
        type_,
        environment,
        secret_hash,
        hint,
        created_by,
    )
    return _token(row)


async def tokens(db: Db) -> list[ApiToken]:
    rows = await db.fetch("SELECT * FROM flag_api_tokens ORDER BY created_at, id")
    return [_token(r) for r in rows]


async def active_by_hash(db: Db) -> list[tuple[bytes, ApiToken]]:
    rows = await db.fetch("SELECT * FROM flag_api_tokens WHERE revoked_at IS NULL")
    return [(bytes(r["secret_hash"]), _token(r)) for r in rows]


async def active_token(db: Db, secret_hash: bytes) -> ApiToken | None:
    row = await db.fetchrow(
        "SELECT * FROM flag_api_tokens WHERE secret_hash = $1 AND revoked_at IS NULL",
        secret_hash,
    )
    return None if row is None else _token(row)


async def token(db: Db, token_id: uuid.UUID) -> ApiToken | None:
    row = await db.fetchrow("SELECT * FROM flag_api_tokens WHERE id = $1", token_id)
    return None if row is None else _token(row)


async def revoke_token(conn: asyncpg.Connection, token_id: uuid.UUID) -> ApiToken | None:
    """The token, revoked now; None if there is no such token or it was revoked already."""
    row = await conn.fetchrow(
        "UPDATE flag_api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL"
        " RETURNING *",
        token_id,
    )
    return None if row is None else _token(row)


async def mark_used(db: Db, token_ids: list[uuid.UUID]) -> None:
    await db.execute(
        "UPDATE flag_api_tokens SET last_used_at = now() WHERE id = ANY($1::uuid[])", token_ids
    )


async def upsert_instance(
    db: Db, reg: ClientRegistration, environment: str, started: datetime | None
) -> None:
    await db.execute(
        """
        INSERT INTO flag_client_instances
            (app_name, instance_id, environment, sdk_version, strategies, started, interval_ms)
        VALUES ($1, $2, $3, $4, $5::text::jsonb, $6, $7)
        ON CONFLICT (app_name, instance_id, environment) DO UPDATE SET
            sdk_version = EXCLUDED.sdk_version, strategies = EXCLUDED.strategies,
            started = EXCLUDED.started, interval_ms = EXCLUDED.interval_ms, last_seen = now()
        """,
        reg.appName,
        reg.instanceId,
        environment,
        reg.sdkVersion,
        msgspec.json.encode(reg.strategies).decode(),
        started,
        reg.interval,
    )


async def instances(db: Db, environment: str | None = None) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT app_name, instance_id, environment, sdk_version, strategies::text AS strategies,"
        " started, interval_ms, first_seen, last_seen FROM flag_client_instances"
        " WHERE $1::text IS NULL OR environment = $1 ORDER BY app_name, instance_id",
        environment,
    )
