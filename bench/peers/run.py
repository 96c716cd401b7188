"""Ingest side by side (issues 16 and 17): Hearth's ``POST /v1/metrics/bulk`` (JSON) and its
emitter protocols — remote write ``/api/v1/write``, OTLP protobuf ``/v1/metrics``, line protocol
``/api/v2/write`` — beside Prometheus 2.42's remote-write receiver and VictoriaMetrics
v1.151.0's ``/api/v1/write`` receiving the same remote-write requests, the same samples, the
same senders, in one run; then the disk each needs per sample.

    .venv/bin/python bench/peers/run.py [--series 10000,100000] [--rounds 3] [--samples 4800000]

``make bench-peers`` installs the peers first (scripts/bench-peers.sh). The samples are shaped
like scrapes: ``--series`` series (16 metric names, 8 counters and 8 gauges, on hosts of 100
series each), one sample per series per request, requests 15 s apart in sample time,
``--senders`` sharded senders (each owns a contiguous shard of the hosts and sends its
requests one after another, so every series gets its samples in time order) spread over
``--processes`` forked processes, at least ``--samples`` samples per series count. Every
request body is encoded before any timing: Hearth's JSON (namespace ``bench``), remote write
1.0 (protobuf ``WriteRequest``, snappy) for the peers and Hearth's ``hearth-rw`` target, and
for ``hearth-otlp``/``hearth-influx`` OTLP protobuf (``bench/harness/otlp_bodies.py``) and line
protocol (``bench/harness/line_protocol.py``), the same values and timestamps. The protocol
targets are measured for rate and completeness only (the store is the JSON target's).

Each round starts every target afresh on a private data dir (Hearth: ``hearth serve``, embedded
PostgreSQL; ``HEARTH_*`` from the environment), sends every request, counts the samples
acknowledged (2xx; a 503 is retried after its Retry-After), then checks that the target holds
every sample (its query API: ``count_over_time`` for the peers, ``agg=count`` of
``/v1/metrics/query`` for Hearth) — a target that lost samples is a failed figure — and measures
its disk:

- Hearth (started with ``HEARTH_METRICS_SEAL_AFTER_S=--seal-after``, 3 s, so that chunks are
  sealed soon after the load): ``pg_database_size`` after ``VACUUM FULL`` before the load, and
  after the load once ``/v1/metrics/store`` shows the write log empty (every sample compacted
  into chunks and hourly rollups: the drain time after the last acknowledgement is reported)
  and no chunk open (all re-encoded with pcodec) — as it stands and after ``VACUUM FULL``, with
  each table's share (chunks with their index and TOAST, rollups, series, write log). The
  backlog is sampled every second during the load (largest write log, oldest block);
- Prometheus: its data directory (the samples sit in the WAL and the head's chunks: the head is
  compacted into a block only once it spans 3 h of sample time), and the same samples as a
  persistent block (the TSDB admin API's snapshot of the head);
- VictoriaMetrics: its data directory after ``/internal/force_flush`` and a graceful stop.

Each round first waits (at most ``--load-wait`` s) for the 1-minute load average to fall
below ``--max-load`` (other work on the machine), then measures the load generator's own
ceiling: the same bodies to an aiohttp hello-world that reads each body
(bench/harness/hello.py). Writes ``RESULTS.md``, ``peers.png`` and ``results.json`` next to
this file; exit code 1 when a check fails, 2 on a setup error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from bench.harness.bulk import bulk_check
from bench.harness.charts import pyplot
from bench.harness.client import bearer_token, create_client
from bench.harness.line_protocol import HEADERS as LP_HEADERS
from bench.harness.log import BenchError, run_main, say
from bench.harness.machine import machine_info, machine_line, noise, wait_for_quiet
from bench.harness.otlp_bodies import HEADERS as OTLP_HEADERS
from bench.harness.peers import (
    PROMETHEUS_SERIES,
    VM_VERSION,
    Peer,
    count_samples,
    disk_bytes,
    prometheus_binary,
    prometheus_server,
    prometheus_snapshot,
    victoria_binary,
    victoria_flush,
    victoria_server,
)
from bench.harness.remote_write import HEADERS as RW_HEADERS
from bench.harness.results import (
    figure,
    finish,
    peer_failed_figure,
    write_markdown,
    write_results,
)
from bench.harness.scrapes import NAMES, NAMESPACE, Dataset, make_data
from bench.harness.server import hearth_server, hello_server
from bench.harness.sharded import Sent, send_sharded, status_2xx
from bench.harness.stats import median, spread
from bench.harness.store import monitor, stored_count, table_sizes, wait_drained
from bench.harness.tables import md_table, print_grid

HERE = Path(__file__).resolve().parent
AIM_VS_PROMETHEUS = 1.0
AIM_VS_VICTORIA = 0.5
AIM_BYTES = 4.0
SEAL_AFTER_S = 3.0  # Hearth: chunks idle this long are sealed (pcodec), so the disk is at rest
DRAINED = "database growth, compacted and sealed (dead rows not yet vacuumed)"
VACUUMED = "database growth, after VACUUM FULL"
PEAK_KEY = "largest write log during the load, samples"
DRAIN_KEY = "write log drained after the last ack, s"
AIM_VS_REMOTE_WRITE = 0.8  # OTLP and line protocol beside Hearth's own remote write
TARGETS = {
    "hearth": "Hearth, JSON (POST /v1/metrics/bulk)",
    "hearth-rw": "Hearth, remote write (POST /api/v1/write)",
    "hearth-otlp": "Hearth, OTLP protobuf (POST /v1/metrics)",
    "hearth-influx": "Hearth, line protocol (POST /api/v2/write)",
    "prometheus": "Prometheus, remote write",
    "victoriametrics": "VictoriaMetrics, remote write",
}
SHORT = {
    "hearth": "Hearth",
    "hearth-rw": "Hearth RW",
    "hearth-otlp": "Hearth OTLP",
    "hearth-influx": "Hearth LP",
    "prometheus": "Prometheus",
    "victoriametrics": "VictoriaMetrics",
}
PEERS = ("prometheus", "victoriametrics")  # the targets that are not Hearth
EXPECTED = {"prometheus": f"{PROMETHEUS_SERIES}.x", "victoriametrics": VM_VERSION}
# The bodies each target is sent (Dataset attribute), and the name of that kind of body.
BODIES = {
    "hearth": ("json", "json"),
    "hearth-rw": ("remote_write", "remote write"),
    "hearth-otlp": ("otlp", "otlp protobuf"),
    "hearth-influx": ("influx", "line protocol"),
    "prometheus": ("remote_write", "remote write"),
    "victoriametrics": ("remote_write", "remote write"),
}
# Hearth's protocol routes: path (the namespace in the URL) and headers besides the token.
PROTOCOLS = {
    "hearth-rw": (f"/api/v1/write?namespace={NAMESPACE}", RW_HEADERS, "Bearer"),
    "hearth-otlp": (f"/v1/metrics?namespace={NAMESPACE}", OTLP_HEADERS, "Bearer"),
    "hearth-influx": (
        f"/api/v2/write?org=bench&bucket={NAMESPACE}&precision=ns",
        LP_HEADERS,
        "Token",
    ),
}


# ---------------------------------------------------------------- one target
@dataclass
class Outcome:
    target: str
    series: int
    sent: Sent
    stored: int | None = None  # samples the target holds, by its query API
    disk: int | None = None  # bytes the samples cost on disk (the headline method)
    disk_detail: dict[str, int] = field(default_factory=dict)
    timing: dict[str, float] = field(default_factory=dict)  # Hearth: the compaction backlog
    problems: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.sent.rate

    @property
    def bytes_per_sample(self) -> float | None:
        return (
            self.disk / self.sent.samples if self.disk is not None and self.sent.samples else None
        )


def check_complete(out: Outcome, data: Dataset) -> None:
    if out.sent.problems:
        out.problems.append(
            f"{len(out.sent.problems)}+ requests not acknowledged, e.g. {out.sent.problems[0]}"
        )
    if out.sent.samples != data.samples:
        out.problems.append(f"{out.sent.samples:,} of {data.samples:,} samples acknowledged")
    if out.stored != data.samples:
        out.problems.append(f"holds {out.stored} samples after the load, expected {data.samples:,}")
    for p in out.problems:
        say(f"!!! {TARGETS[out.target]}, {data.series:,} series: {p}")


def peer_count(peer: Peer, data: Dataset) -> int:
    return count_samples(peer.base, data, who=peer.name)


def run_peer(name: str, data: Dataset, processes: int) -> Outcome:
    server = prometheus_server if name == "prometheus" else victoria_server
    with server() as peer:
        say(f"  {name}: {data.samples:,} samples in {data.requests:,} requests")
        sent = send_sharded(f"{peer.base}/api/v1/write", RW_HEADERS, data.remote_write, processes)
        say(f"    {sent.rate:,.0f} samples/s ({sent.seconds:.2f} s)")
        out = Outcome(name, data.series, sent)
        if name == "victoriametrics":
            victoria_flush(peer)
            out.stored = peer_count(peer, data)
            # Parts stay in memory for a while: a graceful stop writes them all to disk.
            flushed = disk_bytes(peer.data_dir)
            peer.stop()
            out.disk = disk_bytes(peer.data_dir)
            out.disk_detail = {
                "data dir after force_flush, running (parts in memory)": flushed,
                "data dir after a graceful stop": out.disk,
            }
        else:
            out.stored = peer_count(peer, data)
            out.disk = disk_bytes(peer.data_dir)
            block = disk_bytes(prometheus_snapshot(peer))
            out.disk_detail = {"data dir (WAL + head chunks)": out.disk, "as a block": block}
        check_complete(out, data)
        tail = [ln for ln in peer.log_tail().splitlines() if "error" in ln.lower()]
        if tail:
            say(f"  {name} logged errors: {tail[-1][:300]}")
    return out


async def db_size(conn: asyncpg.Connection, vacuum: bool) -> int:
    if vacuum:
        await conn.execute("VACUUM FULL")
    return int(await conn.fetchval("SELECT pg_database_size(current_database())"))


def run_hearth(data: Dataset, processes: int, workers: int, seal_after: float) -> Outcome:
    env = {"HEARTH_METRICS_SEAL_AFTER_S": f"{seal_after:g}"}
    with hearth_server(workers=workers, env=env) as server:
        token = bearer_token(
            server, create_client(server, "bench-peers", "metrics.write,metrics.read")
        )
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

        async def size(vacuum: bool) -> tuple[int, dict[str, int]]:
            conn = await asyncpg.connect(server.pg_url())
            try:
                return await db_size(conn, vacuum), await table_sizes(conn)
            finally:
                await conn.close()

        before, tables_before = asyncio.run(size(vacuum=True))
        say(f"  hearth: {data.samples:,} samples in {data.requests:,} requests")
        with monitor(server, token) as backlog:
            sent = send_sharded(
                f"{server.base}/v1/metrics/bulk", headers, data.json, processes, check=bulk_check
            )
        say(f"    {sent.rate:,.0f} samples/s ({sent.seconds:.2f} s)")
        out = Outcome("hearth", data.series, sent)
        drain = wait_drained(server, token, sealed=True)
        say(
            f"    write log drained {drain.log_s:.1f} s after the load, every chunk sealed "
            f"after {drain.sealed_s:.1f} s"
        )
        out.stored = stored_count(
            server,
            token,
            namespace=NAMESPACE,
            names=NAMES,
            group_by="job",
            start_s=data.t0_ms / 1000,
            end_s=data.last_ms / 1000,
            step=3600,
        )
        as_is, tables_as_is = asyncio.run(size(vacuum=False))
        t = time.monotonic()
        vacuumed, tables = asyncio.run(size(vacuum=True))
        out.disk = vacuumed - before
        out.disk_detail = {
            DRAINED: as_is - before,
            VACUUMED: vacuumed - before,
            **{f"{what}, after VACUUM FULL": tables[what] - tables_before[what] for what in tables},
            **{
                f"{what}, as it stands": tables_as_is[what] - tables_before[what] for what in tables
            },
        }
        out.timing = {
            PEAK_KEY: backlog.peak("log_samples"),
            "oldest uncompacted block during the load, s": backlog.peak("lag_s"),
            DRAIN_KEY: drain.log_s,
            "every chunk sealed after the last ack, s": drain.sealed_s or 0.0,
            "VACUUM FULL, s": time.monotonic() - t,
        }
        if backlog.errors:
            say(f"  /v1/metrics/store failed {len(backlog.errors)} time(s): {backlog.errors[0]}")
        check_complete(out, data)
    return out


def run_hearth_protocol(target: str, data: Dataset, processes: int, workers: int) -> Outcome:
    """Hearth receiving the samples in one of the emitters' protocols: the rate and the check
    that every sample is held (the store is the one the JSON target measures on disk)."""
    path, headers, scheme = PROTOCOLS[target]
    with hearth_server(workers=workers) as server:
        token = bearer_token(
            server, create_client(server, "bench-peers", "metrics.write,metrics.read")
        )
        say(f"  {target}: {data.samples:,} samples in {data.requests:,} requests")
        sent = send_sharded(
            f"{server.base}{path}",
            {**headers, "Authorization": f"{scheme} {token}"},
            getattr(data, BODIES[target][0]),
            processes,
            check=status_2xx,
        )
        say(f"    {sent.rate:,.0f} samples/s ({sent.seconds:.2f} s)")
        out = Outcome(target, data.series, sent)
        out.stored = stored_count(
            server,
            token,
            namespace=NAMESPACE,
            names=NAMES,
            group_by="job",
            start_s=data.t0_ms / 1000,
            end_s=data.last_ms / 1000,
            step=3600,
        )
        check_complete(out, data)
    return out


# ---------------------------------------------------------------- the run
def ceiling(data: Dataset, processes: int, targets: list[str]) -> dict[str, Sent]:
    """The generator's own limit: the same bodies to the hello-world, which reads each."""
    out = {}
    kinds = dict(BODIES[t][::-1] for t in targets)  # kind name -> Dataset attribute
    with hello_server() as url:
        for kind, attr in kinds.items():
            shards = getattr(data, attr)
            out[kind] = sent = send_sharded(url, {}, shards, processes)
            say(f"  generator ceiling, {kind} bodies: {sent.rate:,.0f} samples/s")
            if sent.problems:
                # Without a ceiling the figures cannot be told apart from the generator's limit.
                raise BenchError(f"the hello-world refused {kind} bodies: {sent.problems[0]}")
    return out


