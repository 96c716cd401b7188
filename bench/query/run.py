"""Dashboard queries through the Prometheus query API (issue 18): Hearth beside Prometheus 2.42
and VictoriaMetrics v1.151.0 holding the same samples, loaded the same way, in one run.

    .venv/bin/python bench/query/run.py                  # the report's size: 50 M samples
    .venv/bin/python bench/query/run.py --quick          # 2 days of 200 series: minutes

``make bench-peers`` installs the peers first (scripts/bench-peers.sh).

1. **data** (bench/query/dataset.py) — ``--series`` series (default 1,000: a counter
   ``http_requests_total`` and a gauge ``process_resident_memory_bytes`` per instance; labels
   ``job``, ``instance``, ``dc`` of 4) with a sample every ``--interval`` s (60) over
   ``--days`` days (30): 43.2 M samples; and a high-cardinality name,
   ``container_memory_working_set_bytes``, ``--churn-series`` pods (68,000) of
   ``--churn-points`` samples (100) each: 6.8 M; 50 M in all. Generated from the indices
   (deterministic), every request encoded before any is sent;
2. **load** — each target in turn, alone, through its remote-write receiver
   (``POST /api/v1/write``, snappy protobuf), ``--senders`` sharded senders (8, each owning a
   contiguous range of instances and pods, its requests in time order, about 5,000 samples
   each) over ``--processes`` processes (bench.harness.sharded), in lockstep (request j of
   each sender, the same 30 minutes of sample time, once every request j - 1 is answered:
   Prometheus refuses samples an hour older than its newest), with progress lines; then
   brought to rest (bench/query/targets.py: Hearth's write log compacted, chunks sealed,
   ``VACUUM (ANALYZE)``; Prometheus' head compacted into blocks; VictoriaMetrics flushed and
   merged) and checked to hold every sample (``sum(count_over_time(NAME[…]))`` per name);
3. **check** — each query (bench/query/queries.py) on a few concrete ranges / instances:
   Hearth's answer must equal Prometheus' (the same series, timestamps and values within 1e-9
   relative; bench/query/compare.py), else that query's figures are failed and not measured.
   VictoriaMetrics' answers are compared too, for information only (MetricsQL differs on
   purpose: its ``rate`` does not extrapolate, its lookback differs);
4. **queries** — ``--rounds`` rounds; in each, for every query and connection count
   (``--connections``, 1 and 16), every target in turn (interleaved, so that the load of the
   machine weighs on all alike): ``wrk -t1 -cN`` after a ``--warmup``, for ``--duration`` s or
   longer for slow answers (enough for ~30 answers, at most ``--max-duration``); every request
   picks its instance / end time (bench/query/wrk.lua); and, first in each round, an aiohttp
   hello-world at each connection count (the limit of any HTTP answer on these cores).
   Figures: the median of the rounds of req/s, p50 and p99, and Hearth ÷ Prometheus (and ÷
   VictoriaMetrics) req/s per round;
5. **where Hearth's time goes** (bench/query/hotspots.py) — each query's steps timed in
   the service's own ``evaluate``, one request at a time; and ``perf record`` over Hearth's
   server and PostgreSQL during ``--profile`` s of its slowest query at the most connections.

Writes ``RESULTS.md``, ``query.png`` and ``results.json`` next to this file. A target that
fails to start or to load is reported as failed with the reason, never left out. Exit code 1
when a check of Hearth fails or a request errs (a peer that fails makes only the figures that
compare with it failed), 2 on a setup error.
"""

from __future__ import annotations

import argparse
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.harness.log import BenchError, run_main, say
from bench.harness.machine import (
    noise,
    pid_from_file,
    process_tree,
    wait_for_quiet,
    wait_idle,
)
from bench.harness.paths import ROOT
from bench.harness.results import finish
from bench.harness.server import hello_server
from bench.harness.stats import median
from bench.harness.wrk import Request, Round, run_wrk
from bench.query import hotspots, report
from bench.query.compare import compare
from bench.query.dataset import CHURN, Spec, encode
from bench.query.queries import QUERIES, Plan, plan
from bench.query.targets import (
    Target,
    count_held,
    load,
    settle,
    start_hearth,
    start_prometheus,
    start_victoria,
)

