"""Bulk import: CSV and YAML, both modes, dry run, per-row results for malformed rows."""

from __future__ import annotations

import textwrap

from api.keys import DB
from tests.fixtures import basic

PROBLEM = "application/problem+json"

CSV = textwrap.dedent("""\
    email,display_name,password,roles,status,attributes
    new.one@example.test,New One,pw-new-one-1,admin,active,"{""team"": ""a""}"
    not-an-email,Bad,,,,
    new.two@example.test,New Two,,,inactive,
    NEW.ONE@example.test,Dup,,,,
    new.three@example.test,Three,,ghost-role,,
    new.four@example.test,Four,,,,{not json}
    new.five@example.test,Five,short,,,
    too,many,fields,here,x,y,z
    admin@example.test,Admin Renamed,,admin,,
""")


async def _import(http, live, headers, body, ctype="text/csv", **params):
    async with http.post(
        f"{live.url}/v1/users/import",
        data=body.encode() if isinstance(body, str) else body,
        params={k: str(v).lower() for k, v in params.items()},
        headers={**headers, "Content-Type": ctype},
    ) as resp:
        return resp.status, await resp.json(content_type=None)


async def _count(live) -> int:
    return await live.app[DB].fetchval("SELECT count(*) FROM users")


async def test_csv_partial_reports_every_row(live, http, admin_headers):
    status, report = await _import(http, live, admin_headers, CSV, mode="partial")
    assert status == 200 and report["committed"] is True
    by_row = {r["row"]: r for r in report["rows"]}
    assert [by_row[i]["status"] for i in range(1, 10)] == [
        "created",
        "error",
        "created",
        "error",
        "error",
        "error",
        "error",
        "error",
        "updated",
    ]
    assert "email" in by_row[2]["error"]
    assert "earlier in this file" in by_row[4]["error"]
    assert "ghost-role" in by_row[5]["error"]
    assert "attributes" in by_row[6]["error"]
    assert "password" in by_row[7]["error"]
    assert "fields" in by_row[8]["error"]
    assert (report["created"], report["updated"], report["errors"]) == (2, 1, 6)
    async with http.get(
        f"{live.url}/v1/users?email=new.one@example.test", headers=admin_headers
    ) as resp:
        one = (await resp.json())["items"][0]
    assert one["roles"] == ["admin"] and one["attributes"] == {"team": "a"}
    async with http.get(
        f"{live.url}/v1/users?email=admin@example.test", headers=admin_headers
    ) as resp:
        assert (await resp.json())["items"][0]["display_name"] == "Admin Renamed"
    # The imported password is argon2id and works for login.
    client, secret = await live.identity.create_client(
        name="l",
        grants=["password"],
        scopes=["openid"],
        redirect_uris=[],
        confidential=True,
        actor="t",
    )
    async with http.post(
        f"{live.url}/oauth/token",
        headers=basic(client.client_id, secret),
        data={
            "grant_type": "password",
            "username": "new.one@example.test",
            "password": "pw-new-one-1",
        },
    ) as resp:
        assert resp.status == 200
    n = await live.app[DB].fetchval(
        "SELECT count(*) FROM audit_log WHERE action LIKE 'user.import.%'"
    )
    assert n == 3


async def test_csv_all_or_nothing_rolls_back_on_any_error(live, http, admin_headers):
    before = await _count(live)
    status, report = await _import(http, live, admin_headers, CSV)
    assert status == 422 and report["committed"] is False and report["errors"] == 6
    assert await _count(live) == before
    good = "email,display_name\nok1@example.test,Ok One\nok2@example.test,Ok Two\n"
    status, report = await _import(http, live, admin_headers, good)
    assert status == 200 and report["committed"] is True and report["created"] == 2
    assert await _count(live) == before + 2


async def test_dry_run_writes_nothing(live, http, admin_headers):
    before = await _count(live)
    status, report = await _import(http, live, admin_headers, CSV, mode="partial", dry_run=True)
    assert status == 200 and report["committed"] is False and report["created"] == 2
    assert await _count(live) == before


async def test_yaml_list_and_mapping_forms(live, http, admin_headers):
    listing = textwrap.dedent("""\
        - email: y1@example.test
          display_name: Yaml One
          roles: [admin]
          attributes: {level: 2, tags: [a, b]}
        - email: 12
        - just a string
        - email: y2@example.test
          password: pw-yaml-two-2
        """)
    status, report = await _import(
        http, live, admin_headers, listing, "application/yaml", mode="partial"
    )
    assert status == 200
    assert [(r["row"], r["status"]) for r in report["rows"]] == [
        (1, "created"),
        (2, "error"),
        (3, "error"),
        (4, "created"),
    ]
    async with http.get(
        f"{live.url}/v1/users?email=y1@example.test", headers=admin_headers
    ) as resp:
        y1 = (await resp.json())["items"][0]
    assert y1["attributes"] == {"level": 2, "tags": ["a", "b"]} and y1["roles"] == ["admin"]
    mapping = (
        "users:\n  - email: y3@example.test\n  - email: y1@example.test\n    display_name: Again\n"
    )
    status, report = await _import(
        http, live, admin_headers, mapping, "application/x-yaml", on_conflict="skip"
    )
    assert [(r["row"], r["status"]) for r in report["rows"]] == [(1, "created"), (2, "skipped")]


async def test_yaml_syntax_error_is_reported_with_its_row(live, http, admin_headers):
    broken = "- email: ok@example.test\n- email: [unclosed\n"
    status, report = await _import(
        http, live, admin_headers, broken, "application/yaml", mode="partial"
    )
    assert status == 200
    assert report["rows"][0]["status"] == "created"
    assert report["rows"][-1]["status"] == "error" and "YAML" in report["rows"][-1]["error"]


async def test_yaml_is_parsed_safely(live, http, admin_headers):
    evil = "- email: !!python/object/apply:os.system ['echo pwned']\n"
    status, report = await _import(
        http, live, admin_headers, evil, "application/yaml", mode="partial"
    )
    assert status == 200 and report["errors"] == 1 and report["created"] == 0


async def test_bad_header_and_media_type(live, http, admin_headers):
    status, problem = await _import(http, live, admin_headers, "mail,name\nx@y.z,a\n")
    assert status == 400 and problem["errors"][0]["path"] == "header"
    status, problem = await _import(http, live, admin_headers, "{}", "application/json")
    assert status == 415


async def test_row_limit(live, http, admin_headers, aiohttp_server):
    from api.app import create_app
    from tests.conftest import free_port
    from tests.fixtures import Live, service_token

    port = free_port()
    s = live.settings.replace(issuer=f"http://127.0.0.1:{port}", max_import_rows=1500)
    server = await aiohttp_server(create_app(s), port=port)
    small = Live(url=f"http://127.0.0.1:{port}", app=server.app, settings=s)
    headers = await service_token(small, http, ["profile.write"])
    body = "email\n" + "".join(f"r{i}@example.test\n" for i in range(2001))
    status, problem = await _import(http, small, headers, body)
    assert status == 400 and "1500" in problem["detail"]
    assert await _count(small) == 1  # only the admin: nothing of the import was written
