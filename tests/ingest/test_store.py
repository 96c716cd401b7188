"""The compressed store end to end: write log → compactor → chunks and hourly rollups, read back
through the HTTP query API and the SQL ``metrics`` function at every stage."""

from __future__ import annotations

import random
import struct
import time

import orjson
import pytest

from api.keys import DB, INGEST

NOW = int(time.time())


async def _post(http, live, mh, points) -> None:
    async with http.post(
        f"{live.url}/v1/metrics/bulk",
        data=orjson.dumps(points),
        headers={**mh, "Content-Type": "application/json"},
    ) as resp:
        assert resp.status == 200, await resp.text()


def _point(name: str, host: str, value: float, ts: float) -> dict:
    return {
        "namespace": "st",
        "name": name,
        "labels": {"host": host, "dc": "eu" if host < "c" else "us"},
        "value": value,
        "timestamp": ts,
    }


async def _answers(http, live, mh) -> dict:
    """Every aggregation at fine, minute and hour steps, per series and grouped."""
    out = {}
    for name in ("temp", "hits_total"):
        for step in (45, 60, 300, 3600, 7200):
            for agg in ("avg", "sum", "min", "max", "count", "last", "rate"):
                for group_by in (None, "dc", ""):
                    params = {
                        "namespace": "st",
                        "name": name,
                        "start": str(NOW - 2 * 86400),
                        "end": str(NOW),
                        "step": str(step),
                        "agg": agg,
                    }
                    if group_by is not None:
                        params["group_by"] = group_by
                    async with http.get(
                        f"{live.url}/v1/metrics/query", headers=mh, params=params
                    ) as resp:
                        body = await resp.json()
                        assert resp.status == 200, body
                    out[(name, step, agg, group_by)] = body["data"]["result"]
    return out


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert [r["metric"] for r in a[key]] == [r["metric"] for r in b[key]], key
        for ra, rb in zip(a[key], b[key], strict=True):
            assert [t for t, _ in ra["values"]] == [t for t, _ in rb["values"]], key
            assert [v for _, v in ra["values"]] == pytest.approx(
                [v for _, v in rb["values"]], rel=1e-12, abs=1e-12
            ), key


async def _sql_samples(live) -> list[tuple]:
    rows = await live.app[DB].fetch(
        "SELECT name, labels->>'host' AS host, value, \"timestamp\" FROM metrics('st')"
        " ORDER BY 1, 2, 4"
    )
    return [tuple(r) for r in rows]


@pytest.fixture
def stopped(live):
    """The live server with its compactor stopped: the test runs the passes."""
    live.app[INGEST]._compaction.cancel()
    return live.app[INGEST].compactor


async def test_every_query_is_the_same_before_during_and_after_compaction(live, http, mh, stopped):
    rng = random.Random(16)
    points = []
    for host in "abc":
        counter = 0.0
        for i in range(700):  # two days of a gauge and a counter with resets, shuffled
            ts = NOW - 2 * 86400 + i * 240 + rng.randrange(240)
            counter = 0.0 if rng.random() < 0.01 else counter + rng.randrange(10)
            points.append(_point("temp", host, float(rng.randrange(-100, 100)), ts))
            points.append(_point("hits_total", host, counter, ts))
    rng.shuffle(points)  # out of order within and across requests
    for i in range(0, len(points), 700):
        await _post(http, live, mh, points[i : i + 700])
    in_log = await _answers(http, live, mh)
    samples = await _sql_samples(live)
    assert len(samples) == len(points)
    stopped.max_samples = 1500  # a partial pass: part chunks, part log
    first = await stopped.compact_once()
    assert first is not None and 0 < first.samples < len(points)
    assert await live.app[DB].fetchval("SELECT count(*) FROM metric_log") > 0
    _same(in_log, await _answers(http, live, mh))
    assert await _sql_samples(live) == samples
    stopped.max_samples = 10**7
    await stopped.catch_up()
    compacted = await _answers(http, live, mh)
    _same(in_log, compacted)
    assert await _sql_samples(live) == samples
    stopped.seal_after = 0
    while await stopped.seal_once():
        pass
    assert await live.app[DB].fetchval("SELECT count(*) FROM metric_chunks WHERE codec = 1") == 0
    _same(compacted, await _answers(http, live, mh))
    assert await _sql_samples(live) == samples