HERE = Path(__file__).resolve().parent
LUA = HERE / "wrk.lua"
ORDER = ("prometheus", "victoriametrics", "hearth")
MIN_ANSWERS = 30  # per round: fewer make p99 the maximum of a handful
EFFECTIVE_CORES = 1.0  # for sizing runs: of the 2 cores, what a target's answers get
IDLE_CORES = 0.15  # a target at rest between runs uses less
QUICK = {"series": 200, "days": 2.0, "churn_series": 2000}


# ---------------------------------------------------------------- checks
def check_held(t: Target, spec: Spec) -> None:
    """Every sample acknowledged is held, per name. A shortfall in a name the queries read
    fails the target (its answers would not be of the same samples); in the high-cardinality
    name, which no query reads, it is reported beside the figures (``facts['lost']``)."""
    held = count_held(t, spec)
    t.facts["held"] = held
    want = spec.per_name()
    off = {n: held.get(n, 0) - want[n] for n in want if held.get(n, 0) != want[n]}
    if not off:
        say(f"  {t.title} holds every sample: {held}")
        return
    text = ", ".join(f"{held.get(n, 0):,} of {want[n]:,} samples of {n}" for n in off)
    if set(off) - {CHURN}:
        raise BenchError(f"holds {text} after acknowledging every sample")
    t.facts["lost"] = f"holds {text} after acknowledging every sample (no query reads {CHURN})"
    say(f"!!! {t.title} {t.facts['lost']}")


def check(targets: dict[str, Target], plans: list[Plan], facts: dict[str, Any]) -> None:
    """Every check request on every target; Hearth's answers against Prometheus'. Fills each
    target's ``query_failed``, ``facts['checks']`` (what the comparisons found) and
    ``facts['latency']`` (seconds per answer, for sizing the runs)."""
    ref_target = targets.get("prometheus")
    ref_ok = ref_target is not None and ref_target.alive
    checks: dict[str, dict[str, str]] = {}
    latency: dict[str, dict[str, float]] = {}
    for p in plans:
        key = p.query.key
        refs: list[dict[str, Any] | None] = []
        for name in ORDER:
            t = targets.get(name)
            if t is None or not t.alive:
                continue
            times: list[float] = []
            notes: list[str] = []
            for i, params in enumerate(p.checks):
                try:
                    t0 = time.perf_counter()
                    data = t.data(p.query.path, params)
                    times.append(time.perf_counter() - t0)
                except BenchError as exc:
                    t.query_failed[key] = f"answer failed: {exc}"
                    break
                if name == "prometheus":
                    refs.append(data)
                    continue
                if not ref_ok or refs[i] is None:
                    notes.append("not compared: Prometheus gave no answer")
                    continue
                diff = compare(refs[i], data)  # type: ignore[arg-type]
                what = diff.text("Prometheus", t.title)
                notes.append(what)
                if name == "hearth" and not diff.equal:
                    t.query_failed[key] = f"differs from Prometheus ({params}): {what}"
                    break
            if times:
                # one more answer, warm: the first may read from disk
                t0 = time.perf_counter()
                try:
                    t.data(p.query.path, p.checks[0])
                    times.append(time.perf_counter() - t0)
                except BenchError:
                    pass
                latency.setdefault(name, {})[key] = median(times[1:] or times)
            if name == "prometheus" and key in t.query_failed:
                refs = [None] * len(p.checks)
            verdict = t.query_failed.get(key) or summary(notes)
            checks.setdefault(key, {})[name] = verdict
            say(f"  check {key} {t.title}: {verdict[:300]}")
    facts["checks"] = checks
    facts["latency"] = latency


def summary(notes: list[str]) -> str:
    """The comparisons of one query on one target, in a line: all equal, or each apart."""
    if not notes:
        return "reference"
    if all(n.startswith("equal") for n in notes):
        return f"equal on all {len(notes)} checks: " + "; ".join(
            n.removeprefix("equal: ") for n in notes
        )
    return " / ".join(notes)


