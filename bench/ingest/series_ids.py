"""Microbenchmark: the per-request cost of giving a decoded batch its series ids.

Old path (a dict per request): ``batch.series()`` builds a tuple per distinct series, a Python
loop looks each up, ``encode_block(dict)`` converts the dict back (all GIL held) then encodes.
New path (``SeriesMap``): ``missing_series`` looks up without the GIL and builds tuples only
for unknown series; ``encode_block_mapped`` looks up and encodes without the GIL.

    PYTHONPATH=. python bench/ingest/series_ids.py
"""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson

from hearth_core._native import DecodedBatch, SeriesMap, decode_points

SAMPLES = 10_000


def batch(per_series: int) -> DecodedBatch:
    now_us = time.time_ns() // 1000
    points = [
        {
            "namespace": "app",
            "name": "cpu",
            "labels": {"host": f"h{i // per_series}", "dc": "eu"},
            "value": i * 0.5,
            "timestamp": (now_us - i * 1000) / 1e6,
        }
        for i in range(SAMPLES)
    ]
    return decode_points(
        orjson.dumps(points),
        "json",
        now_us=now_us,
        min_time_us=now_us - 86_400_000_000,
        max_time_us=now_us + 3_600_000_000,
    )


def ms(f: Callable[[], object], reps: int = 50) -> str:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    times.sort()
    return f"min {times[0] * 1e3:6.3f}  median {times[len(times) // 2] * 1e3:6.3f} ms"


def report(per_series: int) -> None:
    b = batch(per_series)
    ids = {h: i + 1 for i, (h, *_) in enumerate(b.series())}
    known = SeriesMap(500_000)
    known.insert_many(ids.items())
    assert b.missing_series(known) == [] and b.encode_block_mapped(known) == b.encode_block(ids)
    empty = SeriesMap(500_000)
    items = list(ids.items())
    print(f"{SAMPLES} samples of {len(ids)} series, all known:")
    print(f"  old series() + dict loop      {ms(lambda: {s[0]: ids[s[0]] for s in b.series()})}")
    print(f"  old encode_block(dict)        {ms(lambda: b.encode_block(ids))}")
    print(f"  new missing_series(map)       {ms(lambda: b.missing_series(known))}")
    print(f"  new encode_block_mapped(map)  {ms(lambda: b.encode_block_mapped(known))}")
    print(f"  new missing_series, all new   {ms(lambda: b.missing_series(empty))}")
    print(f"  new insert_many, all new      {ms(lambda: SeriesMap(500_000).insert_many(items))}")


if __name__ == "__main__":
    for per_series in (1, 10):
        report(per_series)
