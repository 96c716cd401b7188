"""matplotlib on the Agg backend (no display), and the report's chart of Hearth beside a peer."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.harness.log import BenchError

HEARTH_COLOR = "#1f77b4"
PEER_COLOR = "#ff7f0e"
FAILED_COLOR = "#d62728"


def pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise BenchError("matplotlib is missing: `make bench` installs it (bench extra)") from None
    return plt


@dataclass
class Pair:
    """One comparison: Hearth's and the peer's medians (and every round's value) of the same
    work in the same run, in ``unit``; ``aim`` the value Hearth had to reach (or stay under),
    ``failed`` why the comparison was not made."""

    label: str
    unit: str
    peer: str
    hearth: float | None
    peer_value: float | None
    hearth_rounds: list[float] = field(default_factory=list)
    peer_rounds: list[float] = field(default_factory=list)
    ratio: str = ""
    aim: float | None = None
    failed: str = ""


def _fmt(v: float) -> str:
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.2f}" if abs(v) < 10 else f"{v:.1f}"


def _whisker(median: float | None, rounds: list[float]) -> tuple[float, float]:
    """(below, above) the median: the min-max of the rounds."""
    if median is None or len(rounds) < 2:
        return 0.0, 0.0
    return max(0.0, median - min(rounds)), max(0.0, max(rounds) - median)


def peer_chart(path: Path, title: str, pairs: list[Pair]) -> None:
    """Hearth beside the peer for each pair: horizontal bars at the medians, whiskers from the
    min to the max of the rounds, the ratio at the right, the aim as a red tick on Hearth's
    bar; one panel per unit (log scale when the values span more than 30x)."""
    plt = pyplot()
    units = list(dict.fromkeys(p.unit for p in pairs))
    heights = [0.9 + 0.75 * sum(1 for p in pairs if p.unit == u) for u in units]
    fig, axes = plt.subplots(
        len(units),
        1,
        figsize=(10, 0.7 + sum(heights)),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )
    for ax, unit in zip(axes[:, 0], units, strict=True):
        mine = [p for p in pairs if p.unit == unit]
        h = 0.36
        ys = list(range(len(mine)))
        values = [
            v
            for p in mine
            for v in [p.hearth, p.peer_value, p.aim, *p.hearth_rounds, *p.peer_rounds]
            if v is not None and v > 0
        ]
        top = max(values, default=1.0)
        log = len(values) > 1 and top / min(values) > 30
        for y, p in zip(ys, mine, strict=True):
            for dy, value, rounds, color, who in (
                (-h / 2, p.hearth, p.hearth_rounds, HEARTH_COLOR, "Hearth"),
                (h / 2, p.peer_value, p.peer_rounds, PEER_COLOR, p.peer),
            ):
                if value is None:
                    why = p.failed or "not measured"
                    ax.text(
                        min(values, default=1.0) if log else 0.0,
                        y + dy,
                        f"{who}: failed — " + textwrap.shorten(why, 60, placeholder=" …"),
                        va="center",
                        fontsize=7,
                        color=FAILED_COLOR,
                    )
                    continue
                lo, hi = _whisker(value, rounds)
                ax.barh(
                    y + dy,
                    value,
                    h * 0.92,
                    color=color,
                    xerr=[[lo], [hi]] if lo or hi else None,
                    error_kw={"ecolor": "black", "capsize": 3, "lw": 1},
                )
                ax.text(
                    value + hi,
                    y + dy,
                    f"  {who} {_fmt(value)}",
                    va="center",
                    fontsize=7,
                )
            if p.aim is not None:
                ax.plot([p.aim, p.aim], [y - h, y], color="red", lw=2)
            if p.ratio:
                ax.text(
                    1.01, y, p.ratio, transform=ax.get_yaxis_transform(), va="center", fontsize=8
                )
        labels = [textwrap.fill(p.label, 46, max_lines=3, placeholder=" …") for p in mine]
        ax.set_yticks(ys, labels, fontsize=7.5)
        ax.invert_yaxis()
        if log:
            ax.set_xscale("log")
            ax.set_xlim(min(values) * 0.5, top * 8)
        else:
            ax.set_xlim(0, top * 1.45)
            fmt = "{:,.0f}" if top >= 100 else "{:g}"
            ax.xaxis.set_major_formatter(lambda v, _pos, fmt=fmt: fmt.format(v))
        ax.set_xlabel(f"{unit} (bar: median; whisker: min-max of the rounds; red tick: the aim)")
    axes[0, 0].set_title(f"{title}\nblue: Hearth, orange: the peer, same run", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
