"""Shared fixtures: real PostgreSQL and Redis, started by the project's own launcher.

Services. One ``LocalStack`` (the same launcher ``hearth serve`` uses) per test session, in a
fresh data dir under /tmp on free loopback ports, with fsync off for speed. It is stopped and
removed when the session ends. Nothing is mocked: a test that needs PostgreSQL or Redis and
cannot reach them fails.

Isolation. Migrations, data keys and the first admin are applied once to a template database.
Every test that asks for ``settings`` (or anything built on it) gets a database of its own,
cloned from the template with ``CREATE DATABASE … TEMPLATE`` and dropped afterwards, so no
test sees another's rows. Redis is shared, so those tests start with ``FLUSHALL``; tests run
one at a time, which makes that safe.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis

from hearth_core.bootstrap import prepare
from hearth_core.db.pool import connect
from hearth_core.localstack import LocalStack
from hearth_core.settings import Settings
from tests.launch import TestStack

pytest_plugins = ["tests.fixtures"]

TEST_MASTER_KEY = "test:" + base64.b64encode(b"k" * 32).decode()
ADMIN_EMAIL = "admin@example.test"
ADMIN_PASSWORD = "correct horse battery staple"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cluster_ports(n: int) -> list[int]:
    """Ports p whose cluster-bus port p + 10000 is free too (and below 65536)."""
    out: list[int] = []
    for p in range(21000 + os.getpid() % 997 * 7, 55000):
        if len(out) == n:
            break
        ok = True
        for q in (p, p + 10000):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", q))
                except OSError:
                    ok = False
                    break
        if ok:
            out.append(p)
    return out


def make_data_dir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)  # the postgres system user must traverse it when we run as root
    return path


@pytest.fixture(scope="session")
def stack() -> Iterator[TestStack]:
    data_dir = make_data_dir("hearth-test-")
    ls = TestStack(
        data_dir, pg_port=free_port(), redis_port=free_port(), durable=False, log=lambda _m: None
    )
    ls.start()
    try:
        yield ls
    finally:
        ls.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def _db_url(stack: LocalStack, database: str) -> str:
    return stack.database_url.rsplit("/", 1)[0] + "/" + database


def base_settings(stack: LocalStack, database: str) -> Settings:
    return Settings(
        data_dir=str(stack.data_dir),
        database_url=_db_url(stack, database),
        redis_url=stack.redis_url,
        pg_port=stack.pg_port,
        redis_port=stack.redis_port,
        pg_durable=False,
        master_key=TEST_MASTER_KEY,
        bootstrap_admin_email=ADMIN_EMAIL,
        bootstrap_admin_password=ADMIN_PASSWORD,
        db_pool_min=1,
        db_pool_max=10,
        log_level="WARNING",
    )


@pytest.fixture(scope="session")
async def template_db(stack: LocalStack) -> str:
    admin = await asyncpg.connect(_db_url(stack, "postgres"))
    try:
        await admin.execute("CREATE DATABASE hearth_template")
    finally:
        await admin.close()
    await prepare(base_settings(stack, "hearth_template"))
    return "hearth_template"


@pytest.fixture
async def database(stack: LocalStack, template_db: str) -> AsyncIterator[str]:
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(_db_url(stack, "postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}" STRATEGY FILE_COPY')
    finally:
        await admin.close()
    yield name
    # A new connection: the test may have restarted PostgreSQL under the old one.
    admin = await asyncpg.connect(_db_url(stack, "postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def settings(stack: LocalStack, database: str) -> Settings:
    client = aioredis.Redis.from_url(stack.redis_url)
    try:
        await client.flushall()
    finally:
        await client.aclose()
    return base_settings(stack, database)


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    assert settings.database_url is not None
    conn = await connect(settings.database_url)  # with the service's jsonb codecs
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
def hearth_env() -> dict[str, str]:
    """Environment for a ``hearth`` subprocess: no inherited HEARTH_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    env["HEARTH_MASTER_KEY"] = TEST_MASTER_KEY
    env["HEARTH_LOG_LEVEL"] = "WARNING"
    return env


@pytest.fixture(scope="session")
def replica_base(stack: TestStack) -> Iterator[str]:
    """A real streaming replica of the session's PostgreSQL, started on first use."""
    yield stack.start_replica(free_port())
    stack.stop_replica()


@pytest.fixture(scope="session")
def redis_cluster_url(stack: TestStack) -> Iterator[str]:
    """A real three-master Redis Cluster, started on first use."""
    yield stack.start_redis_cluster(cluster_ports(3))
    stack.stop_redis_cluster()
