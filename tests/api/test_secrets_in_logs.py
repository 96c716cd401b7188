"""Secrets never reach the logs: a real server at INFO level, driven through every kind of
secret it handles, then its whole log searched for each of them."""

from __future__ import annotations

import asyncio
import base64
import signal
import sys

import aiohttp
import orjson

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, TEST_MASTER_KEY, free_port, make_data_dir
from tests.fixtures import run_hearth


async def test_no_secret_in_the_logs(settings, hearth_env, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **hearth_env,
        "HEARTH_DATABASE_URL": settings.database_url,
        "HEARTH_REDIS_URL": settings.redis_url,
        "HEARTH_LOG_LEVEL": "DEBUG",
        "HEARTH_ISSUER": url,
        "HEARTH_DATA_DIR": str(make_data_dir("logs-")),
    }
    log = tmp_path / "server.log"
    with open(log, "wb") as out:  # noqa: ASYNC230 - the child process writes it, not us
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "api.cli",
            "serve",
            "--port",
            str(port),
            env=env,
            stdout=out,
            stderr=out,
        )
        secrets: list[str] = [ADMIN_PASSWORD, TEST_MASTER_KEY.split(":", 1)[1]]
        try:
            async with aiohttp.ClientSession() as http:
                for _ in range(100):
                    try:
                        async with http.get(f"{url}/readyz") as r:
                            if r.status == 200:
                                break
                    except aiohttp.ClientConnectionError:
                        pass
                    await asyncio.sleep(0.1)
                # A confidential client that can do everything below (made via the CLI, like an admin).
                _, made, _ = await run_hearth(
                    env,
                    *("client", "create", "--name", "x", "--json"),
                    *("--grants", "client_credentials,password,refresh_token"),
                    *("--scopes", "profile.write,openid"),
                )
                creds = orjson.loads(made)
                secrets.append(creds["client_secret"])
                auth = {
                    "Authorization": "Basic "
                    + base64.b64encode(
                        f"{creds['client_id']}:{creds['client_secret']}".encode()
                    ).decode()
                }
                async with http.post(
                    f"{url}/oauth/token",
                    headers=auth,
                    data={
                        "grant_type": "password",
                        "username": ADMIN_EMAIL,
                        "password": ADMIN_PASSWORD,
                        "scope": "openid profile.write",
                    },
                ) as r:
                    tokens = await r.json()
                secrets += [tokens["access_token"], tokens["refresh_token"], tokens["id_token"]]
                async with http.post(
                    f"{url}/oauth/token",
                    headers=auth,
                    data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                ) as r:
                    secrets.append((await r.json())["refresh_token"])
                bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
                new_password = "another secret passphrase"
                secrets.append(new_password)
                async with http.post(
                    f"{url}/v1/users",
                    headers=bearer,
                    json={"email": "logged@example.test", "password": new_password},
                ) as r:
                    assert r.status == 201
                async with http.post(
                    f"{url}/oauth/token",
                    headers=auth,
                    data={
                        "grant_type": "password",
                        "username": ADMIN_EMAIL,
                        "password": "wrong " + ADMIN_PASSWORD,
                    },
                ) as r:
                    assert r.status == 400
                secrets.append("wrong " + ADMIN_PASSWORD)
                async with http.get(
                    f"{url}/v1/users",
                    headers={"Authorization": "Bearer " + tokens["access_token"][:-4] + "AAAA"},
                ) as r:
                    assert r.status == 401
        finally:
            proc.send_signal(signal.SIGTERM)
            await proc.wait()
    text = log.read_text(errors="replace")
    assert '"msg":"request"' in text  # the access log did run
    pg_password = settings.database_url.split(":")[2].split("@")[0]
    secrets.append(pg_password)
    for secret in secrets:
        assert secret not in text, f"a secret ({secret[:6]}…) appears in the log"
