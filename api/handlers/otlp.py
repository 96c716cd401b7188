"""OTLP/HTTP metrics (ExportMetricsServiceRequest as protobuf or JSON): ingestion routes (scope metrics.write)."""

from __future__ import annotations

from api.routing import Routes

routes = Routes("otlp")
