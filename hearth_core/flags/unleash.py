"""Flags in Unleash's client-API shape: the state ``GET /api/client/features`` serves for one
environment (also what export writes and the native evaluator compiles), and reading such a
document back for import."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from hearth_core.flags.model import (
    Constraint,
    Dependency,
    EnvConfig,
    Flag,
    FlagName,
    FlagSpec,
    Segment,
    Strategy,
    Variant,
)

CLIENT_API_VERSION = 2


class UnleashFeature(msgspec.Struct, kw_only=True):
    """A feature as Unleash's client API serves it (fields Hearth does not keep are ignored)."""

    name: FlagName
    enabled: bool
    description: Annotated[str, msgspec.Meta(max_length=2000)] | None = None
    type: Annotated[str, msgspec.Meta(min_length=1, max_length=50)] | None = None
    stale: bool = False
    impressionData: bool = False
    strategies: list[Strategy] = []
    variants: list[Variant] | None = None
    dependencies: list[Dependency] | None = None


class UnleashSegment(msgspec.Struct, kw_only=True):
    id: Annotated[int, msgspec.Meta(ge=1, le=2_147_483_647)]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=255)] | None = None
    description: str | None = None
    constraints: list[Constraint] = []


class UnleashState(msgspec.Struct, kw_only=True):
    version: int = CLIENT_API_VERSION
    features: list[UnleashFeature] = []
    segments: list[UnleashSegment] = []


ImportMode = Literal["replace", "merge"]
state_decoder = msgspec.json.Decoder(UnleashState)


# Spelled out in full, defaults included, as Unleash serves them: some SDKs read
# `strategy.parameters.x` or iterate `constraints` without checking they are there.
def _constraint(c: Constraint) -> dict[str, Any]:
    out: dict[str, Any] = {
        "contextName": c.contextName,
        "operator": c.operator,
        "values": c.values,
        "inverted": c.inverted,
        "caseInsensitive": c.caseInsensitive,
    }
    if c.value is not None:
        out["value"] = c.value
    return out


def _variant(v: Variant, *, overrides: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": v.name,
        "weight": v.weight,
        "weightType": v.weightType,
        "stickiness": v.stickiness,
    }
    if v.payload is not None:
        out["payload"] = {"type": v.payload.type, "value": v.payload.value}
    if overrides:
        out["overrides"] = [{"contextName": o.contextName, "values": o.values} for o in v.overrides]
    return out


def _strategy(st: Strategy) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": st.name,
        "parameters": st.parameters,
        "constraints": [_constraint(c) for c in st.constraints],
        "segments": st.segments,
        "variants": [_variant(v, overrides=False) for v in st.variants],
    }
    if st.disabled:
        out["disabled"] = True
    return out


def _dependency(d: Dependency) -> dict[str, Any]:
    out: dict[str, Any] = {"feature": d.feature, "enabled": d.enabled}
    if d.variants:
        out["variants"] = d.variants
    return out


def _feature(flag: Flag, env: str, *, metadata: bool) -> dict[str, Any]:
    cfg = flag.environments.get(env) or EnvConfig()
    # As Unleash serves them: disabled strategies left out (SDKs do not read the field), and a
    # flag whose strategies are all disabled is off.
    active = [st for st in cfg.strategies if not st.disabled]
    out: dict[str, Any] = {
        "name": flag.name,
        "description": flag.description,
        "type": flag.type,
        "project": "default",
        "enabled": cfg.enabled and (bool(active) or not cfg.strategies),
        "stale": flag.stale,
        "impressionData": flag.impression_data,
        "strategies": [_strategy(st) for st in active],
        "variants": [_variant(v, overrides=True) for v in cfg.variants],
        "dependencies": [_dependency(d) for d in flag.dependencies],
    }
    if metadata and flag.metadata:
        out["metadata"] = flag.metadata
    return out


def client_state(
    flags: list[Flag], segments: list[Segment], env: str, *, metadata: bool = False
) -> dict[str, Any]:
    """Every live flag as Unleash serves it for ``env`` (a flag not configured there is listed
    off, as Unleash lists a project's features in each of its environments); ``metadata`` adds
    Hearth's flag metadata for the evaluator, which echoes it."""
    return {
        "version": CLIENT_API_VERSION,
        "features": [_feature(f, env, metadata=metadata) for f in sorted(flags, key=_by_name)],
        "segments": [
            {"id": s.id, "name": s.name, "constraints": [_constraint(c) for c in s.constraints]}
            for s in sorted(segments, key=lambda s: s.id)
        ],
    }


def _by_name(f: Flag) -> str:
    return f.name


def spec_from_feature(feature: UnleashFeature, env: str, existing: FlagSpec | None) -> FlagSpec:
    """``existing`` (or a new flag) with ``env`` set as the feature has it and the feature-wide
    fields as the document has them (description and type kept when it lacks them)."""
    cfg = EnvConfig(
        enabled=feature.enabled, strategies=feature.strategies, variants=feature.variants or []
    )
    base = existing or FlagSpec(name=feature.name)
    return FlagSpec(
        name=feature.name,
        description=base.description if feature.description is None else feature.description,
        type=base.type if feature.type is None else feature.type,
        impression_data=feature.impressionData,
        stale=feature.stale,
        # Unleash's client API leaves `dependencies` out when there are none.
        dependencies=feature.dependencies or [],
        environments={**base.environments, env: cfg},
        metadata=base.metadata,
    )


def spec_of(flag: FlagSpec) -> FlagSpec:
    """The writable part of a stored flag."""
    if type(flag) is FlagSpec:
        return flag
    return FlagSpec(**{k: getattr(flag, k) for k in FlagSpec.__struct_fields__})


def without_env(spec: FlagSpec, env: str) -> FlagSpec:
    envs = {k: v for k, v in spec.environments.items() if k != env}
    return msgspec.structs.replace(spec_of(spec), environments=envs)
