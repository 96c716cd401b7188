"""The samples the PromQL differential test writes to both Prometheus and Hearth.

Three hours of data from a base time ``t0`` (seconds, aligned to the hour), generated
deterministically (a seeded RNG, so every run and both servers see the same floats):
counters with resets and a gap, gauges (negative values, a gap past the lookback, one
sampled exactly on minute boundaries so windows ending on the hour hold samples at both
ends), a classic histogram (``le`` buckets, ``_sum``, ``_count``, a reset), an info metric
for ``group_left``, a gauge of Unix times for the date functions, series that end with a
staleness marker (one resuming later), one that just stops, real NaN and ±Inf values, and
label sets where some series lack a label the others carry (``method``, ``zone``).

Every series starts at or after ``t0`` and each one's samples ascend: Prometheus 2.42's
head takes one remote write request in any series order as long as no sample is more than
an hour older than the request's first, which is ``t0`` (``series`` puts that one first).
"""

from __future__ import annotations

import math
import random
import struct
from collections.abc import Iterator

# Prometheus's staleness marker (model/value.StaleNaN): a NaN with this exact bit pattern.
STALE_NAN_BITS = 0x7FF0000000000002
STALE = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]
SPAN_S = 3 * 3600  # the data covers [t0, t0 + 3 h]
M = 60  # seconds in a minute, for readable offsets
H = 60 * M

Labels = tuple[tuple[str, str], ...]
Samples = list[tuple[float, int]]  # (value, time in ms) as prompb takes them


def _labels(name: str, **labels: str) -> Labels:
    return (("__name__", name), *sorted(labels.items()))


def _times(
    rng: random.Random, start_s: float, end_s: float, every_s: float, jitter_ms: int
) -> Iterator[int]:
    """Times in ms from start to end every ``every_s``, each moved by up to ``jitter_ms``
    (never before ``start_s``: the first sample of the request must be the oldest)."""
    t = start_s
    while t <= end_s:
        ms = round(t * 1000) + (rng.randint(0, jitter_ms) if jitter_ms else 0)
        yield ms
        t += every_s


def _counter(
    rng: random.Random,
    times: Iterator[int],
    step: tuple[float, float],
    resets_ms: tuple[int, ...] = (),
    integer: bool = False,
) -> Samples:
    """A counter growing by a random amount in ``step`` per sample, back to a small value
    at the first sample at or after each time in ``resets_ms``."""
    out: Samples = []
    value = rng.uniform(100, 1000)
    pending = sorted(resets_ms)
    for ms in times:
        if pending and ms >= pending[0]:
            pending.pop(0)
            value = rng.uniform(0, step[1])
        else:
            value += rng.randint(int(step[0]), int(step[1])) if integer else rng.uniform(*step)
        out.append((value, ms))
    return out


