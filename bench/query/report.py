"""bench/query's tables, ``RESULTS.md``, ``query.png`` and ``results.json``."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness.charts import pyplot
from bench.harness.machine import machine_info, machine_line
from bench.harness.peers import PROMETHEUS_SERIES, VM_VERSION
from bench.harness.results import figure, write_markdown, write_results
from bench.harness.stats import median, spread
from bench.harness.tables import md_table, print_grid
from bench.harness.wrk import Round, wrk_version
from bench.query import hotspots
from bench.query.dataset import CHURN, COUNTER, DCS, GAUGE, Spec
from bench.query.queries import BY_KEY, ENDS_A, ENDS_B, QUERIES, TIMES_D, Plan, label
from bench.query.targets import SEAL_AFTER_S, Target, hearth_disk

HERE = Path(__file__).resolve().parent
PNG = "query.png"
AIM_P99_MS = 50.0
AIM_RATIO = 1.0
AIM_CONNS = 16
ORDER = ("hearth", "prometheus", "victoriametrics")
COLORS = {"hearth": "#d62728", "prometheus": "#1f77b4", "victoriametrics": "#2ca02c"}


@dataclass
class Results:
    spec: Spec
    args: argparse.Namespace
    targets: dict[str, Target]
    plans: list[Plan]
    rounds: dict[tuple[str, str, int], list[Round]]
    facts: dict[str, Any]

    def runs(self, name: str, key: str, conns: int) -> list[Round]:
        return self.rounds.get((name, key, conns), [])

    def p99(self, name: str, key: str, conns: int) -> float | None:
        rs = self.runs(name, key, conns)
        return median([r.p99_ms for r in rs]) if rs else None

    def ratios(
        self, key: str, conns: int, name: str = "hearth", ref: str = "prometheus"
    ) -> list[float]:
        """``name`` ÷ ``ref`` req/s, round by round (the same round ran them side by side)."""
        of = self.facts.get("round_of", {})
        ours = dict(zip(of.get((name, key, conns), []), self.runs(name, key, conns), strict=False))
        theirs = dict(zip(of.get((ref, key, conns), []), self.runs(ref, key, conns), strict=False))
        return [
            ours[r].rps / theirs[r].rps for r in sorted(ours) if r in theirs and theirs[r].rps > 0
        ]

    def ordered(self) -> list[Target]:
        return [self.targets[n] for n in ORDER if n in self.targets]


# ---------------------------------------------------------------- tables
LOAD_HEADER = [
    "target",
    "version",
    "samples acknowledged",
    "seconds",
    "samples/s",
    "at rest after, s",
    "on disk, bytes/sample",
    "samples held (count_over_time)",
]


def load_rows(res: Results) -> list[list[str]]:
    rows = []
    for t in res.ordered():
        s = t.sent
        disk = hearth_disk(t) if t.key == "hearth" else t.facts.get("disk")
        held = t.facts.get("held")
        rows.append(
            [
                t.title,
                t.version or "—",
                f"{s.samples:,}" if s else "—",
                f"{s.seconds:.1f}" if s else "—",
                f"{s.rate:,.0f}" if s else "—",
                f"{t.facts['settle_s']:.0f}" if "settle_s" in t.facts else "—",
                f"{disk / res.spec.samples:.2f}" if disk else "—",
                (
                    "every one"
                    if held == res.spec.per_name()
                    else (f"{sum(held.values()):,} of {res.spec.samples:,}" if held else "—")
                )
                + (f" — {t.facts['lost']}" if "lost" in t.facts else "")
                + (f" — FAILED: {t.failed}" if t.failed else ""),
            ]
        )
    return rows


CHECK_HEADER = ["query", "Hearth vs Prometheus", "VictoriaMetrics vs Prometheus"]


def check_rows(res: Results) -> list[list[str]]:
    checks = res.facts.get("checks", {})
    rows = []
    for q in QUERIES:
        c = checks.get(q.key, {})
        rows.append(
            [
                label(q, res.spec),
                c.get("hearth", "not run"),
                c.get("victoriametrics", "not run"),
            ]
        )
    return rows


HEADER = [
    "query",
    "conns",
    "target",
    "req/s",
    "p50 ms",
    "p99 ms",
    "answers",
    "errors",
    "÷ Prometheus req/s",
]


def table_rows(res: Results) -> list[list[str]]:
    rows = []
    for q in QUERIES:
        for conns in res.args.connections:
            for t in res.ordered():
                rs = res.runs(t.key, q.key, conns)
                if not rs:
                    why = t.failed or t.query_failed.get(q.key, "not measured")
                    rows.append(
                        [label(q, res.spec), str(conns), t.title, "—", "—", "—", "—", "—", why]
                    )
                    continue
                ratio = res.ratios(q.key, conns, t.key) if t.key != "prometheus" else []
                rows.append(
                    [
                        label(q, res.spec),
                        str(conns),
                        t.title,
                        spread([r.rps for r in rs], "{:,.1f}"),
                        f"{median([r.p50_ms for r in rs]):,.1f}",
                        spread([r.p99_ms for r in rs], "{:,.1f}"),
                        f"{sum(r.requests for r in rs):,}",
                        str(sum(sum(r.errors.values()) for r in rs)),
                        spread(ratio, "{:.2f}x") if ratio else "—",
                    ]
                )
    return rows


def verdicts(res: Results) -> list[tuple[str, bool | None, str]]:
    """(aim, met — None when not measured, what was measured)."""
    out: list[tuple[str, bool | None, str]] = []
    hearth = res.targets.get("hearth")
    for q in QUERIES:
        name = label(q, res.spec)
        failed = (hearth.failed or hearth.query_failed.get(q.key, "")) if hearth else "not run"
        p99 = res.p99("hearth", q.key, AIM_CONNS)
        out.append(
            (
                f"{name}: Hearth p99 < {AIM_P99_MS:g} ms at {AIM_CONNS} connections",
                None if p99 is None else p99 < AIM_P99_MS,
                f"{p99:,.1f} ms" if p99 is not None else f"not measured: {failed}",
            )
        )
        for conns in res.args.connections:
            r = res.ratios(q.key, conns)
            out.append(
                (
                    f"{name}: Hearth ≥ {AIM_RATIO:g}x Prometheus' req/s at {conns} connection(s)",
                    None if not r else median(r) >= AIM_RATIO,
                    f"{median(r):.2f}x" if r else f"not measured: {failed or 'no Prometheus'}",
                )
            )
    return out


def print_tables(res: Results) -> None:
    print_grid(LOAD_HEADER, load_rows(res))
    print_grid(HEADER, table_rows(res))
    for text, ok, what in verdicts(res):
        mark = "met    " if ok else ("NOT MET" if ok is False else "n/a    ")
        print(f"{mark}  {text}: {what}")


# ---------------------------------------------------------------- chart
def write_chart(res: Results) -> None:
    plt = pyplot()
    conns = list(res.args.connections)
    fig, axes = plt.subplots(1, len(conns) + 1, figsize=(5 * (len(conns) + 1), 4.6))
    targets = [t for t in res.ordered() if any(k[0] == t.key for k in res.rounds)]
    width = 0.8 / max(1, len(targets))
    ticks = [f"({q.key})" for q in QUERIES]
    for ax, c in zip(axes, conns, strict=False):
        for i, t in enumerate(targets):
            xs = [j + (i - (len(targets) - 1) / 2) * width for j in range(len(QUERIES))]
            p99 = [res.p99(t.key, q.key, c) or 0 for q in QUERIES]
            p50 = [
                median([r.p50_ms for r in res.runs(t.key, q.key, c)]) or 0
                if res.runs(t.key, q.key, c)
                else 0
                for q in QUERIES
            ]
            ax.bar(xs, p99, width, color=COLORS[t.key], alpha=0.35)
            ax.bar(xs, p50, width, color=COLORS[t.key], label=t.title)
        ax.axhline(AIM_P99_MS, color="red", linestyle=":", linewidth=1, label="aim p99 50 ms")
        ax.set_yscale("log")
        ax.set_xticks(range(len(QUERIES)), ticks)
        ax.set_ylabel("ms")
        ax.set_title(f"p50 (solid) / p99 (light), {c} connection(s)", fontsize=9)
        ax.legend(fontsize=7)
    ax = axes[-1]
    w = 0.8 / len(conns)
    for i, c in enumerate(conns):
        xs = [j + (i - (len(conns) - 1) / 2) * w for j in range(len(QUERIES))]
        vals = [median(res.ratios(q.key, c)) if res.ratios(q.key, c) else 0 for q in QUERIES]
        bars = ax.bar(xs, vals, w, label=f"{c} conn(s)")
        ax.bar_label(bars, [f"{v:.2g}x" if v else "" for v in vals], fontsize=7)
    ax.axhline(AIM_RATIO, color="red", linestyle=":", linewidth=1, label="aim 1x")
    ax.set_yscale("log")
    ax.set_xticks(range(len(QUERIES)), ticks)
    ax.set_title("Hearth ÷ Prometheus, req/s", fontsize=9)
    ax.legend(fontsize=7)
    fig.suptitle(
        f"bench/query: {res.spec.samples / 1e6:,.1f} M samples; (a) one series 24 h/1m, "
        f"(b) sum by dc {res.spec.days:g} d/1h, (c) sum by dc rate 24 h/1m, (d) topk instant",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(HERE / PNG, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------- RESULTS.md
def data_lines(res: Results) -> list[str]:
    s, a, f = res.spec, res.args, res.facts
    per = s.per_name()
    return [
        f"- Data: **{s.samples:,} samples**, generated from the series and sample indices "
        "(bench/query/dataset.py): "
        f"{s.series:,} series — `{COUNTER}` (a counter: increments of 0-999, reset to 0 every "
        f"5-11 days) and `{GAUGE}` (a gauge: integer bytes, a daily wave) for each of "
        f"{s.instances:,} instances (labels `job`, `instance`, `dc` one of {DCS}) — with a "
        f"sample every {s.interval_s} s over {s.days:g} days ({per[COUNTER] + per[GAUGE]:,} "
        f"samples), and the high-cardinality `{CHURN}` ({s.churn_series:,} pods of "
        f"{s.churn_points} samples each, their starts spread over the days: "
        f"{per[CHURN]:,} samples; no query reads it). Every series' newest sample lies in the "
        "minute before the end of the data.",
        f"- Load: each target alone, through its remote-write receiver (`POST /api/v1/write`, "
        f"remote write 1.0: snappy protobuf), {f.get('requests', 0):,} requests "
        f"({f.get('bytes', 0) / 1e6:,.0f} MB, encoded before any was sent) from {a.senders} "
        f"sharded senders (each owns a contiguous range of instances and pods and sends its "
        "requests in time order: blocks of ~5,000 samples, several per series, as "
        f"Prometheus' own remote write batches them) over {a.processes} processes; then each "
        "brought to rest (below) and checked to hold every sample: "
        "`sum(count_over_time(NAME[…]))` per name through its own query API.",
    ]


def target_lines(res: Results) -> list[str]:
    a = res.args
    h = res.targets.get("hearth")
    p = res.targets.get("prometheus")
    pm = p.facts.get("metrics", {}) if p else {}
    ooo = pm.get("prometheus_tsdb_head_out_of_order_samples_appended_total")
    return [
        f"- Hearth: `hearth serve --workers {a.workers}` (embedded PostgreSQL, durable), "
        f"`HEARTH_METRICS_SEAL_AFTER_S={SEAL_AFTER_S}`, retention {res.spec.days:g} days + 2; "
        "at rest once `/v1/metrics/store` showed the write log empty and every chunk sealed "
        "(pcodec), after `VACUUM (ANALYZE)` of the store's tables"
        + (
            f" ({h.facts['vacuum_s']:.0f} s), and once its processes were idle"
            if h and "vacuum_s" in h.facts
            else ""
        )
        + ". Queried with a `metrics.read` bearer token. On disk: its store's tables (chunks, "
        "rollups, series, write log, with indexes) after the VACUUM.",
        f"- Prometheus {p.version if p and p.version else '2.42'} (Debian's package): "
        "`--web.enable-remote-write-receiver`, retention longer than the data, "
        + (
            f"`storage.tsdb.out_of_order_time_window: {a.ooo}` in its config: its TSDB takes a "
            "sample only up to an hour (half its 2 h head chunk range) behind the newest it "
            f"holds, and {a.senders} senders replaying {res.spec.days:g} days side by side "
            "drift further apart than that"
            + (f" ({ooo:,.0f} samples went in out of order)" if ooo is not None else "")
            if a.ooo
            else "no out-of-order window"
        )
        + "; at rest once idle for 10 s (head compacted into blocks, blocks merged"
        + (
            f": {pm['prometheus_tsdb_blocks_loaded']:.0f} blocks"
            if "prometheus_tsdb_blocks_loaded" in pm
            else ""
        )
        + "). No query cache exists in it.",
        "- VictoriaMetrics v1.151.0 (single node, built from the Go module proxy by `make "
        "bench-peers`): `-search.latencyOffset=0s`, otherwise its defaults — its rollup result "
        "cache on, so repeated range queries may be answered partly from it; at rest after "
        "`/internal/force_flush` once idle for 10 s. On disk: its data dir.",
    ]


def query_lines(res: Results) -> list[str]:
    s = res.spec
    return [
        f"- (a) `{QUERIES[0].promql.replace('@INSTANCE@', 'host-NNN:9100')}`, "
        f"`/api/v1/query_range`, 24 h, step 60: a random instance of {s.instances:,} and end "
        f"one of the last {ENDS_A} whole minutes per request (1,441 points);",
        f"- (b) `{QUERIES[1].promql}`, {s.days:g} days, step 3600: end one of the last "
        f"{ENDS_B} whole hours ({s.instances:,} series into {DCS} groups, {s.days * 24:g} "
        "steps);",
        f"- (c) `{QUERIES[2].promql}`, 24 h, step 60: end one of the last {ENDS_A} minutes;",
        f"- (d) `{QUERIES[3].promql}` (`/api/v1/query`): time one of the last {TIMES_D:,} minutes.",
    ]


def write_report(res: Results, problems: list[str]) -> None:
    a, f = res.args, res.facts
    lines = [
        f"- Machine: {machine_line(machine_info(), wrk_version())}. **wrk, the targets (and "
        "Hearth's PostgreSQL) share these cores**; every target kept running (idle) while "
        f"another was measured. Before the run: {f.get('noise_before', '')}; at the end: "
        f"{f.get('noise_end', '')}.",
        *data_lines(res),
        *target_lines(res),
        "",
        "## Load",
        "",
        *md_table(LOAD_HEADER, load_rows(res)),
        "",
        f"Encoding took {f.get('encode_s', 0):.0f} s; loading, bringing to rest and counting "
        f"all targets {f.get('load_s', 0) / 60:.1f} min; the queries "
        f"{f.get('measure_s', 0) / 60:.1f} min; the whole run "
        f"{f.get('total_s', 0) / 60:.1f} min.",
        "",
        "## Same answers",
        "",
        "Before any timing, each query ran on a few concrete ranges / instances (2-3 each) on "
        "every target. Hearth's answer must equal Prometheus' — the same series (label sets), "
        "the same timestamps, every value within 1e-9 relative — or that query's figures are "
        "failed and it is not measured. VictoriaMetrics' answers are compared for information "
        "only: MetricsQL's `rate` does not extrapolate to the window's edges and its lookback "
        "differs, on purpose.",
        "",
        *md_table(CHECK_HEADER, check_rows(res)),
        "",
        "## Queries",
        "",
        *query_lines(res),
        "",
        f"`wrk -t1 -cN --latency` with bench/query/wrk.lua (every request picks its instance "
        f"/ time), {a.rounds} rounds; in each round, for each query and connection count, the "
        "targets one after another, so that the load beside the bench weighs on every target "
        f"alike. Each run: a {a.warmup:g} s warm-up on one connection, then the run, each "
        "followed by a wait until the target's processes are idle (wrk leaves requests under "
        "way when it stops, and Hearth, on aiohttp, finishes abandoned requests). A run lasts "
        f"{a.duration:g} s, or longer for slow answers — enough for ~30 answers and three turns "
        "of every connection, the connections' answers taken to share one core, from the "
        "latency at one connection measured just before in the same round — at most "
        f"{a.max_duration:g} s. req/s and p99: the median of the rounds (min-max); p50 the "
        "median; ÷ Prometheus: the target's req/s over Prometheus' in the same round, median "
        "(min-max). The load average when each round began: "
        + "; ".join(f"round {i}: {n}" for i, n in enumerate(f.get("noise_rounds", []), 1))
        + ".",
        "",
        *md_table(HEADER, table_rows(res)),
        "",
        "![p50/p99 per query and target, Hearth ÷ Prometheus](query.png)",
        "",
        "Aims (issue 18):",
        "",
    ]
    for text, ok, what in verdicts(res):
        state = "met" if ok else ("NOT met" if ok is False else "not measured")
        lines.append(f"- {text}: {what} — **{state}**")
    prof = f.get("profile")
    if prof:
        lines += ["", "## Where Hearth's time goes", ""]
        for key, ph in prof.get("phases", {}).items():
            lines += hotspots.lines(ph, None, label(BY_KEY[key], res.spec), 1)
        if prof.get("perf"):
            q = BY_KEY[prof["query"]]
            lines += [
                f"Its slowest query at {prof['connections']} connections, {label(q, res.spec)}:",
                "",
                *hotspots.lines(None, prof["perf"], label(q, res.spec), prof["connections"]),
            ]
    write_markdown(
        HERE, "Dashboard queries: Hearth vs Prometheus and VictoriaMetrics", lines, problems
    )


# ---------------------------------------------------------------- results.json
EXPECTED = {"prometheus": f"{PROMETHEUS_SERIES}.x", "victoriametrics": VM_VERSION}
REF_TITLES = {"prometheus": "Prometheus", "victoriametrics": "VictoriaMetrics"}


def compare_figure(
    res: Results, key: str, name: str, conns: int, ref: str, chart: str
) -> dict[str, Any]:
    """Hearth ÷ ``ref`` req/s on query ``key`` at ``conns`` connections, both measured in the
    same rounds; the aim (≥ 1x) is against Prometheus only. A side that failed to start, load
    or answer makes the figure failed with its reason (the peer's in ``peer_failed``)."""
    hearth, peer = res.targets.get("hearth"), res.targets.get(ref)
    title = REF_TITLES[ref]
    peer_name = f"{title} {peer.version if peer and peer.version else EXPECTED[ref]}"
    hearth_why = (hearth.failed or hearth.query_failed.get(key, "")) if hearth else "not run"
    peer_why = (peer.failed or peer.query_failed.get(key, "")) if peer else "not run"
    ours, theirs = res.runs("hearth", key, conns), res.runs(ref, key, conns)
    ratio = res.ratios(key, conns, ref=ref)
    aim = AIM_RATIO if ref == "prometheus" else None
    hello = res.facts.get("hello", {}).get(conns, [])
    why = (
        f"Hearth: {hearth_why}"
        if hearth_why
        else f"{title}: {peer_why}"
        if peer_why
        else "no run of both in the same round"
    )
    return figure(
        f"query {name}: Hearth ÷ {title} req/s @ {conns} conns",
        round(median(ratio), 3) if ratio else None,
        f"x {title}",
        f"aim ≥ {aim:g}x" if aim else "—",
        (bool(ratio) and median(ratio) >= aim) if aim else None,
        headline="query",
        target_value=aim,
        limit=f"hello-world {median(hello):,.0f} req/s @ {conns} conns" if hello else "",
        chart=chart,
        detail="" if ratio else f"not measured: {why}",
        errors=0 if ratio else 1,
        rounds=[round(x, 3) for x in ratio],
        peer=peer_name,
        hearth_value=round(median([r.rps for r in ours]), 1) if ours else None,
        peer_value=round(median([r.rps for r in theirs]), 1) if theirs else None,
        compared_unit="req/s",
        hearth_rounds=[round(r.rps, 1) for r in ours],
        peer_rounds=[round(r.rps, 1) for r in theirs],
        peer_failed=peer_why if not hearth_why and not theirs else "",
    )


def figures(res: Results) -> list[dict[str, Any]]:
    figs = []
    chart = f"query/{PNG}"
    for q in QUERIES:
        name = label(q, res.spec)
        for conns in res.args.connections:
            for t in res.ordered():
                rs = res.runs(t.key, q.key, conns)
                errors = sum(sum(r.errors.values()) for r in rs)
                failed = t.failed or t.query_failed.get(q.key, "")
                is_hearth = t.key == "hearth"
                aim = is_hearth and conns == AIM_CONNS
                p99 = res.p99(t.key, q.key, conns)
                figs.append(
                    figure(
                        f"query {name}: {t.title} p99 @ {conns} conns",
                        round(p99, 2) if p99 is not None else None,
                        "ms",
                        f"aim p99 < {AIM_P99_MS:g} ms" if aim else "—",
                        (p99 is not None and p99 < AIM_P99_MS) if aim else None,
                        headline="query" if aim else None,
                        target_value=AIM_P99_MS if aim else None,
                        chart=chart,
                        detail=(
                            f"{median([r.rps for r in rs]):,.1f} req/s, p50 "
                            f"{median([r.p50_ms for r in rs]):.1f} ms"
                            if rs
                            else f"not measured: {failed or 'no runs'}"
                        ),
                        errors=errors + (1 if is_hearth and failed else 0),
                        rounds=[round(r.p99_ms, 2) for r in rs],
                    )
                )
            for ref in ("prometheus", "victoriametrics"):
                if ref in res.targets or ref == "prometheus":
                    figs.append(compare_figure(res, q.key, name, conns, ref, chart))
    for t in res.ordered():
        if t.sent:
            figs.append(
                figure(
                    f"query bench: {t.title} remote-write load",
                    round(t.sent.rate),
                    "samples/s",
                    "—",
                    None,
                    detail=f"{t.sent.samples:,} samples in {t.sent.seconds:.1f} s; at rest "
                    f"{t.facts.get('settle_s', 0):.0f} s later",
                )
            )
    return figs


def write_all(res: Results, problems: list[str]) -> None:
    write_chart(res)
    write_report(res, problems)
    write_results(
        HERE,
        figures(res),
        samples=res.spec.samples,
        series=res.spec.series,
        days=res.spec.days,
        versions={t.key: t.version for t in res.ordered()},
    )