# ---------------------------------------------------------------- measuring
def wrk_request(t: Target, p: Plan, timeout_s: float) -> Request:
    return Request(
        t.base + p.template,
        auth=t.auth,
        script=LUA,
        env={f"BENCH_{k}": ",".join(v) for k, v in p.choices.items()},
        timeout_s=timeout_s,
    )


def sizing(latency_s: float, conns: int, args: argparse.Namespace) -> tuple[float, float]:
    """(duration, timeout) of a run of ``conns`` connections on a query answered in
    ``latency_s`` alone: long enough for about MIN_ANSWERS answers and three turns of every
    connection. The answers of ``conns`` connections are taken to share one core (the
    machine's other core is wrk's, PostgreSQL's or other work's): a closed loop of slow
    queries answers each only after the others, and a run shorter than that counts none."""
    at_conns = latency_s * conns / EFFECTIVE_CORES
    duration = max(args.duration, MIN_ANSWERS * at_conns / conns, 3 * at_conns)
    return min(duration, args.max_duration), max(30.0, 4 * at_conns)


def settle_after(t: Target, limit_s: float) -> None:
    """Wait for ``t`` to finish what the last run left: wrk stops with requests under way,
    and a server that goes on with abandoned ones (aiohttp does not cancel a handler when
    its client goes) would slow the next run down."""
    wait_idle(t.pids, t.title, below=IDLE_CORES, quiet_s=1.0, limit_s=limit_s)


def measure(
    targets: dict[str, Target], plans: list[Plan], args: argparse.Namespace, facts: dict[str, Any]
) -> dict[tuple[str, str, int], list[Round]]:
    """Every round: for each query and connection count, every target in turn (a warm-up on
    one connection, the run, then a wait until the target is idle). A run's length comes
    from the latency at one connection measured just before in the same round (the checks'
    at first)."""
    rounds: dict[tuple[str, str, int], list[Round]] = {}
    facts["noise_rounds"] = []
    facts["empty_runs"] = []
    facts["round_of"] = {}  # (target, query, conns) -> the round of each of its runs
    facts["hello"] = {}  # conns -> req/s of the hello-world in each round: the HTTP limit
    alone: dict[tuple[str, str], float] = {}  # (target, query) -> s per answer at 1 connection
    for r in range(1, args.rounds + 1):
        load_avg = wait_for_quiet(args.max_load, args.load_wait)
        facts["noise_rounds"].append(f"{noise()} (1-min load {load_avg:.2f} when it began)")
        say(f"round {r} of {args.rounds}")
        with hello_server() as hello_url:
            for conns in args.connections:
                got = run_wrk(Request(hello_url), conns, args.duration)
                facts["hello"].setdefault(conns, []).append(got.rps)
                say(f"  hello-world @ {conns:>2} {got.rps:9,.1f} req/s  p99 {got.p99_ms:8.1f} ms")
        for p in plans:
            key = p.query.key
            for conns in args.connections:
                for name in ORDER:
                    t = targets.get(name)
                    if t is None or not t.alive or key in t.query_failed:
                        continue
                    lat = alone.get((name, key)) or facts["latency"].get(name, {}).get(key, 0.05)
                    duration, timeout = sizing(lat, conns, args)
                    req = wrk_request(t, p, timeout)
                    try:
                        if args.warmup > 0:
                            run_wrk(req, 1, args.warmup)
                            settle_after(t, timeout + 30)
                        got = run_wrk(req, conns, duration)
                    except BenchError as exc:
                        t.query_failed[key] = f"wrk failed: {str(exc)[:500]}"
                        say(f"!!! {key} @ {conns} {t.title}: {t.query_failed[key]}")
                        continue
                    finally:
                        settle_after(t, timeout + 30)
                    errs = f", errors {got.errors}" if got.errors else ""
                    say(
                        f"  {key} @ {conns:>2} {t.title:<15} {got.rps:9,.1f} req/s  p50 "
                        f"{got.p50_ms:8.1f} ms  p99 {got.p99_ms:8.1f} ms  ({got.requests} "
                        f"answers in {duration:.0f} s{errs})"
                    )
                    if got.requests == 0:
                        # no latency to report: a failed run of this round, not a zero
                        facts["empty_runs"].append(
                            f"{t.title}, query ({key}) @ {conns}, round {r}: no answer within "
                            f"{duration:.0f} s"
                        )
                        continue
                    if conns == 1:
                        alone[(name, key)] = got.mean_ms / 1000
                    rounds.setdefault((name, key, conns), []).append(got)
                    facts["round_of"].setdefault((name, key, conns), []).append(r)
    return rounds


