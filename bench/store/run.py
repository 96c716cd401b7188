"""Compaction under sustained ingest (issue 16): does the compactor keep pace with the
scrape-shaped load of bench/peers for minutes, the write log bounded?

    .venv/bin/python bench/store/run.py [--series 10000,100000] [--duration 300] [--seal-after 30]

For each of the ``--series`` counts, starts ``hearth serve`` afresh (embedded PostgreSQL;
``HEARTH_METRICS_SEAL_AFTER_S=--seal-after`` so that chunks are sealed with pcodec during the
run too; other ``HEARTH_*`` from the environment), then sends bench/peers's load — that many
series, one sample per series per
request, requests 15 s apart in sample time, ``--senders`` sharded senders over
``--processes`` forked processes, JSON to ``POST /v1/metrics/bulk`` — without pause for
``--duration`` seconds. Bodies come from a cycle of ``--cycle`` pre-encoded scrapes per shard
whose timestamp is filled in per request (``bench.harness.scrapes.looped_json``: counters
restart every cycle), sample time starting ``--days-back`` days ago (the load runs ahead of
the clock: at 300 000 samples/s, 10 000 series advance 7.5 min of sample time per second).

Every second ``/v1/metrics/store`` is sampled (samples and bytes in the write log, the age of
its oldest block, open chunks) beside the samples acknowledged in that second. Reported: the
ingest rate, the largest and the final write log and lag, the write log's trend over the second
half of the run (least squares, as a share of the ingest rate: the log is **bounded** when it
grows by less than ``AIM_GROWTH`` of what arrives), the time to drain the log after the load,
and the CPU of the server, PostgreSQL and the senders. Writes ``RESULTS.md``, ``store.png``
(log size, lag and ingest rate over time) and ``results.json`` next to this file; exit code 1
when a request failed or a sample is missing afterwards, 2 on a setup error.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness.bulk import bulk_check
from bench.harness.charts import pyplot
from bench.harness.client import bearer_token, create_client
from bench.harness.log import run_main, say
from bench.harness.machine import CpuMeter, cpu_rows, machine_info, machine_line, noise
from bench.harness.results import figure, finish, write_markdown, write_results
from bench.harness.scrapes import NAMES, NAMESPACE, SCRAPE_MS, looped_json
from bench.harness.server import hearth_server
from bench.harness.sharded import Sent, send_sharded_for
from bench.harness.store import Drain, StoreSample, monitor, stored_count, wait_drained
from bench.harness.tables import md_table, print_grid
from hearth_core.settings import Settings

HERE = Path(__file__).resolve().parent
AIM_GROWTH = 0.02  # bounded: over the second half the log grows by < 2 % of what arrives
MAX_CYCLE_SAMPLES = 2_000_000  # pre-encoded samples at most (memory of the senders)


# ---------------------------------------------------------------- analysis
@dataclass
class Run:
    series: int
    duration: float
    sent: Sent
    samples: list[StoreSample]  # during the load
    drain: Drain
    cpu: dict[str, float]
    stored: int | None = None

    def t(self, s: StoreSample) -> float:
        return s.t - self.sent.started

    def during(self) -> list[StoreSample]:
        return [s for s in self.samples if 0 <= self.t(s) <= self.duration]

    def second_half(self) -> list[StoreSample]:
        return [s for s in self.during() if self.t(s) >= self.duration / 2]

    def rate_second_half(self) -> float:
        per = self.sent.per_second[int(self.duration / 2) : int(self.duration)]
        return sum(per) / len(per) if per else 0.0

    def growth(self) -> float:
        """The write log's least-squares slope over the second half, samples/s."""
        pts = [(self.t(s), float(s.log_samples)) for s in self.second_half()]
        if len(pts) < 3:
            return float("nan")
        mx = sum(x for x, _ in pts) / len(pts)
        my = sum(y for _, y in pts) / len(pts)
        den = sum((x - mx) ** 2 for x, _ in pts)
        return sum((x - mx) * (y - my) for x, y in pts) / den if den else float("nan")

    def growth_share(self) -> float:
        rate = self.rate_second_half()
        return self.growth() / rate if rate else float("nan")

    @property
    def bounded(self) -> bool:
        return self.growth_share() < AIM_GROWTH

    def peak(self, attr: str, half: bool = False) -> float:
        pts = self.second_half() if half else self.during()
        return max((getattr(s, attr) for s in pts), default=0)

    def final(self) -> StoreSample | None:
        during = self.during()
        return during[-1] if during else None


