"""What the benchmark scripts under bench/ share beyond bench/auth/run.py's server helpers:
progress lines, the error type, the entry point, the server-log check and the chart backend."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, NoReturn

_T0 = time.monotonic()


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
