"""The points of the mixed scenario, shared by ``locustfile.py`` (the telemetry emitters) and
``run.py`` (the seed the dashboards query), without importing locust (which patches sockets)."""

from __future__ import annotations

import random
from typing import Any

NAMESPACE = "mixed"
METRICS = (
    "http_requests_total",
    "http_request_duration_seconds",
    "cpu_seconds",
    "memory_bytes",
    "queue_depth",
    "open_connections",
    "jobs_processed_total",
    "cache_hit_ratio",
)
REGIONS = ("eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-south-1")
HOSTS = [f"node-{n:02d}" for n in range(50)]


def points(rng: random.Random, n: int, now: float, within: float) -> list[dict[str, Any]]:
    """``n`` points of 8 metrics x 50 hosts x 5 regions, in the last ``within`` seconds."""
    return [
        {
            "namespace": NAMESPACE,
            "name": rng.choice(METRICS),
            "labels": {"host": rng.choice(HOSTS), "region": rng.choice(REGIONS)},
            "value": round(rng.lognormvariate(3, 1.5), 3),
            "timestamp": int((now - rng.uniform(0, within)) * 1000),
        }
        for _ in range(n)
    ]
