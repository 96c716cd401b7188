"""The flags and the 1,000 contexts the real-SDK tests evaluate: every strategy kind, constraint
operators on context fields and properties, a segment, a dependency, feature and strategy
variants with payloads of every type, weights and an override — as Unleash's client API
document that ``POST /v1/flags/import?format=unleash`` takes."""

from __future__ import annotations

import random
from typing import Any

import aiohttp

ENVIRONMENT = "production"
CONTEXTS = 1000


def _c(name: str, op: str, *values: str, **kw: Any) -> dict[str, Any]:
    if op in ("NUM_GTE", "NUM_LT", "DATE_AFTER", "DATE_BEFORE", "SEMVER_GT", "SEMVER_LT"):
        return {"contextName": name, "operator": op, "value": values[0], **kw}
    return {"contextName": name, "operator": op, "values": list(values), **kw}


def _rollout(pct: int, stickiness: str = "default", group: str = "g", **kw: Any) -> dict[str, Any]:
    params = {"rollout": str(pct), "stickiness": stickiness, "groupId": group}
    return {"name": "flexibleRollout", "parameters": params, **kw}


def _feature(name: str, strategies: list[Any], **kw: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": "release",
        "enabled": kw.pop("enabled", True),
        "stale": False,
        "impressionData": False,
        "strategies": strategies,
        "variants": kw.pop("variants", []),
        "dependencies": kw.pop("dependencies", []),
        **kw,
    }


FEATURES: list[dict[str, Any]] = [
    _feature("rollout-25", [_rollout(25)]),
    _feature("rollout-user-60", [_rollout(60, "userId", "checkout")]),
    _feature(
        "session-half",
        [{"name": "gradualRolloutSessionId", "parameters": {"percentage": "50", "groupId": "s"}}],
    ),
    _feature(
        "users",
        [{"name": "userWithId", "parameters": {"userIds": "user-1,user-7, user-42,user-500"}}],
    ),
    _feature(
        "office-network",
        [{"name": "remoteAddress", "parameters": {"IPs": "10.1.0.0/16, 192.168.1.7"}}],
    ),
    _feature(
        "eu-adults",
        [
            {
                "name": "default",
                "segments": [1],
                "constraints": [_c("age", "NUM_GTE", "18")],
            }
        ],
    ),
    _feature(
        "modern-clients",
        [
            {
                "name": "default",
                "constraints": [
                    _c("version", "SEMVER_GT", "2.1.0"),
                    _c("appName", "IN", "web", "ios"),
                ],
            }
        ],
    ),
    _feature(
        "staff-or-after-launch",
        [
            {
                "name": "default",
                "constraints": [_c("email", "STR_ENDS_WITH", "@hearth.test", caseInsensitive=True)],
            },
            {
                "name": "default",
                "constraints": [_c("currentTime", "DATE_AFTER", "2025-06-01T00:00:00Z")],
            },
        ],
    ),
    _feature(
        "not-free",
        [{"name": "default", "constraints": [_c("plan", "IN", "free", inverted=True)]}],
    ),
    _feature(
        "regex-tester",
        [
            {
                "name": "default",
                "constraints": [
                    {
                        "contextName": "email",
                        "operator": "REGEX",
                        "value": "^tester[0-9]+@",
                        "caseInsensitive": True,
                    }
                ],
            }
        ],
    ),
    _feature("off", [{"name": "default"}], enabled=False),
    _feature("child-of-rollout", [{"name": "default"}], dependencies=[{"feature": "rollout-25"}]),
    # Feature variants: payloads of each type, weights, a fixed weight, an override.
    _feature(
        "theme",
        [_rollout(80, "userId", "theme")],
        variants=[
            {
                "name": "dark",
                "weight": 500,
                "weightType": "variable",
                "stickiness": "userId",
                "payload": {"type": "json", "value": '{"bg": "#000", "contrast": 7}'},
                "overrides": [{"contextName": "userId", "values": ["user-3"]}],
            },
            {
                "name": "light",
                "weight": 300,
                "weightType": "variable",
                "stickiness": "userId",
                "payload": {"type": "string", "value": "#fff"},
            },
            {
                "name": "sepia",
                "weight": 200,
                "weightType": "fix",
                "stickiness": "userId",
                "payload": {"type": "csv", "value": "a,b,c"},
            },
        ],
    ),
    _feature(
        "limits",
        [{"name": "default", "constraints": [_c("plan", "IN", "pro", "team")]}],
        variants=[
            {
                "name": "small",
                "weight": 1,
                "stickiness": "default",
                "payload": {"type": "number", "value": "10"},
            },
            {
                "name": "large",
                "weight": 3,
                "stickiness": "default",
                "payload": {"type": "number", "value": "1000"},
            },
        ],
    ),
    # Strategy variants (the matching strategy's own), one without a payload.
    _feature(
        "banner",
        [
            {
                **_rollout(50, "sessionId", "banner"),
                "segments": [1],
                "variants": [
                    {
                        "name": "eu-banner",
                        "weight": 1000,
                        "weightType": "variable",
                        "stickiness": "default",
                        "payload": {"type": "string", "value": "Hej"},
                    },
                ],
            },
            {
                **_rollout(90, "default", "banner"),
                "variants": [
                    {
                        "name": "plain",
                        "weight": 700,
                        "weightType": "variable",
                        "stickiness": "userId",
                    },
                    {
                        "name": "fancy",
                        "weight": 300,
                        "weightType": "variable",
                        "stickiness": "userId",
                        "payload": {"type": "json", "value": '["a", 1, true]'},
                    },
                ],
            },
        ],
    ),
]
SEGMENTS = [
    {"id": 1, "name": "eu", "constraints": [_c("region", "IN", "eu-west", "eu-north")]},
]
DOCUMENT = {"version": 2, "features": FEATURES, "segments": SEGMENTS}


