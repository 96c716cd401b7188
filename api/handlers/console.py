"""The web console: static files under ``api/console`` served at ``/console/``.

No build step: plain ES modules, a charting library copied into ``api/console/vendor`` by
``make setup``. Every response carries a strict Content-Security-Policy (no inline script or
style), so the console only talks to this server.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from aiohttp import web

from api.keys import DB, IDENTITY, SETTINGS
from api.routing import Routes
from hearth_core.bootstrap import CONSOLE_CLIENT_ID, ensure_console_client
from hearth_core.scopes import PUBLIC

routes = Routes("console")
ROOT = (Path(__file__).resolve().parent.parent / "console").resolve()

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".map": "application/json",
}
NO_CACHE = "no-cache"
VENDOR_CACHE = "public, max-age=31536000, immutable"


async def register_console_client(app: web.Application) -> None:
    """At start: the console's redirect URI is this server's own ``/console/callback``."""
    await ensure_console_client(app[DB], app[SETTINGS])
    await app[IDENTITY].clients.refresh_one({"client_id": CONSOLE_CLIENT_ID})


def _resolve(rel: str) -> Path | None:
    """The file under ROOT that ``rel`` names, or None (missing, a directory, or outside)."""
    if "\x00" in rel or "\\" in rel:
        return None
    parts = [p for p in rel.split("/") if p]
    if any(p in (".", "..") or p.startswith(".") for p in parts):
        return None
    path = ROOT.joinpath(*parts).resolve()
    if not path.is_relative_to(ROOT) or not path.is_file():
        return None
    return path


def _file_response(path: Path, cache: str) -> web.Response:
    ctype = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
    ctype = ctype or "application/octet-stream"
    body = path.read_bytes()  # small files, read once per request
    charset = "utf-8" if ctype.startswith("text/") or ctype == "application/json" else None
    return web.Response(
        body=body,
        content_type=ctype,
        charset=charset,
        headers={**SECURITY_HEADERS, "Cache-Control": cache},
    )


def _index() -> web.Response:
    return _file_response(ROOT / "index.html", NO_CACHE)


@routes.get("/", scope=PUBLIC, summary="Redirect to the web console")
async def root(request: web.Request) -> web.Response:
    raise web.HTTPFound("/console/")


@routes.get("/console", scope=PUBLIC, summary="Redirect to the web console")
async def console_bare(request: web.Request) -> web.Response:
    raise web.HTTPFound("/console/")


@routes.get("/console/", scope=PUBLIC, summary="The web console", content_types=("text/html",))
async def index(request: web.Request) -> web.Response:
    return _index()


@routes.get(
    "/console/callback",
    scope=PUBLIC,
    summary="The console's OAuth redirect URI (the page finishes the code exchange)",
    content_types=("text/html",),
)
async def callback(request: web.Request) -> web.Response:
    return _index()


@routes.get(
    "/console/{path:.+}",
    scope=PUBLIC,
    summary="The console's static files",
    content_types=("text/javascript", "text/css"),
)
async def asset(request: web.Request) -> web.Response:
    rel = request.match_info["path"]
    path = _resolve(rel)
    if path is None:
        raise web.HTTPNotFound()
    cache = VENDOR_CACHE if rel.startswith("vendor/") else NO_CACHE
    return _file_response(path, cache)