@dataclass
class PerSeries:
    data: Dataset
    runs: dict[str, list[Outcome]] = field(default_factory=dict)
    ceilings: dict[str, list[Sent]] = field(default_factory=dict)
    noise: list[str] = field(default_factory=list)  # at the start of each round
    failed: dict[str, str] = field(default_factory=dict)  # a peer that did not start: why

    def rates(self, target: str) -> list[float]:
        return [o.rate for o in self.runs.get(target, [])]

    def median_rate(self, target: str) -> float:
        return median(self.rates(target))

    def bytes(self, target: str) -> list[float]:
        return [b for o in self.runs.get(target, []) if (b := o.bytes_per_sample) is not None]

    def problems(self, target: str) -> list[str]:
        return [p for o in self.runs.get(target, []) for p in o.problems]

    def detail(self, target: str, key: str) -> float:
        return median([o.disk_detail[key] for o in self.runs.get(target, [])])

    def timing(self, key: str) -> list[float]:
        return [o.timing[key] for o in self.runs.get("hearth", []) if key in o.timing]


def run_series(n: int, args: argparse.Namespace, failed: dict[str, str]) -> PerSeries:
    say(f"{n:,} series: encoding every request body (not timed)")
    t = time.monotonic()
    data = make_data(
        n, args.samples, args.senders, protocols=any(t in PROTOCOLS for t in args.targets)
    )
    sizes = ", ".join(
        f"{kind} {data.bytes_of(attr) / 1e6:.0f} MB"
        for attr, kind in dict(BODIES.values()).items()
        if getattr(data, attr)
    )
    say(
        f"  {data.samples:,} samples: {data.scrapes} requests of ≈ {n // args.senders:,} "
        f"samples per sender; {sizes} ({time.monotonic() - t:.1f} s)"
    )
    res = PerSeries(data, failed=dict(failed))
    for rnd in range(1, args.rounds + 1):
        wait_for_quiet(args.max_load, args.load_wait)
        res.noise.append(noise())
        say(f"[{n:,} series, round {rnd}/{args.rounds}] ({res.noise[-1]})")
        for kind, sent in ceiling(data, args.processes, args.targets).items():
            res.ceilings.setdefault(kind, []).append(sent)
        for target in args.targets:
            if target == "hearth":
                out = run_hearth(data, args.processes, args.workers, args.seal_after)
            elif target in PROTOCOLS:
                out = run_hearth_protocol(target, data, args.processes, args.workers)
            elif target in res.failed:
                continue
            else:
                try:
                    out = run_peer(target, data, args.processes)
                except BenchError as exc:
                    # a peer that does not start (or stops answering) is failed, not dropped
                    res.failed[target] = str(exc).strip().splitlines()[0][:400]
                    res.runs.pop(target, None)
                    say(f"!!! {TARGETS[target]}, {n:,} series: failed, not compared: {exc}")
                    continue
            res.runs.setdefault(target, []).append(out)
    return res


