"""HTTP calls of the benches' setup and checks (urllib: no event loop), and OAuth clients."""

from __future__ import annotations

import base64
import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any

from bench.harness.log import BenchError
from bench.harness.paths import ROOT, tool

if TYPE_CHECKING:
    from bench.harness.server import Server


def http(
    url: str,
    *,
    data: dict[str, str] | None = None,
    auth: str | None = None,
    timeout: float = 5.0,
) -> tuple[int, bytes]:
    """GET, or POST of a form when ``data`` is given: (status, body)."""
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body)
    if body is not None:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    if auth is not None:
        req.add_header("Authorization", auth)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def get_json(url: str, token: str, timeout: float = 10.0) -> dict[str, Any]:
    status, body = http(url, auth=f"Bearer {token}", timeout=timeout)
    if status != 200:
        raise BenchError(f"GET {url}: {status} {body[:500]!r}")
    return dict(json.loads(body))


def post_json(url: str, token: str, doc: Any, timeout: float = 60.0) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=json.dumps(doc).encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def basic(client_id: str, secret: str) -> str:
    # RFC 6749 §2.3.1: form-urlencode both parts, then base64.
    raw = f"{urllib.parse.quote_plus(client_id)}:{urllib.parse.quote_plus(secret)}"
    return "Basic " + base64.b64encode(raw.encode()).decode()


def create_client(server: Server, name: str, scopes: str) -> tuple[str, str]:
    """A confidential client_credentials client, by ``hearth client create``."""
    res = subprocess.run(
        [
            str(tool("hearth")),
            "client",
            "create",
            "--name",
            name,
            "--grants",
            "client_credentials",
            "--scopes",
            scopes,
            "--json",
        ],
        env=server.env,
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    if res.returncode != 0:
        raise BenchError(f"hearth client create failed:\n{res.stderr.decode()[-2000:]}")
    out = json.loads(res.stdout)
    return out["client_id"], out["client_secret"]


def bearer_token(server: Server, client: tuple[str, str]) -> str:
    """client_credentials; the server learns of a new client by NOTIFY, so retry briefly."""
    form, auth = {"grant_type": "client_credentials"}, basic(*client)
    for _ in range(40):
        status, body = http(f"{server.base}/oauth/token", data=form, auth=auth)
        if status == 200:
            return str(json.loads(body)["access_token"])
        time.sleep(0.25)
    raise BenchError(f"cannot obtain a token: {status} {body[:500]!r}")
