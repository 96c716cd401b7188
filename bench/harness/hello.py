"""The limit to compare against: a bare aiohttp hello-world on uvloop, one process, no access log
(``GET /``: "ok"; ``POST /``: the body read, 204; ``GET /busy?us=N``: "ok" after N µs of CPU,
the shape of a request whose handler computes, to see how the event loop shares one saturated
process among connections).

python bench/harness/hello.py PORT [uvloop|asyncio]
"""

from __future__ import annotations

import asyncio
import sys
import time

import uvloop
from aiohttp import web

# Bodies as large as any bench sends (aiohttp's default is 1 MB).
MAX_BODY = 256 * 1024 * 1024


async def hello(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def sink(request: web.Request) -> web.Response:
    """The ceiling of a load generator that POSTs bodies: read the body, answer 204."""
    await request.read()
    return web.Response(status=204)


async def busy(request: web.Request) -> web.Response:
    until = time.perf_counter() + int(request.query.get("us", "0")) / 1e6
    while time.perf_counter() < until:
        pass
    return web.Response(text="ok")


def main() -> None:
    port = int(sys.argv[1])
    stdlib = sys.argv[2:] == ["asyncio"]
    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_get("/", hello)
    app.router.add_post("/", sink)
    app.router.add_get("/busy", busy)
    web.run_app(
        app,
        host="127.0.0.1",
        port=port,
        access_log=None,
        print=None,
        loop=asyncio.new_event_loop() if stdlib else uvloop.new_event_loop(),
    )


if __name__ == "__main__":
    main()
