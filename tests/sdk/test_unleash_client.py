"""Unleash's own Python SDK (``UnleashClient``, unmodified) against a live Hearth with a backend
token: it registers, downloads ``/api/client/features`` and evaluates locally (Unleash's
Yggdrasil engine) — agreeing with Hearth's ``POST /v1/flags/evaluate`` on 1,000 contexts — and
its metrics arrive in Hearth's metrics store."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from UnleashClient import UnleashClient

from api.keys import DB
from tests.fixtures import service_token
from tests.sdk.cases import ENVIRONMENT, FEATURES, contexts, import_flags, server_side

APP = "sdk-agreement"


async def test_unleash_client_agrees_with_server_side_evaluation(live, http, tmp_path):
    fh = await service_token(live, http, ["flag.read", "flag.write", "metrics.read"])
    await import_flags(http, live.url, fh, ENVIRONMENT)
    async with http.post(
        f"{live.url}/v1/flag-tokens",
        headers=fh,
        json={"type": "backend", "environment": ENVIRONMENT, "name": "python sdk"},
    ) as resp:
        token = (await resp.json())["token"]
    ctxs = contexts()
    names = [f["name"] for f in FEATURES]
    expected = await server_side(http, live.url, fh, ENVIRONMENT, ctxs)

    client = UnleashClient(
        url=f"{live.url}/api",
        app_name=APP,
        instance_id="pytest-1",
        environment=ENVIRONMENT,
        custom_headers={"Authorization": token},
        refresh_interval=3600,
        metrics_interval=3600,  # one bucket, sent by destroy()
        cache_directory=str(tmp_path),
    )
    await asyncio.to_thread(client.initialize_client)
    try:
        assert client.is_initialized
        assert set(client.feature_definitions()) == set(names)

        def evaluate() -> list[dict[str, tuple[bool, dict[str, Any]]]]:
            return [
                {n: (client.is_enabled(n, ctx), client.get_variant(n, ctx)) for n in names}
                for ctx in ctxs
            ]

        got = await asyncio.to_thread(evaluate)
    finally:
        await asyncio.to_thread(client.destroy)

    mismatches = []
    on: Counter[str] = Counter()
    variants: Counter[tuple[str, str]] = Counter()
    for ctx, mine, ref in zip(ctxs, got, expected, strict=True):
        for name in names:
            enabled, variant = mine[name]
            want = ref[name]
            on[name] += want["enabled"]
            variants[name, want["variant"]] += 1
            if (
                enabled != want["enabled"]
                or variant["feature_enabled"] != want["enabled"]
                or variant["name"] != want["variant"]
                or variant.get("payload") != want.get("payload")
            ):
                mismatches.append((name, ctx, (enabled, variant), want))
    assert not mismatches, f"{len(mismatches)} disagreements, e.g. {mismatches[:3]}"
    # The cases exercise both answers of every flag but the switched-off one.
    assert all(0 < on[n] < len(ctxs) for n in names if n not in ("off",)), on
    assert on["off"] == 0

    # Its registration and its metrics (every is_enabled and get_variant call counted).
    async with live.app[DB].acquire() as conn:
        reg = await conn.fetchrow("SELECT * FROM flag_client_instances WHERE app_name = $1", APP)
    assert reg["instance_id"] == "pytest-1" and reg["environment"] == ENVIRONMENT
    assert reg["sdk_version"].startswith("unleash-python-sdk:")
    counts = await _query(
        http,
        live.url,
        fh,
        f'sum by (feature, result) (sum_over_time(unleash_feature_evaluations{{app_name="{APP}"}}[1h]))',
    )
    n = len(ctxs)
    assert counts == {
        **{(name, "yes"): 2.0 * on[name] for name in names},
        **{(name, "no"): 2.0 * (n - on[name]) for name in names},
    }
    by_variant = await _query(
        http,
        live.url,
        fh,
        "sum by (feature, variant) (sum_over_time("
        f'unleash_feature_variant_evaluations{{app_name="{APP}",environment="{ENVIRONMENT}"}}[1h]))',
    )
    assert by_variant == {k: float(v) for k, v in variants.items()}


async def _query(http, url, headers, promql):
    async with http.get(f"{url}/api/v1/query", headers=headers, params={"query": promql}) as resp:
        body = await resp.json()
        assert resp.status == 200, body
    return {tuple(r["metric"].values()): float(r["value"][1]) for r in body["data"]["result"]}
