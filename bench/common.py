"""What the benchmark scripts under bench/ share beyond bench/auth/run.py's server helpers:
progress lines, the error type, the entry point, the server-log check, the chart backend and
the machine-readable ``results.json`` that ``bench/report.py`` turns into ``bench/RESULTS.md``."""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

_T0 = time.monotonic()
ROOT = Path(__file__).resolve().parents[1]


def say(msg: str) -> None:
    elapsed = int(time.monotonic() - _T0)
    print(f"[bench {elapsed // 60}:{elapsed % 60:02d}] {msg}", file=sys.stderr, flush=True)


class BenchError(RuntimeError):
    pass


def pyplot() -> Any | None:
    """matplotlib.pyplot on the Agg backend, or None (said on stderr) when it is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        say("matplotlib is not installed (pip install -e '.[bench]'); skipping the chart")
        return None
    return plt


def report_server_warnings(log_tail: str) -> None:
    # At WARNING the server logs nothing per request: any JSON log line or traceback is news.
    warnings = [ln for ln in log_tail.splitlines() if ln.startswith("{") or "Traceback" in ln]
    if warnings:
        print(
            f"\nthe server logged {len(warnings)} warning/error line(s); last ones:",
            file=sys.stderr,
        )
        print("\n".join(warnings[-5:]), file=sys.stderr)


def run_main(main: Callable[[], int]) -> NoReturn:
    """Exit with main()'s code; 2 on a BenchError (its message on stderr), 130 on Ctrl-C."""
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"[bench] error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("[bench] interrupted", file=sys.stderr)
        sys.exit(130)


# ---------------------------------------------------------------- results.json
def command_line() -> str:
    """This run as a command to paste at the repository root."""
    script = Path(sys.argv[0]).resolve()
    try:
        shown = str(script.relative_to(ROOT))
    except ValueError:
        shown = str(script)
    return shlex.join([".venv/bin/python", shown, *sys.argv[1:]])


def figure(
    name: str,
    value: float | None,
    unit: str,
    target: str,
    met: bool | None,
    *,
    headline: str | None = None,
    target_value: float | None = None,
    limit: str = "",
    limit_value: float | None = None,
    chart: str | None = None,
    detail: str = "",
) -> dict[str, Any]:
    """One measured figure. ``target`` is the spec's (or our aim's) text, ``met`` None when the
    figure has no target; ``limit`` what bounds it, measured in the same run (``limit_value``
    in ``unit`` when comparable); ``headline`` the key of the issue's headline figure it
    belongs to (``bench/report.py`` HEADLINES), None for a supporting figure; ``chart`` a path
    relative to ``bench/``."""
    return {
        "name": name,
        "value": value,
        "unit": unit,
        "target": target,
        "target_value": target_value,
        "met": met,
        "limit": limit,
        "limit_value": limit_value,
        "headline": headline,
        "chart": chart,
        "detail": detail,
    }


def write_results(here: Path, figures: list[dict[str, Any]], **extra: Any) -> Path:
    """``<here>/results.json``: the figures of this run, with the command that reproduces them
    and the load average at the end of the run."""
    cmd = command_line()
    doc = {
        "bench": here.name,
        "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": cmd,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "figures": [{**f, "command": f.get("command") or cmd} for f in figures],
        **extra,
    }
    path = here / "results.json"
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    say(f"wrote {path.relative_to(ROOT)} ({len(figures)} figures)")
    return path


# Benchmarks rewrite their RESULTS.md; what follows this line in it was written by hand and is kept.
NOTES_MARK = (
    "<!-- notes: everything below this line is written by hand and kept when the bench "
    "rewrites this file -->"
)


def hand_notes(results_md: Path) -> str:
    """The hand-written part of ``results_md`` after NOTES_MARK ("" when there is none)."""
    try:
        _, sep, notes = results_md.read_text().partition(NOTES_MARK)
    except OSError:
        return ""
    return notes.strip("\n") + "\n" if sep else ""
