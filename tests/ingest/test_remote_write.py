"""POST /api/v1/write (Prometheus remote write) end to end: the real sender (Debian's
unmodified Prometheus scraping a target this test serves), and the protocol's answers for
1.0 and 2.0 bodies the ``protobuf`` package encodes (Prometheus 2.42 sends only 1.0)."""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import signal
import struct
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import prometheus_client
import pytest
import yaml
from aiohttp import web

from api.keys import DB, INGEST
from hearth_core.metrics import chunks
from hearth_core.metrics.chunks import STALE_NAN_BITS
from tests import prompb
from tests.conftest import free_port
from tests.fixtures import Live

PROMETHEUS = "/usr/bin/prometheus"  # Debian's package (scripts/system-deps.sh installs it)
V1 = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}
V2 = V1 | {
    "Content-Type": "application/x-protobuf;proto=io.prometheus.write.v2.Request",
    "X-Prometheus-Remote-Write-Version": "2.0.0",
}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def bits(v: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", v))[0]


async def _post(http, live: Live, mh, body: bytes, headers=V1, query: str = "") -> tuple:
    async with http.post(
        f"{live.url}/api/v1/write{query}", data=body, headers={**mh, **headers}
    ) as resp:
        return resp.status, dict(resp.headers), await resp.text()


async def _samples(live: Live, ns: str) -> list[tuple[str, dict, int, float]]:
    """``(name, labels, time_ms, value)`` of every stored sample of ``ns``, staleness markers
    included (SQL ``metrics`` leaves them out), read as that function reads the store."""
    db = live.app[DB]
    series = await db.fetch(
        "SELECT series_id, name, labels FROM metric_series WHERE namespace = $1", ns
    )
    by_id = {r["series_id"]: r for r in series}
    blocks = [r["block"] for r in await db.fetch("SELECT block FROM metric_log ORDER BY block_id")]
    stored = await db.fetch(
        "SELECT series_id, data FROM metric_chunks WHERE series_id = ANY($1)", list(by_id)
    )
    out = []
    merged = chunks.series_samples(
        [(r["series_id"], r["data"]) for r in stored], blocks, -(2**62), 2**62, list(by_id)
    )
    for sid, times, values in merged:
        s = by_id[sid]
        out += [(s["name"], s["labels"], t // 1000, v) for t, v in zip(times, values, strict=True)]
    return sorted(out, key=lambda r: (r[0], sorted(r[1].items()), r[2]))


async def _metrics_count(live: Live, ns: str) -> int:
    return await live.app[DB].fetchval("SELECT count(*) FROM metrics($1)", ns)


# ---------------------------------------------------------------- the protocol's answers


async def test_v1_stores_samples_and_answers_204_with_counts(live, http, mh) -> None:
    t = now_ms()
    req = prompb.v1(
        [
            ([("__name__", "rw_up"), ("job", "a"), ("zone", "")], [(1.0, t)]),
            ([("__name__", "rw_up"), ("hearth_namespace", "rw_other")], [(2.0, t)]),
            ([("job", "nameless")], [(3.0, t)]),
            ([("__name__", "rw_up"), ("job", "old")], [(4.0, t - 40 * 86_400_000)]),
        ]
    )
    req.timeseries[0].exemplars.add(value=1.0, timestamp=t)
    req.timeseries[0].histograms.add(count_int=1, timestamp=t)
    status, headers, text = await _post(http, live, mh, prompb.body(req), query="?namespace=rw_a")
    assert (status, text) == (204, "")
    assert headers["X-Hearth-Ignored"] == "exemplars=1, native_histograms=1"
    assert headers["X-Hearth-Rejected"] == "invalid=1, too_old=1"
    assert headers["X-Hearth-Rejected-Reason"] == "series has no __name__ label"
    assert "X-Prometheus-Remote-Write-Samples-Written" not in headers  # a 2.0 header
    assert await _samples(live, "rw_a") == [("rw_up", {"job": "a"}, t, 1.0)]
    assert await _samples(live, "rw_other") == [("rw_up", {}, t, 2.0)]
    async with http.get(f"{live.url}/metrics") as resp:
        exposition = await resp.text()
    for line in (
        'hearth_ingest_samples_total{outcome="accepted",protocol="remote_write"} 2.0',
        'hearth_ingest_samples_total{outcome="rejected",protocol="remote_write"} 1.0',
        'hearth_ingest_samples_total{outcome="too_old",protocol="remote_write"} 1.0',
        'hearth_ingest_ignored_total{protocol="remote_write",what="exemplars"} 1.0',
        'hearth_ingest_ignored_total{protocol="remote_write",what="native_histograms"} 1.0',
    ):
        assert line in exposition
    # Without ?namespace= the default namespace.
    body = prompb.body(prompb.v1([([("__name__", "rw_dflt")], [(5.0, t)])]))
    assert (await _post(http, live, mh, body))[0] == 204
    assert await _samples(live, live.settings.metrics_default_namespace) == [
        ("rw_dflt", {}, t, 5.0)
    ]


async def test_v2_stores_samples_with_written_headers(live, http, mh) -> None:
    t = now_ms()
    stale = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]
    req = prompb.v2(
        [
            ([("__name__", "rw_temp"), ("room", "a")], [(21.5, t - 1000), (stale, t)]),
            ([("__name__", "rw_temp"), ("room", "b")], [(math.inf, t)]),
        ]
    )
    ts = req.timeseries[0]
    ts.exemplars.add(labels_refs=[3, 4], value=21.0, timestamp=t)
    ts.metadata.type = 2
    status, headers, _ = await _post(http, live, mh, prompb.body(req), V2, "?namespace=rw_v2")
    assert status == 204
    assert headers["X-Prometheus-Remote-Write-Samples-Written"] == "3"
    assert headers["X-Prometheus-Remote-Write-Histograms-Written"] == "0"
    assert headers["X-Prometheus-Remote-Write-Exemplars-Written"] == "0"
    assert headers["X-Hearth-Ignored"] == "metadata=1, exemplars=1"
    got = await _samples(live, "rw_v2")
    assert [(n, lb, ms) for n, lb, ms, _ in got] == [
        ("rw_temp", {"room": "a"}, t - 1000),
        ("rw_temp", {"room": "a"}, t),
        ("rw_temp", {"room": "b"}, t),
    ]
    assert [bits(v) for *_, v in got] == [bits(21.5), STALE_NAN_BITS, bits(math.inf)]
    # The same body again writes nothing twice.
    assert await _metrics_count(live, "rw_v2") == 2  # (SQL metrics leaves markers out)
    assert (await _post(http, live, mh, prompb.body(req), V2, "?namespace=rw_v2"))[0] == 204
    assert len(await _samples(live, "rw_v2")) == 3
    assert await _metrics_count(live, "rw_v2") == 2


async def test_metadata_only_request_is_accepted(live, http, mh) -> None:
    req = prompb.WriteRequest()
    req.metadata.add(type=1, metric_family_name="rw_requests_total", help="Requests.")
    status, headers, _ = await _post(http, live, mh, prompb.body(req))
    assert (status, headers["X-Hearth-Ignored"]) == (204, "metadata=1")


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({"Content-Type": "application/json"}, "Content-Type must be application/x-protobuf"),
        ({"Content-Type": "application/x-protobuf;proto=foo.Bar"}, "proto=foo.Bar"),
        ({"Content-Encoding": "gzip"}, "Content-Encoding must be snappy"),
        ({"Content-Encoding": ""}, "Content-Encoding must be snappy"),
        ({"X-Prometheus-Remote-Write-Version": "3.0.0"}, "'3.0.0' is not 0.1.x or 2.0.x"),
    ],
)
async def test_unsupported_requests_are_415(live, http, mh, headers, fragment) -> None:
    body = prompb.body(prompb.v1([([("__name__", "rw_x")], [(1.0, now_ms())])]))
    status, got, text = await _post(http, live, mh, body, V1 | headers)
    assert status == 415
    assert got["Content-Type"].startswith("text/plain")
    assert fragment in text


