"""The project command workspace: SOP import (step-level errors, versions), commands and their
queue — a command that flips a flag and checks a metric, cancel during a wait, recovery from a
dead or killed worker — export, scopes."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from api.app import create_app
from api.handlers.commands import callable_routes
from api.keys import COMMANDS, CONFIG, DB, ENDPOINTS, FLAGS, IDENTITY
from hearth_core.commands.worker import CommandWorkers
from tests.fixtures import Live, service_token

ALL = ["command.read", "command.write", "command.execute"]
TERMINAL = ("succeeded", "failed", "cancelled")
HEARTH = Path(sys.executable).with_name("hearth")


@pytest.fixture
async def ch(live, http):
    return await service_token(live, http, ALL)


async def _import(http, live, headers, body, status=200, yaml_text=None):
    if yaml_text is not None:
        kw = {"data": yaml_text, "headers": {**headers, "Content-Type": "application/yaml"}}
    else:
        kw = {"json": body, "headers": headers}
    async with http.post(f"{live.url}/v1/commands/import", **kw) as resp:
        data = await resp.json(content_type=None)
        assert resp.status == status, data
        return data


async def _create(http, live, headers, template, parameters=None, status=201):
    body = {"template": template, "parameters": parameters or {}}
    async with http.post(f"{live.url}/v1/commands", headers=headers, json=body) as resp:
        data = await resp.json(content_type=None)
        assert resp.status == status, data
        return data


async def _post(http, url, headers, status=None):
    async with http.post(url, headers=headers) as resp:
        data = await resp.json(content_type=None)
        if status is not None:
            assert resp.status == status, data
        return resp.status, data


async def _status(http, live, headers, cid):
    async with http.get(f"{live.url}/v1/commands/{cid}/status", headers=headers) as resp:
        assert resp.status == 200
        return await resp.json()


async def _until(http, live, headers, cid, pred, within=10.0):
    deadline = time.monotonic() + within
    while True:
        st = await _status(http, live, headers, cid)
        if pred(st):
            return st
        assert time.monotonic() < deadline, st
        await asyncio.sleep(0.05)


async def _run(http, live, headers, cid, within=10.0):
    await _post(http, f"{live.url}/v1/commands/{cid}/execute", headers, 202)
    return await _until(http, live, headers, cid, lambda s: s["status"] in TERMINAL, within)


def _lines(status):
    return [entry["line"] for entry in status["log"]]


async def test_sop_import_step_errors_versions_and_search(live, http, ch):
    bad = {
        "templates": [
            {
                "name": "rollout",
                "steps": [
                    {"action": "log", "message": "hi"},
                    {"action": "wait", "seconds": 7200},
                    {
                        "action": "check_metric",
                        "namespace": "app",
                        "name": "e",
                        "op": "<",
                        "threshold": "high",
                    },
                    {"action": "shell", "command": "rm -rf /"},
                    {"action": "call", "endpoint": "nope.nothing"},
                    {"action": "set_flag", "flag": "bad/name", "enabled": True},
                ],
            },
            {"name": "x y", "steps": []},
        ]
    }
    problem = await _import(http, live, ch, bad, 400)
    paths = {e["path"] for e in problem["errors"]}
    assert {
        "$.templates[0].steps[1].seconds",
        "$.templates[0].steps[2].threshold",
        "$.templates[0].steps[3].action",
        "$.templates[0].steps[4].endpoint",
        "$.templates[0].steps[5].flag",
        "$.templates[1].name",
    } <= paths, problem
    async with http.get(f"{live.url}/v1/commands/sop-templates", headers=ch) as resp:
        assert (await resp.json())["total"] == 0  # nothing imported

    yaml_v1 = """
templates:
  - name: db-failover
    description: Promote the replica
    parameters: {type: object, required: [region], properties: {region: {type: string}}}
    steps:
      - {action: log, message: "failing over {{region}}"}
      - {action: wait, seconds: 0}
  - name: cache-flush
    steps:
      - {action: log, message: flush}
