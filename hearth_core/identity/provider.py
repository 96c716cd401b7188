"""The OAuth 2.0 / OpenID Connect provider: client authentication, grants, introspection,
revocation, the authorization-code flow and userinfo.

Errors are ``OAuthError`` carrying the RFC 6749 §5.2 code; the HTTP layer renders them as the
RFC prescribes (JSON ``error``/``error_description``, not problem+json).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import math
import re
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import unquote_plus, urlencode, urlsplit, urlunsplit

import asyncpg
import msgspec

from hearth_core import audit, events
from hearth_core.events import EventListener
from hearth_core.identity import clients as client_repo
from hearth_core.identity import signing
from hearth_core.identity.bruteforce import BruteForceGuard
from hearth_core.identity.clients import OIDC_SCOPES, Client, ClientDirectory, verify_secret
from hearth_core.identity.revocations import Revocations, persist
from hearth_core.identity.tokens import InvalidToken, TokenService, opaque_token, token_hash
from hearth_core.security.crypto import FieldCipher
from hearth_core.security.passwords import hash_password, verify_password_async
from hearth_core.settings import Settings
from hearth_core.users import repo as users

REFRESH_PREFIX = "hrt_"
CODE_PREFIX = "hac_"
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5B\x5D-\x7E]+$")
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_CHALLENGE = re.compile(r"^[A-Za-z0-9\-_]{43}$")
_AUTHZ_DOMAIN = "authorize-request"


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the user does not exist, so a miss costs as much as a wrong password."""
    return hash_password("hearth-no-such-user")


