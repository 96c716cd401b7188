"""Unleash API tokens: create, list, revoke (audited), and the per-request check.

Every worker keeps the active tokens in memory, keyed by the SHA-256 of their secret, so a
request costs one hash and one dict lookup. A create or revoke commits with a NOTIFY every
worker hears (``flag_token``), so a revoked token stops working everywhere once its worker's
listener delivers it. A secret this worker has not heard of yet (created a moment ago through
another worker or the CLI) is looked up once in the database; secrets that are not there are
remembered as unknown until the next token event, so a stream of bad tokens costs no queries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

import asyncpg
import msgspec

from hearth_core.db.audited import audited_write
from hearth_core.errors import NotFound
from hearth_core.unleash import repo
from hearth_core.unleash.model import ApiToken, CreatedToken, TokenSpec
from hearth_core.unleash.tokens import hash_secret, hint, make_secret

log = logging.getLogger("hearth.unleash")
EVENT = "flag_token"
UNKNOWN_LIMIT = 10_000  # bad secrets remembered; past that the set starts over
USAGE_FLUSH_SECONDS = 60.0  # last_used_at is written at most this often per worker


def _public(token: ApiToken) -> dict[str, Any]:
    return msgspec.to_builtins(token)


async def create_token(
    db: asyncpg.Pool | asyncpg.Connection, spec: TokenSpec, *, actor: str, request_id: str | None
) -> CreatedToken:
    """A new token; its secret is in the answer and nowhere else (the audit row has the hint)."""
    secret = make_secret(spec.environment)
    async with audited_write(db, actor=actor, request_id=request_id) as w:
        token = await repo.insert_token(
            w.conn,
            name=spec.name or f"{spec.type} token for {spec.environment}",
            type_=spec.type,
            environment=spec.environment,
            secret_hash=hash_secret(secret),
            hint=hint(secret),
            created_by=actor,
        )
        await w.audit("flag_token.create", f"flag_token:{token.id}", after=_public(token))
        await w.notify(EVENT, id=str(token.id), action="create")
    return CreatedToken(**msgspec.structs.asdict(token), token=secret)


async def revoke_token(
    db: asyncpg.Pool | asyncpg.Connection,
    token_id: uuid.UUID,
    *,
    actor: str,
    request_id: str | None,
) -> ApiToken:
    """Revoke; revoking a revoked token again changes nothing. NotFound if there is none."""
    async with audited_write(db, actor=actor, request_id=request_id) as w:
        after = await repo.revoke_token(w.conn, token_id)
        if after is None:
            existing = await repo.token(w.conn, token_id)
            if existing is None:
                raise NotFound(f"no token {token_id}")
            return existing
        before = msgspec.structs.replace(after, revoked_at=None)
        await w.audit(
            "flag_token.revoke",
            f"flag_token:{token_id}",
            before=_public(before),
            after=_public(after),
        )
        await w.notify(EVENT, id=str(token_id), action="revoke")
    return after


class TokenService:
    def __init__(self, pool: asyncpg.Pool, *, usage_flush_seconds: float = USAGE_FLUSH_SECONDS):
        self.pool = pool
        self._by_hash: dict[bytes, ApiToken] = {}
        self._unknown: set[bytes] = set()
        self._used: set[uuid.UUID] = set()
        self._flush_every = usage_flush_seconds
        self._last_flush = time.monotonic()
        self._flushing: asyncio.Task[None] | None = None

    # ------------------------------------------------------------- memory
    async def load(self) -> None:
        active = await repo.active_by_hash(self.pool)
        self._by_hash = dict(active)
        self._unknown.clear()

    async def on_event(self, event: dict[str, Any]) -> None:
        """A token was created or revoked somewhere (this worker included)."""
        self._unknown.clear()
        if event.get("action") == "revoke":
            try:
                revoked = uuid.UUID(str(event.get("id")))
            except ValueError:
                await self.load()
                return
            self._by_hash = {h: t for h, t in self._by_hash.items() if t.id != revoked}

    async def close(self) -> None:
        if self._flushing is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._flushing
        await self.flush_usage()

    # --------------------------------------------------------------- check
    async def verify(self, secret: str) -> ApiToken | None:
        """The active token with this secret, or None."""
        digest = hash_secret(secret)
        token = self._by_hash.get(digest)
        if token is None:
            if digest in self._unknown:
                return None
            token = await repo.active_token(self.pool, digest)
            if token is None:
                if len(self._unknown) >= UNKNOWN_LIMIT:
                    self._unknown.clear()
                self._unknown.add(digest)
                return None
            self._by_hash[digest] = token
        self._touch(token.id)
        return token

    def _touch(self, token_id: uuid.UUID) -> None:
        self._used.add(token_id)
        now = time.monotonic()
        if now - self._last_flush >= self._flush_every and self._flushing is None:
            self._last_flush = now
            self._flushing = asyncio.create_task(self._flush_in_background())

    async def _flush_in_background(self) -> None:
        try:
            await self.flush_usage()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("could not record token use", extra={"error": repr(exc)})
        finally:
            self._flushing = None

    async def flush_usage(self) -> None:
        """Write last_used_at for the tokens used since the last flush."""
        used, self._used = list(self._used), set()
        if used:
            await repo.mark_used(self.pool, used)

    # -------------------------------------------------------------- admin
    async def list(self) -> list[ApiToken]:
        return await repo.tokens(self.pool)

    async def create(self, spec: TokenSpec, *, actor: str, request_id: str | None) -> CreatedToken:
        created = await create_token(self.pool, spec, actor=actor, request_id=request_id)
        # Usable on this worker at once, before its own NOTIFY comes back.
        self._by_hash[hash_secret(created.token)] = ApiToken(
            **{f: getattr(created, f) for f in ApiToken.__struct_fields__}
        )
        self._unknown.clear()
        return created

    async def revoke(self, token_id: uuid.UUID, *, actor: str, request_id: str | None) -> None:
        await revoke_token(self.pool, token_id, actor=actor, request_id=request_id)
        self._by_hash = {h: t for h, t in self._by_hash.items() if t.id != token_id}
