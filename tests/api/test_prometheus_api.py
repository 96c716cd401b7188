"""The Prometheus query API on a real server: samples written through POST /api/v1/write (the
remote-write route), read back through /api/v1/query, query_range, series, labels, label
values, metadata and buildinfo — GET and form-encoded POST, Prometheus's envelope, every error
class in Prometheus's shape (bad_data 400, execution 422, timeout 503, and the middlewares'
401/403/413/429), namespaces kept apart — and Debian's promtool 2.42 as a client.

PromQL's own correctness (functions, operators, against a real Prometheus) is tested
elsewhere; here the plumbing: parameters, planning, fetching, the envelope."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from api.app import create_app
from api.keys import DB
from tests import prompb
from tests.conftest import free_port
from tests.fixtures import Live, service_token

PROMTOOL = "/usr/bin/promtool"  # Debian's prometheus package (scripts/system-deps.sh)
RW = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}
STEP_MS = 15_000
SAMPLES = 81  # 20 minutes every 15 s


@pytest.fixture
async def mh(live: Live, http: aiohttp.ClientSession) -> dict[str, str]:
    """Authorization headers of a client allowed to write and read metrics."""
    return await service_token(live, http, ["metrics.write", "metrics.read"])


async def write(http, live: Live, mh, series, query: str = "") -> None:
    body = prompb.body(prompb.v1(series))
    async with http.post(
        f"{live.url}/api/v1/write{query}", data=body, headers={**mh, **RW}
    ) as resp:
        assert resp.status == 204, await resp.text()


@dataclass(frozen=True)
class Data:
    """What :func:`data` wrote: t0 (ms, minute-aligned) and the sample times t0 + i·15 s."""

    t0: int

    def t(self, i: int) -> int:
        return self.t0 + i * STEP_MS


@pytest.fixture
async def data(live: Live, http, mh) -> Data:
    """Counters ``c{job,instance}`` (api: 10·i, web: 5·i), a gauge ``g{room="x"}`` (20 + i mod
    3), an ``old`` series five days back, and ``c{job="secret"}`` in namespace ``other``."""
    t0 = (time.time_ns() // 60_000_000_000) * 60_000 - 30 * 60_000
    times = [t0 + i * STEP_MS for i in range(SAMPLES)]
    await write(
        http,
        live,
        mh,
        [
            (
                [("__name__", "c"), ("job", "api"), ("instance", "a")],
                [(10.0 * i, t) for i, t in enumerate(times)],
            ),
            (
                [("__name__", "c"), ("job", "web"), ("instance", "b")],
                [(5.0 * i, t) for i, t in enumerate(times)],
            ),
            ([("__name__", "g"), ("room", "x")], [(20.0 + i % 3, t) for i, t in enumerate(times)]),
            ([("__name__", "old"), ("job", "gone")], [(1.0, t0 - 5 * 86_400_000)]),
        ],
    )
    await write(
        http,
        live,
        mh,
        [([("__name__", "c"), ("job", "secret")], [(7.0, t) for t in times])],
        query="?namespace=other",
    )
    return Data(t0)


async def call(
    http, live: Live, headers, path: str, params=None, *, post: bool = False
) -> tuple[int, dict[str, Any], Any]:
    """(status, headers, JSON body) of GET with ``params`` in the query string, or POST with
    them form-encoded."""
    url = f"{live.url}{path}"
    if post:
        ctx = http.post(url, data=params or {}, headers=headers)
    else:
        ctx = http.get(url, params=params or {}, headers=headers)
    async with ctx as resp:
        assert resp.content_type == "application/json", await resp.text()
        return resp.status, dict(resp.headers), json.loads(await resp.read())


async def ok(http, live, headers, path, params=None, *, post: bool = False) -> Any:
    status, _, body = await call(http, live, headers, path, params, post=post)
    assert status == 200, body
    assert body["status"] == "success" and "warnings" not in body, body
    return body["data"]


async def both(http, live, headers, path, params=None) -> Any:
    """The data of GET and of form-encoded POST, which must agree."""
    got = await ok(http, live, headers, path, params)
    assert await ok(http, live, headers, path, params, post=True) == got
    return got


async def error(http, live, headers, path, params=None, *, post=False) -> tuple[int, str, str]:
    status, _, body = await call(http, live, headers, path, params, post=post)
    assert body["status"] == "error" and set(body) == {"status", "errorType", "error"}, body
    return status, body["errorType"], body["error"]


# ---------------------------------------------------------------- build info and metadata


async def test_buildinfo_is_prometheus_2_42_served_by_hearth(live, http, mh) -> None:
    info = await both(http, live, mh, "/api/v1/status/buildinfo")
    assert info["version"] == "2.42.0"
    assert info["branch"] == "hearth" and info["revision"].startswith("hearth-")
    assert set(info) == {"version", "revision", "branch", "buildUser", "buildDate", "goVersion"}


async def test_metadata_answers_each_metric_name_with_type_unknown(live, http, mh, data) -> None:
    unknown = [{"type": "unknown", "help": "", "unit": ""}]
    assert await both(http, live, mh, "/api/v1/metadata") == {
        "c": unknown,
        "g": unknown,
        "old": unknown,
    }
    assert await both(http, live, mh, "/api/v1/metadata", {"metric": "g"}) == {"g": unknown}
    assert await both(http, live, mh, "/api/v1/metadata", {"metric": "nope"}) == {}
    assert await both(http, live, mh, "/api/v1/metadata", {"limit": "2"}) == {
        "c": unknown,
        "g": unknown,
    }
    assert len(await ok(http, live, mh, "/api/v1/metadata", {"limit": "-1"})) == 3
    assert await ok(http, live, mh, "/api/v1/metadata", {"namespace": "other"}) == {"c": unknown}
    assert await error(http, live, mh, "/api/v1/metadata", {"limit": "x"}) == (
        400,
        "bad_data",
        "limit must be a number",
    )


# ---------------------------------------------------------------- series, labels, values


def _recent(d: Data) -> dict[str, str]:
    """start/end over the last hour (the old series lies outside), in both time spellings."""
    start = datetime.fromtimestamp((d.t0 - 600_000) / 1000, UTC).isoformat().replace("+00:00", "Z")
    return {"start": start, "end": str(time.time() + 60)}


async def test_series_by_match_selectors(live, http, mh, data) -> None:
    api_a = {"__name__": "c", "instance": "a", "job": "api"}
    web_b = {"__name__": "c", "instance": "b", "job": "web"}
    gauge = {"__name__": "g", "room": "x"}
    old = {"__name__": "old", "job": "gone"}
    series = "/api/v1/series"
    assert await both(http, live, mh, series, {"match[]": "c"}) == [api_a, web_b]
    assert await both(http, live, mh, series, {"match[]": 'c{job!="web"}'}) == [api_a]
    # Several match[]: the union, sorted as Prometheus sorts label sets.
    got = await both(http, live, mh, series, [("match[]", "g"), ("match[]", 'c{instance="b"}')])
    assert got == [web_b, gauge]
    assert await both(http, live, mh, series, {"match[]": '{__name__=~"c|g", job!~"a.*"}'}) == [
        web_b,
        gauge,
    ]
    # Regexes PostgreSQL cannot be trusted with are applied by the engine alone.
    assert await both(http, live, mh, series, {"match[]": '{job=~"(?i)API|\\\\w{3}b"}'}) == [api_a]
    assert await both(http, live, mh, series, {"match[]": '{job=~"we."}'}) == [web_b]
    # A label that is absent matches "".
    assert await both(http, live, mh, series, {"match[]": '{__name__=~".+", job=""}'}) == [gauge]
    # Without start and end all time, with them only the series with samples in the range.
    assert await both(http, live, mh, series, {"match[]": '{job="gone"}'}) == [old]
    assert await both(http, live, mh, series, {"match[]": '{job="gone"}', **_recent(data)}) == []
    recent = await both(http, live, mh, series, {"match[]": '{__name__=~".+"}', **_recent(data)})
    assert recent == [api_a, web_b, gauge]
    assert await both(http, live, mh, series, {"match[]": "nothing_here"}) == []


async def test_labels_and_label_values(live, http, mh, data) -> None:
    labels = "/api/v1/labels"
    assert await both(http, live, mh, labels) == ["__name__", "instance", "job", "room"]
    assert await both(http, live, mh, labels, {"match[]": 'c{job="api"}'}) == [
        "__name__",
        "instance",
        "job",
    ]
    assert await both(http, live, mh, labels, {"match[]": "nothing_here"}) == []
    assert await both(http, live, mh, labels, _recent(data)) == [
        "__name__",
        "instance",
        "job",
        "room",
    ]
    names = "/api/v1/label/__name__/values"
    assert await both(http, live, mh, names) == ["c", "g", "old"]
    assert await both(http, live, mh, names, _recent(data)) == ["c", "g"]
    jobs = "/api/v1/label/job/values"
    assert await both(http, live, mh, jobs) == ["api", "gone", "web"]
    assert await both(http, live, mh, jobs, _recent(data)) == ["api", "web"]
    assert await both(http, live, mh, jobs, {"match[]": 'c{instance="b"}'}) == ["web"]
    assert await both(http, live, mh, jobs, {"match[]": "g"}) == []
    assert await both(http, live, mh, "/api/v1/label/nolabel/values") == []


async def test_lookup_errors_name_the_parameter_as_prometheus_does(live, http, mh) -> None:
    assert await error(http, live, mh, "/api/v1/series") == (
        400,
        "bad_data",
        "no match[] parameter provided",
    )
    status, kind, msg = await error(http, live, mh, "/api/v1/series", {"match[]": "rate(c[5m])"})
    assert (status, kind) == (400, "bad_data") and msg.startswith('invalid parameter "match[]": ')
    status, kind, msg = await error(http, live, mh, "/api/v1/series", {"match[]": '{job=""}'})
    assert (status, kind) == (400, "bad_data") and "non-empty matcher" in msg
    # labels and label values name no parameter for a bad match[] (as Prometheus).
    status, kind, msg = await error(http, live, mh, "/api/v1/labels", {"match[]": "c{"})
    assert (status, kind) == (400, "bad_data") and msg.startswith("parse error")
    for path in ("/api/v1/series", "/api/v1/labels", "/api/v1/label/job/values"):
        got = await error(http, live, mh, path, {"match[]": "c", "start": "yesterday"})
        assert got == (
            400,
            "bad_data",
            "invalid parameter \"start\": Invalid time value for 'start': "
            'cannot parse "yesterday" to a valid timestamp',
        )
        got = await error(http, live, mh, path, {"match[]": "c", "end": "1e400"}, post=True)
        assert got[2].startswith('invalid parameter "end": ')
    assert await error(http, live, mh, "/api/v1/label/1x/values") == (
        400,
        "bad_data",
        'invalid label name: "1x"',
    )
    assert await error(http, live, mh, "/api/v1/labels", {"namespace": "no spaces"}) == (
        400,
        "bad_data",
        'invalid parameter "namespace": must be 1 to 200 characters matching '
        "^[A-Za-z_:][A-Za-z0-9_:.]{0,199}$",
    )


async def test_namespaces_are_kept_apart(live, http, mh, data) -> None:
    other = {"namespace": "other"}
    assert await both(http, live, mh, "/api/v1/label/job/values", other) == ["secret"]
    assert await both(http, live, mh, "/api/v1/series", {"match[]": "c", **other}) == [
        {"__name__": "c", "job": "secret"}
    ]
    assert "secret" not in await both(http, live, mh, "/api/v1/label/job/values")
    assert await both(http, live, mh, "/api/v1/labels", {"namespace": "empty_ns"}) == []
    # The namespace may come from the form body too (Grafana's custom query parameters).
    vector = await ok(
        http,
        live,
        mh,
        "/api/v1/query",
        {"query": "c", "time": str(data.t(10) / 1000), **other},
        post=True,
    )
    assert vector["result"] == [
        {"metric": {"__name__": "c", "job": "secret"}, "value": [data.t(10) / 1000, "7"]}
    ]
    default = await both(
        http,
        live,
        mh,
        "/api/v1/query",
        {"query": 'c{job="secret"}', "time": str(data.t(10) / 1000)},
    )
    assert default == {"resultType": "vector", "result": []}


# ---------------------------------------------------------------- PromQL queries


def _points(d: Data, values: list[tuple[int, str]]) -> list[list[Any]]:
    return [[d.t(i) / 1000, v] for i, v in values]


async def test_instant_query(live, http, mh, data) -> None:
    t = data.t(40)
    rfc3339 = datetime.fromtimestamp(t / 1000, UTC).isoformat().replace("+00:00", "Z")
    api_a = {"__name__": "c", "instance": "a", "job": "api"}
    for when in (str(t / 1000), rfc3339, f"{t / 1000:.3f}"):
        got = await both(http, live, mh, "/api/v1/query", {"query": 'c{job="api"}', "time": when})
        assert got == {
            "resultType": "vector",
            "result": [{"metric": api_a, "value": [t / 1000, "400"]}],
        }
    # Between samples the latest one before counts (up to the 5-minute lookback).
    got = await both(
        http, live, mh, "/api/v1/query", {"query": 'c{job="api"}', "time": str((t + 7_000) / 1000)}
    )
    assert got["result"][0]["value"] == [(t + 7_000) / 1000, "400"]
    got = await both(
        http, live, mh, "/api/v1/query", {"query": "sum by (job) (c)", "time": str(t / 1000)}
    )
    assert sorted(got["result"], key=lambda r: r["metric"]["job"]) == [
        {"metric": {"job": "api"}, "value": [t / 1000, "400"]},
        {"metric": {"job": "web"}, "value": [t / 1000, "200"]},
    ]
    scalar = await both(http, live, mh, "/api/v1/query", {"query": "1 + 1.5", "time": "100"})
    assert scalar == {"resultType": "scalar", "result": [100, "2.5"]}
    string = await both(http, live, mh, "/api/v1/query", {"query": '"hi"', "time": "100"})
    assert string == {"resultType": "string", "result": [100, "hi"]}
    # Without time: now, which is past the last sample's lookback (10 minutes ago).
    assert (await both(http, live, mh, "/api/v1/query", {"query": "c"}))["result"] == []


async def test_range_query(live, http, mh, data) -> None:
    params = {
        "query": 'c{job="api"}',
        "start": str(data.t(0) / 1000),
        "end": str(data.t(4) / 1000),
        "step": "30s",
    }
    want = {
        "resultType": "matrix",
        "result": [
            {
                "metric": {"__name__": "c", "instance": "a", "job": "api"},
                "values": _points(data, [(0, "0"), (2, "20"), (4, "40")]),
            }
        ],
    }
    assert await both(http, live, mh, "/api/v1/query_range", params) == want
    # The step as float seconds, the times as RFC 3339.
    iso = {k: datetime.fromtimestamp(float(params[k]), UTC).isoformat() for k in ("start", "end")}
    assert (
        await both(http, live, mh, "/api/v1/query_range", {**params, **iso, "step": "30"}) == want
    )
    rate = await both(
        http,
        live,
        mh,
        "/api/v1/query_range",
        {
            **params,
            "query": 'rate(c{job="api"}[1m])',
            "start": str(data.t(8) / 1000),
            "end": str(data.t(12) / 1000),
            "step": "1m",
        },
    )
    values = rate["result"][0]["values"]
    assert [v[0] for v in values] == [data.t(8) / 1000, data.t(12) / 1000]
    assert all(math.isclose(float(v[1]), 10 / 15) for v in values)  # 10 per 15 s


async def test_compacted_samples_answer_the_same(live, http, mh, data) -> None:
    """Right after the write the samples are in the write log; once the compactor has moved
    them into chunks the answers are the same."""
    params = {
        "query": "sum(c)",
        "start": str(data.t(0) / 1000),
        "end": str(data.t(80) / 1000),
        "step": "5m",
    }
    before = await ok(http, live, mh, "/api/v1/query_range", params)
    await _compacted(live)
    assert await live.app[DB].fetchval("SELECT count(*) FROM metric_chunks") > 0
    assert await ok(http, live, mh, "/api/v1/query_range", params) == before
    # The time filter of the lookups reads chunk time spans now.
    names = "/api/v1/label/__name__/values"
    assert await ok(http, live, mh, names, _recent(data)) == ["c", "g"]
    assert await ok(http, live, mh, names) == ["c", "g", "old"]
    assert before["result"][0]["values"] == _points(
        data, [(0, "0"), (20, "300"), (40, "600"), (60, "900"), (80, "1200")]
    )


async def _compacted(live: Live) -> None:
    for _ in range(200):
        if not await live.app[DB].fetchval("SELECT count(*) FROM metric_log"):
            return
        await asyncio.sleep(0.1)
    pytest.fail("the compactor did not drain the write log")


async def test_a_stored_chunk_that_does_not_decode_is_500_internal(live, http, mh, data) -> None:
    await _compacted(live)
    await live.app[DB].execute(
        "UPDATE metric_chunks SET data = '\\x00ff'::bytea WHERE series_id IN"
        " (SELECT series_id FROM metric_series WHERE labels->>'job' = 'api')"
    )
    params = {"query": "sum(c)", "time": str(data.t(40) / 1000)}
    status, kind, msg = await error(http, live, mh, "/api/v1/query", params)
    assert (status, kind) == (500, "internal")
    assert msg.startswith("stored samples cannot be read: chunks[")
    # The other series still answer.
    got = await ok(http, live, mh, "/api/v1/query", {**params, "query": 'c{job="web"}'})
    assert got["result"][0]["value"] == [data.t(40) / 1000, "200"]


async def test_query_parameter_errors(live, http, mh) -> None:
    q, qr = "/api/v1/query", "/api/v1/query_range"
    base = {"query": "c", "start": "100", "end": "200", "step": "15s"}
    cases = [
        (
            qr,
            {**base, "start": ""},
            'invalid parameter "start": cannot parse "" to a valid timestamp',
        ),
        (
            qr,
            {**base, "end": "noon"},
            'invalid parameter "end": cannot parse "noon" to a valid timestamp',
        ),
        (
            qr,
            {**base, "end": "99"},
            'invalid parameter "end": end timestamp must not be before start time',
        ),
        (
            qr,
            {**base, "step": "5x"},
            'invalid parameter "step": cannot parse "5x" to a valid duration',
        ),
        (
            qr,
            {**base, "step": "0"},
            'invalid parameter "step": zero or negative query resolution step widths are not '
            "accepted. Try a positive integer",
        ),
        (
            qr,
            {**base, "step": "-1m"},
            'invalid parameter "step": cannot parse "-1m" to a valid duration',
        ),
        (
            qr,
            {**base, "end": "11101", "step": "1"},
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the "
            "query resolution (?step=XX)",
        ),
        (
            qr,
            {**base, "timeout": "soon"},
            'invalid parameter "timeout": cannot parse "soon" to a valid duration',
        ),
        (
            q,
            {"query": "c", "time": "x"},
            'invalid parameter "time": Invalid time value for \'time\': cannot parse "x" to a valid timestamp',
        ),
        (
            q,
            {"query": "c", "timeout": "1e300"},
            'invalid parameter "timeout": cannot parse "1e300" to a valid duration. It overflows int64',
        ),
    ]
    for path, params, message in cases:
        for post in (False, True):
            assert await error(http, live, mh, path, params, post=post) == (
                400,
                "bad_data",
                message,
            )
    # 11,000 points are fine, one more is not.
    assert (await ok(http, live, mh, qr, {**base, "end": "11100", "step": "1"}))[
        "resultType"
    ] == "matrix"


async def test_queries_that_do_not_parse_are_bad_data(live, http, mh) -> None:
    status, kind, msg = await error(http, live, mh, "/api/v1/query", {"query": "sum(c"})
    assert (status, kind) == (400, "bad_data") and msg.startswith('invalid parameter "query": ')
    # query_range names no parameter (as Prometheus).
    params = {"query": "sum(c", "start": "1", "end": "2", "step": "1"}
    status, kind, msg = await error(http, live, mh, "/api/v1/query_range", params, post=True)
    assert (status, kind) == (400, "bad_data") and not msg.startswith("invalid parameter")
    status, kind, _ = await error(http, live, mh, "/api/v1/query", {})
    assert (status, kind) == (400, "bad_data")


async def test_a_query_past_its_timeout_is_503(live, http, mh, data) -> None:
    params = {"query": "c", "time": str(data.t(10) / 1000), "timeout": "0s"}
    assert await error(http, live, mh, "/api/v1/query", params) == (
        503,
        "timeout",
        "query timed out in query execution",
    )
    # A generous timeout is capped by HEARTH_PROMQL_TIMEOUT_S, not refused.
    params["timeout"] = "10h"
    assert (await ok(http, live, mh, "/api/v1/query", params))["resultType"] == "vector"


@pytest.fixture
async def tight(settings, aiohttp_server, http) -> tuple[Live, dict[str, str]]:
    """A server with small PromQL limits: 100 samples per query, 2 series per selector."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    s = settings.replace(
        issuer=url, promql_max_samples=100, promql_max_series=2, promql_max_query_bytes=64
    )
    server = await aiohttp_server(create_app(s), port=port)
    live = Live(url=url, app=server.app, settings=s)
    return live, await service_token(live, http, ["metrics.write", "metrics.read"])


