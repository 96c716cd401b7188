"""What Unleash's SDKs send and what an API token is.

The SDK bodies keep Unleash's field names and ignore fields they do not know (SDKs add
platform names, versions and newer sections over time); what Hearth stores is bounded here so
that a bad body is a 400 naming the field rather than something the metrics store refuses.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from hearth_core.flags.model import EnvName

TokenType = Literal["backend", "frontend"]
TokenName = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
# Bounded by what a metrics label value may hold (1024 characters).
AppName = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
LabelText = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
Count = Annotated[int, msgspec.Meta(ge=0)]
# Unleash's dateSchema: an RFC 3339 string or epoch milliseconds.
DateValue = str | int


class ApiToken(msgspec.Struct, kw_only=True):
    """A token as listed: never its secret, only the hint that tells it apart."""

    id: uuid.UUID
    name: str
    type: TokenType
    environment: str
    hint: str
    created_at: datetime
    created_by: str
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class CreatedToken(ApiToken, kw_only=True):
    """The answer to a create: the secret, shown this once."""

    token: str


class TokenSpec(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    type: TokenType
    environment: EnvName
    name: TokenName | None = None


class ClientRegistration(msgspec.Struct, kw_only=True):
    """``POST /api/client/register`` as the SDKs send it."""

    appName: AppName
    instanceId: Annotated[str, msgspec.Meta(max_length=255)] = "default"
    sdkVersion: Annotated[str, msgspec.Meta(max_length=255)] | None = None
    strategies: list[Annotated[str, msgspec.Meta(max_length=255)]] = []
    started: DateValue | None = None
    interval: Annotated[int, msgspec.Meta(ge=0)] | None = None
    environment: str | None = None  # ignored: the token's environment is the instance's


class ToggleCounts(msgspec.Struct, kw_only=True):
    yes: Count = 0
    no: Count = 0
    variants: dict[LabelText, Count] = {}


class MetricsBucket(msgspec.Struct, kw_only=True):
    start: DateValue
    stop: DateValue
    toggles: dict[LabelText, ToggleCounts]


class ClientMetrics(msgspec.Struct, kw_only=True):
    """``POST /api/client/metrics`` and ``/api/frontend/client/metrics``: one bucket of
    evaluation counts. A null bucket (an SDK sending only its impact metrics) stores nothing."""

    appName: AppName
    instanceId: Annotated[str, msgspec.Meta(max_length=255)] | None = None
    environment: str | None = None  # ignored: the token's environment counts
    bucket: MetricsBucket | None
