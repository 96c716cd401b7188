"""What the browser tests share: Debian's Chromium under Playwright (async API, inside the test's
event loop, where the live server runs too), a signed-in console page, and API checks with an
admin token. Screenshots go to test-output/console/."""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from hearth_core.scopes import ALL_SCOPES
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.fixtures import Live

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "console"
LAUNCH_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ALL = list(ALL_SCOPES)  # an admin token for checking through the API

if not os.path.exists(CHROMIUM):  # `make test` installs it; without it this suite fails
    raise RuntimeError(f"{CHROMIUM} is missing: run `make test` (it installs Debian's chromium)")

from playwright import async_api  # noqa: E402 - after the browser check above


class Console:
    """The page plus API checks with an admin token."""

    def __init__(self, page, live: Live, http: aiohttp.ClientSession, headers: dict[str, str]):
        self.page = page
        self.live = live
        self.http = http
        self.headers = headers

    async def get(self, path: str, **params):
        async with self.http.get(
            f"{self.live.url}{path}", params=params, headers=self.headers
        ) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    async def panel(self, panel_id: str, title: str):
        await self.page.click(f"#nav a[data-panel={panel_id}]")
        await self.page.wait_for_selector(f"main h1:text-is('{title}')")

    async def ok(self, text: str):
        """A success message containing ``text`` appears in the status region."""
        await self.page.locator("#status .msg", has_text=text).first.wait_for()

    def dialog(self):
        return self.page.locator("dialog[open]").last

    async def upload_orders(self, namespace: str) -> None:
        """Upload 60 NDJSON points of ``orders`` (eu and us, the last 30 minutes) through the
        Metrics panel's file upload, and wait for its success message."""
        now = int(await self.page.evaluate("Date.now() / 1000"))
        lines = [
            json.dumps(
                {
                    "namespace": namespace,
                    "name": "orders",
                    "labels": {"region": region},
                    "value": i + (10 if region == "eu" else 0),
                    "timestamp": now - (29 - i) * 60,
                }
            )
            for i in range(30)
            for region in ("eu", "us")
        ]
        await self.page.locator("input[type=file]").set_input_files(
            {
                "name": "orders.ndjson",
                "mimeType": "application/x-ndjson",
                "buffer": "\n".join(lines).encode(),
            }
        )
        await self.page.click("button:text-is('Upload file')")
        await self.ok("60 point(s) ingested")

    async def shot(self, name: str):
        await self.page.wait_for_timeout(150)  # let the last repaint land
        await self.page.screenshot(path=str(SHOTS / f"{name}.png"))


@pytest.fixture
async def browser():
    # launch() gives Chromium a fresh, empty user data dir of its own, removed at close.
    async with async_api.async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        try:
            yield b
        finally:
            await b.close()


async def open_console(browser, errors: list[str]):
    """A fresh context and page that records page errors and console errors in ``errors``."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = await browser.new_context(
        viewport={"width": 1280, "height": 800}, accept_downloads=True
    )
    page = await context.new_page()
    page.set_default_timeout(10_000)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.on(
        "console",
        lambda m: (
            errors.append(f"console: {m.text}")
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    return context, page


async def sign_in(page, live: Live) -> None:
    """Through the real login page (authorization code + PKCE) to the first panel."""
    await page.goto(f"{live.url}/")
    await page.wait_for_url(re.compile(r"/oauth/authorize\?"))
    assert "code_challenge_method=S256" in page.url and "client_id=hearth-console" in page.url
    await page.fill("#email", ADMIN_EMAIL)
    await page.fill("#password", ADMIN_PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_selector("main h1:text-is('User Management')")


@pytest.fixture
async def signed_in(live: Live, browser) -> AsyncIterator[tuple]:
    errors: list[str] = []
    context, page = await open_console(browser, errors)
    await sign_in(page, live)
    yield page, errors
    await context.close()