def summary_rows(run: Run) -> list[list[str]]:
    final = run.final()
    fin_log = f"{final.log_samples:,}" if final else "—"
    fin_lag = f"{final.lag_s:.1f}" if final else "—"
    return [
        ["ingest, samples/s (whole run)", f"{run.sent.rate:,.0f}"],
        ["ingest, samples/s (second half)", f"{run.rate_second_half():,.0f}"],
        ["samples acknowledged", f"{run.sent.samples:,}"],
        ["503s retried (backpressure)", f"{run.sent.retries:,}"],
        ["largest write log, samples", f"{run.peak('log_samples'):,.0f}"],
        ["largest write log in the second half, samples", f"{run.peak('log_samples', True):,.0f}"],
        ["write log at the end of the load, samples", fin_log],
        ["largest write log, MB", f"{run.peak('log_bytes') / 1e6:,.1f}"],
        ["oldest uncompacted block, largest, s", f"{run.peak('lag_s'):.1f}"],
        ["oldest uncompacted block at the end of the load, s", fin_lag],
        [
            "write-log trend over the second half, samples/s (share of ingest)",
            f"{run.growth():+,.0f} ({run.growth_share():+.2%})",
        ],
        ["write log drained after the load, s", f"{run.drain.log_s:.1f}"],
        ["open chunks at most", f"{run.peak('open_chunks'):,.0f}"],
        [
            "samples the store holds afterwards (query API)",
            f"{run.stored:,}" if run.stored is not None else "—",
        ],
    ]


def write_chart(runs: list[Run]) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(2, len(runs), figsize=(11 * len(runs), 6.5), squeeze=False)
    for col, run in enumerate(runs):
        ax1, ax2 = axes[0][col], axes[1][col]
        ax2.sharex(ax1)
        per = run.sent.per_second[: int(run.duration)]  # the last second is partial
        ax1.plot(range(len(per)), per, color="#1f77b4", lw=1, label="acknowledged")
        ax1.axhline(run.sent.rate, color="#1f77b4", ls=":", lw=1, label="mean")
        ax1.set_ylabel("samples / s")
        ax1.yaxis.set_major_formatter(lambda v, _pos: f"{v / 1e3:g}k")
        ax1.set_title(
            f"{run.series:,} series: ingest rate (top), write log and lag (bottom) — "
            + ("bounded" if run.bounded else "NOT bounded")
        )
        ax1.legend(fontsize=8, loc="lower right")
        pts = run.samples
        xs = [run.t(s) for s in pts]
        ax2.plot(xs, [s.log_samples for s in pts], color="#d62728", lw=1.2, label="write log")
        ax2.set_ylabel("samples in the write log")
        ax2.yaxis.set_major_formatter(lambda v, _pos: f"{v / 1e6:g}M")
        ax2.axvline(run.duration, color="black", ls="--", lw=0.8, label="load stops")
        lag = ax2.twinx()
        lag.plot(xs, [s.lag_s for s in pts], color="#7f7f7f", lw=0.8, label="oldest block, s")
        lag.set_ylabel("oldest uncompacted block, s")
        lines = ax2.get_legend_handles_labels()
        more = lag.get_legend_handles_labels()
        ax2.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="upper left")
        ax2.set_xlabel("seconds since the load started")
    fig.tight_layout()
    fig.savefig(HERE / "store.png", dpi=110)
    plt.close(fig)


def summary_table(runs: list[Run]) -> tuple[list[str], list[list[str]]]:
    header = ["", *(f"{r.series:,} series" for r in runs)]
    rows = [summary_rows(r) for r in runs]
    return header, [[label, *(r[i][1] for r in rows)] for i, (label, _) in enumerate(rows[0])]