# ---------------------------------------------------------------- report
def k(rate: float) -> str:
    return f"{rate / 1000:,.0f}k"


def rate_text(values: list[float]) -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:,.0f}"
    return f"{median(values):,.0f} ({' / '.join(k(v) for v in values)})"


def ratio(res: PerSeries, peer: str, ours: str = "hearth") -> float | None:
    a, b = res.median_rate(ours), res.median_rate(peer)
    return a / b if res.rates(ours) and res.rates(peer) and b else None


def round_ratios(res: PerSeries, peer: str, ours: str = "hearth") -> list[float]:
    return [h / p if p else 0.0 for h, p in zip(res.rates(ours), res.rates(peer), strict=False)]


# (ours, theirs, aim, issue): every ratio the run checks
AIMS = (
    ("hearth", "prometheus", AIM_VS_PROMETHEUS, 16),
    ("hearth", "victoriametrics", AIM_VS_VICTORIA, 16),
    ("hearth-rw", "prometheus", AIM_VS_PROMETHEUS, 17),
    ("hearth-rw", "victoriametrics", AIM_VS_VICTORIA, 17),
    ("hearth-otlp", "hearth-rw", AIM_VS_REMOTE_WRITE, 17),
    ("hearth-influx", "hearth-rw", AIM_VS_REMOTE_WRITE, 17),
)