class OAuthError(Exception):
    def __init__(
        self,
        error: str,
        description: str,
        *,
        status: int = 400,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
        self.headers = headers or {}

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def invalid_client(description: str) -> OAuthError:
    return OAuthError(
        "invalid_client",
        description,
        status=401,
        headers={"WWW-Authenticate": 'Basic realm="hearth"'},
    )


def parse_scope(raw: str | None) -> set[str] | None:
    if raw is None:
        return None
    parts = raw.split(" ")
    if any(not _SCOPE_TOKEN.match(p) for p in parts):
        raise OAuthError("invalid_scope", "scope must be space-separated scope tokens")
    return set(parts)


def _basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    if not authorization or not authorization[:6].lower() == "basic ":
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise invalid_client("malformed Basic credentials") from None
    cid, sep, secret = decoded.partition(":")
    if not sep:
        raise invalid_client("malformed Basic credentials")
    # RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
    return unquote_plus(cid), unquote_plus(secret)


@dataclass(frozen=True)
class AuthRequest:
    """A validated authorization request, carried through the login form signed."""

    client_id: str
    redirect_uri: str
    scope: str
    state: str | None
    code_challenge: str
    nonce: str | None


class _SignedAuthRequest(msgspec.Struct, array_like=True):
    client_id: str
    redirect_uri: str
    scope: str
    state: str | None
    code_challenge: str
    nonce: str | None
    exp: int


_signed_decoder = msgspec.json.Decoder(_SignedAuthRequest)


class AuthorizePageError(Exception):
    """The request cannot be redirected back (unknown client or redirect URI): show a page."""


class AuthorizeRedirectError(Exception):
    """An error the client learns about on its redirect URI (RFC 6749 §4.1.2.1)."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


class LoginFailed(Exception):
    """Wrong credentials on the login page: show the form again."""


class TooManyAttempts(Exception):
    """Too many failed sign-ins for this account or address: wait ``retry_after`` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many failed sign-ins; try again in {math.ceil(retry_after)} s")
        self.retry_after = math.ceil(retry_after)


def _with_query(uri: str, params: dict[str, str | None]) -> str:
    parts = urlsplit(uri)
    extra = urlencode({k: v for k, v in params.items() if v is not None})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit(parts._replace(query=query))


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

    # -------------------------------------------------- client authentication
    def authenticate_client(self, form: dict[str, str], authorization: str | None) -> Client:
        basic = _basic_credentials(authorization)
        posted_id = form.get("client_id")
        posted_secret = form.get("client_secret")
        if basic is not None and posted_secret is not None:
            raise OAuthError("invalid_request", "use exactly one client authentication method")
        if basic is not None:
            cid, secret = basic
            if posted_id is not None and posted_id != cid:
                raise OAuthError("invalid_request", "client_id does not match the credentials")
        else:
            cid, secret = posted_id, posted_secret  # type: ignore[assignment]
        if not cid:
            raise invalid_client("client authentication required")
        client = self.clients.get(cid)
        if client is None:
            raise invalid_client("unknown client or wrong secret")
        if client.confidential:
            if secret is None or not verify_secret(self.cipher, client, secret):
                raise invalid_client("unknown client or wrong secret")
        elif secret:
            raise invalid_client("a public client has no secret")
        return client

    # --------------------------------------------------------- token endpoint
    async def token(
        self,
        form: dict[str, str],
        authorization: str | None,
        *,
        request_id: str | None = None,
        remote: str | None = None,
    ) -> dict[str, Any]:
        grant = form.get("grant_type")
        if not grant:
            raise OAuthError("invalid_request", "grant_type is required")
        if grant not in client_repo.GRANTS:
            raise OAuthError("unsupported_grant_type", f"grant_type {grant!r} is not supported")
        client = self.authenticate_client(form, authorization)
        if grant not in client.grants:
            raise OAuthError("unauthorized_client", f"this client may not use {grant}")
        if grant == "client_credentials":
            return self._client_credentials(client, form)
        if grant == "password":
            return await self._password(client, form, request_id, remote)
        if grant == "refresh_token":
            return await self._refresh(client, form, request_id)
        return await self._authorization_code(client, form, request_id)

    def _requested_scope(self, client: Client, form: dict[str, str]) -> set[str] | None:
        requested = parse_scope(form.get("scope"))
        if requested is not None and not requested <= set(client.scopes):
            extra = " ".join(sorted(requested - set(client.scopes)))
            raise OAuthError("invalid_scope", f"scope not allowed for this client: {extra}")
        return requested

    def _client_credentials(self, client: Client, form: dict[str, str]) -> dict[str, Any]:
        requested = self._requested_scope(client, form)
        granted = requested if requested is not None else set(client.scopes) - set(OIDC_SCOPES)
        scope = " ".join(sorted(granted))
        token, _ = self.tokens.issue_access_token(
            sub=client.client_id, client_id=client.client_id, scope=scope
        )
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.settings.access_token_ttl,
            "scope": scope,
        }

    async def authenticate_user(
        self,
        email: str,
        password: str,
        *,
        client_id: str,
        request_id: str | None,
        remote: str | None = None,
    ) -> uuid.UUID | None:
        """The user's id when the password is right and the account active; audits failures.

        Raises TooManyAttempts while the account or address is locked out (brute force)."""
        wait = await self.guard.retry_after(email, remote)
        if wait > 0:
            raise TooManyAttempts(wait)
        rec = await users.find_login(self.pool, self.cipher, email)
        stored = rec.password_hash if rec is not None and rec.password_hash else _dummy_hash()
        ok = await verify_password_async(stored, password)
        if rec is not None and ok and rec.password_hash and rec.status == "active":
            await self.guard.succeeded(email)
            return rec.user_id
        await self.guard.failed(email, remote)
        async with self.pool.acquire() as conn:
            await audit.record(
                conn,
                actor=f"client:{client_id}",
                action="login.failed",
                target=f"user:{rec.user_id}" if rec is not None else "user:unknown",
                after={"reason": "inactive" if rec is not None and ok else "bad credentials"},
                request_id=request_id,
            )
        return None

    async def _password(
        self, client: Client, form: dict[str, str], request_id: str | None, remote: str | None
    ) -> dict[str, Any]:
        username, password = form.get("username"), form.get("password")
        if not username or password is None:
            raise OAuthError("invalid_request", "username and password are required")
        requested = self._requested_scope(client, form)
        try:
            user_id = await self.authenticate_user(
                username, password, client_id=client.client_id, request_id=request_id, remote=remote
            )
        except TooManyAttempts as exc:
            raise OAuthError(
                "invalid_grant", str(exc), headers={"Retry-After": str(exc.retry_after)}
            ) from None
        if user_id is None:
            raise OAuthError("invalid_grant", "invalid username or password")
        async with self.pool.acquire() as conn, conn.transaction():
            allowed = await users.granted_scopes(conn, user_id) | set(OIDC_SCOPES)
            granted = (requested if requested is not None else set(client.scopes)) & allowed
            await _record_login(conn, user_id, client.client_id, "password", request_id)
            return await self._user_tokens(
                conn, client, user_id, granted, auth_time=int(time.time()), nonce=None
            )

    async def _user_tokens(
        self,
        conn: asyncpg.Connection,
        client: Client,
        user_id: uuid.UUID,
        scopes: set[str],
        *,
        auth_time: int | None,
        nonce: str | None,
        family_id: uuid.UUID | None = None,
    ) -> dict[str, Any]:
        scope = " ".join(sorted(scopes))
        refresh: str | None = None
        if "refresh_token" in client.grants:
            if family_id is None:
                family_id = uuid.uuid4()
                await conn.execute(
                    "INSERT INTO token_families (family_id, client_id, user_id) VALUES ($1, $2, $3)",
                    family_id,
                    client.client_id,
                    user_id,
                )
            refresh = opaque_token(REFRESH_PREFIX)
            await conn.execute(
                """
                INSERT INTO refresh_tokens (token_hash, family_id, client_id, user_id, scope, auth_time, expires_at)
                VALUES ($1, $2, $3, $4, $5, to_timestamp($6), now() + make_interval(secs => $7))
                """,
                token_hash(refresh),
                family_id,
                client.client_id,
                user_id,
                scope,
                float(auth_time) if auth_time is not None else None,
                float(self.settings.refresh_token_ttl),
            )
        access, _ = self.tokens.issue_access_token(
            sub=str(user_id),
            client_id=client.client_id,
            scope=scope,
            sid=str(family_id) if family_id is not None else None,
            auth_time=auth_time,
        )
        out: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.settings.access_token_ttl,
            "scope": scope,
        }
        if refresh is not None:
            out["refresh_token"] = refresh
        if "openid" in scopes:
            ident = await users.get_identity(conn, self.cipher, user_id)
            out["id_token"] = self.tokens.issue_id_token(
                sub=str(user_id),
                client_id=client.client_id,
                access_token=access,
                auth_time=auth_time,
                nonce=nonce,
                extra=_profile_claims(ident, scopes),
            )
        return out

    async def _refresh(
        self, client: Client, form: dict[str, str], request_id: str | None
    ) -> dict[str, Any]:
        presented = form.get("refresh_token")
        if not presented:
            raise OAuthError("invalid_request", "refresh_token is required")
        requested = parse_scope(form.get("scope"))
        reuse_family: uuid.UUID | None = None
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                row = await conn.fetchrow(
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
                    token_hash(presented),
                )
                if row is None or row["client_id"] != client.client_id:
                    raise OAuthError("invalid_grant", "unknown refresh token")
                if row["family_revoked"] is not None:
                    raise OAuthError("invalid_grant", "refresh token revoked")
                if row["expired"]:
                    raise OAuthError("invalid_grant", "refresh token expired")
                if row["user_status"] not in (None, "active"):
                    raise OAuthError("invalid_grant", "the user is not active")
                original = set(row["scope"].split()) if row["scope"] else set()
                if requested is not None and not requested <= original:
                    raise OAuthError("invalid_scope", "a refresh may only narrow the scope")
                if (
                    row["used_at"] is not None
                    and row["used_ago"] > self.settings.refresh_reuse_grace
                ):
                    # RFC 9700 §4.14.2: a used token presented again means theft; end the family.
                    reuse_family = row["family_id"]
                    await self._revoke_family(
                        conn,
                        reuse_family,
                        reason="refresh token reuse",
                        actor=f"client:{client.client_id}",
                        request_id=request_id,
                    )
                else:
                    if row["used_at"] is None:
                        await conn.execute(
                            "UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1",
                            row["token_hash"],
                        )
                    # Within the grace window a concurrent refresh gets its own new pair.
                    return await self._user_tokens(
                        conn,
                        client,
                        row["user_id"],
                        requested if requested is not None else original,
                        auth_time=row["auth_epoch"],
                        nonce=None,
                        family_id=row["family_id"],
                    )
        self.revocations.add(
            "sid", str(reuse_family), expires_at=time.time() + self.max_token_life.total_seconds()
        )
        raise OAuthError("invalid_grant", "refresh token already used; the token family is revoked")

    async def _revoke_family(
        self,
        conn: asyncpg.Connection,
        family_id: uuid.UUID,
        *,
        reason: str,
        actor: str,
        request_id: str | None,
    ) -> None:
        await conn.execute(
            "UPDATE token_families SET revoked_at = now(), revoked_reason = $2"
            " WHERE family_id = $1 AND revoked_at IS NULL",
            family_id,
            reason,
        )
        await persist(conn, "sid", str(family_id), expires_in=self.max_token_life.total_seconds())
        await audit.record(
            conn,
            actor=actor,
            action="token.family_revoked",
            target=f"token_family:{family_id}",
            after={"reason": reason},
            request_id=request_id,
        )
        await events.notify(conn, "revocation")

    async def _authorization_code(
        self, client: Client, form: dict[str, str], request_id: str | None
    ) -> dict[str, Any]:
        code, verifier = form.get("code"), form.get("code_verifier")
        redirect_uri = form.get("redirect_uri")
        if not code:
            raise OAuthError("invalid_request", "code is required")
        if not verifier:
            raise OAuthError("invalid_request", "code_verifier is required (PKCE)")
        if not _VERIFIER.match(verifier):
            raise OAuthError(
                "invalid_request", "code_verifier must be 43-128 unreserved characters"
            )
        replayed: uuid.UUID | None = None
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                row = await conn.fetchrow(
                    """
                    SELECT c.*, c.expires_at < now() AS expired,
                           extract(epoch FROM c.auth_time)::bigint AS auth_epoch, u.status AS user_status
                    FROM auth_codes c JOIN users u USING (user_id)
                    WHERE c.code_hash = $1 FOR UPDATE OF c
                    """,
                    token_hash(code),
                )
                if row is None or row["client_id"] != client.client_id:
                    raise OAuthError("invalid_grant", "unknown authorization code")
                if row["used_at"] is not None:
                    # RFC 6749 §4.1.2: a code used twice revokes what it was exchanged for.
                    replayed = row["family_id"]
                    if replayed is not None:
                        await self._revoke_family(
                            conn,
                            replayed,
                            reason="authorization code replay",
                            actor=f"client:{client.client_id}",
                            request_id=request_id,
                        )
                else:
                    if row["expired"]:
                        raise OAuthError("invalid_grant", "authorization code expired")
                    if redirect_uri != row["redirect_uri"]:
                        raise OAuthError(
                            "invalid_grant", "redirect_uri does not match the authorization request"
                        )
                    if not hmac.compare_digest(_s256(verifier), row["code_challenge"]):
                        raise OAuthError(
                            "invalid_grant", "code_verifier does not match the code_challenge"
                        )
                    if row["user_status"] != "active":
                        raise OAuthError("invalid_grant", "the user is not active")
                    family_id = uuid.uuid4() if "refresh_token" in client.grants else None
                    if family_id is not None:
                        await conn.execute(
                            "INSERT INTO token_families (family_id, client_id, user_id) VALUES ($1, $2, $3)",
                            family_id,
                            client.client_id,
                            row["user_id"],
                        )
                    await conn.execute(
                        "UPDATE auth_codes SET used_at = now(), family_id = $2 WHERE code_hash = $1",
                        row["code_hash"],
                        family_id,
                    )
                    return await self._user_tokens(
                        conn,
                        client,
                        row["user_id"],
                        set(row["scope"].split()),
                        auth_time=row["auth_epoch"],
                        nonce=row["nonce"],
                        family_id=family_id,
                    )
        if replayed is not None:
            self.revocations.add(
                "sid", str(replayed), expires_at=time.time() + self.max_token_life.total_seconds()
            )
        raise OAuthError("invalid_grant", "authorization code already used")

    # ------------------------------------------------------- introspection
    async def introspect(self, token: str) -> dict[str, Any]:
        """RFC 7662 answer for ``token``. Access tokens are checked from memory only."""
        if token.startswith(REFRESH_PREFIX):
            return await self._introspect_refresh(token)
        try:
            claims = await self.verify_bearer(token)
        except InvalidToken:
            return {"active": False}
        return {"active": True, "token_type": "Bearer", **claims}

    async def _introspect_refresh(self, token: str) -> dict[str, Any]:
        row = await self.pool.fetchrow(
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
            token_hash(token),
            float(self.settings.refresh_reuse_grace),
        )
        if row is None or self.clients.get(row["client_id"]) is None:
            return {"active": False}
        return {
            "active": True,
            "token_type": "refresh_token",
            "client_id": row["client_id"],
            "sub": str(row["user_id"]) if row["user_id"] else row["client_id"],
            "scope": row["scope"],
            "exp": row["exp"],
            "iat": row["iat"],
            "iss": self.tokens.issuer,
        }

    # ------------------------------------------------------------ revocation
    async def revoke(self, client: Client, token: str, *, request_id: str | None = None) -> None:
        """RFC 7009: effective for introspection as soon as this returns."""
        if token.startswith(REFRESH_PREFIX):
            async with self.pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(
                    "SELECT family_id, client_id FROM refresh_tokens WHERE token_hash = $1",
                    token_hash(token),
                )
                if row is None:
                    return  # RFC 7009 §2.2: an invalid token is not an error
                if row["client_id"] != client.client_id:
                    raise OAuthError(
                        "unauthorized_client", "the token was not issued to this client"
                    )
                await self._revoke_family(
                    conn,
                    row["family_id"],
                    reason="revoked by client",
                    actor=f"client:{client.client_id}",
                    request_id=request_id,
                )
            self.revocations.add(
                "sid",
                str(row["family_id"]),
                expires_at=time.time() + self.max_token_life.total_seconds(),
            )
            return
        try:
            claims = self.tokens.verify_access_token(token, check_revoked=False)
        except InvalidToken:
            return
        if claims["client_id"] != client.client_id:
            raise OAuthError("unauthorized_client", "the token was not issued to this client")
        remaining = max(1.0, float(claims["exp"]) - time.time() + self.settings.clock_leeway)
        async with self.pool.acquire() as conn, conn.transaction():
            await persist(conn, "jti", claims["jti"], expires_in=remaining)
            await audit.record(
                conn,
                actor=f"client:{client.client_id}",
                action="token.revoke",
                target=f"token:{claims['jti']}",
                request_id=request_id,
            )
            await events.notify(conn, "revocation")
        self.revocations.add("jti", claims["jti"], expires_at=float(claims["exp"]))

    # -------------------------------------------------------------- userinfo
    async def userinfo(self, claims: dict[str, Any]) -> dict[str, Any]:
        try:
            user_id = uuid.UUID(claims["sub"])
        except ValueError:
            raise InvalidToken("token has no user subject") from None
        ident = await users.get_identity(self.pool, self.cipher, user_id)
        if ident is None or ident.status != "active":
            raise InvalidToken("the user is not active")
        scopes = set(claims.get("scope", "").split())
        return {"sub": str(user_id), **_profile_claims(ident, scopes)}

    # ---------------------------------------------------- authorization code
    def validate_authorization_request(self, params: dict[str, str]) -> AuthRequest:
        client = self.clients.get(params.get("client_id", ""))
        if client is None:
            raise AuthorizePageError("unknown client_id")
        redirect_uri = params.get("redirect_uri")
        if redirect_uri is None:
            if len(client.redirect_uris) != 1:
                raise AuthorizePageError("redirect_uri is required")
            redirect_uri = client.redirect_uris[0]
        elif redirect_uri not in client.redirect_uris:
            raise AuthorizePageError("redirect_uri is not registered for this client")
        state = params.get("state")

        def fail(error: str, description: str) -> AuthorizeRedirectError:
            return AuthorizeRedirectError(
                _with_query(
                    redirect_uri,
                    {
                        "error": error,
                        "error_description": description,
                        "state": state,
                        "iss": self.tokens.issuer,
                    },
                )
            )

        if params.get("response_type") != "code":
            raise fail("unsupported_response_type", "only response_type=code is supported")
        if "authorization_code" not in client.grants:
            raise fail("unauthorized_client", "this client may not use authorization_code")
        challenge = params.get("code_challenge")
        if not challenge:
            raise fail("invalid_request", "code_challenge is required (PKCE, S256)")
        if params.get("code_challenge_method") != "S256":
            raise fail("invalid_request", "code_challenge_method must be S256")
        if not _CHALLENGE.match(challenge):
            raise fail("invalid_request", "code_challenge must be a base64url SHA-256")
        try:
            requested = parse_scope(params.get("scope"))
        except OAuthError as exc:
            raise fail(exc.error, exc.description) from None
        if requested is not None and not requested <= set(client.scopes):
            raise fail("invalid_scope", "scope not allowed for this client")
        scope = " ".join(sorted(requested if requested is not None else client.scopes))
        return AuthRequest(
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            scope=scope,
            state=state,
            code_challenge=challenge,
            nonce=params.get("nonce"),
        )

    def sign_authorization_request(self, req: AuthRequest, *, ttl: int = 600) -> str:
        payload = msgspec.json.encode(
            _SignedAuthRequest(
                req.client_id,
                req.redirect_uri,
                req.scope,
                req.state,
                req.code_challenge,
                req.nonce,
                int(time.time()) + ttl,
            )
        )
        mac = self.cipher.mac(_AUTHZ_DOMAIN, payload)
        return _b64u(payload) + "." + _b64u(mac)

    def read_signed_request(self, blob: str) -> AuthRequest:
        try:
            payload_b64, mac_b64 = blob.split(".")
            payload, mac = _unb64u(payload_b64), _unb64u(mac_b64)
        except ValueError:
            raise AuthorizePageError("the login form is damaged; start again") from None
        if not hmac.compare_digest(mac, self.cipher.mac(_AUTHZ_DOMAIN, payload)):
            raise AuthorizePageError("the login form is damaged; start again")
        signed = _signed_decoder.decode(payload)
        if signed.exp < time.time():
            raise AuthorizePageError("the login form expired; start again")
        return AuthRequest(
            signed.client_id,
            signed.redirect_uri,
            signed.scope,
            signed.state,
            signed.code_challenge,
            signed.nonce,
        )

    async def login_and_issue_code(
        self,
        req: AuthRequest,
        email: str,
        password: str,
        *,
        request_id: str | None,
        remote: str | None = None,
    ) -> str:
        """Authenticate on the login page; return the redirect carrying the code."""
        try:
            user_id = await self.authenticate_user(
                email, password, client_id=req.client_id, request_id=request_id, remote=remote
            )
        except TooManyAttempts as exc:
            raise LoginFailed(str(exc)) from None
        if user_id is None:
            raise LoginFailed("wrong email or password")
        code = opaque_token(CODE_PREFIX)
        async with self.pool.acquire() as conn, conn.transaction():
            allowed = await users.granted_scopes(conn, user_id) | set(OIDC_SCOPES)
            scope = " ".join(sorted(set(req.scope.split()) & allowed))
            await conn.execute(
                """
                INSERT INTO auth_codes (code_hash, client_id, user_id, redirect_uri, scope,
                                        code_challenge, nonce, auth_time, expires_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, now(), now() + make_interval(secs => $8))
                """,
                token_hash(code),
                req.client_id,
                user_id,
                req.redirect_uri,
                scope,
                req.code_challenge,
                req.nonce,
                float(self.settings.auth_code_ttl),
            )
            await _record_login(conn, user_id, req.client_id, "authorization_code", request_id)
        return _with_query(
            req.redirect_uri, {"code": code, "state": req.state, "iss": self.tokens.issuer}
        )

    # ---------------------------------------------------- client management
    async def list_clients(self) -> list[Client]:
        async with self.pool.acquire() as conn:
            return await client_repo.list_all(conn)

    async def get_client(self, client_id: str) -> Client:
        async with self.pool.acquire() as conn:
            return await client_repo.get(conn, client_id)

    async def create_client(
        self, *, actor: str, request_id: str | None = None, **spec: Any
    ) -> tuple[Client, str | None]:
        async with self.pool.acquire() as conn:
            client, secret = await client_repo.create(
                conn, self.cipher, actor=actor, request_id=request_id, **spec
            )
        await self.clients.refresh_one({"client_id": client.client_id})
        return client, secret

    async def update_client(
        self, client_id: str, *, actor: str, request_id: str | None = None, **spec: Any
    ) -> Client:
        async with self.pool.acquire() as conn:
            client = await client_repo.update(
                conn, client_id, actor=actor, request_id=request_id, **spec
            )
        await self.clients.refresh_one({"client_id": client_id})
        return client

    async def rotate_client_secret(
        self, client_id: str, *, actor: str, request_id: str | None = None
    ) -> str:
        async with self.pool.acquire() as conn:
            secret = await client_repo.rotate_secret(
                conn, self.cipher, client_id, actor=actor, request_id=request_id
            )
        await self.clients.refresh_one({"client_id": client_id})
        return secret

    async def delete_client(
        self, client_id: str, *, actor: str, request_id: str | None = None
    ) -> None:
        async with self.pool.acquire() as conn:
            await client_repo.delete(
                conn,
                client_id,
                actor=actor,
                request_id=request_id,
                revoke_for_seconds=int(self.max_token_life.total_seconds()),
            )
        await self.clients.refresh_one({"client_id": client_id})
        await self._reload_revocations()

    # -------------------------------------------------------------- keys
    async def rotate_keys(self, *, actor: str) -> str:
        async with self.pool.acquire() as conn:
            kid = await signing.rotate(conn, self.cipher, keep_for=self.max_token_life, actor=actor)
        await self.reload_keys()
        return kid


async def _record_login(
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


def _profile_claims(ident: users.Identity | None, scopes: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if ident is None:
        return out
    if "email" in scopes and ident.email is not None:
        out["email"] = ident.email
        out["email_verified"] = False
    if "profile" in scopes and ident.display_name is not None:
        out["name"] = ident.display_name
    return out


def _s256(verifier: str) -> str:
    return _b64u(hashlib.sha256(verifier.encode("ascii")).digest())


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64u(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("bad base64url") from None
