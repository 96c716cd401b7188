"""Micro-benchmarks: the native core against the pure-Python reference (pytest-benchmark).

    .venv/bin/python bench/micro/run.py

Runs ``pytest bench/micro --benchmark-only`` (its conftest writes the medians to
``target/bench/micro.json``), then writes ``RESULTS.md``, ``micro.png`` and ``results.json``
next to this file. Exit code 1 when pytest fails, 2 when it recorded nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.harness.charts import pyplot
from bench.harness.log import BenchError, run_main, say
from bench.harness.machine import machine_info, machine_line, noise
from bench.harness.paths import ROOT
from bench.harness.results import figure, finish, write_markdown, write_results
from bench.harness.tables import md_table
from bench.micro.ratios import RESULTS, Row, fmt_time, ratio_rows, render

HERE = Path(__file__).resolve().parent
HEADER = ["benchmark", "impl", "python", "native", "speedup"]


def write_chart(rows: list[Row]) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 0.9 + 0.6 * len(rows)))
    names = [f"{group}\n{impl}" for group, impl, _, _ in rows]
    bars = ax.barh(names, [base / t for _, _, base, t in rows], color="#2ca02c")
    ax.bar_label(bars, [f"{base / t:.1f}x" for _, _, base, t in rows], fontsize=8, padding=3)
    ax.axvline(1.0, color="#9e9e9e", ls="--", lw=1, label="pure Python")
    ax.set_xlabel("speedup over pure Python (median time per round)")
    ax.tick_params(axis="y", labelsize=8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(HERE / "micro.png", dpi=100)
    plt.close(fig)


def main() -> int:
    start = noise()
    RESULTS.unlink(missing_ok=True)  # what pytest records now, never an earlier run's
    say("pytest bench/micro --benchmark-only")
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "bench/micro",
            "-q",
            "--benchmark-only",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        check=False,
    )
    if not RESULTS.exists():
        raise BenchError(f"pytest (exit {res.returncode}) recorded no benchmark in {RESULTS}")
    rows = ratio_rows(json.loads(RESULTS.read_text()))
    if not rows:
        raise BenchError(f"no benchmark group in {RESULTS} has a pure-Python baseline")
    print(render(rows))
    problems = [f"pytest bench/micro exited {res.returncode}"] if res.returncode else []
    write_chart(rows)
    write_markdown(
        HERE,
        "Micro-benchmarks: native core vs pure Python",
        [
            f"- Machine: {machine_line(machine_info())}. At the start: {start}; at the end: "
            f"{noise()}.",
            "- pytest-benchmark, median time per round; the pure-Python implementation is "
            "`tests/native/reference.py`, the one the native core is tested against.",
            "",
            *md_table(
                HEADER,
                [[g, i, fmt_time(b), fmt_time(t), f"{b / t:.1f}x"] for g, i, b, t in rows],
            ),
            "",
            "![speedup over pure Python](micro.png)",
        ],
        problems,
    )
    write_results(
        HERE,
        [
            figure(
                f"{group}: {impl} speedup over pure Python",
                round(base / t, 1),
                "x",
                "—",
                None,
                limit=f"pure Python {fmt_time(base)} per round",
                chart="micro/micro.png",
                detail=f"{impl} {fmt_time(t)} per round (median)",
                errors=res.returncode,
            )
            for group, impl, base, t in rows
        ],
    )
    return finish(problems)


if __name__ == "__main__":
    run_main(main)
