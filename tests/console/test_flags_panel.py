"""The Feature Flags panel in a real browser, on Unleash's model: a segment, a flag with a
flexibleRollout strategy (constraint, segment, strategy variant with a payload) and feature
variants built through the editors, stored exactly so and evaluated accordingly; an error placed
next to its field; a stale edit refused (412); a dependency; "test a context"; API tokens
created (the secret shown once) and revoked."""

from __future__ import annotations

import json
from urllib.parse import quote

import aiohttp

from tests.console.conftest import ALL, Console
from tests.fixtures import Live, service_token
from tests.native.murmur_reference import rollout_bucket

FLAG = "kassen-überarbeitung"  # Unleash allows UTF-8 names; the console quotes them in URLs
URL = f"/v1/flags/{quote(FLAG)}"


def _users(group: str, pct: int) -> tuple[str, str]:
    """A user id inside a ``pct`` % rollout of ``group`` and one outside it (Unleash's buckets)."""
    ids = [f"user-{i}" for i in range(200)]
    inside = next(u for u in ids if rollout_bucket(group, u) <= pct)
    outside = next(u for u in ids if rollout_bucket(group, u) > pct)
    return inside, outside


async def _evaluate(c: Console, context: dict, env: str = "default") -> dict:
    async with c.http.post(
        f"{c.live.url}/v1/flags/evaluate",
        params={"environment": env},
        json={"context": context},
        headers=c.headers,
    ) as resp:
        assert resp.status == 200, await resp.text()
        return {f["key"]: f for f in (await resp.json())["flags"]}


