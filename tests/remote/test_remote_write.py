"""Remote mode, write and read: every ingest protocol's points, sent through Hearth, are in
Prometheus — read back from Prometheus's own API — with their exact values (bits), their times
in milliseconds (finer parts floored) and their labels plus the namespace label; and Hearth's
own query routes (the Prometheus API and /v1/metrics/query) give the same points back without
the namespace label, as the embedded store does for the same writes."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import aiohttp
import orjson
import pytest

from tests.fixtures import Live
from tests.remote.prometheus import (
    Prometheus,
    Samples,
    SeriesKey,
    exact,
    raw_samples,
    series_key,
    series_of,
)
from tests.remote.protocols import PROTOCOLS, RW1, Point, prompb, rw_series, send

NS_LABEL = "hearth_namespace"
# Values a lossy path would change: a tenth, denormal-adjacent and huge ones, π, 1e21 (a
# float printed in exponent form by some encoders), a value with 17 significant digits.
VALUES = (0.1, -2.5, 1e-300, 1.7976931348623157e308, math.pi, 42.0, 1e21, 123456.78901234567)


def base_ms() -> int:
    """A whole second two minutes ago: recent enough for Prometheus's head (it refuses
    samples an hour older than the newest it holds)."""
    return (time.time_ns() // 1_000_000_000 - 120) * 1000


def points(base: int, *, nonfinite: bool = False) -> list[Point]:
    h0 = (("dc", "eu"), ("host", "h0"))
    h1 = (("dc", "eu"), ("host", "h1"))
    out = [Point("rq", "total", h0, base + i * 1000, v) for i, v in enumerate(VALUES)]
    out += [Point("rq", "total", h1, base + i * 1000, -v) for i, v in enumerate(VALUES[:3])]
    out += [Point("room", "temp", (), base + i * 1000, 20 + i / 8) for i in range(4)]
    if nonfinite:
        inf = (("dc", "eu"), ("host", "inf"))
        out += [
            Point("rq", "total", inf, base, math.inf),
            Point("rq", "total", inf, base + 1000, -math.inf),
        ]
    return out


def expected(pts: Sequence[Point], ns: str | None) -> Samples:
    """``{series: {ms: value}}`` of ``pts``, the namespace label added when ``ns`` is given."""
    out: Samples = {}
    for p in pts:
        labels = p.labels + (((NS_LABEL, ns),) if ns else ())
        out.setdefault((p.name, tuple(sorted(labels))), {})[p.ms] = p.value
    return out


def token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
async def test_every_protocol_arrives_in_prometheus_exactly(
    live: Live, http, mh, prometheus: Prometheus, ns, protocol
) -> None:
    proto = PROTOCOLS[protocol]
    pts = points(base_ms(), nonfinite=proto.nonfinite)
    status, headers, body = await send(http, live.url, proto.encode(pts, ns, token(mh)))
    proto.ok(status, headers, body, len(pts))
    # Acknowledged means stored: read at once, from Prometheus itself.
    stored = await raw_samples(http, prometheus, f'{{{NS_LABEL}="{ns}"}}')
    assert exact(stored) == exact(expected(pts, ns)), prometheus.log_tail()


async def test_namespaces_of_one_request_are_each_labelled(
    live: Live, http, mh, prometheus: Prometheus, ns
) -> None:
    """A JSON body names a namespace per point; a remote-write series may carry the namespace
    label itself (it wins over ?namespace=): each sample lands under its own namespace."""
    base = base_ms()
    body = orjson.dumps(
        [
            {
                "namespace": f"{ns}_a",
                "name": "multi",
                "labels": {},
                "value": 1.5,
                "timestamp": base,
            },
            {
                "namespace": f"{ns}_b",
                "name": "multi",
                "labels": {},
                "value": 2.5,
                "timestamp": base,
            },
        ]
    )
    headers = {**mh, "Content-Type": "application/json"}
    async with http.post(f"{live.url}/v1/metrics/bulk", data=body, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
    rw = prompb.body(
        prompb.v1(
            [
                ([("__name__", "multi"), (NS_LABEL, f"{ns}_c")], [(3.5, base)]),
                ([("__name__", "multi")], [(4.5, base)]),
            ]
        )
    )
    async with http.post(
        f"{live.url}/api/v1/write?namespace={ns}_d", data=rw, headers={**mh, **RW1}
    ) as resp:
        assert resp.status == 204, await resp.text()
    stored = await raw_samples(http, prometheus, f'multi{{{NS_LABEL}=~"{ns}_.*"}}')
    assert stored == {
        ("multi", ((NS_LABEL, f"{ns}_{x}"),)): {base: v}
        for x, v in (("a", 1.5), ("b", 2.5), ("c", 3.5), ("d", 4.5))
    }


# -- reading back through Hearth -------------------------------------------------------------


async def _prom_api(
    http: aiohttp.ClientSession, live: Live, mh, path: str, params: dict[str, Any]
) -> Any:
    async with http.get(f"{live.url}{path}", params=params, headers=mh) as resp:
        body = await resp.json()
        assert resp.status == 200 and body["status"] == "success", body
        return body["data"]


def _matrix(data: dict[str, Any]) -> Samples:
    assert data["resultType"] == "matrix", data
    return {
        series_key(r["metric"]): {round(float(t) * 1000): float(v) for t, v in r["values"]}
        for r in data["result"]
    }


def _no_namespace_label(data: Any) -> None:
    assert NS_LABEL not in orjson.dumps(data).decode(), data


@pytest.mark.parametrize("live", ["remote", "postgres"], indirect=True)
async def test_hearths_query_routes_give_the_points_back(
    live: Live, http, mh, prometheus: Prometheus, ns
) -> None:
    """Written by remote write (millisecond times, as both stores keep them), read through
    every query route of Hearth: the same answers in remote mode and in the embedded mode."""
    base = base_ms()
    pts = points(base)
    body = prompb.body(prompb.v1(rw_series(pts)))
    async with http.post(
        f"{live.url}/api/v1/write?namespace={ns}", data=body, headers={**mh, **RW1}
    ) as resp:
        assert resp.status == 204, await resp.text()
    want = expected(pts, None)
    last = max(p.ms for p in pts)
    q = {"namespace": ns}

    # Raw samples: a range vector at an instant query.
    data = await _prom_api(
        http,
        live,
        mh,
        "/api/v1/query",
        q | {"query": '{__name__=~".+"}[1h]', "time": f"{time.time() + 60:.3f}"},
    )
    _no_namespace_label(data)
    assert exact(_matrix(data)) == exact(want)

    # A range query: every step falls on a sample time; between samples (and after the last
    # sample of a series, within the 5 min lookback) the latest value holds.
    data = await _prom_api(
        http,
        live,
        mh,
        "/api/v1/query_range",
        q | {"query": "rq_total", "start": base / 1000, "end": last / 1000, "step": "1s"},
    )
    _no_namespace_label(data)
    steps = range(base, last + 1, 1000)
    held: Samples = {}
    for key, samples in want.items():
        if key[0] != "rq_total":
            continue
        held[key] = {
            t: samples[max(s for s in samples if s <= t)] for t in steps if min(samples) <= t
        }
    assert exact(_matrix(data)) == exact(held)

    # Series, label names, label values.
    span = {"start": base / 1000 - 60, "end": time.time() + 60}
    series = await _prom_api(
        http, live, mh, "/api/v1/series", q | span | {"match[]": '{__name__=~".+"}'}
    )
    assert sorted(series_key(s) for s in series) == sorted(want)
    assert sorted(await _prom_api(http, live, mh, "/api/v1/labels", q | span)) == [
        "__name__",
        "dc",
        "host",
    ]
    host = await _prom_api(http, live, mh, "/api/v1/label/host/values", q | span)
    assert sorted(host) == ["h0", "h1"]
    names = await _prom_api(http, live, mh, "/api/v1/label/__name__/values", q | span)
    assert sorted(names) == ["room_temp", "rq_total"]
    # The namespace label's own values: none, or only the namespace asked for.
    assert await _prom_api(http, live, mh, f"/api/v1/label/{NS_LABEL}/values", q | span) in (
        [],
        [ns],
    )

    # /v1/metrics/query: the last value of each 1 s window, keyed by the window's start.
    params = q | {
        "name": "rq_total",
        "agg": "last",
        "step": "1",
        "start": str(base // 1000),
        "end": str(last // 1000 + 1),
    }
    async with http.get(f"{live.url}/v1/metrics/query", params=params, headers=mh) as resp:
        body = await resp.json()
        assert resp.status == 200, body
    _no_namespace_label(body)
    got = {
        series_key(r["metric"]): {int(float(t)) * 1000: float(v) for t, v in r["values"]}
        for r in body["data"]["result"]
    }
    assert exact(got) == exact({k: v for k, v in want.items() if k[0] == "rq_total"})


async def test_prometheus_holds_what_hearth_answers(
    live: Live, http, mh, prometheus: Prometheus, ns
) -> None:
    """Remote mode forwards: Hearth's /api/v1/series is Prometheus's own answer for the
    namespace, without the namespace label."""
    pts = points(base_ms())
    status, headers, body = await send(http, live.url, PROTOCOLS["json"].encode(pts, ns, token(mh)))
    PROTOCOLS["json"].ok(status, headers, body, len(pts))
    direct = await series_of(http, prometheus, f'{{{NS_LABEL}="{ns}"}}')
    assert direct and all(s[NS_LABEL] == ns for s in direct)
    now = time.time()
    via = await _prom_api(
        http,
        live,
        mh,
        "/api/v1/series",
        {"namespace": ns, "match[]": '{__name__=~".+"}', "start": now - 7200, "end": now + 60},
    )
    strip: list[SeriesKey] = sorted(
        series_key({k: v for k, v in s.items() if k != NS_LABEL}) for s in direct
    )
    assert sorted(series_key(s) for s in via) == strip
