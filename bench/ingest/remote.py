"""Remote mode (issue 20): Hearth as the authenticated gateway in front of a Prometheus, beside
that Prometheus receiving the same remote-write requests directly — in the same run, the same
senders, the same bodies.

Both targets get the scrape-shaped remote-write bodies of ``bench.harness.scrapes`` (the ones
bench/peers sends to Prometheus): ``series`` series, one sample per series per request, 15 s
apart in sample time, ``senders`` sharded senders over ``processes`` forked processes
(``bench.harness.sharded``; a 503 is retried after its Retry-After, only 2xx counts).

- **prometheus**: Prometheus 2.42 (Debian's, ``bench.harness.peers.prometheus_server``, fresh
  data dir) receiving on its own ``/api/v1/write``.
- **hearth-remote**: a fresh Prometheus the same way, and ``hearth serve`` with
  ``HEARTH_METRICS_STORE=remote`` pointing at it (write URL ``<prometheus>/api/v1/write``, query
  URL ``<prometheus>``); the senders POST to Hearth's ``/api/v1/write?namespace=bench`` with a
  bearer token; Hearth decodes, adds the namespace label, re-encodes (native) and acknowledges
  once Prometheus has.

Before the timing each target takes a small warm-up (its own series, not counted). After it:
the samples held, counted in Prometheus itself (``count_over_time`` per metric name; Hearth's
with its namespace label), and for Hearth also through Hearth's own query API (forwarded to the
backend with the namespace enforced). Each round runs both targets, in alternating order; CPU
seconds of each process group (Prometheus, Hearth's server, its PostgreSQL and Redis, the
senders) from /proc while the load ran. ``profile``: one more Hearth run after the rounds,
sampled by py-spy (not counted in the figures).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.harness.client import bearer_token, create_client
from bench.harness.log import say
from bench.harness.machine import CpuMeter, noise
from bench.harness.peers import count_samples, prometheus_binary, prometheus_server
from bench.harness.profiler import Profiler, profile_lines
from bench.harness.remote_write import HEADERS as RW_HEADERS
from bench.harness.remote_write import ShardEncoder
from bench.harness.results import figure
from bench.harness.scrapes import NAMESPACE, Dataset, make_data
from bench.harness.server import hearth_server
from bench.harness.sharded import Request, Sent, send_sharded
from bench.harness.stats import median
from bench.harness.tables import md_table
from hearth_core.settings import Settings

AIM = 0.8  # Hearth in remote mode ÷ Prometheus receiving directly
TARGETS = {
    "prometheus": "Prometheus, receiving remote write directly (POST /api/v1/write)",
    "hearth-remote": "Hearth remote mode → Prometheus (POST /api/v1/write, acknowledged after "
    "Prometheus)",
}
SHORT = {"prometheus": "Prometheus direct", "hearth-remote": "Hearth → Prometheus"}
WARMUP_SERIES = 100
WARMUP_REQUESTS = 16


@dataclass
class Run:
    target: str
    sent: Sent
    cpu: dict[str, float]  # CPU s per process group while the load ran
    stored: int | None = None  # held by Prometheus, counted there
    via_hearth: int | None = None  # counted through Hearth's query API
    problems: list[str] = field(default_factory=list)
    log_tail: str = ""

    @property
    def rate(self) -> float:
        return self.sent.rate


@dataclass
class Remote:
    data: Dataset
    senders: int
    processes: int
    workers: int
    version: str
    label: str  # the namespace label Hearth's series carry in the backend
    runs: dict[str, list[Run]] = field(default_factory=dict)
    noise: list[str] = field(default_factory=list)
    profile: dict[str, Any] | None = None
    profile_path: str = ""

    def rates(self, target: str) -> list[float]:
        return [r.rate for r in self.runs.get(target, [])]

    def ratios(self) -> list[float]:
        """Hearth ÷ Prometheus of each round (both measured in it)."""
        return [
            h / p if p else 0.0
            for h, p in zip(self.rates("hearth-remote"), self.rates("prometheus"), strict=False)
        ]

    def ratio(self) -> float | None:
        h, p = self.rates("hearth-remote"), self.rates("prometheus")
        return median(h) / median(p) if h and p and median(p) else None

    def problems(self) -> list[str]:
        return [
            f"{TARGETS[t]}: {p}" for t, runs in self.runs.items() for r in runs for p in r.problems
        ]

    def cpu_per_million(self, target: str) -> dict[str, float]:
        """Median CPU s per 1,000,000 acknowledged samples, per process group."""
        runs = self.runs.get(target, [])
        groups = {g for r in runs for g in r.cpu}
        return {
            g: median([r.cpu.get(g, 0.0) * 1e6 / r.sent.samples for r in runs if r.sent.samples])
            for g in sorted(groups)
        }

    def cores(self, target: str) -> dict[str, float]:
        """Median cores busy (CPU s ÷ wall s) per process group."""
        runs = self.runs.get(target, [])
        groups = {g for r in runs for g in r.cpu}
        return {
            g: median([r.cpu.get(g, 0.0) / r.sent.seconds for r in runs if r.sent.seconds])
            for g in sorted(groups)
        }


def warmup_shards(data: Dataset) -> list[list[Request]]:
    """One sender's ``WARMUP_REQUESTS`` requests, one after another, of ``WARMUP_SERIES`` series
    of their own (``job="warmup"``), a second apart, ending a minute before the load's first
    sample (never after it: Prometheus refuses samples an hour behind its newest)."""
    enc = ShardEncoder(
        [
            [("__name__", "bench_warmup"), ("i", str(i)), ("job", "warmup")]
            for i in range(WARMUP_SERIES)
        ]
    )
    t = data.t0_ms - 60_000 - WARMUP_REQUESTS * 1000
    return [
        [
            (enc.encode([float(k)] * WARMUP_SERIES, t + k * 1000), WARMUP_SERIES)
            for k in range(WARMUP_REQUESTS)
        ]
    ]


def check(run: Run, data: Dataset) -> None:
    if run.sent.problems:
        run.problems.append(
            f"{len(run.sent.problems)}+ requests not acknowledged, e.g. {run.sent.problems[0]}"
        )
    if run.sent.samples != data.samples:
        run.problems.append(f"{run.sent.samples:,} of {data.samples:,} samples acknowledged")
    if run.stored != data.samples:
        run.problems.append(f"Prometheus holds {run.stored} samples, expected {data.samples:,}")
    if run.target == "hearth-remote" and run.via_hearth != data.samples:
        run.problems.append(
            f"Hearth's query API counts {run.via_hearth} samples, expected {data.samples:,}"
        )
    for p in run.problems:
        say(f"!!! {TARGETS[run.target]}: {p}")


def _send(
    url: str, headers: dict[str, str], data: Dataset, processes: int, meter: CpuMeter
) -> tuple[Sent, dict[str, float]]:
    warm = send_sharded(url, headers, warmup_shards(data), 1)
    if warm.problems:
        say(f"  warm-up refused: {warm.problems[0]}")
    meter.start()
    sent = send_sharded(url, headers, data.remote_write, processes)
    return sent, meter.stop()


def run_prometheus(data: Dataset, processes: int) -> Run:
    with prometheus_server() as peer:
        meter = CpuMeter(None, {"prometheus": peer.proc.pid})
        sent, cpu = _send(f"{peer.base}/api/v1/write", RW_HEADERS, data, processes, meter)
        say(f"    prometheus direct: {sent.rate:,.0f} samples/s ({sent.seconds:.2f} s)")
        run = Run("prometheus", sent, cpu)
        run.stored = count_samples(peer.base, data, who="prometheus")
    check(run, data)
    return run


def remote_env(base: str) -> dict[str, str]:
    return {
        "HEARTH_METRICS_STORE": "remote",
        "HEARTH_METRICS_REMOTE_WRITE_URL": f"{base}/api/v1/write",
        "HEARTH_METRICS_REMOTE_QUERY_URL": base,
    }


def run_hearth(
    data: Dataset, processes: int, workers: int, label: str, profile: Path | None = None
) -> tuple[Run, dict[str, Any] | None]:
    with (
        prometheus_server() as peer,
        hearth_server(workers=workers, env=remote_env(peer.base)) as server,
    ):
        token = bearer_token(
            server, create_client(server, "bench-remote", "metrics.write,metrics.read")
        )
        headers = {**RW_HEADERS, "Authorization": f"Bearer {token}"}
        url = f"{server.base}/api/v1/write?namespace={NAMESPACE}"
        meter = CpuMeter(server, {"prometheus": peer.proc.pid})
        profiler = Profiler(profile, workers) if profile else None
        if profiler:
            profiler.start(server.proc.pid)
        try:
            sent, cpu = _send(url, headers, data, processes, meter)
        finally:
            if profiler:
                profiler.stop()
        say(f"    hearth remote mode: {sent.rate:,.0f} samples/s ({sent.seconds:.2f} s)")
        run = Run("hearth-remote", sent, cpu)
        run.stored = count_samples(
            peer.base, data, matchers=f'job="node",{label}="{NAMESPACE}"', who="prometheus"
        )
        run.via_hearth = count_samples(
            server.base,
            data,
            auth=f"Bearer {token}",
            params={"namespace": NAMESPACE},
            who="hearth (remote mode)",
        )
        run.log_tail = server.log_tail()
        top = profiler.top() if profiler else None
    check(run, data)
    return run, top


def measure(
    *,
    series: int,
    samples: int,
    senders: int,
    processes: int,
    workers: int,
    rounds: int,
    profile: Path | None,
) -> Remote:
    _, version = prometheus_binary()  # a setup error (exit 2) when it is not installed
    label = Settings.from_env().metrics_namespace_label
    say(f"remote mode: encoding {samples:,} samples of {series:,} series (not timed)")
    t = time.monotonic()
    data = make_data(series, samples, senders)
    say(
        f"  {data.requests:,} remote-write requests, {data.rw_bytes / 1e6:.0f} MB ({time.monotonic() - t:.1f} s)"
    )
    res = Remote(data, senders, processes, workers, version, label)
    order = list(TARGETS)
    for rnd in range(1, rounds + 1):
        res.noise.append(noise())
        say(f"[remote mode, round {rnd}/{rounds}] ({res.noise[-1]})")
        for target in order if rnd % 2 else order[::-1]:
            if target == "prometheus":
                run = run_prometheus(data, processes)
            else:
                run, _ = run_hearth(data, processes, workers, label)
            res.runs.setdefault(target, []).append(run)
    if profile:
        say(f"remote mode: one more Hearth run under py-spy ({profile}), not counted")
        _, res.profile = run_hearth(data, processes, workers, label, profile)
        res.profile_path = str(profile)
    return res


# ---------------------------------------------------------------- report
def k(rate: float) -> str:
    return f"{rate / 1000:,.0f}k"


HEADER = [
    "target",
    "samples/s, median (rounds)",
    "spread (max-min)/median",
    "x Prometheus direct",
    "samples held (in Prometheus; through Hearth's query API)",
]


def table_rows(res: Remote) -> list[list[str]]:
    p = median(res.rates("prometheus")) if res.rates("prometheus") else 0.0
    rows = []
    for target, name in TARGETS.items():
        runs = res.runs.get(target, [])
        if not runs:
            continue
        rates = res.rates(target)
        med = median(rates)
        held = " / ".join(f"{r.stored:,}" if r.stored is not None else "?" for r in runs)
        if target == "hearth-remote":
            held += "; " + " / ".join(
                f"{r.via_hearth:,}" if r.via_hearth is not None else "?" for r in runs
            )
        failed = any(r.problems for r in runs)
        rows.append(
            [
                name + (" **FAILED**" if failed else ""),
                f"{med:,.0f} ({' / '.join(k(v) for v in rates)})",
                f"{(max(rates) - min(rates)) / med:.0%}" if len(rates) > 1 and med else "—",
                f"{med / p:.2f}" if p else "—",
                f"{held} of {res.data.samples:,}",
            ]
        )
    return rows


CPU_HEADER = ["process group", *(f"{SHORT[t]}: CPU s per 1 M samples" for t in TARGETS)] + [
    f"{SHORT[t]}: cores busy" for t in TARGETS
]


def cpu_rows(res: Remote) -> list[list[str]]:
    per = {t: res.cpu_per_million(t) for t in TARGETS}
    cores = {t: res.cores(t) for t in TARGETS}
    groups = sorted({g for t in TARGETS for g in per[t]}, key=lambda g: (g == "bench client", g))
    rows = []
    for g in groups:
        name = "senders (bench client and its forked processes)" if g == "bench client" else g
        cells = [f"{per[t][g]:.2f}" if g in per[t] else "—" for t in TARGETS]
        cells += [f"{cores[t][g]:.2f}" if g in cores[t] else "—" for t in TARGETS]
        rows.append([name, *cells])
    totals = [f"{sum(per[t].values()):.2f}" for t in TARGETS]
    totals += [f"{sum(cores[t].values()):.2f}" for t in TARGETS]
    rows.append(["all", *totals])
    return rows


def verdict(res: Remote) -> tuple[str, bool]:
    r = res.ratio()
    return (
        f"Hearth remote mode ≥ {AIM:g} x Prometheus receiving directly (issue 20, aim): {r:.2f}x"
        if r is not None
        else "no ratio",
        r is not None and r >= AIM,
    )


def markdown(res: Remote, command: str) -> list[str]:
    d = res.data
    ratios = res.ratios()
    text, ok = verdict(res)
    hearth_cpu = res.cpu_per_million("hearth-remote").get("server")
    prom_cpu = res.cpu_per_million("prometheus").get("prometheus")
    lines = [
        "## Remote mode: Hearth as the gateway to Prometheus (issue 20)",
        "",
        f"Reproduce: `{command}` (this section alone: add `--remote-only`, which prints "
        "without writing).",
        "",
        f"- Backend: Prometheus {res.version} (Debian's package, `--web.enable-remote-write-"
        "receiver`, fresh data dir for every measurement, no scrape config). Hearth: `hearth "
        f"serve`, {res.workers} worker(s), `HEARTH_METRICS_STORE=remote`, write URL "
        "`<prometheus>/api/v1/write`, query URL `<prometheus>`, other settings default (its "
        "embedded PostgreSQL and Redis hold identity only). Hearth acknowledges a request once "
        "Prometheus acknowledged Hearth's re-encoded request (every series with "
        f'`{res.label}="{NAMESPACE}"` added).',
        f"- Load: the scrape-shaped remote-write bodies of bench/peers (`bench.harness.scrapes`): "
        f"{d.series:,} series (16 metric names, labels job, instance, region, cpu), one sample "
        f"per series per request, 15 s apart in sample time, {d.samples:,} samples in "
        f"{d.requests:,} requests (snappy protobuf, {d.rw_bytes / 1e6:.0f} MB), encoded before "
        f"any timing; {res.senders} sharded senders over {res.processes} forked processes "
        "(`bench.harness.sharded`), the same for both targets: to Prometheus's own "
        f"`/api/v1/write`, and to Hearth's `/api/v1/write?namespace={NAMESPACE}` with a "
        "bearer token. A warm-up of "
        f"{WARMUP_REQUESTS} requests of {WARMUP_SERIES} series of their own first (not counted). "
        "samples/s = samples acknowledged (2xx) ÷ first send to last answer.",
        "- Checked after every load: every request acknowledged, and every sample held — "
        'counted in Prometheus (`sum(count_over_time(NAME{job="node"}[…]))` per name; '
        f"Hearth's with `{res.label}=\"{NAMESPACE}\"`) and, for Hearth, also through Hearth's own "
        "query API (forwarded to Prometheus with the namespace enforced).",
        f"- {len(res.noise)} round(s), each measuring both targets (alternating which goes "
        "first); the table shows the median and every round. **2 cores shared**: in the Hearth "
        "run, Hearth, Prometheus and the load generator compete for the same 2 cores (in the "
        "direct run only Prometheus and the generator), so the ratio includes the CPU Hearth "
        "takes away from Prometheus — on separate machines the gateway's cost would not slow "
        "the backend. Load at the start of each round: " + "; ".join(res.noise) + ".",
        "",
        *md_table(HEADER, table_rows(res)),
        "",
        "Hearth ÷ Prometheus per round: "
        + " / ".join(f"{r:.2f}" for r in ratios)
        + (f"; ratio of the medians {res.ratio():.2f}x." if res.ratio() is not None else "."),
        "",
        f"- {text}: **{'met' if ok else 'NOT met'}**",
        "",
        "CPU while the load ran (from /proc, median of the rounds): per 1,000,000 samples "
        "acknowledged, and cores busy (CPU s ÷ wall s).",
        "",
        *md_table(CPU_HEADER, cpu_rows(res)),
        "",
    ]
    if hearth_cpu and prom_cpu is not None:
        lines += [
            f"Hearth's server used {hearth_cpu:.2f} CPU s per million samples forwarded (≈ "
            f"{hearth_cpu:.2f} µs per sample: HTTP, auth, native decode, namespace label, "
            "re-encode, the backend request); Prometheus receiving directly used "
            f"{prom_cpu:.2f} s per million. Per core, one Hearth worker forwards ≈ "
            f"{1e6 / hearth_cpu:,.0f} samples/s (the figure docs/scale-out.md scales).",
            "",
        ]
    if res.profile:
        lines += [
            f"py-spy of Hearth's server during one more remote-mode run ({res.profile_path}, "
            "not counted in the figures):",
            "",
            *profile_lines(res.profile),
            "",
        ]
    return lines


def figures(res: Remote, chart: str) -> list[dict[str, Any]]:
    errors = len(res.problems())
    p = res.rates("prometheus")
    h = res.rates("hearth-remote")
    ratio = res.ratio()
    limit = f"Prometheus direct {median(p):,.0f} samples/s" if p else ""
    common = f"{res.data.series:,} series, {res.senders} senders, same run"
    hearth_cpu = res.cpu_per_million("hearth-remote").get("server")
    return [
        figure(
            "Hearth remote mode ÷ Prometheus receiving remote write directly",
            round(ratio, 3) if ratio is not None else None,
            "x Prometheus",
            f"aim ≥ {AIM:g}x",
            ratio is not None and ratio >= AIM,
            headline="remote",
            target_value=AIM,
            limit=limit,
            limit_value=1.0,
            chart=chart,
            detail=f"Hearth {median(h):,.0f} samples/s; {common}; 2 cores shared by Hearth, "
            "Prometheus and the generator"
            if h
            else "",
            errors=errors,
            rounds=[round(r, 3) for r in res.ratios()],
            peer=f"Prometheus {res.version}",
            hearth_value=round(median(h)) if h else None,
            peer_value=round(median(p)) if p else None,
            compared_unit="samples/s",
            hearth_rounds=[round(x) for x in h],
            peer_rounds=[round(x) for x in p],
        ),
        figure(
            "Hearth remote mode (POST /api/v1/write → Prometheus), samples/s",
            round(median(h)) if h else None,
            "samples/s",
            "—",
            None,
            limit=limit,
            limit_value=round(median(p)) if p else None,
            detail=f"{hearth_cpu:.2f} CPU s of Hearth's server per million samples"
            if hearth_cpu
            else "",
            errors=errors,
            rounds=[round(x) for x in h],
        ),
        figure(
            "Prometheus receiving remote write directly (remote-mode comparison), samples/s",
            round(median(p)) if p else None,
            "samples/s",
            "—",
            None,
            errors=errors,
            rounds=[round(x) for x in p],
        ),
    ]


def draw(ax: Any, res: Remote) -> None:
    """Both targets' samples/s per round and the median, on ``ax``."""
    colors = {"prometheus": "#9e9e9e", "hearth-remote": "#1f77b4"}
    targets = [t for t in TARGETS if res.rates(t)]
    meds = [median(res.rates(t)) for t in targets]
    bars = ax.bar([SHORT[t] for t in targets], meds, color=[colors[t] for t in targets])
    p = median(res.rates("prometheus")) if res.rates("prometheus") else 0.0
    ax.bar_label(bars, [f"{m:,.0f}/s" + (f"\n{m / p:.2f}x" if p else "") for m in meds], fontsize=8)
    for i, t in enumerate(targets):
        ax.scatter([i] * len(res.rates(t)), res.rates(t), color="black", s=10, zorder=3)
    if p:
        ax.axhline(AIM * p, color="red", linestyle=":", linewidth=1, label=f"aim {AIM:g}x")
        ax.legend(fontsize=8, loc="lower right")
    ax.set_ylabel("samples / s (dots: rounds)")
    ax.set_ylim(0, max([*meds, 1.0]) * 1.3)
    ax.set_title("Remote mode vs Prometheus direct")
