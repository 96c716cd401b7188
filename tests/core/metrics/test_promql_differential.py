"""PromQL differential test: Hearth answers every query of promql_corpus.py as Prometheus does.

The same remote write body (promql_dataset.py, three hours ending at least an hour ago) goes
to Debian's real Prometheus 2.42 (``--web.enable-remote-write-receiver``) and to a live
Hearth, once per module; then each case runs on both through ``/api/v1/query`` (GET) or
``/api/v1/query_range`` (form POST) and the answers must be equal: the same status and
``errorType``, the same ``resultType``, the same label sets, the same timestamps, values
within 1e-9 relative (NaN equals NaN). Each case first checks that Prometheus gave what the
corpus says it gives (data, an empty result, an error), so a case that drifts into proving
nothing fails too.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer

from api.app import create_app
from api.keys import DB, INGEST
from hearth_core.metrics.chunks import CODEC_IDS
from hearth_core.metrics.service import store_state
from tests import prompb
from tests.conftest import _db_url, base_settings, free_port
from tests.core.metrics.promql_corpus import CASES, EDGE_CASES, HOURS, Case, H, M, span
from tests.core.metrics.promql_dataset import series
from tests.fixtures import Live, service_token
from tests.launch import TestStack

PROMETHEUS = "/usr/bin/prometheus"  # Debian's package (scripts/system-deps.sh installs it)
REMOTE_WRITE = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}
REL_TOL = 1e-9
# The data's base: on the hour, four hours ago (the data ends at least an hour ago: whole
# hours Hearth may answer from rollups, well inside both servers' retention).
T0 = (int(time.time()) // 3600 - 4) * 3600


@dataclass
class Side:
    """One server's query API: its URL and the headers its requests carry."""

    name: str
    url: str
    headers: dict[str, str]
    session: aiohttp.ClientSession
    read: str | None = None  # X-Hearth-Read of the last answer: what Hearth read

    async def ask(self, case: Case) -> tuple[int, Any]:
        params = case.params(T0)
        if case.kind == "instant":
            request = self.session.get(
                f"{self.url}/api/v1/query", params=params, headers=self.headers
            )
        else:
            request = self.session.post(
                f"{self.url}/api/v1/query_range", data=params, headers=self.headers
            )
        async with request as resp:
            self.read = resp.headers.get("X-Hearth-Read")
            text = await resp.text()
            try:
                return resp.status, await resp.json(content_type=None)
            except ValueError:
                return resp.status, text


@pytest.fixture(scope="module")
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture(scope="module")
def body() -> bytes:
    return prompb.body(prompb.v1(series(T0)))


@pytest.fixture(scope="module")
async def prometheus(
    tmp_path_factory: pytest.TempPathFactory, session: aiohttp.ClientSession, body: bytes
) -> AsyncIterator[Side]:
    """Prometheus on its own port and data dir, holding the dataset."""
    if not os.access(PROMETHEUS, os.X_OK):
        pytest.fail(f"{PROMETHEUS} is missing: scripts/system-deps.sh installs Debian's prometheus")
    home = tmp_path_factory.mktemp("prometheus")
    (home / "prometheus.yml").write_text("global:\n  scrape_interval: 1m\n")
    port = free_port()
    log = home / "prometheus.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            PROMETHEUS,
            f"--config.file={home / 'prometheus.yml'}",
            f"--storage.tsdb.path={home / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-remote-write-receiver",
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
    side = Side("prometheus", f"http://127.0.0.1:{port}", {}, session)
    try:
        await _until_ready(side, proc, log)
        async with session.post(f"{side.url}/api/v1/write", data=body, headers=REMOTE_WRITE) as r:
            assert r.status == 204, await r.text()
        yield side
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()
        shutil.rmtree(home, ignore_errors=True)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


