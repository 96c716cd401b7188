"""Sharded senders, as scrapers push: each sender owns a shard of the series and POSTs its
pre-encoded requests one after another (so every series gets its samples in time order), the
senders spread over a few forked processes (one Python process cannot keep a fast receiver
busy). Every answer is checked: only 2xx counts as acknowledged; a 503 (backpressure) is
retried after its Retry-After, as a client must; anything else is a problem.

``send_sharded`` sends a fixed list of requests; ``send_sharded_for`` sends for a duration,
each sender making its requests as it goes (request ``k`` of its shard), and counts the
samples acknowledged in every second. Either can report progress: the samples acknowledged
so far, summed over the processes, handed to a callback about every ``PROGRESS_S`` s.
``send_sharded(lockstep=True)`` holds the senders together: request ``j`` of any shard goes
only once every shard's request ``j - 1`` has been answered — when request ``j`` of every
shard covers the same span of sample time, the receiver never gets a sample older than the
span before the newest it holds (Prometheus refuses samples an hour behind its newest).
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing as mp
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import uvloop

# A request body and the samples it carries.
Request = tuple[bytes, int]
# (status, body) -> None when the answer acknowledges the request's samples, else why not.
Check = Callable[[int, bytes, int], str | None]
# Request k of a shard (send_sharded_for).
Maker = Callable[[int], Request]
# Samples acknowledged so far, over every process (send_sharded's progress).
Progress = Callable[[int], None]
MAX_RETRY_S = 1.0
PROGRESS_S = 5.0
LOCKSTEP_POLL_S = 0.002
_DONE = 2**62  # a finished shard holds no other back


@dataclass
class _Shared:
    """What the sender processes share: samples acknowledged by all (progress), and per shard
    the requests answered so far (lockstep); ``index``: this process' shards' places in it."""

    acked: Any = None  # multiprocessing Value("q")
    answered: Any = None  # multiprocessing Array("q", shards)
    index: list[int] = field(default_factory=list)


@dataclass
class Sent:
    seconds: float  # first send to last acknowledgement, over all senders
    samples: int  # acknowledged
    requests: int
    retries: int  # 503s retried
    problems: list[str] = field(default_factory=list)

    per_second: list[int] = field(default_factory=list)  # acked in each second from `started`
    started: float = 0.0  # the common start (time.monotonic())

    @property
    def rate(self) -> float:
        return self.samples / self.seconds if self.seconds else 0.0


def status_2xx(status: int, body: bytes, _samples: int) -> str | None:
    return None if 200 <= status < 300 else f"HTTP {status} {body[:300]!r}"


async def _senders(
    url: str,
    headers: dict[str, str],
    shards: list[Sequence[Request]] | list[Maker],
    check: Check,
    start: float,
    duration: float | None = None,
    shared: _Shared | None = None,
) -> tuple[float, float, int, int, int, list[str], list[int]]:
    """Every shard's requests (a list, or a maker called until ``duration`` s have passed);
    ``shared``: the counters shared with the other processes (progress, lockstep)."""
    shared = shared or _Shared()
    acked_total, answered = shared.acked, shared.answered
    problems: list[str] = []
    acked = requests = retries = 0
    per_second: list[int] = []
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=300)
    connector = aiohttp.TCPConnector(limit=0)

    def requests_of(shard: Any) -> Any:
        if not callable(shard):
            yield from shard
            return
        for k in itertools.count():
            if time.monotonic() >= start + (duration or 0.0):
                return
            yield shard(k)

    async def sender(session: aiohttp.ClientSession, shard: Any, g: int) -> None:
        nonlocal acked, requests, retries
        for i, (body, samples) in enumerate(requests_of(shard)):
            if answered is not None:
                # the other senders are in other processes too: shared memory, polled
                while min(answered[:]) < i:  # noqa: ASYNC110
                    await asyncio.sleep(LOCKSTEP_POLL_S)
            while True:
                async with session.post(url, data=body, headers=headers) as resp:
                    raw = await resp.read()
                    status, wait = resp.status, resp.headers.get("Retry-After")
                if status != 503:
                    break
                retries += 1
                await asyncio.sleep(min(float(wait or 0.1), MAX_RETRY_S))
            requests += 1
            why = check(status, raw, samples)
            if why is None:
                acked += samples
                if acked_total is not None:
                    with acked_total.get_lock():
                        acked_total.value += samples
                second = int(time.monotonic() - start)
                per_second.extend([0] * (second + 1 - len(per_second)))
                per_second[second] += samples
            elif len(problems) < 20:
                problems.append(f"request {i}: {why}")
            if answered is not None:
                answered[g] = i + 1
        if answered is not None:
            answered[g] = _DONE

    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        # Every process starts at the same moment (monotonic clock, shared by the processes).
        await asyncio.sleep(max(0.0, start - time.monotonic()))
        t0 = time.monotonic()
        index = shared.index or list(range(len(shards)))
        await asyncio.gather(*(sender(session, s, g) for s, g in zip(shards, index, strict=True)))
        t1 = time.monotonic()
    return t0, t1, acked, requests, retries, problems, per_second


def _child(
    conn: mp.connection.Connection,
    url: str,
    headers: dict[str, str],
    shards: list[Sequence[Request]] | list[Maker],
    check: Check,
    start: float,
    duration: float | None,
    shared: _Shared,
) -> None:
    try:
        conn.send(uvloop.run(_senders(url, headers, shards, check, start, duration, shared)))
    except BaseException as exc:
        conn.send(exc)
    finally:
        conn.close()


def send_sharded(
    url: str,
    headers: dict[str, str],
    shards: Sequence[Sequence[Request]],
    processes: int,
    check: Check = status_2xx,
    progress: Progress | None = None,
    lockstep: bool = False,
) -> Sent:
    """Every shard's requests from its own sender; the senders dealt round-robin over
    ``processes`` forked processes (they inherit the pre-encoded bodies: nothing is encoded or
    copied while timing). Timed from the common start to the last acknowledgement.
    ``progress`` gets the samples acknowledged so far every ``PROGRESS_S`` s and at the end;
    ``lockstep``: see the module's docstring."""
    return _run(url, headers, shards, processes, check, None, progress, lockstep)


