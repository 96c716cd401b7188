"""The Prometheus query API answered by the remote backend, for one namespace.

Every selector of a query or ``match[]`` gets the namespace's matcher (``hearth_namespace="ns"``
by default) injected by the native PromQL rewriter, as prom-label-proxy does: a selector the
client wrote for another namespace then selects nothing (both matchers must hold), and ``or``,
subqueries or regexes cannot reach past it. The namespace label is removed from what comes
back, so a query answers as it does from the embedded store.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from hearth_core import _native
from hearth_core.metrics.promql import Evaluated, QueryFailed, TimeRange
from hearth_core.metrics.remote.backend import BackendUnavailable, RemoteBackend

READ = "remote"  # X-Hearth-Read of a query the backend answered
_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


class Scope(msgspec.Struct, frozen=True):
    """Where a request reads: the backend tenant and the namespace label's name and value."""

    tenant: str
    label: str
    namespace: str


def _seconds(ms: int) -> str:
    return f"{ms / 1000:.3f}"


def _enforced(scope: Scope, query: str) -> str:
    try:
        return _native.promql_enforce(query, scope.label, scope.namespace)
    except _native.PromqlError as exc:
        raise QueryFailed(exc.error_type, exc.message) from None


def _enforced_selectors(scope: Scope, selectors: Sequence[str]) -> list[str]:
    try:
        return _native.promql_enforce_selectors(list(selectors), scope.label, scope.namespace)
    except _native.PromqlError as exc:
        raise QueryFailed(exc.error_type, exc.message) from None


async def _call(
    backend: RemoteBackend,
    scope: Scope,
    path: str,
    params: list[tuple[str, str]],
    *,
    post: bool = True,
) -> Any:
    """The ``data`` of the backend's answer; its error as a ``QueryFailed`` with its type."""
    try:
        status, body = await backend.api(path, params, tenant=scope.tenant, post=post)
    except BackendUnavailable as exc:
        raise QueryFailed("unavailable", str(exc)) from None
    try:
        answer = _decoder.decode(body)
    except msgspec.DecodeError:
        answer = None
    if not isinstance(answer, dict):
        raise QueryFailed(
            "unavailable" if status >= 500 else "internal",
            f"the metrics backend answered {status} without Prometheus's JSON",
        )
    if answer.get("status") != "success":
        error_type = str(answer.get("errorType") or ("internal" if status >= 500 else "bad_data"))
        raise QueryFailed(error_type, str(answer.get("error") or f"backend status {status}"))
    return answer.get("data")


def _strip(scope: Scope, labels: Any) -> Any:
    if isinstance(labels, dict):
        labels.pop(scope.label, None)
    return labels


def _span_params(span: TimeRange) -> list[tuple[str, str]]:
    out = []
    if span.start_ms is not None:
        out.append(("start", _seconds(span.start_ms)))
    if span.end_ms is not None:
        out.append(("end", _seconds(span.end_ms)))
    return out


async def evaluate(
    backend: RemoteBackend,
    scope: Scope,
    *,
    query: str,
    start_ms: int,
    end_ms: int,
    step_ms: int,
    timeout_s: float,
) -> Evaluated:
    """An instant (``step_ms == 0``) or range query, as ``promql.evaluate`` answers it."""
    params = [
        ("query", _enforced(scope, query)),
        ("timeout", f"{max(1, round(timeout_s * 1000))}ms"),
    ]
    if step_ms == 0:
        params.append(("time", _seconds(start_ms)))
        data = await _call(backend, scope, "/api/v1/query", params)
    else:
        params += [
            ("start", _seconds(start_ms)),
            ("end", _seconds(end_ms)),
            ("step", f"{step_ms / 1000:.3f}"),
        ]
        data = await _call(backend, scope, "/api/v1/query_range", params)
    if isinstance(data, dict) and data.get("resultType") in ("vector", "matrix"):
        for item in data.get("result") or ():
            _strip(scope, item.get("metric"))
    return Evaluated(data=_encoder.encode(data), read=READ)


async def find_series(
    backend: RemoteBackend, scope: Scope, *, selectors: Sequence[str], span: TimeRange
) -> list[dict[str, str]]:
    params = [("match[]", s) for s in _enforced_selectors(scope, selectors)]
    data = await _call(backend, scope, "/api/v1/series", params + _span_params(span))
    return [_strip(scope, item) for item in data or ()]


def _namespace_selectors(scope: Scope, selectors: Sequence[str]) -> list[str]:
    # Without match[] the backend would list every tenant's names: the namespace's own series.
    if not selectors:
        return [
            _native.promql_enforce_selectors(['{__name__=~".+"}'], scope.label, scope.namespace)[0]
        ]
    return _enforced_selectors(scope, selectors)


async def label_names(
    backend: RemoteBackend, scope: Scope, *, selectors: Sequence[str], span: TimeRange
) -> list[str]:
    params = [("match[]", s) for s in _namespace_selectors(scope, selectors)]
    data = await _call(backend, scope, "/api/v1/labels", params + _span_params(span))
    return [name for name in data or () if name != scope.label]


async def label_values(
    backend: RemoteBackend,
    scope: Scope,
    *,
    label: str,
    selectors: Sequence[str],
    span: TimeRange,
) -> list[str]:
    params = [("match[]", s) for s in _namespace_selectors(scope, selectors)]
    data = await _call(
        backend,
        scope,
        f"/api/v1/label/{label}/values",
        params + _span_params(span),
        post=False,
    )
    return list(data or ())


async def metric_names(backend: RemoteBackend, scope: Scope) -> list[str]:
    return await label_values(backend, scope, label="__name__", selectors=(), span=TimeRange())
