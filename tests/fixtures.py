"""Fixtures and helpers shared by every test package (a pytest plugin of the root conftest):
a live server on a real port, HTTP sessions, tokens, users, the login page."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import secrets
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from html import unescape

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from api.app import create_app
from api.keys import CIPHER, DB, IDENTITY
from hearth_core.identity.provider import IdentityProvider
from hearth_core.security.crypto import normalize_email
from hearth_core.security.passwords import hash_password
from hearth_core.settings import Settings
from tests.conftest import free_port

ClientFactory = Callable[..., Awaitable[TestClient]]


# `settings` comes first so the per-test database outlives the app's pool at teardown.
@pytest.fixture
async def client(settings: Settings, aiohttp_client: ClientFactory) -> TestClient:
    app: web.Application = create_app(settings)
    return await aiohttp_client(app)


@dataclass
class Live:
    """A real server on a real port, its issuer set to its own URL."""

    url: str
    app: web.Application
    settings: Settings

    @property
    def identity(self) -> IdentityProvider:
        return self.app[IDENTITY]


@pytest.fixture
async def live(settings: Settings, aiohttp_server) -> Live:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    s = settings.replace(issuer=url)
    server = await aiohttp_server(create_app(s), port=port)
    return Live(url=url, app=server.app, settings=s)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def make_user(
    app: web.Application, email: str, password: str, roles: dict[str, list[str]] | None = None
) -> uuid.UUID:
    """A user with the given roles ({role: scopes}); stands in for the profile API until it exists."""
    cipher = app[CIPHER]
    user_id = uuid.uuid4()
    norm = normalize_email(email)
    async with app[DB].acquire() as conn:
        await conn.execute(
            "INSERT INTO users (user_id, email_bidx, email_enc, display_name_enc, password_hash)"
            " VALUES ($1, $2, $3, $4, $5)",
            user_id,
            cipher.blind_index(norm),
            cipher.encrypt_text(norm, f"{user_id}:email"),
            cipher.encrypt_text(email.split("@")[0].title(), f"{user_id}:display_name"),
            hash_password(password),
        )
        for role, scopes in (roles or {}).items():
            await conn.execute(
                "INSERT INTO roles (name, scopes) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                role,
                scopes,
            )
            await conn.execute(
                "INSERT INTO user_roles (user_id, role_name) VALUES ($1, $2)", user_id, role
            )
    return user_id


def pkce() -> tuple[str, str]:
    """A PKCE verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    return verifier, challenge


async def login_via_page(http, authorize_url: str, email: str, password: str) -> str:
    """Fill in the login page like a browser; the redirect Location, or "status:N:body"."""
    async with http.get(authorize_url, allow_redirects=False) as resp:
        assert resp.status == 200, await resp.text()
        page = await resp.text()
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    signed = unescape(re.search(r"name=request value='([^']+)'", page).group(1))
    base = authorize_url.split("?")[0]
    async with http.post(
        base, data={"request": signed, "email": email, "password": password}, allow_redirects=False
    ) as resp:
        if resp.status != 302:
            return f"status:{resp.status}:{await resp.text()}"
        return resp.headers["Location"]


def basic(client_id: str, secret: str) -> dict[str, str]:
    """client_secret_basic Authorization header."""
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


async def service_client(
    live: Live, http: aiohttp.ClientSession, scopes: list[str], *, name: str = "test-service"
) -> tuple[str, str, dict[str, str]]:
    """A new confidential client_credentials client holding ``scopes``: its id, its secret and
    the Authorization headers of a token it was issued."""
    client, secret = await live.identity.create_client(
        name=name,
        grants=["client_credentials"],
        scopes=scopes,
        redirect_uris=[],
        confidential=True,
        actor="test",
    )
    async with http.post(
        f"{live.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic(client.client_id, secret or ""),
    ) as resp:
        assert resp.status == 200, await resp.text()
        token = (await resp.json())["access_token"]
    return client.client_id, secret or "", {"Authorization": f"Bearer {token}"}


async def service_token(
    live: Live, http: aiohttp.ClientSession, scopes: list[str]
) -> dict[str, str]:
    """Authorization headers of a client_credentials token holding ``scopes``."""
    return (await service_client(live, http, scopes))[2]


@pytest.fixture
async def admin_headers(live: Live, http: aiohttp.ClientSession) -> dict[str, str]:
    return await service_token(
        live, http, ["profile.read", "profile.write", "role.read", "role.write", "auth.introspect"]
    )


async def run_hearth(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """``hearth ARGS`` in a subprocess with ``env``: its exit code, stdout and stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "api.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()
