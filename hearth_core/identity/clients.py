"""OAuth clients: storage, secrets (keyed hashes, fast to verify) and the in-memory directory."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from hearth_core import audit, events
from hearth_core.errors import Conflict, InvalidInput, NotFound
from hearth_core.scopes import ALL_SCOPES
from hearth_core.security.crypto import FieldCipher

GRANTS = ("authorization_code", "client_credentials", "password", "refresh_token")
OIDC_SCOPES = ("openid", "profile", "email", "offline_access")
KNOWN_SCOPES = frozenset(ALL_SCOPES) | frozenset(OIDC_SCOPES)
_SECRET_DOMAIN = "client-secret"  # noqa: S105 - a hash domain label, not a secret


@dataclass(frozen=True)
class Client:
    client_id: str
    name: str
    confidential: bool
    secret_hash: bytes | None
    grants: tuple[str, ...]
    scopes: tuple[str, ...]
    redirect_uris: tuple[str, ...]
    created_at: datetime
    updated_at: datetime

    def public_view(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "name": self.name,
            "confidential": self.confidential,
            "grants": list(self.grants),
            "scopes": list(self.scopes),
            "redirect_uris": list(self.redirect_uris),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def _row(r: asyncpg.Record) -> Client:
    return Client(
        client_id=r["client_id"],
        name=r["name"],
        confidential=r["confidential"],
        secret_hash=r["secret_hash"],
        grants=tuple(r["grants"]),
        scopes=tuple(r["scopes"]),
        redirect_uris=tuple(r["redirect_uris"]),
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


def hash_secret(cipher: FieldCipher, client_id: str, secret: str) -> bytes:
    return cipher.mac(_SECRET_DOMAIN, f"{client_id}\0{secret}".encode())


def verify_secret(cipher: FieldCipher, client: Client, secret: str) -> bool:
    if client.secret_hash is None:
        return False
    return hmac.compare_digest(client.secret_hash, hash_secret(cipher, client.client_id, secret))


def new_secret() -> str:
    return "hcs_" + secrets.token_urlsafe(32)  # 256 bits


def validate_spec(
    grants: list[str], scopes: list[str], redirect_uris: list[str], confidential: bool
) -> None:
    errors = []
    for i, g in enumerate(grants):
        if g not in GRANTS:
            errors.append({"path": f"$.grants[{i}]", "message": f"unknown grant {g!r}"})
    for i, s in enumerate(scopes):
        if s not in KNOWN_SCOPES:
            errors.append({"path": f"$.scopes[{i}]", "message": f"unknown scope {s!r}"})
    for i, uri in enumerate(redirect_uris):
        if not uri.startswith(("https://", "http://")) or "#" in uri:
            errors.append(
                {
                    "path": f"$.redirect_uris[{i}]",
                    "message": "must be an absolute http(s) URI without fragment",
                }
            )
    if not grants:
        errors.append({"path": "$.grants", "message": "at least one grant is required"})
    if "authorization_code" in grants and not redirect_uris:
        errors.append(
            {"path": "$.redirect_uris", "message": "authorization_code needs a redirect URI"}
        )
    if not confidential and ("client_credentials" in grants or "password" in grants):
        errors.append(
            {
                "path": "$.grants",
                "message": "a public client cannot use client_credentials or password",
            }
        )
    if errors:
        raise InvalidInput("invalid client definition", errors=errors)


async def create(
    conn: asyncpg.Connection,
    cipher: FieldCipher,
    *,
    name: str,
    grants: list[str],
    scopes: list[str],
    redirect_uris: list[str],
    confidential: bool = True,
    client_id: str | None = None,
    actor: str,
    request_id: str | None = None,
) -> tuple[Client, str | None]:
    """Create a client; the plain secret is returned once and never stored."""
    validate_spec(grants, scopes, redirect_uris, confidential)
    cid = client_id or "hc_" + secrets.token_urlsafe(12)
    secret = new_secret() if confidential else None
    async with conn.transaction():
        try:
            row = await conn.fetchrow(
                """
                INSERT INTO oauth_clients (client_id, name, confidential, secret_hash, grants, scopes, redirect_uris)
                VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *
                """,
                cid,
                name,
                confidential,
                hash_secret(cipher, cid, secret) if secret else None,
                sorted(set(grants)),
                sorted(set(scopes)),
                list(dict.fromkeys(redirect_uris)),
            )
        except asyncpg.UniqueViolationError:
            raise Conflict(f"client {cid!r} already exists") from None
        client = _row(row)
        await audit.record(
            conn,
            actor=actor,
            action="client.create",
            target=f"client:{cid}",
            after=client.public_view(),
            request_id=request_id,
        )
        await events.notify(conn, "client", client_id=cid)
    return client, secret


async def update(
    conn: asyncpg.Connection,
    client_id: str,
    *,
    name: str,
    grants: list[str],
    scopes: list[str],
    redirect_uris: list[str],
    actor: str,
    request_id: str | None = None,
) -> Client:
    async with conn.transaction():
        before = await get(conn, client_id, for_update=True)
        validate_spec(grants, scopes, redirect_uris, before.confidential)
        row = await conn.fetchrow(
            """
            UPDATE oauth_clients SET name=$2, grants=$3, scopes=$4, redirect_uris=$5, updated_at=now()
            WHERE client_id=$1 RETURNING *
            """,
            client_id,
            name,
            sorted(set(grants)),
            sorted(set(scopes)),
            list(dict.fromkeys(redirect_uris)),
        )
        client = _row(row)
        await audit.record(
            conn,
            actor=actor,
            action="client.update",
            target=f"client:{client_id}",
            before=before.public_view(),
            after=client.public_view(),
            request_id=request_id,
        )
        await events.notify(conn, "client", client_id=client_id)
    return client


async def get(conn: asyncpg.Connection, client_id: str, *, for_update: bool = False) -> Client:
    lock = " FOR UPDATE" if for_update else ""
    sql = "SELECT * FROM oauth_clients WHERE client_id = $1" + lock  # noqa: S608 - constant text
    row = await conn.fetchrow(sql, client_id)
    if row is None:
        raise NotFound(f"no client {client_id!r}")
    return _row(row)


async def list_all(conn: asyncpg.Connection) -> list[Client]:
    return [
        _row(r)
        for r in await conn.fetch("SELECT * FROM oauth_clients ORDER BY created_at, client_id")
    ]


async def rotate_secret(
    conn: asyncpg.Connection,
    cipher: FieldCipher,
    client_id: str,
    *,
    actor: str,
    request_id: str | None = None,
) -> str:
    secret = new_secret()
    async with conn.transaction():
        client = await get(conn, client_id, for_update=True)
        if not client.confidential:
            raise Conflict(f"client {client_id!r} is public and has no secret")
        await conn.execute(
            "UPDATE oauth_clients SET secret_hash=$2, secret_rotated_at=now(), updated_at=now() WHERE client_id=$1",
            client_id,
            hash_secret(cipher, client_id, secret),
        )
        await audit.record(
            conn,
            actor=actor,
            action="client.rotate_secret",
            target=f"client:{client_id}",
            request_id=request_id,
        )
        await events.notify(conn, "client", client_id=client_id)
    return secret


async def delete(
    conn: asyncpg.Connection,
    client_id: str,
    *,
    actor: str,
    revoke_for_seconds: int,
    request_id: str | None = None,
) -> None:
    """Delete the client; every token it was issued stops introspecting active."""
    async with conn.transaction():
        before = await get(conn, client_id, for_update=True)
        await conn.execute("DELETE FROM oauth_clients WHERE client_id=$1", client_id)
        await conn.execute(
            """
            INSERT INTO revocations (kind, value, expires_at)
            VALUES ('cid', $1, now() + make_interval(secs => $2))
            ON CONFLICT (kind, value) DO UPDATE SET revoked_at = now(), expires_at = EXCLUDED.expires_at
            """,
            client_id,
            revoke_for_seconds,
        )
        await audit.record(
            conn,
            actor=actor,
            action="client.delete",
            target=f"client:{client_id}",
            before=before.public_view(),
            request_id=request_id,
        )
        await events.notify(conn, "client", client_id=client_id)
        await events.notify(conn, "revocation")


class ClientDirectory:
    """Every client in memory, so authenticating one never waits on PostgreSQL."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._clients: dict[str, Client] = {}

    async def load(self) -> None:
        async with self._pool.acquire() as conn:
            self._clients = {c.client_id: c for c in await list_all(conn)}

    async def refresh_one(self, event: dict[str, Any]) -> None:
        cid = event.get("client_id")
        if not isinstance(cid, str):
            return
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM oauth_clients WHERE client_id=$1", cid)
        if row is None:
            self._clients.pop(cid, None)
        else:
            self._clients[cid] = _row(row)

    def get(self, client_id: str) -> Client | None:
        return self._clients.get(client_id)
