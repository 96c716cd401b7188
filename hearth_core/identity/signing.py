"""ES256 signing keys: stored encrypted, rotated, published in the JWKS while tokens may use them."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hearth_core.db.audited import audited_write
from hearth_core.identity import repo
from hearth_core.security.crypto import FieldCipher

ALG = "ES256"


def b64u(data: bytes) -> str:
    """base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    """Inverse of :func:`b64u`; ValueError when ``text`` is not base64url."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("bad base64url") from None


def public_jwk(public: ec.EllipticCurvePublicKey) -> dict[str, str]:
    nums = public.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64u(nums.x.to_bytes(32, "big")),
        "y": b64u(nums.y.to_bytes(32, "big")),
    }


def thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638 JWK thumbprint: SHA-256 of the required members in lexicographic order."""
    canonical = json.dumps(
        {k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True
    )
    return b64u(hashlib.sha256(canonical.encode()).digest())


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
    await repo.insert_signing_key(
        conn, kid=kid, alg=ALG, private_enc=cipher.encrypt(pem, _aad(kid)), public_jwk=jwk
    )
    return kid


async def load(conn: asyncpg.Connection, cipher: FieldCipher) -> KeySet:
    """Every key still in the JWKS; creates the first one if there is none."""
    async with conn.transaction():
        await repo.lock_signing_keys(conn)
        if not await repo.has_active_key(conn):
            await _create(conn, cipher)
        rows = await repo.published_keys(conn)
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
    db: asyncpg.Pool | asyncpg.Connection, cipher: FieldCipher, *, keep_for: timedelta, actor: str
) -> str:
    """A new key signs from now on; the old ones verify for ``keep_for`` (the longest token life)."""
    async with audited_write(db, actor=actor, request_id=None) as w:
        await repo.lock_signing_keys(w.conn)
        old = await repo.retire_active_keys(w.conn, keep_for=keep_for)
        kid = await _create(w.conn, cipher)
        await w.audit(
            "signing_key.rotate",
            f"signing_key:{kid}",
            before={"active": old},
            after={"active": [kid]},
        )
        await w.notify("keys")
    return kid
