"""matplotlib on the Agg backend (no display)."""

from __future__ import annotations

from typing import Any

from bench.harness.log import BenchError


def pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise BenchError("matplotlib is missing: `make bench` installs it (bench extra)") from None
    return plt
