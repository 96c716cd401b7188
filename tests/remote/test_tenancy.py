"""Tenant isolation: two clients mapped to namespaces ``team_a`` and ``team_b`` (admin API
``PUT /v1/metrics/tenants/{client_id}``) write series of the same names; client A then tries
to read B's through every query route with crafted queries (selectors on the namespace label,
``or``/``unless``/joins across it, aggregations by it, label_replace, subqueries, ``@`` and
offset, absent(), comments and newlines, regex alternation, the ``namespace`` parameter).

No answer may carry anything of B's (its values, its label, its metric, its namespace), and
the queries that should find A's data must find exactly it — so the test fails when isolation
breaks and when the crafted queries simply stop working. Run in remote mode (Prometheus, where
every namespace's series sit in one TSDB and only the injected matcher keeps them apart) and in
the embedded mode."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import pytest

from tests.fixtures import Live, service_client, service_token
from tests.remote.prometheus import Prometheus, SeriesKey, raw_samples, series_key
from tests.remote.protocols import RW1, prompb

Q = "/api/v1/query"
QR = "/api/v1/query_range"
S = "/api/v1/series"
L = "/api/v1/labels"
MQ = "/v1/metrics/query"
NS_LABEL = "hearth_namespace"

A_REQ_A = ("iso_requests_total", (("path", "/a"),))
A_REQ_B = ("iso_requests_total", (("path", "/b"),))
A_RW = ("iso_rw", (("src", "rw"),))
# A's series: (value at t1, value at t2); the latest is what an instant query sees.
A_SERIES: dict[SeriesKey, tuple[float, float]] = {
    A_REQ_A: (1.25, 2.5),
    A_REQ_B: (3.5, 3.75),
    A_RW: (4.25, 4.5),
}
A_LATEST = {k: v[1] for k, v in A_SERIES.items()}
A_VALUES = {v for pair in A_SERIES.values() for v in pair}
A_SUM = sum(A_LATEST.values())  # 10.75
# B's series: the same metric name and a `path` label too, plus what only B has.
B_SERIES: dict[SeriesKey, float] = {
    ("iso_requests_total", (("bsecret", "b_only"), ("path", "/a"))): 7777.25,
    ("iso_requests_total", (("path", "/b"),)): 8888.5,
    ("iso_b_only_metric", (("bsecret", "b_only"),)): 9999.75,
}
# Strings any trace of B's data in an answer would contain.
B_MARKERS = ("team_b", "b_only", "bsecret", "iso_b_only_metric", "7777", "8888", "9999")
B_VALUE_MARKERS = ("b_only", "7777", "8888", "9999")  # for error messages (they echo queries)


async def mapped_client(
    live: Live, http: aiohttp.ClientSession, admin: dict[str, str], namespace: str
) -> tuple[str, dict[str, str]]:
    """A metrics client mapped to ``namespace`` by the admin API, and its token headers."""
    client_id, _, headers = await service_client(
        live, http, ["metrics.read", "metrics.write"], name=f"tenant-{namespace}"
    )
    async with http.put(
        f"{live.url}/v1/metrics/tenants/{client_id}",
        json={"namespace": namespace},
        headers=admin,
    ) as resp:
        assert resp.status in (200, 201, 204), await resp.text()
    # The binding reaches each process's tenancy cache by NOTIFY: wait until it holds here
    # (another namespace refused), so the writes below are made as a bound client.
    deadline = time.monotonic() + 5
    while True:
        async with http.get(
            f"{live.url}/api/v1/labels", params={"namespace": "elsewhere"}, headers=headers
        ) as resp:
            if resp.status == 403:
                break
            assert resp.status == 200 and time.monotonic() < deadline, await resp.text()
        await asyncio.sleep(0.02)
    return client_id, headers


def _points(ns: str, series: dict[SeriesKey, Any], t1: int, t2: int) -> list[dict[str, Any]]:
    out = []
    for (name, labels), v in series.items():
        values = v if isinstance(v, tuple) else (v, v)
        for t, value in zip((t1, t2), values, strict=True):
            out.append(
                {
                    "namespace": ns,
                    "name": name,
                    "labels": dict(labels),
                    "value": value,
                    "timestamp": t,
                }
            )
    return out


async def _bulk(http, live: Live, headers, points) -> tuple[int, str]:
    async with http.post(
        f"{live.url}/v1/metrics/bulk",
        data=orjson.dumps(points),
        headers={**headers, "Content-Type": "application/json"},
    ) as resp:
        return resp.status, await resp.text()


# -- the answers -----------------------------------------------------------------------------


def _instant(data: Any) -> dict[SeriesKey, float]:
    assert data["resultType"] == "vector", data
    return {series_key(r["metric"]): float(r["value"][1]) for r in data["result"]}


def _empty(data: Any) -> bool:
    if isinstance(data, dict):
        return data.get("result") == []
    return data == []


def exactly_a(data: Any) -> None:
    assert _instant(data) == A_LATEST


def only(*keys: SeriesKey) -> Callable[[Any], None]:
    def check(data: Any) -> None:
        assert _instant(data) == {k: A_LATEST[k] for k in keys}

    return check


def value(x: float) -> Callable[[Any], None]:
    def check(data: Any) -> None:
        assert [v for v in _instant(data).values()] == [x]

    return check


def a_or_empty(data: Any) -> None:
    """Nothing, or some of A's series with A's values."""
    if data["resultType"] == "vector":
        got = _instant(data)
        assert all(A_LATEST.get(k) == v for k, v in got.items()), got
    else:
        for r in data["result"]:
            assert {float(v) for _, v in r["values"]} <= A_VALUES, r


def empty(data: Any) -> None:
    assert _empty(data), data


def a_values_unnamed(data: Any) -> None:
    """A's latest values, whatever the labels (a function dropped or added some)."""
    assert sorted(_instant(data).values()) == sorted(A_LATEST.values())