def profile(
    t: Target,
    plans: list[Plan],
    rounds: dict[tuple[str, str, int], list[Round]],
    args: argparse.Namespace,
    facts: dict[str, Any],
) -> dict[str, Any]:
    """Where Hearth's time goes (bench/query/hotspots.py): every query's steps, one request at
    a time; perf over the server and its PostgreSQL during its slowest query (median p99 at
    the most connections)."""
    assert t.server is not None
    out: dict[str, Any] = {"phases": {}}
    for p in plans:
        if p.query.key not in t.query_failed:
            say(f"timing the steps of Hearth's query ({p.query.key})")
            out["phases"][p.query.key] = hotspots.phases(t.server, p.checks[0])
    conns = max(args.connections)
    at = {
        k[1]: median([r.p99_ms for r in v])
        for k, v in rounds.items()
        if k[0] == t.key and k[2] == conns
    }
    if not at or not hotspots.perf_available():
        return out
    key = max(at, key=lambda k: at[k])
    p = next(p for p in plans if p.query.key == key)
    data = ROOT / "target" / "bench" / "query-perf.data"
    data.parent.mkdir(parents=True, exist_ok=True)
    _, timeout = sizing(facts["latency"]["hearth"][key], conns, args)
    say(f"perf over Hearth during its slowest query, {key} @ {conns} ({args.profile:g} s)")
    rec = hotspots.perf_record(data, args.profile + 1)
    time.sleep(0.5)  # perf is up
    run_wrk(wrk_request(t, p, timeout), conns, args.profile)
    _, err = rec.communicate()
    if rec.returncode != 0:
        say(f"perf record failed: {err.decode(errors='replace')[-500:]}")
        return out
    pg = pid_from_file(t.server.data_dir / "pg" / "postmaster.pid")
    out["perf"] = hotspots.perf_report(
        data, t.server.proc.pid, sorted(process_tree(pg)) if pg else []
    )
    out["query"], out["connections"] = key, conns
    return out


# ---------------------------------------------------------------- main
def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help=f"a small data set: {QUICK}")
    ints = (
        ("--series", 1000, "regular series, a counter and a gauge per instance"),
        ("--interval", 60, "seconds between a series' samples"),
        ("--churn-series", 68_000, "series of the high-cardinality name"),
        ("--churn-points", 100, "samples per series of the high-cardinality name"),
        ("--senders", 8, "sharded remote-write senders"),
        ("--processes", 2, "processes the senders are spread over"),
        ("--workers", 1, "hearth serve --workers"),
        ("--rounds", 3, "rounds of every measurement (median, spread)"),
    )
    for flag, default, text in ints:
        p.add_argument(flag, type=int, default=default, help=f"{text} (default {default:,})")
    p.add_argument("--days", type=float, default=30.0, help="days of samples (default 30)")
    p.add_argument(
        "--targets",
        default=",".join(ORDER),
        help=f"comma-separated, of {', '.join(ORDER)} (default all)",
    )
    p.add_argument(
        "--ooo",
        default="",
        help="Prometheus' out_of_order_time_window, e.g. 31d (default none: not needed)",
    )
    p.add_argument(
        "--connections",
        type=lambda s: [int(x) for x in s.split(",") if x.strip()],
        default=[1, 16],
        help="comma-separated connection counts (default 1,16)",
    )
    p.add_argument("--duration", type=float, default=10.0, help="seconds per run, at least")
    p.add_argument("--max-duration", type=float, default=120.0, help="seconds per run, at most")
    p.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds before each run")
    p.add_argument("--max-load", type=float, default=1.2, help="wait for a lower load average")
    p.add_argument("--load-wait", type=float, default=60, help="… at most this many seconds")
    p.add_argument(
        "--profile", type=float, default=15.0, help="seconds of perf on Hearth (0: no profile)"
    )
    p.add_argument("--no-write", action="store_true", help="print only; keep RESULTS.md")
    args = p.parse_args()
    if args.quick:
        for k, v in QUICK.items():
            setattr(args, k, v)
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if unknown := set(args.targets) - set(ORDER):
        p.error(f"unknown targets: {', '.join(sorted(unknown))}")
    if min(args.series, args.interval, args.senders, args.processes, args.rounds) < 1:
        p.error("counts must be positive")
    if args.churn_series < 0 or args.churn_points < 1 or not args.connections:
        p.error("--churn-series ≥ 0, --churn-points ≥ 1, at least one connection count")
    return args