def write_report(
    runs: list[Run],
    args: argparse.Namespace,
    cycles: list[int],
    facts: dict[str, Any],
    problems: list[str],
) -> None:
    lines = [
        f"- Machine: {machine_line(machine_info())}. **The senders, the server and PostgreSQL "
        f"share these cores.** At the start: {facts['noise_before']}; at the end: "
        f"{facts['noise_after']}.",
        "- Server: `hearth serve`, 1 worker, embedded PostgreSQL (durable), "
        f"`HEARTH_METRICS_SEAL_AFTER_S={args.seal_after:g}` (chunks idle that long are "
        "re-encoded with pcodec during the run), other settings default "
        f"(`HEARTH_METRICS_COMPACT_SAMPLES={facts['compact_samples']:,}`: the most samples "
        "one compaction pass takes), started afresh for each series count.",
        "- Load: bench/peers's scrape-shaped JSON — "
        + " and ".join(f"{r.series:,}" for r in runs)
        + " series (16 names, labels job, instance, region, cpu; 100 series per host), one "
        f"sample per series per request, requests {SCRAPE_MS // 1000} s apart in sample time, "
        f"{args.senders} sharded senders over {args.processes} processes, for "
        f"{args.duration:g} s without pause (a 503 retried after its Retry-After). Bodies: a "
        "cycle of " + " / ".join(str(c) for c in cycles) + " pre-encoded scrapes per shard, "
        "the timestamp filled in per request (counters restart every cycle); sample time from "
        f"{args.days_back:g} days ago onwards (the load runs ahead of the clock).",
        "- Sampled every second: `GET /v1/metrics/store` (`log_samples`, `log_bytes`, "
        "`compaction_lag_seconds` = age of the oldest block, `open_chunks`) and the samples "
        "acknowledged in that second. After the load: the time until the log was empty, then "
        "every sample counted through `/v1/metrics/query?agg=count`.",
        "",
        *md_table(*summary_table(runs)),
        "",
        f"Aim (issue 16): compaction keeps pace with the ingest, the write log bounded — over "
        f"the second half of the run the log's least-squares trend is below "
        f"{AIM_GROWTH:.0%} of the ingest rate:",
        "",
        *(
            f"- {r.series:,} series: {r.growth_share():+.2%}, "
            + ("**met**" if r.bounded else "**NOT met**")
            for r in runs
        ),
        "",
    ]
    for r in runs:
        lines += [
            f"CPU during the load, {r.series:,} series ({r.duration:g} s):",
            "",
            *md_table(["process", "CPU s", "cores busy", "share"], cpu_rows(r.cpu, r.duration)),
            "",
        ]
    lines += ["![write log and ingest rate over time](store.png)"]
    write_markdown(HERE, "Compaction under sustained ingest", lines, problems)


def figures(run: Run, problems: list[str]) -> list[dict[str, Any]]:
    n = f"{run.series:,} series, {run.duration:g} s"
    final = run.final()
    return [
        figure(
            f"write-log growth under sustained ingest ({n})",
            # A shrinking log is no growth (and a bar the report's chart can draw).
            round(max(0.0, run.growth_share()) * 100, 2),
            "% of ingest",
            f"aim < {AIM_GROWTH:.0%} of the ingest rate over the second half (log bounded)",
            run.bounded,
            headline="store",
            target_value=AIM_GROWTH * 100,
            limit=f"ingest {run.rate_second_half():,.0f} samples/s (second half)",
            chart="store/store.png",
            detail=f"trend {run.growth():+,.0f} samples/s ({run.growth_share():+.2%}); "
            f"largest log {run.peak('log_samples'):,.0f} samples, "
            f"{final.log_samples if final else 0:,} at the end; oldest block at most "
            f"{run.peak('lag_s'):.1f} s; drained {run.drain.log_s:.1f} s after the load",
            errors=len(problems),
        ),
        figure(
            f"sustained ingest ({n})",
            round(run.sent.rate),
            "samples/s",
            "—",
            None,
            detail=f"{run.sent.samples:,} samples acknowledged, {run.sent.retries:,} 503s retried",
            errors=len(problems),
        ),
        figure(
            f"largest write log under sustained ingest ({n})",
            round(run.peak("log_samples")),
            "samples",
            "—",
            None,
            detail=f"{run.peak('log_bytes') / 1e6:,.1f} MB at most",
            errors=len(problems),
        ),
        figure(
            f"write log drained after sustained ingest ({n})",
            round(run.drain.log_s, 1),
            "s",
            "—",
            None,
            errors=len(problems),
        ),
    ]


