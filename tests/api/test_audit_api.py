from __future__ import annotations

from tests.fixtures import service_token


async def test_audit_search(live, http):
    writer = await service_token(live, http, ["flag.write", "flag.read"])
    async with http.post(f"{live.url}/v1/flags", headers=writer, json={"name": "audited"}) as resp:
        assert resp.status == 201
    reader = await service_token(live, http, ["audit.read"])
    async with http.get(f"{live.url}/v1/audit", headers=reader, params={"action": "flag."}) as resp:
        page = await resp.json()
    assert page["total"] == 1 and page["items"][0]["target"] == "flag:audited"
    assert len(page["items"][0]["hash"]) == 64
    async with http.get(f"{live.url}/v1/audit", headers=writer) as resp:
        assert resp.status == 403
