"""Analytics: every aggregation and step equals a reference computed from the raw points."""

from __future__ import annotations

import itertools
import math
import random
import time
from collections import defaultdict

import orjson
import pytest

from api.keys import INGEST

NOW = int(time.time())
HOSTS = [("a", "eu"), ("b", "eu"), ("c", "us")]


def _reference(points, *, start, end, step, agg, group_by, matcher=lambda labels: True):
    first = math.floor(start / step) * step
    hi = math.ceil(end / step) * step
    lo = first - (step if agg == "rate" else 0)
    per_series = defaultdict(lambda: defaultdict(list))  # series -> t -> [(ts, v)]
    for p in points:
        if not matcher(p["labels"]) or not (lo <= p["timestamp"] < hi):
            continue
        key = tuple(sorted(p["labels"].items()))
        t = math.floor(p["timestamp"] / step) * step
        per_series[key][t].append((p["timestamp"], p["value"]))
    groups = defaultdict(lambda: defaultdict(list))  # group -> t -> per-series stats
    for key, windows in per_series.items():
        labels = dict(key)
        gkey = tuple((g, labels.get(g)) for g in group_by) if group_by is not None else key
        for t, samples in windows.items():
            if t < first:
                continue
            vals = [v for _, v in samples]
            last = max(samples)[1]
            stat = {
                "sum": sum(vals),
                "count": len(vals),
                "min": min(vals),
                "max": max(vals),
                "last": last,
                "last_time": max(samples)[0],
            }
            if agg == "rate":
                prev = windows.get(t - step)
                if not prev:
                    continue
                # each sample adds its increase over the one before; a drop is a reset
                seq = [v for _, v in [max(prev), *sorted(samples)]]
                inc = sum(b - a if b >= a else b for a, b in itertools.pairwise(seq))
                stat["rate"] = inc / step
            groups[gkey][t].append(stat)
    out = {}
    for gkey, windows in groups.items():
        series = {}
        for t, stats in windows.items():
            if agg == "avg":
                series[t] = sum(s["sum"] for s in stats) / sum(s["count"] for s in stats)
            elif agg in ("sum", "count", "rate"):
                series[t] = sum(s[agg] for s in stats)
            elif agg == "min":
                series[t] = min(s["min"] for s in stats)
            elif agg == "max":
                series[t] = max(s["max"] for s in stats)
            else:
                series[t] = max(stats, key=lambda s: s["last_time"])["last"]
        out[gkey] = sorted(series.items())
    return out


async def _load(http, live, mh, points):
    for i in range(0, len(points), 2000):
        async with http.post(
            f"{live.url}/v1/metrics/bulk",
            data=orjson.dumps(points[i : i + 2000]),
            headers={**mh, "Content-Type": "application/json"},
        ) as resp:
            assert resp.status == 200, await resp.text()


async def _query(http, live, mh, **params):
    params = {k: v for k, v in params.items() if v is not None}
    async with http.get(f"{live.url}/v1/metrics/query", headers=mh, params=params) as resp:
        body = await resp.json(content_type=None)
        assert resp.status == 200, body
        return body


def _as_dict(body, group_by):
    out = {}
    for r in body["data"]["result"]:
        m = {k: v for k, v in r["metric"].items() if k != "__name__"}
        key = (
            tuple((g, m.get(g)) for g in group_by)
            if group_by is not None
            else tuple(sorted(m.items()))
        )
        out[key] = [(t, v) for t, v in r["values"]]
    return out


@pytest.fixture
async def gauge(live, http, mh):
    rng = random.Random(11)
    points = [
        {
            "namespace": "app",
            "name": "temp",
            "labels": {"host": h, "dc": dc},
            "value": round(rng.uniform(-50, 50), 3),
            "timestamp": NOW - rng.uniform(0, 2 * 86400),
        }
        for _ in range(6000)
        for h, dc in [rng.choice(HOSTS)]
    ]
    await _load(http, live, mh, points)
    await live.app[INGEST].compactor.catch_up()  # whole-hour steps read the hourly rollups
    return points


