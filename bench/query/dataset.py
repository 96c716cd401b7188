"""bench/query's samples: generated from the series and sample indices alone (so every run and
every target gets the same ones), encoded as remote write 1.0 requests for sharded senders.

- ``--series`` regular series, two per instance ``host-NNN:9100`` (job ``api``, ``dc`` one of
  ``dc1``…``dc4`` by instance): the counter ``http_requests_total`` (increments of 0-999 per
  sample, reset to 0 every 5-11 days at a phase of its own, as after a restart) and the gauge
  ``process_resident_memory_bytes`` (integer bytes: a level per instance, a daily wave, noise);
  one sample every ``--interval`` s over ``--days`` days, each instance scraped at an offset of
  its own within the interval;
- ``--churn-series`` series of one high-cardinality name, ``container_memory_working_set_bytes``
  (job ``kubelet``, a ``pod`` label of its own, one of 100 nodes as ``instance``, ``dc``), each
  living ``--churn-points`` samples, their starts spread evenly over the days (pods coming and
  going): they make the label index large, and no query reads them.

Values are integers (counters exactly so, gauges rounded), so sums do not depend on the order in
which a system adds them. The newest regular sample of every series lies in the last interval
before ``t_end_ms`` (a whole minute).

Each of ``senders`` shards owns a contiguous range of instances (both of their series) and of
churn series; its request ``j`` holds every sample of them in block ``j`` of sample time
(several samples per series, as Prometheus' own remote write batches them: about
``REQUEST_SAMPLES`` a request, at most ``BLOCK_MAX_S`` of time), so its requests are in time
order and request ``j`` of every shard covers the same time.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import cramjam
import numpy as np

from bench.harness.log import say
from bench.harness.remote_write import encode_columns, encode_labels
from bench.harness.sharded import Request

COUNTER = "http_requests_total"
GAUGE = "process_resident_memory_bytes"
CHURN = "container_memory_working_set_bytes"
NAMES = (COUNTER, GAUGE, CHURN)
DCS = 4
CHURN_NODES = 100
REQUEST_SAMPLES = 5000
# Prometheus takes a sample only up to an hour (half its head chunk range) behind the newest it
# holds: a request's block of sample time stays well inside that.
BLOCK_MAX_S = 1800
DAY_MS = 86_400_000

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
# Salts, one per use of the hash, so that the uses do not correlate.
_INC, _RESET, _START, _LEVEL, _NOISE, _CHURN_V = range(1, 7)


def mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on uint64 (numpy wraps on overflow): a well-spread hash."""
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def hashed(salt: int, a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """A hash of (salt, a, b) for a, b < 2**28, broadcast over arrays."""
    key = (
        (np.uint64(salt) << np.uint64(56))
        | (np.asarray(a, dtype=np.uint64) << np.uint64(28))
        | np.asarray(b, dtype=np.uint64)
    )
    with np.errstate(over="ignore"):
        return mix(key)


def dc_of(host: int) -> str:
    return f"dc{host % DCS + 1}"


def instance(host: int) -> str:
    return f"host-{host:03d}:9100"


@dataclass(frozen=True)
class Spec:
    series: int  # regular series: a counter and a gauge per instance
    days: float
    interval_s: int
    churn_series: int
    churn_points: int
    t_end_ms: int  # a whole minute; every regular series' newest sample is just before it

    def __post_init__(self) -> None:
        if self.series < 2 or self.series % 2:
            raise ValueError("--series must be even (a counter and a gauge per instance)")
        if self.per_series < max(self.churn_points, 2):
            raise ValueError("--days too short for the interval and --churn-points")

    @property
    def instances(self) -> int:
        return self.series // 2

    @property
    def interval_ms(self) -> int:
        return self.interval_s * 1000

    @property
    def per_series(self) -> int:
        return int(self.days * DAY_MS) // self.interval_ms

    @property
    def t0_ms(self) -> int:
        return self.t_end_ms - self.per_series * self.interval_ms

    @property
    def regular_samples(self) -> int:
        return self.series * self.per_series

    @property
    def churn_samples(self) -> int:
        return self.churn_series * self.churn_points

    @property
    def samples(self) -> int:
        return self.regular_samples + self.churn_samples

    def per_name(self) -> dict[str, int]:
        half = self.instances * self.per_series
        return {COUNTER: half, GAUGE: half, CHURN: self.churn_samples}

    def offset_ms(self, host: int) -> int:
        """When in each interval instance ``host`` is scraped (distinct per instance)."""
        return host * 7919 % self.interval_ms

    def instances_list(self) -> list[str]:
        return [instance(h) for h in range(self.instances)]

    # ------------------------------------------------------------ labels
    def regular_labels(self, s: int) -> list[tuple[str, str]]:
        """Series ``s``: instance s // 2, the counter when s is even, else the gauge."""
        h = s // 2
        name = COUNTER if s % 2 == 0 else GAUGE
        return [("__name__", name), ("dc", dc_of(h)), ("instance", instance(h)), ("job", "api")]

    def churn_labels(self, p: int) -> list[tuple[str, str]]:
        node = p % CHURN_NODES
        return [
            ("__name__", CHURN),
            ("dc", dc_of(node)),
            ("instance", f"node-{node:02d}"),
            ("job", "kubelet"),
            ("pod", f"web-{p:06d}"),
        ]

    # ------------------------------------------------------------ samples
    def regular_times(self, s: int, lo: int, hi: int) -> np.ndarray:
        k = np.arange(lo, hi, dtype=np.int64)
        return self.t0_ms + k * self.interval_ms + self.offset_ms(s // 2)

    def regular_values(self, s: int) -> np.ndarray:
        """Every sample of regular series ``s``, in time order."""
        n, h = self.per_series, s // 2
        k = np.arange(n, dtype=np.uint64)
        if s % 2 == 0:
            inc = (hashed(_INC, s, k) % np.uint64(1000)).astype(np.float64)
            period = (5 + s % 7) * DAY_MS // self.interval_ms
            phase = int(hashed(_RESET, s, 0) % np.uint64(period))
            seg = (np.arange(n) + phase) // period
            start = np.maximum.accumulate(
                np.where(np.r_[True, seg[1:] != seg[:-1]], np.arange(n), 0)
            )
            total = np.cumsum(inc)
            first = float(hashed(_START, s, 0) % np.uint64(1_000_000))
            return np.asarray(total - total[start] + inc[start] + np.where(seg == seg[0], first, 0))
        t = self.regular_times(s, 0, n)
        level = 2e8 + float(hashed(_LEVEL, h, 0) % np.uint64(50)) * 1e7
        wave = 3e7 * np.sin(2 * np.pi * (t % DAY_MS) / DAY_MS + h)
        noise = (hashed(_NOISE, s, k) % np.uint64(1_000_000)).astype(np.float64)
        return np.asarray(np.round(level + wave + noise))

    def churn_start(self, p: int) -> int:
        """Index (in intervals) of churn series ``p``'s first sample."""
        return p * (self.per_series - self.churn_points) // self.churn_series

    def churn_times(self, ps: np.ndarray, lo: int, hi: int) -> np.ndarray:
        """Samples ``lo`` … ``hi - 1`` of the lifetime of each churn series in ``ps``."""
        starts = np.array([self.churn_start(int(p)) for p in ps], dtype=np.int64)
        j = np.arange(lo, hi, dtype=np.int64)
        offsets = (ps.astype(np.int64) * 997) % self.interval_ms
        return self.t0_ms + (starts[:, None] + j[None, :]) * self.interval_ms + offsets[:, None]

    def churn_values(self, ps: np.ndarray, lo: int, hi: int) -> np.ndarray:
        j = np.arange(lo, hi, dtype=np.uint64)
        noise = hashed(_CHURN_V, ps[:, None], j[None, :]) % np.uint64(100_000_000)
        return 5e7 + noise.astype(np.float64)


# ---------------------------------------------------------------- requests
def block_len(spec: Spec, senders: int) -> int:
    """Samples per regular series in a request: about REQUEST_SAMPLES a request, and a block
    of at most BLOCK_MAX_S of sample time (see ``encode``)."""
    per_shard = 2 * math.ceil(spec.instances / senders)
    return max(1, min(REQUEST_SAMPLES // per_shard, BLOCK_MAX_S // spec.interval_s))


def shard_requests(
    spec: Spec, block: int, lo_host: int, hi_host: int, lo_p: int, hi_p: int
) -> list[Request]:
    """One sender's requests: request ``j`` holds every sample of its instances' series and
    of its churn series in block ``j`` (sample indices ``j * block`` … ``(j + 1) * block - 1``
    of the regular series, the same span of time)."""
    series = list(range(2 * lo_host, 2 * hi_host))
    labels = [encode_labels(spec.regular_labels(s)) for s in series]
    values = [spec.regular_values(s) for s in series]
    pods = np.arange(lo_p, hi_p, dtype=np.uint64)
    starts = np.array([spec.churn_start(int(p)) for p in pods], dtype=np.int64)
    n = spec.per_series
    out = []
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        ts = np.stack([spec.regular_times(s, lo, hi) for s in series])
        vs = np.stack([v[lo:hi] for v in values])
        parts = [encode_columns(labels, ts, vs, compress=False)]
        samples = ts.size
        # the pods alive in the block, grouped by the part of their lifetime inside it
        alive = np.nonzero((starts < hi) & (starts + spec.churn_points > lo))[0]
        groups: dict[tuple[int, int], list[int]] = {}
        for i in alive:
            a = max(0, lo - int(starts[i]))
            b = min(spec.churn_points, hi - int(starts[i]))
            groups.setdefault((a, b), []).append(int(i))
        for (a, b), members in groups.items():
            ps = pods[members]
            cts = spec.churn_times(ps, a, b)
            lbs = [encode_labels(spec.churn_labels(int(p))) for p in ps]
            parts.append(encode_columns(lbs, cts, spec.churn_values(ps, a, b), compress=False))
            samples += cts.size
        # repeated fields of a message may be split over concatenated encodings
        out.append((bytes(cramjam.snappy.compress_raw(b"".join(parts))), samples))
    return out


@dataclass
class Encoded:
    spec: Spec
    shards: list[list[Request]]  # per sender: request j of each holds block j

    @property
    def requests(self) -> int:
        return sum(len(s) for s in self.shards)

    @property
    def samples(self) -> int:
        return sum(n for shard in self.shards for _b, n in shard)

    @property
    def bytes(self) -> int:
        return sum(len(b) for shard in self.shards for b, _n in shard)


def encode(spec: Spec, senders: int) -> Encoded:
    """Every request of every sender, encoded (snappy-compressed remote write 1.0). Request
    ``j`` of every sender covers the same block of sample time, at most BLOCK_MAX_S long: sent
    in lockstep (bench.harness.sharded), no sample reaches a target more than that behind the
    newest it holds."""
    if spec.instances < senders:
        raise ValueError(f"--series must be at least 2 x --senders ({2 * senders})")
    block = block_len(spec, senders)
    hosts = bounds(spec.instances, senders)
    pods = bounds(spec.churn_series, senders)
    shards = []
    for i, ((lh, hh), (lp, hp)) in enumerate(zip(hosts, pods, strict=True)):
        shards.append(shard_requests(spec, block, lh, hh, lp, hp))
        done = sum(n for sh in shards for _b, n in sh)
        say(f"  encoded shard {i + 1} of {senders}: {done:,} of {spec.samples:,} samples")
    out = Encoded(spec, shards)
    if out.samples != spec.samples:
        raise AssertionError(f"encoded {out.samples:,} samples, the spec has {spec.samples:,}")
    return out


def bounds(n: int, parts: int) -> list[tuple[int, int]]:
    cut = [n * i // parts for i in range(parts + 1)]
    return list(itertools.pairwise(cut))


def span_s(spec: Spec) -> int:
    """A range that holds every sample from t_end (count_over_time over it counts them all)."""
    return math.ceil((spec.t_end_ms - spec.t0_ms) / 1000) + 3600
