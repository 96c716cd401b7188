"""All of the identity slice's SQL: clients, signing keys, authorization codes, refresh tokens
and their families, revocations.

Every function takes a connection (or a pool for a single read); the caller owns the
transaction. Opaque tokens and codes are stored only as their hashes (``tokens.token_hash``).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg

from hearth_core.db.locked import fetch_locked

# ------------------------------------------------------------------------------ clients


async def insert_client(
    conn: asyncpg.Connection,
    *,
    client_id: str,
    name: str,
    confidential: bool,
    secret_hash: bytes | None,
    grants: list[str],
    scopes: list[str],
    redirect_uris: list[str],
) -> asyncpg.Record:
    """The new row; ``asyncpg.UniqueViolationError`` when ``client_id`` is taken."""
    return await conn.fetchrow(
        """
        INSERT INTO oauth_clients (client_id, name, confidential, secret_hash, grants, scopes, redirect_uris)
        VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *
        """,
        client_id,
        name,
        confidential,
        secret_hash,
        grants,
        scopes,
        redirect_uris,
    )


async def update_client(
    conn: asyncpg.Connection,
    client_id: str,
    *,
    name: str,
    grants: list[str],
    scopes: list[str],
    redirect_uris: list[str],
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """
        UPDATE oauth_clients SET name=$2, grants=$3, scopes=$4, redirect_uris=$5, updated_at=now()
        WHERE client_id=$1 RETURNING *
        """,
        client_id,
        name,
        grants,
        scopes,
        redirect_uris,
    )


async def get_client(
    conn: asyncpg.Connection | asyncpg.Pool, client_id: str
) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM oauth_clients WHERE client_id = $1", client_id)


async def client_for_update(conn: asyncpg.Connection, client_id: str) -> asyncpg.Record:
    """The client's row locked until the transaction ends, or NotFound."""
    return await fetch_locked(
        conn, "oauth_clients", {"client_id": client_id}, missing=f"no client {client_id!r}"
    )


async def list_clients(conn: asyncpg.Connection | asyncpg.Pool) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM oauth_clients ORDER BY created_at, client_id")


async def upsert_public_client(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    client_id: str,
    name: str,
    grants: list[str],
    scopes: list[str],
    redirect_uri: str,
) -> None:
    """Create a first-party public client, or bring an existing one's scopes up to date and add
    ``redirect_uri`` to its redirect URIs (the ones an operator added stay)."""
    await conn.execute(
        """
        INSERT INTO oauth_clients (client_id, name, confidential, grants, scopes, redirect_uris)
        VALUES ($1, $2, false, $3, $4, ARRAY[$5])
        ON CONFLICT (client_id) DO UPDATE SET
            scopes = EXCLUDED.scopes,
            redirect_uris = CASE WHEN $5 = ANY (oauth_clients.redirect_uris)
                                 THEN oauth_clients.redirect_uris
                                 ELSE oauth_clients.redirect_uris || $5 END
        """,
        client_id,
        name,
        grants,
        scopes,
        redirect_uri,
    )


async def set_client_secret(conn: asyncpg.Connection, client_id: str, secret_hash: bytes) -> None:
    await conn.execute(
        "UPDATE oauth_clients SET secret_hash=$2, secret_rotated_at=now(), updated_at=now()"
        " WHERE client_id=$1",
        client_id,
        secret_hash,
    )


async def delete_client(conn: asyncpg.Connection, client_id: str) -> bool:
    """Whether a client was deleted; its codes, refresh tokens and families go with it."""
    return await conn.execute("DELETE FROM oauth_clients WHERE client_id=$1", client_id) != (
        "DELETE 0"
    )


# ------------------------------------------------------------------------------ revocations


async def persist_revocation(
    conn: asyncpg.Connection, kind: str, value: str, *, expires_in: float
) -> None:
    """Revoke a token (jti), family (sid), subject (sub) or client (cid) for ``expires_in`` s."""
    await conn.execute(
        """
        INSERT INTO revocations (kind, value, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3))
        ON CONFLICT (kind, value) DO UPDATE SET revoked_at = now(), expires_at = EXCLUDED.expires_at
        """,
        kind,
        value,
        float(expires_in),
    )