async def test_undecodable_bodies_are_400_and_huge_ones_413(live, http, mh) -> None:
    status, headers, text = await _post(http, live, mh, b"\xff\xff\xff\xff\xff\xff")
    assert status == 400 and text.startswith("body is not snappy")
    assert headers["Content-Type"].startswith("text/plain")
    v2_in_v1 = prompb.body(prompb.v2([([("__name__", "rw_x")], [(1.0, now_ms())])]))
    status, _, text = await _post(http, live, mh, prompb.snappy(b"\x0a\x05ab"))
    assert status == 400 and text.startswith("body is not a prometheus.WriteRequest"), text
    # A 2.0 Request with a symbol reference out of range names the field.
    req = prompb.v2([([("__name__", "rw_x")], [(1.0, now_ms())])])
    req.timeseries[0].labels_refs.extend([7, 0])
    status, _, text = await _post(http, live, mh, prompb.body(req), V2)
    assert status == 400 and "timeseries[0].labels_refs[2]: symbol 7 out of range" in text
    # A snappy header announcing 1 GiB: refused before decompressing.
    status, _, text = await _post(http, live, mh, bytes([0x80, 0x80, 0x80, 0x80, 0x04, 0]))
    assert status == 413 and "exceeds the limit" in text
    status, _, text = await _post(http, live, mh, v2_in_v1, query="?namespace=1bad")
    assert status == 400 and text.startswith("query parameter namespace:")