async def test_queries_equal_the_reference_for_random_ranges_and_steps(live, http, mh, gauge):
    rng = random.Random(5)
    sources = set()
    for i in range(24):
        step = rng.choice([60, 120, 300, 3600, 7200, 45, 600])
        span = rng.uniform(step * 3, min(2 * 86400, step * 400))
        start = NOW - rng.uniform(span, 2 * 86400)
        end = start + span
        agg = ["avg", "sum", "min", "max", "count", "last"][i % 6]
        group_by = [None, ["dc"], []][i % 3]
        body = await _query(
            http,
            live,
            mh,
            namespace="app",
            name="temp",
            start=str(start),
            end=str(end),
            step=str(step),
            agg=agg,
            group_by=None if group_by is None else ",".join(group_by),
        )
        sources.add(body["source"])
        got = _as_dict(body, group_by)
        want = _reference(gauge, start=start, end=end, step=step, agg=agg, group_by=group_by)
        assert got.keys() == want.keys(), (step, agg, group_by)
        for key in want:
            assert [t for t, _ in got[key]] == [t for t, _ in want[key]]
            assert [v for _, v in got[key]] == pytest.approx(
                [v for _, v in want[key]], rel=1e-9, abs=1e-9
            )
    assert sources == {"metric_rollup_1h", "metric_chunks"}


async def test_label_matchers(live, http, mh, gauge):
    start, end, step = NOW - 86400, NOW, 3600
    cases = [
        (['host="a"'], lambda lb: lb["host"] == "a"),
        (['dc!="eu"'], lambda lb: lb["dc"] != "eu"),
        (['host=~"a|b"'], lambda lb: lb["host"] in ("a", "b")),
        (
            ['host!~"a.*"', 'dc="eu"'],
            lambda lb: not lb["host"].startswith("a") and lb["dc"] == "eu",
        ),
    ]
    for match, pred in cases:
        body = await _query(
            http,
            live,
            mh,
            namespace="app",
            name="temp",
            start=str(start),
            end=str(end),
            step=str(step),
            agg="sum",
            match=match,
        )
        want = _reference(
            gauge, start=start, end=end, step=step, agg="sum", group_by=None, matcher=pred
        )
        got = _as_dict(body, None)
        assert got.keys() == want.keys(), match
    async with http.get(
        f"{live.url}/v1/metrics/query",
        headers=mh,
        params={"namespace": "app", "name": "temp", "match": 'host=~"(unclosed"'},
    ) as resp:
        assert resp.status == 400
        assert (await resp.json(content_type=None))["errors"][0]["path"] == "query.match[0]"


async def test_rate_across_a_counter_reset(live, http, mh):
    base = NOW - 3 * 3600
    values, v = [], 0.0
    for i in range(600):  # one sample every 10 s; reset to 0 at sample 300
        v = 0.0 if i == 300 else v + 5.0
        values.append(
            {
                "namespace": "app",
                "name": "requests_total",
                "labels": {"host": "a"},
                "value": v,
                "timestamp": base + i * 10,
            }
        )
    await _load(http, live, mh, values)
    for step in (60, 300, 30):
        body = await _query(
            http,
            live,
            mh,
            namespace="app",
            name="requests_total",
            start=str(base),
            end=str(base + 6000),
            step=str(step),
            agg="rate",
        )
        got = _as_dict(body, None)
        want = _reference(values, start=base, end=base + 6000, step=step, agg="rate", group_by=None)
        (key,) = want.keys()
        assert [v for _, v in got[key]] == pytest.approx([v for _, v in want[key]])
        assert all(v >= 0 for _, v in got[key])  # the reset never shows as a negative rate
        assert max(v for _, v in got[key]) == pytest.approx(0.5)


async def test_limits_and_defaults(live, http, mh, gauge):
    async with http.get(
        f"{live.url}/v1/metrics/query",
        headers=mh,
        params={
            "namespace": "app",
            "name": "temp",
            "start": str(NOW - 86400),
            "end": str(NOW),
            "step": "1",
        },
    ) as resp:
        assert resp.status == 400  # 86 400 points per series
        assert (await resp.json(content_type=None))["errors"][0]["path"] == "query.step"
    body = await _query(
        http,
        live,
        mh,
        namespace="app",
        name="temp",
        start="2026-11-25T00:00:00Z",
        end="2026-11-26T00:00:00Z",
    )
    assert body["step"] == 600  # 24 h / 250 rounded up to a readable step
    async with http.get(
        f"{live.url}/v1/metrics/series",
        headers=mh,
        params={"namespace": "app", "match": 'dc="eu"', "limit": "1"},
    ) as resp:
        page = await resp.json()
    assert (
        page["total"] == 2 and len(page["items"]) == 1 and page["items"][0]["labels"]["dc"] == "eu"
    )