async def test_flags_panel_edits_strategies_segments_variants_dependencies_and_tokens(
    live: Live, http: aiohttp.ClientSession, signed_in
):
    page, errors = signed_in
    c = Console(page, live, http, await service_token(live, http, ALL))
    await c.panel("flags", "Feature Flags")
    await page.wait_for_selector(".live.on")
    assert await page.locator("#flags-env option").first.inner_text() == "default"

    # --- a segment, through the Segments view
    await page.click("[role=tab]:text-is('Segments')")
    await page.click("button:text-is('New segment')")
    dlg = c.dialog()
    await dlg.get_by_label("Name", exact=True).fill("paying")
    await dlg.get_by_label("Description").fill("Customers on a paid plan")
    await dlg.locator("button:text-is('Add constraint')").click()
    con = dlg.locator("fieldset[data-path='$.constraints[0]']")
    await con.get_by_label("Context field").fill("plan")
    await con.get_by_label("Operator").select_option("IN")
    await con.get_by_label("Values (one per line)").fill("pro\nteam")
    await dlg.locator("button[type=submit]").click()
    await c.ok("Segment paying created")
    await page.wait_for_selector("tr[data-segment='paying'] :text('plan IN pro, team')")
    (seg,) = (await c.get("/v1/segments"))["items"]
    assert seg["name"] == "paying" and seg["description"] == "Customers on a paid plan"
    assert seg["constraints"] == [
        {"contextName": "plan", "operator": "IN", "values": ["pro", "team"]}
    ]
    await c.shot("flags-segments")

    # --- a flag, then its strategy, constraint, segment and variants in `default`
    await page.click("[role=tab]:text-is('Flags')")
    await page.click("button:text-is('New flag')")
    dlg = c.dialog()
    await dlg.get_by_label("Name", exact=True).fill(FLAG)
    await dlg.get_by_label("Type").select_option("experiment")
    await dlg.locator("button[type=submit]").click()
    await c.ok(f"Flag {FLAG} created")
    await page.click(f"button[aria-label='Edit {FLAG} in default']")
    dlg = c.dialog()
    await dlg.get_by_label("Enabled in default").check()
    await dlg.locator("button:text-is('Add strategy')").click()
    st = dlg.locator("fieldset[data-path='$.strategies[0]']")
    assert await st.get_by_label("Strategy", exact=True).input_value() == "flexibleRollout"
    assert await st.get_by_label("Group id").input_value() == FLAG
    await st.get_by_label("Rollout %").fill("50")
    await st.get_by_label("Stickiness", exact=True).fill("userId")
    await st.locator("button:text-is('Add constraint')").click()
    con = st.locator("fieldset[data-path='$.strategies[0].constraints[0]']")
    await con.get_by_label("Context field").fill("region")
    await con.get_by_label("Operator").select_option("STR_STARTS_WITH")
    await con.get_by_label("Values (one per line)").fill("eu-")
    await con.get_by_label("Case insensitive").check()
    # a second, bad constraint: the server's error lands next to its value
    await st.locator("button:text-is('Add constraint')").click()
    bad = st.locator("fieldset[data-path='$.strategies[0].constraints[1]']")
    await bad.get_by_label("Context field").fill("age")
    await bad.get_by_label("Operator").select_option("NUM_GT")
    await bad.get_by_label("Value", exact=True).fill("many")
    await st.get_by_label(f"paying (#{seg['id']})").check()
    await st.locator("button:text-is('Add strategy variant')").click()
    sv = st.locator("fieldset[data-path='$.strategies[0].variants[0]']")
    await sv.get_by_label("Name").fill("blue")
    assert await sv.get_by_label("Weight (of 1000)").input_value() == "1000"
    await sv.get_by_label("Payload type").select_option("json")
    await sv.get_by_label("Payload", exact=True).fill('{"color": "blue"}')
    # the environment's feature variants: a fixed 300 and a variable one taking the rest
    await dlg.locator("button:text-is('Add variant')").click()
    va = dlg.locator("fieldset[data-path='$.variants[0]']")
    await va.get_by_label("Name").fill("a")
    await va.get_by_label("Weight type").select_option("fix")
    await va.get_by_label("Weight (of 1000)").fill("300")
    await va.locator("button:text-is('Add override')").click()
    await va.get_by_label("Values (one per line)").fill("vip-1")
    await dlg.locator("button:text-is('Add variant')").click()
    vb = dlg.locator("fieldset[data-path='$.variants[1]']")
    await vb.get_by_label("Name").fill("b")
    assert await vb.get_by_label("Weight (of 1000)").input_value() == "700"
    await dlg.locator("button[type=submit]").click()
    near = dlg.locator(
        ".field:has([data-path='$.strategies[0].constraints[1].value']) .field-error"
    )
    await near.wait_for()
    assert "not a number" in await near.inner_text()
    assert "400" in await dlg.locator("[role=alert]").inner_text()
    assert (await c.get(URL))["version"] == 1  # nothing saved
    await c.shot("flags-editor-error")
    await st.locator("button[aria-label='Remove constraint 2']").click()
    await dlg.locator("button[type=submit]").click()
    await c.ok(f"{FLAG} saved in default (version 2)")
    await dlg.wait_for(state="detached")

    flag = await c.get(URL)
    assert flag["version"] == 2 and flag["type"] == "experiment"
    assert flag["environments"] == {
        "default": {
            "enabled": True,
            "strategies": [
                {
                    "name": "flexibleRollout",
                    "parameters": {"rollout": "50", "stickiness": "userId", "groupId": FLAG},
                    "constraints": [
                        {
                            "contextName": "region",
                            "operator": "STR_STARTS_WITH",
                            "values": ["eu-"],
                            "caseInsensitive": True,
                        }
                    ],
                    "segments": [seg["id"]],
                    "variants": [
                        {
                            "name": "blue",
                            "weight": 1000,
                            "stickiness": "default",
                            "payload": {"type": "json", "value": '{"color": "blue"}'},
                        }
                    ],
                }
            ],
            "variants": [
                {
                    "name": "a",
                    "weight": 300,
                    "weightType": "fix",
                    "stickiness": "default",
                    "overrides": [{"contextName": "userId", "values": ["vip-1"]}],
                },
                {"name": "b", "weight": 700, "stickiness": "default"},
            ],
        }
    }
    row = page.locator(f"tr[data-flag='{FLAG}']")
    await row.locator(
        "li", has_text="rollout 50% by userId · 1 constraint(s), 1 segment(s), 1 variant(s)"
    ).wait_for()
    await c.shot("flags-list")

    # --- the evaluator answers accordingly
    inside, outside = _users(FLAG, 50)
    paying_eu = {"region": "EU-west", "plan": "pro"}
    r = (await _evaluate(c, {"userId": inside, "properties": paying_eu}))[FLAG]
    assert (r["enabled"], r["variant"], r["value"]) == (True, "blue", {"color": "blue"})
    assert r["payload"] == {"type": "json", "value": '{"color": "blue"}'}
    assert r["reason"] in ("TARGETING_MATCH", "SPLIT")
    for context in (
        {"userId": outside, "properties": paying_eu},  # outside the 50 %
        {"userId": inside, "properties": {"region": "us-east", "plan": "pro"}},  # constraint
        {"userId": inside, "properties": {"region": "eu-north", "plan": "free"}},  # segment
    ):
        miss = (await _evaluate(c, context))[FLAG]
        assert (miss["enabled"], miss["variant"], miss["reason"]) == (False, "disabled", "DEFAULT")

    # --- test a context: the same answer in the panel; a bad field is named beside it
    await page.click("[role=tab]:text-is('Test a context')")
    form = page.locator("form[aria-label='Test a context']")
    await form.get_by_label("User id").fill(inside)
    await form.get_by_label("Properties (name=value, one per line)").fill(
        "region=EU-west\nplan=pro"
    )
    await form.locator("button:text-is('Evaluate')").click()
    result = page.locator(f"#evaluation tr[data-eval='{FLAG}']")
    await result.wait_for()
    cells = await result.locator("td").all_inner_texts()
    assert cells[1:5] == ["on", "blue", '{"color":"blue"}', r["reason"]], cells
    await c.shot("flags-test-context")
    await form.get_by_label("Current time (RFC 3339)").fill("yesterday")
    await form.locator("button:text-is('Evaluate')").click()
    await form.locator(".field:has(#ctx-currentTime) .field-error").wait_for()
    await form.get_by_label("Current time (RFC 3339)").fill("")

    # --- a stale edit is refused (412); reloading takes the other writer's version
    await page.click("[role=tab]:text-is('Flags')")
    await page.click(f"button[aria-label='Edit {FLAG} in default']")
    dlg = c.dialog()
    await dlg.locator("text=Version 2.").wait_for()
    async with http.put(  # someone else saves meanwhile
        f"{live.url}{URL}", json={"description": "changed elsewhere"}, headers=c.headers
    ) as resp:
        assert resp.status == 200 and (await resp.json())["version"] == 3
    st = dlg.locator("fieldset[data-path='$.strategies[0]']")
    await st.get_by_label("Rollout %").fill("75")
    await dlg.locator("button[type=submit]").click()
    alert = dlg.locator("[role=alert]")
    await alert.locator(".problem").wait_for()
    assert "412" in await alert.inner_text()
    await c.shot("flags-editor-412")
    flag = await c.get(URL)
    assert flag["version"] == 3
    assert flag["environments"]["default"]["strategies"][0]["parameters"]["rollout"] == "50"
    await alert.locator("button:text-is('Reload their version')").click()
    await dlg.locator("text=Version 3.").wait_for()
    await st.get_by_label("Rollout %").fill("75")
    await dlg.locator("button[type=submit]").click()
    await c.ok(f"{FLAG} saved in default (version 4)")
    flag = await c.get(URL)
    assert flag["description"] == "changed elsewhere"  # their change kept
    assert flag["environments"]["default"]["strategies"][0]["parameters"]["rollout"] == "75"

    # --- a dependency on a parent flag, through the settings
    async with http.post(
        f"{live.url}/v1/flags",
        json={"name": "parent-flag", "environments": {"default": {"enabled": False}}},
        headers=c.headers,
    ) as resp:
        assert resp.status == 201
    await page.wait_for_selector("tr[data-flag='parent-flag']")
    await page.click(f"button[aria-label='Settings of {FLAG}']")
    dlg = c.dialog()
    await dlg.locator("button:text-is('Add dependency')").click()
    dep = dlg.locator("fieldset[data-path='$.dependencies[0]']")
    await dep.get_by_label("Parent flag").select_option("parent-flag")
    await dlg.locator("button[type=submit]").click()
    await c.ok(f"Settings of {FLAG} saved (version 5)")
    flag = await c.get(URL)
    assert flag["dependencies"] == [{"feature": "parent-flag"}]
    assert flag["description"] == "changed elsewhere"
    context = {"userId": inside, "properties": paying_eu}
    assert (await _evaluate(c, context))[FLAG]["reason"] == "DISABLED"  # the parent is off
    await page.click("button[role=switch][aria-label='Enable parent-flag in default']")
    await c.ok("parent-flag enabled in default")
    assert (await _evaluate(c, context))[FLAG]["enabled"] is True

    # --- a segment in use cannot be deleted: the 409 is shown
    await page.click("[role=tab]:text-is('Segments')")
    await page.click("button[aria-label='Delete segment paying']")
    await c.dialog().locator("button[type=submit]").click()
    await page.locator("#alerts .msg-error", has_text="409").wait_for()

    # --- API tokens: created (the secret shown once), listed by hint, revoked
    await page.click("[role=tab]:text-is('API tokens')")
    await page.click("button:text-is('New API token')")
    dlg = c.dialog()
    await dlg.get_by_label("Type").select_option("frontend")
    assert await dlg.get_by_label("Environment").input_value() == "default"
    await dlg.get_by_label("Name (optional)").fill("web-app")
    await dlg.locator("button[type=submit]").click()
    shown = c.dialog()
    secret = await shown.get_by_label("Token", exact=True).input_value()
    assert secret
    await c.shot("flags-token-secret")
    await shown.locator("button:text-is('Close')").click()
    await page.wait_for_selector("tr[data-token='web-app'] :text('active')")
    listed = await c.get("/v1/flag-tokens")
    (tok,) = [t for t in listed["items"] if t["name"] == "web-app"]
    assert (tok["type"], tok["environment"], tok["revoked_at"]) == ("frontend", "default", None)
    assert secret not in json.dumps(listed)  # only the hint is kept
    async with http.get(f"{live.url}/api/frontend", headers={"Authorization": secret}) as resp:
        assert resp.status == 200, await resp.text()
    await c.shot("flags-tokens")
    await page.click("button[aria-label='Revoke web-app']")
    await c.dialog().locator("button[type=submit]").click()
    await c.ok("Token web-app revoked")
    await page.wait_for_selector("tr[data-token='web-app'] :text('revoked')")
    (tok,) = [t for t in (await c.get("/v1/flag-tokens"))["items"] if t["name"] == "web-app"]
    assert tok["revoked_at"] is not None
    async with http.get(f"{live.url}/api/frontend", headers={"Authorization": secret}) as resp:
        assert resp.status == 401

    # --- another environment: picked, saved there, `default` untouched
    await page.click("[role=tab]:text-is('Flags')")
    await page.click("button:text-is('Add environment')")
    await c.dialog().get_by_label("Environment name").fill("staging")
    await c.dialog().locator("button[type=submit]").click()
    assert await page.locator("#flags-env").input_value() == "staging"
    await page.click(f"button[aria-label='Edit {FLAG} in staging']")
    dlg = c.dialog()
    await dlg.get_by_label("Enabled in staging").check()
    await dlg.locator("button:text-is('Add strategy')").click()
    st = dlg.locator("fieldset[data-path='$.strategies[0]']")
    await st.get_by_label("Strategy", exact=True).select_option("userWithId")
    await st.get_by_label("User ids").fill("alice,bob")
    await dlg.locator("button:text-is('Add strategy')").click()
    st2 = dlg.locator("fieldset[data-path='$.strategies[1]']")
    await st2.get_by_label("Strategy", exact=True).select_option("remoteAddress")
    await st2.get_by_label("IP addresses").fill("10.0.0.0/8")
    await dlg.locator("button[aria-label='Move strategy 2 up']").click()
    assert await st.get_by_label("Strategy", exact=True).input_value() == "remoteAddress"
    await dlg.locator("button[type=submit]").click()
    await c.ok(f"{FLAG} saved in staging")
    flag = await c.get(URL)
    assert flag["environments"]["staging"] == {
        "enabled": True,
        "strategies": [
            {"name": "remoteAddress", "parameters": {"IPs": "10.0.0.0/8"}},
            {"name": "userWithId", "parameters": {"userIds": "alice,bob"}},
        ],
    }
    assert flag["environments"]["default"]["strategies"][0]["parameters"]["rollout"] == "75"
    async with http.put(  # the parent too, or the dependency keeps it off there
        f"{live.url}/v1/flags/parent-flag/environments/staging",
        json={"enabled": True},
        headers=c.headers,
    ) as resp:
        assert resp.status == 200
    r = await _evaluate(c, {"userId": "bob"}, env="staging")
    assert (r[FLAG]["enabled"], r[FLAG]["reason"]) == (True, "TARGETING_MATCH")
    names = await page.locator("#flags-env option").all_inner_texts()
    assert names == ["default", "staging"]
    assert not errors, errors
