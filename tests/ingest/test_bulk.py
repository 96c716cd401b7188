"""POST /v1/metrics/bulk end to end against real PostgreSQL: formats, validation, durability."""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import time
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from api.app import create_app
from api.keys import DB, INGEST
from tests.conftest import free_port
from tests.fixtures import Live, run_hearth, service_token

NOW = int(time.time())


def pts(n: int, *, start: int = NOW - 600, series: int = 5, ns: str = "app") -> list[dict]:
    return [
        {
            "namespace": ns,
            "name": "requests_total",
            "labels": {"host": f"h{i % series}", "dc": "eu"},
            "value": float(i),
            "timestamp": start + i,
        }
        for i in range(n)
    ]


def as_csv(points: list[dict]) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["namespace", "name", "labels", "value", "timestamp"])
    for p in points:
        w.writerow(
            [
                p["namespace"],
                p["name"],
                orjson.dumps(p["labels"]).decode(),
                p["value"],
                p["timestamp"],
            ]
        )
    return out.getvalue().encode()


BODIES = {
    "json-array": ("application/json", lambda p: orjson.dumps(p)),
    "json-object": ("application/json", lambda p: orjson.dumps({"points": p})),
    "ndjson": ("application/x-ndjson", lambda p: b"\n".join(orjson.dumps(x) for x in p) + b"\n"),
    "csv": ("text/csv", as_csv),
}


async def _bulk(http, live, headers, body, ctype, *, params=None, extra=None):
    async with http.post(
        f"{live.url}/v1/metrics/bulk",
        data=body,
        params=params or {},
        headers={**headers, "Content-Type": ctype, **(extra or {})},
    ) as resp:
        return resp.status, await resp.json(content_type=None), resp.headers


async def _count(live, ns="app") -> int:
    """Samples of a namespace, through the SQL ``metrics`` function (chunks and log tail)."""
    return await live.app[DB].fetchval("SELECT count(*) FROM metrics($1)", ns)


@pytest.mark.parametrize("shape", list(BODIES))
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
async def test_every_format_and_encoding(live, http, mh, shape, gz):
    ctype, render = BODIES[shape]
    points = pts(50)
    body = render(points)
    extra = {}
    if gz:
        body, extra = gzip.compress(body), {"Content-Encoding": "gzip"}
    status, result, _ = await _bulk(http, live, mh, body, ctype, extra=extra)
    assert status == 200, result
    assert result == {
        "accepted": 50,
        "rejected": [],
        "rejected_total": 0,
        "refused_series": 0,
        "refused_samples": 0,
    }
    rows = await live.app[DB].fetch(
        'SELECT namespace, name, labels, value, "timestamp" FROM metrics ORDER BY "timestamp"'
    )
    assert len(rows) == 50
    assert rows[7]["labels"] == {"host": "h2", "dc": "eu"} and rows[7]["value"] == 7.0
    assert rows[7]["timestamp"] == datetime.fromtimestamp(NOW - 600 + 7, UTC)


async def test_timestamp_forms_and_default(live, http, mh):
    base = {"namespace": "app", "name": "t", "labels": {}, "value": 1}
    ms = (NOW - 100) * 1000 + 250
    body = [
        {**base, "timestamp": NOW - 50},
        {**base, "timestamp": ms},
        {**base, "timestamp": "2026-11-26T08:00:00.123456+01:00"},
        {**base, "timestamp": None},
    ]
    before = time.time()
    # The RFC 3339 one may be outside the window depending on today's date: send it partial.
    status, _, _ = await _bulk(
        http, live, mh, orjson.dumps(body), "application/json", params={"partial": "true"}
    )
    assert status == 200
    times = [
        r["timestamp"]
        for r in await live.app[DB].fetch('SELECT "timestamp" FROM metrics ORDER BY 1')
    ]
    assert datetime.fromtimestamp(ms / 1000, UTC) in times
    assert datetime.fromtimestamp(NOW - 50, UTC) in times
    assert any(abs(t.timestamp() - before) < 5 for t in times)  # absent → server time


