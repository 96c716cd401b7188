"""The project-wide performance report: every bench of this ``make bench`` or ``make
bench-peers`` run into ``bench/RESULTS.md``.

    .venv/bin/python -m bench.report

``make bench`` (no peers) and ``make bench-peers`` (the peers built once by
scripts/bench-peers.sh, then the benches that compare Hearth with them) run each bench through
``bench.harness.suite``, which records the run's start (time, load average, make target), the
peers' build and each bench's exit code, time and last error lines in ``target/bench/``; each
bench writes ``bench/<name>/results.json`` (figures with their target, the limit measured in the
same run, the peer measured beside Hearth and the command that reproduces them; see
``bench.harness.results.figure``).

RESULTS.md opens with one table: every headline figure that sets Hearth beside a peer — Hearth,
the peer (name, version, value) on the same work in the same run, the ratio, the aim and
whether it was met, and the physical limit measured in the same run. Then the spec's §8 targets,
then a chart per headline figure of Hearth beside its peer (medians, min-max whiskers), then a
section per headline figure, the other figures, the profiling record, the runs and the machine
(cores, CPU model, memory, kernel, load average before and after).

Only this run counts: a bench that failed shows its figures as failed (never met) with the
reason; a peer that failed to build or start is a failed row with its reason, never dropped; a
results.json older than this run is shown as **stale** (its date beside it) and never counted.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import sys
from pathlib import Path
from typing import Any

from bench.harness.charts import Pair, peer_chart, pyplot
from bench.harness.machine import load_average, machine_info
from bench.harness.suite import BUILD, RUNS, STARTED
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

# The headline figures, exactly as the performance issues list them: key, title, spec text. A
# bench may give its figures other headline keys: the report shows them too, after these, under
# the key itself.
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
        "query",
        "PromQL dashboard queries vs Prometheus and VictoriaMetrics",
        "issue 18: every query ≥ 1x Prometheus' req/s, Hearth's p99 < 50 ms at 16 connections "
        "(aims)",
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
TITLES = {k: t for k, t, _ in HEADLINES}

# The benches that set Hearth beside a peer, and the peers: a bench that failed, or that ran
# without its peers, still has a row in the opening table (failed, or not compared), so that no
# peer drops out of the report unnoticed.
PEER_BENCHES = {
    "auth": "Ory Hydra",
    "flags": "Unleash",
    "ingest": "Prometheus (Hearth in remote mode)",
    "peers": "Prometheus, VictoriaMetrics",
    "query": "Prometheus, VictoriaMetrics",
}
PEERS_TARGET = "make bench-peers"

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
def started() -> dict[str, Any] | None:
    """The start of this run (``suite begin``): epoch ``started``, ``load`` (1, 5, 15 min)
    and the make ``target``; None when no run began."""
    try:
        text = STARTED.read_text()
    except OSError:
        return None
    try:
        doc = json.loads(text)
        return {"started": float(doc["started"]), "load": doc["load"], "target": doc["target"]}
    except (ValueError, KeyError, TypeError):
        pass
    try:  # the earlier format: epoch and load average on two lines
        epoch, load = text.split("\n", 1)
        return {"started": float(epoch), "load": load.split(), "target": ""}
    except ValueError:
        return None


def build_record() -> dict[str, Any] | None:
    """scripts/bench-peers.sh in this run (``suite build``), if it ran."""
    try:
        return dict(json.loads(BUILD.read_text()))
    except (OSError, ValueError):
        return None


def _comparison_missing(f: dict[str, Any]) -> str:
    """Why a figure naming a peer holds no value ("" when it holds one: a figure of Hearth's
    own, such as its bytes per sample, stands when the peer beside it failed)."""
    if not f.get("peer") or f.get("value") is not None:
        return ""
    if f.get("peer_failed"):
        return f"{f['peer']} failed: {f['peer_failed']}"
    return f.get("detail") or "not measured"


def written_since(path: Path, since: float) -> bool:
    """Whether ``path`` (a results.json) was written at ``since`` or later: its file time (a
    bench of an earlier run in the same minute) and the ``generated`` minute inside it (a file
    that git checked out or merged since is new on disk, not in content)."""
    if path.stat().st_mtime < since:
        return False
    try:
        generated = json.loads(path.read_text())["generated"]
        when = dt.datetime.strptime(generated, "%Y-%m-%d %H:%M UTC").replace(tzinfo=dt.UTC)
    except (OSError, ValueError, KeyError, TypeError):
        return True
    return when.timestamp() >= since // 60 * 60


def load(
    t0: float | None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the benches' documents, the benches that failed with nothing written in this run).

    A document is this run's (its figures marked failed when the bench failed, had errors or
    its peer failed) or, for a bench this run did not run, the last one written: ``stale``
    (shown, never counted) when older than the run, this run's when run by hand since."""
    records = {}
    for path in RUNS.glob("*.json") if RUNS.exists() else []:
        rec = json.loads(path.read_text())
        records[rec["bench"]] = rec
    found = {p.parent.name: p for p in HERE.glob("*/results.json")}
    names = [n for n in ORDER if n in found or n in records]
    names += sorted((set(found) | set(records)) - set(ORDER))
    docs, failed_empty = [], []
    for name in names:
        rec = records.get(name)
        path = found.get(name)
        since = rec["started"] if rec else t0
        fresh = path is not None and (since is None or written_since(path, since))
        why = ""
        if rec is not None and rec["exit"] != 0:
            why = rec["why"] or f"exit code {rec['exit']}"
            said = [
                ln.removeprefix("!!! ")
                for ln in rec.get("tail", [])
                if ln.startswith("!!! ") and "not trustworthy" not in ln
            ]
            if said:
                why += f": {said[0]}" + (f" (+{len(said) - 1} more)" if len(said) > 1 else "")
        if rec is None and not fresh:
            stale = True  # not run in this run: its results.json is older than the run
        elif rec is not None and not fresh:
            failed_empty.append({**rec, "why": why or "wrote no results.json"})
            continue
        else:
            stale = False
        assert path is not None
        doc = json.loads(path.read_text())
        doc |= {"bench": name, "record": rec, "failed": why, "stale": stale}
        for f in doc.get("figures", []):
            f["stale"] = doc.get("generated", "?") if stale else ""
            missing = _comparison_missing(f)
            if why or f.get("errors") or missing:
                f["failed"] = why or missing or f"{f['errors']} errors"
                f["met"] = False if f["met"] is not None else None
        docs.append(doc)
    return docs, failed_empty


