"""Fixtures of the remote-mode tests: one Debian Prometheus for the whole session (the metrics
store), and ``live`` — the usual in-process Hearth on a real port — in remote mode against it
(``HEARTH_METRICS_STORE=remote``). Parametrized indirectly with ``"postgres"``, ``live`` is the
embedded store instead, for the tests that must hold in both modes.

Tests share the one Prometheus, so each writes into namespaces of its own (:func:`ns`)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import aiohttp
import pytest

from api.app import create_app
from hearth_core.settings import Settings
from tests.conftest import free_port
from tests.console.conftest import browser  # noqa: F401 - the console test in remote mode
from tests.fixtures import Live, service_token
from tests.remote.prometheus import Prometheus

# How long Hearth retries a write the backend does not take (5xx, no answer) before it answers
# 503: short, so an outage test does not wait the default 20 s per request.
WRITE_DEADLINE_S = 1.5


@pytest.fixture(scope="session")
def prometheus() -> Iterator[Prometheus]:
    prom = Prometheus.started()
    try:
        yield prom
    finally:
        prom.close()


def remote_settings(settings: Settings, prom: Prometheus) -> Settings:
    return settings.replace(
        metrics_store="remote",
        metrics_remote_write_url=prom.write_url,
        metrics_remote_query_url=prom.url,
        metrics_remote_write_deadline_s=WRITE_DEADLINE_S,
        metrics_remote_timeout_s=5.0,
    )


@pytest.fixture
async def live(request, settings: Settings, prometheus: Prometheus, aiohttp_server) -> Live:
    """Hearth in remote mode on Prometheus (or, with the indirect parameter ``"postgres"``, in
    the embedded mode), on a real port, its issuer its own URL."""
    mode = getattr(request, "param", "remote")
    if not prometheus.running():  # an outage test that failed half-way left it down
        await asyncio.to_thread(prometheus.start)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    s = settings.replace(issuer=url)
    if mode == "remote":
        s = remote_settings(s, prometheus)
    else:
        assert mode == "postgres", mode
    server = await aiohttp_server(create_app(s), port=port)
    return Live(url=url, app=server.app, settings=s)


@pytest.fixture
async def mh(live: Live, http: aiohttp.ClientSession) -> dict[str, str]:
    """Authorization headers of an unmapped client allowed to write and read metrics."""
    return await service_token(live, http, ["metrics.write", "metrics.read"])


@pytest.fixture
def ns() -> str:
    """A namespace no other test writes to (the Prometheus is shared)."""
    return f"t_{uuid.uuid4().hex[:12]}"