HEADER = [
    "target",
    "series",
    "samples/s, median (rounds)",
    "x Hearth",
    "spread (max-min)/median",
    "bytes/sample on disk",
    "samples held",
]


def table_rows(results: list[PerSeries]) -> list[list[str]]:
    rows = []
    for res in results:
        h = res.median_rate("hearth") if res.rates("hearth") else 0.0
        for target in TARGETS:
            rates = res.rates(target)
            if not rates:
                continue
            med = median(rates)
            stored = [o.stored for o in res.runs[target]]
            problems = res.problems(target)
            rows.append(
                [
                    TARGETS[target] + (" **FAILED**" if problems else ""),
                    f"{res.data.series:,}",
                    rate_text(rates),
                    f"{med / h:.2f}" if h else "—",
                    f"{(max(rates) - min(rates)) / med:.0%}" if len(rates) > 1 and med else "—",
                    spread(res.bytes(target)),
                    " / ".join(f"{s:,}" if s is not None else "?" for s in stored)
                    + f" of {res.data.samples:,}",
                ]
            )
    return rows


CEIL_HEADER = ["series", "bodies", "generator ceiling, samples/s (rounds)", "fastest target ÷ it"]


def ceiling_rows(results: list[PerSeries]) -> list[list[str]]:
    rows = []
    for res in results:
        for kind, sents in res.ceilings.items():
            rates = [s.rate for s in sents]
            targets = [t for t, (_, body) in BODIES.items() if body == kind]
            fastest = max((res.median_rate(t) for t in targets if res.rates(t)), default=0.0)
            rows.append(
                [
                    f"{res.data.series:,}",
                    kind,
                    rate_text(rates),
                    f"{fastest / median(rates):.2f}" if fastest and median(rates) else "—",
                ]
            )
    return rows


