"""0021: flags of the old model (one switch, a rollout percentage, a user list, string rules,
per-environment overrides) become Unleash strategies with nobody's answer changed — checked
against the old evaluator's rules, kept here as the oracle, on thousands of contexts."""

from __future__ import annotations

import itertools

import orjson

from hearth_core._native import FlagSet, rollout_bucket, variant_bucket
from hearth_core.db import migrations
from hearth_core.db.pool import connect
from hearth_core.flags import repo
from hearth_core.flags.unleash import client_state
from tests.core.test_migrations import _drop, _empty_db

OLD_FLAGS = [
    {"name": "off", "enabled": False, "rollout_pct": 100},
    {"name": "on", "enabled": True, "rollout_pct": 100},
    {"name": "zero", "enabled": True, "rollout_pct": 0},
    {"name": "half", "enabled": True, "rollout_pct": 50},
    {
        "name": "vip",
        "enabled": True,
        "rollout_pct": 10,
        "targeting": {
            "user_ids": ["u1", "u7"],
            "rules": [
                {"attribute": "plan", "op": "in", "values": ["gold"]},
                {"attribute": "country", "op": "not_in", "values": ["NO"]},
            ],
        },
    },
    {
        "name": "rules",
        "enabled": True,
        "rollout_pct": 0,
        "targeting": {
            "rules": [
                {"attribute": "email", "op": "ends_with", "values": ["@corp.example"]},
                {"attribute": "team", "op": "contains", "values": ["pay"]},
                {"attribute": "plan", "op": "starts_with", "values": ["g", "p"]},
                {"attribute": "tier", "op": "equals", "values": ["1"]},
            ]
        },
    },
    {
        "name": "colour",
        "enabled": True,
        "rollout_pct": 100,
        "variants": [
            {"name": "red", "weight": 1, "value": "#f00"},
            {"name": "blue", "weight": 3},
            {"name": "big", "weight": 2, "value": {"size": 3}},
            {"name": "num", "weight": 1, "value": 7},
        ],
    },
    {
        "name": "staged",
        "enabled": False,
        "rollout_pct": 100,
        "environments": {"prod": {"enabled": True, "rollout_pct": 30}, "dev": {"enabled": True}},
    },
]


def _old_rule(rule, attributes):
    raw = attributes.get(rule["attribute"])
    if raw is None:
        return rule["op"] == "not_in"
    value = str(raw)
    op, values = rule["op"], rule["values"]
    if op in ("in", "equals"):
        return value in values
    if op == "not_in":
        return value not in values
    if op == "starts_with":
        return any(value.startswith(v) for v in values)
    if op == "ends_with":
        return any(value.endswith(v) for v in values)
    return any(v in value for v in values)


def _old_evaluate(flag, user, env, attributes):
    """The evaluator before 0021 (hearth_core/flags/evaluate.py at 9cc021e): (on, variant)."""
    override = (flag.get("environments") or {}).get(env) or {}
    enabled = override.get("enabled", flag["enabled"])
    pct = override.get("rollout_pct", flag["rollout_pct"])
    if not enabled:
        return False, None
    t = flag.get("targeting") or {}
    on = (user is not None and user in t.get("user_ids", [])) or (
        bool(t.get("rules")) and all(_old_rule(r, attributes) for r in t["rules"])
    )
    if not on:
        if pct >= 100:
            on = True
        elif user is None or pct <= 0:
            on = False
        else:
            on = rollout_bucket(flag["name"], user) <= pct
    if not on:
        return False, None
    variants = flag.get("variants") or []
    if not variants:
        return True, None
    point = variant_bucket(flag["name"], user or "", sum(v["weight"] for v in variants))
    for v in variants:
        point -= v["weight"]
        if point <= 0:
            return True, (v["name"], v["name"] if v.get("value") is None else v["value"])
    raise AssertionError


async def test_old_flags_answer_the_same_after_the_migration(stack):
    base, name = await _empty_db(stack)
    try:
        conn = await connect(f"{base}/{name}")
        await migrations.apply_all(conn, until=20)
        await conn.execute(
            "INSERT INTO config_entries (environment, key, value, version, updated_by)"
            " VALUES ('staging', 'k', '1', 1, 'x')"
        )
        for f in OLD_FLAGS:
            await conn.execute(
                "INSERT INTO flags (name, enabled, rollout_pct, variants, targeting,"
                " environments, updated_by) VALUES ($1, $2, $3, $4, $5, $6, 'x')",
                f["name"],
                f["enabled"],
                f["rollout_pct"],
                f.get("variants", []),
                f.get("targeting", {}),
                f.get("environments", {}),
            )
            await conn.execute(
                "INSERT INTO flag_revisions (flag_name, action, after, actor)"
                " VALUES ($1, 'create', $2, 'x')",
                f["name"],
                {
                    **f,
                    "description": "",
                    "metadata": {},
                    "version": 1,
                    "archived": False,
                    "created_at": "2026-01-01T00:00:00Z",
                    "updated_at": "2026-01-01T00:00:00Z",
                    "updated_by": "x",
                    "targeting": f.get("targeting", {}),
                    "variants": f.get("variants", []),
                    "environments": f.get("environments", {}),
                },
            )
        await migrations.apply_all(conn)
        flags = await repo.live(conn)
        assert {f.name for f in flags} == {f["name"] for f in OLD_FLAGS}
        # The revision log still reads as flags (the change stream replays it).
        import msgspec

        from hearth_core.flags.model import Flag

        for r in await conn.fetch("SELECT after FROM flag_revisions"):
            msgspec.convert(r["after"], Flag)
        compared = 0
        for env in ("default", "prod", "dev", "staging"):
            assert all(env in f.environments for f in flags)
            fs = FlagSet(orjson.dumps(client_state(flags, [], env)))
            for i, (plan, country, email) in enumerate(
                itertools.product(
                    (None, "gold", "pro", "basic"),
                    (None, "NO", "SE"),
                    (None, "a@corp.example", "b@else.example"),
                )
            ):
                for u in (None, *(f"u{n}" for n in range(i * 40, i * 40 + 40))):
                    attrs = {
                        k: v
                        for k, v in (
                            ("plan", plan),
                            ("country", country),
                            ("email", email),
                            ("team", "payments" if i % 2 else "web"),
                            ("tier", str(i % 3)),
                        )
                        if v is not None
                    }
                    ctx = {**attrs, **({"userId": u} if u is not None else {})}
                    got = {
                        e["key"]: e
                        for e in orjson.loads(fs.evaluate(orjson.dumps({"context": ctx})))["flags"]
                    }
                    for old in OLD_FLAGS:
                        on, variant = _old_evaluate(
                            old, u, None if env == "default" else env, attrs
                        )
                        new = got[old["name"]]
                        assert new["enabled"] is on, (env, old["name"], ctx)
                        if variant is not None and u is not None:
                            # Anonymous callers were put in one bucket before; Unleash picks
                            # a random one (stickiness userId without a userId).
                            assert (new["variant"], new["value"]) == variant, (env, ctx)
                        compared += 1
        assert compared > 30_000
        await conn.close()
    finally:
        await _drop(base, name)
