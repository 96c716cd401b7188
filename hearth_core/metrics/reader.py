"""Where the Prometheus query API reads: the embedded store (PostgreSQL, the native engine) or
the remote backend (``HEARTH_METRICS_STORE=remote``), behind one interface so the handlers do
not know which. Each call reads one namespace for one client's backend tenant."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from hearth_core.errors import InvalidInput, Unavailable
from hearth_core.metrics import promql, service
from hearth_core.metrics.promql import Evaluated, Limits, QueryFailed, TimeRange
from hearth_core.metrics.query import Query
from hearth_core.metrics.remote import analytics as remote_analytics
from hearth_core.metrics.remote import prometheus_api
from hearth_core.metrics.remote.backend import RemoteBackend
from hearth_core.metrics.remote.prometheus_api import Scope
from hearth_core.metrics.service import SeriesResult


def _problem(exc: QueryFailed) -> Exception:
    """A backend's query error on Hearth's own route: problem+json."""
    if exc.error_type in ("unavailable", "timeout"):
        return Unavailable(f"the metrics backend: {exc.message}", headers={"Retry-After": "1"})
    return InvalidInput(f"the metrics backend refused the query: {exc.message}")


class EmbeddedReader:
    """PostgreSQL through the native PromQL engine (the tenant is not used: one store)."""

    def __init__(self, db: asyncpg.Pool, limits: Limits) -> None:
        self._db = db
        self._limits = limits

    async def evaluate(
        self,
        where: Scope,
        *,
        query: str,
        start_ms: int,
        end_ms: int,
        step_ms: int,
        timeout_s: float,
    ) -> Evaluated:
        return await promql.evaluate(
            self._db,
            namespace=where.namespace,
            query=query,
            start_ms=start_ms,
            end_ms=end_ms,
            step_ms=step_ms,
            timeout_s=timeout_s,
            limits=self._limits,
        )

    async def find_series(
        self, where: Scope, *, selectors: Sequence[str], span: TimeRange
    ) -> list[dict[str, str]]:
        return await promql.find_series(
            self._db,
            namespace=where.namespace,
            selectors=selectors,
            span=span,
            limits=self._limits,
        )

    async def label_names(
        self, where: Scope, *, selectors: Sequence[str], span: TimeRange
    ) -> list[str]:
        return await promql.label_names(
            self._db,
            namespace=where.namespace,
            selectors=selectors,
            span=span,
            limits=self._limits,
        )

    async def label_values(
        self, where: Scope, *, label: str, selectors: Sequence[str], span: TimeRange
    ) -> list[str]:
        return await promql.label_values(
            self._db,
            namespace=where.namespace,
            label=label,
            selectors=selectors,
            span=span,
            limits=self._limits,
        )

    async def metric_names(self, where: Scope) -> list[str]:
        return await promql.metric_names(self._db, namespace=where.namespace)

    async def analytics(self, q: Query, *, tenant: str) -> tuple[list[SeriesResult], str]:
        return await service.run_query(self._db, q)


class RemoteReader:
    """The backend's own Prometheus API, the namespace's matcher injected into every
    selector (``prometheus_api``)."""

    def __init__(self, backend: RemoteBackend, *, label: str, timeout_s: float) -> None:
        self.backend = backend
        self._label = label
        self._timeout_s = timeout_s

    async def evaluate(
        self,
        where: Scope,
        *,
        query: str,
        start_ms: int,
        end_ms: int,
        step_ms: int,
        timeout_s: float,
    ) -> Evaluated:
        return await prometheus_api.evaluate(
            self.backend,
            where,
            query=query,
            start_ms=start_ms,
            end_ms=end_ms,
            step_ms=step_ms,
            timeout_s=timeout_s,
        )

    async def find_series(
        self, where: Scope, *, selectors: Sequence[str], span: TimeRange
    ) -> list[dict[str, str]]:
        return await prometheus_api.find_series(self.backend, where, selectors=selectors, span=span)

    async def label_names(
        self, where: Scope, *, selectors: Sequence[str], span: TimeRange
    ) -> list[str]:
        return await prometheus_api.label_names(self.backend, where, selectors=selectors, span=span)

    async def label_values(
        self, where: Scope, *, label: str, selectors: Sequence[str], span: TimeRange
    ) -> list[str]:
        return await prometheus_api.label_values(
            self.backend, where, label=label, selectors=selectors, span=span
        )

    async def metric_names(self, where: Scope) -> list[str]:
        return await prometheus_api.metric_names(self.backend, where)

    async def analytics(self, q: Query, *, tenant: str) -> tuple[list[SeriesResult], str]:
        scope = Scope(tenant=tenant, label=self._label, namespace=q.namespace)
        try:
            found = await remote_analytics.run_query(
                self.backend, scope, q, timeout_s=self._timeout_s
            )
        except QueryFailed as exc:
            raise _problem(exc) from None
        return found, remote_analytics.SOURCE


# What the Prometheus query API and /v1/metrics/query read through (both have the same methods).
MetricsReader = EmbeddedReader | RemoteReader