# ---------------------------------------------------------------- main
def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--series",
        default="10000,100000",
        help="series counts, comma-separated, one run each (default 10000,100000)",
    )
    counts = (
        ("--senders", 8, "sharded senders"),
        ("--processes", 2, "processes the senders are spread over"),
        ("--cycle", 40, "pre-encoded scrapes per shard (fewer with many series)"),
    )
    for flag, default, text in counts:
        p.add_argument(flag, type=int, default=default, help=f"{text} (default {default})")
    p.add_argument("--duration", type=float, default=300, help="seconds of load (default 300)")
    p.add_argument(
        "--seal-after",
        type=float,
        default=30,
        help="HEARTH_METRICS_SEAL_AFTER_S of the server (default 30)",
    )
    p.add_argument(
        "--days-back", type=float, default=6, help="sample time starts this long ago (default 6)"
    )
    p.add_argument("--no-write", action="store_true", help="print only; keep RESULTS.md")
    args = p.parse_args()
    try:
        args.series = [int(x) for x in args.series.split(",") if x.strip()]
    except ValueError:
        p.error("--series takes comma-separated integers")
    if min([args.senders, args.processes, args.cycle, *args.series]) < 1 or args.duration <= 0:
        p.error("counts and --duration must be positive")
    return args


def sustained(series: int, args: argparse.Namespace, problems: list[str]) -> tuple[Run, int, str]:
    """One series count on a fresh server: (the run, the cycle length, the server's log)."""
    cycle = max(2, min(args.cycle, MAX_CYCLE_SAMPLES // series))
    t0_ms = (int(time.time() - args.days_back * 86400) // 15 * 15) * 1000
    say(f"encoding {cycle} scrapes of {series:,} series per shard (not timed)")
    data = looped_json(series, args.senders, cycle, t0_ms)
    env = {"HEARTH_METRICS_SEAL_AFTER_S": f"{args.seal_after:g}"}
    with hearth_server(env=env) as server:
        token = bearer_token(
            server, create_client(server, "bench-store", "metrics.write,metrics.read")
        )
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        makers = [data.maker(i) for i in range(len(data.shards))]
        meter = CpuMeter(server)
        say(f"sustained load: {args.duration:g} s, {args.senders} senders, {series:,} series")
        with monitor(server, token) as backlog:
            meter.start()
            sent = send_sharded_for(
                f"{server.base}/v1/metrics/bulk",
                headers,
                makers,
                args.processes,
                args.duration,
                check=bulk_check,
            )
            cpu = meter.stop()
            say(f"  {sent.rate:,.0f} samples/s acknowledged ({sent.samples:,} samples)")
            drain = wait_drained(server, token, limit_s=1800)
        say(f"  write log drained {drain.log_s:.1f} s after the load")
        run = Run(series, args.duration, sent, backlog.samples, drain, cpu)
        # Shards run at their own pace: count up to the latest sample time accepted.
        run.stored = stored_count(
            server,
            token,
            namespace=NAMESPACE,
            names=NAMES,
            group_by="job",
            start_s=t0_ms / 1000,
            end_s=time.time() + 86400,
            step=86400,
            timeout=600,
        )
        tag = f"{series:,} series"
        if sent.problems:
            problems.append(f"{tag}: {len(sent.problems)}+ requests failed: {sent.problems[0]}")
        if run.stored != sent.samples:
            problems.append(f"{tag}: the store holds {run.stored:,} of {sent.samples:,} samples")
        if backlog.errors:
            problems.append(f"{tag}: /v1/metrics/store failed: {backlog.errors[0]}")
        return run, cycle, server.log_tail()


def main() -> int:
    args = parse_args()
    facts: dict[str, Any] = {
        "noise_before": noise(),
        "compact_samples": Settings.from_env().metrics_compact_samples,
    }
    problems: list[str] = []
    runs, cycles, tails = [], [], []
    for series in args.series:
        run, cycle, tail = sustained(series, args, problems)
        runs.append(run)
        cycles.append(cycle)
        tails.append(tail)
        print_grid(["", "value"], summary_rows(run))
        ok = "met    " if run.bounded else "NOT MET"
        print(f"{ok}  {series:,} series: write log bounded (trend < {AIM_GROWTH:.0%})")
        print_grid(["process", "CPU s", "cores busy", "share"], cpu_rows(run.cpu, run.duration))
    facts["noise_after"] = noise()
    if not args.no_write:
        write_chart(runs)
        write_report(runs, args, cycles, facts, problems)
        write_results(
            HERE,
            [f for r in runs for f in figures(r, problems)],
            duration=args.duration,
            timelines={
                str(r.series): {
                    "acked_per_second": r.sent.per_second,
                    "store": [
                        [round(r.t(s), 2), s.log_samples, round(s.lag_s, 2), s.open_chunks]
                        for s in r.samples
                    ],
                }
                for r in runs
            },
        )
    return finish(problems, *tails)


if __name__ == "__main__":
    run_main(main)
