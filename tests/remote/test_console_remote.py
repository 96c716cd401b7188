"""The console in remote mode (headless Chromium): the Metrics panel uploads a file into the
backend and shows the backend instead of the embedded write log; the Analytics panel finds the
series (PostgreSQL's catalogue) and charts PromQL the backend answered."""

from __future__ import annotations

import aiohttp

from tests.console.conftest import ALL, Console, open_console, sign_in
from tests.fixtures import Live, service_token
from tests.remote.prometheus import Prometheus, raw_samples


async def test_metrics_and_analytics_panels_in_remote_mode(
    live: Live,
    http: aiohttp.ClientSession,
    browser,
    prometheus: Prometheus,
    ns: str,
) -> None:
    assert live.settings.metrics_store == "remote"
    headers = await service_token(live, http, ALL)
    errors: list[str] = []
    context, page = await open_console(browser, errors)
    c = Console(page, live, http, headers)
    await sign_in(page, live)

    await c.panel("metrics", "Metrics Ingestion")
    await page.wait_for_selector("#store-state [data-testid=store-mode]:text-is('remote backend')")
    assert prometheus.url.split("//")[1] in await page.inner_text(
        "#store-state [data-testid=remote-url]"
    )
    await c.upload_orders(ns)
    stored = await raw_samples(http, prometheus, f'orders{{hearth_namespace="{ns}"}}')
    assert sum(len(v) for v in stored.values()) == 60
    assert {dict(k[1])["region"] for k in stored} == {"eu", "us"}

    await c.panel("analytics", "Analytics")
    await page.wait_for_selector(".chart canvas")
    await page.get_by_label("Namespace").select_option(ns)
    await page.get_by_label("Metric").select_option("orders")
    await page.get_by_label("Step").select_option("5m")
    await page.get_by_label("Aggregation").select_option("sum")
    await page.get_by_label("Group by label").select_option("region")
    assert await page.get_by_label("PromQL").input_value() == "sum by (region) (orders)"
    await page.click("button:text-is('Run query')")
    await page.wait_for_selector("text=2 series · step 300s")
    await page.wait_for_selector(".u-legend :text('region=eu')")
    await c.shot("analytics-remote")
    await context.close()
    assert not errors, errors
