"""Unleash's client specification (native/src/flags/testdata, Apache-2.0: see LICENSE there),
run end to end: each file's state imported with ``POST /v1/flags/import?format=unleash``, each
case evaluated with ``POST /v1/flags/evaluate`` — every case must pass, none is skipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures import service_token

TESTDATA = Path(__file__).resolve().parents[2] / "native" / "src" / "flags" / "testdata"
FILES = sorted(TESTDATA.glob("[0-9][0-9]-*.json"))
ENV = "spec"


def test_the_specification_is_all_there():
    # 01-18, 21 and 22 (19 and 20 test the delta API, which Hearth does not serve).
    names = [p.name[:2] for p in FILES]
    assert names == [f"{i:02d}" for i in (*range(1, 19), 21, 22)]


@pytest.fixture
async def fh(live, http):
    return await service_token(live, http, ["flag.read", "flag.write"])


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
async def test_specification_file(live, http, fh, path):
    spec = json.loads(path.read_text())
    url = f"{live.url}/v1/flags/import?format=unleash&environment={ENV}&mode=replace"
    async with http.post(url, headers=fh, json=spec["state"]) as resp:
        assert resp.status == 200, await resp.text()
    failures = []
    cases = 0

    async def evaluate(context):
        async with http.post(
            f"{live.url}/v1/flags/evaluate?environment={ENV}",
            headers=fh,
            json={"context": context},
        ) as resp:
            assert resp.status == 200, await resp.text()
            return {f["key"]: f for f in (await resp.json())["flags"]}

    for case in spec.get("tests", []):
        cases += 1
        got = (await evaluate(case["context"])).get(case["toggleName"])
        enabled = got["enabled"] if got is not None else False
        if enabled != case["expectedResult"]:
            failures.append((case["description"], enabled, case["expectedResult"]))
    for case in spec.get("variantTests", []):
        cases += 1
        got = (await evaluate(case["context"])).get(case["toggleName"])
        expected = case["expectedResult"]
        if got is None:
            actual = {"name": "disabled", "enabled": False, "feature_enabled": False}
        else:
            actual = {
                "name": got["variant"],
                "enabled": got["variant"] != "disabled",
                "feature_enabled": got["enabled"],
            }
            if "payload" in got:
                actual["payload"] = got["payload"]
        want = {k: expected[k] for k in ("name", "enabled", "payload") if k in expected}
        if "feature_enabled" in expected:
            want["feature_enabled"] = expected["feature_enabled"]
        have = {k: actual[k] for k in want if k in actual}
        if "payload" not in want:
            have.pop("payload", None)
        if have != want:
            failures.append((case["description"], have, want))
    assert cases > 0
    assert failures == [], f"{len(failures)} of {cases} cases failed: {failures[:5]}"
