"""Ratio table for the micro-benchmarks: native vs the pure-Python reference.

``bench/micro/conftest.py`` records the median time of every benchmark that
declares an implementation (``python`` is the baseline) in ``target/bench/micro.json``;
``bench/micro/run.py`` runs them and reports these ratios.

Columns: median time per round for each implementation, ``native/python``
(time ratio, lower is better) and ``speedup`` (python ÷ native).
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "target" / "bench" / "micro.json"
BASELINE = "python"

Row = tuple[str, str, float, float]  # group, impl, baseline median, impl median


def ratio_rows(results: dict[str, dict[str, float]]) -> list[Row]:
    """One row per non-baseline implementation of every group with a baseline."""
    rows: list[Row] = []
    for group in sorted(results):
        impls = results[group]
        base = impls.get(BASELINE)
        if base is None:
            continue
        for impl in sorted(i for i in impls if i != BASELINE):
            rows.append((group, impl, base, impls[impl]))
    return rows


def fmt_time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.2f} {unit}"
    return f"{seconds / 1e-9:.0f} ns"


def render(rows: list[Row]) -> str:
    header = ("benchmark", "impl", "python", "native", "native/python", "speedup")
    body = [
        (group, impl, fmt_time(base), fmt_time(t), f"{t / base:.4f}", f"{base / t:.1f}x")
        for group, impl, base, t in rows
    ]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in body]
    return "\n".join(lines)