DISK_HEADER = ["target", "series", "what is measured", "bytes", "bytes/sample"]


def disk_rows(results: list[PerSeries]) -> list[list[str]]:
    rows = []
    for res in results:
        for target in TARGETS:
            outs = res.runs.get(target, [])
            if not outs:
                continue
            for key in outs[0].disk_detail:
                value = res.detail(target, key)
                per = f"{value / res.data.samples:.2f}" if res.data.samples else "—"
                rows.append([SHORT[target], f"{res.data.series:,}", key, f"{value:,.0f}", per])
    return rows


BACKLOG_HEADER = ["series", "Hearth's compaction backlog", "median (rounds)"]


def backlog_rows(results: list[PerSeries]) -> list[list[str]]:
    rows = []
    for res in results:
        outs = res.runs.get("hearth", [])
        for key in outs[0].timing if outs else []:
            values = res.timing(key)
            fmt = "{:,.0f}" if key.endswith("samples") else "{:,.1f}"
            text = fmt.format(median(values))
            if len(values) > 1:
                text += " (" + " / ".join(fmt.format(v) for v in values) + ")"
            rows.append([f"{res.data.series:,}", key, text])
    return rows


def verdicts(results: list[PerSeries]) -> Iterator[tuple[str, bool]]:
    for res in results:
        n = f"{res.data.series:,} series"
        for ours, peer, aim, issue in AIMS:
            r = ratio(res, peer, ours)
            if r is not None:
                yield (
                    f"{TARGETS[ours]} ÷ {SHORT[peer]} ≥ {aim:g}x, {n} (issue {issue}): {r:.2f}x",
                    r >= aim,
                )
        b = res.bytes("hearth")
        if b:
            yield (
                f"Hearth disk ≤ {AIM_BYTES:g} bytes/sample, {n} (aim): {median(b):.1f}",
                median(b) <= AIM_BYTES,
            )


def versions() -> dict[str, str]:
    out = {}
    for name, find in (("prometheus", prometheus_binary), ("victoriametrics", victoria_binary)):
        try:
            out[name] = find()[1]
        except BenchError as exc:
            out[name] = str(exc)
    return out


def write_chart(results: list[PerSeries]) -> None:
    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8))
    colors = {
        "hearth": "#1f77b4",
        "hearth-rw": "#17becf",
        "hearth-otlp": "#2ca02c",
        "hearth-influx": "#bcbd22",
        "prometheus": "#e6522c",
        "victoriametrics": "#7b3fbf",
    }
    width = 0.8 / max(1, len(results))
    for i, res in enumerate(results):
        targets = [t for t in TARGETS if res.rates(t)]
        xs = [j + (i - (len(results) - 1) / 2) * width for j in range(len(targets))]
        bars = ax1.bar(
            xs,
            [res.median_rate(t) for t in targets],
            width * 0.95,
            color=[colors[t] for t in targets],
            alpha=1.0 if i == 0 else 0.6,
            edgecolor="black",
            linewidth=0.4,
        )
        ax1.bar_label(
            bars,
            [f"{res.data.series // 1000}k series\n{k(res.median_rate(t))}/s" for t in targets],
            fontsize=7,
        )
        # Disk only where it was measured (the protocol targets share the JSON target's store).
        measured = [t for t in targets if res.bytes(t)]
        xs2 = [j + (i - (len(results) - 1) / 2) * width for j in range(len(measured))]
        per = [median(res.bytes(t)) for t in measured]
        bars = ax2.bar(
            xs2,
            per,
            width * 0.95,
            color=[colors[t] for t in measured],
            alpha=1.0 if i == 0 else 0.6,
            edgecolor="black",
            linewidth=0.4,
        )
        ax2.bar_label(bars, [f"{res.data.series // 1000}k\n{v:.1f}" for v in per], fontsize=7)
    shown = [t for t in TARGETS if any(res.rates(t) for res in results)]
    ax1.set_xticks(range(len(shown)), [SHORT[t] for t in shown], fontsize=8, rotation=15)
    on_disk = [t for t in TARGETS if any(res.bytes(t) for res in results)]
    ax2.set_xticks(range(len(on_disk)), [SHORT[t] for t in on_disk], fontsize=8)
    ax1.yaxis.set_major_formatter(lambda v, _pos: f"{v / 1e6:g} M")
    ax1.set_ylabel("samples / s acknowledged (median of the rounds)")
    ax1.set_title("Ingest, same samples, 8 sharded senders")
    top = max((res.median_rate(t) for res in results for t in TARGETS if res.rates(t)), default=1)
    ax1.set_ylim(0, top * 1.25)
    top = max((median(res.bytes(t)) for res in results for t in TARGETS if res.bytes(t)), default=1)
    ax2.set_ylim(0, top * 1.15)
    ax2.axhline(AIM_BYTES, color="red", ls=":", lw=1.2, label=f"Hearth's aim ≤ {AIM_BYTES:g}")
    ax2.set_ylabel("bytes on disk per sample")
    ax2.set_title("Disk per sample (Hearth compacted, VACUUM FULL; Prometheus WAL + head)")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(HERE / "peers.png", dpi=110)
    plt.close(fig)


