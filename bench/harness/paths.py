"""Where the repository and the tools a bench runs are."""

from __future__ import annotations

import sys
from pathlib import Path

from bench.harness.log import BenchError

ROOT = Path(__file__).resolve().parents[2]
# The venv running the bench holds hearth, locust and py-spy (make bench installs them there).
BIN = Path(sys.executable).parent


def tool(name: str) -> Path:
    path = BIN / name
    if not path.exists():
        raise BenchError(f"{path} is missing: `make bench` installs it (pyproject's bench extra)")
    return path