# ---------------------------------------------------------------- formatting
def num(value: Any, unit: str | None) -> str:
    if value is None:
        return "—"
    unit = unit or ""
    if unit == "%":
        return f"{value:.3f} %" if value < 99.99 or value == 100 else f"{value:.4f} %"
    if isinstance(value, float) and abs(value) < 100:
        text = f"{value:.2f}"
    else:
        text = f"{value:,.0f}"
    return f"{text} {unit}".strip()


def spread_text(values: list[float]) -> str:
    """`` (min-max, n rounds)`` of several rounds, else ""."""
    if len(values) < 2:
        return ""
    lo, hi = num(min(values), "").strip(), num(max(values), "").strip()
    return f" ({lo}-{hi}, {len(values)} rounds)"


def met_cell(f: dict[str, Any]) -> str:
    if f.get("stale"):
        return f"*stale* (written {f['stale']}, not in this run; not counted)"
    if f.get("failed"):
        return f"**failed** ({f['failed']})"
    return "—" if f["met"] is None else ("**met**" if f["met"] else "**NOT met**")


def measured(f: dict[str, Any]) -> str:
    """The value, and the min-max of its rounds when there were several."""
    return num(f["value"], f["unit"]) + spread_text(f.get("rounds") or [])


def code(text: str) -> str:
    return f"`{text}`" if text else "—"


def title_of(key: str) -> str:
    return TITLES.get(key, key)


def headline_keys(figs: list[dict[str, Any]]) -> list[str]:
    """The known headline keys, then any other a bench gave, in the order they appear."""
    known = [k for k, _, _ in HEADLINES]
    others = [f["headline"] for f in figs if f.get("headline") and f["headline"] not in TITLES]
    return known + list(dict.fromkeys(others))


