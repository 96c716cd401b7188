"""What a bench leaves behind: ``results.json`` (read by bench/report.py), ``RESULTS.md``, and
its exit code with the reasons on stderr."""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from bench.harness.log import say
from bench.harness.paths import ROOT

WHEN = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
# What follows this line in a RESULTS.md was written by hand and is kept when the bench rewrites it.
NOTES_MARK = (
    "<!-- notes: everything below this line is written by hand and kept when the bench "
    "rewrites this file -->"
)


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
    errors: int = 0,
    rounds: list[float] | None = None,
    peer: str | None = None,
    hearth_value: float | None = None,
    peer_value: float | None = None,
    compared_unit: str | None = None,
    hearth_rounds: list[float] | None = None,
    peer_rounds: list[float] | None = None,
    peer_failed: str = "",
) -> dict[str, Any]:
    """One measured figure. ``target`` is the spec's (or our aim's) text, ``met`` None when the
    figure has no target (never True when its run had ``errors``); ``limit`` what bounds it,
    measured in the same run (``limit_value`` in ``unit`` when comparable); ``headline`` the key
    of the issue's headline figure it belongs to (bench/report.py HEADLINES); ``rounds`` the
    value of every round when ``value`` is their median; ``chart`` a path relative to bench/.

    A figure that sets Hearth beside a peer (``value`` then usually the ratio, unit "x peer")
    names the ``peer`` (with its version: "Ory Hydra v2.3.0") and gives both measurements of the
    same run, ``hearth_value`` and ``peer_value``, in ``compared_unit`` ("req/s", "samples/s",
    "ms p99"): the report's opening table reads them, and its charts draw ``hearth_rounds`` and
    ``peer_rounds`` (each round's value, in ``compared_unit``) as the spread of each bar. A
    comparison the peer could not take part in (it failed to build, start or load) keeps its
    row: ``peer_failed`` says why (see ``peer_failed_figure``); a figure naming a ``peer``
    without a ``peer_value`` is failed too, never dropped."""
    return {
        "name": name,
        "value": value,
        "unit": unit,
        "target": target,
        "target_value": target_value,
        "met": None if met is None else bool(met) and not errors,
        "errors": errors,
        "rounds": rounds or [],
        "limit": limit,
        "limit_value": limit_value,
        "headline": headline,
        "chart": chart,
        "detail": detail,
        "peer": peer,
        "hearth_value": hearth_value,
        "peer_value": peer_value,
        "compared_unit": compared_unit,
        "hearth_rounds": hearth_rounds or [],
        "peer_rounds": peer_rounds or [],
        "peer_failed": peer_failed,
    }


def peer_failed_figure(
    name: str,
    peer: str,
    why: str,
    *,
    unit: str = "x peer",
    target: str = "—",
    target_value: float | None = None,
    headline: str | None = None,
    compared_unit: str | None = None,
    hearth_value: float | None = None,
    hearth_rounds: list[float] | None = None,
    limit: str = "",
    chart: str | None = None,
) -> dict[str, Any]:
    """The figure of a comparison whose ``peer`` failed to build, start or answer: no value,
    failed (never met) with ``why``, so that the report lists it rather than dropping it."""
    return figure(
        name,
        None,
        unit,
        target,
        False if target_value is not None else None,
        headline=headline,
        target_value=target_value,
        limit=limit,
        chart=chart,
        detail=f"{peer} failed: {why}",
        errors=1,
        peer=peer,
        hearth_value=hearth_value,
        compared_unit=compared_unit,
        hearth_rounds=hearth_rounds,
        peer_failed=why,
    )


def write_results(here: Path, figures: list[dict[str, Any]], **extra: Any) -> None:
    """``<here>/results.json``: this run's figures, the command that reproduces them and the
    load average at the end of the run."""
    doc = {
        "bench": here.name,
        "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command_line(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "figures": figures,
        **extra,
    }
    path = here / "results.json"
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    say(f"wrote {path.relative_to(ROOT)} ({len(figures)} figures)")


def write_markdown(here: Path, title: str, body: list[str], problems: list[str]) -> None:
    """``<here>/RESULTS.md``: the title, a warning naming this run's problems, the command,
    ``body``, and the hand-written notes the previous file kept below NOTES_MARK."""
    path = here / "RESULTS.md"
    try:
        _, mark, notes = path.read_text().partition(NOTES_MARK)
    except OSError:
        mark, notes = "", ""
    lines = [f"# {title}", ""]
    if problems:
        lines += ["> **⚠ THIS RUN HAD ERRORS; its figures are failed, not results:**", ">"]
        lines += [f"> - {p}" for p in problems] + [""]
    lines += [f"Generated by `{command_line()}` on {WHEN}.", "", *body]
    if mark:
        lines += [
            "",
            "_Below: notes written by hand on the date they give. Their figures come from the "
            "runs they describe, not from this one._",
            "",
            NOTES_MARK,
            notes.strip("\n"),
        ]
    path.write_text("\n".join(lines).rstrip() + "\n")
    say(f"wrote {path.relative_to(ROOT)}")


def finish(problems: list[str], *log_tails: str) -> int:
    """Exit code 1 and the problems on stderr when there are any; the server's warnings."""
    for tail in log_tails:
        # At WARNING the server logs nothing per request: any JSON log line or traceback is news.
        lines = [ln for ln in tail.splitlines() if ln.startswith("{") or "Traceback" in ln]
        if lines:
            print(
                f"\nthe server logged {len(lines)} warning/error line(s); last ones:",
                file=sys.stderr,
            )
            print("\n".join(lines[-5:]), file=sys.stderr)
    if not problems:
        return 0
    bar = "!" * 72
    said = [f"!!! {p}" for p in problems] + ["!!! this run is not trustworthy"]
    print("\n".join(["", bar, *said, bar]), file=sys.stderr)
    return 1
