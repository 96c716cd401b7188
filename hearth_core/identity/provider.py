"""The OAuth 2.0 / OpenID Connect provider: one object holding the identity slice's state
(settings, pool, signing keys, client directory, revocation cache, brute-force guard) and
offering its operations. The work is done by the modules it delegates to:

- ``client_auth``: client authentication; ``grants``: the token endpoint;
- ``authorize``: the authorization-code flow's front half (request, login form, code);
- ``introspection``, ``token_revocation``, ``userinfo``: RFC 7662, RFC 7009, OIDC UserInfo;
- ``clients``, ``signing``: client management and key rotation; ``repo``: all of the SQL.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import asyncpg

from hearth_core.events import EventListener
from hearth_core.identity import (
    authorize,
    client_auth,
    clients,
    grants,
    introspection,
    signing,
    token_revocation,
    userinfo,
)
from hearth_core.identity.authorize import AuthRequest
from hearth_core.identity.bruteforce import BruteForceGuard
from hearth_core.identity.clients import Client, ClientDirectory
from hearth_core.identity.revocations import Revocations
from hearth_core.identity.tokens import InvalidToken, TokenService
from hearth_core.security.crypto import FieldCipher
from hearth_core.settings import Settings


class IdentityProvider:
    def __init__(
        self, settings: Settings, pool: asyncpg.Pool, cipher: FieldCipher, redis: Any = None
    ) -> None:
        self.settings = settings
        self.guard = BruteForceGuard(redis, cipher)
        self.pool = pool
        self.cipher = cipher
        self.clients = ClientDirectory(pool)
        self.revocations = Revocations()
        self._tokens: TokenService | None = None
        self._last_key_reload = 0.0

    # ------------------------------------------------------------ lifecycle
    async def start(self, listener: EventListener | None = None) -> None:
        async with self.pool.acquire() as conn:
            keys = await signing.load(conn, self.cipher)
            await self.revocations.load(conn)
        await self.clients.load()
        self._tokens = TokenService(self.settings, keys, self.revocations)
        if listener is not None:
            listener.subscribe("client", self.clients.refresh_one, resync=self.clients.load)
            listener.subscribe("keys", self._on_keys, resync=self.reload_keys)
            listener.subscribe("revocation", self._on_revocation, resync=self._reload_revocations)

    @property
    def tokens(self) -> TokenService:
        assert self._tokens is not None, "IdentityProvider.start() was not awaited"
        return self._tokens

    async def reload_keys(self) -> None:
        async with self.pool.acquire() as conn:
            self.tokens.keys = await signing.load(conn, self.cipher)
        self._last_key_reload = time.monotonic()

    async def _on_keys(self, _event: dict[str, Any]) -> None:
        await self.reload_keys()

    async def _reload_revocations(self) -> None:
        await self.revocations.load(self.pool)

    async def _on_revocation(self, _event: dict[str, Any]) -> None:
        await self._reload_revocations()

    @property
    def max_token_life(self) -> timedelta:
        return timedelta(seconds=self.settings.access_token_ttl + 300)

    async def verify_bearer(self, token: str) -> dict[str, Any]:
        """Verify an access token; a kid we do not know yet triggers one key reload (≤ 1/s)."""
        try:
            return self.tokens.verify_access_token(token)
        except InvalidToken as exc:
            if exc.reason != "unknown signing key" or time.monotonic() - self._last_key_reload < 1:
                raise
        await self.reload_keys()
        return self.tokens.verify_access_token(token)

    # ------------------------------------------------------- OAuth endpoints
    def authenticate_client(self, form: dict[str, str], authorization: str | None) -> Client:
        return client_auth.authenticate_client(self.clients, self.cipher, form, authorization)

    async def token(
        self,
        form: dict[str, str],
        authorization: str | None,
        *,
        request_id: str | None = None,
        remote: str | None = None,
    ) -> dict[str, Any]:
        return await grants.token(self, form, authorization, request_id=request_id, remote=remote)

    async def introspect(self, token: str) -> dict[str, Any]:
        return await introspection.introspect(self, token)

    async def revoke(self, client: Client, token: str, *, request_id: str | None = None) -> None:
        await token_revocation.revoke(self, client, token, request_id=request_id)

    async def userinfo(self, claims: dict[str, Any]) -> dict[str, Any]:
        return await userinfo.userinfo(self, claims)

    # ---------------------------------------------------- authorization code
    def validate_authorization_request(self, params: dict[str, str]) -> AuthRequest:
        return authorize.validate_authorization_request(self, params)

    def sign_authorization_request(self, req: AuthRequest, *, ttl: int = 600) -> str:
        return authorize.sign_authorization_request(self, req, ttl=ttl)

    def read_signed_request(self, blob: str) -> AuthRequest:
        return authorize.read_signed_request(self, blob)

    async def login_and_issue_code(
        self,
        req: AuthRequest,
        email: str,
        password: str,
        *,
        request_id: str | None,
        remote: str | None = None,
    ) -> str:
        return await authorize.login_and_issue_code(
            self, req, email, password, request_id=request_id, remote=remote
        )

    # ---------------------------------------------------- client management
    async def list_clients(self) -> list[Client]:
        return await clients.list_all(self.pool)

    async def get_client(self, client_id: str) -> Client:
        return await clients.get(self.pool, client_id)

    async def create_client(
        self, *, actor: str, request_id: str | None = None, **spec: Any
    ) -> tuple[Client, str | None]:
        client, secret = await clients.create(
            self.pool, self.cipher, actor=actor, request_id=request_id, **spec
        )
        await self.clients.refresh_one({"client_id": client.client_id})
        return client, secret

    async def update_client(
        self, client_id: str, *, actor: str, request_id: str | None = None, **spec: Any
    ) -> Client:
        client = await clients.update(
            self.pool, client_id, actor=actor, request_id=request_id, **spec
        )
        await self.clients.refresh_one({"client_id": client_id})
        return client

    async def rotate_client_secret(
        self, client_id: str, *, actor: str, request_id: str | None = None
    ) -> str:
        secret = await clients.rotate_secret(
            self.pool, self.cipher, client_id, actor=actor, request_id=request_id
        )
        await self.clients.refresh_one({"client_id": client_id})
        return secret

    async def delete_client(
        self, client_id: str, *, actor: str, request_id: str | None = None
    ) -> None:
        await clients.delete(
            self.pool,
            client_id,
            actor=actor,
            request_id=request_id,
            revoke_for_seconds=self.max_token_life.total_seconds(),
        )
        await self.clients.refresh_one({"client_id": client_id})
        await self._reload_revocations()

    # -------------------------------------------------------------- keys
    async def rotate_keys(self, *, actor: str) -> str:
        kid = await signing.rotate(
            self.pool, self.cipher, keep_for=self.max_token_life, actor=actor
        )
        await self.reload_keys()
        return kid
