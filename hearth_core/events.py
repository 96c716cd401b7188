"""Cross-worker cache invalidation through PostgreSQL LISTEN/NOTIFY.

A change is announced with ``notify`` inside the transaction that makes it, so it is delivered
exactly when it commits. Each worker keeps one listening connection; when that connection is
lost, notifications may have been missed, so every subscriber's ``resync`` runs after reconnecting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import orjson

CHANNEL = "hearth_events"
log = logging.getLogger("hearth.events")

Handler = Callable[[dict[str, Any]], Awaitable[None] | None]
Resync = Callable[[], Awaitable[None]]


async def notify(conn: asyncpg.Connection, kind: str, **payload: Any) -> None:
    await conn.execute(
        "SELECT pg_notify($1, $2)", CHANNEL, orjson.dumps({"kind": kind, **payload}).decode()
    )


class EventListener:
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._handlers: dict[str, list[Handler]] = {}
        self._resyncs: list[Resync] = []
        self._conn: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def subscribe(self, kind: str, handler: Handler, resync: Resync | None = None) -> None:
        self._handlers.setdefault(kind, []).append(handler)
        if resync is not None:
            self._resyncs.append(resync)

    async def start(self) -> None:
        await self._connect()
        self._task = asyncio.create_task(self._watch(), name="hearth-events")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close()

    async def _connect(self) -> None:
        conn = await asyncpg.connect(self._dsn)
        conn.add_termination_listener(lambda _c: self._lost.set())
        await conn.add_listener(CHANNEL, self._on_notify)
        self._conn = conn
        self._lost.clear()

    async def _watch(self) -> None:
        delay = 0.1
        while True:
            await self._lost.wait()
            log.warning("event listener lost its connection; reconnecting")
            try:
                await self._connect()
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("event listener reconnect failed", extra={"error": repr(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.1
            for resync in self._resyncs:
                try:
                    await resync()
                except Exception:
                    log.exception("resync after reconnect failed")

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError:
            log.warning("ignoring a malformed notification")
            return
        for handler in self._handlers.get(event.get("kind", ""), ()):
            result = handler(event)
            if asyncio.iscoroutine(result):
                task = asyncio.ensure_future(result)
                task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("event handler failed", exc_info=task.exception())