async def live_revocations(conn: asyncpg.Connection | asyncpg.Pool) -> list[asyncpg.Record]:
    """(kind, value, revoked, expires) of every unexpired revocation; times in epoch seconds."""
    return await conn.fetch(
        "SELECT kind, value, extract(epoch FROM revoked_at)::float8 AS revoked,"
        " extract(epoch FROM expires_at)::float8 AS expires"
        " FROM revocations WHERE expires_at > now()"
    )


# ------------------------------------------------------------------------------ signing keys

_KEY_LOCK = 0x7369676E  # "sign": key creation and rotation happen one at a time


async def lock_signing_keys(conn: asyncpg.Connection) -> None:
    """Serialise key creation/rotation until the caller's transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _KEY_LOCK)


async def has_active_key(conn: asyncpg.Connection) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM signing_keys WHERE retired_at IS NULL"))


async def insert_signing_key(
    conn: asyncpg.Connection, *, kid: str, alg: str, private_enc: bytes, public_jwk: dict[str, str]
) -> None:
    await conn.execute(
        "INSERT INTO signing_keys (kid, alg, private_enc, public_jwk) VALUES ($1, $2, $3, $4)",
        kid,
        alg,
        private_enc,
        public_jwk,
    )


async def published_keys(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every key still in the JWKS, oldest first."""
    return await conn.fetch(
        "SELECT * FROM signing_keys WHERE expires_at IS NULL OR expires_at > now()"
        " ORDER BY created_at"
    )


async def retire_active_keys(conn: asyncpg.Connection, *, keep_for: timedelta) -> list[str]:
    """Stop the active keys signing; they stay published for ``keep_for``. Their kids."""
    rows = await conn.fetch(
        "UPDATE signing_keys SET retired_at = now(), expires_at = now() + $1"
        " WHERE retired_at IS NULL RETURNING kid",
        keep_for,
    )
    return [r["kid"] for r in rows]


# ------------------------------------------------------------------------------ refresh tokens


async def insert_family(
    conn: asyncpg.Connection, family_id: uuid.UUID, client_id: str, user_id: uuid.UUID | None
) -> None:
    await conn.execute(
        "INSERT INTO token_families (family_id, client_id, user_id) VALUES ($1, $2, $3)",
        family_id,
        client_id,
        user_id,
    )


async def insert_refresh_token(
    conn: asyncpg.Connection,
    *,
    token_hash: bytes,
    family_id: uuid.UUID,
    client_id: str,
    user_id: uuid.UUID | None,
    scope: str,
    auth_time: int | None,
    ttl: float,
) -> None:
    await conn.execute(
        """
        INSERT INTO refresh_tokens (token_hash, family_id, client_id, user_id, scope, auth_time, expires_at)
        VALUES ($1, $2, $3, $4, $5, to_timestamp($6), now() + make_interval(secs => $7))
        """,
        token_hash,
        family_id,
        client_id,
        user_id,
        scope,
        float(auth_time) if auth_time is not None else None,
        float(ttl),
    )


async def refresh_token_for_update(
    conn: asyncpg.Connection, token_hash: bytes
) -> asyncpg.Record | None:
    """The refresh token, locked, with its family's ``family_revoked``, the ``user_status``,
    ``used_ago`` (seconds since first use), ``expired`` and ``auth_epoch``."""
    return await conn.fetchrow(
        """
        SELECT rt.*, f.revoked_at AS family_revoked, u.status AS user_status,
               extract(epoch FROM now() - rt.used_at) AS used_ago,
               rt.expires_at < now() AS expired,
               extract(epoch FROM rt.auth_time)::bigint AS auth_epoch
        FROM refresh_tokens rt
        JOIN token_families f USING (family_id)
        LEFT JOIN users u ON u.user_id = rt.user_id
        WHERE rt.token_hash = $1
        FOR UPDATE OF rt
        """,
        token_hash,
    )


