"""Flags and config keys for the benches that need them (flags, mixed).

Flags: 100 features in Unleash's client-API shape (``{"version": 2, "features": [...],
"segments": [...]}``, what ``GET /api/client/features`` serves), a realistic mix — plain
``default`` switches, ``flexibleRollout`` 10-90 % sticky on userId, ``userWithId`` lists,
strategies with constraints (IN/NOT_IN, STR_*, NUM_*, SEMVER_*, DATE_*; some inverted or
case-insensitive), four segments, strategy variants and feature variants with payloads
(string, json, number, csv) and an override; about a tenth off in the environment. The same
document goes into Unleash (``load_unleash``: its admin API) and into Hearth
(``import_hearth``: ``POST /v1/flags/import?format=unleash``). Config: 200 keys in ``ENV``.
"""

from __future__ import annotations

import json
import random
import urllib.parse
from typing import TYPE_CHECKING, Any

from bench.harness.client import post_json
from bench.harness.log import BenchError, say
from bench.harness.server import Server

if TYPE_CHECKING:
    from bench.harness.unleash import Unleash

# One of the environments Unleash has from the start (development, production).
ENV = "production"
N_FLAGS = 100
TOGGLE_FLAG = "ops.maintenance-banner"
PROJECT = "default"

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
TYPES = ("release", "experiment", "operational", "kill-switch", "permission")


# ---------------------------------------------------------------- flags
def _c(
    context: str,
    operator: str,
    *,
    values: list[str] | None = None,
    value: str | None = None,
    inverted: bool = False,
    case_insensitive: bool = False,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "contextName": context,
        "operator": operator,
        "values": values or [],
        "inverted": inverted,
        "caseInsensitive": case_insensitive,
    }
    if value is not None:
        out["value"] = value
    return out


def _strategy(
    name: str,
    parameters: dict[str, str] | None = None,
    constraints: list[dict[str, Any]] | None = None,
    segments: list[int] | None = None,
    variants: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "parameters": parameters or {},
        "constraints": constraints or [],
        "segments": segments or [],
        "variants": variants or [],
    }


def _rollout(flag: str, pct: int, stickiness: str = "userId") -> dict[str, str]:
    return {"rollout": str(pct), "stickiness": stickiness, "groupId": flag}


def segments() -> list[dict[str, Any]]:
    """Four segments; ids 1-4 (Unleash numbers a fresh database's segments so)."""
    return [
        {
            "id": 1,
            "name": "beta-testers",
            "constraints": [_c("userId", "IN", values=[f"user-{n}" for n in range(1, 31)])],
        },
        {
            "id": 2,
            "name": "paying-plans",
            "constraints": [_c("plan", "IN", values=["gold", "platinum"])],
        },
        {
            "id": 3,
            "name": "eu-countries",
            "constraints": [_c("country", "IN", values=["DE", "FR", "NL", "SE", "ES", "IT"])],
        },
        {
            "id": 4,
            "name": "modern-clients",
            "constraints": [_c("appVersion", "SEMVER_LT", value="2.0.0", inverted=True)],
        },
    ]


def _payload(rng: random.Random, arm: str, i: int) -> dict[str, str]:
    kind = ("json", "string", "number", "csv")[i % 4]
    if kind == "json":
        value = json.dumps({"layout": arm, "cols": rng.randrange(1, 5)}, separators=(",", ":"))
    elif kind == "number":
        value = str(rng.choice([5, 10, 25, 50]))
    elif kind == "csv":
        value = ",".join(rng.sample(["eu", "us", "apac", "latam", "mea"], 3))
    else:
        value = f"{arm}-copy"
    return {"type": kind, "value": value}


def _feature_variants(rng: random.Random, i: int) -> list[dict[str, Any]]:
    arms = ["control", "treatment"] if rng.random() < 0.5 else ["control", "compact", "wide"]
    out = []
    for n, arm in enumerate(arms):
        v: dict[str, Any] = {
            "name": arm,
            "weight": 1000 // len(arms) + (1000 % len(arms) if n == 0 else 0),
            "weightType": "variable",
            "stickiness": "userId" if i % 3 else "default",
            "payload": _payload(rng, arm, i + n),
            "overrides": [],
        }
        out.append(v)
    if i % 4 == 1:  # someone always sees the last arm
        out[-1]["overrides"] = [{"contextName": "userId", "values": ["user-1", "user-2"]}]
    return out


