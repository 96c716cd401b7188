"""Server-Sent Events responses: one way to open a stream, write events, keep it alive, follow a
:class:`~hearth_core.broadcast.Subscription` and end.

    async with EventStream(request) as out:
        await out.send(b"{...}", event="hello", id=7, retry=1000)
        async for event in out.follow(subscription):
            await out.send(encode(event), event="flag", id=event.revision)
    return out.response

A client that goes away is routine for a stream: the write that finds the connection gone ends
the stream quietly (logged at DEBUG), instead of surfacing as a handler error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from types import TracebackType
from typing import TypeVar

from aiohttp import web

from api.middlewares import stamp
from hearth_core.broadcast import Ended, Subscription

T = TypeVar("T")

KEEPALIVE_SECONDS = 15.0
HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # proxies (nginx) must pass events through unbuffered
}
log = logging.getLogger("hearth.sse")


class EventStream:
    """One ``text/event-stream`` response; prepared on entering, ended on leaving."""

    def __init__(self, request: web.Request, *, keepalive: float = KEEPALIVE_SECONDS) -> None:
        self.request = request
        self.keepalive = keepalive
        self.response = web.StreamResponse(headers=HEADERS)

    async def __aenter__(self) -> EventStream:
        stamp(self.request, self.response)  # its headers go out before the middleware sees it
        await self.response.prepare(self.request)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if isinstance(exc, ConnectionResetError):
            log.debug("stream client went away", extra={"path": self.request.path})
            return True  # nothing left to end, and nothing to tell the client
        if isinstance(exc, asyncio.CancelledError):
            # The client left (where the server cancels handlers then) or the server stops; a
            # cancelled task must stay cancelled.
            log.debug("stream cancelled", extra={"path": self.request.path})
            return False
        if exc is None:
            try:
                await self.response.write_eof()
            except ConnectionResetError:
                log.debug("stream client went away", extra={"path": self.request.path})
        return False

    async def send(
        self,
        data: bytes,
        *,
        event: str | None = None,
        id: int | None = None,
        retry: int | None = None,
    ) -> None:
        """One event; ``data`` is one line of JSON. ``retry`` (ms) tells the browser's
        EventSource how long to wait before reconnecting."""
        head = b"" if retry is None else b"retry: %d\n" % retry
        if id is not None:
            head += b"id: %d\n" % id
        if event is not None:
            head += b"event: %s\n" % event.encode()
        await self.response.write(head + b"data: " + data + b"\n\n")

    async def follow(self, subscription: Subscription[T]) -> AsyncIterator[T]:
        """The subscription's events until it ends (shutdown, or this client fell too far
        behind and must reconnect); a comment every ``keepalive`` seconds of quiet keeps
        proxies from closing the connection."""
        while True:
            try:
                event = await asyncio.wait_for(subscription.get(), self.keepalive)
            except TimeoutError:
                await self.response.write(b": keepalive\n\n")
                continue
            if isinstance(event, Ended):
                if event is Ended.LAGGED:
                    await self.response.write(b": fell behind; reconnect to resume\n\n")
                return
            yield event