async def mark_refresh_token_used(conn: asyncpg.Connection, token_hash: bytes) -> None:
    await conn.execute(
        "UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1 AND used_at IS NULL",
        token_hash,
    )


async def refresh_token_owner(conn: asyncpg.Connection, token_hash: bytes) -> asyncpg.Record | None:
    """(family_id, client_id) of a refresh token, whatever its state."""
    return await conn.fetchrow(
        "SELECT family_id, client_id FROM refresh_tokens WHERE token_hash = $1", token_hash
    )


async def active_refresh_token(
    conn: asyncpg.Connection | asyncpg.Pool, token_hash: bytes, *, reuse_grace: float
) -> asyncpg.Record | None:
    """(client_id, user_id, scope, exp, iat) of a refresh token that would still be accepted:
    unexpired, family not revoked, unused or used within ``reuse_grace`` s, user active."""
    return await conn.fetchrow(
        """
        SELECT rt.client_id, rt.user_id, rt.scope,
               extract(epoch FROM rt.expires_at)::bigint AS exp,
               extract(epoch FROM rt.issued_at)::bigint AS iat
        FROM refresh_tokens rt JOIN token_families f USING (family_id)
        LEFT JOIN users u ON u.user_id = rt.user_id
        WHERE rt.token_hash = $1 AND rt.expires_at > now() AND f.revoked_at IS NULL
          AND (rt.used_at IS NULL OR rt.used_at > now() - make_interval(secs => $2))
          AND coalesce(u.status, 'active') = 'active'
        """,
        token_hash,
        float(reuse_grace),
    )


async def revoke_family(conn: asyncpg.Connection, family_id: uuid.UUID, reason: str) -> bool:
    """Whether the family was still live (a revoked family keeps its first reason)."""
    status = await conn.execute(
        "UPDATE token_families SET revoked_at = now(), revoked_reason = $2"
        " WHERE family_id = $1 AND revoked_at IS NULL",
        family_id,
        reason,
    )
    return status != "UPDATE 0"


async def revoke_user_families(conn: asyncpg.Connection, user_id: uuid.UUID, reason: str) -> int:
    """Revoke every live family of ``user_id``; how many there were."""
    status = await conn.execute(
        "UPDATE token_families SET revoked_at = now(), revoked_reason = $2"
        " WHERE user_id = $1 AND revoked_at IS NULL",
        user_id,
        reason,
    )
    return int(status.split()[-1])


# ------------------------------------------------------------------------------ codes


async def insert_code(
    conn: asyncpg.Connection,
    *,
    code_hash: bytes,
    client_id: str,
    user_id: uuid.UUID,
    redirect_uri: str,
    scope: str,
    code_challenge: str,
    nonce: str | None,
    ttl: float,
) -> None:
    await conn.execute(
        """
        INSERT INTO auth_codes (code_hash, client_id, user_id, redirect_uri, scope,
                                code_challenge, nonce, auth_time, expires_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, now(), now() + make_interval(secs => $8))
        """,
        code_hash,
        client_id,
        user_id,
        redirect_uri,
        scope,
        code_challenge,
        nonce,
        float(ttl),
    )


async def code_for_update(conn: asyncpg.Connection, code_hash: bytes) -> asyncpg.Record | None:
    """The code, locked, with ``expired``, ``auth_epoch`` and its user's ``user_status``."""
    return await conn.fetchrow(
        """
        SELECT c.*, c.expires_at < now() AS expired,
               extract(epoch FROM c.auth_time)::bigint AS auth_epoch, u.status AS user_status
        FROM auth_codes c JOIN users u USING (user_id)
        WHERE c.code_hash = $1 FOR UPDATE OF c
        """,
        code_hash,
    )


async def consume_code(
    conn: asyncpg.Connection, code_hash: bytes, family_id: uuid.UUID | None
) -> bool:
    """Mark the code used, recording the family it produced; False if it was already used."""
    status = await conn.execute(
        "UPDATE auth_codes SET used_at = now(), family_id = $2"
        " WHERE code_hash = $1 AND used_at IS NULL",
        code_hash,
        family_id,
    )
    return status != "UPDATE 0"