def main() -> int:
    args = parse_args()
    now_ms = int(time.time()) // 60 * 60_000
    try:
        spec = Spec(
            args.series, args.days, args.interval, args.churn_series, args.churn_points, now_ms
        )
    except ValueError as exc:
        raise BenchError(str(exc)) from None
    facts: dict[str, Any] = {"noise_before": noise()}
    say(
        f"data: {spec.samples:,} samples — {spec.series:,} series x {spec.per_series:,} "
        f"({spec.days:g} d every {spec.interval_s} s) + {spec.churn_series:,} x "
        f"{spec.churn_points} of the high-cardinality name"
    )
    t0 = time.perf_counter()
    data = encode(spec, args.senders)
    facts["encode_s"] = time.perf_counter() - t0
    facts["bytes"] = data.bytes
    facts["requests"] = data.requests
    say(f"  encoded in {facts['encode_s']:.1f} s: {data.requests:,} requests, {data.bytes:,} B")
    plans = [plan(q, spec) for q in QUERIES]
    targets: dict[str, Target] = {}
    problems: list[str] = []
    log_tail = ""
    t_run = time.monotonic()
    with ExitStack() as stack:
        for name in [n for n in ORDER if n in args.targets]:
            try:
                if name == "hearth":
                    ctx = start_hearth(spec, args.workers)
                elif name == "prometheus":
                    ctx = start_prometheus(spec, args.ooo)
                else:
                    ctx = start_victoria(spec)
                targets[name] = stack.enter_context(ctx)
            except BenchError as exc:
                targets[name] = Target(name, failed=f"did not start: {exc}")
                say(f"!!! {name} did not start: {exc}")
        for t in targets.values():
            if not t.alive:
                continue
            try:
                load(t, data, args.processes)
                settle(t)
                check_held(t, spec)
            except (BenchError, OSError) as exc:
                t.failed = f"load or count failed: {exc}"
                say(f"!!! {t.title}: {t.failed}")
        facts["load_s"] = time.monotonic() - t_run
        say("checking each query's answers (Hearth against Prometheus)")
        check(targets, plans, facts)
        t_q = time.monotonic()
        rounds = measure(targets, plans, args, facts)
        facts["measure_s"] = time.monotonic() - t_q
        hearth = targets.get("hearth")
        if hearth is not None and hearth.alive and args.profile > 0:
            facts["profile"] = profile(hearth, plans, rounds, args, facts)
        if hearth is not None and hearth.server is not None:
            log_tail = hearth.server.log_tail()
        facts["noise_end"] = noise()
    facts["total_s"] = time.monotonic() - t_run + facts["encode_s"]
    for t in targets.values():
        found = [f"{t.title}: {t.failed}"] if t.failed else []
        found += [f"{t.title}, query ({key}): {why}" for key, why in t.query_failed.items()]
        if t.key == "hearth":
            problems += found
        else:
            # A peer that failed to start, load or answer fails the figures that compare with
            # it (results.json: peer_failed, with the reason; the tables: FAILED), not the run.
            for text in found:
                say(f"!!! peer failed, its comparisons are failed figures: {text}")
    problems += facts.get("empty_runs", [])
    for (name, key, conns), rs in rounds.items():
        errs = sum(sum(r.errors.values()) for r in rs)
        if errs:
            problems.append(f"{targets[name].title}, query ({key}) @ {conns}: {errs} errors")
    results = report.Results(spec, args, targets, plans, rounds, facts)
    report.print_tables(results)
    if not args.no_write:
        report.write_all(results, problems)
    return finish(problems, log_tail)


if __name__ == "__main__":
    run_main(main)
