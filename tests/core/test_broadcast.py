"""The one slow-subscriber policy of every stream: fall too far behind and your stream ends."""

from __future__ import annotations

import asyncio

from hearth_core.broadcast import Broadcast, Ended


async def _drain(sub, n):
    return [await asyncio.wait_for(sub.get(), 1) for _ in range(n)]


async def test_fast_subscribers_get_every_event_in_order_and_a_slow_one_is_cut_off():
    hub: Broadcast[int] = Broadcast(limit=3)
    with hub.subscribe() as fast, hub.subscribe() as other, hub.subscribe() as slow:
        got_fast, got_other = [], []
        for i in range(10):
            hub.publish(i)
            got_fast += await _drain(fast, 1)
            got_other += await _drain(other, 1)
        assert got_fast == got_other == list(range(10))
        assert fast.ended is None and other.ended is None
        # The slow one never read: it holds the first `limit` events, then is told it lagged,
        # and hears nothing after that — no gap it could mistake for the whole story.
        assert slow.ended is Ended.LAGGED
        assert await _drain(slow, 4) == [0, 1, 2, Ended.LAGGED]
        assert slow.pending == 0
        assert hub.subscribers() == 2
        hub.publish(10)
        assert await _drain(fast, 1) == [10]
        assert slow.pending == 0


async def test_a_subscriber_exactly_at_the_limit_is_kept():
    hub: Broadcast[str] = Broadcast(limit=2)
    with hub.subscribe() as sub:
        hub.publish("a")
        hub.publish("b")
        assert sub.ended is None
        assert await _drain(sub, 1) == ["a"]
        hub.publish("c")  # one read made room
        assert sub.ended is None
        assert await _drain(sub, 2) == ["b", "c"]


async def test_close_ends_every_stream_after_what_it_was_already_given():
    hub: Broadcast[int] = Broadcast()
    with hub.subscribe() as a, hub.subscribe("room-1") as b:
        hub.publish(1)
        hub.close()
        assert await _drain(a, 2) == [1, Ended.CLOSED]
        assert await _drain(b, 1) == [Ended.CLOSED]
        assert hub.subscribers() == 0 and hub.subscribers("room-1") == 0
    with hub.subscribe() as late:  # opened during shutdown: ends at once instead of hanging
        assert await _drain(late, 1) == [Ended.CLOSED]


async def test_topics_are_separate_and_leaving_forgets_the_subscriber():
    hub: Broadcast[str] = Broadcast()
    with hub.subscribe("r1") as r1, hub.subscribe("r2") as r2:
        hub.publish("to r1", "r1")
        assert await _drain(r1, 1) == ["to r1"]
        assert r2.pending == 0
    assert hub.subscribers("r1") == 0 and hub.subscribers("r2") == 0
    hub.publish("nobody listens", "r1")  # no error, nothing kept
