"""In-process fan-out of events to stream subscribers (the flag and room SSE streams).

Slow-subscriber policy, the same for every stream: each subscriber may fall at most ``limit``
events behind. One that falls further is cut off — it receives every event it was given so
far, then :attr:`Ended.LAGGED`, and hears nothing more — so its stream ends and its client
reconnects (with Last-Event-ID where the stream supports it, replaying what it missed; a room
stream starts again from the room's current state). A subscriber therefore never sees a gap:
it gets every event in publishing order, or its stream ends. Publishing never waits for a
reader, so one stalled client cannot hold up the others or the NOTIFY listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Hashable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

DEFAULT_LIMIT = 1000


class Ended(enum.Enum):
    """Why a subscription ended; the last thing :meth:`Subscription.get` returns."""

    CLOSED = "closed"  # the server is shutting down
    LAGGED = "lagged"  # fell more than ``limit`` events behind


class Subscription(Generic[T]):
    """One subscriber's events, in order, then an :class:`Ended`."""

    def __init__(self) -> None:
        # Unbounded so the end marker always fits; Broadcast enforces the bound before putting.
        self._queue: asyncio.Queue[T | Ended] = asyncio.Queue()
        self.ended: Ended | None = None

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    async def get(self) -> T | Ended:
        return await self._queue.get()

    def _put(self, event: T) -> None:
        self._queue.put_nowait(event)

    def _end(self, reason: Ended) -> None:
        if self.ended is None:
            self.ended = reason
            self._queue.put_nowait(reason)


class Broadcast(Generic[T]):
    """Subscribers grouped by topic (a room id; flags use the one default topic)."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self._topics: dict[Hashable, set[Subscription[T]]] = {}
        self._closed = False

    def subscribers(self, topic: Hashable = None) -> int:
        return len(self._topics.get(topic, ()))

    @contextlib.contextmanager
    def subscribe(self, topic: Hashable = None) -> Iterator[Subscription[T]]:
        sub: Subscription[T] = Subscription()
        if self._closed:
            sub._end(Ended.CLOSED)  # shutting down: a stream opened now ends at once
            yield sub
            return
        self._topics.setdefault(topic, set()).add(sub)
        try:
            yield sub
        finally:
            self._drop(topic, sub)

    def publish(self, event: T, topic: Hashable = None) -> None:
        for sub in list(self._topics.get(topic, ())):
            if sub.pending >= self.limit:
                sub._end(Ended.LAGGED)
                self._drop(topic, sub)
            else:
                sub._put(event)

    def close(self) -> None:
        """End every subscription (server shutdown), and any opened from now on."""
        self._closed = True
        for subs in self._topics.values():
            for sub in subs:
                sub._end(Ended.CLOSED)
        self._topics.clear()

    def _drop(self, topic: Hashable, sub: Subscription[T]) -> None:
        subs = self._topics.get(topic)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._topics[topic]