def write_report(
    results: list[PerSeries], args: argparse.Namespace, facts: dict[str, Any], problems: list[str]
) -> None:
    info = machine_info()
    v = facts["versions"]
    lines = [
        f"- Machine: {machine_line(info, f'asyncpg {asyncpg.__version__}')}. **The load "
        "generator, the targets (and Hearth's PostgreSQL) share these cores**; each target ran "
        "alone, one after the other. Load average (1 min) "
        f"{facts['load_before']:.2f} before the run, {facts['load_after']:.2f} after it; "
        f"beside it at the start: {facts['noise_before']}; at the end: {facts['noise_after']}.",
        f"- Targets: Hearth (`hearth serve`, {args.workers} worker(s), embedded PostgreSQL, "
        "default settings: durable — answered after commit); Prometheus "
        f"{v['prometheus']} (Debian's package, `--web.enable-remote-write-receiver`, no "
        f"scrape config); VictoriaMetrics {v['victoriametrics']} (single node, built from "
        "the Go module proxy by `make bench-peers`). Each started afresh on a private data dir "
        "for every round. The peers acknowledge a write once it is in memory and their log "
        "(Prometheus: its WAL, not fsynced per request) or buffers (VictoriaMetrics: flushed "
        "about every second); Hearth acknowledges after its transaction has committed "
        "(fsync).",
        f"- Load: scrape-shaped — one sample per series per request, requests 15 s apart in "
        f"sample time, {args.senders} sharded senders (each owns a contiguous shard of the "
        "hosts, 100 series per host, and sends its requests one after another) over "
        f"{args.processes} forked processes (aiohttp on uvloop), a 503 retried after its "
        "Retry-After. Series: 16 metric names (8 counters, 8 gauges), labels job, instance, "
        "region, cpu. Every body encoded before the timing: Hearth's JSON array of points "
        "(namespace `bench`, epoch-ms timestamps), remote write 1.0 for the peers and Hearth's "
        "`/api/v1/write` (protobuf `prometheus.WriteRequest` by the `protobuf` package, snappy "
        "block format by `cramjam`), OTLP protobuf `ExportMetricsServiceRequest` (by "
        "`opentelemetry-proto`: one resource per host with service.name/service.instance.id, "
        "counters as monotonic cumulative sums, uncompressed) and line protocol (one field per "
        "line, measurement = the name up to its first `_`, ns timestamps, uncompressed): the "
        "same values and timestamps. samples/s = samples acknowledged "
        "(2xx) ÷ the time from the first send to the last answer.",
        "- Checked after every load: every request acknowledged, and every sample held by the "
        "target, counted through its query API, per metric name and summed over the 16: "
        '`sum(count_over_time(NAME{job="node"}[…]))` on the peers, '
        "`/v1/metrics/query?agg=count&step=3600` on Hearth. A target that lost samples is a failed figure.",
        f"- Disk: Hearth (started with `HEARTH_METRICS_SEAL_AFTER_S={args.seal_after:g}`) — "
        "growth of `pg_database_size` from after a `VACUUM FULL` before the load to after the "
        "load, once `/v1/metrics/store` showed the write log empty (every sample compacted "
        "into chunks and hourly rollups) and no chunk open (every chunk re-encoded with "
        "pcodec), and again after `VACUUM FULL` (the headline figure: the store at rest: "
        "chunks with their index, hourly rollups, series, an empty write log); each table's "
        "share is the growth of its partitions, indexes and TOAST; Prometheus — its whole data dir after the load (the samples sit in "
        "the WAL and the head's chunk files: the head is cut into a block only once it spans "
        "3 h of sample time, and this load spans less), and the same samples as a "
        "persistent block (the admin API's snapshot of the head), shown apart; "
        "VictoriaMetrics — its whole data dir (index included) after `/internal/force_flush` "
        "and a graceful stop (its in-memory parts reach the disk only after a while, or at "
        "the stop; the running figure is shown apart). "
        "Sizes are blocks allocated on disk (`du`).",
        *(
            f"- **{TARGETS[t]} failed, not compared** ({r.data.series:,} series): {why}"
            for r in results
            for t, why in r.failed.items()
        ),
        "",
        f"{args.rounds} round(s) per series count; each waited (≤ {args.load_wait:g} s) for "
        f"a load average below {args.max_load:g}, then measured the generator's ceiling, "
        "then each target in turn. The table shows the median and every round. At the start "
        "of each round: "
        + "; ".join(
            f"{r.data.series:,} series round {i}: {text}"
            for r in results
            for i, text in enumerate(r.noise, 1)
        )
        + ".",
        "",
        *md_table(HEADER, table_rows(results)),
        "",
        "Aims (issues 16 and 17):",
        "",
    ]
    lines += [f"- {text}: **{'met' if ok else 'NOT met'}**" for text, ok in verdicts(results)]
    lines += [
        "",
        "The load generator's own ceiling: the same bodies, senders and processes against the "
        "aiohttp hello-world (one process, reads every body, answers 204). A target close to "
        "it would be limited by the generator, not measured:",
        "",
        *md_table(CEIL_HEADER, ceiling_rows(results)),
        "",
        "Disk, median of the rounds:",
        "",
        *md_table(DISK_HEADER, disk_rows(results)),
        "",
        "Hearth's compaction during and after the load (`/v1/metrics/store` sampled every "
        "second during the load, then every 0.5 s until drained; the compactor runs alongside "
        "ingest, one pass at a time, up to `HEARTH_METRICS_COMPACT_SAMPLES` samples a pass):",
        "",
        *md_table(BACKLOG_HEADER, backlog_rows(results)),
        "",
        "![samples/s and bytes/sample per target](peers.png)",
    ]
    write_markdown(HERE, "Ingest vs Prometheus and VictoriaMetrics", lines, problems)


