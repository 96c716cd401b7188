"""Conference rooms: the state machine, the last-seat race, the participant stream."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from api.keys import DB
from tests.fixtures import service_token

PROBLEM = "application/problem+json"


@pytest.fixture
async def rooms_url(live):
    return f"{live.url}/v1/conference/rooms"


@pytest.fixture
async def host(live, http):
    return await service_token(live, http, ["room.read", "room.write"])


async def _post(http, url, headers, body=None):
    async with http.post(url, headers=headers, json=body) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_room_lifecycle(live, http, host, rooms_url):
    status, room = await _post(
        http,
        rooms_url,
        host,
        {"name": "Standup", "settings": {"max_participants": 3, "theme": "dark"}},
    )
    assert status == 201 and room["status"] == "scheduled" and room["participants"] == 0
    assert room["settings"] == {"max_participants": 3, "theme": "dark"}
    rid = room["id"]
    status, room = await _post(http, f"{rooms_url}/{rid}/join", host)
    assert (
        status == 200
        and room["status"] == "active"
        and room["participants"] == 1
        and room["started_at"]
    )
    status, room = await _post(http, f"{rooms_url}/{rid}/join", host)
    assert status == 200 and room["participants"] == 1  # joining twice is harmless
    status, _ = await _post(
        http, f"{rooms_url}/{rid}/participants", host, {"user_id": "guest-1", "role": "viewer"}
    )
    assert status == 201
    async with http.get(f"{rooms_url}/{rid}/participants", headers=host) as resp:
        people = (await resp.json())["items"]
    assert {p["user_id"] for p in people} >= {"guest-1"} and len(people) == 2
    status, room = await _post(http, f"{rooms_url}/{rid}/leave", host)
    assert status == 200 and room["participants"] == 1
    status, problem = await _post(http, f"{rooms_url}/{rid}/leave", host)
    assert status == 409 and "not in the room" in problem["detail"]
    status, room = await _post(http, f"{rooms_url}/{rid}/end", host)
    assert (
        status == 200
        and room["status"] == "ended"
        and room["participants"] == 0
        and room["ended_at"]
    )
    for path, reason in (("end", "already ended"), ("join", "has ended")):
        status, problem = await _post(http, f"{rooms_url}/{rid}/{path}", host)
        assert status == 409 and reason in problem["detail"]
    async with http.put(f"{rooms_url}/{rid}", headers=host, json={"name": "x"}) as resp:
        assert resp.status == 409
    async with http.get(f"{rooms_url}/{rid}/participants?include_left=true", headers=host) as resp:
        assert all(p["left_at"] for p in (await resp.json())["items"])
    actions = [
        r["action"]
        for r in await live.app[DB].fetch(
            "SELECT action FROM audit_log WHERE target = $1 ORDER BY id", f"room:{rid}"
        )
    ]
    assert actions == ["room.create", "room.join", "room.join", "room.leave", "room.end"]


async def test_locked_and_full_rooms_refuse(http, host, rooms_url):
    _, room = await _post(http, rooms_url, host, {"name": "Board", "settings": {"locked": True}})
    status, problem = await _post(http, f"{rooms_url}/{room['id']}/join", host)
    assert status == 409 and "locked" in problem["detail"]
    _, room = await _post(
        http, rooms_url, host, {"name": "Tiny", "settings": {"max_participants": 1}}
    )
    await _post(http, f"{rooms_url}/{room['id']}/participants", host, {"user_id": "a"})
    status, problem = await _post(
        http, f"{rooms_url}/{room['id']}/participants", host, {"user_id": "b"}
    )
    assert status == 409 and "full" in problem["detail"]
    status, problem = await _post(
        http, rooms_url, host, {"name": "Bad", "settings": {"max_participants": "lots"}}
    )
    assert status == 400 and problem["errors"][0]["path"] == "$.settings.max_participants"


async def test_two_concurrent_joins_for_the_last_seat(live, http, host, rooms_url):
    one = await service_token(live, http, ["room.write", "room.read"])
    two = await service_token(live, http, ["room.write", "room.read"])
    for round_ in range(5):  # a race is a race: run it several times
        _, room = await _post(
            http,
            rooms_url,
            host,
            {"name": f"Last seat {round_}", "settings": {"max_participants": 2}},
        )
        await _post(http, f"{rooms_url}/{room['id']}/participants", host, {"user_id": "first"})
        results = await asyncio.gather(
            _post(http, f"{rooms_url}/{room['id']}/join", one),
            _post(http, f"{rooms_url}/{room['id']}/join", two),
        )
        assert sorted(s for s, _ in results) == [200, 409]
        assert "full" in next(b for s, b in results if s == 409)["detail"]
        async with http.get(f"{rooms_url}/{room['id']}", headers=host) as resp:
            assert (await resp.json())["participants"] == 2


async def test_listing_filters_sorts_and_pages(http, host, rooms_url):
    names = ["delta", "alpha", "charlie", "bravo"]
    ids = []
    for n in names:
        _, r = await _post(http, rooms_url, host, {"name": n})
        ids.append(r["id"])
    await _post(http, f"{rooms_url}/{ids[0]}/end", host)
    async with http.get(
        rooms_url, headers=host, params={"sort": "name", "limit": "2", "page": "2"}
    ) as resp:
        page = await resp.json()
    assert [r["name"] for r in page["items"]] == ["charlie", "delta"] and page["total"] == 4
    async with http.get(rooms_url, headers=host, params={"status": "ended"}) as resp:
        assert [r["name"] for r in (await resp.json())["items"]] == ["delta"]
    async with http.get(rooms_url, headers=host, params={"sort": "-created_at"}) as resp:
        assert [r["id"] for r in (await resp.json())["items"]] == ids[::-1]


async def test_participant_stream(http, host, rooms_url):
    _, room = await _post(http, rooms_url, host, {"name": "Live"})
    stream = await http.get(
        f"{rooms_url}/{room['id']}/events", headers=host, timeout=aiohttp.ClientTimeout(total=None)
    )
    try:
        first = (await stream.content.readuntil(b"\n\n")).decode()
        assert first.startswith("event: room")
        await _post(http, f"{rooms_url}/{room['id']}/participants", host, {"user_id": "zoe"})
        await _post(http, f"{rooms_url}/{room['id']}/end", host)
        seen = []
        async with asyncio.timeout(5):
            while len(seen) < 2:
                block = (await stream.content.readuntil(b"\n\n")).decode()
                if block.startswith("event:"):
                    seen.append(block.split("\n")[0])
        assert seen == ["event: joined", "event: ended"]
    finally:
        stream.close()