def counts(data: Any) -> None:
    assert _instant(data) == {("iso_requests_total", ()): 2.0, ("iso_rw", ()): 1.0}


def a_range(data: Any) -> None:
    assert data["resultType"] == "matrix", data
    got = {series_key(r["metric"]): {float(v) for _, v in r["values"]} for r in data["result"]}
    assert set(got) == set(A_SERIES), got
    for key, values in got.items():
        assert values <= set(A_SERIES[key]), (key, values)


def small_range(data: Any) -> None:
    """A non-empty matrix whose values are sums of A's (B's would add thousands)."""
    assert data["resultType"] == "matrix" and data["result"], data
    for r in data["result"]:
        assert all(0 < float(v) <= A_SUM for _, v in r["values"]), r


def a_series(data: Any) -> None:
    assert sorted(series_key(s) for s in data) == sorted(A_SERIES)


def equals(items: list[str]) -> Callable[[Any], None]:
    def check(data: Any) -> None:
        assert sorted(data) == items

    return check


def within(items: list[str]) -> Callable[[Any], None]:
    def check(data: Any) -> None:
        assert set(data) <= set(items), data

    return check


def mq_a(data: Any) -> None:
    got = {series_key(r["metric"]): {float(v) for _, v in r["values"]} for r in data["result"]}
    assert set(got) == {A_REQ_A, A_REQ_B}, got
    for key, values in got.items():
        assert values and values <= set(A_SERIES[key]), (key, values)


def mq_small(data: Any) -> None:
    assert data["result"], data
    for r in data["result"]:
        assert all(0 < float(v) <= A_SUM for _, v in r["values"]), r


@dataclass(frozen=True)
class Case:
    id: str
    path: str
    params: list[tuple[str, str]]
    check: Callable[[Any], None] | None  # None: must be refused (403)
    may_refuse: bool = False  # a 400/422 (a query the engine will not run) is an answer too
    post: bool = False


