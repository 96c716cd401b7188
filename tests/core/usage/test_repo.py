"""hearth_core.usage: the counters' SQL and the priced report, against PostgreSQL."""

from __future__ import annotations

from datetime import date

import asyncpg
import pytest

from hearth_core.usage import repo, service

D1, D2, D3 = date(2030, 1, 1), date(2030, 1, 2), date(2030, 1, 3)


async def test_add_creates_then_sums_counters(db):
    await repo.add(db, {(D1, "c1", "requests", "/v1/flags"): 2, (D1, "c1", "points", ""): 10})
    await repo.add(db, {(D1, "c1", "requests", "/v1/flags"): 3, (D2, "c1", "points", ""): 1})
    rows = await repo.counters(db, start=D1, end=D3, client_id=None)
    assert [tuple(r) for r in rows] == [
        (D1, "c1", "points", "", 10),
        (D1, "c1", "requests", "/v1/flags", 5),
        (D2, "c1", "points", "", 1),
    ]


async def test_add_refuses_an_unknown_kind(db):
    with pytest.raises(asyncpg.CheckViolationError):
        await repo.add(db, {(D1, "c1", "seconds", ""): 1})


async def test_counters_by_range_and_client(db):
    await repo.add(
        db,
        {
            (D1, "a", "points", ""): 1,
            (D2, "a", "points", ""): 2,
            (D2, "b", "points", ""): 3,
            (D3, "a", "points", ""): 4,
        },
    )
    rows = await repo.counters(db, start=D2, end=D2, client_id=None)
    assert [(r["client_id"], r["value"]) for r in rows] == [("a", 2), ("b", 3)]
    rows = await repo.counters(db, start=D1, end=D3, client_id="a")
    assert [(r["day"], r["value"]) for r in rows] == [(D1, 1), (D2, 2), (D3, 4)]
    assert await repo.counters(db, start=D1, end=D3, client_id="nobody") == []


async def test_report_prices_and_folds_per_client_and_day(db):
    await repo.add(
        db,
        {
            (D1, "a", "requests", "/v1/metrics/bulk"): 2,
            (D1, "a", "requests", "/v1/flags"): 3,
            (D1, "a", "points", ""): 100,
            (D1, "a", "bytes_in", ""): 2_000_000_000,
            (D2, "b", "requests", "/v1/flags"): 1,
        },
    )
    prices = {
        **service.DEFAULT_PRICES,
        "currency": "CHF",
        "request": 0.5,
        "routes": {"/v1/metrics/bulk": 2.0},
        "point": 0.01,
        "gb_in": 3.0,
    }
    report = await service.report(db, prices, start=D1, end=D2, client_id=None)
    a, b = report.items
    assert (a.day, a.client_id, a.requests, a.points, a.bytes_in) == (
        D1,
        "a",
        {"/v1/flags": 3, "/v1/metrics/bulk": 2},
        100,
        2_000_000_000,
    )
    assert a.cost == pytest.approx(2 * 2.0 + 3 * 0.5 + 100 * 0.01 + 2 * 3.0)
    assert (b.day, b.client_id, b.cost) == (D2, "b", 0.5)
    t = report.totals
    assert (t.requests, t.points, t.bytes_in, t.currency) == (6, 100, 2_000_000_000, "CHF")
    assert t.cost == pytest.approx(a.cost + b.cost)
