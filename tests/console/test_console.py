"""The web console in a real browser: Playwright (async API, inside the test's event loop, where
the live server runs too) driving Debian's Chromium. It signs in through the login page, performs
every panel's main action through the UI and checks the result through the API. Screenshots of
every panel (1280x800, plus one 420 px wide) go to test-output/console/."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp

from api.keys import DB
from tests.conftest import ADMIN_EMAIL
from tests.console.conftest import ALL, Console, open_console, sign_in
from tests.fixtures import Live, service_token


async def test_console_is_served_with_strict_headers(live: Live, http: aiohttp.ClientSession):
    async with http.get(f"{live.url}/", allow_redirects=False) as resp:
        assert resp.status == 302 and resp.headers["Location"] == "/console/"
    for path in ("/console/", "/console/callback"):
        async with http.get(f"{live.url}{path}") as resp:
            assert resp.status == 200
            assert resp.content_type == "text/html"
            csp = resp.headers["Content-Security-Policy"]
            assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
            assert "'unsafe-inline'" not in csp
            assert resp.headers["X-Frame-Options"] == "DENY"
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert resp.headers["Referrer-Policy"] == "no-referrer"
            assert resp.headers["Cache-Control"] == "no-cache"
            assert '<script type="module" src="/console/app.js">' in await resp.text()
    async with http.get(f"{live.url}/console/app.js") as resp:
        assert resp.status == 200 and resp.content_type == "text/javascript"
    async with http.get(f"{live.url}/console/vendor/uPlot.esm.js") as resp:
        assert resp.status == 200, "run `make setup`: it copies the charting library"
        assert "max-age=31536000" in resp.headers["Cache-Control"]
    for bad in (
        "/console/../handlers/console.py",
        "/console/%2e%2e/handlers/console.py",
        "/console/..%2fhandlers%2fconsole.py",
        "/console/panels/../../handlers/console.py",
        "/console/.hidden",
        "/console/vendor/.stamp",
        "/console/nothing.js",
        "/console/panels",
    ):
        async with http.get(f"{live.url}{bad}", allow_redirects=False) as resp:
            assert resp.status == 404, bad
            assert "from aiohttp import web" not in await resp.text()


async def test_console_redirect_uri_is_the_servers_own(live: Live):
    client = live.identity.clients.get("hearth-console")
    assert client is not None
    assert f"{live.url}/console/callback" in client.redirect_uris


async def test_console_end_to_end(live: Live, http: aiohttp.ClientSession, browser):
    headers = await service_token(live, http, ALL)
    errors: list[str] = []
    context, page = await open_console(browser, errors)
    c = Console(page, live, http, headers)

    # --- sign in through the real login page (authorization code + PKCE)
    await sign_in(page, live)
    assert page.url.startswith(f"{live.url}/console/#/users")
    await page.wait_for_selector("#user .user-name")
    stored = await page.evaluate("sessionStorage.getItem('hearth.console.tokens')")
    assert json.loads(stored)["refresh_token"]

    # --- Users: create through the dialog, found through the API; a duplicate shows the 409
    await page.click("button:text-is('Create user')")
    dlg = c.dialog()
    await dlg.get_by_label("Email", exact=True).fill("grace@example.test")
    await dlg.get_by_label("Display name").fill("Grace Hopper")
    await dlg.get_by_label("Password", exact=True).fill("a long password 123")
    await dlg.locator("button[type=submit]").click()
    await c.ok("grace@example.test created")
    await page.locator("td", has_text="grace@example.test").first.wait_for()
    found = await c.get("/v1/users", email="grace@example.test")
    assert found["total"] == 1 and found["items"][0]["display_name"] == "Grace Hopper"
    grace_id = found["items"][0]["user_id"]
    await page.click("button:text-is('Create user')")
    dlg = c.dialog()
    await dlg.get_by_label("Email", exact=True).fill("grace@example.test")
    await dlg.get_by_label("Password", exact=True).fill("a long password 123")
    await dlg.locator("button[type=submit]").click()
    alert = dlg.locator("[role=alert]")
    await alert.locator(".problem").wait_for()
    text = await alert.inner_text()
    assert "409" in text and "already registered" in text, text
    await c.shot("users-conflict")
    await dlg.locator("button:text-is('Cancel')").click()
    # filters: exact email
    await page.get_by_label("Email (exact)").fill("grace@example.test")
    await page.click("form.filters button[type=submit]")
    await page.wait_for_selector("caption:text-is('1 user')")
    await c.shot("users")

    # --- Roles: add a role, assign it to Grace, export
    await c.panel("roles", "Roles & Permissions")
    await page.click("button:text-is('Add role')")
    dlg = c.dialog()
    await dlg.get_by_label("Name", exact=True).fill("flag-editors")
    await dlg.get_by_label("Description").fill("May change feature flags")
    await dlg.get_by_label("flag.read").check()
    await dlg.get_by_label("flag.write").check()
    await dlg.locator("button[type=submit]").click()
    await c.ok("Role flag-editors added")
    await page.click("button[aria-label='Assign flag-editors']")
    dlg = c.dialog()
    await dlg.get_by_label("User email").fill("grace@example.test")
    await dlg.locator("button[type=submit]").click()
    await c.ok("assigned to grace@example.test")
    roles = await c.get("/v1/roles")
    role = next(r for r in roles["items"] if r["name"] == "flag-editors")
    assert role["scopes"] == ["flag.read", "flag.write"] and role["members"] == 1
    assert "flag-editors" in (await c.get(f"/v1/users/{grace_id}"))["roles"]
    async with page.expect_download() as dl_info:
        await page.click("button:text-is('Export CSV')")
    download = await dl_info.value
    assert "flag-editors" in await asyncio.to_thread(Path(await download.path()).read_text)
    await c.shot("roles")

    # --- Feature flags: create, switch on in `default`, live update from the stream
    # (the panel's editors have their own test: test_flags_panel.py)
    await c.panel("flags", "Feature Flags")
    await page.wait_for_selector(".live.on")
    await page.click("button:text-is('New flag')")
    dlg = c.dialog()
    await dlg.get_by_label("Name", exact=True).fill("new-checkout")
    await dlg.get_by_label("Description").fill("The redesigned checkout")
    await dlg.locator("button[type=submit]").click()
    await c.ok("Flag new-checkout created")
    switch = page.locator("button[role=switch][aria-label='Enable new-checkout in default']")
    assert await switch.get_attribute("aria-checked") == "false"
    await switch.click()
    await c.ok("new-checkout enabled in default")
    await page.wait_for_selector(
        "button[role=switch][aria-label='Enable new-checkout in default'][aria-checked=true]"
    )
    flag = await c.get("/v1/flags/new-checkout")
    assert flag["description"] == "The redesigned checkout"
    assert flag["environments"] == {"default": {"enabled": True}}
    # a change made elsewhere arrives through the SSE stream
    async with http.post(
        f"{live.url}/v1/flags",
        json={"name": "from-elsewhere", "environments": {"default": {"enabled": True}}},
        headers=headers,
    ) as resp:
        assert resp.status == 201
    await page.wait_for_selector("tr[data-flag='from-elsewhere']")
    await page.click("button[aria-label='Audit of new-checkout']")
    await c.dialog().locator("td", has_text="environments.default.enabled: false → true").wait_for()
    await c.shot("flags-audit")
    await c.dialog().locator("button:text-is('Close')").click()
    await c.shot("flags")

    # --- Configuration: write a value, then a conflicting edit is detected
    await c.panel("config", "Configuration Store")
    await page.click("button:text-is('Add config')")
    dlg = c.dialog()
    await dlg.get_by_label("Key", exact=True).fill("checkout.timeout")
    await dlg.get_by_label("Value (JSON)").fill('{"seconds": 30}')
    await dlg.locator("button[type=submit]").click()
    await c.ok("checkout.timeout saved as version 1")
    entry = await c.get("/v1/config/checkout.timeout", environment="prod")
    assert entry["value"] == {"seconds": 30} and entry["version"] == 1
    await page.click("button[aria-label='Edit checkout.timeout']")
    dlg = c.dialog()
    async with http.post(  # someone else writes version 2 meanwhile
        f"{live.url}/v1/config",
        json={"environment": "prod", "key": "checkout.timeout", "value": {"seconds": 45}},
        headers=headers,
    ) as resp:
        assert resp.status == 200
    await dlg.get_by_label("Value (JSON)").fill('{"seconds": 60}')
    await dlg.locator("button[type=submit]").click()
    await dlg.locator("[role=alert]", has_text="now at version 2").wait_for()
    await dlg.locator("button[type=submit]").click()  # save again over version 2
    await c.ok("saved as version 3")
    entry = await c.get("/v1/config/checkout.timeout", environment="prod")
    assert entry["version"] == 3 and entry["value"] == {"seconds": 45}  # their value, reviewed
    await c.shot("config")

    # --- Metrics ingestion: upload an NDJSON file with progress, then the count in the DB
    await c.panel("metrics", "Metrics Ingestion")
    await c.upload_orders("shop")
    assert await page.inner_text("#last-ingest [data-testid=accepted]") == "60"
    assert await page.locator("progress").get_attribute("value") == "100"
    async with live.app[DB].acquire() as conn:
        n = await conn.fetchval("SELECT count(*) FROM metrics WHERE namespace = 'shop'")
    assert n == 60
    # the store section follows the compaction of what was just sent: the log drains to 0
    await page.wait_for_selector("#store-state [data-testid=compaction-lag]")
    for _ in range(40):
        await page.click("#store-state >> xpath=.. >> button:text-is('Refresh')")
        if await page.inner_text("#store-state [data-testid=log-samples]") == "0":
            break
        await page.wait_for_timeout(250)
    assert await page.inner_text("#store-state [data-testid=log-samples]") == "0"
    await page.locator("#last-ingest").scroll_into_view_if_needed()
    await c.shot("metrics")

    # --- Analytics: PromQL (the Prometheus query API); the pickers write the query
    await c.panel("analytics", "Analytics")
    await page.wait_for_selector(".chart canvas")
    await page.get_by_label("Namespace").select_option("shop")
    await page.get_by_label("Metric").select_option("orders")
    await page.get_by_label("Label", exact=True).select_option("region")
    await page.get_by_label("Label value").select_option("eu")
    await page.get_by_label("Step").select_option("5m")
    assert await page.get_by_label("PromQL").input_value() == 'orders{region="eu"}'
    await page.click("button:text-is('Run query')")
    await page.wait_for_selector("text=1 series · step 300s")
    await page.wait_for_selector(".u-legend :text('region=eu')")
    await page.get_by_label("Label value").select_option("")
    await page.get_by_label("Aggregation").select_option("sum")
    await page.get_by_label("Group by label").select_option("region")
    assert await page.get_by_label("PromQL").input_value() == "sum by (region) (orders)"
    await page.click("button:text-is('Run query')")
    await page.wait_for_selector("text=2 series · step 300s")
    await page.wait_for_selector(".u-legend :text('region=us')")
    # a typed query: PromQL's own error, in place of the chart
    await page.get_by_label("PromQL").fill("sum(orders")
    await page.click("button:text-is('Run query')")
    await page.wait_for_selector("[role=alert]:has-text('bad_data')")
    await page.get_by_label("PromQL").fill("sum by (region) (orders)")
    await page.click("button:text-is('Run query')")
    await page.wait_for_selector("text=2 series · step 300s")
    await c.shot("analytics")

    # --- Conference rooms: create, join, see the participant, end
    await c.panel("rooms", "Conference Rooms")
    await page.click("button:text-is('Create room')")
    dlg = c.dialog()
    await dlg.get_by_label("Name").fill("Weekly sync")
    await dlg.get_by_label("Max participants").fill("8")
    await dlg.locator("button[type=submit]").click()
    await c.ok("Room Weekly sync created")
    await page.click("button:text-is('Join')")
    await c.ok("Joined the room")
    await page.locator("ul[aria-label=Participants] li", has_text=ADMIN_EMAIL).wait_for()
    rooms = await c.get("/v1/conference/rooms")
    room = next(r for r in rooms["items"] if r["name"] == "Weekly sync")
    assert room["status"] == "active" and room["participants"] == 1
    assert room["settings"]["max_participants"] == 8
    await c.shot("rooms")

    # --- Project commands: import an SOP, create a command, execute it, watch the log
    await c.panel("commands", "Project Command Workspace")
    await page.click("button:text-is('Import SOPs')")
    await c.dialog().locator("button[type=submit]").click()
    await c.ok("SOP import: 1 created")
    await page.fill("#sop-search", "enable")
    await page.locator("[data-sop=enable-feature]").wait_for()
    await page.click("button[aria-label='New command from enable-feature']")
    dlg = c.dialog()
    await dlg.get_by_label("Parameters (JSON object)").fill('{"flag": "from-elsewhere"}')
    await dlg.locator("button[type=submit]").click()
    await c.ok("(pending)")
    # first switch the flag off through the API; the command switches it back on
    async with http.put(
        f"{live.url}/v1/flags/from-elsewhere/environments/default",
        json={"enabled": False},
        headers=headers,
    ) as resp:
        assert resp.status == 200
    await page.click("button:text-is('Execute')")
    await c.ok("Command queued")
    await page.wait_for_selector("#command-status :text('succeeded')", timeout=15_000)
    await page.locator(".log li", has_text="enabling from-elsewhere").wait_for()
    cmds = await c.get("/v1/commands")
    assert cmds["items"][0]["status"] == "succeeded"
    flag = await c.get("/v1/flags/from-elsewhere")
    assert flag["environments"]["default"]["enabled"] is True
    await c.shot("commands")

    # --- Rate limits: add a policy, run a live check
    await c.panel("ratelimits", "Rate Limits")
    await page.click("button:text-is('Add policy')")
    dlg = c.dialog()
    await dlg.get_by_label("Service").fill("checkout")
    await dlg.get_by_label("Key", exact=True).fill("*")
    await dlg.get_by_label("Tokens per window").fill("5")
    await dlg.get_by_label("Window (seconds)").fill("60")
    await dlg.locator("button[type=submit]").click()
    await c.ok("Policy checkout/* saved")
    policy = await c.get("/v1/ratelimits/checkout/*")
    assert policy["policy"]["limit"] == 5
    form = page.locator("form[aria-label='Live check']")
    await form.get_by_label("Service").fill("checkout")
    await form.get_by_label("Key", exact=True).fill("alice")
    await form.get_by_label("Cost").fill("2")
    await page.click("button:text-is('Check (spend)')")
    await c.ok("Allowed: 3 left")
    await page.wait_for_selector("#check-result :text('policy checkout/*')")
    assert (await c.get("/v1/ratelimits/checkout/alice"))["bucket"]["tokens"] == 3
    await c.shot("ratelimits")

    # --- Service catalog: every endpoint with its scope; try /healthz
    await c.panel("catalog", "Service Catalog")
    doc = await c.get("/openapi.json")
    n_ops = sum(
        1
        for ops in doc["paths"].values()
        for op in ops.values()
        if op.get("tags", [""])[0] != "console"
    )
    await page.wait_for_selector(f"caption:text-is('{n_ops} endpoints')")
    await page.wait_for_selector("tr[data-op='POST /v1/users'] :text('profile.write')")
    await c.shot("catalog")
    await page.click("button[aria-label='Try GET /healthz']")
    dlg = c.dialog()
    await dlg.locator("button[type=submit]").click()
    await dlg.locator(".response-body", has_text='"status": "ok"').wait_for()
    assert "200" in await dlg.locator("h3").inner_text()
    await c.shot("catalog-try")
    await dlg.locator("button:text-is('Close')").click()

    # --- a narrow window: the sidebar collapses behind a menu button
    await page.set_viewport_size({"width": 420, "height": 800})
    await page.click("#menu-btn")
    await page.click("#nav a[data-panel=flags]")
    await page.wait_for_selector("main h1:text-is('Feature Flags')")
    await page.wait_for_timeout(300)  # the sidebar slides away
    box = await page.locator("#nav").bounding_box()
    assert box is not None and box["x"] + box["width"] <= 0, box
    await c.shot("narrow-flags")

    # --- keyboard: the skip link and the nav are reachable with Tab
    await page.set_viewport_size({"width": 1280, "height": 800})
    await page.reload()
    await page.wait_for_selector("main h1:text-is('Feature Flags'):focus")  # focus on the panel
    await page.keyboard.press("Tab")  # the selected view tab, then the environment, then…
    assert await page.evaluate("document.activeElement.getAttribute('role')") == "tab"
    for _ in range(3):
        await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "New flag"
    await page.keyboard.press("Enter")  # opens the dialog, focus inside it
    await page.wait_for_selector("dialog[open] input:focus")
    await page.keyboard.press("Escape")  # closes it, focus back on the button
    await page.wait_for_selector("button:text-is('New flag'):focus")

    # --- sign out: the refresh token is revoked
    refresh = json.loads(await page.evaluate("sessionStorage.getItem('hearth.console.tokens')"))[
        "refresh_token"
    ]
    await page.click("#signout")
    await page.wait_for_selector("#signin")
    async with http.post(
        f"{live.url}/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh,
            "client_id": "hearth-console",
        },
    ) as resp:
        assert resp.status == 400
    await context.close()
    assert not errors, errors