BAD = [
    ({"namespace": "", "name": "x", "labels": {}, "value": 1}, "namespace"),
    ({"namespace": "app", "name": "9bad", "labels": {}, "value": 1}, "name"),
    ({"namespace": "app", "name": "x", "labels": {"host": 5}, "value": 1}, "labels"),
    ({"namespace": "app", "name": "x", "labels": {"bad-key": "v"}, "value": 1}, "labels"),
    ({"namespace": "app", "name": "x", "labels": {}, "value": "12"}, "value"),
    ({"namespace": "app", "name": "x", "labels": {}, "value": None}, "value"),
    (
        {"namespace": "app", "name": "x", "labels": {}, "value": 1, "timestamp": "yesterday"},
        "timestamp",
    ),
    (
        {"namespace": "app", "name": "x", "labels": {}, "value": 1, "timestamp": NOW - 400 * 86400},
        "timestamp",
    ),
    ({"namespace": "app", "name": "x", "labels": {}, "value": 1, "extra": 1}, "extra"),
    ({"name": "x", "labels": {}, "value": 1}, "namespace"),
    ("not an object", ""),
]


async def test_all_or_nothing_names_every_bad_row(live, http, mh):
    good = pts(3)
    body = good[:1] + [b for b, _ in BAD] + good[1:]
    status, problem, _ = await _bulk(http, live, mh, orjson.dumps(body), "application/json")
    assert status == 400
    assert [e["path"] for e in problem["errors"]] == [f"$[{i}]" for i in range(1, len(BAD) + 1)]
    for err, (_, field) in zip(problem["errors"], BAD, strict=True):
        assert field in err["message"], err
    assert await _count(live) == 0  # nothing written


async def test_partial_keeps_the_good_rows(live, http, mh):
    body = [*pts(3), BAD[4][0]]
    status, result, _ = await _bulk(
        http, live, mh, orjson.dumps(body), "application/json", params={"partial": "true"}
    )
    assert status == 200 and result["accepted"] == 3
    assert result["rejected"][0]["index"] == 3 and "value" in result["rejected"][0]["reason"]
    assert await _count(live) == 3


async def test_non_finite_values_in_csv_are_rejected(live, http, mh):
    body = (
        b"namespace,name,labels,value,timestamp\n"
        b'app,x,"{}",NaN,\napp,x,"{}",inf,\napp,x,"{}",1.5,\napp,x,"{""a"":""b""}",abc,\n'
    )
    status, problem, _ = await _bulk(http, live, mh, body, "text/csv")
    assert status == 400 and [e["path"] for e in problem["errors"]] == ["$[0]", "$[1]", "$[3]"]


async def test_whole_body_errors(live, http, mh):
    status, problem, _ = await _bulk(http, live, mh, b"{not json", "application/json")
    assert status == 400 and problem["errors"][0]["path"] == "$"
    status, problem, _ = await _bulk(http, live, mh, b"name,value\nx,1\n", "text/csv")
    assert status == 400 and "namespace" in problem["detail"]
    status, problem, _ = await _bulk(
        http, live, mh, b"\x1f\x8bnot gzip", "application/json", extra={"Content-Encoding": "gzip"}
    )
    assert status == 400
    status, problem, _ = await _bulk(http, live, mh, b"[]", "application/xml")
    assert status == 415


async def test_gzip_past_the_decompressed_limit_is_413(settings, aiohttp_server, http):
    port = free_port()
    # The decompressed limit is 8 times the body limit: 32 KiB here.
    s = settings.replace(issuer=f"http://127.0.0.1:{port}", metrics_max_body_bytes=4096)
    server = await aiohttp_server(create_app(s), port=port)
    lv = Live(url=f"http://127.0.0.1:{port}", app=server.app, settings=s)
    headers = await service_token(lv, http, ["metrics.write"])
    gz = {"Content-Encoding": "gzip"}
    inside = orjson.dumps(pts(3)) + b" " * (32 * 1024)  # a valid body, once decompressed
    bomb = gzip.compress(inside)
    assert len(bomb) < 4096
    async with http.post(
        f"{lv.url}/v1/metrics/bulk",
        data=bomb,
        headers={**headers, "Content-Type": "application/json", **gz},
    ) as resp:
        assert resp.status == 413
        assert resp.content_type == "application/problem+json"
        problem = await resp.json(content_type=None)
    assert problem["status"] == 413 and problem["title"] == "Content Too Large"
    assert problem["detail"] == "decompressed body exceeds the limit of 32768 bytes"
    assert problem["errors"] == [{"path": "$", "message": problem["detail"]}]
    # Just under the limit the same points are accepted, and only the 413 wrote nothing.
    small = gzip.compress(orjson.dumps(pts(3)) + b" " * (32 * 1024 - len(orjson.dumps(pts(3)))))
    status, result, _ = await _bulk(http, lv, headers, small, "application/json", extra=gz)
    assert status == 200 and result["accepted"] == 3
    assert await lv.app[DB].fetchval("SELECT count(*) FROM metrics") == 3


