"""Flags become Unleash's activation model (issue 19): per environment ``enabled`` + ordered
strategies + variants; segments, Unleash-style API tokens and the SDK instances that registered.

Every existing flag is rewritten so that nobody's answer changes, in every environment the
database knows (the flag's own overrides, the configuration store's environments, ``default``
for what the old global state answered):

- ``targeting.user_ids`` → ``userWithId``; ``targeting.rules`` → a ``default`` strategy with the
  rules as constraints (in/equals → IN, not_in → NOT_IN, starts_with/ends_with/contains →
  STR_*; the old evaluator read attributes from the context's top level, the new one finds
  unknown top-level keys among the properties, so the names stay);
- ``rollout_pct`` 100 → ``default``; 1-99 → ``flexibleRollout`` with stickiness ``userId`` and
  groupId the flag's name (the old bucket was murmur3 of ``name:userId``, the same); 0 →
  ``flexibleRollout`` at 0 (an enabled flag with no strategy would be on for everyone);
- variants keep name and weight (the evaluator divides by their sum, as before), stickiness
  ``userId``; a value becomes a payload (string → string, number → number, else json).

Revisions' before/after are rewritten the same way, so the change stream's replay still reads
them as flags.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson

_OPS = {
    "in": "IN",
    "equals": "IN",
    "not_in": "NOT_IN",
    "starts_with": "STR_STARTS_WITH",
    "ends_with": "STR_ENDS_WITH",
    "contains": "STR_CONTAINS",
}


def _payload(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return {"type": "string", "value": value}
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"type": "number", "value": orjson.dumps(value).decode()}
    return {"type": "json", "value": orjson.dumps(value).decode()}


def _strategies(name: str, pct: int, targeting: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if user_ids := targeting.get("user_ids"):
        out.append({"name": "userWithId", "parameters": {"userIds": ",".join(user_ids)}})
    if rules := targeting.get("rules"):
        constraints = [
            {"contextName": r["attribute"], "operator": _OPS[r["op"]], "values": r["values"]}
            for r in rules
        ]
        out.append({"name": "default", "constraints": constraints})
    if pct >= 100:
        out.append({"name": "default"})
    else:
        params = {"rollout": str(pct), "stickiness": "userId", "groupId": name}
        out.append({"name": "flexibleRollout", "parameters": params})
    return out


def legacy_to_unleash(old: dict[str, Any], environments: set[str]) -> dict[str, Any]:
    """One stored flag (old columns) as the new spec's columns."""
    name = old["name"]
    overrides = old.get("environments") or {}
    variants = [
        {
            "name": v["name"],
            "weight": v["weight"],
            "weightType": "fix",
            "stickiness": "userId",
            **({"payload": p} if (p := _payload(v.get("value"))) else {}),
        }
        for v in old.get("variants") or []
    ]
    envs = {}
    for env in sorted(environments | set(overrides) | {"default"}):
        o = (overrides.get(env) or {}) if env != "default" else {}
        enabled = o.get("enabled")
        pct = o.get("rollout_pct")
        envs[env] = {
            "enabled": old["enabled"] if enabled is None else enabled,
            "strategies": _strategies(
                name, old["rollout_pct"] if pct is None else pct, old.get("targeting") or {}
            ),
            "variants": variants,
        }
    return {
        "type": "release",
        "impression_data": False,
        "stale": False,
        "dependencies": [],
        "environments": envs,
    }


def _rewrite_state(state: Any, environments: set[str]) -> Any:
    if not isinstance(state, dict) or "rollout_pct" not in state:
        return state
    legacy = ("enabled", "rollout_pct", "variants", "targeting")
    new = {k: v for k, v in state.items() if k not in legacy}
    new.update(legacy_to_unleash(state, environments))
    return new


def _json(raw: Any) -> Any:
    return orjson.loads(raw) if isinstance(raw, str | bytes) else raw


