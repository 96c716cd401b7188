"""Two answers of the Prometheus query API compared: the same result type, the same label sets,
the same timestamps, values equal within 1e-9 relative (NaN equal to NaN)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

REL = 1e-9

Key = tuple[tuple[str, str], ...]


@dataclass
class Diff:
    """What differs between a reference answer and another; ``equal`` when nothing does."""

    series_ref: int = 0
    series_other: int = 0
    points: int = 0  # compared
    only_ref: list[Key] = field(default_factory=list)
    only_other: list[Key] = field(default_factory=list)
    times: list[str] = field(default_factory=list)  # series whose timestamps differ
    values: int = 0  # points whose values differ beyond REL
    max_rel: float = 0.0
    worst: str = ""
    kind: str = ""  # result types, when they differ

    @property
    def equal(self) -> bool:
        return not (self.kind or self.only_ref or self.only_other or self.times or self.values)

    def text(self, ref: str, other: str) -> str:
        if self.kind:
            return self.kind
        if self.equal:
            worst = f", largest relative difference {self.max_rel:.1e}" if self.max_rel else ""
            return f"equal: {self.series_ref} series, {self.points:,} points{worst}"
        parts = []
        if self.only_ref:
            parts.append(f"{len(self.only_ref)} series only in {ref}, e.g. {fmt(self.only_ref[0])}")
        if self.only_other:
            parts.append(
                f"{len(self.only_other)} series only in {other}, e.g. {fmt(self.only_other[0])}"
            )
        if self.times:
            parts.append(f"other timestamps in {len(self.times)} series, e.g. {self.times[0]}")
        if self.values:
            parts.append(
                f"{self.values:,} of {self.points:,} values differ (largest relative difference "
                f"{self.max_rel:.3g}: {self.worst})"
            )
        return f"{self.series_ref} series in {ref}, {self.series_other} in {other}: " + "; ".join(
            parts
        )


def fmt(key: Key) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in key) + "}"


def _value(s: str) -> float:
    return float(s)  # Prometheus writes NaN, +Inf, -Inf, which float() reads


def _rel(a: float, b: float) -> float:
    if a == b or (math.isnan(a) and math.isnan(b)):
        return 0.0
    if math.isnan(a) or math.isnan(b) or math.isinf(a) or math.isinf(b):
        return math.inf
    return abs(a - b) / max(abs(a), abs(b))


def _points(result_type: str, result: Any) -> dict[Key, list[tuple[float, str]]]:
    """Label set -> [(time, value)] for a matrix, vector or scalar."""
    if result_type == "scalar":
        return {(): [(float(result[0]), result[1])]}
    out: dict[Key, list[tuple[float, str]]] = {}
    for item in result:
        key = tuple(sorted(item["metric"].items()))
        if result_type == "matrix":
            out[key] = [(float(t), v) for t, v in item["values"]]
        else:
            t, v = item["value"]
            out[key] = [(float(t), v)]
    return out


def compare(ref: dict[str, Any], other: dict[str, Any]) -> Diff:
    """``ref`` and ``other``: the ``data`` of two answers."""
    diff = Diff()
    if ref.get("resultType") != other.get("resultType"):
        diff.kind = f"result type {ref.get('resultType')} vs {other.get('resultType')}"
        return diff
    a = _points(ref["resultType"], ref["result"])
    b = _points(other["resultType"], other["result"])
    diff.series_ref, diff.series_other = len(a), len(b)
    diff.only_ref = sorted(set(a) - set(b))
    diff.only_other = sorted(set(b) - set(a))
    for key in sorted(set(a) & set(b)):
        pa, pb = a[key], b[key]
        if [t for t, _ in pa] != [t for t, _ in pb]:
            ta, tb = {t for t, _ in pa}, {t for t, _ in pb}
            diff.times.append(
                f"{fmt(key)}: {len(pa)} vs {len(pb)} points, {len(ta - tb)} times only in the "
                f"first, {len(tb - ta)} only in the second"
            )
            continue
        for (t, va), (_, vb) in zip(pa, pb, strict=True):
            diff.points += 1
            r = _rel(_value(va), _value(vb))
            if r > diff.max_rel:
                diff.max_rel = r
                diff.worst = f"{fmt(key)} at {t:g}: {va} vs {vb}"
            if r > REL:
                diff.values += 1
    return diff
