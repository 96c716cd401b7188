"""Scrape-shaped samples (bench/peers, bench/store): ``series`` series on hosts of 100 series
each (16 metric names, 8 counters and 8 gauges), one sample per series per request, requests
15 s apart in sample time, sharded so that each sender owns a contiguous shard of whole hosts
(as a scraper owns its targets) and every series gets its samples in time order.

``make_data`` encodes every request before any timing (Hearth's JSON and remote write 1.0, the
same values and timestamps); ``looped_json`` makes bodies for a load of unbounded length (a
cycle of pre-encoded scrapes whose timestamp is filled in per request).
"""

from __future__ import annotations

import itertools
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from bench.harness import line_protocol as lines
from bench.harness import otlp_bodies
from bench.harness.metric_names import COUNTERS, GAUGES
from bench.harness.remote_write import ShardEncoder
from bench.harness.sharded import Request

NAMESPACE = "bench"
SCRAPE_MS = 15_000
SERIES_PER_HOST = 100
NAMES = COUNTERS + GAUGES
REGIONS = ("eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-south-1")


def series_labels(i: int) -> tuple[str, dict[str, str]]:
    """Series ``i``: host ``i // 100``, each host exposing the same 100 series."""
    host, j = divmod(i, SERIES_PER_HOST)
    return NAMES[j % len(NAMES)], {
        "job": "node",
        "instance": f"host-{host:05d}:9100",
        "region": REGIONS[host % len(REGIONS)],
        "cpu": str(j // len(NAMES)),
    }


def shard_bounds(n: int, senders: int) -> list[tuple[int, int]]:
    """Contiguous shards of whole hosts where possible (a scraper owns its targets)."""
    hosts = math.ceil(n / SERIES_PER_HOST)
    if hosts >= senders:
        cut = [min(n, round(hosts * s / senders) * SERIES_PER_HOST) for s in range(senders + 1)]
    else:
        cut = [round(n * s / senders) for s in range(senders + 1)]
    return list(itertools.pairwise(cut))


class Values:
    """The next scrape's values of a shard: counters grow by 0-49, gauges are log-normal with
    0, 3 or 9 decimals."""

    def __init__(self, names: list[str], rng: random.Random) -> None:
        self.rng = rng
        self.counter = [name in COUNTERS for name in names]
        self.value = [float(rng.randrange(1_000_000)) if c else 0.0 for c in self.counter]

    def next(self) -> list[float]:
        rng = self.rng
        for s, c in enumerate(self.counter):
            if c:
                self.value[s] += rng.randrange(0, 50)
            else:
                self.value[s] = round(rng.lognormvariate(3, 1.5), rng.choice((0, 3, 9)))
        return self.value


@dataclass
class Dataset:
    series: int
    scrapes: int
    senders: int
    t0_ms: int  # first scrape's timestamp
    json: list[list[Request]]  # per sender: its requests in time order
    remote_write: list[list[Request]]
    # The same samples as OTLP protobuf and line protocol bodies, when make_data is asked to.
    otlp: list[list[Request]] = field(default_factory=list)
    influx: list[list[Request]] = field(default_factory=list)
    json_bytes: int = 0
    rw_bytes: int = 0

    def bytes_of(self, kind: str) -> int:
        return sum(len(b) for shard in getattr(self, kind) for b, _ in shard)

    @property
    def samples(self) -> int:
        return self.series * self.scrapes

    @property
    def last_ms(self) -> int:
        return self.t0_ms + (self.scrapes - 1) * SCRAPE_MS

    @property
    def requests(self) -> int:
        return self.scrapes * self.senders


def make_data(
    n: int, min_samples: int, senders: int, seed: int = 1, protocols: bool = False
) -> Dataset:
    """At least ``min_samples`` samples of ``n`` series, the last scrape 10 minutes ago; with
    ``protocols`` also as OTLP and line protocol bodies."""
    rng = random.Random(seed)
    scrapes = math.ceil(min_samples / n)
    end_ms = (int(time.time()) // 15 * 15 - 600) * 1000
    t0_ms = end_ms - (scrapes - 1) * SCRAPE_MS
    data = Dataset(n, scrapes, senders, t0_ms, [], [])
    for lo, hi in shard_bounds(n, senders):
        labels = [series_labels(i) for i in range(lo, hi)]
        values = Values([name for name, _ in labels], rng)
        templates = [{"namespace": NAMESPACE, "name": name, "labels": lb} for name, lb in labels]
        encoder = ShardEncoder([[("__name__", name), *sorted(lb.items())] for name, lb in labels])
        others = (
            [
                (data.otlp, otlp_bodies.ShardEncoder(labels)),
                (data.influx, lines.ShardEncoder(labels)),
            ]
            if protocols
            else []
        )
        js: list[Request] = []
        rw: list[Request] = []
        more: list[list[Request]] = [[] for _ in others]
        for k in range(scrapes):
            t = t0_ms + k * SCRAPE_MS
            value = values.next()
            body = orjson.dumps(
                [{**tp, "value": v, "timestamp": t} for tp, v in zip(templates, value, strict=True)]
            )
            js.append((body, hi - lo))
            rw.append((encoder.encode(value, t), hi - lo))
            for out, (_, enc) in zip(more, others, strict=True):
                out.append((enc.encode(value, t), hi - lo))
        data.json.append(js)
        data.remote_write.append(rw)
        for out, (shards, _) in zip(more, others, strict=True):
            shards.append(out)
    data.json_bytes = sum(len(b) for shard in data.json for b, _ in shard)
    data.rw_bytes = sum(len(b) for shard in data.remote_write for b, _ in shard)
    return data


# A 13-digit epoch-ms timestamp (2001 … 2286) stands in for the scrape's time in a template.
_STAMP = b"1111111111111"


@dataclass
class Looped:
    """Hearth JSON bodies for a load of any length: ``cycle`` pre-encoded scrapes per shard,
    request ``k`` of a shard being scrape ``k % cycle`` stamped ``t0_ms + k * SCRAPE_MS``.
    Counters restart every cycle (a reset, as after a process restart)."""

    series: int
    cycle: int
    t0_ms: int
    shards: list[list[tuple[list[bytes], int]]]  # per shard, per scrape: (parts, samples)

    def request(self, shard: int, k: int) -> Request:
        parts, samples = self.shards[shard][k % self.cycle]
        return (b"%d" % (self.t0_ms + k * SCRAPE_MS)).join(parts), samples

    def maker(self, shard: int) -> Callable[[int], Request]:
        return lambda k: self.request(shard, k)


def looped_json(n: int, senders: int, cycle: int, t0_ms: int, seed: int = 1) -> Looped:
    rng = random.Random(seed)
    shards = []
    for lo, hi in shard_bounds(n, senders):
        labels = [series_labels(i) for i in range(lo, hi)]
        values = Values([name for name, _ in labels], rng)
        templates = [{"namespace": NAMESPACE, "name": name, "labels": lb} for name, lb in labels]
        stamp = int(_STAMP)
        scrapes = []
        for _ in range(cycle):
            value = values.next()
            body = orjson.dumps(
                [
                    {**tp, "value": v, "timestamp": stamp}
                    for tp, v in zip(templates, value, strict=True)
                ]
            )
            parts = body.split(_STAMP)
            assert len(parts) == hi - lo + 1, "a value or label holds the timestamp stand-in"
            scrapes.append((parts, hi - lo))
        shards.append(scrapes)
    return Looped(n, cycle, t0_ms, shards)