"""
    result = await _import(http, live, ch, None, yaml_text=yaml_v1)
    assert (result["created"], result["updated"], result["unchanged"]) == (2, 0, 0)
    again = await _import(http, live, ch, None, yaml_text=yaml_v1)
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)
    changed = await _import(
        http,
        live,
        ch,
        [
            {
                "name": "db-failover",
                "description": "Promote the replica (v2)",
                "steps": [{"action": "log", "message": "v2"}],
            }
        ],
    )
    assert changed["templates"] == [{"name": "db-failover", "version": 2, "result": "updated"}]

    base = f"{live.url}/v1/commands/sop-templates"
    async with http.get(base, headers=ch, params={"q": "replica"}) as resp:
        page = await resp.json()
    assert [(t["name"], t["version"]) for t in page["items"]] == [("db-failover", 2)]
    async with http.get(
        base, headers=ch, params={"name": "db-failover", "all_versions": "true"}
    ) as resp:
        page = await resp.json()
    assert [t["version"] for t in page["items"]] == [2, 1]
    assert page["items"][1]["steps"][0] == {
        "action": "log",
        "message": "failing over {{region}}",
        "level": "info",
    }
    async with http.get(base, headers=ch) as resp:
        assert {t["name"] for t in (await resp.json())["items"]} == {"db-failover", "cache-flush"}


async def test_create_list_filter_and_edit(live, http, ch):
    await _import(
        http,
        live,
        ch,
        {
            "templates": [
                {
                    "name": "greet",
                    "parameters": {"type": "object", "properties": {"who": {"type": "string"}}},
                    "steps": [{"action": "log", "message": "hello {{who}}"}],
                },
                {"name": "other", "steps": [{"action": "log", "message": "x"}]},
            ]
        },
    )
    problem = await _create(http, live, ch, "greet", {}, 400)
    assert problem["errors"][0]["path"] == "$.parameters.who"
    problem = await _create(http, live, ch, "greet", {"who": 5}, 400)
    assert problem["errors"][0]["path"] == "$.parameters.who"  # the template's JSON Schema
    await _create(http, live, ch, "nope", {}, 404)
    a = await _create(http, live, ch, "greet", {"who": "a"})
    b = await _create(http, live, ch, "other")
    assert a["status"] == "pending" and a["triggered_by"].startswith("client:")
    assert a["steps_total"] == 1 and a["queued_at"] is None

    async with http.put(
        f"{live.url}/v1/commands/{a['id']}", headers=ch, json={"parameters": {"who": "world"}}
    ) as resp:
        assert resp.status == 200 and (await resp.json())["parameters"] == {"who": "world"}
    async with http.get(f"{live.url}/v1/commands/{a['id']}", headers=ch) as resp:
        detail = await resp.json()
    assert detail["steps"] == [{"action": "log", "message": "hello world", "level": "info"}]
    assert [e["line"] for e in detail["log"]][-1].startswith("edited by client:")

    done = await _run(http, live, ch, a["id"])
    assert done["status"] == "succeeded" and "hello world" in _lines(done)
    async with http.put(
        f"{live.url}/v1/commands/{a['id']}", headers=ch, json={"parameters": {"who": "x"}}
    ) as resp:
        assert resp.status == 409

    base = f"{live.url}/v1/commands"
    async with http.get(base, headers=ch, params={"status": "pending"}) as resp:
        assert [c["id"] for c in (await resp.json())["items"]] == [b["id"]]
    async with http.get(base, headers=ch, params={"template": "greet"}) as resp:
        page = await resp.json()
    assert [c["id"] for c in page["items"]] == [a["id"]] and page["total"] == 1
    async with http.get(base, headers=ch, params={"limit": 1}) as resp:
        page = await resp.json()
    assert page["total"] == 2 and [c["id"] for c in page["items"]] == [b["id"]]  # newest first
    async with http.get(f"{base}/not-a-uuid", headers=ch) as resp:
        assert resp.status == 404


async def _points(live, http, points):
    mh = await service_token(live, http, ["metrics.write"])
    async with http.post(
        f"{live.url}/v1/metrics/bulk",
        data=orjson.dumps(points),
        headers={**mh, "Content-Type": "application/json"},
    ) as resp:
        assert resp.status == 200, await resp.text()


async def test_a_command_flips_a_flag_checks_a_metric_and_succeeds(live, http, ch):
    fh = await service_token(live, http, ["flag.read", "flag.write"])
    async with http.post(
        f"{live.url}/v1/flags",
        headers=fh,
        json={"name": "checkout-v2", "environments": {"default": {"enabled": False}}},
    ) as resp:
        assert resp.status == 201
    now = int(time.time())
    await _points(
        live,
        http,
        [
            {
                "namespace": "app",
                "name": "error_rate",
                "labels": {"service": s},
                "value": v,
                "timestamp": now - i,
            }
            for s, v in (("api", 0.02), ("web", 0.9))
            for i in range(3)
        ],
    )
    await _import(
        http,
        live,
        ch,
        {
            "templates": [
                {
                    "name": "rollout",
                    "steps": [
                        {"action": "log", "message": "rolling out {{flag}} to {{pct}}%"},
                        {
                            "action": "set_flag",
                            "flag": "{{flag}}",
                            "enabled": True,
                            "rollout_pct": 50,
                        },
                        {
                            "action": "set_flag",
                            "flag": "{{flag}}",
                            "environment": "prod",
                            "enabled": False,
                        },
                        {
                            "action": "check_metric",
                            "namespace": "app",
                            "name": "error_rate",
                            "match": ['service="{{service}}"'],
                            "agg": "max",
                            "range_seconds": 300,
                            "op": "<",
                            "threshold": 0.05,
                        },
                        {
                            "action": "write_config",
                            "environment": "prod",
                            "key": "rollout.{{flag}}",
                            "value": "{{pct}}",
                        },
                        {
                            "action": "call",
                            "endpoint": "flags.get_flag",
                            "params": {"name": "{{flag}}"},
                        },
                    ],
                }
            ]
        },
    )
    cmd = await _create(
        http, live, ch, "rollout", {"flag": "checkout-v2", "pct": 50, "service": "api"}
    )
    done = await _run(http, live, ch, cmd["id"])
    assert done["status"] == "succeeded", done
    assert done["current_step"] == done["steps_total"] == 6 and done["error"] is None
    lines = _lines(done)
    assert "rolling out checkout-v2 to 50%" in lines
    assert any(
        line.startswith('check app/error_rate{service="api"} max = 0.02 < 0.05: ok')
        for line in lines
    ), lines
    assert any(line.startswith("GET /v1/flags/checkout-v2 → 200") for line in lines), lines
    assert lines[-1] == "succeeded: 6 step(s) done"
    assert [e["seq"] for e in done["log"]] == sorted(e["seq"] for e in done["log"])

    async with http.get(f"{live.url}/v1/flags/checkout-v2", headers=fh) as resp:
        flag = await resp.json()
    rollout = {"rollout": "50", "stickiness": "default", "groupId": "checkout-v2"}
    assert flag["environments"] == {
        "default": {
            "enabled": True,
            "strategies": [{"name": "flexibleRollout", "parameters": rollout}],
        },
        "prod": {},  # configured there, off (defaults are left out)
    }
    assert flag["updated_by"] == f"command:{cmd['id']}"
    entry = live.app[CONFIG].get("prod", "rollout.checkout-v2")
    assert entry.value == 50 and entry.updated_by == f"command:{cmd['id']}"
    actions = [
        r["action"]
        for r in await live.app[DB].fetch(
            "SELECT action FROM audit_log WHERE target=$1 ORDER BY at, action",
            f"command:{cmd['id']}",
        )
    ]
    assert {"command.create", "command.queue", "command.start", "command.succeed"} <= set(actions)

    # The same check on the other service is false: the command fails, saying why.
    bad = await _create(
        http, live, ch, "rollout", {"flag": "checkout-v2", "pct": 10, "service": "web"}
    )
    failed = await _run(http, live, ch, bad["id"])
    assert failed["status"] == "failed" and failed["current_step"] == 3
    assert "step 4 (check_metric)" in failed["error"] and "0.9" in failed["error"]
    assert "expected < 0.05" in failed["error"]
    assert live.app[CONFIG].get("prod", "rollout.checkout-v2").value == 50  # step 5 never ran


async def test_cancel_interrupts_a_wait(live, http, ch):
    await _import(
        http,
        live,
        ch,
        [
            {
                "name": "slow",
                "steps": [
                    {"action": "log", "message": "before"},
                    {"action": "wait", "seconds": 60},
                    {"action": "log", "message": "never"},
                ],
            }
        ],
    )
    pending = await _create(http, live, ch, "slow")
    _, cancelled = await _post(http, f"{live.url}/v1/commands/{pending['id']}/cancel", ch, 202)
    assert cancelled["status"] == "cancelled"  # pending: at once
    await _post(http, f"{live.url}/v1/commands/{pending['id']}/cancel", ch, 409)
    await _post(http, f"{live.url}/v1/commands/{pending['id']}/execute", ch, 409)

    cmd = await _create(http, live, ch, "slow")
    await _post(http, f"{live.url}/v1/commands/{cmd['id']}/execute", ch, 202)
    await _until(http, live, ch, cmd["id"], lambda s: "step 2/3: wait 60s" in _lines(s))
    async with http.put(
        f"{live.url}/v1/commands/{cmd['id']}", headers=ch, json={"parameters": {}}
    ) as resp:
        assert resp.status == 409  # running
    start = time.monotonic()
    _, asked = await _post(http, f"{live.url}/v1/commands/{cmd['id']}/cancel", ch, 202)
    assert asked["status"] == "running" and asked["cancel_requested"] is True
    done = await _until(http, live, ch, cmd["id"], lambda s: s["status"] in TERMINAL, 3.0)
    assert time.monotonic() - start < 30  # the step's 60 s wait was interrupted, not served
    assert done["status"] == "cancelled" and done["current_step"] == 1
    lines = _lines(done)
    assert "never" not in lines and lines[-1] == "cancelled after 1 step(s)"


async def test_a_dead_workers_command_is_taken_over_or_failed(live, http, ch):
    await _import(
        http,
        live,
        ch,
        [
            {
                "name": "two",
                "steps": [
                    {"action": "log", "message": "first"},
                    {"action": "log", "message": "second"},
                ],
            }
        ],
    )
    db = live.app[DB]
    orphan = await _create(http, live, ch, "two")
    doomed = await _create(http, live, ch, "two")
    # As a worker that died after step 1 leaves them: running, lease expired.
    for cmd, attempts in ((orphan, 1), (doomed, 3)):
        await db.execute(
            "UPDATE commands SET status='running', queued_at=now(), started_at=now(),"
            " current_step=1, attempts=$2, lease_owner='gone:1:0',"
            " lease_until=now() - interval '1 second' WHERE id=$1::uuid",
            cmd["id"],
            attempts,
        )
    done = await _until(http, live, ch, orphan["id"], lambda s: s["status"] in TERMINAL)
    assert done["status"] == "succeeded" and done["attempts"] == 2
    lines = _lines(done)
    assert "first" not in lines and "second" in lines  # resumed at step 2
    assert any(line.startswith("taken over by") and "from gone:1:0" in line for line in lines)
    failed = await _until(http, live, ch, doomed["id"], lambda s: s["status"] in TERMINAL)
    assert failed["status"] == "failed" and failed["error"] == "worker died 3 times"


async def test_a_killed_hearth_worker_is_recovered(settings, aiohttp_server, http, hearth_env):
    from tests.conftest import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    s = settings.replace(issuer=url, command_workers=0)  # this server runs no workers
    server = await aiohttp_server(create_app(s), port=port)
    live = Live(url=url, app=server.app, settings=s)
    ch = await service_token(live, http, ALL)
    await _import(
        http,
        live,
        ch,
        [
            {
                "name": "slowish",
                "steps": [
                    {"action": "log", "message": "before"},
                    {"action": "wait", "seconds": 1.5},
                    {"action": "log", "message": "after"},
                ],
            }
        ],
    )
    cmd = await _create(http, live, ch, "slowish")
    env = {
        **hearth_env,
        "HEARTH_DATABASE_URL": settings.database_url,
        "HEARTH_REDIS_URL": settings.redis_url,
        "HEARTH_ISSUER": url,
        "HEARTH_DATA_DIR": settings.data_dir,
    }
    proc = subprocess.Popen(  # noqa: ASYNC220
        [str(HEARTH), "worker", "--concurrency", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        await _post(http, f"{url}/v1/commands/{cmd['id']}/execute", ch, 202)
        st = await _until(
            http, live, ch, cmd["id"], lambda s: "step 2/3: wait 1.5s" in _lines(s), 15.0
        )
        assert st["status"] == "running"
        owner = await live.app[DB].fetchval(
            "SELECT lease_owner FROM commands WHERE id=$1::uuid", cmd["id"]
        )
        assert owner.split(":")[1] == str(proc.pid)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
    # Its lease would run out in 30 s; make that now, then a worker takes the command over.
    await live.app[DB].execute(
        "UPDATE commands SET lease_until = now() - interval '1 second' WHERE id=$1::uuid", cmd["id"]
    )
    app = live.app
    routes = callable_routes(app[ENDPOINTS].values())
    workers = CommandWorkers(
        app[COMMANDS],
        flags=app[FLAGS],
        config=app[CONFIG],
        identity=app[IDENTITY],
        routes=routes,
        base_url=url,
        concurrency=1,
    )
    workers.start()
    try:
        done = await _until(http, live, ch, cmd["id"], lambda s: s["status"] in TERMINAL, 10.0)
    finally:
        await workers.stop()
    assert done["status"] == "succeeded" and done["attempts"] == 2
    lines = _lines(done)
    assert lines.count("before") == 1 and lines.count("after") == 1


async def test_export_json_and_csv(live, http, ch):
    await _import(http, live, ch, [{"name": "t", "steps": [{"action": "log", "message": "x"}]}])
    a = await _create(http, live, ch, "t")
    b = await _create(http, live, ch, "t")
    await _run(http, live, ch, a["id"])
    async with http.get(f"{live.url}/v1/commands/export", headers=ch) as resp:
        assert resp.status == 200 and resp.content_type == "application/json"
        items = await resp.json()
    assert [c["id"] for c in items] == [a["id"], b["id"]]
    assert items[0]["status"] == "succeeded" and items[1]["status"] == "pending"
    async with http.get(
        f"{live.url}/v1/commands/export", headers=ch, params={"format": "csv"}
    ) as resp:
        assert resp.status == 200 and resp.content_type == "text/csv"
        assert "commands.csv" in resp.headers["Content-Disposition"]
        rows = list(csv.DictReader(io.StringIO(await resp.text())))
    assert list(rows[0]) == [
        "id",
        "template",
        "version",
        "status",
        "triggered_by",
        "created_at",
        "started_at",
        "finished_at",
        "error",
    ]
    assert [(r["id"], r["template"], r["version"], r["status"]) for r in rows] == [
        (a["id"], "t", "1", "succeeded"),
        (b["id"], "t", "1", "pending"),
    ]
    assert rows[0]["finished_at"] and not rows[1]["started_at"]
    async with http.get(
        f"{live.url}/v1/commands/export", headers=ch, params={"format": "csv", "status": "pending"}
    ) as resp:
        assert len(list(csv.DictReader(io.StringIO(await resp.text())))) == 1
    async with http.get(
        f"{live.url}/v1/commands/export", headers=ch, params={"format": "xml"}
    ) as resp:
        assert resp.status == 400


async def test_scopes(live, http, ch):
    await _import(http, live, ch, [{"name": "t", "steps": [{"action": "log", "message": "x"}]}])
    cmd = await _create(http, live, ch, "t")
    writer = await service_token(live, http, ["command.read", "command.write"])
    reader = await service_token(live, http, ["command.read"])
    for action in ("execute", "cancel"):
        status, problem = await _post(http, f"{live.url}/v1/commands/{cmd['id']}/{action}", writer)
        assert status == 403 and "command.execute" in problem["detail"]
    await _create(http, live, reader, "t", status=403)
    await _import(http, live, reader, [], 403)
    async with http.get(f"{live.url}/v1/commands", headers=reader) as resp:
        assert resp.status == 200
    async with http.get(f"{live.url}/v1/commands") as resp:
        assert resp.status == 401