def contexts(n: int = CONTEXTS, seed: int = 19) -> list[dict[str, Any]]:
    """Unleash contexts: ids, addresses, apps, times and properties drawn at random (seeded);
    the SDKs' own defaults (appName, environment, currentTime) always given explicitly so
    that local and server-side evaluation see the same context."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        props = {
            "region": rnd.choice(["eu-west", "eu-north", "us-east", "ap-south"]),
            "age": str(rnd.randint(10, 70)),
            "version": f"{rnd.randint(1, 3)}.{rnd.randint(0, 4)}.{rnd.randint(0, 9)}",
            "email": rnd.choice(
                [f"user{i}@example.test", f"Tester{i}@corp.test", f"staff{i}@HEARTH.test"]
            ),
            "plan": rnd.choice(["free", "pro", "team"]),
        }
        ctx: dict[str, Any] = {
            "userId": f"user-{i}",
            "appName": rnd.choice(["web", "ios", "android"]),
            "environment": ENVIRONMENT,
            "remoteAddress": rnd.choice(
                [f"10.1.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}", "192.168.1.7", "203.0.113.9"]
            ),
            "currentTime": f"2025-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}T12:00:00Z",
            "properties": props,
        }
        if rnd.random() < 0.9:
            ctx["sessionId"] = f"s-{rnd.getrandbits(32):08x}"
        out.append(ctx)
    return out


async def import_flags(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str], env: str
) -> None:
    async with http.post(
        f"{url}/v1/flags/import?format=unleash&environment={env}&mode=replace",
        headers=headers,
        json=DOCUMENT,
    ) as resp:
        assert resp.status == 200, await resp.text()


async def server_side(
    http: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    env: str,
    ctxs: list[dict[str, Any]],
) -> list[dict[str, dict[str, Any]]]:
    """Each context's evaluation by ``POST /v1/flags/evaluate`` (the reference), by flag."""
    out = []
    for ctx in ctxs:
        async with http.post(
            f"{url}/v1/flags/evaluate?environment={env}", headers=headers, json={"context": ctx}
        ) as resp:
            assert resp.status == 200, await resp.text()
            out.append({f["key"]: f for f in (await resp.json())["flags"]})
    return out