async def test_auth_errors_are_plain_text(live, http) -> None:
    body = prompb.body(prompb.v1([([("__name__", "rw_x")], [(1.0, now_ms())])]))
    async with http.post(f"{live.url}/api/v1/write", data=body, headers=V1) as resp:
        assert resp.status == 401
        assert resp.headers["Content-Type"].startswith("text/plain")


async def test_at_capacity_is_503_with_retry_after(live, http, mh) -> None:
    ingest = live.app[INGEST]
    ingest.batcher.reserve(ingest.settings.metrics_inflight_points)  # fill the budget
    try:
        body = prompb.body(prompb.v1([([("__name__", "rw_x")], [(1.0, now_ms())])]))
        status, headers, text = await _post(http, live, mh, body)
    finally:
        ingest.batcher.release(ingest.settings.metrics_inflight_points)
    assert (status, headers.get("Retry-After")) == (503, "1"), text
    assert headers["Content-Type"].startswith("text/plain")


# ---------------------------------------------------------------- the real sender


class Target:
    """A scrape target serving Prometheus text format: a gauge, a counter and a classic
    histogram that change at every scrape; ``rw_temp_celsius{room="b"}`` disappears after
    ``drop_after`` scrapes (Prometheus then sends its staleness marker)."""

    def __init__(self, drop_after: int) -> None:
        self.registry = prometheus_client.CollectorRegistry()
        self.temp = prometheus_client.Gauge(
            "rw_temp_celsius", "Temperature.", ["room"], registry=self.registry
        )
        self.requests = prometheus_client.Counter(
            "rw_requests", "Requests.", ["code"], registry=self.registry
        )
        self.latency = prometheus_client.Histogram(
            "rw_latency_seconds", "Latency.", buckets=(0.1, 0.5, 1.0), registry=self.registry
        )
        self.scrapes = 0
        self.drop_after = drop_after

    async def metrics(self, _request: web.Request) -> web.Response:
        self.scrapes += 1
        self.temp.labels("a").set(20 + self.scrapes / 8)
        if self.scrapes <= self.drop_after:
            self.temp.labels("b").set(-self.scrapes * 1.5)
        elif self.scrapes == self.drop_after + 1:
            self.temp.remove("b")
        self.requests.labels("200").inc(self.scrapes)
        self.requests.labels("500").inc(0.25)
        self.latency.observe(0.05 * (self.scrapes % 30))
        return web.Response(
            body=prometheus_client.generate_latest(self.registry),
            content_type="text/plain",
            charset="utf-8",
        )


@dataclass
class Proxy:
    """Between Prometheus and Hearth: forwards each remote write request unchanged and keeps
    its body and Hearth's answer (to count what Prometheus sent, and to send a body again)."""

    upstream: str
    session: aiohttp.ClientSession
    sent: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    answers: list[tuple[int, dict[str, str]]] = field(default_factory=list)

    async def write(self, request: web.Request) -> web.Response:
        body = await request.read()
        keep = ("Authorization", "Content-Type", "Content-Encoding", "User-Agent")
        headers = {h: request.headers[h] for h in keep if h in request.headers}
        headers |= {
            h: v for h, v in request.headers.items() if h.lower().startswith("x-prometheus")
        }
        async with self.session.post(
            f"{self.upstream}{request.path_qs}", data=body, headers=headers
        ) as resp:
            answer = (resp.status, dict(resp.headers))
            text = await resp.read()
        self.sent.append((body, headers))
        self.answers.append(answer)
        return web.Response(status=resp.status, body=text, headers=_hop(answer[1]))


def _hop(headers: dict[str, str]) -> dict[str, str]:
    return {
        k: v
        for k, v in headers.items()
        if k.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server")
    }