def lower_is_better(unit: str | None) -> bool:
    """Latencies, durations and sizes: less is better."""
    first = str(unit or "").split(" ")[0]
    return first in ("ms", "s") or first.startswith("bytes")


def compared_ratio(f: dict[str, Any]) -> tuple[float | None, list[float]]:
    """Hearth ÷ the peer: the figure's own value when it is that ratio (unit "x …"), else
    Hearth's value ÷ the peer's; with the per-round values when known."""
    if str(f.get("unit", "")).startswith("x") and f.get("value") is not None:
        return float(f["value"]), list(f.get("rounds") or [])
    h, p = f.get("hearth_value"), f.get("peer_value")
    if h is not None and p:
        hr, pr = f.get("hearth_rounds") or [], f.get("peer_rounds") or []
        rounds = [a / b for a, b in zip(hr, pr, strict=False) if b] if len(hr) == len(pr) else []
        return h / p, rounds
    return None, []


def ratio_text(f: dict[str, Any]) -> str:
    r, rounds = compared_ratio(f)
    if r is None:
        return "—"
    text = f"{r:.2f}x" + spread_text(rounds)
    if lower_is_better(f.get("compared_unit")):
        text += " (lower is better)"
    return text


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


# ---------------------------------------------------------------- Hearth beside its peers
PEER_HEADER = [
    "headline",
    "figure",
    "Hearth",
    "peer: same work, same run",
    "Hearth ÷ peer",
    "aim",
    "verdict",
    "physical limit, same run",
    "bench",
]


def by_name(docs: list[dict[str, Any]], bench: str) -> dict[str, Any] | None:
    return next((d for d in docs if d["bench"] == bench), None)


