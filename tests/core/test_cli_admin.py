"""``hearth client …`` and ``hearth keys rotate`` against a real database."""

from __future__ import annotations

import subprocess
import sys

import asyncpg
import orjson


def _hearth(env, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


async def test_client_commands_round_trip(settings, hearth_env, db: asyncpg.Connection):
    env = {
        **hearth_env,
        "HEARTH_DATABASE_URL": settings.database_url,
        "HEARTH_REDIS_URL": settings.redis_url,
    }
    out = _hearth(
        env,
        "client",
        "create",
        "--name",
        "Reporting",
        "--grants",
        "client_credentials,refresh_token",
        "--scopes",
        "metrics.read,usage.read",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    created = orjson.loads(out.stdout)
    assert set(created) == {"client_id", "client_secret"}
    cid, secret = created["client_id"], created["client_secret"]
    row = await db.fetchrow(
        "SELECT secret_hash, grants, scopes FROM oauth_clients WHERE client_id=$1", cid
    )
    assert row["secret_hash"] is not None and secret.encode() not in row["secret_hash"]
    assert row["scopes"] == ["metrics.read", "usage.read"]

    listed = orjson.loads(_hearth(env, "client", "list", "--json").stdout)
    assert cid in {c["client_id"] for c in listed}
    assert "client_secret" not in listed[0]

    rotated = orjson.loads(_hearth(env, "client", "rotate-secret", cid, "--json").stdout)
    assert rotated["client_id"] == cid and rotated["client_secret"] != secret

    bad = _hearth(env, "client", "create", "--name", "x", "--grants", "magic")
    assert bad.returncode == 1 and "unknown grant" in bad.stderr

    assert _hearth(env, "client", "delete", cid).returncode == 0
    assert await db.fetchval("SELECT count(*) FROM oauth_clients WHERE client_id=$1", cid) == 0
    missing = _hearth(env, "client", "delete", cid)
    assert missing.returncode == 1 and "no client" in missing.stderr

    assert _hearth(env, "keys", "rotate").returncode == 0  # on a fresh database: the first key
    before = await db.fetchval("SELECT kid FROM signing_keys WHERE retired_at IS NULL")
    out = _hearth(env, "keys", "rotate")
    assert out.returncode == 0, out.stderr
    after = await db.fetchval("SELECT kid FROM signing_keys WHERE retired_at IS NULL")
    assert after != before and after in out.stdout
    old = await db.fetchrow("SELECT retired_at, expires_at FROM signing_keys WHERE kid=$1", before)
    assert old["retired_at"] is not None and old["expires_at"] > old["retired_at"]


def test_admin_commands_have_help(hearth_env):
    for cmd in (
        ["client"],
        ["client", "create"],
        ["client", "list"],
        ["client", "rotate-secret"],
        ["client", "delete"],
        ["keys", "rotate"],
    ):
        out = _hearth(hearth_env, *cmd, "--help")
        assert out.returncode == 0 and "Usage:" in out.stdout, cmd