def cases(now: float, t1: int, t2: int) -> list[Case]:
    start, end = str(t1 / 1000 - 1), str(now)
    rng = [("start", start), ("end", end), ("step", "5")]
    mq = [("start", str(int(t1 / 1000) - 60)), ("end", str(int(now) + 1)), ("step", "60")]
    mq += [("agg", "last")]

    def q(i: str, query: str, check: Callable[[Any], None] | None, **kw: Any) -> Case:
        return Case(i, Q, [("query", query)], check, **kw)

    return [
        q("all names", '{__name__=~".+"}', exactly_a),
        q("namespace = b", '{hearth_namespace="team_b"}', empty, may_refuse=True),
        q("namespace =~ .* with a name", '{__name__=~".+", hearth_namespace=~".*"}', exactly_a),
        q("namespace =~ .* alone", '{hearth_namespace=~".*"}', a_or_empty, may_refuse=True),
        q("namespace != a", '{hearth_namespace!="team_a"}', a_or_empty, may_refuse=True),
        q("named, namespace != a", 'iso_requests_total{hearth_namespace!="team_a"}', a_or_empty),
        q("or on() across", 'up or on() {hearth_namespace="team_b"}', empty, may_refuse=True),
        q(
            "or with b's selector",
            'iso_rw or {__name__=~"iso_.*", hearth_namespace="team_b"}',
            only(A_RW),
        ),
        q("sum by namespace", 'sum by (hearth_namespace) ({__name__=~".+"})', value(A_SUM)),
        q(
            "label_replace copies the namespace",
            'label_replace({__name__=~".+"}, "ns", "$1", "hearth_namespace", "(.*)")',
            a_values_unnamed,
        ),
        q("subquery", 'max_over_time({__name__=~".+"}[10m:5s])', a_values_unnamed),
        q("offset", '{__name__=~".+"} offset 5s', exactly_a),
        q("@", f'{{__name__=~".+"}} @ {t2 / 1000}', exactly_a),
        q("absent of b's metric", "absent(iso_b_only_metric)", value(1.0)),
        q("absent of b's label", 'absent(iso_requests_total{bsecret=~"b.+"})', value(1.0)),
        q("count by name", 'count by (__name__)({__name__=~".+"})', counts),
        q("count all", 'count({__name__=~".+"})', value(3.0)),
        q("unless", '{__name__=~".+"} unless {hearth_namespace="team_a"}', a_or_empty),
        q("comment", '{__name__=~".+"} # or {hearth_namespace="team_b"}', exactly_a),
        q("newlines", 'sum(\n  {__name__=~"iso_.*"}\n)\n', value(A_SUM)),
        q(
            "namespace alternation",
            '{__name__=~".+", hearth_namespace=~"team_a|team_b"}',
            a_or_empty,
        ),
        q(
            "name alternation",
            '{__name__=~"iso_requests_total|iso_b_only_metric"}',
            only(A_REQ_A, A_REQ_B),
        ),
        q(
            "join to b",
            "iso_requests_total * on(path) group_left() "
            '{__name__="iso_requests_total", hearth_namespace="team_b"}',
            empty,
            may_refuse=True,
        ),
        q("b's label", '{bsecret=~".+"}', empty, may_refuse=True),
        q(
            "quotes inside a value",
            '{path="x\\"} or {hearth_namespace=\\"team_b"}',
            empty,
            may_refuse=True,
        ),
        Case("range: all names", QR, [("query", '{__name__=~".+"}'), *rng], a_range),
        Case(
            "range: sum by namespace",
            QR,
            [("query", 'sum by (hearth_namespace) ({__name__=~".+"})'), *rng],
            small_range,
        ),
        Case("series: all", S, [("match[]", '{__name__=~".+"}')], a_series),
        Case("series: b", S, [("match[]", '{hearth_namespace="team_b"}')], empty, True),
        Case(
            "series: or'ed selectors",
            S,
            [("match[]", '{__name__=~".+"}'), ("match[]", '{hearth_namespace=~"team_b"}')],
            a_series,
        ),
        Case("labels", L, [], equals(["__name__", "path", "src"])),
        Case("labels of b", L, [("match[]", '{hearth_namespace="team_b"}')], empty, True),
        Case("namespace values", f"/api/v1/label/{NS_LABEL}/values", [], within(["team_a"])),
        Case(
            "name values",
            "/api/v1/label/__name__/values",
            [],
            equals(["iso_requests_total", "iso_rw"]),
        ),
        Case("b's label values", "/api/v1/label/bsecret/values", [], equals([])),
        Case(
            "path values, namespace regex",
            "/api/v1/label/path/values",
            [("match[]", '{hearth_namespace=~".+"}')],
            within(["/a", "/b"]),
        ),
        Case(
            "own namespace named",
            Q,
            [("query", '{__name__=~".+"}'), ("namespace", "team_a")],
            exactly_a,
        ),
        Case("query: namespace=b", Q, [("query", "iso_rw"), ("namespace", "team_b")], None),
        Case(
            "query POST: namespace=b",
            Q,
            [("query", "iso_rw"), ("namespace", "team_b")],
            None,
            post=True,
        ),
        Case(
            "query: namespace a and b",
            Q,
            [("query", "iso_rw"), ("namespace", "team_a"), ("namespace", "team_b")],
            None,
            may_refuse=True,
        ),
        Case("range: namespace=b", QR, [("query", "iso_rw"), *rng, ("namespace", "team_b")], None),
        Case("series: namespace=b", S, [("match[]", "iso_rw"), ("namespace", "team_b")], None),
        Case("labels: namespace=b", L, [("namespace", "team_b")], None),
        Case("values: namespace=b", "/api/v1/label/path/values", [("namespace", "team_b")], None),
        Case("/v1/metrics/query", MQ, [("name", "iso_requests_total"), *mq], mq_a),
        Case(
            "/v1/metrics/query grouped by namespace",
            MQ,
            [("name", "iso_requests_total"), ("group_by", NS_LABEL), *mq],
            mq_small,
        ),
        Case("/v1/metrics/query b's metric", MQ, [("name", "iso_b_only_metric"), *mq], empty),
        Case(
            "/v1/metrics/query matching b",
            MQ,
            [("name", "iso_requests_total"), ("match", f'{NS_LABEL}="team_b"'), *mq],
            empty,
            may_refuse=True,
        ),
        Case(
            "/v1/metrics/query namespace=b",
            MQ,
            [("name", "iso_requests_total"), ("namespace", "team_b"), *mq],
            None,
        ),
    ]


