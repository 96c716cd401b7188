"""InfluxDB line protocol end to end, with real senders: influxdb-client's v2 write API
(synchronous) and curl on the v1 /write; samples read back with SQL (``metrics(ns)``)."""

from __future__ import annotations

import asyncio
import base64
import gzip
import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from api.keys import DB, INGEST
from tests.fixtures import Live, free_port, service_token

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BASE_S = int(time.time()) - 3600  # an hour ago: inside retention, not in the future
UNIT_US = {"ns": 0.001, "us": 1, "ms": 1_000, "s": 1_000_000}


def token_of(mh: dict[str, str]) -> str:
    return mh["Authorization"].removeprefix("Bearer ")


async def rows(live: Live, namespace: str) -> list[tuple[str, dict[str, str], float, int]]:
    """(name, labels, value, time_us) of every sample of ``namespace``, sorted."""
    found = await live.app[DB].fetch(
        'SELECT name, labels, value, "timestamp" FROM metrics($1)', namespace
    )
    out = []
    for r in found:
        labels = r["labels"] if isinstance(r["labels"], dict) else orjson.loads(r["labels"])
        out.append(
            (r["name"], labels, r["value"], (r["timestamp"] - EPOCH) // timedelta(microseconds=1))
        )
    return sorted(out, key=lambda x: (x[0], sorted(x[1].items()), x[3]))


def client_write(live: Live, token: str, bucket: str, record: Any, precision: str) -> None:
    """One synchronous write through influxdb-client (blocking: run it in a thread)."""
    with InfluxDBClient(url=live.url, token=token, org="hearth") as client:
        client.write_api(write_options=SYNCHRONOUS).write(
            bucket=bucket, record=record, write_precision=precision
        )


async def curl(*args: str) -> tuple[int, bytes]:
    """Run the real curl; its HTTP status and body."""
    proc = await asyncio.create_subprocess_exec(
        "curl",
        "-sS",
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err
    body, _, status = out.rpartition(b"\n")
    return int(status), body


async def test_influxdb_client_points_and_lines_at_each_precision(live, mh):
    token = token_of(mh)
    writes = []  # (record, precision) as the client sends them
    want = []
    for unit, precision in [
        ("ns", WritePrecision.NS),
        ("us", WritePrecision.US),
        ("ms", WritePrecision.MS),
        ("s", WritePrecision.S),
    ]:
        per_s = round(1_000_000 / UNIT_US[unit])
        t = BASE_S * per_s + (per_s - 1)  # the last tick of a second: tests the flooring
        time_us = t // 1000 if unit == "ns" else t * round(UNIT_US[unit])
        points = [
            Point("cpu")
            .tag("host", "web 1")
            .tag("unit", unit)
            .field("usage", 0.25)
            .field("procs", 42)
            .field("up", True)
            .time(t, precision),
            Point("cpu")
            .tag("host", "db,2")
            .tag("unit", unit)
            .field("usage", -1.5e-3)
            .time(t, precision),
        ]
        # The same client posting line protocol strings it did not build.
        lines = [f"mem,unit={unit} used=7i,free=3.5 {t}", f"mem,unit={unit} used=8i {t + per_s}"]
        writes += [(points, precision), (lines, precision)]
        want += [
            ("cpu_usage", {"host": "web 1", "unit": unit}, 0.25, time_us),
            ("cpu_procs", {"host": "web 1", "unit": unit}, 42.0, time_us),
            ("cpu_up", {"host": "web 1", "unit": unit}, 1.0, time_us),
            ("cpu_usage", {"host": "db,2", "unit": unit}, -1.5e-3, time_us),
            ("mem_used", {"unit": unit}, 7.0, time_us),
            ("mem_free", {"unit": unit}, 3.5, time_us),
            ("mem_used", {"unit": unit}, 8.0, time_us + 1_000_000),
        ]
    for record, precision in writes:
        await asyncio.to_thread(client_write, live, token, "influx_v2", record, precision)
    got = await rows(live, "influx_v2")
    assert got == sorted(want, key=lambda x: (x[0], sorted(x[1].items()), x[3]))
    # Every write again (a sender's retry, explicit timestamps): nothing is stored twice.
    for record, precision in writes:
        await asyncio.to_thread(client_write, live, token, "influx_v2", record, precision)
    assert await rows(live, "influx_v2") == got


async def test_influxdb_client_sees_a_partial_write_as_400_naming_the_line(live, mh):
    token = token_of(mh)
    t = BASE_S * 10**9
    body = "\n".join(
        [
            f"disk,dev=sda free=1 {t}",
            f"disk,dev=sdb free= {t}",  # no value
            f'disk,dev=sdc free=3,model="X1" {t}',  # a string field: free kept, model rejected
            f"disk,dev=sdd free=4 {t}",
        ]
    )
    with pytest.raises(ApiException) as caught:
        await asyncio.to_thread(client_write, live, token, "influx_bad", body, WritePrecision.NS)
    assert caught.value.status == 400
    answer = orjson.loads(caught.value.body)
    assert answer["code"] == "invalid"
    assert answer["message"] == (
        f"partial write: line 2: unable to parse 'disk,dev=sdb free= {t}': No fields were provided;"
        " 3 samples written, 2 rejected dropped=2"
    )
    got = await rows(live, "influx_bad")
    assert [(labels["dev"], v) for _, labels, v, _ in got] == [
        ("sda", 1.0),
        ("sdc", 3.0),
        ("sdd", 4.0),
    ]


async def test_v1_write_with_curl_basic_query_and_gzip(live, mh, tmp_path: Path):
    token = token_of(mh)
    url = f"{live.url}/write?db=influx_v1&precision=s"
    plain = tmp_path / "plain.lp"
    plain.write_text(f"net,if=eth0 rx=10i,tx=20i {BASE_S}\nnet,if=eth1 rx=11i {BASE_S}\n")
    packed = tmp_path / "packed.lp.gz"
    packed.write_bytes(gzip.compress(f"net,if=eth2 rx=12u {BASE_S}\n".encode()))
    query = tmp_path / "query.lp"
    query.write_text(f"# written with ?u=&p=\nnet,if=eth3 rx=13 {BASE_S}\n")
    requests = [
        ("-u", f"telegraf:{token}", "--data-binary", f"@{plain}", url),
        (
            "-u",
            f"telegraf:{token}",
            "--data-binary",
            f"@{packed}",
            "-H",
            "Content-Encoding: gzip",
            url,
        ),
        ("--data-binary", f"@{query}", f"{url}&u=telegraf&p={token}"),
    ]
    for args in requests:
        status, body = await curl(*args)
        assert (status, body) == (204, b"")
    want = [
        ("net_rx", {"if": "eth0"}, 10.0),
        ("net_rx", {"if": "eth1"}, 11.0),
        ("net_rx", {"if": "eth2"}, 12.0),
        ("net_rx", {"if": "eth3"}, 13.0),
        ("net_tx", {"if": "eth0"}, 20.0),
    ]
    got = await rows(live, "influx_v1")
    assert got == [(*w, BASE_S * 1_000_000) for w in want]
    # The same requests again (a sender's retry): nothing is stored twice.
    for args in requests:
        assert (await curl(*args))[0] == 204
    assert await rows(live, "influx_v1") == got
    assert await live.app[DB].fetchval("SELECT count(*) FROM metrics('influx_v1')") == 5

    # A bad line: 400 in InfluxDB 1.x's shape, naming it; the good line is stored.
    bad = tmp_path / "bad.lp"
    bad.write_text(f"net,if=eth4 rx=14i {BASE_S}\nnet,if=eth5 rx=15i {BASE_S} trailing\n")
    status, body = await curl("-u", f"telegraf:{token}", "--data-binary", f"@{bad}", url)
    assert status == 400
    error = orjson.loads(body)["error"]
    assert error.startswith("partial write: line 2: unable to parse 'net,if=eth5 rx=15i")
    assert error.endswith("; 1 sample written, 1 rejected dropped=1")
    assert len(await rows(live, "influx_v1")) == 6


async def test_namespace_from_tag_then_query_then_bucket(live, http, mh):
    async def post(query: str, body: str) -> int:
        async with http.post(f"{live.url}/api/v2/write?{query}", data=body, headers=mh) as r:
            return r.status

    assert await post("bucket=b_bucket", "a,hearth_namespace=b_tag v=1\na v=2") == 204
    assert await post("bucket=b_bucket&namespace=b_query", "a v=3") == 204
    assert await post("org=x", "a v=4") == 204
    assert [r[2] for r in await rows(live, "b_tag")] == [1.0]
    assert [r[2] for r in await rows(live, "b_bucket")] == [2.0]
    assert [r[2] for r in await rows(live, "b_query")] == [3.0]
    assert [r[2] for r in await rows(live, live.settings.metrics_default_namespace)] == [4.0]
    # The tag is the namespace, not a label.
    assert (await rows(live, "b_tag"))[0][1] == {}


async def test_bad_requests_answer_in_influxdb_shape(live, http, mh):
    async def post(path: str, body: bytes | str, headers: dict[str, str]) -> tuple[int, dict]:
        async with http.post(f"{live.url}{path}", data=body, headers=headers) as r:
            return r.status, await r.json(content_type=None)

    status, answer = await post("/api/v2/write?bucket=my-bucket", "m v=1", mh)
    assert status == 400 and answer["code"] == "invalid"
    assert answer["message"].startswith("invalid query parameter query.bucket: ")
    status, answer = await post("/api/v2/write?precision=m", "m v=1", mh)
    assert status == 400 and "query.precision" in answer["message"]
    status, answer = await post("/write?precision=x", "m v=1", mh)
    assert status == 400 and "query.precision" in answer["error"]
    status, answer = await post("/api/v2/write", "m v=1", {**mh, "Content-Encoding": "br"})
    assert (status, answer["code"]) == (415, "unsupported media type")
    status, answer = await post("/api/v2/write", b"not gzip", {**mh, "Content-Encoding": "gzip"})
    assert status == 400 and "gzip" in answer["message"]
    # Too old and a string field: 400, counted; the one good sample stored.
    old = (BASE_S - 60 * 86_400) * 10**9
    body = f'm,host=a v=1,s="x" {BASE_S * 10**9}\nm,host=a v=2 {old}'
    status, answer = await post("/api/v2/write?bucket=b_old", body, mh)
    assert status == 400
    assert answer["message"] == (
        "partial write: line 1: field s: string values are not stored; 1 sample written,"
        " 2 rejected (1 older than the 30-day retention) dropped=2"
    )
    assert [r[2] for r in await rows(live, "b_old")] == [1.0]


async def test_tokens_where_each_route_takes_them(live, http, mh, caplog):
    token = token_of(mh)

    async def post(path: str, headers: dict[str, str]) -> tuple[int, dict]:
        async with http.post(f"{live.url}{path}", data="m v=1", headers=headers) as r:
            return r.status, await r.json(content_type=None)

    status, answer = await post("/api/v2/write", {})
    assert (status, answer["code"]) == (401, "unauthorized")
    assert "Authorization: Token <token>" in answer["message"]
    assert (await post("/api/v2/write", {"Authorization": f"Token {token}"}))[0] == 204
    assert (await post("/api/v2/write", mh))[0] == 204
    # v1's ways are v1's only: not on v2, not on the rest of the API.
    basic = {"Authorization": "Basic " + base64.b64encode(f"u:{token}".encode()).decode()}
    assert (await post("/api/v2/write", basic))[0] == 401
    assert (await post(f"/api/v2/write?p={token}", {}))[0] == 401
    assert (await post("/write", basic))[0] == 204
    assert (await post("/write", {"Authorization": "Basic not-base64!"}))[0] == 401
    no_password = base64.b64encode(token.encode()).decode()  # no "user:" part
    assert (await post("/write", {"Authorization": f"Basic {no_password}"}))[0] == 401
    status, answer = await post("/write?u=x&p=wrong", {})
    assert status == 401 and "error" in answer
    async with http.get(
        f"{live.url}/v1/metrics/ingest-status", headers={"Authorization": f"Token {token}"}
    ) as r:
        assert r.status == 401
    # A token without metrics.write: 403 in the route's shape.
    other = await service_token(live, http, ["metrics.read"])
    status, answer = await post("/api/v2/write", other)
    assert (status, answer["code"]) == (403, "forbidden")
    # The token never reaches the logs, not even from the query string.
    caplog.set_level(logging.DEBUG)
    assert (await post(f"/write?u=x&p={token}", {}))[0] == 204
    assert caplog.records
    for record in caplog.records:
        assert token not in record.getMessage()
        assert token not in repr(record.__dict__)


async def test_at_capacity_is_503_with_retry_after(live, http, mh):
    batcher = live.app[INGEST].batcher
    batcher.inflight = batcher.budget  # as if other requests filled the budget
    try:
        async with http.post(f"{live.url}/api/v2/write", data="m v=1", headers=mh) as r:
            assert r.status == 503
            assert r.headers["Retry-After"] == "1"
            assert (await r.json())["code"] == "unavailable"
    finally:
        batcher.inflight = 0


async def test_body_limits_are_413(settings, aiohttp_server, http):
    from api.app import create_app

    port = free_port()
    s = settings.replace(issuer=f"http://127.0.0.1:{port}", metrics_max_body_bytes=4096)
    server = await aiohttp_server(create_app(s), port=port)
    lv = Live(url=f"http://127.0.0.1:{port}", app=server.app, settings=s)
    headers = await service_token(lv, http, ["metrics.write"])
    bomb = gzip.compress(b"m v=1\n" * 10_000)  # 60 kB inflated, past 8 x 4096
    for body, extra in [(b"m v=1\n" * 1000, {}), (bomb, {"Content-Encoding": "gzip"})]:
        async with http.post(
            f"{lv.url}/api/v2/write", data=body, headers={**headers, **extra}
        ) as r:
            assert r.status == 413
            assert (await r.json())["code"] == "request too large"
    assert await lv.app[DB].fetchval("SELECT count(*) FROM metrics") == 0
