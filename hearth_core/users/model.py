"""What a user is, as the service hands it out (PII decrypted, password never)."""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import datetime
from typing import Any, Literal

import msgspec

Status = Literal["active", "inactive", "erased"]
# Practical, not RFC 5322: one @, no spaces, a dot in the domain.
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
MAX_PREFIX = 32


class User(msgspec.Struct, kw_only=True):
    user_id: uuid.UUID
    email: str | None
    display_name: str | None
    status: Status
    created_at: datetime
    updated_at: datetime
    last_login: datetime | None
    roles: list[str]
    attributes: dict[str, Any]


def normalize_name(name: str) -> str:
    return unicodedata.normalize("NFKC", name).casefold().strip()


def valid_email(email: str) -> bool:
    return len(email) <= 254 and EMAIL.match(email) is not None
