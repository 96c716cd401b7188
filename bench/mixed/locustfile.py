"""Locust scenario of ``bench/mixed/run.py``: the three kinds of callers Hearth serves at once.

- ``TelemetryEmitter`` (weight 1): ``POST /v1/metrics/bulk``, a JSON array of 100-1000 points
  of 8 metrics x 50 hosts x 5 regions per request (bodies pre-serialised at start, timestamps
  within the last 10 minutes).
- ``RestService`` (weight 6): what a backend does per request it serves — flag evaluation for
  a random user (4), a config read of a random key (3), token introspection (2), a user by id (1).
- ``Dashboard`` (weight 1): ``GET /v1/metrics/query`` of a random metric over the last hour, by
  region (3), and the first page of ``GET /v1/users`` (1).
- ``HelloUser``: ``GET /`` of ``bench/harness/hello.py`` — the load generator's own ceiling.

REST services are closed loop (no think time: they are the high-rate callers, and the
scenario measures the throughput they get); emitters flush about once a second (0.5-1.5 s
between bulks) and dashboards refresh every 1-3 s, so their load stays realistic. ``run.py`` passes
the bearer token and the seeded ids in ``BENCH_*`` environment variables; run by hand:

    BENCH_TOKEN=... BENCH_USER_IDS=id,id BENCH_CONFIG_KEYS=k,k \\
    .venv/bin/locust -f bench/mixed/locustfile.py --headless -u 64 -r 64 -t 30s \\
        --host http://127.0.0.1:8080 TelemetryEmitter RestService Dashboard
"""

from __future__ import annotations

import json
import os
import random
import time

from locust import FastHttpUser, between, constant, task
from scenario import METRICS, NAMESPACE, points  # beside this file (locust puts it on sys.path)

TOKEN = os.environ.get("BENCH_TOKEN", "")
USER_IDS = [u for u in os.environ.get("BENCH_USER_IDS", "").split(",") if u]
CONFIG_KEYS = [k for k in os.environ.get("BENCH_CONFIG_KEYS", "").split(",") if k]
ENV = os.environ.get("BENCH_ENV", "prod")
BEARER = {"Authorization": f"Bearer {TOKEN}"}
JSON_BEARER = {**BEARER, "Content-Type": "application/json"}
FORM_BEARER = {**BEARER, "Content-Type": "application/x-www-form-urlencoded"}


def _bodies(n: int, seed: int) -> list[bytes]:
    """``n`` bulk bodies of 100-1000 points each, as an agent would send them."""
    rng = random.Random(seed)
    now = time.time()
    return [
        json.dumps(points(rng, rng.randint(100, 1000), now, 600), separators=(",", ":")).encode()
        for _ in range(n)
    ]


BODIES = _bodies(48, seed=os.getpid())
INTROSPECT_BODY = f"token={TOKEN}"


def eval_body() -> str:
    user = f"user-{random.randrange(1, 100_000)}"
    ctx = {"targetingKey": user, "environment": ENV, "plan": random.choice(("gold", "free"))}
    return json.dumps({"context": ctx})


class TelemetryEmitter(FastHttpUser):
    weight = 1
    wait_time = between(0.5, 1.5)  # an agent flushing its buffer about once a second

    @task
    def bulk(self) -> None:
        self.client.post(
            "/v1/metrics/bulk",
            data=random.choice(BODIES),
            headers=JSON_BEARER,
            name="POST /v1/metrics/bulk",
        )


class RestService(FastHttpUser):
    weight = 6
    wait_time = constant(0)

    @task(4)
    def evaluate(self) -> None:
        self.client.post(
            f"/v1/flags/evaluate?environment={ENV}",
            data=eval_body(),
            headers=JSON_BEARER,
            name="POST /v1/flags/evaluate",
        )

    @task(3)
    def config_read(self) -> None:
        key = random.choice(CONFIG_KEYS)
        self.client.get(
            f"/v1/config/{key}?environment={ENV}",
            headers=BEARER,
            name="GET /v1/config/{key}",
        )

    @task(2)
    def introspect(self) -> None:
        self.client.post(
            "/oauth/introspect",
            data=INTROSPECT_BODY,
            headers=FORM_BEARER,
            name="POST /oauth/introspect",
        )

    @task(1)
    def user_get(self) -> None:
        self.client.get(
            f"/v1/users/{random.choice(USER_IDS)}",
            headers=BEARER,
            name="GET /v1/users/{id}",
        )


class Dashboard(FastHttpUser):
    weight = 1
    wait_time = between(1, 3)  # a panel refreshing every few seconds

    @task(3)
    def query(self) -> None:
        name = random.choice(METRICS)
        self.client.get(
            f"/v1/metrics/query?namespace={NAMESPACE}&name={name}&agg=avg&group_by=region",
            headers=BEARER,
            name="GET /v1/metrics/query",
        )

    @task(1)
    def users_list(self) -> None:
        self.client.get("/v1/users?limit=50", headers=BEARER, name="GET /v1/users")


class HelloUser(FastHttpUser):
    """Not part of the scenario: the same load generator against the hello-world."""

    weight = 1
    wait_time = constant(0)

    @task
    def hello(self) -> None:
        self.client.get("/", name="GET / (hello-world)")