async def _until_ready(side: Side, proc: asyncio.subprocess.Process, log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            async with side.session.get(f"{side.url}/-/ready") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        if proc.returncode is not None or time.monotonic() > deadline:
            pytest.fail(f"Prometheus did not start (exit code {proc.returncode}):\n{_tail(log)}")
        await asyncio.sleep(0.1)


def _parts(t0: int, *cuts_s: int) -> list[bytes]:
    """The dataset as remote write bodies of consecutive time slices (cuts in seconds after
    t0), each holding every series' samples of its slice."""
    bounds = [-(2**62), *((t0 + c) * 1000 for c in cuts_s), 2**62]
    out = []
    for lo, hi in itertools.pairwise(bounds):
        part = [(labels, [s for s in samples if lo <= s[1] < hi]) for labels, samples in series(t0)]
        out.append(prompb.body(prompb.v1([(lb, ss) for lb, ss in part if ss])))
    return out


@pytest.fixture(scope="module")
async def hearth(
    stack: TestStack, template_db: str, session: aiohttp.ClientSession
) -> AsyncIterator[Side]:
    """A live Hearth for the whole module (the ``live`` fixture is per test): its own
    database cloned from the template, the dataset written through remote write in three
    slices left in the three states the store reads: the first two hours compacted into
    chunks (with their hourly rollups) and sealed with pcodec, the next 30 minutes compacted
    into Gorilla chunks, the rest still in the write log. The background compactor waits an
    hour between passes, so those states hold while the queries run."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(_db_url(stack, "postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}" STRATEGY FILE_COPY')
    finally:
        await admin.close()
    client = aioredis.Redis.from_url(stack.redis_url)
    try:
        await client.flushall()
    finally:
        await client.aclose()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = base_settings(stack, name).replace(
        issuer=url, metrics_compact_interval_ms=3_600_000.0, metrics_seal_after_s=0.0
    )
    server = TestServer(create_app(settings), port=port)
    await server.start_server()
    try:
        live = Live(url=url, app=server.app, settings=settings)
        headers = await service_token(live, session, ["metrics.write", "metrics.read"])
        compactor = server.app[INGEST].compactor
        sealed, compacted, logged = _parts(T0, 2 * 3600, 2 * 3600 + 1800)
        for part in (sealed, compacted, logged):
            async with session.post(
                f"{url}/api/v1/write", data=part, headers={**headers, **REMOTE_WRITE}
            ) as resp:
                assert resp.status == 204, await resp.text()
                assert "X-Hearth-Rejected" not in resp.headers, dict(resp.headers)
            if part is not logged:
                await compactor.catch_up()
            if part is sealed:
                while await compactor.seal_once():
                    pass
        db = server.app[DB]
        codecs = dict(await db.fetch("SELECT codec, count(*) FROM metric_chunks GROUP BY codec"))
        assert set(codecs) == {CODEC_IDS["gorilla"], CODEC_IDS["pco"]}, codecs
        assert (await store_state(db)).log_samples > 0
        yield Side("hearth", url, headers, session)
    finally:
        await server.close()
        admin = await asyncpg.connect(_db_url(stack, "postgres"))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


# ---------------------------------------------------------------- comparing answers


def _labels(metric: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(metric.items()))


def _show(labels: tuple[tuple[str, str], ...]) -> str:
    name = dict(labels).get("__name__", "")
    rest = ", ".join(f'{k}="{v}"' for k, v in labels if k != "__name__")
    return f"{name}{{{rest}}}"


def _point(p: list[Any]) -> tuple[int, float]:
    return round(float(p[0]) * 1000), float(p[1])


def _same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=0.0)


def _points_diff(
    key: str, want: list[tuple[int, float]], got: list[tuple[int, float]]
) -> list[str]:
    out: list[str] = []
    wt = [t for t, _ in want]
    gt = [t for t, _ in got]
    if wt != gt:
        missing = sorted(set(wt) - set(gt))
        extra = sorted(set(gt) - set(wt))
        out.append(
            f"{key}: timestamps differ ({len(wt)} vs {len(gt)} points): "
            f"missing in hearth {[_rel(t) for t in missing[:5]]}{'…' if len(missing) > 5 else ''}, "
            f"extra in hearth {[_rel(t) for t in extra[:5]]}{'…' if len(extra) > 5 else ''}"
        )
    got_at = dict(got)
    bad = [(t, v, got_at[t]) for t, v in want if t in got_at and not _same(v, got_at[t])]
    for t, v, g in bad[:3]:
        out.append(f"{key} at {_rel(t)}: prometheus {v!r}, hearth {g!r}")
    if len(bad) > 3:
        out.append(f"{key}: {len(bad) - 3} more values differ")
    return out


def _rel(ms: int) -> str:
    """A time as an offset from the data's base, easier to read than a Unix time."""
    s = ms / 1000 - T0
    return f"t0{'+' if s >= 0 else ''}{s:g}s"


def diff(want: dict[str, Any], got: dict[str, Any], ordered: bool) -> list[str]:
    """What differs between Prometheus's successful answer ``want`` and Hearth's ``got``, as
    short lines (empty when equal)."""
    if got.get("status") != "success":
        if "errorType" in got:
            return [f"hearth failed: {got['errorType']}: {got.get('error')}"]
        return [f"hearth answered no Prometheus envelope: {str(got)[:300]}"]
    wd, gd = want["data"], got.get("data", {})
    if wd["resultType"] != gd.get("resultType"):
        return [f"resultType: prometheus {wd['resultType']}, hearth {gd.get('resultType')}"]
    kind = wd["resultType"]
    if kind in ("scalar", "string"):
        (wt, wv), (gt, gv) = wd["result"], gd["result"]
        if kind == "string":
            same = wv == gv
        else:
            same = _same(float(wv), float(gv))
        if round(float(wt) * 1000) != round(float(gt) * 1000) or not same:
            return [f"{kind}: prometheus {wd['result']}, hearth {gd['result']}"]
        return []
    field = "value" if kind == "vector" else "values"
    out: list[str] = []
    sides = []
    for result in (wd["result"], gd["result"]):
        by: dict[tuple[tuple[str, str], ...], list[tuple[int, float]]] = {}
        for r in result:
            key = _labels(r["metric"])
            if key in by:
                out.append(f"duplicate series {_show(key)}")
            points = [r[field]] if kind == "vector" else r[field]
            by[key] = [_point(p) for p in points]
        sides.append(by)
    w, g = sides
    for key in [k for k in w if k not in g][:5]:
        out.append(f"only in prometheus: {_show(key)} {w[key][:2]}")
    for key in [k for k in g if k not in w][:5]:
        out.append(f"only in hearth: {_show(key)} {g[key][:2]}")
    missing = len([k for k in w if k not in g]) + len([k for k in g if k not in w])
    if missing > 10:
        out.append(f"({missing} series on one side only)")
    for key, points in w.items():
        if key in g:
            out += _points_diff(_show(key), points, g[key])
    if ordered and not out and list(w) != list(g):
        out.append(f"order: prometheus {[_show(k) for k in w]}, hearth {[_show(k) for k in g]}")
    return out


def _empty(answer: dict[str, Any]) -> bool:
    data = answer["data"]
    return data["resultType"] in ("vector", "matrix") and not data["result"]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_hearth_answers_as_prometheus(case: Case, prometheus: Side, hearth: Side) -> None:
    status, want = await prometheus.ask(case)
    assert isinstance(want, dict), f"prometheus answered {status}: {want}"
    what = "error" if want["status"] == "error" else "empty" if _empty(want) else "data"
    assert what == case.expect, (
        f"prometheus answered {what}, the corpus expects {case.expect}: {want}"
    )
    got_status, got = await hearth.ask(case)
    assert isinstance(got, dict), f"hearth answered {got_status}: {got}"
    if what == "error":
        assert (got.get("status"), got.get("errorType")) == ("error", want["errorType"]), (
            f"prometheus: {status} {want['errorType']}: {want['error']}\n"
            f"hearth: {got_status} {str(got)[:300]}"
        )
        return
    problems = diff(want, got, case.ordered)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("case", EDGE_CASES, ids=lambda c: c.id)
async def test_hour_aligned_selectors_read_hourly_edges(
    case: Case, prometheus: Side, hearth: Side
) -> None:
    """The rollup plan: instant selectors read only at whole hours are answered from the
    hourly edges (plus chunks and log for the hours the log still holds) — and the answer is
    still Prometheus's, markers on and just before the hour included."""
    status, want = await prometheus.ask(case)
    assert isinstance(want, dict) and want["status"] == "success", (status, want)
    assert not _empty(want)
    got_status, got = await hearth.ask(case)
    assert isinstance(got, dict), f"hearth answered {got_status}: {got}"
    assert hearth.read is not None and "edges" in hearth.read.split("+"), hearth.read
    problems = diff(want, got, case.ordered)
    assert not problems, "\n".join(problems)


async def test_other_queries_read_chunks(prometheus: Side, hearth: Side) -> None:
    for case in (span("edge_probe", 30 * M, (0, 3 * H)), span("rate(edge_probe[1h])", H, HOURS)):
        _, got = await hearth.ask(case)
        assert isinstance(got, dict) and got["status"] == "success", got
        assert hearth.read == "chunks", (case.id, hearth.read)


def test_corpus_is_large_and_ids_are_unique() -> None:
    assert len(CASES) >= 150
    assert len({c.id for c in CASES}) == len(CASES)


def _answer(kind: str, result: Any) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": kind, "result": result}}


def test_diff_finds_each_kind_of_difference() -> None:
    """The comparator itself: equal answers pass, every difference is named."""
    t = T0 + 60
    a = {"metric": {"__name__": "m", "i": "a"}, "values": [[t, "1"], [t + 60, "NaN"]]}
    b = {"metric": {"__name__": "m", "i": "b"}, "values": [[t, "+Inf"]]}
    want = _answer("matrix", [a, b])
    assert diff(want, _answer("matrix", [b, a]), ordered=False) == []
    close = {**a, "values": [[t, "1.0000000001"], [t + 60, "NaN"]]}
    assert diff(want, _answer("matrix", [close, b]), ordered=False) == []
    far = {**a, "values": [[t, "1.00001"], [t + 60, "0"]]}
    assert diff(want, _answer("matrix", [far, b]), ordered=False) == [
        'm{i="a"} at t0+60s: prometheus 1.0, hearth 1.00001',
        'm{i="a"} at t0+120s: prometheus nan, hearth 0.0',
    ]
    shifted = {**a, "values": [[t, "1"], [t + 61, "NaN"]]}
    assert diff(want, _answer("matrix", [shifted, b]), ordered=False) == [
        "m{i=\"a\"}: timestamps differ (2 vs 2 points): missing in hearth ['t0+120s'], "
        "extra in hearth ['t0+121s']"
    ]
    renamed = {**b, "metric": {"__name__": "m", "i": "c"}}
    assert diff(want, _answer("matrix", [a, renamed]), ordered=False) == [
        f'only in prometheus: m{{i="b"}} [({t * 1000}, inf)]',
        f'only in hearth: m{{i="c"}} [({t * 1000}, inf)]',
    ]
    assert diff(want, _answer("vector", []), ordered=False) == [
        "resultType: prometheus matrix, hearth vector"
    ]
    vec = [{"metric": {"i": "a"}, "value": [t, "1"]}, {"metric": {"i": "b"}, "value": [t, "2"]}]
    assert diff(_answer("vector", vec), _answer("vector", vec[::-1]), ordered=False) == []
    assert diff(_answer("vector", vec), _answer("vector", vec[::-1]), ordered=True) == [
        "order: prometheus ['{i=\"a\"}', '{i=\"b\"}'], hearth ['{i=\"b\"}', '{i=\"a\"}']"
    ]
    assert diff(_answer("scalar", [t, "2"]), _answer("scalar", [t, "3"]), ordered=False)
    assert diff(_answer("string", [t, "x"]), _answer("string", [t, "x"]), ordered=False) == []
    error = {"status": "error", "errorType": "execution", "error": "boom"}
    assert diff(want, error, ordered=False) == ["hearth failed: execution: boom"]