async def test_a_duplicate_is_written_once_and_the_later_write_wins(live, http, mh, stopped):
    t = NOW // 3600 * 3600 - 3600  # both samples in one hour
    await _post(http, live, mh, [_point("temp", "a", 1.0, t), _point("temp", "a", 2.0, t + 15)])
    await stopped.catch_up()
    # the same timestamp again, twice in one request and once in a later one
    await _post(http, live, mh, [_point("temp", "a", 3.0, t), _point("temp", "a", 4.0, t)])
    before = await _sql_samples(live)
    assert [s[2] for s in before] == [4.0, 2.0]
    await _post(http, live, mh, [_point("temp", "a", 5.0, t + 15)])
    await stopped.catch_up()
    after = await _sql_samples(live)
    assert [(s[2], s[3].timestamp()) for s in after] == [(4.0, t), (5.0, t + 15)]
    assert await live.app[DB].fetchval("SELECT sum(samples) FROM metric_chunks") == 2
    hour = await live.app[DB].fetchrow("SELECT count, sum, last FROM metric_rollup_1h")
    assert tuple(hour) == (2, 9.0, 5.0)


async def test_out_of_order_samples_are_merged_into_their_chunk(live, http, mh, stopped):
    base = NOW // 7200 * 7200 - 7200  # the previous whole 2-hour window
    await _post(http, live, mh, [_point("temp", "b", float(i), base + i * 60) for i in (5, 9)])
    await stopped.catch_up()
    await _post(http, live, mh, [_point("temp", "b", float(i), base + i * 60) for i in (7, 1, 3)])
    await stopped.catch_up()
    rows = await live.app[DB].fetch("SELECT samples, min_time, max_time FROM metric_chunks")
    assert len(rows) == 1 and rows[0]["samples"] == 5  # one chunk for the window
    assert [s[2] for s in await _sql_samples(live)] == [1.0, 3.0, 5.0, 7.0, 9.0]


async def test_a_late_sample_rebases_the_next_windows_counter_increase(live, http, mh, stopped):
    base = NOW // 7200 * 7200 - 3 * 7200  # windows base and base + 2 h, both in the past
    counter = [(base + 600, 5.0), (base + 7200 + 1800, 9.0), (base + 7200 + 5400, 12.0)]
    await _post(http, live, mh, [_point("hits_total", "a", v, t) for t, v in counter])
    await stopped.catch_up()
    params = {"namespace": "st", "name": "hits_total", "agg": "rate", "step": "3600"}
    params |= {"start": str(base), "end": str(base + 4 * 3600)}

    async def hourly_rate() -> list:
        async with http.get(f"{live.url}/v1/metrics/query", headers=mh, params=params) as resp:
            body = await resp.json()
            assert resp.status == 200, body
        return body["data"]["result"][0]["values"]

    # a pass holding only a late sample that raises the first window's last value
    await _post(http, live, mh, [_point("hits_total", "a", 7.0, base + 7200 - 60)])
    from_log = await hourly_rate()
    await stopped.catch_up()
    rows = await live.app[DB].fetch(
        "SELECT time_us(bucket) / 1000000 AS b, increase FROM metric_rollup_1h"
        " WHERE bucket >= to_timestamp($1) ORDER BY bucket",
        base + 7200,
    )
    assert [(r["b"], r["increase"]) for r in rows] == [(base + 7200, 2.0), (base + 10800, 3.0)]
    baseline = await live.app[DB].fetchval(
        "SELECT baseline FROM metric_chunks WHERE window_start = to_timestamp($1)", base + 7200
    )
    assert baseline == 7.0
    assert await hourly_rate() == from_log
    assert [v for _, v in from_log] == pytest.approx([2 / 3600, 2 / 3600, 3 / 3600])


