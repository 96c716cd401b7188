"""OAuth clients: their rules, secrets (keyed hashes, fast to verify), audited changes and the
in-memory directory every worker authenticates against."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from hearth_core.db.audited import audited_write
from hearth_core.errors import Conflict, InvalidInput, NotFound
from hearth_core.identity import repo
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
    db: asyncpg.Pool | asyncpg.Connection,
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
    async with audited_write(db, actor=actor, request_id=request_id) as w:
        try:
            row = await repo.insert_client(
                w.conn,
                client_id=cid,
                name=name,
                confidential=confidential,
                secret_hash=hash_secret(cipher, cid, secret) if secret else None,
                **_normalised(grants, scopes, redirect_uris),
            )
        except asyncpg.UniqueViolationError:
            raise Conflict(f"client {cid!r} already exists") from None
        client = _row(row)
        await w.audit("client.create", f"client:{cid}", after=client.public_view())
        await w.notify("client", client_id=cid)
    return client, secret


async def update(
    db: asyncpg.Pool | asyncpg.Connection,
    client_id: str,
    *,
    name: str,
    grants: list[str],
    scopes: list[str],
    redirect_uris: list[str],
    actor: str,
    request_id: str | None = None,
) -> Client:
    async with audited_write(db, actor=actor, request_id=request_id) as w:
        before = _row(await repo.client_for_update(w.conn, client_id))
        validate_spec(grants, scopes, redirect_uris, before.confidential)
        client = _row(
            await repo.update_client(
                w.conn, client_id, name=name, **_normalised(grants, scopes, redirect_uris)
            )
        )
        await w.audit(
            "client.update",
            f"client:{client_id}",
            before=before.public_view(),
            after=client.public_view(),
        )
        await w.notify("client", client_id=client_id)
    return client


async def get(db: asyncpg.Pool | asyncpg.Connection, client_id: str) -> Client:
    row = await repo.get_client(db, client_id)
    if row is None:
        raise NotFound(f"no client {client_id!r}")
    return _row(row)


async def list_all(db: asyncpg.Pool | asyncpg.Connection) -> list[Client]:
    return [_row(r) for r in await repo.list_clients(db)]


async def rotate_secret(
    db: asyncpg.Pool | asyncpg.Connection,
    cipher: FieldCipher,
    client_id: str,
    *,
    actor: str,
    request_id: str | None = None,
) -> str:
    secret = new_secret()
    async with audited_write(db, actor=actor, request_id=request_id) as w:
        client = _row(await repo.client_for_update(w.conn, client_id))
        if not client.confidential:
            raise Conflict(f"client {client_id!r} is public and has no secret")
        await repo.set_client_secret(w.conn, client_id, hash_secret(cipher, client_id, secret))
        await w.audit("client.rotate_secret", f"client:{client_id}")
        await w.notify("client", client_id=client_id)
    return secret


async def delete(
    db: asyncpg.Pool | asyncpg.Connection,
    client_id: str,
    *,
    actor: str,
    revoke_for_seconds: float,
    request_id: str | None = None,
) -> None:
    """Delete the client; every token it was issued stops introspecting active."""
    async with audited_write(db, actor=actor, request_id=request_id) as w:
        before = _row(await repo.client_for_update(w.conn, client_id))
        await repo.delete_client(w.conn, client_id)
        await repo.persist_revocation(w.conn, "cid", client_id, expires_in=revoke_for_seconds)
        await w.audit("client.delete", f"client:{client_id}", before=before.public_view())
        await w.notify("client", client_id=client_id)
        await w.notify("revocation")


def _normalised(
    grants: list[str], scopes: list[str], redirect_uris: list[str]
) -> dict[str, list[str]]:
    return {
        "grants": sorted(set(grants)),
        "scopes": sorted(set(scopes)),
        "redirect_uris": list(dict.fromkeys(redirect_uris)),
    }


class ClientDirectory:
    """Every client in memory, so authenticating one never waits on PostgreSQL."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._clients: dict[str, Client] = {}

    async def load(self) -> None:
        self._clients = {c.client_id: c for c in await list_all(self._pool)}

    async def refresh_one(self, event: dict[str, Any]) -> None:
        cid = event.get("client_id")
        if not isinstance(cid, str):
            return
        row = await repo.get_client(self._pool, cid)
        if row is None:
            self._clients.pop(cid, None)
        else:
            self._clients[cid] = _row(row)

    def get(self, client_id: str) -> Client | None:
        return self._clients.get(client_id)
