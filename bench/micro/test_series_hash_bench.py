"""Series hash: native (Rust) vs the pure-Python reference, 10 000 realistic series."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from hearth_core import _native
from tests.native import reference

N = 10_000

_NAMES = [
    "http_requests_total",
    "http_request_duration_seconds",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "db_pool_connections_in_use",
    "queue_depth",
    "cache_hits_total",
    "cache_misses_total",
    "jobs_completed_total",
    "gc_pause_seconds",
]
_LABEL_VALUES = {
    "method": ["GET", "POST", "PUT", "DELETE", "PATCH"],
    "code": ["200", "201", "204", "301", "400", "401", "403", "404", "429", "500", "503"],
    "path": [f"/api/v1/{r}" for r in ("users", "roles", "flags", "config", "metrics", "rooms")],
    "instance": [f"10.0.{i // 256}.{i % 256}:8080" for i in range(64)],
    "job": ["api", "ingest", "worker", "scheduler"],
    "region": ["eu-west-1", "us-east-1", "ap-south-1"],
    "env": ["prod", "staging", "dev"],
    "pod": [f"hearth-{i:05x}" for i in range(500)],
}


def make_series(n: int = N, seed: int = 7) -> list[tuple[str, str, dict[str, str]]]:
    rnd = random.Random(seed)
    keys = list(_LABEL_VALUES)
    out = []
    for _ in range(n):
        labels = {k: rnd.choice(_LABEL_VALUES[k]) for k in rnd.sample(keys, rnd.randint(3, 6))}
        out.append(("app", rnd.choice(_NAMES), labels))
    return out


SERIES = make_series()


def test_same_answers() -> None:
    assert _native.series_hashes(SERIES) == [reference.series_hash(*s) for s in SERIES]


def _python_batch() -> list[int]:
    return [reference.series_hash(*s) for s in SERIES]


def _native_batch() -> list[int]:
    return _native.series_hashes(SERIES)


def _native_single() -> list[int]:
    h = _native.series_hash
    return [h(ns, name, labels) for ns, name, labels in SERIES]


@pytest.mark.benchmark(group="series_hash 10k: batch call")
def test_batch_python(benchmark: Any, record_impl: Callable[[Any, str], None]) -> None:
    record_impl(benchmark, "python")
    benchmark.pedantic(_python_batch, rounds=5, iterations=1, warmup_rounds=1)


@pytest.mark.benchmark(group="series_hash 10k: batch call")
def test_batch_native(benchmark: Any, record_impl: Callable[[Any, str], None]) -> None:
    record_impl(benchmark, "native series_hashes")
    benchmark(_native_batch)


@pytest.mark.benchmark(group="series_hash 10k: one call per series")
def test_single_python(benchmark: Any, record_impl: Callable[[Any, str], None]) -> None:
    record_impl(benchmark, "python")
    benchmark.pedantic(_python_batch, rounds=5, iterations=1, warmup_rounds=1)


@pytest.mark.benchmark(group="series_hash 10k: one call per series")
def test_single_native(benchmark: Any, record_impl: Callable[[Any, str], None]) -> None:
    record_impl(benchmark, "native series_hash")
    benchmark(_native_single)
