from __future__ import annotations

import aiohttp
import pytest

from tests.fixtures import Live, service_token


@pytest.fixture
async def mh(live: Live, http: aiohttp.ClientSession) -> dict[str, str]:
    """Authorization headers of a client allowed to write and read metrics."""
    return await service_token(live, http, ["metrics.write", "metrics.read"])
