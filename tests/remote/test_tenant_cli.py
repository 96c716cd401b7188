"""``hearth metrics tenant set|list|unset`` beside a running server: the binding reaches the
server by NOTIFY (the client is refused any other namespace, then allowed again), the list
shows it, every change is audited, and an unknown client is a clear error."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import orjson

from api.keys import DB
from tests.fixtures import Live, run_hearth, service_client


async def _status_until(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str], want: int
) -> int:
    deadline = time.monotonic() + 5
    while True:
        async with http.get(
            f"{url}/api/v1/labels", params={"namespace": "elsewhere"}, headers=headers
        ) as resp:
            if resp.status == want or time.monotonic() > deadline:
                return resp.status
        await asyncio.sleep(0.05)


async def test_tenant_cli_binds_lists_and_unbinds(
    live: Live, http: aiohttp.ClientSession, hearth_env: dict[str, str]
) -> None:
    env = {
        **hearth_env,
        "HEARTH_DATABASE_URL": live.settings.database_url or "",
        "HEARTH_REDIS_URL": live.settings.redis_url or "",
    }
    client_id, _, headers = await service_client(live, http, ["metrics.read"], name="cli-tenant")
    assert await _status_until(http, live.url, headers, 200) == 200

    rc, out, err = await run_hearth(
        env,
        "metrics",
        "tenant",
        "set",
        client_id,
        "--namespace",
        "cli_ns",
        "--tenant",
        "team-7",
    )
    assert rc == 0, err
    assert "cli_ns" in out and "team-7" in out
    assert await _status_until(http, live.url, headers, 403) == 403

    rc, out, err = await run_hearth(env, "metrics", "tenant", "list", "--json")
    assert rc == 0, err
    mine = [t for t in orjson.loads(out) if t["client_id"] == client_id]
    assert mine and mine[0]["namespace"] == "cli_ns" and mine[0]["tenant"] == "team-7"
    assert mine[0]["updated_by"] == "cli"

    rc, out, err = await run_hearth(env, "metrics", "tenant", "unset", client_id)
    assert rc == 0, err
    assert await _status_until(http, live.url, headers, 200) == 200

    rc, _, err = await run_hearth(
        env, "metrics", "tenant", "set", "no-such-client", "--namespace", "x"
    )
    assert rc != 0 and "no-such-client" in err
    rc, _, err = await run_hearth(
        env, "metrics", "tenant", "set", client_id, "--namespace", "bad ns"
    )
    assert rc != 0 and "namespace" in err

    async with live.app[DB].acquire() as conn:
        actions = [
            r["action"]
            for r in await conn.fetch(
                "SELECT action FROM audit_log WHERE target = $1 ORDER BY id",
                f"client:{client_id}",
            )
        ]
    assert actions[-2:] == ["metrics.tenant.set", "metrics.tenant.unset"], actions