@dataclass
class PrometheusRun:
    url: str
    proc: asyncio.subprocess.Process
    log: Path
    target: Target
    target_port: int
    proxy: Proxy

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@pytest.fixture
async def prometheus(request, live, http, mh, tmp_path) -> AsyncIterator[PrometheusRun]:
    """Prometheus sending to Hearth through the proxy. Parametrized (indirect) with "oauth2",
    it fetches its own tokens with a client's credentials (as the README configures it) and
    names the namespace with an external label instead of ?namespace=."""
    oauth2 = getattr(request, "param", None) == "oauth2"
    if not os.access(PROMETHEUS, os.X_OK):
        pytest.fail(f"{PROMETHEUS} is missing: scripts/system-deps.sh installs Debian's prometheus")
    target = Target(drop_after=4)
    proxy = Proxy(upstream=live.url, session=http)
    runners = []
    ports = {}
    for name, handler, path in (
        ("target", target.metrics, "/metrics"),
        ("proxy", proxy.write, "/api/v1/write"),
    ):
        app = web.Application()
        app.router.add_route("GET" if name == "target" else "POST", path, handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        ports[name] = free_port()
        await web.TCPSite(runner, "127.0.0.1", ports[name]).start()
        runners.append(runner)
    remote: dict = {"url": f"http://127.0.0.1:{ports['proxy']}/api/v1/write?namespace=rw_prom"}
    glob: dict = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    if oauth2:
        client, secret = await live.identity.create_client(
            name="prometheus",
            grants=["client_credentials"],
            scopes=["metrics.write"],
            redirect_uris=[],
            confidential=True,
            actor="test",
        )
        remote["url"] = f"http://127.0.0.1:{ports['proxy']}/api/v1/write"
        remote["oauth2"] = {
            "client_id": client.client_id,
            "client_secret": secret,
            "token_url": f"{live.url}/oauth/token",
            "scopes": ["metrics.write"],
        }
        glob["external_labels"] = {live.settings.metrics_namespace_label: "rw_oauth"}
    else:
        remote["authorization"] = {"credentials": mh["Authorization"].removeprefix("Bearer ")}
    config = {
        "global": glob,
        "scrape_configs": [
            {
                "job_name": "rw_target",
                "static_configs": [{"targets": [f"127.0.0.1:{ports['target']}"]}],
            }
        ],
        "remote_write": [
            remote
            | {
                "queue_config": {
                    "batch_send_deadline": "1s",
                    "min_backoff": "100ms",
                    "max_backoff": "1s",
                },
                "metadata_config": {"send": True, "send_interval": "1s"},
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = tmp_path / "prometheus.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            PROMETHEUS,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
    run = PrometheusRun(f"http://127.0.0.1:{port}", proc, log, target, ports["target"], proxy)
    try:
        yield run
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        for runner in runners:
            await runner.cleanup()
        shutil.rmtree(tmp_path / "data", ignore_errors=True)


async def _prom_samples(http, run: PrometheusRun) -> dict[tuple, dict[int, float]]:
    """Every raw sample Prometheus holds of the target's job: {(name, labels): {ms: value}}."""
    params = {"query": '{job="rw_target"}[10m]', "time": str(time.time())}
    async with http.get(f"{run.url}/api/v1/query", params=params) as resp:
        body = await resp.json()
        assert body["status"] == "success", body
    out: dict[tuple, dict[int, float]] = {}
    for r in body["data"]["result"]:
        labels = dict(r["metric"])
        name = labels.pop("__name__")
        key = (name, tuple(sorted(labels.items())))
        out[key] = {round(t * 1000): float(v) for t, v in r["values"]}
    return out


def _by_series(rows: list[tuple[str, dict, int, float]]) -> dict[tuple, dict[int, float]]:
    out: dict[tuple, dict[int, float]] = {}
    for name, labels, ms, value in rows:
        out.setdefault((name, tuple(sorted(labels.items()))), {})[ms] = value
    return out


def _sent_samples(proxy: Proxy) -> set[tuple]:
    """The distinct (series, time) of the samples in the bodies Prometheus sent."""
    out = set()
    for body, _ in proxy.sent:
        req = prompb.WriteRequest()
        req.ParseFromString(prompb.unsnappy(body))
        for ts in req.timeseries:
            labels = tuple(sorted((lb.name, lb.value) for lb in ts.labels if lb.value))
            out.update((labels, s.timestamp) for s in ts.samples)
    return out


async def _until(what: str, check, run: PrometheusRun, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        if run.proc.returncode is not None or time.monotonic() > deadline:
            pytest.fail(f"{what} (prometheus exit code {run.proc.returncode}):\n{run.output()}")
        await asyncio.sleep(0.5)


async def test_prometheus_remote_write_lands_with_prometheus_values(
    live, http, mh, prometheus: PrometheusRun
) -> None:
    run = prometheus
    instance = f"127.0.0.1:{run.target_port}"
    gauge_a = ("rw_temp_celsius", (("instance", instance), ("job", "rw_target"), ("room", "a")))

    async def enough() -> bool:
        stored = _by_series(await _samples(live, "rw_prom"))
        return run.target.scrapes >= 8 and len(stored.get(gauge_a, {})) >= 6

    await _until("Hearth never got 6 scrapes of the gauge", enough, run)
    prom = await _prom_samples(http, run)
    up = ("up", (("instance", instance), ("job", "rw_target")))
    cutoff = max(prom[up])  # the last scrape Prometheus holds (a scrape's samples share a time)

    async def caught_up() -> bool:
        stored = _by_series(await _samples(live, "rw_prom"))
        return all(
            all(ms in stored.get(key, {}) for ms in samples if ms <= cutoff)
            for key, samples in prom.items()
        )

    await _until("Hearth never caught up with Prometheus", caught_up, run)
    stored = _by_series(await _samples(live, "rw_prom"))
    # The same series, the same values at the same times (up to the cutoff): the gauge, the
    # counter (and its _created), the classic histogram's _bucket/_sum/_count, `up` and the
    # other series Prometheus adds for a scrape.
    names = {name for name, _ in prom}
    assert {"rw_temp_celsius", "rw_requests_total", "rw_latency_seconds_bucket", "up"} <= names
    assert {"rw_latency_seconds_sum", "rw_latency_seconds_count"} <= names
    for key, samples in prom.items():
        want = {ms: v for ms, v in samples.items() if ms <= cutoff}
        got = {ms: v for ms, v in stored[key].items() if ms <= cutoff and not math.isnan(v)}
        assert got == want, key
    assert set(stored) == set(prom)

    # Hearth's query API gives the counter's values Prometheus holds (last per 1 s window).
    counter = next(k for k in prom if k[0] == "rw_requests_total" and ("code", "200") in k[1])
    times = sorted(ms for ms in prom[counter] if ms <= cutoff)
    params = {
        "namespace": "rw_prom",
        "name": "rw_requests_total",
        "agg": "last",
        "step": "1",
        "start": str(times[0] // 1000),
        "end": str(cutoff // 1000 + 1),
    }
    async with http.get(f"{live.url}/v1/metrics/query", headers=mh, params=params) as resp:
        body = await resp.json()
        assert resp.status == 200, body
    result = next(r for r in body["data"]["result"] if r["metric"].get("code") == "200")
    windows: dict[int, float] = {}
    for ms in times:
        windows[ms // 1000] = prom[counter][ms]  # last in its window (times ascending)
    assert {int(t): float(v) for t, v in result["values"]} == windows

    # The series that disappeared from the target ended with Prometheus's staleness marker.
    gone = next(k for k in stored if k[0] == "rw_temp_celsius" and ("room", "b") in k[1])
    await _until(
        "no staleness marker for the series that disappeared",
        lambda: _has_stale_marker(live, gone),
        run,
    )

    # Stop Prometheus (it flushes its queue), then: everything it sent is stored, once.
    run.proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(60):
        await run.proc.wait()
    assert {status for status, _ in run.proxy.answers} == {204}, run.proxy.answers
    sent = _sent_samples(run.proxy)
    rows = await _samples(live, "rw_prom")
    assert len(rows) == len(sent)
    # Prometheus sent metadata too (metadata-only requests), counted as ignored.
    assert any("metadata=" in h.get("X-Hearth-Ignored", "") for _, h in run.proxy.answers)

    # A request sent again (as a sender retries) writes nothing twice.
    before = await _metrics_count(live, "rw_prom")
    body, headers = max(run.proxy.sent, key=lambda b: len(b[0]))
    async with http.post(
        f"{live.url}/api/v1/write?namespace=rw_prom", data=body, headers=headers
    ) as resp:
        assert resp.status == 204
    assert await _metrics_count(live, "rw_prom") == before
    assert len(await _samples(live, "rw_prom")) == len(rows)


async def _has_stale_marker(live: Live, key: tuple) -> bool:
    rows = _by_series(await _samples(live, "rw_prom")).get(key, {})
    return any(math.isnan(v) and bits(v) == STALE_NAN_BITS for v in rows.values())


@pytest.mark.parametrize("prometheus", ["oauth2"], indirect=True)
async def test_prometheus_with_oauth2_and_a_namespace_label(live, prometheus) -> None:
    run = prometheus

    async def arrived() -> bool:
        return sum(1 for name, *_ in await _samples(live, "rw_oauth") if name == "up") >= 3

    await _until("Prometheus's samples never arrived with its own token", arrived, run)
    assert {status for status, _ in run.proxy.answers} == {204}
    stored = await _samples(live, "rw_oauth")
    assert all(live.settings.metrics_namespace_label not in labels for _, labels, *_ in stored)
    assert {labels["job"] for _, labels, *_ in stored} == {"rw_target"}
    assert await _samples(live, live.settings.metrics_default_namespace) == []
