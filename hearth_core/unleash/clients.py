"""What Unleash's SDKs report: their registration (``flag_client_instances``) and their
evaluation counts, turned into samples of Hearth's own metrics store so that PromQL and
Analytics show them:

- ``unleash_feature_evaluations{feature, result="yes"|"no", app_name, environment}``
- ``unleash_feature_variant_evaluations{feature, variant, app_name, environment}``

Each sample is one bucket's count (how many evaluations between the bucket's start and stop),
stamped with the bucket's stop: ``sum_over_time(...[1h])`` is the evaluations of the last hour.
The environment is the token's, as Unleash takes it, never what the body claims.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from hearth_core.errors import InvalidInput
from hearth_core.unleash import repo
from hearth_core.unleash.model import ClientMetrics, ClientRegistration, DateValue
from hearth_core.unleash.repo import Db

EVALUATIONS = "unleash_feature_evaluations"
VARIANT_EVALUATIONS = "unleash_feature_variant_evaluations"


def _date(value: DateValue, path: str) -> datetime:
    """Unleash's dateSchema: RFC 3339 text or epoch milliseconds."""
    try:
        if isinstance(value, int):
            return datetime.fromtimestamp(value / 1000, UTC)
        parsed = datetime.fromisoformat(value)
    except (ValueError, OverflowError, OSError):
        raise InvalidInput(
            f"{path} is not a date", errors=[{"path": path, "message": "not a date"}]
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


async def register(db: Db, reg: ClientRegistration, environment: str) -> None:
    started = None if reg.started is None else _date(reg.started, "$.started")
    await repo.upsert_instance(db, reg, environment, started)


def metric_points(
    metrics: ClientMetrics,
    *,
    environment: str,
    namespace: str,
    min_time_us: int,
    max_time_us: int,
) -> tuple[bytes, list[str]]:
    """The bulk-JSON points of one metrics body, and for each point the body field it comes
    from (to name it if the store refuses the point). Raises InvalidInput (400, naming the
    field) for a bucket whose stop is not a date the store keeps."""
    bucket = metrics.bucket
    if bucket is None:
        return b"[]", []
    _date(bucket.start, "$.bucket.start")
    stop = _date(bucket.stop, "$.bucket.stop")
    at_us = int(stop.timestamp() * 1_000_000)
    if not min_time_us <= at_us <= max_time_us:
        raise InvalidInput(
            "$.bucket.stop is outside the metrics store's retention window",
            errors=[{"path": "$.bucket.stop", "message": "outside the retention window"}],
        )
    at_ms = at_us // 1000
    common = {"app_name": metrics.appName, "environment": environment}
    points: list[dict[str, Any]] = []
    paths: list[str] = []
    for feature, counts in bucket.toggles.items():
        path = f"$.bucket.toggles[{orjson.dumps(feature).decode()}]"
        for result, n in (("yes", counts.yes), ("no", counts.no)):
            points.append(
                _point(
                    namespace,
                    EVALUATIONS,
                    {**common, "feature": feature, "result": result},
                    n,
                    at_ms,
                )
            )
            paths.append(f"{path}.{result}")
        for variant, n in counts.variants.items():
            labels = {**common, "feature": feature, "variant": variant}
            points.append(_point(namespace, VARIANT_EVALUATIONS, labels, n, at_ms))
            paths.append(f"{path}.variants")
    return orjson.dumps(points), paths


def _point(
    namespace: str, name: str, labels: dict[str, str], value: int, at_ms: int
) -> dict[str, Any]:
    return {
        "namespace": namespace,
        "name": name,
        "labels": labels,
        "value": value,
        "timestamp": at_ms,
    }