def peer_groups(figs: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """(title, figures) of every figure naming a peer: by headline, then those of no headline
    by bench."""
    groups = []
    for key in headline_keys(figs):
        mine = [f for f in figs if f.get("headline") == key and f.get("peer")]
        if mine:
            groups.append((key, title_of(key), mine))
    loose = [f for f in figs if f.get("peer") and not f.get("headline")]
    for bench in dict.fromkeys(f["bench"] for f in loose):
        groups.append((bench, f"{bench} bench", [f for f in loose if f["bench"] == bench]))
    return [(key, title, mine) for key, title, mine in groups]


def hearth_cell(f: dict[str, Any]) -> str:
    if f.get("hearth_value") is None:
        return "—"
    return num(f["hearth_value"], f.get("compared_unit")) + spread_text(
        f.get("hearth_rounds") or []
    )


def peer_cell(f: dict[str, Any]) -> str:
    why = f.get("peer_failed")
    if why or f.get("peer_value") is None:
        return f"{f['peer']}: **failed** ({why})" if why else f"{f['peer']}: —"
    return (
        f"{f['peer']}: "
        + num(f["peer_value"], f.get("compared_unit"))
        + spread_text(f.get("peer_rounds") or [])
    )


def bench_link(bench: str) -> str:
    return f"[{bench}]({bench}/RESULTS.md)"


def missing_comparison(
    bench: str,
    docs: list[dict[str, Any]],
    failed_empty: list[dict[str, Any]],
    build: dict[str, Any] | None,
) -> str:
    """Why ``bench`` sets no peer beside Hearth in this report."""
    built = ""
    if build is not None and build.get("exit") != 0:
        last = (build.get("tail") or ["?"])[-1]
        built = f"; `{build['command']}` failed (exit {build.get('exit')}): {last}"
    rec = next((r for r in failed_empty if r["bench"] == bench), None)
    if rec is not None:
        last = (tail_lines(rec) or ["?"])[-1]
        return f"**failed** (the bench: {rec['why']}: {last}){built}"
    doc = by_name(docs, bench)
    if doc is not None and doc["failed"]:
        return f"**failed** (the bench: {doc['failed']}){built}"
    if doc is not None and not doc["stale"]:
        run = started()
        if run is not None and f"make {run['target']}" == PEERS_TARGET:
            return f"**failed**: the bench ran but set no peer beside Hearth{built}"
        return f"not compared in this run: `{PEERS_TARGET}` runs the peers{built}"
    return f"not measured in this run: `{PEERS_TARGET}`{built}"


def peer_section(
    figs: list[dict[str, Any]],
    docs: list[dict[str, Any]],
    failed_empty: list[dict[str, Any]],
    build: dict[str, Any] | None,
) -> list[str]:
    rows = []
    for _key, title, mine in peer_groups(figs):
        for i, f in enumerate(mine):
            rows.append(
                [
                    f"**{title}**" if i == 0 else "",
                    f["name"],
                    hearth_cell(f),
                    peer_cell(f),
                    ratio_text(f),
                    f["target"] or "—",
                    met_cell(f),
                    f["limit"] or "—",
                    bench_link(f["bench"]),
                ]
            )
    compared = {f["bench"] for f in figs if f.get("peer")}
    for bench, peers in PEER_BENCHES.items():
        if bench not in compared:
            why = missing_comparison(bench, docs, failed_empty, build)
            rows.append(
                [
                    f"**{bench} bench**",
                    "—",
                    "—",
                    f"{peers}: —",
                    "—",
                    "—",
                    why,
                    "—",
                    bench_link(bench),
                ]
            )
    counted = [f for f in figs if f.get("peer") and f["met"] is not None and not f.get("stale")]
    lines = [
        "## Hearth beside its peers, same run",
        "",
        "Each row: Hearth and a peer doing the same work on the same machine in the same run "
        "(median of the rounds, their min-max beside it), Hearth ÷ the peer, the aim, and the "
        "physical limit measured in that run (a bare hello-world, a raw COPY, raw EVALSHA, or "
        "the load generator against a hello-world that reads every body) — what no server "
        "could beat on these cores. A peer that failed to build or start is **failed**, with "
        "its reason; a row from an earlier run is *stale* and not counted.",
        "",
        *md_table(PEER_HEADER, rows),
        "",
        f"{sum(1 for f in counted if f['met'])} of {len(counted)} aims against a peer met in "
        f"this run; {sum(1 for f in counted if f.get('failed'))} failed.",
        "",
    ]
    return lines


def pair_of(f: dict[str, Any]) -> Pair:
    unit = f.get("compared_unit") or f["unit"]
    r, _ = compared_ratio(f)
    aim = None
    if f.get("target_value") is not None:
        if str(f["unit"]).startswith("x") and f.get("peer_value"):
            aim = f["target_value"] * f["peer_value"]
        elif str(f["unit"]).split(" ")[0] == unit.split(" ")[0]:  # "ms" and "ms p99"
            aim = f["target_value"]
    return Pair(
        label=f["name"] + (" (stale)" if f.get("stale") else ""),
        unit=unit,
        peer=f["peer"],
        hearth=f.get("hearth_value"),
        peer_value=f.get("peer_value"),
        hearth_rounds=list(f.get("hearth_rounds") or []),
        peer_rounds=list(f.get("peer_rounds") or []),
        ratio=f"{r:.2f}x" if r is not None else "",
        aim=aim,
        failed=f.get("peer_failed") or f.get("failed") or "",
    )


def peer_charts(figs: list[dict[str, Any]]) -> list[str]:
    lines = ["## Charts: Hearth beside its peers", ""]
    drawn = 0
    for old in CHARTS.glob("peers-*.png"):  # an earlier report's: redrawn below if still due
        old.unlink()
    for key, title, mine in peer_groups(figs):
        path = CHARTS / f"peers-{key}.png"
        peer_chart(path, title, [pair_of(f) for f in mine])
        drawn += 1
        lines += [
            f"### {title}",
            "",
            f"![{title}: Hearth beside its peer]({path.relative_to(HERE)})",
            "",
        ]
    if not drawn:
        lines += ["No figure of this run sets Hearth beside a peer.", ""]
    return lines


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


def minutes(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m} min {s:02d} s"


def machine_lines(run: dict[str, Any] | None, records: list[dict[str, Any]]) -> list[str]:
    info = machine_info()
    lines = [
        f"- Machine: {info['cores']} cores ({info['cpu']}), {info['memory']} memory, "
        f"{info['kernel']}, Python {platform.python_version()}. **Load generators, servers, "
        "databases and peers share these cores**, so every figure stands beside a peer or a "
        "limit measured in the same run.",
    ]
    if run is not None:
        t0 = run["started"]
        end = max((r["started"] + r["seconds"] for r in records), default=t0)
        own = sum(r["seconds"] for r in records)
        target = f"`make {run['target']}`" if run["target"] else "This run"
        lines.append(
            f"- {target} started {dt.datetime.fromtimestamp(t0, dt.UTC):%Y-%m-%d %H:%M:%S UTC}"
            f" at load average {', '.join(f'{float(x):.2f}' for x in run['load'])} (1, 5, 15 min); "
            f"{minutes(end - t0)} from its start to its last bench's end, {minutes(own)} of "
            f"them in the benches (see Runs); load average {load_average()} at the end (when "
            "this report was written)."
        )
    else:
        lines.append(
            "- No `make bench` or `make bench-peers` run recorded (`target/bench/started`): "
            "the figures below are each bench's last results.json, of the dates in the Runs "
            f"table. Load average now: {load_average()}."
        )
    return lines


def build_lines(build: dict[str, Any] | None) -> list[str]:
    if build is None:
        return []
    if build.get("exit") == 0:
        return [
            f"- Peers: `{build['command']}` built or found every peer in {build['seconds']:.0f} "
            "s (cached under `target/peers/`): "
            + "; ".join(ln for ln in build.get("tail", []) if ln.startswith("[peers]"))[:600]
            + "."
        ]
    return [
        f"- Peers: **`{build['command']}` failed** (exit {build.get('exit')}) after "
        f"{build['seconds']:.0f} s; the peers it did not build are failed in the benches that "
        "compare with them. Its last lines:",
        "",
        "  ```",
        *(f"  {ln}" for ln in build.get("tail", [])[-8:]),
        "  ```",
        "",
    ]


def failed_lines(docs: list[dict[str, Any]], failed_empty: list[dict[str, Any]]) -> list[str]:
    failed = [d for d in docs if d["failed"]]
    if not failed and not failed_empty:
        return []
    lines = ["## Failed in this run", ""]
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
    return lines


def targets_section(figs: list[dict[str, Any]], docs: list[dict[str, Any]]) -> list[str]:
    lines = [
        "## Spec targets (SPEC-07 §8) and the issues' aims",
        "",
    ]
    rows = []
    keys = headline_keys(figs)
    for key in keys:
        mine = [f for f in figs if f.get("headline") == key]
        if not mine and key in TITLES:
            rows.append([title_of(key), "not measured in this run", "—", "—", "—", "—", "—"])
        for f in mine:
            doc = by_name(docs, f["bench"]) or {}
            rows.append(
                [
                    title_of(key),
                    f["name"],
                    measured(f),
                    f["target"] or "—",
                    f["limit"] or "—",
                    met_cell(f),
                    code(f.get("command") or doc.get("command", "")),
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
    counted = [f for f in figs if f.get("headline") and f["met"] is not None and not f.get("stale")]
    n_failed = sum(1 for f in counted if f.get("failed"))
    stale = sorted({f["bench"] for f in figs if f.get("stale")})
    lines += [
        "",
        f"{sum(1 for f in counted if f['met'])} of {len(counted)} headline figures with a "
        f"target met in this run; {n_failed} failed.",
        "",
    ]
    if stale:
        lines += [
            "*Stale* (not run in this run; their results.json is an earlier run's, shown for "
            f"reference and never counted): {', '.join(stale)}.",
            "",
        ]
    return lines


def headline_sections(figs: list[dict[str, Any]], docs: list[dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    spec = {k: s for k, _, s in HEADLINES}
    for key in headline_keys(figs):
        title = title_of(key)
        mine = [f for f in figs if f.get("headline") == key]
        lines += [f"## {title}", "", f"Target: {spec.get(key, 'see the bench')}.", ""]
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
                f"[{b}/RESULTS.md]({b}/RESULTS.md)"
                + (f" (*stale*: written {doc.get('generated', '?')})" if doc.get("stale") else "")
                + ".",
                "",
            ]
        chart = headline_chart(key, title, mine)
        if chart:
            lines += [f"![{title}]({chart})", ""]
        for png in sorted({f["chart"] for f in mine if f.get("chart")}):
            lines += [f"The bench's own chart: [{png}]({png})", ""]
    return lines


def runs_section(
    docs: list[dict[str, Any]], failed_empty: list[dict[str, Any]], build: dict[str, Any] | None
) -> list[str]:
    rows = [
        [
            d["bench"] + (" (*stale*)" if d["stale"] else ""),
            d.get("generated", "?"),
            ", ".join(f"{x:.2f}" for x in d.get("load_average", [])),
            f"{d['record']['seconds']:.0f}" if d.get("record") else "—",
            str(d["record"]["exit"]) if d.get("record") else "—",
            code(d.get("command", "")),
        ]
        for d in docs
    ]
    rows += [
        [r["bench"], "—", "—", f"{r['seconds']:.0f}", str(r["exit"]), code(r["command"])]
        for r in failed_empty
    ]
    if build is not None:
        rows.insert(
            0,
            [
                "(peers' build)",
                dt.datetime.fromtimestamp(build["started"], dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                "—",
                f"{build['seconds']:.0f}",
                str(build.get("exit")),
                code(build["command"]),
            ],
        )
    return [
        "## Runs",
        "",
        *md_table(
            ["bench", "written", "load average at its end", "seconds", "exit", "command"], rows
        ),
        "",
    ]


def write(docs: list[dict[str, Any]], failed_empty: list[dict[str, Any]]) -> None:
    run = started()
    build = build_record()
    now = dt.datetime.now(dt.UTC)
    figs = [
        {**f, "bench": d["bench"], "command": f.get("command") or d.get("command", "")}
        for d in docs
        for f in d.get("figures", [])
    ]
    records = [d["record"] for d in docs if d.get("record")] + failed_empty
    lines = [
        "# Performance report",
        "",
        f"Written by `bench/report.py` on {now:%Y-%m-%d %H:%M UTC}. `make bench` runs every "
        "benchmark without the peers; `make bench-peers` builds the peers once "
        "(scripts/bench-peers.sh, cached under `target/peers/`) and runs the benches that set "
        "Hearth beside them; each ends with this report. Every bench runs through "
        "`bench.harness.suite` (its exit code, time and last lines recorded).",
        "",
        *machine_lines(run, records),
        *build_lines(build),
        "- Targets: SPEC-07 §8 (“Gathering Results”) and §6.7 (performance tests, 5k req/s), "
        "and the aims of the issues that brought each peer. `met` is judged on the measured "
        "number (the median of the rounds, their min-max beside it); a figure whose bench "
        "failed, whose run had errors or whose peer failed is **failed**, never met.",
        "",
    ]
    lines += peer_section(figs, docs, failed_empty, build)
    lines += failed_lines(docs, failed_empty)
    lines += targets_section(figs, docs)
    lines += peer_charts(figs)
    lines += headline_sections(figs, docs)
    keys = set(headline_keys(figs))
    others = [f for f in figs if f.get("headline") not in keys]
    if others:
        lines += ["## Other figures", ""]
        lines += md_table(
            ["bench", "figure", "measured", "target", "limit (same run)", "met", "detail"],
            [[f["bench"], *r] for f, r in zip(others, figure_rows(others), strict=True)],
        )
        lines += [""]
    lines += profiling_section(docs)
    lines += runs_section(docs, failed_empty, build)
    RESULTS_MD.write_text("\n".join(lines))


def main() -> int:
    run = started()
    docs, failed_empty = load(run["started"] if run else None)
    if not docs and not failed_empty:
        print("no bench ran: run `make bench` (or a bench/*/run.py) first")
        return 1
    write(docs, failed_empty)
    fresh = sum(1 for d in docs if not d["stale"])
    print(
        f"wrote {RESULTS_MD.relative_to(ROOT)}: {fresh} bench(es) measured in this run, "
        f"{len(docs) - fresh} stale, {len(failed_empty)} failed with nothing written"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
