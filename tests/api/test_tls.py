"""TLS and mutual TLS with real handshakes: no client certificate, no connection; a client
certificate whose CN is a client_id authenticates as that client."""

from __future__ import annotations

import ssl

import aiohttp
import pytest
from aiohttp import web

from api.app import create_app
from api.keys import IDENTITY
from hearth_core.security.certs import make_dev_certs, server_context
from tests.conftest import free_port
from tests.fixtures import run_hearth


@pytest.fixture
async def tls_server(settings, tmp_path):
    paths = make_dev_certs(tmp_path / "certs", client_cn="svc-mtls")
    other = make_dev_certs(
        tmp_path / "other", client_cn="svc-mtls"
    )  # a CA the server does not trust
    port = free_port()
    s = settings.replace(
        issuer=f"https://127.0.0.1:{port}",
        tls_cert=str(paths["server"]),
        tls_key=str(paths["server_key"]),
        tls_client_ca=str(paths["ca"]),
    )
    app = create_app(s)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(
        runner,
        "127.0.0.1",
        port,
        ssl_context=server_context(s.tls_cert, s.tls_key, s.tls_client_ca),
    )
    await site.start()
    try:
        yield f"https://127.0.0.1:{port}", app, paths, other
    finally:
        await runner.cleanup()


def _client_ctx(paths, with_cert: bool, ca=None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca or paths["ca"]))
    if with_cert:
        ctx.load_cert_chain(str(paths["client"]), str(paths["client_key"]))
    return ctx


async def test_mtls_refuses_without_a_client_certificate_and_maps_the_subject(tls_server):
    url, app, paths, other = tls_server
    await app[IDENTITY].create_client(
        client_id="svc-mtls",
        name="mtls service",
        grants=["client_credentials"],
        scopes=["flag.read"],
        redirect_uris=[],
        actor="test",
    )
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/healthz", ssl=_client_ctx(paths, True)) as resp:
            assert resp.status == 200
        # The certificate's subject is a client: its scopes apply, no bearer token needed.
        async with http.get(f"{url}/v1/flags", ssl=_client_ctx(paths, True)) as resp:
            assert resp.status == 200
        async with http.get(f"{url}/v1/users", ssl=_client_ctx(paths, True)) as resp:
            assert resp.status == 403  # the client lacks profile.read
        with pytest.raises((aiohttp.ClientConnectionError, ssl.SSLError)):
            async with http.get(f"{url}/healthz", ssl=_client_ctx(paths, False)) as resp:
                await resp.read()
        # A certificate from a CA the server does not trust is refused too.
        foreign = ssl.create_default_context(cafile=str(paths["ca"]))
        foreign.load_cert_chain(str(other["client"]), str(other["client_key"]))
        with pytest.raises((aiohttp.ClientConnectionError, ssl.SSLError)):
            async with http.get(f"{url}/healthz", ssl=foreign) as resp:
                await resp.read()


async def test_dev_certs_cli(tmp_path, hearth_env):
    code, out, err = await run_hearth(hearth_env, "certs", "dev", "--out", str(tmp_path))
    assert code == 0, err
    for name in ("ca.pem", "server.pem", "server.key", "client.pem", "client.key"):
        assert (tmp_path / name).exists()
    assert (tmp_path / "server.key").stat().st_mode & 0o777 == 0o600
    assert "--client-ca" in out