async def test_limits_answer_422_execution(tight, http) -> None:
    live, headers = tight
    t0 = (time.time_ns() // 1_000_000) - 600_000
    await write(
        http,
        live,
        headers,
        [
            ([("__name__", "m"), ("i", str(k))], [(1.0, t0 + j * 1000) for j in range(60)])
            for k in range(3)
        ],
    )
    at = str((t0 + 59_000) / 1000)
    status, kind, msg = await error(
        http, live, headers, "/api/v1/query", {"query": "m", "time": at}
    )
    assert (status, kind) == (422, "execution")
    assert (
        msg == 'the selector {__name__="m"} matches more than 2 series (HEARTH_PROMQL_MAX_SERIES)'
    )
    status, kind, msg = await error(http, live, headers, "/api/v1/series", {"match[]": "m"})
    assert (status, kind) == (422, "execution") and "more than 2 series" in msg
    # Two series of 60 samples each: over the 100-sample limit.
    params = {"query": 'sum(m{i!="2"})', "time": at}
    status, kind, msg = await error(http, live, headers, "/api/v1/query", params)
    assert (status, kind) == (422, "execution")
    assert msg.startswith("query processing would load too many samples into memory")
    # One is within it.
    got = await ok(http, live, headers, "/api/v1/query", {"query": 'm{i="1"}', "time": at})
    assert got["result"][0]["value"] == [float(at), "1"]
    # Of several selectors, the one over the series limit is named: read in one statement
    # (one time range) or step by step (two ranges: the offset).
    for query in ('count(m{i="0"}) + count(m)', 'count(m{i="0"} offset 1m) + count(m)'):
        status, kind, msg = await error(
            http, live, headers, "/api/v1/query", {"query": query, "time": at}
        )
        assert (status, kind) == (422, "execution")
        assert msg.startswith('the selector {__name__="m"} matches more than 2 series'), msg
    # Once compacted, the sample limit is checked on the chunk rows, before any is read.
    await _compacted(live)
    for query in ('sum(m{i!="2"})', 'sum(m{i!="2"}) + sum(m{i!="2"} offset 1m)'):
        status, kind, msg = await error(
            http, live, headers, "/api/v1/query", {"query": query, "time": at}
        )
        assert (status, kind) == (422, "execution")
        assert msg.startswith("query processing would load too many samples into memory")
    got = await ok(http, live, headers, "/api/v1/query", {"query": 'm{i="1"}', "time": at})
    assert got["result"][0]["value"] == [float(at), "1"]
    # A query text over HEARTH_PROMQL_MAX_QUERY_BYTES is refused before parsing.
    long = "+".join(["1"] * 40)
    for path, extra in (
        ("/api/v1/query", {}),
        ("/api/v1/query_range", {"start": at, "end": at, "step": "1"}),
    ):
        status, kind, msg = await error(http, live, headers, path, {"query": long, **extra})
        assert (status, kind) == (400, "bad_data") and "longer than 64 bytes" in msg, msg


# ---------------------------------------------------------------- auth, size and rate limits


async def test_auth_errors_in_prometheus_shape(live, http, mh) -> None:
    status, headers, body = await call(http, live, {}, "/api/v1/labels")
    assert status == 401 and body["status"] == "error" and body["errorType"] == "unauthorized"
    assert headers["WWW-Authenticate"].startswith("Bearer")
    status, _, body = await call(
        http, live, {"Authorization": "Bearer nope"}, "/api/v1/query", {"query": "1"}
    )
    assert status == 401 and body["errorType"] == "unauthorized"
    writer = await service_token(live, http, ["metrics.write"])
    status, headers, body = await call(
        http, live, writer, "/api/v1/series", {"match[]": "c"}, post=True
    )
    assert (status, body["errorType"]) == (403, "forbidden")
    assert body["error"] == "the token lacks scope metrics.read"
    assert 'scope="metrics.read"' in headers["WWW-Authenticate"]
    # HTTP Basic with the token as the password (promtool 2.42's only way; Grafana's too).
    token = mh["Authorization"].removeprefix("Bearer ")
    basic = "Basic " + base64.b64encode(f"grafana:{token}".encode()).decode()
    assert await ok(http, live, {"Authorization": basic}, "/api/v1/labels") == []


async def test_a_form_body_over_1_mib_is_413(live, http, mh) -> None:
    body = io.BytesIO(b"time=1&query=" + b"c" * (1 << 20))
    headers = {**mh, "Content-Type": "application/x-www-form-urlencoded"}
    async with http.post(f"{live.url}/api/v1/query", data=body, headers=headers) as resp:
        assert resp.status == 413
        got = await resp.json()
    assert got == {"status": "error", "errorType": "bad_data", "error": got["error"]}
    assert "limit of 1048576 bytes" in got["error"]


async def test_the_api_rate_limit_answers_429_in_prometheus_shape(live, http, mh) -> None:
    admin = await service_token(live, http, ["ratelimit.write"])
    async with http.put(
        f"{live.url}/v1/ratelimits/api/prometheus",
        headers=admin,
        json={"limit": 2, "window_sec": 60},
    ) as resp:
        assert resp.status in (200, 201), await resp.text()
    statuses = []
    for _ in range(3):
        status, headers, body = await call(http, live, mh, "/api/v1/status/buildinfo")
        statuses.append(status)
    assert statuses == [200, 200, 429]
    assert body == {"status": "error", "errorType": "unavailable", "error": body["error"]}
    assert "rate limit" in body["error"] and int(headers["Retry-After"]) >= 1


# ---------------------------------------------------------------- promtool 2.42


async def promtool(*args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        PROMTOOL,
        "query",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, (out + err).decode()
    return out.decode()


async def test_promtool_queries_hearth(live, http, mh, data) -> None:
    """promtool 2.42 has no --http.config.file: it authenticates with the token as the Basic
    password in the server URL (query range also takes --header)."""
    token = mh["Authorization"].removeprefix("Bearer ")
    server = live.url.replace("http://", f"http://promtool:{token}@")
    t = data.t(40) / 1000
    out = await promtool("instant", f"--time={t}", server, 'c{job="api"}')
    assert out.strip() == f'c{{instance="a", job="api"}} => 400 @[{int(t)}]'
    out = await promtool("instant", "-o", "json", f"--time={t}", server, "sum by (job) (c)")
    assert sorted(json.loads(out), key=lambda r: r["metric"]["job"]) == [
        {"metric": {"job": "api"}, "value": [t, "400"]},
        {"metric": {"job": "web"}, "value": [t, "200"]},
    ]
    out = await promtool(
        "range",
        "-o",
        "json",
        f"--header=Authorization={mh['Authorization']}",
        f"--start={data.t(0) / 1000}",
        f"--end={data.t(4) / 1000}",
        "--step=30s",
        live.url,
        'c{job="web"}',
    )
    assert json.loads(out) == [
        {
            "metric": {"__name__": "c", "instance": "b", "job": "web"},
            "values": _points(data, [(0, "0"), (2, "10"), (4, "20")]),
        }
    ]
    out = await promtool("series", "--match=c", "--match=g", server)
    assert out.splitlines() == [
        '{__name__="c", instance="a", job="api"}',
        '{__name__="c", instance="b", job="web"}',
        '{__name__="g", room="x"}',
    ]
    assert (await promtool("labels", server, "job")).splitlines() == ["api", "gone", "web"]
    assert (await promtool("labels", server, "__name__")).splitlines() == ["c", "g", "old"]


async def test_the_routes_are_in_the_openapi_document(live, http) -> None:
    async with http.get(f"{live.url}/openapi.json") as resp:
        doc = await resp.json()
    for path in (
        "/api/v1/query",
        "/api/v1/query_range",
        "/api/v1/series",
        "/api/v1/labels",
        "/api/v1/label/{name}/values",
        "/api/v1/metadata",
        "/api/v1/status/buildinfo",
    ):
        for method in ("get", "post"):
            op = doc["paths"][path][method]
            assert op["x-scope"] == "metrics.read"
            assert [next(iter(s)) for s in op["security"]] == ["oauth2", "bearer", "basic"]
            assert "content" not in op["responses"]["401"]  # Prometheus's shape, not problem+json
    form = doc["paths"]["/api/v1/series"]["post"]["requestBody"]["content"]
    schema = form["application/x-www-form-urlencoded"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert "match[]" in doc["components"]["schemas"][schema]["required"]
    params = {p["name"] for p in doc["paths"]["/api/v1/query_range"]["get"]["parameters"]}
    assert params == {"query", "start", "end", "step", "timeout", "namespace"}