async def test_idempotent_retry_writes_once(live, http, mh):
    body = orjson.dumps(pts(20))
    key = {"Idempotency-Key": "batch-0001"}
    first = await _bulk(http, live, mh, body, "application/json", extra=key)
    again = await _bulk(http, live, mh, body, "application/json", extra=key)
    assert first[0] == again[0] == 200 and first[1] == again[1]
    assert await _count(live) == 20
    other = await _bulk(http, live, mh, orjson.dumps(pts(21)), "application/json", extra=key)
    assert other[0] == 422


async def test_32_concurrent_senders_lose_nothing(live, http, mh):
    async def sender(i):
        acked = 0
        for j in range(5):
            # every (series, timestamp) unique: the store keeps one sample per timestamp
            start = NOW - 3000 + (i * 5 + j) / 1000
            body = orjson.dumps(pts(200, start=start, series=7, ns="load"))
            status, result, _ = await _bulk(http, live, mh, body, "application/json")
            if status == 200:
                acked += result["accepted"]
        return acked

    acked = sum(await asyncio.gather(*(sender(i) for i in range(32))))
    assert acked == 32 * 5 * 200
    assert await _count(live, "load") == acked
    assert live.app[INGEST].batcher.batches_written < 32 * 5  # requests were coalesced


async def test_503_when_the_budget_is_tiny(settings, aiohttp_server, http):
    port = free_port()
    s = settings.replace(
        issuer=f"http://127.0.0.1:{port}", metrics_inflight_points=100, metrics_batch_delay_ms=300.0
    )
    server = await aiohttp_server(create_app(s), port=port)
    lv = Live(url=f"http://127.0.0.1:{port}", app=server.app, settings=s)
    headers = await service_token(lv, http, ["metrics.write"])
    results = await asyncio.gather(
        *(
            _bulk(http, lv, headers, orjson.dumps(pts(80, start=NOW - 500 + i)), "application/json")
            for i in range(4)
        )
    )
    statuses = sorted(r[0] for r in results)
    assert statuses[0] == 200 and 503 in statuses
    for status, _, headers_ in results:
        if status == 503:
            assert headers_["Retry-After"] == "1"
    acked = sum(r[1]["accepted"] for r in results if r[0] == 200)
    assert await lv.app[DB].fetchval("SELECT count(*) FROM metrics") == acked


async def test_series_dictionary_across_a_restart(live, http, mh, settings, aiohttp_server):
    await _bulk(http, live, mh, orjson.dumps(pts(10, series=3)), "application/json")
    ids = {
        r["hash"]: r["series_id"]
        for r in await live.app[DB].fetch("SELECT hash, series_id FROM metric_series")
    }
    assert len(ids) == 3 and len(live.app[INGEST].series) == 3
    fresh = await aiohttp_server(create_app(live.settings))  # a restarted (or another) worker
    assert len(fresh.app[INGEST].series) == 0
    url = f"http://127.0.0.1:{fresh.port}/v1/metrics/bulk"
    async with http.post(
        url,
        data=orjson.dumps(pts(10, series=4, start=NOW - 300)),
        headers={**mh, "Content-Type": "application/json"},
    ) as resp:
        assert resp.status == 200
    after = {
        r["hash"]: r["series_id"]
        for r in await live.app[DB].fetch("SELECT hash, series_id FROM metric_series")
    }
    assert len(after) == 4 and all(after[h] == sid for h, sid in ids.items())


def reference_hours(points: list[dict]) -> dict[tuple[str, int], tuple]:
    """Hourly (count, sum, min, max, last, increase) per (series label, hour) from the raw
    samples: the counter increase adds v - prev, or v after a reset; a series' first sample
    adds nothing."""
    out: dict[tuple[str, int], list] = {}
    by_series: dict[str, list[tuple[int, float]]] = {}
    for p in points:
        us = round(p["timestamp"] * 1e6)
        by_series.setdefault(p["labels"]["r"], []).append((us, p["value"]))
    for r, samples in by_series.items():
        prev = None
        for us, v in sorted(samples):
            hour = us // 3_600_000_000 * 3600
            agg = out.setdefault((r, hour), [0, 0.0, v, v, v, 0.0])
            agg[0] += 1
            agg[1] += v
            agg[2], agg[3], agg[4] = min(agg[2], v), max(agg[3], v), v
            if prev is not None:
                agg[5] += v - prev if v >= prev else v
            prev = v
    return {k: tuple(v) for k, v in out.items()}