def _strategy_variants(rng: random.Random, flag: str) -> list[dict[str, Any]]:
    arms = ["blue", "green"]
    return [
        {
            "name": arm,
            "weight": 500,
            "weightType": "variable",
            "stickiness": "userId",
            "payload": {"type": "string", "value": f"{flag}:{arm}"},
        }
        for arm in arms
    ]


def _strategies(rng: random.Random, name: str, i: int) -> list[dict[str, Any]]:
    kind = i % 10
    if kind == 0:  # a plain switch
        return [_strategy("default")]
    if kind in (1, 2):  # gradual rollout; every third with strategy variants
        variants = _strategy_variants(rng, name) if i % 3 == 0 else None
        pct = rng.randrange(10, 91, 5)
        return [_strategy("flexibleRollout", _rollout(name, pct), variants=variants)]
    if kind == 3:  # a user list, then a small rollout for everyone else
        ids = [f"user-{rng.randrange(1, 100_000)}" for _ in range(rng.randrange(5, 20))]
        if i % 20 == 3:
            ids.insert(0, "user-1")
        return [
            _strategy("userWithId", {"userIds": ",".join(ids)}),
            _strategy("flexibleRollout", _rollout(name, rng.choice([5, 10, 20]))),
        ]
    if kind == 4:  # attribute targeting
        constraints = [_c("plan", "IN", values=["gold", "platinum"])]
        if rng.random() < 0.5:
            constraints.append(_c("country", "NOT_IN", values=["KP", "IR", "SY"]))
        return [_strategy("flexibleRollout", _rollout(name, 100, "default"), constraints)]
    if kind == 5:  # string operators on the user id
        op, values = rng.choice(
            [
                ("STR_STARTS_WITH", ["user-1", "user-2"]),
                ("STR_ENDS_WITH", ["7", "3"]),
                ("STR_CONTAINS", ["-4", "99"]),
            ]
        )
        c = _c("userId", op, values=values, inverted=i % 3 == 0, case_insensitive=i % 2 == 0)
        if op == "STR_STARTS_WITH":
            c["values"] = [v.upper() for v in values] if c["caseInsensitive"] else values
        return [_strategy("default", constraints=[c])]
    if kind == 6:  # numbers and versions (absent from the context unless inverted)
        return [
            _strategy(
                "flexibleRollout",
                _rollout(name, rng.randrange(30, 91, 10)),
                [
                    _c("orders", "NUM_GTE", value="3", inverted=i % 4 == 2),
                    _c(
                        "appVersion",
                        rng.choice(["SEMVER_GT", "SEMVER_LT"]),
                        value="1.4.0",
                        inverted=True,
                    ),
                ],
            ),
            _strategy("default", constraints=[_c("orders", "NUM_LT", value="100.5")]),
        ]
    if kind == 7:  # a time window on currentTime
        op, when = rng.choice(
            [
                ("DATE_AFTER", "2024-01-01T00:00:00.000Z"),
                ("DATE_BEFORE", "2031-06-30T00:00:00.000Z"),
            ]
        )
        return [
            _strategy(
                "flexibleRollout",
                _rollout(name, rng.randrange(30, 71, 5)),
                [_c("currentTime", op, value=when)],
            )
        ]
    if kind == 8:  # segments
        seg_ids = sorted(rng.sample([1, 2, 3, 4], rng.choice([1, 2])))
        return [
            _strategy(
                "flexibleRollout", _rollout(name, rng.randrange(40, 101, 10)), segments=seg_ids
            )
        ]
    # kind 9: an experiment, its arms in the feature's variants
    return [_strategy("flexibleRollout", _rollout(name, 100))]


def unleash_state(seed: int = 19) -> dict[str, Any]:
    """The 100 flags and 4 segments, as ``GET /api/client/features`` serves them."""
    rng = random.Random(seed)
    names = [f"{a}.{f}" for a in AREAS for f in FEATURES]
    rng.shuffle(names)
    features = []
    for i, name in enumerate([TOGGLE_FLAG, *names[: N_FLAGS - 1]]):
        kind = i % 10
        features.append(
            {
                "name": name,
                "description": f"{name.replace('.', ': ', 1).replace('-', ' ')} (bench)",
                "type": "experiment" if kind == 9 else TYPES[i % len(TYPES)],
                "project": PROJECT,
                "enabled": i == 0 or rng.random() >= 0.1,
                "stale": False,
                "impressionData": i % 7 == 0,
                "strategies": _strategies(rng, name, i),
                "variants": _feature_variants(rng, i) if kind == 9 else [],
                "dependencies": [],
            }
        )
    return {"version": 2, "features": features, "segments": segments()}


