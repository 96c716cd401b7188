"""The API limiting itself: per client and route group, from policies of service "api".

A policy ("api", "<group>:<client_id>") or ("api", "<group>") or ("api", "*") applies; the
bucket is always the client's own for that group. Limited responses carry the IETF draft
RateLimit / RateLimit-Policy headers; a refused one is 429 with Retry-After.
"""

from __future__ import annotations

import math

from aiohttp import web

from api.keys import RATELIMITS
from api.principal import Principal
from hearth_core.errors import TooManyRequests
from hearth_core.ratelimit.bucket import Decision
from hearth_core.ratelimit.service import bucket_key

SERVICE = "api"


# The Prometheus query API (/api/v1/query, /api/v1/series, …) is one group; remote write
# (/api/v1/write) is ingest, bounded by the ingest budget (503) instead.
PROMETHEUS_GROUP = "prometheus"


# Unleash's SDK routes (/api/client/*, /api/frontend*), per API token.
UNLEASH_GROUP = "unleash"


def route_group(path: str) -> str | None:
    parts = path.split("/", 3)
    if parts[1:2] == ["api"] and len(parts) > 2 and parts[2] in ("client", "frontend"):
        return UNLEASH_GROUP
    if parts[1:3] == ["api", "v1"] and len(parts) > 3:
        return None if parts[3] == "write" else PROMETHEUS_GROUP
    return parts[2] if len(parts) > 2 and parts[1] == "v1" and parts[2] else None


def headers(d: Decision) -> dict[str, str]:
    return {
        "RateLimit-Policy": f'"default";q={d.limit};w={d.window_sec}',
        "RateLimit": f'"default";r={d.remaining};t={math.ceil(d.reset_after)}',
    }


async def limited(
    request: web.Request, principal: Principal, handler: web.Handler
) -> web.StreamResponse:
    """Run ``handler`` under the caller's API rate limit, if a policy applies (called by the
    scope guard once the principal is known — one middleware layer instead of two)."""
    group = route_group(request.path)
    limiter = request.app[RATELIMITS]
    policy = limiter.resolve(SERVICE, f"{group}:{principal.client_id}", group) if group else None
    if policy is None:
        return await handler(request)
    decision, _source = await limiter.take(
        policy, bucket_key(SERVICE, f"{group}:{principal.client_id}")
    )
    extra = headers(decision)
    if not decision.allowed:
        raise TooManyRequests(
            f"rate limit of {decision.limit} per {decision.window_sec} s reached for {group}",
            headers={**extra, "Retry-After": str(max(1, math.ceil(decision.retry_after)))},
        )
    response = await handler(request)
    if not response.prepared:
        response.headers.update(extra)
    return response
