"""Roles: CRUD, export, assignment, and deletion rules."""

from __future__ import annotations

import csv
import io

from api.keys import DB

PROBLEM = "application/problem+json"


async def test_role_lifecycle_and_export(live, http, admin_headers):
    url = f"{live.url}/v1/roles"
    async with http.post(
        url,
        headers=admin_headers,
        json={
            "name": "auditor",
            "description": "reads audit",
            "scopes": ["audit.read", "profile.read"],
        },
    ) as resp:
        assert resp.status == 201
        role = await resp.json()
    assert role["scopes"] == ["audit.read", "profile.read"] and role["members"] == 0
    async with http.post(url, headers=admin_headers, json={"name": "auditor"}) as resp:
        assert resp.status == 409
    async with http.post(url, headers=admin_headers, json={"name": "Bad Name!"}) as resp:
        assert resp.status == 400
        assert (await resp.json(content_type=PROBLEM))["errors"][0]["path"] == "$.name"
    async with http.post(
        url, headers=admin_headers, json={"name": "x", "scopes": ["root"]}
    ) as resp:
        assert resp.status == 400
        assert (await resp.json(content_type=PROBLEM))["errors"][0]["path"] == "$.scopes[0]"
    async with http.put(
        f"{url}/auditor",
        headers=admin_headers,
        json={"description": "reads audit and users", "scopes": ["audit.read"]},
    ) as resp:
        assert (await resp.json())["scopes"] == ["audit.read"]
    async with http.get(f"{url}/export?format=csv", headers=admin_headers) as resp:
        assert resp.content_type == "text/csv"
        rows = list(csv.DictReader(io.StringIO(await resp.text())))
    assert {
        "name": "auditor",
        "description": "reads audit and users",
        "scopes": "audit.read",
        "members": "0",
    } in rows
    async with http.get(f"{url}/export", headers=admin_headers) as resp:
        names = [r["name"] for r in (await resp.json())["items"]]
    assert names == sorted(names) and "admin" in names and "auditor" in names
    async with http.put(f"{url}/nobody", headers=admin_headers, json={"scopes": []}) as resp:
        assert resp.status == 404


async def test_deleting_an_assigned_role_needs_force(live, http, admin_headers):
    url = f"{live.url}/v1/roles"
    await http.post(url, headers=admin_headers, json={"name": "temp", "scopes": ["flag.read"]})
    async with http.post(
        f"{live.url}/v1/users",
        headers=admin_headers,
        json={"email": "t@example.test", "roles": ["temp"]},
    ) as resp:
        uid = (await resp.json())["user_id"]
    async with http.delete(f"{url}/temp", headers=admin_headers) as resp:
        assert resp.status == 422
        assert "assigned to 1" in (await resp.json(content_type=PROBLEM))["detail"]
    async with http.delete(f"{url}/temp?force=true", headers=admin_headers) as resp:
        assert resp.status == 204
    async with http.get(f"{live.url}/v1/users/{uid}", headers=admin_headers) as resp:
        assert (await resp.json())["roles"] == []
    async with http.delete(f"{url}/admin?force=true", headers=admin_headers) as resp:
        assert resp.status == 409


async def test_userroles_assign_and_unassign(live, http, admin_headers):
    async with http.post(
        f"{live.url}/v1/users", headers=admin_headers, json={"email": "r@example.test"}
    ) as resp:
        uid = (await resp.json())["user_id"]
    body = {"user_id": uid, "role": "admin"}
    async with http.post(f"{live.url}/v1/userroles", headers=admin_headers, json=body) as resp:
        assert resp.status == 201
    async with http.post(f"{live.url}/v1/userroles", headers=admin_headers, json=body) as resp:
        assert resp.status == 200 and (await resp.json())["added"] is False
    async with http.delete(f"{live.url}/v1/userroles", headers=admin_headers, json=body) as resp:
        assert resp.status == 204
    async with http.delete(f"{live.url}/v1/userroles", headers=admin_headers, json=body) as resp:
        assert resp.status == 404
    async with http.post(
        f"{live.url}/v1/userroles", headers=admin_headers, json={"user_id": uid, "role": "ghost"}
    ) as resp:
        assert resp.status == 404
    actions = [
        r["action"]
        for r in await live.app[DB].fetch(
            "SELECT action FROM audit_log WHERE target=$1 ORDER BY id", f"user:{uid}"
        )
    ]
    assert actions == ["user.create", "role.assign", "role.unassign"]
