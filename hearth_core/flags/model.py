"""What a flag is: Unleash's activation model, per environment.

A flag holds, per environment, whether it is on and an ordered list of activation strategies
(each with constraints, segments and its own variants) plus the environment's feature variants.
Strategies, constraints, variants and segments keep Unleash's own JSON field names
(``contextName``, ``caseInsensitive``, ``weightType``, …) so a strategy copied from Unleash's
documentation or from its client API works unchanged; Hearth's own fields are snake_case.
Those Unleash-shaped structs ignore unknown fields, as Unleash's SDKs do (its client API carries
ids, sort orders and titles Hearth has no use for). Evaluation is native (``FlagSet``).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
import orjson

# Unleash allows any name; Hearth keeps it out of trouble in URLs and logs.
FlagName = Annotated[
    str, msgspec.Meta(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f/]+$")
]
EnvName = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
ContextName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
DEFAULT_ENVIRONMENT = "default"

OPERATORS = (
    "IN",
    "NOT_IN",
    "STR_CONTAINS",
    "STR_STARTS_WITH",
    "STR_ENDS_WITH",
    "NUM_EQ",
    "NUM_GT",
    "NUM_GTE",
    "NUM_LT",
    "NUM_LTE",
    "DATE_AFTER",
    "DATE_BEFORE",
    "SEMVER_EQ",
    "SEMVER_GT",
    "SEMVER_LT",
    "REGEX",
    "IN_CIDR",
)
# These compare the context with one `value`; the others with a list of `values`.
LIST_OPERATORS = frozenset(
    {"IN", "NOT_IN", "STR_CONTAINS", "STR_STARTS_WITH", "STR_ENDS_WITH", "IN_CIDR"}
)
SINGLE_VALUE_OPERATORS = frozenset(OPERATORS) - LIST_OPERATORS


class Constraint(msgspec.Struct, kw_only=True, omit_defaults=True):
    contextName: ContextName
    # Any name: Unleash's client API may carry operators newer than this server (or broken
    # ones); the evaluator answers false for them, as the SDKs do. Hearth's own API rejects
    # them (spec_errors).
    operator: Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
    values: list[str] = []
    value: str | None = None
    inverted: bool = False
    caseInsensitive: bool = False


class Payload(msgspec.Struct, kw_only=True):
    type: Literal["string", "json", "csv", "number"]
    value: str


class Override(msgspec.Struct, kw_only=True):
    contextName: ContextName
    values: list[str]


class Variant(msgspec.Struct, kw_only=True, omit_defaults=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
    weight: Annotated[int, msgspec.Meta(ge=0, le=1000)]
    weightType: Literal["variable", "fix", "fixed"] = "variable"
    stickiness: str = "default"
    payload: Payload | None = None
    overrides: list[Override] = []


ParamValue = str | int | float | bool


class Strategy(msgspec.Struct, kw_only=True, omit_defaults=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    parameters: dict[str, ParamValue] = {}
    constraints: list[Constraint] = []
    segments: list[int] = []
    variants: list[Variant] = []
    disabled: bool = False


class Dependency(msgspec.Struct, kw_only=True, omit_defaults=True):
    """On only when ``feature`` is on (``enabled``) or off (``enabled: false``) and, when
    ``variants`` is given, its variant is one of them."""

    feature: FlagName
    enabled: bool = True
    variants: list[str] = []


class EnvConfig(msgspec.Struct, kw_only=True, omit_defaults=True):
    enabled: bool = False
    strategies: list[Strategy] = []
    variants: list[Variant] = []


class FlagSpec(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: FlagName
    description: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    type: Annotated[str, msgspec.Meta(min_length=1, max_length=50)] = "release"
    impression_data: bool = False
    stale: bool = False
    dependencies: list[Dependency] = []
    environments: dict[EnvName, EnvConfig] = {}
    metadata: dict[str, Any] = {}


class Flag(FlagSpec, kw_only=True):
    version: int
    archived: bool
    created_at: datetime
    updated_at: datetime
    updated_by: str


class SegmentSpec(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
    description: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    constraints: list[Constraint] = []


class Segment(SegmentSpec, kw_only=True):
    id: int
    version: int = 1
    updated_at: datetime | None = None
    updated_by: str = ""


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


_SEMVER = re.compile(
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)


def _constraint_errors(c: Constraint, path: str) -> list[dict[str, str]]:
    if c.operator not in OPERATORS:
        known = ", ".join(OPERATORS)
        return [{"path": f"{path}.operator", "message": f"not an operator: one of {known}"}]
    if c.operator not in SINGLE_VALUE_OPERATORS:
        return []
    if c.value is None:
        return [{"path": f"{path}.value", "message": f"{c.operator} needs a value"}]
    if c.operator.startswith("NUM_"):
        try:
            float(c.value)
        except ValueError:
            return [{"path": f"{path}.value", "message": "not a number"}]
    elif c.operator.startswith("DATE_"):
        try:
            datetime.fromisoformat(c.value.replace("Z", "+00:00"))
        except ValueError:
            return [{"path": f"{path}.value", "message": "not an RFC 3339 date"}]
    elif c.operator.startswith("SEMVER_") and not _SEMVER.match(c.value):
        return [{"path": f"{path}.value", "message": "not a semantic version"}]
    return []


def constraints_errors(constraints: list[Constraint], path: str) -> list[dict[str, str]]:
    return [e for i, c in enumerate(constraints) for e in _constraint_errors(c, f"{path}[{i}]")]


def _variants_errors(variants: list[Variant], path: str) -> list[dict[str, str]]:
    errors = []
    if variants and sum(v.weight for v in variants) == 0:
        errors.append({"path": path, "message": "weights must not all be 0"})
    names = [v.name for v in variants]
    for i, n in enumerate(names):
        if names.index(n) != i:
            errors.append({"path": f"{path}[{i}].name", "message": f"duplicate variant {n!r}"})
    return errors


def _rollout_errors(s: Strategy, path: str) -> list[dict[str, str]]:
    for key in ("rollout", "percentage"):
        raw = s.parameters.get(key)
        if raw is None:
            continue
        try:
            pct = float(raw)
        except (TypeError, ValueError):
            pct = -1.0
        if not 0 <= pct <= 100:
            return [{"path": f"{path}.parameters.{key}", "message": "a percentage 0-100"}]
    return []


def spec_errors(
    spec: FlagSpec, root: str = "$", segment_ids: set[int] | None = None
) -> list[dict[str, str]]:
    """Cross-field checks msgspec cannot express, for flags written through Hearth's API
    (``segment_ids``: the segments that exist). An Unleash import is checked by
    :func:`structure_errors` only: it takes what Unleash's client API serves, which its SDKs
    evaluate (an unknown operator or a missing segment is false, not an error)."""
    errors = structure_errors(spec, root)
    for env, cfg in spec.environments.items():
        at = f"{root}.environments.{env}"
        for i, s in enumerate(cfg.strategies):
            sp = f"{at}.strategies[{i}]"
            errors += constraints_errors(s.constraints, f"{sp}.constraints")
            errors += _rollout_errors(s, sp)
            if segment_ids is not None:
                for j, sid in enumerate(s.segments):
                    if sid not in segment_ids:
                        errors.append(
                            {"path": f"{sp}.segments[{j}]", "message": f"no segment {sid}"}
                        )
    return errors


def structure_errors(spec: FlagSpec, root: str = "$") -> list[dict[str, str]]:
    """What no evaluator could make sense of: variants without weight, duplicate variant
    names, a flag depending on itself."""
    errors = []
    for env, cfg in spec.environments.items():
        at = f"{root}.environments.{env}"
        errors += _variants_errors(cfg.variants, f"{at}.variants")
        for i, s in enumerate(cfg.strategies):
            errors += _variants_errors(s.variants, f"{at}.strategies[{i}].variants")
    for i, d in enumerate(spec.dependencies):
        if d.feature == spec.name:
            errors.append({"path": f"{root}.dependencies[{i}].feature", "message": "itself"})
    return errors
