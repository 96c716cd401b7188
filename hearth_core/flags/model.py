"""What a flag is. The writable part (FlagSpec) is also what import and the API accept."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
import orjson

FlagName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")]
Pct = Annotated[int, msgspec.Meta(ge=0, le=100)]
EnvName = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Reason = Literal["DISABLED", "ROLLOUT", "TARGETED", "DEFAULT"]


class Variant(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    weight: Annotated[int, msgspec.Meta(ge=0, le=1000)]
    value: Any = None  # any JSON; defaults to the variant's name


class Rule(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    attribute: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    op: Literal["in", "not_in", "equals", "starts_with", "ends_with", "contains"]
    values: list[str]


class Targeting(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """On for these users, or when every rule matches the context's attributes."""

    user_ids: list[str] = []
    rules: list[Rule] = []


class EnvState(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """Per-environment overrides of ``enabled`` and ``rollout_pct``."""

    enabled: bool | None = None
    rollout_pct: Pct | None = None


class FlagSpec(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: FlagName
    description: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    enabled: bool = False
    rollout_pct: Pct = 100
    variants: list[Variant] = []
    targeting: Targeting = msgspec.field(default_factory=Targeting)
    environments: dict[EnvName, EnvState] = {}
    metadata: dict[str, Any] = {}


class Flag(FlagSpec, kw_only=True):
    version: int
    archived: bool
    created_at: datetime
    updated_at: datetime
    updated_by: str


class Change(msgspec.Struct, kw_only=True):
    """One event of the change stream."""

    revision: int
    flag: str
    action: str
    state: Flag | None  # None once archived


def encode_change(change: Change) -> bytes:
    return orjson.dumps(msgspec.to_builtins(change))


class FlagRevision(msgspec.Struct, kw_only=True):
    """One entry of a flag's audit trail."""

    revision: int
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    actor: str
    at: datetime
    request_id: str | None


def spec_errors(spec: FlagSpec, root: str = "$") -> list[dict[str, str]]:
    """Cross-field checks msgspec cannot express."""
    errors = []
    if spec.variants:
        if sum(v.weight for v in spec.variants) == 0:
            errors.append({"path": f"{root}.variants", "message": "weights must not all be 0"})
        names = [v.name for v in spec.variants]
        for i, n in enumerate(names):
            if names.index(n) != i:
                errors.append(
                    {"path": f"{root}.variants[{i}].name", "message": f"duplicate variant {n!r}"}
                )
    return errors
