from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from api.app import create_app
from hearth_core.settings import Settings

ClientFactory = Callable[..., Awaitable[TestClient]]


@pytest.fixture
async def client(settings: Settings, aiohttp_client: ClientFactory) -> TestClient:
    app: web.Application = create_app(settings)
    return await aiohttp_client(app)
