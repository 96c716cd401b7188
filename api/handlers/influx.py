"""InfluxDB line protocol (v1 /write and v2 /api/v2/write): ingestion routes (scope metrics.write)."""

from __future__ import annotations

from api.routing import Routes

routes = Routes("influx")