def peer_label(peer: str, versions: dict[str, str]) -> str:
    """ "VictoriaMetrics v1.151.0": the version found, else the one expected (not installed)."""
    found = versions.get(peer, "")
    return f"{SHORT[peer]} {found if found and ' ' not in found else EXPECTED[peer]}"


def results_figures(
    results: list[PerSeries], args: argparse.Namespace, versions: dict[str, str]
) -> list[dict[str, Any]]:
    figs = []
    for res in results:
        n = f"{res.data.series:,} series"
        hp = res.problems("hearth")
        for ours, peer, aim, _issue in AIMS:
            name = (
                f"{SHORT[ours]} ÷ {SHORT[peer]}, samples/s ({n})"
                if ours != "hearth"
                else f"Hearth ÷ {SHORT[peer]}, samples/s ({n})"
            )
            is_peer = peer in PEERS
            peer_name = peer_label(peer, versions) if is_peer else SHORT[peer]
            body = BODIES[ours][1]
            ceil = [s.rate for s in res.ceilings.get(body, [])]
            limit = (
                f"load generator → a hello-world reading the same {body} bodies: "
                f"{median(ceil):,.0f} samples/s"
                if ceil
                else ""
            )
            if is_peer and peer in res.failed and res.rates(ours):
                figs.append(
                    peer_failed_figure(
                        name,
                        peer_name,
                        res.failed[peer],
                        unit="x peer",
                        target=f"aim ≥ {aim:g}x",
                        target_value=aim,
                        headline="peers",
                        compared_unit="samples/s",
                        hearth_value=round(res.median_rate(ours)),
                        limit=limit,
                        chart="peers/peers.png",
                    )
                )
                continue
            r = ratio(res, peer, ours)
            if r is None:
                continue
            errors = len(res.problems(ours)) + len(res.problems(peer))
            compared: dict[str, Any] = {}
            if is_peer:
                compared = {
                    "peer": peer_name,
                    "hearth_value": round(res.median_rate(ours)),
                    "peer_value": round(res.median_rate(peer)),
                    "compared_unit": "samples/s",
                    "hearth_rounds": [round(x) for x in res.rates(ours)],
                    "peer_rounds": [round(x) for x in res.rates(peer)],
                }
            figs.append(
                figure(
                    name,
                    round(r, 2),  # as RESULTS.md prints it
                    "x peer",
                    f"aim ≥ {aim:g}x",
                    r >= aim,
                    headline="peers",
                    target_value=aim,
                    limit=limit
                    if is_peer
                    else f"{SHORT[peer]} {res.median_rate(peer):,.0f} samples/s",
                    limit_value=round(median(ceil) / res.median_rate(peer), 2)
                    if is_peer and ceil and res.median_rate(peer)
                    else 1.0,
                    chart="peers/peers.png",
                    detail=f"{SHORT[ours]} {res.median_rate(ours):,.0f} samples/s ({body}), "
                    f"{SHORT[peer]} {res.median_rate(peer):,.0f}; {args.senders} sharded "
                    "senders, 1 sample per series per request",
                    errors=errors,
                    rounds=[round(x, 3) for x in round_ratios(res, peer, ours)],
                    **compared,
                )
            )
        if res.bytes("hearth"):
            b = median(res.bytes("hearth"))
            vm = res.bytes("victoriametrics")
            figs.append(
                figure(
                    f"Hearth disk per sample ({n})",
                    round(b, 2),
                    "bytes/sample",
                    f"aim ≤ {AIM_BYTES:g} bytes/sample",
                    b <= AIM_BYTES,
                    headline="peers",
                    target_value=AIM_BYTES,
                    limit=f"VictoriaMetrics {median(vm):.2f} bytes/sample" if vm else "",
                    limit_value=round(median(vm), 2) if vm else None,
                    chart="peers/peers.png",
                    detail="database growth after VACUUM FULL, write log compacted and every "
                    f"chunk sealed; {res.detail('hearth', DRAINED) / res.data.samples:.1f} "
                    "bytes/sample before the VACUUM FULL; chunks alone "
                    f"{res.detail('hearth', 'chunks, after VACUUM FULL') / res.data.samples:.2f}",
                    errors=len(hp),
                    rounds=[round(x, 2) for x in res.bytes("hearth")],
                    peer=peer_label("victoriametrics", versions),
                    hearth_value=round(b, 2),
                    peer_value=round(median(vm), 2) if vm else None,
                    compared_unit="bytes/sample",
                    hearth_rounds=[round(x, 2) for x in res.bytes("hearth")],
                    peer_rounds=[round(x, 2) for x in vm],
                    peer_failed=res.failed.get("victoriametrics", ""),
                )
            )
        for target in TARGETS:
            rates = res.rates(target)
            if not rates:
                continue
            ceil = res.ceilings[BODIES[target][1]]
            figs.append(
                figure(
                    f"{TARGETS[target]}, samples/s ({n})",
                    round(median(rates)),
                    "samples/s",
                    "—",
                    None,
                    limit=f"generator ceiling {median([s.rate for s in ceil]):,.0f} samples/s",
                    limit_value=round(median([s.rate for s in ceil])),
                    errors=len(res.problems(target)),
                    rounds=[round(x) for x in rates],
                )
            )
            if target == "hearth" and (drains := res.timing(DRAIN_KEY)):
                figs.append(
                    figure(
                        f"Hearth write log drained after the load ({n})",
                        round(median(drains), 1),
                        "s",
                        "—",
                        None,
                        detail="last acknowledgement to an empty write log; largest log during "
                        f"the load {median(res.timing(PEAK_KEY)):,.0f} samples",
                        errors=len(hp),
                        rounds=[round(x, 1) for x in drains],
                    )
                )
            if target in ("prometheus", "victoriametrics") and res.bytes(target):
                figs.append(
                    figure(
                        f"{SHORT[target]} disk per sample ({n})",
                        round(median(res.bytes(target)), 2),
                        "bytes/sample",
                        "—",
                        None,
                        detail="data dir after a graceful stop"
                        if target == "victoriametrics"
                        else "data dir: WAL + head chunks; as a block (snapshot): "
                        f"{res.detail(target, 'as a block') / res.data.samples:.2f}",
                        errors=len(res.problems(target)),
                        rounds=[round(x, 2) for x in res.bytes(target)],
                    )
                )
    return figs


