"""OpenFeature's Python SDK with its OFREP provider (both unmodified, a bearer token) against a
live Hearth: every flag for 1,000 contexts through the typed evaluation calls — boolean flags as
booleans, variant flags as the string / object / number their payload is — agreeing with
``POST /v1/flags/evaluate`` on value, variant and reason, every reason one OpenFeature knows."""

from __future__ import annotations

import asyncio
from typing import Any

from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.flag_evaluation import Reason

from tests.fixtures import service_token
from tests.sdk.cases import FEATURES, contexts, import_flags, server_side

DOMAIN = "hearth-ofrep-test"
# OFREP's provider cannot add a query string: it evaluates in the default environment.
ENVIRONMENT = "default"
THREADS = 4


def _context(ctx: dict[str, Any]) -> EvaluationContext:
    """The same context as OpenFeature spells it: the user as targeting key, everything else
    (Unleash's fields and the properties alike) as flat attributes."""
    attributes = {k: v for k, v in ctx.items() if k not in ("userId", "properties")}
    return EvaluationContext(
        targeting_key=ctx["userId"], attributes={**attributes, **ctx["properties"]}
    )


async def test_ofrep_provider_agrees_with_server_side_evaluation(live, http):
    fh = await service_token(live, http, ["flag.read", "flag.write"])
    await import_flags(http, live.url, fh, ENVIRONMENT)
    ctxs = contexts()
    names = [f["name"] for f in FEATURES]
    expected = await server_side(http, live.url, fh, ENVIRONMENT, ctxs)

    # A few providers on threads of their own: 16,000 HTTP evaluations go faster that way.
    domains = [f"{DOMAIN}-{i}" for i in range(THREADS)]
    for domain in domains:
        api.set_provider(OFREPProvider(live.url, headers_factory=lambda: dict(fh)), domain=domain)

    def evaluate(part: int) -> list[tuple[str, dict[str, Any], Any]]:
        client = api.get_client(domains[part])
        out = []
        for ctx, ref in list(zip(ctxs, expected, strict=True))[part::THREADS]:
            ec = _context(ctx)
            for name in names:
                value = ref[name]["value"]
                if isinstance(value, bool):
                    details = client.get_boolean_details(name, not value, ec)
                elif isinstance(value, str):
                    details = client.get_string_details(name, "", ec)
                elif isinstance(value, int):
                    details = client.get_integer_details(name, -1, ec)
                elif isinstance(value, float):
                    details = client.get_float_details(name, -1.0, ec)
                else:
                    details = client.get_object_details(name, {}, ec)
                out.append((name, ref[name], details))
        return out

    try:
        parts = await asyncio.gather(*(asyncio.to_thread(evaluate, i) for i in range(THREADS)))
    finally:
        api.clear_providers()
    results = [r for part in parts for r in part]
    assert len(results) == len(ctxs) * len(names)

    valid = {r.value for r in Reason}
    mismatches = [
        (name, want, details)
        for name, want, details in results
        if details.error_code is not None
        or details.value != want["value"]
        or details.variant != want["variant"]
        or details.reason != want["reason"]
        or details.reason not in valid
    ]
    assert not mismatches, f"{len(mismatches)} disagreements, e.g. {mismatches[:3]}"
    seen = {str(d.reason) for _, _, d in results}
    assert {"STATIC", "TARGETING_MATCH", "SPLIT", "DEFAULT", "DISABLED"} <= seen, seen
    kinds = {type(d.value).__name__ for _, _, d in results}
    assert {"bool", "str", "dict", "list", "int"} <= kinds, kinds