async def _run(http, live: Live, headers, case: Case) -> tuple[int, bytes]:
    url = f"{live.url}{case.path}"
    if case.post:
        ctx = http.post(url, data=case.params, headers=headers)
    else:
        ctx = http.get(url, params=case.params, headers=headers)
    async with ctx as resp:
        return resp.status, await resp.read()


def _judge(case: Case, status: int, raw: bytes) -> None:
    text = raw.decode(errors="replace")
    if case.check is None:
        assert status == 403 or (case.may_refuse and status == 400), (status, text)
        assert not any(m in text for m in B_VALUE_MARKERS), text
        return
    if status != 200:
        assert case.may_refuse and status in (400, 422), (status, text)
        assert not any(m in text for m in B_VALUE_MARKERS), text
        return
    leaked = [m for m in B_MARKERS if m in text]
    assert not leaked, (leaked, text)
    body = orjson.loads(raw)
    data = body["data"]
    if case.path != MQ:
        assert body["status"] == "success", body
        for r in data.get("result", []) if isinstance(data, dict) else data:
            labels = r.get("metric", r) if isinstance(r, dict) else {}
            assert NS_LABEL not in labels, r  # the namespace label never reaches a client
    case.check(data)


@pytest.mark.parametrize("live", ["remote", "postgres"], indirect=True)
async def test_a_mapped_client_never_reads_another_namespace(
    live: Live, http: aiohttp.ClientSession, prometheus: Prometheus
) -> None:
    admin = await service_token(live, http, ["auth.admin"])
    a_id, a = await mapped_client(live, http, admin, "team_a")
    b_id, b = await mapped_client(live, http, admin, "team_b")
    async with http.get(f"{live.url}/v1/metrics/tenants", headers=admin) as resp:
        assert resp.status == 200, await resp.text()
        listed = orjson.loads(await resp.read())
    items = listed["items"] if isinstance(listed, dict) else listed
    assert {(i["client_id"], i["namespace"]) for i in items} >= {(a_id, "team_a"), (b_id, "team_b")}

    now_ms = time.time_ns() // 1_000_000
    t1, t2 = now_ms - 30_000, now_ms - 20_000
    a_bulk = {k: v for k, v in A_SERIES.items() if k != A_RW}
    assert (await _bulk(http, live, a, _points("team_a", a_bulk, t1, t2)))[0] == 200
    # Remote write without ?namespace=: a mapped client's samples go to its namespace.
    rw = prompb.body(
        prompb.v1([([("__name__", "iso_rw"), ("src", "rw")], [(4.25, t1), (4.5, t2)])])
    )
    async with http.post(f"{live.url}/api/v1/write", data=rw, headers={**a, **RW1}) as resp:
        assert resp.status == 204, await resp.text()
    assert (await _bulk(http, live, b, _points("team_b", B_SERIES, t1, t2)))[0] == 200

    # B reads its own data: there is something to leak.
    status, raw = await _run(http, live, b, Case("b", Q, [("query", '{__name__=~".+"}')], None))
    assert status == 200, raw
    assert _instant(orjson.loads(raw)["data"]) == B_SERIES

    # Writing into another namespace is refused too.
    status, text = await _bulk(http, live, a, _points("team_b", {A_RW: (1.0, 1.0)}, t1, t2))
    assert status == 403, text
    async with http.post(
        f"{live.url}/api/v1/write?namespace=team_b", data=rw, headers={**a, **RW1}
    ) as resp:
        assert resp.status == 403, await resp.text()

    if live.settings.metrics_store == "remote":  # both namespaces are in the one backend
        stored = await raw_samples(http, prometheus, '{hearth_namespace=~"team_a|team_b"}')
        assert {k[1] for k in stored} >= {
            tuple(sorted((*labels, (NS_LABEL, "team_b")))) for _, labels in B_SERIES
        }
        assert len(stored) == len(A_SERIES) + len(B_SERIES), stored

    crafted = cases(time.time(), t1, t2)
    assert len(crafted) >= 40
    failures = []
    for case in crafted:
        status, raw = await _run(http, live, a, case)
        try:
            _judge(case, status, raw)
        except AssertionError as exc:
            failures.append(f"{case.id} {case.path} {case.params}: {status} {exc}")
    assert not failures, "\n".join(failures)
