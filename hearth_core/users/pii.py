"""A profile's PII as stored: encrypted columns, the email's blind index, name-prefix MACs.

Every ciphertext's associated data is ``"{user_id}:{column}"``, so a value copied into another
row or column does not decrypt. Exact email lookups go through the HMAC blind index and
display-name prefix search through HMACs of the name's prefixes; nothing else about the PII
is visible to the database.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from hearth_core.security.crypto import FieldCipher, normalize_email
from hearth_core.users.model import MAX_PREFIX, User, normalize_name

_PREFIX_DOMAIN = "name-prefix"


def name_prefixes(cipher: FieldCipher, display_name: str | None) -> list[bytes]:
    if not display_name:
        return []
    norm = normalize_name(display_name)[:MAX_PREFIX]
    return [cipher.mac(_PREFIX_DOMAIN, norm[:i].encode())[:8] for i in range(1, len(norm) + 1)]


def prefix_probe(cipher: FieldCipher, q: str) -> bytes:
    return cipher.mac(_PREFIX_DOMAIN, normalize_name(q)[:MAX_PREFIX].encode())[:8]


@dataclass(frozen=True)
class EncryptedProfile:
    email_bidx: bytes
    email_enc: bytes
    display_name_enc: bytes | None
    attributes_enc: bytes
    name_prefixes: list[bytes]


def encrypt_profile(
    cipher: FieldCipher,
    user_id: uuid.UUID,
    email: str,
    display_name: str | None,
    attributes: dict[str, Any],
) -> EncryptedProfile:
    norm = normalize_email(email)
    return EncryptedProfile(
        email_bidx=cipher.blind_index(norm),
        email_enc=cipher.encrypt_text(norm, f"{user_id}:email"),
        display_name_enc=(
            cipher.encrypt_text(display_name, f"{user_id}:display_name") if display_name else None
        ),
        attributes_enc=cipher.encrypt(orjson.dumps(attributes), f"{user_id}:attributes".encode()),
        name_prefixes=name_prefixes(cipher, display_name),
    )


def decrypt_column(cipher: FieldCipher, row: asyncpg.Record, column: str) -> str | None:
    """A text column stored as ``<column>_enc``, bound to its row (AAD ``"{user_id}:{column}"``)."""
    blob = row[f"{column}_enc"]
    return cipher.decrypt_text(blob, f"{row['user_id']}:{column}") if blob else None


def decrypt_row(cipher: FieldCipher, row: asyncpg.Record) -> User:
    uid = row["user_id"]
    return User(
        user_id=uid,
        email=decrypt_column(cipher, row, "email"),
        display_name=decrypt_column(cipher, row, "display_name"),
        status=row["status"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_login=row["last_login"],
        roles=list(row["roles"] or []),
        attributes=(
            orjson.loads(cipher.decrypt(row["attributes_enc"], f"{uid}:attributes".encode()))
            if row["attributes_enc"]
            else {}
        ),
    )