def series(t0: int) -> list[tuple[Labels, Samples]]:
    """Every series of the dataset with its samples, the one holding the oldest sample
    (exactly ``t0``) first."""
    rng = random.Random(18)
    end = t0 + SPAN_S
    out: list[tuple[Labels, Samples]] = []

    def ms(s: float) -> int:
        return round(s * 1000)

    # Gauges sampled exactly on minute boundaries (no jitter): windows ending on the hour
    # hold a sample at both ends, and the first one is t0 itself.
    zones = {"a": "eu", "b": "us"}
    for i, inst in enumerate(("c", "a", "b")):
        extra = {"zone": zones[inst]} if inst in zones else {}
        out.append(
            (
                _labels("node_memory_total_bytes", instance=inst, **extra),
                [(float((8 + 8 * i) * 2**30), ms(t)) for t in range(t0, end + 1, M)],
            )
        )
        free = [
            (float(round((4 + 3 * i) * 2**30 * (0.5 + 0.4 * math.sin((t - t0) / 2000 + i)))), ms(t))
            for t in range(t0, end + 1, M)
        ]
        out.append((_labels("node_memory_free_bytes", instance=inst, **extra), free))
    versions = {"a": ("1.2.3", "linux"), "b": ("1.3.0", "linux"), "c": ("2.0.0-rc1", "bsd")}
    for inst, (version, os_) in versions.items():
        out.append(
            (
                _labels("node_info", instance=inst, version=version, os=os_),
                [(1.0, ms(t)) for t in range(t0, end + 1, M)],
            )
        )
        boot = 1_700_000_000 + {"a": 0, "b": 5_000_000, "c": 28_000_000}[inst]
        out.append(
            (
                _labels("node_boot_time_seconds", instance=inst),
                [(float(boot), ms(t)) for t in range(t0, end + 1, 5 * M)],
            )
        )

    # Temperatures: a on 15 s with jitter; b (negative, 20 s) with a 25-minute gap, longer
    # than the lookback; c (no zone label) on whole minutes with integer-ish values.
    def wave(t_ms: int, mean: float, amp: float, period_s: float) -> float:
        return mean + amp * math.sin(2 * math.pi * (t_ms / 1000 - t0) / period_s)

    temp_a = [
        (round(wave(t, 20, 5, 3600) + rng.uniform(-0.5, 0.5), 3), t)
        for t in _times(rng, t0 + 1, end, 15, 900)
    ]
    out.append((_labels("node_temperature_celsius", instance="a", zone="eu"), temp_a))
    temp_b = [
        (wave(t, -3, 4, 5400) + rng.uniform(-0.2, 0.2), t)
        for t in _times(rng, t0 + 2, end, 20, 500)
        if not ms(t0 + 60 * M) < t < ms(t0 + 85 * M)
    ]
    out.append((_labels("node_temperature_celsius", instance="b", zone="us"), temp_b))
    # (Values depend on the time since t0 only, so every run sees the same ones.)
    temp_c = [(float(18 + (t - t0) // M % 7), ms(t)) for t in range(t0, end + 1, M)]
    out.append((_labels("node_temperature_celsius", instance="c"), temp_c))

    # Counters: resets, a series without `method`, one starting late and ending with a
    # staleness marker, one with a 30-minute gap.
    def add(name: str, samples: Samples, **labels: str) -> None:
        out.append((_labels(name, **labels), samples))

    add(
        "http_requests_total",
        _counter(rng, _times(rng, t0, end, 15, 800), (5, 15), (ms(t0 + 70 * M),)),
        job="api",
        instance="a",
        method="get",
        code="200",
    )
    add(
        "http_requests_total",
        _counter(rng, _times(rng, t0 + 3, end, 15, 800), (0, 3), integer=True),
        job="api",
        instance="a",
        method="post",
        code="200",
    )
    add(
        "http_requests_total",
        _counter(
            rng,
            _times(rng, t0 + 5, end, 15, 800),
            (0, 1),
            (ms(t0 + 40 * M), ms(t0 + 41 * M), ms(t0 + 130 * M)),
            integer=True,
        ),
        job="api",
        instance="b",
        method="get",
        code="500",
    )
    web = _counter(rng, _times(rng, t0 + 20 * M, t0 + 150 * M, 30, 2000), (10, 30))
    web.append((STALE, web[-1][1] + 30_000))
    add("http_requests_total", web, job="web", instance="c", code="200")
    add(
        "http_requests_total",
        [
            s
            for s in _counter(rng, _times(rng, t0 + 7, end, 15, 800), (1, 4))
            if not ms(t0 + 80 * M) < s[1] < ms(t0 + 110 * M)
        ],
        job="api",
        instance="b",
        method="post",
        code="200",
    )

    # A classic histogram per instance: cumulative buckets, _sum, _count; b resets at 100m.
    bounds = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, math.inf)
    les = ("0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf")
    for inst, start, reset in (("a", t0 + 4, None), ("b", t0 + 6, ms(t0 + 100 * M))):
        buckets = [0.0] * len(bounds)
        total = 0.0
        rows: dict[str, Samples] = {key: [] for key in (*les, "sum", "count")}
        for t in _times(rng, start, end, 15, 600):
            if reset is not None and t >= reset:
                reset = None
                buckets = [0.0] * len(bounds)
                total = 0.0
            for _ in range(rng.randint(0, 12)):
                obs = rng.expovariate(1 / (0.3 if inst == "a" else 0.8))
                total += obs
                for j, b in enumerate(bounds):
                    if obs <= b:
                        buckets[j] += 1
            for le, count in zip(les, buckets, strict=True):
                rows[le].append((count, t))
            rows["sum"].append((total, t))
            rows["count"].append((buckets[-1], t))
        for le in les:
            add("http_request_duration_seconds_bucket", rows[le], job="api", instance=inst, le=le)
        add("http_request_duration_seconds_sum", rows["sum"], job="api", instance=inst)
        add("http_request_duration_seconds_count", rows["count"], job="api", instance=inst)

    # Staleness: x runs 0-60m, a staleness marker, again 90-120m, a marker; y stops at 150m
    # without one (it fades after the 5-minute lookback).
    x: Samples = [(1.0, t) for t in _times(rng, t0 + 9, t0 + 60 * M, 15, 300)]
    x.append((STALE, x[-1][1] + 15_000))
    x += [(float(rng.randint(0, 1)), t) for t in _times(rng, t0 + 90 * M, t0 + 120 * M, 15, 300)]
    x.append((STALE, x[-1][1] + 15_000))
    add("job_up", x, job="batch", instance="x")
    add(
        "job_up",
        [(1.0, t) for t in _times(rng, t0 + 11, t0 + 150 * M, 15, 300)],
        job="batch",
        instance="y",
    )

    # Special values: a real NaN (not the staleness marker), +Inf, -Inf, zero, a negative.
    for kind, value in (
        ("nan", math.nan),
        ("pos_inf", math.inf),
        ("neg_inf", -math.inf),
        ("zero", 0.0),
        ("neg", -1.5),
    ):
        add("special_value", [(value, ms(t)) for t in range(t0 + 13, end + 1, M)], kind=kind)

    # An irregular gauge: intervals from 1 s to 4 min, millisecond times.
    irregular: Samples = []
    t_ms = ms(t0 + 17)
    while t_ms <= ms(end):
        irregular.append((round(rng.gauss(50, 15), 2), t_ms))
        t_ms += rng.randint(1_000, 240_000)
    add("queue_depth", irregular, queue="jobs")

    # Hour boundaries, where hour-aligned queries read hourly edges: a staleness marker exactly
    # on the hour, samples exactly on the hours, a marker just before an hour.
    on_stale: Samples = [(float(i), ms(t0 + 30 + i * M)) for i in range(118)]
    on_stale.append((STALE, ms(t0 + 2 * H)))
    on_stale += [(float(i), ms(t0 + 2 * H + (i + 1) * M)) for i in range(50)]
    add("edge_probe", on_stale, case="stale_on_hour")
    add(
        "edge_probe",
        [(float(i), ms(t0 + i * 20 * M)) for i in range(1, 10)],
        case="value_on_hour",
    )
    before: Samples = [(2.0, ms(t0 + 40 * M + i * M)) for i in range(19)]
    before.append((STALE, ms(t0 + H - M)))
    before += [(3.0, ms(t0 + H + 10 * M + i * M)) for i in range(100)]
    add("edge_probe", before, case="stale_before_hour")

    first = min(range(len(out)), key=lambda i: out[i][1][0][1])
    out.insert(0, out.pop(first))
    assert out[0][1][0][1] == ms(t0)
    return out