def send_sharded_for(
    url: str,
    headers: dict[str, str],
    makers: Sequence[Maker],
    processes: int,
    duration: float,
    check: Check = status_2xx,
) -> Sent:
    """As ``send_sharded``, each sender sending request ``k = 0, 1, …`` of its shard
    (``makers[shard](k)``) until ``duration`` s after the common start (a request under way
    then is still awaited). ``per_second``: samples acknowledged in each second."""
    return _run(url, headers, makers, processes, check, duration)


def _run(
    url: str,
    headers: dict[str, str],
    shards: Sequence[Sequence[Request]] | Sequence[Maker],
    processes: int,
    check: Check,
    duration: float | None,
    progress: Progress | None = None,
    lockstep: bool = False,
) -> Sent:
    ctx = mp.get_context("fork")
    start = time.monotonic() + 0.5 + 0.05 * processes  # after every child is up
    acked_total = ctx.Value("q", 0) if progress is not None else None
    answered = ctx.Array("q", len(shards), lock=False) if lockstep else None
    last = time.monotonic()
    children = []
    for p in range(processes):
        index = list(range(p, len(shards), processes))
        mine = [shards[i] for i in index]
        shared = _Shared(acked_total, answered, index)
        parent_end, child_end = ctx.Pipe(duplex=False)
        proc = ctx.Process(
            target=_child,
            args=(child_end, url, headers, mine, check, start, duration, shared),
        )
        proc.start()
        child_end.close()
        children.append((proc, parent_end))
    outs = []
    for proc, end in children:
        while not end.poll(1.0):
            if not proc.is_alive():
                raise RuntimeError(f"sender process {proc.pid} died (exit code {proc.exitcode})")
            if acked_total is not None and progress and time.monotonic() - last >= PROGRESS_S:
                last = time.monotonic()
                progress(int(acked_total.value))
        out = end.recv()
        proc.join()
        if isinstance(out, BaseException):
            raise out
        outs.append(out)
    if progress is not None:
        progress(sum(o[2] for o in outs))
    return Sent(
        seconds=max(o[1] for o in outs) - min(o[0] for o in outs),
        samples=sum(o[2] for o in outs),
        requests=sum(o[3] for o in outs),
        retries=sum(o[4] for o in outs),
        problems=[p for o in outs for p in o[5]],
        per_second=[sum(c) for c in itertools.zip_longest(*(o[6] for o in outs), fillvalue=0)],
        started=start,
    )