# ---------------------------------------------------------------- loading
def load_unleash(peer: Unleash, state: dict[str, Any]) -> None:
    """The document into Unleash through its admin API, as a user of its UI would create it:
    segments, features, strategies (with segments and strategy variants), feature variants,
    then each feature switched on in ``peer.environment`` where it is on."""
    env = peer.environment
    _strategy_types(peer, state)
    ids: dict[int, int] = {}
    for seg in state["segments"]:
        made = peer.ok(
            "POST",
            "/api/admin/segments",
            {"name": seg["name"], "description": "bench", "constraints": seg["constraints"]},
        )
        ids[seg["id"]] = int(made["id"])
    base = f"/api/admin/projects/{PROJECT}/features"
    for f in state["features"]:
        name = urllib.parse.quote(f["name"], safe="")
        peer.ok(
            "POST",
            base,
            {
                "name": f["name"],
                "description": f["description"],
                "type": f["type"],
                "impressionData": f["impressionData"],
            },
        )
        for st in f["strategies"]:
            body = {**st, "segments": [ids[s] for s in st["segments"]]}
            peer.ok("POST", f"{base}/{name}/environments/{env}/strategies", body)
        if f["variants"]:
            peer.ok("PUT", f"{base}/{name}/environments/{env}/variants", f["variants"])
        if f["enabled"]:
            peer.ok("POST", f"{base}/{name}/environments/{env}/on")


def _strategy_types(peer: Unleash, state: dict[str, Any]) -> None:
    """Unleash 6+ no longer ships ``userWithId`` (and the other legacy strategies) as a
    strategy type, though its SDKs — the one behind its own frontend API included — still
    evaluate them: a strategy type of that name, with the parameters the data uses, is
    defined through its admin API, as an older installation still has it."""
    known = {s["name"] for s in peer.ok("GET", "/api/admin/strategies")["strategies"]}
    params: dict[str, set[str]] = {}
    for f in state["features"]:
        for st in f["strategies"]:
            if st["name"] not in known:
                params.setdefault(st["name"], set()).update(st["parameters"])
    for name, names in sorted(params.items()):
        say(f"defining strategy type {name!r} in Unleash")
        peer.ok(
            "POST",
            "/api/admin/strategies",
            {
                "name": name,
                "description": "legacy built-in strategy (bench)",
                "parameters": [
                    {"name": p, "type": "list", "description": "", "required": False}
                    for p in sorted(names)
                ],
            },
        )


def served_state(peer: Unleash) -> dict[str, Any]:
    """What Unleash's client API serves for its environment, with segments by reference (the
    client-specification version of SDKs that understand them; older ones get them inlined)."""
    status, body = peer.call(
        "GET",
        "/api/client/features",
        token=peer.client_token,
        headers={"Unleash-Client-Spec": "5.2.0"},
    )
    if status != 200 or not isinstance(body, dict):
        raise BenchError(f"Unleash /api/client/features: {status} {str(body)[:300]}")
    return body


def import_hearth(server: Server, token: str, state: dict[str, Any]) -> dict[str, Any]:
    """The document into Hearth: ``POST /v1/flags/import?format=unleash&mode=replace``."""
    url = f"{server.base}/v1/flags/import?format=unleash&environment={ENV}&mode=replace"
    status, body = post_json(url, token, state)
    if status not in (200, 201):
        raise BenchError(f"POST /v1/flags/import: {status} {body[:500]!r}")
    return dict(json.loads(body))


# ---------------------------------------------------------------- config
def config_docs(seed: int = 11) -> list[dict[str, Any]]:
    """200 keys ``<service>.<aspect>`` in ``ENV``, each a small nested JSON object."""
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


def seed_data(server: Server, token: str) -> tuple[dict[str, Any], list[str]]:
    """Hearth alone (bench/mixed): the flags imported into ``ENV``, and the config keys."""
    state = unleash_state()
    say(f"importing {len(state['features'])} flags into {ENV!r}")
    import_hearth(server, token, state)
    return state, seed_config(server, token)


def seed_config(server: Server, token: str) -> list[str]:
    docs = config_docs()
    say(f"creating {len(docs)} config keys in {ENV!r} through the API")
    for doc in docs:
        status, body = post_json(f"{server.base}/v1/config", token, doc)
        if status != 201:
            raise BenchError(f"POST /v1/config {doc['key']}: {status} {body[:500]!r}")
    return [d["key"] for d in docs]