async def apply(conn: asyncpg.Connection) -> None:
    await conn.execute(
        """
        ALTER TABLE flags DROP CONSTRAINT IF EXISTS flags_name_check;
        ALTER TABLE flags ADD CONSTRAINT flags_name_check
            CHECK (char_length(name) BETWEEN 1 AND 255 AND name !~ '[[:cntrl:]/]');
        ALTER TABLE flags
            ADD COLUMN type text NOT NULL DEFAULT 'release',
            ADD COLUMN impression_data boolean NOT NULL DEFAULT false,
            ADD COLUMN stale boolean NOT NULL DEFAULT false,
            ADD COLUMN dependencies jsonb NOT NULL DEFAULT '[]';

        -- Named, reusable sets of constraints a strategy refers to by id (Unleash's segments).
        CREATE TABLE flag_segments (
            id           serial PRIMARY KEY,
            name         text NOT NULL UNIQUE CHECK (char_length(name) BETWEEN 1 AND 255),
            description  text NOT NULL DEFAULT '',
            constraints  jsonb NOT NULL DEFAULT '[]',
            version      integer NOT NULL DEFAULT 1,
            updated_at   timestamptz NOT NULL DEFAULT now(),
            updated_by   text NOT NULL
        );

        -- Unleash-style API tokens for its SDKs: bound to one environment and a type; only a
        -- hash of the secret is kept.
        CREATE TABLE flag_api_tokens (
            id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            name         text NOT NULL,
            type         text NOT NULL CHECK (type IN ('backend', 'frontend')),
            environment  text NOT NULL CHECK (environment ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
            secret_hash  bytea NOT NULL UNIQUE,
            hint         text NOT NULL,  -- the token's public prefix, to tell tokens apart
            created_at   timestamptz NOT NULL DEFAULT now(),
            created_by   text NOT NULL,
            last_used_at timestamptz,
            revoked_at   timestamptz
        );

        -- SDK instances that called /api/client/register.
        CREATE TABLE flag_client_instances (
            app_name     text NOT NULL,
            instance_id  text NOT NULL,
            environment  text NOT NULL,
            sdk_version  text,
            strategies   jsonb NOT NULL DEFAULT '[]',
            started      timestamptz,
            interval_ms  bigint,
            first_seen   timestamptz NOT NULL DEFAULT now(),
            last_seen    timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (app_name, instance_id, environment)
        );
        """
    )
    environments = {
        r[0] for r in await conn.fetch("SELECT DISTINCT environment FROM config_entries")
    }
    rows = await conn.fetch(
        "SELECT name, enabled, rollout_pct, variants::text AS variants,"
        " targeting::text AS targeting, environments::text AS environments FROM flags"
    )
    for r in rows:
        environments.update(_json(r["environments"]))
    for r in rows:
        old = {
            "name": r["name"],
            "enabled": r["enabled"],
            "rollout_pct": r["rollout_pct"],
            "variants": _json(r["variants"]),
            "targeting": _json(r["targeting"]),
            "environments": _json(r["environments"]),
        }
        new = legacy_to_unleash(old, environments)
        await conn.execute(
            "UPDATE flags SET environments = $2::text::jsonb WHERE name = $1",
            r["name"],
            orjson.dumps(new["environments"]).decode(),
        )
    revs = await conn.fetch(
        "SELECT revision, before::text AS before, after::text AS after FROM flag_revisions"
    )
    for r in revs:
        before = _rewrite_state(_json(r["before"]), environments)
        after = _rewrite_state(_json(r["after"]), environments)
        await conn.execute(
            "UPDATE flag_revisions SET before = $2::text::jsonb, after = $3::text::jsonb"
            " WHERE revision = $1",
            r["revision"],
            None if before is None else orjson.dumps(before).decode(),
            None if after is None else orjson.dumps(after).decode(),
        )
    await conn.execute(
        "ALTER TABLE flags DROP COLUMN enabled, DROP COLUMN rollout_pct, DROP COLUMN variants,"
        " DROP COLUMN targeting"
    )
