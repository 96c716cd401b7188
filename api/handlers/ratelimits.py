"""Rate-limit policies and checks: /v1/ratelimits (ratelimit.read / ratelimit.write)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from aiohttp import web

from api.jsonio import json_response, read_document
from api.keys import RATELIMITS
from api.principal import change_context
from api.routing import Routes
from hearth_core.errors import NotFound
from hearth_core.ratelimit.service import Policy, bucket_key

routes = Routes("ratelimits")


class PolicyIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    limit: Annotated[int, msgspec.Meta(ge=1, le=1_000_000_000)]
    window_sec: Annotated[int, msgspec.Meta(ge=1, le=31_536_000)]
    burst: Annotated[int, msgspec.Meta(ge=1, le=1_000_000_000)] | None = None
    fail_mode: Literal["open", "closed"] = "open"


class CheckIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    cost: Annotated[int, msgspec.Meta(ge=1)] = 1


class CheckOut(msgspec.Struct, kw_only=True):
    allowed: bool
    remaining: int
    reset_after: float
    retry_after: float
    limit: int
    window_sec: int
    policy: str  # "service/key" of the policy applied
    source: str  # redis | fallback | closed
    decided_at: float  # the bucket's clock (Redis TIME, epoch seconds) at the decision; 0 offline


class BucketState(msgspec.Struct, kw_only=True):
    tokens: int
    reset_after: float
    source: str


class PolicyState(msgspec.Struct, kw_only=True):
    policy: Policy
    bucket: BucketState


class PolicyList(msgspec.Struct, kw_only=True):
    items: list[Policy]
    total: int


_policy_in = msgspec.json.Decoder(PolicyIn)
_check_in = msgspec.json.Decoder(CheckIn)


def _resolve(request: web.Request) -> tuple[str, str, Policy]:
    service, key = request.match_info["service"], request.match_info["key"]
    policy = request.app[RATELIMITS].resolve(service, key)
    if policy is None:
        raise NotFound(f"no rate-limit policy for {service}/{key} (nor {service}/*)")
    return service, key, policy


@routes.get(
    "/v1/ratelimits",
    scope="ratelimit.read",
    summary="List rate-limit policies",
    response=PolicyList,
)
async def list_policies(request: web.Request) -> web.Response:
    items = request.app[RATELIMITS].list(request.query.get("service"))
    return json_response(PolicyList(items=items, total=len(items)))


@routes.get(
    "/v1/ratelimits/{service}/{key}",
    scope="ratelimit.read",
    summary="The policy applying to a key and its bucket's current state",
    response=PolicyState,
)
async def get_policy(request: web.Request) -> web.Response:
    service, key, policy = _resolve(request)
    decision, source = await request.app[RATELIMITS].peek(policy, bucket_key(service, key))
    return json_response(
        PolicyState(
            policy=policy,
            bucket=BucketState(
                tokens=decision.remaining, reset_after=decision.reset_after, source=source
            ),
        )
    )


@routes.put(
    "/v1/ratelimits/{service}/{key}",
    scope="ratelimit.write",
    summary="Create or replace a policy (key * is the service default)",
    body=PolicyIn,
    response=Policy,
)
async def put_policy(request: web.Request) -> web.Response:
    body = await read_document(request, _policy_in)
    policy, created = await request.app[RATELIMITS].put(
        request.match_info["service"],
        request.match_info["key"],
        limit=body.limit,
        window_sec=body.window_sec,
        burst=body.burst,
        fail_mode=body.fail_mode,
        **change_context(request),
    )
    return json_response(policy, status=201 if created else 200)


@routes.delete(
    "/v1/ratelimits/{service}/{key}", scope="ratelimit.write", summary="Delete a policy", status=204
)
async def delete_policy(request: web.Request) -> web.Response:
    await request.app[RATELIMITS].delete(
        request.match_info["service"], request.match_info["key"], **change_context(request)
    )
    return web.Response(status=204)


@routes.post(
    "/v1/ratelimits/{service}/{key}/check",
    scope="ratelimit.write",
    summary="Spend tokens (default 1) from the key's bucket: allowed, remaining, reset_after, retry_after",
    body=CheckIn,
    response=CheckOut,
)
async def check(request: web.Request) -> web.Response:
    body = await read_document(request, _check_in, optional=CheckIn)
    service, key, policy = _resolve(request)
    decision, source = await request.app[RATELIMITS].take(
        policy, bucket_key(service, key), body.cost
    )
    return json_response(
        CheckOut(
            allowed=decision.allowed,
            remaining=decision.remaining,
            reset_after=decision.reset_after,
            retry_after=decision.retry_after,
            limit=decision.limit,
            window_sec=decision.window_sec,
            policy=f"{policy.service}/{policy.key}",
            source=source,
            decided_at=decision.at_us / 1e6,
        )
    )
