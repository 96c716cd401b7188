"""Tables for RESULTS.md and for the terminal."""

from __future__ import annotations


def md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """First column left-aligned, the others right-aligned (they hold numbers)."""
    out = ["| " + " | ".join(header) + " |", "|---" + "|--:" * (len(header) - 1) + "|"]
    return out + ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]


def print_grid(header: list[str], rows: list[list[str]]) -> None:
    grid = [header, *rows]
    widths = [max(len(row[i]) for row in grid) for i in range(len(header))]
    for n, row in enumerate(grid):
        cells = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
