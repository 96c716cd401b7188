"""The usage report: counters per client and day, priced."""

from __future__ import annotations

from datetime import date

import msgspec


class UsageDay(msgspec.Struct, kw_only=True):
    day: date
    client_id: str
    requests: dict[str, int]
    points: int
    bytes_in: int
    cost: float


class UsageTotals(msgspec.Struct, kw_only=True):
    requests: int
    points: int
    bytes_in: int
    cost: float
    currency: str


class UsageReport(msgspec.Struct, kw_only=True):
    start: date
    end: date
    items: list[UsageDay]
    totals: UsageTotals
