"""Prometheus remote write 1.0 and 2.0 (snappy block format, protobuf): ingestion routes (scope metrics.write)."""

from __future__ import annotations

from api.routing import Routes

routes = Routes("remote_write")
