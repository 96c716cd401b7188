"""A running server learns of a data-key rotation through NOTIFY, without a restart."""

from __future__ import annotations

import asyncio

from api.app import create_app
from api.keys import CIPHER
from hearth_core.security.crypto import MasterKeyRing
from hearth_core.security.keyring import rotate_data_keys
from tests.conftest import TEST_MASTER_KEY
from tests.core.test_data_keys import NEW_MASTER


async def test_a_running_server_picks_up_the_new_data_key(settings, aiohttp_server, db):
    # Step 1 of a rotation: servers run with the new master key first, the old one after it.
    ring = f"{NEW_MASTER},{TEST_MASTER_KEY}"
    server = await aiohttp_server(create_app(settings.replace(master_key=ring)))
    before = server.app[CIPHER].active_id
    # Step 2: `hearth keys rotate-data` (here the function it runs).
    _, new_id = await rotate_data_keys(db, MasterKeyRing.parse(ring), actor="t")
    for _ in range(100):
        if server.app[CIPHER].active_id == new_id:
            break
        await asyncio.sleep(0.02)
    assert server.app[CIPHER].active_id == new_id != before
