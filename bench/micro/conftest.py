"""Micro-benchmarks (pytest-benchmark). Not part of the test suite.

Puts the repository root on ``sys.path`` (so ``tests.native.reference`` and
``hearth_core`` import from the source tree) and provides ``record_impl``:
a benchmark calls ``record_impl(benchmark, "native")`` (or ``"python"`` for
the baseline) and, at the end of the session, the medians per group are
written to ``target/bench/micro.json`` and shown as a ratio table (the same
table ``bench/micro/run.py`` reports).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.micro.ratios import RESULTS, ratio_rows, render  # noqa: E402

_recorded: list[tuple[str, str, Any]] = []  # (group, impl, benchmark fixture)


@pytest.fixture
def record_impl() -> Iterator[Callable[[Any, str], None]]:
    def record(benchmark: Any, impl: str) -> None:
        benchmark.extra_info["impl"] = impl
        _recorded.append((benchmark.group or benchmark.name, impl, benchmark))

    yield record


def _medians() -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for group, impl, bench in _recorded:
        stats = getattr(bench, "stats", None)  # None when the benchmark did not run
        if stats is not None:
            out.setdefault(group, {})[impl] = float(stats.stats.median)
    return out


def pytest_terminal_summary(terminalreporter: Any) -> None:
    results = _medians()
    if not results:
        return
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True))
    rows = ratio_rows(results)
    if rows:
        terminalreporter.write_sep("=", "native vs pure Python (median time per round)")
        terminalreporter.write_line(render(rows))
        terminalreporter.write_line(f"(saved to {RESULTS.relative_to(ROOT)})")
