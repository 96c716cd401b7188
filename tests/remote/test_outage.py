"""Remote mode when the backend fails: Prometheus stopped → every ingest route answers 503 with
Retry-After in its own error shape and the query routes 503 in Prometheus's; Prometheus
killed and restarted in the middle of a stream of writes → every batch Hearth acknowledged is
stored, exactly; a sample the backend refuses (400) → 400 to the caller, not retried."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import orjson
import pytest
from google.rpc.status_pb2 import Status

from tests.fixtures import Live
from tests.remote.prometheus import Prometheus, exact, raw_samples, write_requests
from tests.remote.protocols import PROTOCOLS, Point, send
from tests.remote.test_remote_write import NS_LABEL, base_ms, token

PROBLEM = "application/problem+json"


@contextlib.asynccontextmanager
async def down(prom: Prometheus) -> AsyncIterator[None]:
    """Prometheus stopped for the block, started again (same port and data) after it."""
    await asyncio.to_thread(prom.stop)
    try:
        yield
    finally:
        await asyncio.to_thread(prom.start)


async def test_backend_down_writes_and_queries_answer_503(
    live: Live, http, mh, prometheus: Prometheus, ns
) -> None:
    pts = [Point("down", "total", (("k", "v"),), base_ms(), 1.0)]
    requests = {name: p.encode(pts, ns, token(mh)) for name, p in PROTOCOLS.items()}
    async with down(prometheus):
        answers = dict(
            zip(
                requests,
                await asyncio.gather(*(send(http, live.url, r) for r in requests.values())),
                strict=True,
            )
        )
        queries = {}
        for path, params in (
            ("/api/v1/query", {"query": "down_total"}),
            ("/api/v1/query_range", {"query": "down_total", "start": 1, "end": 2, "step": 1}),
            ("/api/v1/series", {"match[]": "down_total"}),
            ("/api/v1/labels", {}),
            ("/api/v1/label/k/values", {}),
        ):
            async with http.get(
                f"{live.url}{path}", params={"namespace": ns, **params}, headers=mh
            ) as resp:
                queries[path] = (resp.status, resp.content_type, await resp.read())
    for name, (status, headers, body) in answers.items():
        assert status == 503, (name, status, body)
        assert int(headers["Retry-After"]) >= 1, (name, headers)
        ctype = headers["Content-Type"].split(";")[0]
        if name in ("json", "ndjson", "csv"):
            assert ctype == PROBLEM, name
            assert orjson.loads(body)["status"] == 503
        elif name.startswith("remote_write"):
            assert ctype == "text/plain" and body.strip(), (name, body)
        elif name == "otlp_protobuf":
            assert ctype == "application/x-protobuf"
            assert Status.FromString(body).code == 14  # UNAVAILABLE: the exporter retries
        elif name == "otlp_json":
            assert ctype == "application/json" and orjson.loads(body)["code"] == 14
        elif name == "influx_v2":
            assert orjson.loads(body)["code"] == "unavailable"
            assert orjson.loads(body)["message"]
        else:
            assert name == "influx_v1"
            assert orjson.loads(body)["error"]
    for path, (status, ctype, body) in queries.items():
        assert (status, ctype) == (503, "application/json"), (path, status, body)
        answer = orjson.loads(body)
        assert answer["status"] == "error" and answer["errorType"] and answer["error"], answer
    # Up again: the same write goes through.
    status, headers, body = await send(http, live.url, requests["json"])
    PROTOCOLS["json"].ok(status, headers, body, 1)


async def test_restart_mid_stream_loses_nothing_acknowledged(
    live: Live, http, mh, prometheus: Prometheus, ns
) -> None:
    """A sender posts numbered batches back to back, retrying a batch on 503 as real senders
    do; Prometheus is SIGKILLed in the middle and started again on its data dir. Every batch
    that got a 2xx is in Prometheus with its exact values."""
    start_ms = base_ms()
    acked: list[int] = []
    unavailable = 0
    other: list[tuple[int, bytes]] = []
    stop = asyncio.Event()
    series = 5

    def batch(k: int) -> list[Point]:
        # One sample per series per batch, 1 ms apart: in order for each series.
        return [
            Point("stream", "seq", (("s", str(j)),), start_ms + k, k + j / 10)
            for j in range(series)
        ]

    async def sender() -> None:
        nonlocal unavailable
        k = 0
        while not stop.is_set():
            request = PROTOCOLS["json"].encode(batch(k), ns, token(mh))
            status, _, body = await send(http, live.url, request)
            if status == 200:
                acked.append(k)
                k += 1
            elif status == 503:
                unavailable += 1
                await asyncio.sleep(0.1)  # then the same batch again
            else:
                other.append((status, body))
                return

    async def until(n: int, what: str) -> None:
        deadline = time.monotonic() + 30
        while len(acked) < n:
            assert not task.done() and time.monotonic() < deadline, (what, other)
            await asyncio.sleep(0.02)

    task = asyncio.create_task(sender())
    try:
        await until(20, "the first 20 batches")
        await asyncio.to_thread(prometheus.kill)
        killed_at = len(acked)
        # Down longer than Hearth retries a write: the sender sees 503s.
        await asyncio.sleep(2.5)
        await asyncio.to_thread(prometheus.start)
        await until(killed_at + 20, "20 batches after the restart")
    finally:
        stop.set()
        await task
    assert other == []
    assert unavailable >= 1, "no write was refused while Prometheus was down"
    stored = await raw_samples(http, prometheus, f'stream_seq{{{NS_LABEL}="{ns}"}}')
    want: dict = {}
    for k in acked:
        for p in batch(k):
            key = (p.name, tuple(sorted((*p.labels, (NS_LABEL, ns)))))
            want.setdefault(key, {})[p.ms] = p.value
    got = exact(stored)
    missing = {
        key: sorted(set(times) - set(got.get(key, {}))) for key, times in exact(want).items()
    }
    assert all(not m for m in missing.values()), (missing, prometheus.log_tail())
    # Exact values of what was acknowledged (a batch sent again after a 503 that Prometheus
    # had in fact stored is the same sample again: nothing else is there).
    assert {k: {t: v for t, v in s.items() if t in want[k]} for k, s in got.items()} == exact(want)
    assert set(got) == set(want)


@pytest.mark.parametrize("conflict", ["duplicate", "out_of_order"])
async def test_a_sample_the_backend_refuses_is_a_400_not_retried(
    live: Live, http, mh, prometheus: Prometheus, ns, conflict
) -> None:
    t = base_ms()
    first = [Point("conflict", "total", (), t, 1.0)]
    status, headers, body = await send(
        http, live.url, PROTOCOLS["json"].encode(first, ns, token(mh))
    )
    PROTOCOLS["json"].ok(status, headers, body, 1)
    if conflict == "duplicate":  # the same time, another value
        second = [Point("conflict", "total", (), t, 2.0)]
        message = "duplicate sample for timestamp"
    else:  # older than the series' newest sample
        second = [Point("conflict", "total", (), t - 1000, 3.0)]
        message = "out of order sample"
    before = (await write_requests(http, prometheus)).get("400", 0.0)
    status, headers, body = await send(
        http, live.url, PROTOCOLS["json"].encode(second, ns, token(mh))
    )
    assert status == 400, body
    assert headers["Content-Type"].startswith(PROBLEM)
    assert message in orjson.loads(body)["detail"], body
    # Sent to Prometheus once: a 400 is final.
    assert (await write_requests(http, prometheus)).get("400", 0.0) == before + 1
    stored = await raw_samples(http, prometheus, f'conflict_total{{{NS_LABEL}="{ns}"}}')
    assert stored == {("conflict_total", ((NS_LABEL, ns),)): {t: 1.0}}
    # The same refusal on remote write: plain text, as Prometheus itself answers.
    status, headers, body = await send(
        http, live.url, PROTOCOLS["remote_write_1"].encode(second, ns, token(mh))
    )
    assert status == 400 and message in body.decode(), body
    assert headers["Content-Type"].startswith("text/plain")
