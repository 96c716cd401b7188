"""Signing a user in with email and password (password grant and login page): brute-force
guard, constant-cost misses, and the audit rows of failures and successes."""

from __future__ import annotations

import functools
import uuid
from typing import TYPE_CHECKING

import asyncpg

from hearth_core import audit
from hearth_core.identity.errors import TooManyAttempts
from hearth_core.security.passwords import hash_password, verify_password_async
from hearth_core.users import repo as users

if TYPE_CHECKING:
    from hearth_core.identity.provider import IdentityProvider


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the user does not exist, so a miss costs as much as a wrong password."""
    return hash_password("hearth-no-such-user")


async def authenticate_user(
    idp: IdentityProvider,
    email: str,
    password: str,
    *,
    client_id: str,
    request_id: str | None,
    remote: str | None = None,
) -> uuid.UUID | None:
    """The user's id when the password is right and the account active; audits failures.

    Raises TooManyAttempts while the account or address is locked out (brute force)."""
    wait = await idp.guard.retry_after(email, remote)
    if wait > 0:
        raise TooManyAttempts(wait)
    rec = await users.find_login(idp.pool, idp.cipher, email)
    stored = rec.password_hash if rec is not None and rec.password_hash else _dummy_hash()
    ok = await verify_password_async(stored, password)
    if rec is not None and ok and rec.password_hash and rec.status == "active":
        await idp.guard.succeeded(email)
        return rec.user_id
    await idp.guard.failed(email, remote)
    async with idp.pool.acquire() as conn:
        await audit.record(
            conn,
            actor=f"client:{client_id}",
            action="login.failed",
            target=f"user:{rec.user_id}" if rec is not None else "user:unknown",
            after={"reason": "inactive" if rec is not None and ok else "bad credentials"},
            request_id=request_id,
        )
    return None


async def record_login(
    conn: asyncpg.Connection, user_id: uuid.UUID, client_id: str, grant: str, request_id: str | None
) -> None:
    """A successful sign-in: last_login, and the audit row."""
    await users.touch_last_login(conn, user_id)
    await audit.record(
        conn,
        actor=f"user:{user_id}",
        action="login",
        target=f"user:{user_id}",
        after={"client_id": client_id, "grant": grant},
        request_id=request_id,
    )
