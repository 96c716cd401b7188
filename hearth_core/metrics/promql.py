"""PromQL over the metric store: plan a query's selectors (native core), fetch their series,
evaluate (native core)."""

from __future__ import annotations