async def test_store_state_in_metrics_and_api(live, http, mh, stopped):
    window = NOW // 7200 * 7200 - 7200  # ten minutes inside one 2-hour window: one chunk
    await _post(http, live, mh, [_point("temp", "a", 1.0, window + 60 * i) for i in range(10)])
    async with http.get(f"{live.url}/v1/metrics/store", headers=mh) as resp:
        state = await resp.json()
    assert state["log_blocks"] == 1 and state["log_samples"] == 10 and state["log_bytes"] > 0
    async with http.get(f"{live.url}/metrics") as resp:
        text = await resp.text()
    assert "hearth_metrics_log_samples 10.0" in text
    assert "hearth_metrics_compaction_lag_seconds" in text
    await stopped.catch_up()
    async with http.get(f"{live.url}/v1/metrics/store", headers=mh) as resp:
        state = await resp.json()
    assert state["log_samples"] == 0 and state["compaction_lag_seconds"] == 0
    assert state["open_chunks"] == 1


async def test_hourly_edges_are_each_hours_first_and_last_raw_entry(live, http, mh, stopped):
    """metric_edges_1h (what PromQL's hour-aligned instant selectors read) holds each hour's
    first and last raw entry, staleness markers included, bit for bit — across passes that
    add samples before, inside and after an hour's stored ones."""
    from hearth_core.metrics.chunks import STALE_NAN_BITS, chunk_edges
    from tests import prompb

    stale = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]
    hour = (NOW // 3600 - 4) * 3600 * 1000  # ms, four hours back

    async def write(samples: list[tuple[float, int]]) -> None:
        body = prompb.body(prompb.v1([([("__name__", "edge_g"), ("k", "a")], samples)]))
        headers = {**mh, "Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"}
        async with http.post(
            f"{live.url}/api/v1/write?namespace=st", data=body, headers=headers
        ) as resp:
            assert resp.status == 204, await resp.text()
        await stopped.catch_up()

    # hour 0: values then a trailing marker; hour 1: only a marker, at its very start;
    # hour 2: values, the first at its start
    await write([(1.0, hour + 10_000), (2.0, hour + 600_000), (stale, hour + 900_000)])
    await write([(stale, hour + 3_600_000), (5.0, hour + 7_200_000), (6.0, hour + 7_300_000)])
    await write([(0.5, hour + 5_000), (7.0, hour + 7_250_000)])  # earlier and in between
    rows = await live.app[DB].fetch(
        """SELECT time_us(e.bucket), time_us(first_time), first_value, time_us(end_time),
                  end_value
           FROM metric_edges_1h e JOIN metric_series s USING (series_id)
           WHERE s.name = 'edge_g' ORDER BY bucket"""
    )

    def bits(v: float) -> int:
        return struct.unpack("<Q", struct.pack("<d", v))[0]

    got = [(r[0], r[1], bits(r[2]), r[3], bits(r[4])) for r in rows]
    us = hour * 1000
    assert got == [
        (us, us + 5_000_000, bits(0.5), us + 900_000_000, STALE_NAN_BITS),
        (
            us + 3_600_000_000,
            us + 3_600_000_000,
            STALE_NAN_BITS,
            us + 3_600_000_000,
            STALE_NAN_BITS,
        ),
        (us + 7_200_000_000, us + 7_200_000_000, bits(5.0), us + 7_300_000_000, bits(6.0)),
    ]
    # ... and exactly what the stored chunks give
    chunks = await live.app[DB].fetch(
        "SELECT c.series_id, c.data FROM metric_chunks c JOIN metric_series s USING (series_id)"
        " WHERE s.name = 'edge_g' ORDER BY window_start"
    )
    cols = chunk_edges([(c[0], c[1]) for c in chunks])
    assert [(b, f, bits(fv), e, bits(ev)) for _, b, f, fv, e, ev in zip(*cols, strict=True)] == got
