"""What a role is, as the service hands it out."""

from __future__ import annotations

from datetime import datetime

import msgspec

ADMIN_ROLE = "admin"
PROTECTED = frozenset({ADMIN_ROLE})


class Role(msgspec.Struct, kw_only=True):
    name: str
    description: str
    scopes: list[str]
    created_at: datetime
    updated_at: datetime
    members: int
