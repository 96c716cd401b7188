"""Evaluating flags for one context, from memory. Bucketing is Unleash's, done natively."""

from __future__ import annotations

from typing import Any

import msgspec

from hearth_core._native import rollout_bucket, variant_bucket
from hearth_core.flags.model import Flag, Reason, Rule


class EvalContext(msgspec.Struct, kw_only=True, frozen=True):
    user_id: str | None = None
    environment: str | None = None
    attributes: dict[str, Any] = {}


class Evaluation(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One flag's result, shaped like an OFREP evaluation success."""

    key: str
    value: Any
    reason: Reason
    variant: str
    metadata: dict[str, Any] = {}


def _rule_matches(rule: Rule, attributes: dict[str, Any]) -> bool:
    raw = attributes.get(rule.attribute)
    if raw is None:
        return rule.op == "not_in"
    value = str(raw)
    if rule.op == "in" or rule.op == "equals":
        return value in rule.values
    if rule.op == "not_in":
        return value not in rule.values
    if rule.op == "starts_with":
        return any(value.startswith(v) for v in rule.values)
    if rule.op == "ends_with":
        return any(value.endswith(v) for v in rule.values)
    return any(v in value for v in rule.values)  # contains


def evaluate(flag: Flag, ctx: EvalContext) -> Evaluation:
    env = flag.environments.get(ctx.environment) if ctx.environment else None
    enabled = env.enabled if env is not None and env.enabled is not None else flag.enabled
    pct = env.rollout_pct if env is not None and env.rollout_pct is not None else flag.rollout_pct
    if not enabled:
        return _off(flag, "DISABLED")
    t = flag.targeting
    if (ctx.user_id is not None and ctx.user_id in t.user_ids) or (
        t.rules and all(_rule_matches(r, ctx.attributes) for r in t.rules)
    ):
        return _on(flag, ctx, "TARGETED")
    if pct >= 100:
        return _on(flag, ctx, "DEFAULT")
    if ctx.user_id is None or pct <= 0:
        # Without a user there is nothing to bucket: a partial rollout stays off.
        return _off(flag, "ROLLOUT" if pct <= 0 else "DEFAULT")
    if rollout_bucket(flag.name, ctx.user_id) <= pct:
        return _on(flag, ctx, "ROLLOUT")
    return _off(flag, "ROLLOUT")


def _on(flag: Flag, ctx: EvalContext, reason: Reason) -> Evaluation:
    if not flag.variants:
        return Evaluation(
            key=flag.name, value=True, reason=reason, variant="on", metadata=flag.metadata
        )
    total = sum(v.weight for v in flag.variants)
    point = variant_bucket(flag.name, ctx.user_id or "", total)
    for v in flag.variants:
        point -= v.weight
        if point <= 0:
            value = v.name if v.value is None else v.value
            return Evaluation(
                key=flag.name, value=value, reason=reason, variant=v.name, metadata=flag.metadata
            )
    raise AssertionError("variant weights exhausted")  # unreachable: bucket ≤ total


def _off(flag: Flag, reason: Reason) -> Evaluation:
    return Evaluation(
        key=flag.name, value=False, reason=reason, variant="off", metadata=flag.metadata
    )