async def test_rollups_equal_a_reference_over_the_raw_samples(live, http, mh):
    import random

    rng = random.Random(3)
    points = [
        {
            "namespace": "app",
            "name": "lat",
            "labels": {"r": str(rng.randrange(3))},
            "value": float(rng.randrange(-500, 500)),
            "timestamp": NOW - 4 * 3600 + rng.randrange(4 * 3600) + rng.randrange(1000) / 1000,
        }
        for _ in range(3000)
    ]
    # several requests, compacted as they come: windows are merged across passes
    for i in range(0, 3000, 500):
        status, _, _ = await _bulk(
            http, live, mh, orjson.dumps(points[i : i + 500]), "application/json"
        )
        assert status == 200
        await asyncio.sleep(0.3)
    await live.app[INGEST].compactor.catch_up()
    rows = await live.app[DB].fetch(
        """SELECT s.labels->>'r' AS r, date_part('epoch', h.bucket)::bigint AS hour,
                  h.count, h.sum, h.min, h.max, h.last, h.increase
           FROM metric_rollup_1h h JOIN metric_series s USING (series_id) WHERE s.name = 'lat'"""
    )
    got = {(r["r"], r["hour"]): tuple(r)[2:] for r in rows}
    assert got == reference_hours(points)


async def test_partitions_and_retention(live, http, mh):
    old_day = (datetime.now(UTC) - timedelta(days=40)).date()
    parts = live.app[INGEST].partitions
    async with live.app[DB].acquire() as conn:
        await parts._create(conn, old_day)
        await conn.execute(
            "INSERT INTO metric_rollup_1h VALUES (1, $1, 1, 1, 1, 1, 1, now(), 0)",
            datetime.combine(old_day, datetime.min.time(), UTC),
        )
    names = {
        r["relname"]
        for r in await live.app[DB].fetch(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        )
    }
    today = datetime.now(UTC).date()
    for table in ("metric_chunks", "metric_rollup_1h", "metric_edges_1h"):
        assert f"{table}_{today:%Y%m%d}" in names
        assert f"{table}_{today + timedelta(3):%Y%m%d}" in names
    dropped = await parts.maintain(live.app[DB], retention_days=30)
    assert dropped == [
        f"{table}_{old_day:%Y%m%d}"
        for table in ("metric_chunks", "metric_rollup_1h", "metric_edges_1h")
    ]
    assert await live.app[DB].fetchval("SELECT count(*) FROM metric_rollup_1h") == 0


async def test_ingest_status_lists_recent_batches(live, http, mh):
    for n in (5, 7):
        await _bulk(http, live, mh, orjson.dumps(pts(n)), "application/json")
    async with http.get(f"{live.url}/v1/metrics/ingest-status?limit=5", headers=mh) as resp:
        items = (await resp.json())["items"]
    assert [i["accepted"] for i in items[:2]] == [7, 5]
    assert items[0]["duration_ms"] > 0 and items[0]["bytes"] > 0


async def test_cli_ingest_streams_a_file(live, tmp_path, mh, hearth_env):
    path = tmp_path / "points.ndjson"
    path.write_bytes(b"\n".join(orjson.dumps(p) for p in pts(2500, series=11, ns="cli")) + b"\n")
    token = mh["Authorization"].split()[1]
    # The server runs in this event loop: run the CLI as a subprocess without blocking it.
    code, out, err = await run_hearth(
        hearth_env,
        *("ingest", str(path), "--url", live.url, "--token", token),
        *("--batch-size", "1000", "--gzip"),
    )
    assert code == 0, err
    assert "ingested 2500 points (0 rejected)" in out and "points/s" in out
    assert "ingesting points.ndjson" in err
    assert await _count(live, "cli") == 2500


async def test_compactor_works_off_a_backlog_in_bounded_passes(live, http, mh):
    compactor = live.app[INGEST].compactor
    live.app[INGEST]._compaction.cancel()  # this test is the compactor
    for k in range(9):
        body = orjson.dumps(pts(100, series=30, start=NOW - 3 * 3600 + k * 100))
        status, _, _ = await _bulk(http, live, mh, body, "application/json")
        assert status == 200
    assert await _count(live) == 900  # readable from the log before any compaction
    compactor.max_samples = 250
    passes = []
    while (result := await compactor.compact_once()) is not None and result.blocks:
        passes.append(result.samples)
    assert passes == [300, 300, 300]  # a pass stops at the block that crosses the budget
    assert await live.app[DB].fetchval("SELECT count(*) FROM metric_log") == 0
    assert await _count(live) == 900
    assert await live.app[DB].fetchval("SELECT count(*) FROM metric_chunks") > 0
