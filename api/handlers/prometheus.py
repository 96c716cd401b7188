"""The Prometheus HTTP query API (scope metrics.read): /api/v1/query, /api/v1/query_range,
/api/v1/series, /api/v1/labels, /api/v1/label/{name}/values, /api/v1/metadata,
/api/v1/status/buildinfo — Prometheus's envelope and error types, so Grafana's Prometheus data
source, promtool and any client of the Prometheus API read Hearth unchanged."""

from __future__ import annotations

from api.routing import Routes

routes = Routes("prometheus")
