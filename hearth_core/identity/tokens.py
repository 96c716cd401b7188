"""Issuing and verifying JWTs: RFC 9068 access tokens and OpenID Connect ID tokens."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from typing import Any

import jwt

from hearth_core.identity.revocations import Revocations
from hearth_core.identity.signing import ALG, KeySet, b64u
from hearth_core.settings import Settings

ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 - the RFC 9068 typ header value


class InvalidToken(ValueError):
    """The token is malformed, forged, expired, foreign or revoked; ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


VERIFIED_CACHE_SIZE = 8192


class TokenService:
    def __init__(self, settings: Settings, keys: KeySet, revocations: Revocations) -> None:
        self.issuer = settings.public_base_url
        self.audience = settings.audience
        self.access_ttl = settings.access_token_ttl
        self.leeway = settings.clock_leeway
        self._keys = keys
        self.revocations = revocations
        # Signature checks cost ~90 µs; a resource server presents the same token many times.
        # Claims of verified tokens are kept until they expire (revocation is still checked
        # on every call), and dropped whenever the key set changes.
        self._verified: dict[str, dict[str, Any]] = {}

    @property
    def keys(self) -> KeySet:
        return self._keys

    @keys.setter
    def keys(self, keys: KeySet) -> None:
        self._keys = keys
        self._verified = {}

    def issue_access_token(
        self,
        *,
        sub: str,
        client_id: str,
        scope: str,
        sid: str | None = None,
        auth_time: int | None = None,
        now: int | None = None,
    ) -> tuple[str, dict[str, Any]]:
        iat = int(time.time()) if now is None else now
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": sub,
            "aud": self.audience,
            "exp": iat + self.access_ttl,
            "iat": iat,
            "nbf": iat,
            "jti": uuid.uuid4().hex,
            "client_id": client_id,
            "scope": scope,
        }
        if sid is not None:
            claims["sid"] = sid
        if auth_time is not None:
            claims["auth_time"] = auth_time
        signer = self.keys.signer
        token = jwt.encode(
            claims,
            signer.private,
            algorithm=ALG,
            headers={"kid": signer.kid, "typ": ACCESS_TOKEN_TYPE},
        )
        return token, claims

    def issue_id_token(
        self,
        *,
        sub: str,
        client_id: str,
        access_token: str,
        auth_time: int | None,
        nonce: str | None,
        extra: dict[str, Any],
    ) -> str:
        iat = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": sub,
            "aud": client_id,
            "azp": client_id,
            "exp": iat + self.access_ttl,
            "iat": iat,
            "at_hash": at_hash(access_token),
            **extra,
        }
        if auth_time is not None:
            claims["auth_time"] = auth_time
        if nonce is not None:
            claims["nonce"] = nonce
        signer = self.keys.signer
        return jwt.encode(
            claims, signer.private, algorithm=ALG, headers={"kid": signer.kid, "typ": "JWT"}
        )

    def verify_access_token(self, token: str, *, check_revoked: bool = True) -> dict[str, Any]:
        """Claims of a valid access token of ours, or InvalidToken. Never touches the database."""
        cached = self._verified.get(token)
        if cached is not None and cached["exp"] + self.leeway > time.time():
            if check_revoked and self.revocations.is_revoked(cached):
                raise InvalidToken("token revoked")
            return cached
        claims = self._verify_signature(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified = {}  # cheap bound; refilled by the tokens still in use
        self._verified[token] = claims
        if check_revoked and self.revocations.is_revoked(claims):
            raise InvalidToken("token revoked")
        return claims

    def _verify_signature(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("malformed token") from None
        if header.get("alg") != ALG:
            raise InvalidToken(f"algorithm {header.get('alg')!r} is not accepted")
        if header.get("typ", "").lower() not in (ACCESS_TOKEN_TYPE, "application/at+jwt"):
            raise InvalidToken("not an access token")
        key = self.keys.by_kid.get(header.get("kid", ""))
        if key is None:
            raise InvalidToken("unknown signing key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.public,
                algorithms=[ALG],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "jti", "client_id"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("token expired") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken("wrong audience") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken("wrong issuer") from None
        except jwt.PyJWTError:
            raise InvalidToken("invalid token") from None
        return claims


def at_hash(access_token: str) -> str:
    """OIDC at_hash: left half of SHA-256 of the token, base64url."""
    return b64u(hashlib.sha256(access_token.encode()).digest()[:16])


def opaque_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    # Opaque tokens carry 256 random bits: a plain SHA-256 is as good as a keyed hash here.
    return hashlib.sha256(token.encode()).digest()