# ---------------------------------------------------------------- main
def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--series",
        default="10000,100000",
        help="series counts, comma-separated (default 10000,100000)",
    )
    counts = (
        # 480 scrapes of 10,000 series: one 2-hour chunk window per series at 15 s
        ("--samples", 4_800_000, "samples per series count, at least"),
        ("--rounds", 3, "rounds per series count; the median is reported"),
        ("--senders", 8, "sharded senders"),
        ("--processes", 2, "processes the senders are spread over"),
        ("--workers", 1, "hearth serve --workers"),
    )
    for flag, default, text in counts:
        p.add_argument(flag, type=int, default=default, help=f"{text} (default {default})")
    p.add_argument(
        "--targets",
        default=",".join(TARGETS),
        help=f"comma-separated, of {', '.join(TARGETS)} (default all)",
    )
    p.add_argument(
        "--seal-after",
        type=float,
        default=SEAL_AFTER_S,
        help=f"Hearth's HEARTH_METRICS_SEAL_AFTER_S (default {SEAL_AFTER_S:g})",
    )
    p.add_argument("--max-load", type=float, default=1.2, help="wait for a lower load average")
    p.add_argument(
        "--load-wait",
        type=float,
        default=60,
        help="… before each round, at most this many seconds (default 60)",
    )
    p.add_argument("--no-write", action="store_true", help="print only; keep RESULTS.md")
    args = p.parse_args()
    try:
        args.series = [int(x) for x in args.series.split(",") if x.strip()]
    except ValueError:
        p.error("--series takes comma-separated integers")
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if unknown := set(args.targets) - set(TARGETS):
        p.error(f"unknown targets: {', '.join(sorted(unknown))}")
    if min([args.samples, args.rounds, args.senders, args.processes, *args.series]) < 1:
        p.error("counts must be positive")
    return args


def main() -> int:
    args = parse_args()
    facts: dict[str, Any] = {
        "load_before": os.getloadavg()[0],
        "noise_before": noise(),
        "versions": versions(),
    }
    failed: dict[str, str] = {}
    for target in args.targets:  # a missing peer is failed in the figures, not dropped
        if target in PEERS:
            try:
                (prometheus_binary if target == "prometheus" else victoria_binary)()
            except BenchError as exc:
                failed[target] = str(exc)
                say(f"!!! {TARGETS[target]}: failed, not compared: {exc}")
    results = [run_series(n, args, failed) for n in args.series]
    facts["load_after"] = os.getloadavg()[0]
    facts["noise_after"] = noise()
    problems = [
        f"{TARGETS[t]}, {r.data.series:,} series: {p}"
        for r in results
        for t in TARGETS
        for p in r.problems(t)
    ]
    print_grid(HEADER, table_rows(results))
    for text, ok in verdicts(results):
        print(f"{'met    ' if ok else 'NOT MET'}  {text}")
    print_grid(CEIL_HEADER, ceiling_rows(results))
    print_grid(DISK_HEADER, disk_rows(results))
    print_grid(BACKLOG_HEADER, backlog_rows(results))
    if args.no_write:
        return finish(problems)
    write_chart(results)
    write_report(results, args, facts, problems)
    write_results(
        HERE,
        results_figures(results, args, facts["versions"]),
        versions=facts["versions"],
        rounds={
            f"{r.data.series}": {t: [round(x) for x in r.rates(t)] for t in TARGETS}
            for r in results
        },
    )
    return finish(problems)


if __name__ == "__main__":
    run_main(main)
