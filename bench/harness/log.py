"""Progress lines, the error type and the entry point of every bench script."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import NoReturn

_T0 = time.monotonic()


def say(msg: str) -> None:
    elapsed = int(time.monotonic() - _T0)
    print(f"[bench {elapsed // 60}:{elapsed % 60:02d}] {msg}", file=sys.stderr, flush=True)


class BenchError(RuntimeError):
    """A bench could not measure (setup, a wrong answer before measuring): exit code 2."""


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
