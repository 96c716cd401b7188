"""``/v1/metrics/query`` answers the same in remote mode as in the embedded store: the same
points written to both, every aggregate with and without ``group_by`` compared window by
window (samples on window boundaries, a counter reset for ``rate``). And an Idempotency-Key
replays in remote mode without writing to the backend again."""

from __future__ import annotations

import math
import time

import aiohttp
import orjson
import pytest

from api.app import create_app
from api.keys import METRICS
from hearth_core.settings import Settings
from tests.conftest import free_port
from tests.fixtures import Live, service_token
from tests.remote.conftest import remote_settings
from tests.remote.prometheus import Prometheus

AGGS = ("avg", "sum", "min", "max", "count", "last", "rate")
STEP = 60


async def _live(aiohttp_server, settings: Settings) -> Live:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    s = settings.replace(issuer=url)
    server = await aiohttp_server(create_app(s), port=port)
    return Live(url=url, app=server.app, settings=s)


def _points(ns: str, first: int) -> list[dict]:
    """Three hosts of a counter in two regions over 8 windows: samples on window starts,
    inside, just before the next window, and a reset."""
    out = []
    for h, (host, region) in enumerate((("a", "eu"), ("b", "eu"), ("c", "us"))):
        value = 10.0 * (h + 1)
        for w in range(8):
            for offset_ms in (0, 17_250, 59_999 - h):
                # hosts differ at the end of a window: a group's latest sample is one host's
                # (on a tie each store picks a series of its own choosing)
                t_ms = (first + w * STEP) * 1000 + offset_ms
                value = 1.5 if (w, offset_ms) == (4, 17_250) else value + h + 0.25 * w + 1
                out.append(
                    {
                        "namespace": ns,
                        "name": "reqs",
                        "labels": {"host": host, "region": region},
                        "value": value,
                        "timestamp": t_ms / 1000,
                    }
                )
    return out


def _answer(body: dict) -> dict:
    return {
        tuple(sorted(r["metric"].items())): {float(t): float(v) for t, v in r["values"]}
        for r in body["data"]["result"]
    }


async def test_v1_metrics_query_answers_as_the_embedded_store(
    settings: Settings, prometheus: Prometheus, aiohttp_server, http: aiohttp.ClientSession, ns
) -> None:
    embedded = await _live(aiohttp_server, settings)
    remote = await _live(aiohttp_server, remote_settings(settings, prometheus))
    first = (int(time.time()) // STEP - 12) * STEP
    body = orjson.dumps(_points(ns, first))
    tokens = {}
    for name, lv in (("embedded", embedded), ("remote", remote)):
        tokens[name] = await service_token(lv, http, ["metrics.write", "metrics.read"])
        async with http.post(
            f"{lv.url}/v1/metrics/bulk",
            data=body,
            headers={**tokens[name], "Content-Type": "application/json"},
        ) as resp:
            assert resp.status == 200, await resp.text()
            assert (await resp.json())["accepted"] == 72

    mismatches = []
    for agg in AGGS:
        for group_by in (None, "region", "host,region"):
            params = {
                "namespace": ns,
                "name": "reqs",
                "agg": agg,
                "step": str(STEP),
                "start": str(first + 1),  # not aligned: windows are still aligned to the step
                "end": str(first + 8 * STEP),
            }
            if group_by:
                params["group_by"] = group_by
            answers = {}
            for name, lv in (("embedded", embedded), ("remote", remote)):
                async with http.get(
                    f"{lv.url}/v1/metrics/query", params=params, headers=tokens[name]
                ) as resp:
                    got = await resp.json()
                    assert resp.status == 200, (name, params, got)
                answers[name] = _answer(got)
            assert answers["embedded"], params
            e, r = answers["embedded"], answers["remote"]
            same = e.keys() == r.keys() and all(
                e[k].keys() == r[k].keys()
                and all(math.isclose(e[k][t], r[k][t], rel_tol=1e-12) for t in e[k])
                for k in e
            )
            if not same:
                mismatches.append(f"{agg} by {group_by}: embedded {e} remote {r}")
    assert not mismatches, "\n".join(mismatches)


@pytest.mark.parametrize("live", ["remote"], indirect=True)
async def test_an_idempotent_retry_is_not_sent_to_the_backend_again(
    live: Live, http: aiohttp.ClientSession, mh: dict[str, str], ns: str
) -> None:
    now = time.time()
    pts = [
        {"namespace": ns, "name": "idem", "labels": {}, "value": float(i), "timestamp": now - i}
        for i in range(20)
    ]
    registry = live.app[METRICS].registry

    def sent() -> float:
        return registry.get_sample_value("hearth_metrics_remote_write_samples_total") or 0.0

    headers = {**mh, "Content-Type": "application/json", "Idempotency-Key": f"k-{ns}"}
    answers = []
    for _ in range(2):
        async with http.post(
            f"{live.url}/v1/metrics/bulk", data=orjson.dumps(pts), headers=headers
        ) as resp:
            answers.append((resp.status, await resp.json()))
        if len(answers) == 1:
            after_first = sent()
    assert answers[0] == answers[1] and answers[0][0] == 200 and answers[0][1]["accepted"] == 20
    assert after_first >= 20 and sent() == after_first
    async with http.post(
        f"{live.url}/v1/metrics/bulk", data=orjson.dumps(pts[:5]), headers=headers
    ) as resp:
        assert resp.status == 422, await resp.text()
