"""ES256 signing keys: stored encrypted, rotated, published in the JWKS while tokens may use them."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hearth_core import audit, events
from hearth_core.security.crypto import FieldCipher

ALG = "ES256"
_KEY_LOCK = 0x7369676E  # "sign": first-start key creation happens once


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(public: ec.EllipticCurvePublicKey) -> dict[str, str]:
    nums = public.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": _b64u(nums.x.to_bytes(32, "big")),
        "y": _b64u(nums.y.to_bytes(32, "big")),
    }


def thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638 JWK thumbprint: SHA-256 of the required members in lexicographic order."""
    canonical = json.dumps(
        {k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True
    )
    return _b64u(hashlib.sha256(canonical.encode()).digest())


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private: ec.EllipticCurvePrivateKey
    public: ec.EllipticCurvePublicKey
    jwk: dict[str, str]
    created_at: datetime
    retired_at: datetime | None
    expires_at: datetime | None


@dataclass(frozen=True)
class KeySet:
    signer: SigningKey
    by_kid: dict[str, SigningKey]

    def jwks(self) -> dict[str, Any]:
        return {
            "keys": [
                {**k.jwk, "kid": k.kid, "use": "sig", "alg": ALG}
                for k in sorted(self.by_kid.values(), key=lambda k: k.created_at, reverse=True)
            ]
        }


def _aad(kid: str) -> bytes:
    return f"signing_key:{kid}".encode()


async def _create(conn: asyncpg.Connection, cipher: FieldCipher) -> str:
    private = ec.generate_private_key(ec.SECP256R1())
    jwk = public_jwk(private.public_key())
    kid = thumbprint(jwk)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    await conn.execute(
        "INSERT INTO signing_keys (kid, alg, private_enc, public_jwk) VALUES ($1, $2, $3, $4)",
        kid,
        ALG,
        cipher.encrypt(pem, _aad(kid)),
        jwk,
    )
    return kid


async def load(conn: asyncpg.Connection, cipher: FieldCipher) -> KeySet:
    """Every key still in the JWKS; creates the first one if there is none."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _KEY_LOCK)
        if not await conn.fetchval("SELECT 1 FROM signing_keys WHERE retired_at IS NULL"):
            await _create(conn, cipher)
        rows = await conn.fetch(
            """
            SELECT * FROM signing_keys WHERE expires_at IS NULL OR expires_at > now()
            ORDER BY created_at
            """
        )
    keys: dict[str, SigningKey] = {}
    signer: SigningKey | None = None
    for r in rows:
        private = serialization.load_pem_private_key(
            cipher.decrypt(r["private_enc"], _aad(r["kid"])), password=None
        )
        assert isinstance(private, ec.EllipticCurvePrivateKey)
        key = SigningKey(
            kid=r["kid"],
            private=private,
            public=private.public_key(),
            jwk=r["public_jwk"],
            created_at=r["created_at"],
            retired_at=r["retired_at"],
            expires_at=r["expires_at"],
        )
        keys[key.kid] = key
        if key.retired_at is None:
            signer = key  # newest active key signs
    assert signer is not None
    return KeySet(signer=signer, by_kid=keys)


async def rotate(
    conn: asyncpg.Connection, cipher: FieldCipher, *, keep_for: timedelta, actor: str
) -> str:
    """A new key signs from now on; the old ones verify for ``keep_for`` (the longest token life)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _KEY_LOCK)
        old = [
            r["kid"]
            for r in await conn.fetch("SELECT kid FROM signing_keys WHERE retired_at IS NULL")
        ]
        await conn.execute(
            "UPDATE signing_keys SET retired_at = now(), expires_at = now() + $1 WHERE retired_at IS NULL",
            keep_for,
        )
        kid = await _create(conn, cipher)
        await audit.record(
            conn,
            actor=actor,
            action="signing_key.rotate",
            target=f"signing_key:{kid}",
            before={"active": old},
            after={"active": [kid]},
        )
        await events.notify(conn, "keys")
    return kid
