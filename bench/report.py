"""The project-wide performance report: every bench of this ``make bench`` run into
``bench/RESULTS.md``.

    .venv/bin/python -m bench.report

``make bench`` runs every bench through ``bench.harness.suite``, which records each one's exit
code, time and last error lines in ``target/bench/runs/``; each bench writes
``bench/<name>/results.json`` (figures with their target, the limit measured in the same run
and the command that reproduces them; see ``bench.harness.results.figure``). This report counts
only what this run measured: a bench that failed shows its figures as failed (never met) with
the reason, and a results.json that this run did not write is listed apart, as not measured in
this run, and never counted. It has a summary table, a section and a chart
(``bench/charts/<headline>.png``) per headline figure of the performance issue, the other
figures, the profiling before/after record and the runs (when, load average, command, time).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

from bench.harness.charts import pyplot
from bench.harness.suite import RUNS, STARTED
from bench.harness.tables import md_table

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS_MD = HERE / "RESULTS.md"
CHARTS = HERE / "charts"
ORDER = (
    "micro",
    "auth",
    "users",
    "flags",
    "ingest",
    "peers",
    "store",
    "ratelimit",
    "query",
    "mixed",
)

# The headline figures, exactly as the performance issue lists them: key, title, spec text.
HEADLINES = (
    ("token", "Token latency", "§8: auth token latency < 50 ms"),
    ("introspect", "Introspection latency", "§8: introspection < 20 ms"),
    (
        "users",
        "User-operation success rate under load",
        "§8: user management operations success rate > 99.9 %",
    ),
    ("toggle", "Flag toggle latency", "§8: feature flag toggle latency < 20 ms"),
    ("config", "Config read/write latency", "§8: config reads/writes < 50 ms"),
    (
        "flags",
        "Flags vs Unleash",
        "issue 19: /api/frontend ≥ 10x Unleash's; evaluation ≥ 0.4x a hello-world",
    ),
    (
        "ingest",
        "Ingest throughput (ratio to the raw write-log write)",
        "§8: metrics ingestion throughput > 20k points/s",
    ),
    (
        "peers",
        "Ingest vs Prometheus and VictoriaMetrics",
        "issue 16: Hearth ÷ Prometheus ≥ 1x and ÷ VictoriaMetrics ≥ 0.5x samples/s (aims), "
        "disk ≤ 4 bytes/sample",
    ),
    (
        "remote",
        "Remote mode: ingest through Hearth ÷ Prometheus receiving directly",
        "issue 20: Hearth in remote mode ≥ 0.8x Prometheus's own remote-write rate, same run "
        "(aim: the gateway costs little)",
    ),
    (
        "store",
        "Compaction keeps pace with sustained ingest",
        "issue 16: compaction keeps pace with the ingest for 5 minutes with the write log bounded",
    ),
    (
        "ratelimit",
        "Rate-limit accuracy under bursts",
        "§8: rate-limit accuracy > 99.9 % under bursts",
    ),
    (
        "mixed",
        "Mixed locust scenario at the 5 000 req/s target",
        "§6.7: performance tests, target 5k req/s",
    ),
    ("scaling", "Scaling: 1 and 2 workers (`hearth serve --workers N`)", "— (no spec target)"),
)

# Profiling record: what the profiles showed and the figures before the fixes, from the
# RESULTS.md committed at the time (git show <commit>:<path>).
FLAGS_BEFORE = {
    "commit": "324cae8",
    "path": "bench/flags/RESULTS.md",
    "hello_rps": 32011,
    "rows": {
        "evaluate": ("POST /v1/flags/evaluate (random user)", 8244, 0.26),
        "evaluate304": ("POST /v1/flags/evaluate + If-None-Match (304)", 13718, 0.43),
        "config-get": ("GET /v1/config/{key}?environment=prod", 12565, 0.39),
    },
}
INGEST_BEFORE = {
    "commit": "dd603be",
    "after_commit": "2111c2d",
    "e2e": 0.47,
    "replay": 0.55,
    "after_e2e": 0.67,
    "after_replay": 1.32,
}


# ---------------------------------------------------------------- loading
def started() -> tuple[float | None, str]:
    """(epoch, load average) of the start of this ``make bench`` run, if one began."""
    try:
        epoch, load = STARTED.read_text().split("\n", 1)
        return float(epoch), load.strip()
    except (OSError, ValueError):
        return None, ""


def load(t0: float | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """(this run's benches, their figures marked failed when the bench failed; the benches
    that failed with nothing written this run; names whose results.json is older than the run
    or that did not run)."""
    records = {}
    for path in RUNS.glob("*.json") if RUNS.exists() else []:
        rec = json.loads(path.read_text())
        records[rec["bench"]] = rec
    found = {p.parent.name: p for p in HERE.glob("*/results.json")}
    names = [n for n in ORDER if n in found or n in records]
    names += sorted((set(found) | set(records)) - set(ORDER))
    docs, failed_empty, old = [], [], []
    for name in names:
        rec = records.get(name)
        path = found.get(name)
        since = rec["started"] if rec else t0
        fresh = path is not None and (since is None or path.stat().st_mtime >= since)
        if rec is None and t0 is not None:
            old.append(name)
            continue
        why = ""
        if rec is not None and rec["exit"] != 0:
            why = rec["why"] or f"exit code {rec['exit']}"
        if not fresh:
            if rec is not None:
                failed_empty.append({**rec, "why": why or "wrote no results.json"})
            else:
                old.append(name)
            continue
        doc = json.loads(path.read_text())
        doc |= {"bench": name, "record": rec, "failed": why}
        for f in doc.get("figures", []):
            if why or f.get("errors"):
                f["failed"] = why or f"{f['errors']} errors"
                f["met"] = False if f["met"] is not None else None
        docs.append(doc)
    return docs, failed_empty, old


# ---------------------------------------------------------------- formatting
def num(value: Any, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "%":
        return f"{value:.3f} %" if value < 99.99 or value == 100 else f"{value:.4f} %"
    if isinstance(value, float) and abs(value) < 100:
        text = f"{value:.2f}"
    else:
        text = f"{value:,.0f}"
    return f"{text} {unit}"


def met_cell(f: dict[str, Any]) -> str:
    if f.get("failed"):
        return f"**failed** ({f['failed']})"
    return "—" if f["met"] is None else ("**met**" if f["met"] else "**NOT met**")


def measured(f: dict[str, Any]) -> str:
    """The value, and the min-max of its rounds when there were several."""
    rounds = f.get("rounds") or []
    text = num(f["value"], f["unit"])
    if len(rounds) > 1:
        lo, hi = num(min(rounds), "").strip(), num(max(rounds), "").strip()
        text += f" ({lo}-{hi}, {len(rounds)} rounds)"
    return text


def code(text: str) -> str:
    return f"`{text}`" if text else "—"


# ---------------------------------------------------------------- charts
def headline_chart(key: str, title: str, figs: list[dict[str, Any]]) -> str | None:
    """Measured (green when met, red when not) beside the limit measured in the same run (grey)
    and the target (red dotted line), for the figures of the headline's first unit."""
    if not figs:
        return None
    plt = pyplot()
    unit = figs[0]["unit"]
    figs = [f for f in figs if f["unit"] == unit and f["value"] is not None]
    if not figs:
        return None
    fig, ax = plt.subplots(figsize=(9, 0.9 + 0.75 * len(figs)))
    ys = list(range(len(figs)))
    colors = ["#9e9e9e" if f["met"] is None else "#2ca02c" if f["met"] else "#d62728" for f in figs]
    h = 0.38
    bars = ax.barh([y + h / 2 for y in ys], [f["value"] for f in figs], h, color=colors)
    ax.bar_label(bars, [num(f["value"], unit) for f in figs], fontsize=8, padding=3)
    limits = [f.get("limit_value") for f in figs]
    if any(v is not None for v in limits):
        lb = ax.barh(
            [y - h / 2 for y in ys],
            [v or 0 for v in limits],
            h,
            color="#c7c7c7",
            label="limit, same run",
        )
        ax.bar_label(
            lb, [num(v, unit) if v is not None else "" for v in limits], fontsize=7, padding=3
        )
    targets = {f["target_value"] for f in figs if f.get("target_value") is not None}
    for t in targets:
        ax.axvline(t, color="red", ls=":", lw=1.3, label=f"target {num(t, unit)}")
    ax.set_yticks(ys, [f["name"] for f in figs], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(unit)
    right = max([f["value"] for f in figs] + [v or 0 for v in limits] + list(targets))
    ax.set_xlim(0, right * 1.3 if right > 0 else 1)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    CHARTS.mkdir(exist_ok=True)
    path = CHARTS / f"{key}.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return f"charts/{key}.png"


# ---------------------------------------------------------------- sections
def by_name(docs: list[dict[str, Any]], bench: str) -> dict[str, Any] | None:
    return next((d for d in docs if d["bench"] == bench), None)


def figure_rows(figs: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [
            f["name"],
            measured(f),
            f["target"] or "—",
            f["limit"] or "—",
            met_cell(f),
            f.get("detail") or "",
        ]
        for f in figs
    ]


def profiling_section(docs: list[dict[str, Any]]) -> list[str]:
    lines = [
        "## Profiling: before and after",
        "",
        "### Per-request overhead (flags bench profile)",
        "",
        "py-spy on the server under `bench/flags/run.py` showed per-request overhead on every "
        "API call: a `uuid4` request id (os.urandom per request), Prometheus `labels()` "
        "lookups per request, and one more middleware layer for the API's own rate limit. "
        "Commit 50072bc (“Per-request overhead…”) replaced the uuid4 with a counter-based "
        "request id, caches the Prometheus label children, and folds the rate-limit "
        "middleware into the scope guard. Evaluation and config reads as a ratio of the "
        "hello-world measured in the same run (wrk -t1 -c16):",
        "",
    ]
    flags = by_name(docs, "flags")
    after: dict[str, dict[str, Any]] = {}
    for f in (flags or {}).get("figures", []):
        for key, (label, _rps, _ratio) in FLAGS_BEFORE["rows"].items():
            if f["name"].startswith(label) and f["unit"] == "x hello":
                after[key] = f
    rows = []
    for key, (label, rps, ratio) in FLAGS_BEFORE["rows"].items():
        a = after.get(key)
        rows.append(
            [
                label,
                f"{ratio:.2f}x ({rps:,} req/s)",
                f"{a['value']:.2f}x ({a['detail'].split(', ')[0]})" if a else "not measured",
                f"{a['value'] / ratio:.2f}x" if a else "—",
                f"{FLAGS_BEFORE['hello_rps']:,} → {a['limit'].removeprefix('hello-world ')}"
                if a
                else "—",
            ]
        )
    lines += md_table(
        [
            "request",
            f"before ({FLAGS_BEFORE['commit']}, `git show {FLAGS_BEFORE['commit']}:"
            f"{FLAGS_BEFORE['path']}`)",
            "after (this run)",
            "after ÷ before",
            "hello-world req/s, before → after",
        ],
        rows,
    )
    lines += [
        "",
        "Both are ratios to a hello-world measured in the same run; both runs shared the 2 "
        "cores with other work (see the load averages), and the hello-world, the cheapest "
        "request, moves most with that: read the absolute req/s beside the ratio. When the "
        "absolute rate is about the same and only the hello-world moved, the change is within "
        "this machine's noise, not a gain or a loss of the server.",
        "",
        "### Ingest: rollup merges inside the acknowledged transaction",
        "",
        "The ingest bench (batcher SQL replayed alone, PostgreSQL wait events) showed the "
        "writers waiting on each other's rollup rows (`Lock:transactionid`) because the "
        "minute/hour rollup merges ran inside the acknowledged COPY transaction. Commit "
        "2d22ed0 (“Ingest: minute aggregates COPY into metric_rollup_pending…”) COPYs the "
        "minute aggregates into `metric_rollup_pending` inside the transaction and lets one "
        "merger fold them into the rollups every second (queries union the pending rows).",
        "",
    ]
    ingest = by_name(docs, "ingest")
    now: dict[str, float] = {}
    for f in (ingest or {}).get("figures", []):
        if f["name"] == "ingest end to end ÷ raw log write":
            now["e2e"] = f["value"]
        elif f["name"] == "batcher SQL alone ÷ raw log write":
            now["replay"] = f["value"]
    b = INGEST_BEFORE
    lines += md_table(
        [
            "path (÷ raw COPY of the same points as rows)",
            f"before ({b['commit']}, 8 senders)",
            f"after ({b['after_commit']}, 16 senders)",
        ],
        [
            ["batcher SQL alone", f"{b['replay']:.2f}x", f"{b['after_replay']:.2f}x"],
            ["end to end (HTTP)", f"{b['e2e']:.2f}x", f"{b['after_e2e']:.2f}x"],
        ],
    )
    lines += [
        "",
        "Issue 16 then replaced the row-per-sample store: the acknowledged transaction appends "
        "one compressed write-log block per request and a compactor folds the blocks into "
        "chunks and hourly rollups afterwards, so neither rows nor rollup merges are left on "
        "the acknowledged path. The limit the ingest bench measures is now the same blocks "
        "COPYed straight into the write log; ratios to it are not comparable with the ones "
        "above. This run: "
        + (
            f"batcher SQL alone {now['replay']:.2f}x, end to end {now['e2e']:.2f}x the raw "
            "log write."
            if "e2e" in now and "replay" in now
            else "not measured."
        ),
        "",
    ]
    lines += [
        "### The connection pool's reset on every release (mixed-scenario profile)",
        "",
        "An earlier py-spy run of the mixed scenario had 12 % of the server's samples ending in "
        "`asyncpg Connection.execute (connection.py:377)`: asyncpg's default reset of every "
        "pooled connection on release (RESET ALL, UNLISTEN *, advisory unlock-all — one more "
        "round trip per query). Pooled connections here hold no session state, so commit "
        "35d22c0 gives the pool a reset hook that does nothing (asyncpg still rolls back an open "
        "transaction itself). In the profile below that frame is gone; the asyncpg frame left "
        "is `_do_execute`, the queries themselves.",
        "",
    ]
    mixed = by_name(docs, "mixed")
    prof = (mixed or {}).get("profile") or {}
    if prof.get("total"):
        total = prof["total"]
        lines += [
            "### The mixed scenario's server (py-spy, this run)",
            "",
            f"{total:,} samples of `hearth serve` and its workers during "
            "`bench/mixed/run.py`'s profiled run (same scenario, after the measured one).",
            "",
            "Where the samples end: "
            + ", ".join(f"{k} {c / total:.0%}" for k, c in prof.get("kinds", [])),
            "",
            *md_table(
                ["top leaf frames (self)", "share"],
                [[f"`{f}`", f"{c / total:.1%}"] for f, c in prof.get("leaf", [])[:10]],
            ),
            "",
            *md_table(
                ["top project frames (inclusive)", "share"],
                [[f"`{f}`", f"{c / total:.1%}"] for f, c in prof.get("incl", [])[:10]],
            ),
            "",
        ]
        reset = sum(c for f, c in prof.get("leaf", []) if "asyncpg/connection.py:377" in f)
        if reset:
            lines += [
                f"Not yet removed: {reset / total:.0%} of the samples end in "
                "`Connection.execute (asyncpg/connection.py:377)`, asyncpg's argument-less "
                "simple-query path — which the pool takes on every release of a connection "
                "(`Connection.reset()`: `pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; "
                "RESET ALL`), one more round trip and PostgreSQL work per pooled query "
                "(`GET /v1/users/{id}`, the users list, the metrics query). asyncpg's "
                "`create_pool(reset=...)` can replace it with a cheaper reset for pools whose "
                "connections never LISTEN, lock or SET.",
                "",
            ]
    return lines


def tail_lines(rec: dict[str, Any]) -> list[str]:
    """The bench's last error lines: its '!!!' and error lines, else its last lines."""
    tail = rec.get("tail", [])
    said = [ln for ln in tail if "!!!" in ln or "error" in ln.lower() or "Traceback" in ln]
    return (said or tail)[-6:]


def write(docs: list[dict[str, Any]], failed_empty: list[dict[str, Any]], old: list[str]) -> None:
    t0, load0 = started()
    now = dt.datetime.now(dt.UTC)
    figs = [{**f, "bench": d["bench"]} for d in docs for f in d.get("figures", [])]
    failed = [d for d in docs if d["failed"]]
    lines = [
        "# Performance report",
        "",
        f"Written by `bench/report.py` on {now:%Y-%m-%d %H:%M UTC}; `make bench` runs every "
        "benchmark (through `bench.harness.suite`), then this.",
        "",
        f"- Machine: {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python "
        f"{platform.python_version()}. **Load generators, servers and databases share these "
        "cores**, so every figure stands beside a limit measured in the same run (a bare "
        "aiohttp hello-world, a raw COPY, raw EVALSHA, the load generator's own ceiling).",
    ]
    records = [d["record"] for d in docs if d.get("record")] + failed_empty
    if t0 is not None:
        end = max((r["started"] + r["seconds"] for r in records), default=t0)
        mins, secs = divmod(int(end - t0), 60)
        lines.append(
            f"- `make bench` started {dt.datetime.fromtimestamp(t0, dt.UTC):%H:%M:%S UTC} at "
            f"load average {load0} (1, 5, 15 min) and its benches took {mins} min {secs:02d} s."
        )
    else:
        lines.append(
            "- No `make bench` run recorded (`target/bench/started`): the figures below are "
            "each bench's last results.json, of the dates in the Runs table."
        )
    lines += [
        "- Spec targets: SPEC-07 §8 (“Gathering Results”) and §6.7 (performance tests, "
        "5k req/s). `met` is judged on the measured number (the median of the rounds when a "
        "bench ran several, their min-max beside it); a figure whose bench failed or whose run "
        "had errors is **failed**, never met.",
        "",
    ]
    if failed or failed_empty:
        lines += ["## Failed in this run", ""]
        for d in failed:
            rec = d["record"]
            lines += [
                f"- **{d['bench']}**: {d['failed']} after {rec['seconds']:.0f} s "
                f"(`{rec['command']}`); its figures below are failed. Last lines:",
                "",
            ]
            lines += ["  ```", *(f"  {ln}" for ln in tail_lines(rec)), "  ```", ""]
        for rec in failed_empty:
            lines += [
                f"- **{rec['bench']}**: {rec['why']} after {rec['seconds']:.0f} s "
                f"(`{rec['command']}`); nothing measured. Last lines:",
                "",
            ]
            lines += ["  ```", *(f"  {ln}" for ln in tail_lines(rec)), "  ```", ""]
    lines += ["## Summary", ""]
    rows = []
    for key, title, _spec in HEADLINES:
        mine = [f for f in figs if f.get("headline") == key]
        if not mine:
            rows.append([title, "not measured in this run", "—", "—", "—", "—", "—"])
        for f in mine:
            rows.append(
                [
                    title,
                    f["name"],
                    measured(f),
                    f["target"] or "—",
                    f["limit"] or "—",
                    met_cell(f),
                    code(f.get("command") or by_name(docs, f["bench"])["command"]),
                ]
            )
    lines += md_table(
        [
            "headline figure",
            "figure",
            "measured",
            "target (spec; “aim” = ours)",
            "limit measured in the same run",
            "met",
            "command to reproduce",
        ],
        rows,
    )
    keys = {k for k, _, _ in HEADLINES}
    counted = [f for f in figs if f.get("headline") in keys and f["met"] is not None]
    n_failed = sum(1 for f in counted if f.get("failed"))
    lines += [
        "",
        f"{sum(1 for f in counted if f['met'])} of {len(counted)} headline figures with a "
        f"target met in this run; {n_failed} failed.",
        "",
    ]
    if old:
        lines += [
            "Not measured in this run (their results.json, if any, is from an earlier run and "
            f"is neither shown nor counted): {', '.join(old)}.",
            "",
        ]
    for key, title, spec in HEADLINES:
        mine = [f for f in figs if f.get("headline") == key]
        lines += [f"## {title}", "", f"Target: {spec}.", ""]
        if not mine:
            lines += ["Not measured in this run.", ""]
            continue
        lines += md_table(
            ["figure", "measured", "target", "limit (same run)", "met", "detail"],
            figure_rows(mine),
        )
        lines += [""]
        for b in sorted({f["bench"] for f in mine}):
            doc = by_name(docs, b) or {}
            if key == "mixed":
                for t in doc.get("tables", []):
                    lines += [f"{t['title']}:", "", *md_table(t["header"], t["rows"]), ""]
            lines += [
                f"Reproduce: `{doc.get('command', '')}` — details in "
                f"[{b}/RESULTS.md]({b}/RESULTS.md).",
                "",
            ]
        chart = headline_chart(key, title, mine)
        if chart:
            lines += [f"![{title}]({chart})", ""]
        for png in sorted({f["chart"] for f in mine if f.get("chart")}):
            lines += [f"The bench's own chart: [{png}]({png})", ""]

    others = [f for f in figs if f.get("headline") not in keys]
    if others:
        lines += ["## Other figures", ""]
        lines += md_table(
            ["bench", "figure", "measured", "target", "limit (same run)", "met", "detail"],
            [[f["bench"], *r] for f, r in zip(others, figure_rows(others), strict=True)],
        )
        lines += [""]

    lines += profiling_section(docs)
    lines += ["## Runs", ""]
    lines += md_table(
        ["bench", "written", "load average at its end", "seconds", "exit", "command"],
        [
            [
                d["bench"],
                d.get("generated", "?"),
                ", ".join(f"{x:.2f}" for x in d.get("load_average", [])),
                f"{d['record']['seconds']:.0f}" if d.get("record") else "—",
                str(d["record"]["exit"]) if d.get("record") else "—",
                code(d.get("command", "")),
            ]
            for d in docs
        ]
        + [
            [r["bench"], "—", "—", f"{r['seconds']:.0f}", str(r["exit"]), code(r["command"])]
            for r in failed_empty
        ],
    )
    lines += [""]
    RESULTS_MD.write_text("\n".join(lines))


def main() -> int:
    docs, failed_empty, old = load(started()[0])
    if not docs and not failed_empty:
        print("no bench ran: run `make bench` (or a bench/*/run.py) first")
        return 1
    write(docs, failed_empty, old)
    print(f"wrote {RESULTS_MD.relative_to(ROOT)}: {len(docs)} bench(es) measured in this run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
