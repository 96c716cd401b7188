"""First-start work shared by ``hearth serve`` and ``hearth migrate``: schema, keys, first admin."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

import asyncpg

from hearth_core.db import migrations
from hearth_core.db.audited import audited_write
from hearth_core.db.pool import connect
from hearth_core.identity import repo as identity_repo
from hearth_core.identity.clients import OIDC_SCOPES
from hearth_core.roles import repo as roles_repo
from hearth_core.roles.model import ADMIN_ROLE
from hearth_core.scopes import ALL_SCOPES
from hearth_core.security.crypto import FieldCipher, MasterKeyRing, normalize_email
from hearth_core.security.keyring import load_field_cipher
from hearth_core.security.passwords import hash_password_async
from hearth_core.settings import Settings
from hearth_core.users import repo as users_repo
from hearth_core.users.pii import encrypt_profile


@dataclass(frozen=True)
class AdminCredentials:
    email: str
    password: str | None  # None when it came from the environment (never echoed back)
    generated: bool


async def prepare(settings: Settings) -> tuple[list[migrations.Migration], AdminCredentials | None]:
    """Apply migrations, make sure keys exist, seed the admin role and the first admin."""
    assert settings.database_url is not None
    conn = await connect(settings.database_url)
    try:
        applied = await migrations.apply_all(conn)
        ring = MasterKeyRing.from_settings(settings)
        cipher = await load_field_cipher(conn, ring)
        await ensure_admin_role(conn)
        creds = await ensure_first_admin(conn, cipher, settings)
        await ensure_console_client(conn, settings)
    finally:
        await conn.close()
    return applied, creds


async def ensure_admin_role(conn: asyncpg.Connection) -> None:
    # Re-seeded every start so scopes added by newer versions reach the admin role.
    await roles_repo.seed(conn, ADMIN_ROLE, "Full access", list(ALL_SCOPES))


async def ensure_first_admin(
    conn: asyncpg.Connection, cipher: FieldCipher, settings: Settings
) -> AdminCredentials | None:
    """Create the first admin unless one exists. Returns the credentials to print once."""
    async with audited_write(conn, actor="system:bootstrap", request_id=None) as w:
        await users_repo.lock_first_admin(conn)
        if await roles_repo.has_members(conn, ADMIN_ROLE):
            return None
        email = settings.bootstrap_admin_email or "admin@hearth.local"
        password = settings.bootstrap_admin_password
        generated = password is None
        if password is None:
            password = secrets.token_urlsafe(18)
        user_id = uuid.uuid4()
        norm = normalize_email(email)
        profile = encrypt_profile(cipher, user_id, norm, "Administrator", {})
        await users_repo.insert(
            conn, [users_repo.NewUser(user_id, profile, await hash_password_async(password))]
        )
        await roles_repo.grant_many(conn, [(user_id, ADMIN_ROLE)])
        await w.audit(
            "user.create", f"user:{user_id}", after={"email": "<encrypted>", "roles": [ADMIN_ROLE]}
        )
    return AdminCredentials(
        email=norm, password=password if generated else None, generated=generated
    )


CONSOLE_CLIENT_ID = "hearth-console"


async def ensure_console_client(
    conn: asyncpg.Connection | asyncpg.Pool, settings: Settings
) -> None:
    """The console's public client (authorization_code + PKCE), its redirect URI kept current."""
    redirect = f"{settings.public_base_url}/console/callback"
    scopes = sorted({*ALL_SCOPES, *OIDC_SCOPES})
    await identity_repo.upsert_public_client(
        conn,
        client_id=CONSOLE_CLIENT_ID,
        name="Hearth console",
        grants=["authorization_code", "refresh_token"],
        scopes=scopes,
        redirect_uri=redirect,
    )
