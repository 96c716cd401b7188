"""Flags and config keys for the benches that need them (flags, mixed), created through the
API: 50 flags of every kind and 200 config keys in ``prod``."""

from __future__ import annotations

import random
from typing import Any

from bench.harness.client import post_json
from bench.harness.log import BenchError, say
from bench.harness.server import Server

ENV = "prod"
N_FLAGS = 50
TOGGLE_FLAG = "ops.maintenance-banner"

AREAS = (
    "checkout search billing onboarding profile notifications reports mobile api admin"
).split()
FEATURES = (
    "new-flow redesign fast-path beta-ui dark-mode v2-engine smart-defaults bulk-actions "
    "inline-help async-export"
).split()
TEAMS = ("payments", "growth", "platform", "mobile", "data", "core")
SERVICES = (
    "checkout payments search inventory shipping notifications auth profile reporting ingest "
    "billing catalog pricing reviews recommendations gateway scheduler exporter mailer webhooks"
).split()
ASPECTS = "http db cache retry limits features queue timeouts logging alerts".split()


# ---------------------------------------------------------------- data
def flag_specs(seed: int = 7) -> list[dict[str, Any]]:
    """50 flags, a fifth of each kind; about a third also carry environment overrides."""
    rng = random.Random(seed)
    names = [f"{a}.{f}" for a in AREAS for f in FEATURES]
    rng.shuffle(names)
    specs: list[dict[str, Any]] = []
    for i, name in enumerate([TOGGLE_FLAG, *names[: N_FLAGS - 1]]):
        spec: dict[str, Any] = {
            "name": name,
            "description": f"{name.replace('.', ': ', 1).replace('-', ' ')} (bench)",
            "metadata": {"owner": rng.choice(TEAMS), "ticket": f"HRTH-{rng.randrange(100, 999)}"},
        }
        kind = i % 5
        if kind == 0:  # plain on/off
            spec["enabled"] = i == 0 or rng.random() < 0.7
        elif kind == 1:  # gradual rollout
            spec |= {"enabled": True, "rollout_pct": rng.randrange(10, 91, 5)}
        elif kind == 2:  # variants (A/B or A/B/C), sometimes behind a rollout
            arms = [{"name": "control", "weight": 500}, {"name": "treatment", "weight": 500}]
            if rng.random() < 0.5:
                arms = [
                    {"name": "control", "weight": 340, "value": {"layout": "classic"}},
                    {"name": "compact", "weight": 330, "value": {"layout": "compact", "cols": 2}},
                    {"name": "wide", "weight": 330, "value": {"layout": "wide", "cols": 4}},
                ]
            spec |= {"enabled": True, "rollout_pct": rng.choice([100, 50, 30]), "variants": arms}
        elif kind == 3:  # targeting: listed users, or every rule matching the attributes
            rules = [{"attribute": "plan", "op": "in", "values": ["gold", "platinum"]}]
            if rng.random() < 0.5:
                rules.append({"attribute": "country", "op": "not_in", "values": ["KP", "IR"]})
            spec |= {
                "enabled": True,
                "rollout_pct": rng.randrange(0, 30, 5),
                "targeting": {
                    "user_ids": [f"user-{rng.randrange(1, 100_000)}" for _ in range(5)],
                    "rules": rules,
                },
            }
        else:  # off globally, staged per environment
            spec |= {
                "enabled": False,
                "rollout_pct": 100,
                "environments": {
                    "dev": {"enabled": True},
                    "staging": {"enabled": True, "rollout_pct": 100},
                    "prod": {"enabled": True, "rollout_pct": rng.randrange(5, 60, 5)},
                },
            }
        if kind != 4 and i and rng.random() < 0.3:
            spec["environments"] = {"prod": {"rollout_pct": rng.randrange(10, 100, 10)}}
        specs.append(spec)
    return specs


def config_docs(seed: int = 11) -> list[dict[str, Any]]:
    """200 keys ``<service>.<aspect>`` in ``prod``, each a small nested JSON object."""
    rng = random.Random(seed)
    docs = []
    for svc in SERVICES:
        for aspect in ASPECTS:
            value = {
                "enabled": rng.random() < 0.9,
                "timeout_ms": rng.choice([250, 500, 1000, 2500, 5000]),
                "retries": rng.randrange(0, 6),
                "endpoints": [
                    f"https://{svc}-{n}.internal:8443" for n in range(rng.randrange(1, 4))
                ],
                "limits": {"rps": rng.randrange(50, 5000, 50), "burst": rng.randrange(10, 500)},
                "owner": rng.choice(TEAMS),
                "tags": rng.sample(["eu", "us", "critical", "batch", "edge", "canary"], 2),
            }
            docs.append({"environment": ENV, "key": f"{svc}.{aspect}", "value": value})
    return docs


def seed_data(server: Server, token: str) -> tuple[list[dict[str, Any]], list[str]]:
    specs, docs = flag_specs(), config_docs()
    say(f"creating {len(specs)} flags and {len(docs)} config keys in {ENV!r} through the API")
    for spec in specs:
        status, body = post_json(f"{server.base}/v1/flags", token, spec)
        if status != 201:
            raise BenchError(f"POST /v1/flags {spec['name']}: {status} {body[:500]!r}")
    for doc in docs:
        status, body = post_json(f"{server.base}/v1/config", token, doc)
        if status != 201:
            raise BenchError(f"POST /v1/config {doc['key']}: {status} {body[:500]!r}")
    return specs, [d["key"] for d in docs]
