"""AES-256-GCM envelope encryption of PII, and the HMAC blind index for exact lookups.

Master keys (the key ring) only wrap data keys; data keys, stored wrapped in ``data_keys``,
encrypt fields. A field ciphertext is ``0x01 | data key id (u32 BE) | nonce (12) | ct+tag`` and
its associated data binds it to its row and column, so a ciphertext copied to another row
fails to decrypt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hearth_core.settings import Settings

_FORMAT = 1
_HEADER = struct.Struct(">BI")


class CryptoError(ValueError):
    """A key is missing or a ciphertext does not authenticate."""


def _b64key(text: str, where: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise CryptoError(f"{where}: not valid base64") from None
    if len(raw) != 32:
        raise CryptoError(f"{where}: a master key must be 32 bytes, got {len(raw)}")
    return raw


@dataclass(frozen=True)
class MasterKeyRing:
    """Master keys by id; ``primary`` wraps new data keys, the others only unwrap."""

    keys: dict[str, bytes]
    primary: str

    @classmethod
    def parse(cls, spec: str, where: str = "HEARTH_MASTER_KEY") -> MasterKeyRing:
        keys: dict[str, bytes] = {}
        order: list[str] = []
        for i, part in enumerate(p for p in spec.split(",") if p.strip()):
            kid, sep, b64 = part.strip().partition(":")
            if not sep:
                kid, b64 = f"m{i + 1}", part
            keys[kid] = _b64key(b64, where)
            order.append(kid)
        if not keys:
            raise CryptoError(f"{where} is empty")
        return cls(keys=keys, primary=order[0])

    @classmethod
    def from_settings(cls, settings: Settings) -> MasterKeyRing:
        if settings.master_key:
            return cls.parse(settings.master_key)
        if not settings.master_key_file:
            raise CryptoError("no master key: set HEARTH_MASTER_KEY or HEARTH_MASTER_KEY_FILE")
        path = Path(settings.master_key_file)
        if not path.exists():
            raise CryptoError(f"master key file {path} does not exist")
        return cls.parse(path.read_text(), where=str(path))

    @staticmethod
    def create_file(path: Path) -> None:
        """Write a new one-key ring (mode 0600) unless the file exists."""
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("m1:" + base64.b64encode(os.urandom(32)).decode() + "\n")

    def wrap(self, key_id: int, plaintext_key: bytes) -> tuple[str, bytes]:
        nonce = os.urandom(12)
        aad = f"hearth-dek:{key_id}".encode()
        return self.primary, nonce + AESGCM(self.keys[self.primary]).encrypt(
            nonce, plaintext_key, aad
        )

    def unwrap(self, key_id: int, master_kid: str, wrapped: bytes) -> bytes:
        key = self.keys.get(master_kid)
        if key is None:
            raise CryptoError(
                f"data key {key_id} is wrapped by master key {master_kid!r}, not in the ring"
            )
        try:
            return AESGCM(key).decrypt(wrapped[:12], wrapped[12:], f"hearth-dek:{key_id}".encode())
        except InvalidTag:
            raise CryptoError(
                f"data key {key_id} does not unwrap with master key {master_kid!r}"
            ) from None


@dataclass
class FieldCipher:
    """Encrypts fields with the active data key; decrypts with any known data key."""

    data_keys: dict[int, bytes]
    active_id: int
    index_key: bytes
    _aead: dict[int, AESGCM] = field(default_factory=dict, repr=False)

    def _get(self, key_id: int) -> AESGCM:
        aead = self._aead.get(key_id)
        if aead is None:
            raw = self.data_keys.get(key_id)
            if raw is None:
                raise CryptoError(f"unknown data key {key_id}")
            aead = self._aead[key_id] = AESGCM(raw)
        return aead

    def replace_keys(self, other: FieldCipher) -> None:
        """Take another load's keys in place, so every holder of this object sees them."""
        self.data_keys = other.data_keys
        self.active_id = other.active_id
        self.index_key = other.index_key
        self._aead = {}

    def key_id_of(self, blob: bytes) -> int:
        return int(_HEADER.unpack_from(blob)[1])

    def encrypt(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(12)
        header = _HEADER.pack(_FORMAT, self.active_id)
        return header + nonce + self._get(self.active_id).encrypt(nonce, plaintext, header + aad)

    def decrypt(self, blob: bytes, aad: bytes) -> bytes:
        if len(blob) < _HEADER.size + 12 + 16:
            raise CryptoError("ciphertext too short")
        fmt, key_id = _HEADER.unpack_from(blob)
        if fmt != _FORMAT:
            raise CryptoError(f"unknown ciphertext format {fmt}")
        header = blob[: _HEADER.size]
        nonce = blob[_HEADER.size : _HEADER.size + 12]
        try:
            return self._get(key_id).decrypt(nonce, blob[_HEADER.size + 12 :], header + aad)
        except InvalidTag:
            raise CryptoError("ciphertext does not authenticate (wrong row or tampered)") from None

    def encrypt_text(self, text: str, aad: str) -> bytes:
        return self.encrypt(text.encode(), aad.encode())

    def decrypt_text(self, blob: bytes, aad: str) -> str:
        return self.decrypt(blob, aad.encode()).decode()

    def blind_index(self, normalized: str) -> bytes:
        return hmac.new(self.index_key, normalized.encode(), hashlib.sha256).digest()

    def mac(self, domain: str, data: bytes) -> bytes:
        """A keyed hash for ``domain`` (client secrets, signed forms): separate from the index."""
        return hmac.new(self.index_key, domain.encode() + b"\0" + data, hashlib.sha256).digest()


def normalize_email(email: str) -> str:
    return email.strip().lower()
