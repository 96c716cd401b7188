"""bench/flags: the delay from a flag toggle (``PUT /v1/flags/{name}/environments/{env}``
``{"enabled": …}``) to its Server-Sent Event at a subscriber of ``GET /v1/flags/stream`` on the
same and on another worker."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field

import aiohttp

from bench.harness.client import bearer_token
from bench.harness.flag_data import ENV, TOGGLE_FLAG
from bench.harness.log import BenchError, say
from bench.harness.server import Server, hearth_server


@dataclass
class Subscriber:
    label: str
    base: str
    token: str
    arrivals: dict[int, float] = field(default_factory=dict)  # flag version -> perf_counter
    latencies_ms: list[float] = field(default_factory=list)
    missing: int = 0
    after_answer_ms: list[float] = field(default_factory=list)  # arrival - the PUT's answer
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Propagation:
    subscribers: list[Subscriber]
    put_ms: list[float]
    toggles: int
    put_errors: int
    rate: float
    seconds: float


async def _listen(session: aiohttp.ClientSession, sub: Subscriber) -> None:
    headers = {"Authorization": f"Bearer {sub.token}", "Accept": "text/event-stream"}
    async with session.get(f"{sub.base}/v1/flags/stream", headers=headers) as resp:
        if resp.status != 200:
            raise BenchError(f"{sub.label}: stream answered {resp.status}")
        event, first_at = "", 0.0
        data: list[str] = []
        async for raw in resp.content:
            now = time.perf_counter()
            line = raw.decode().rstrip("\r\n")
            if not line:  # end of one event
                if event == "hello":
                    sub.ready.set()
                elif event == "flag":
                    doc = json.loads("\n".join(data))
                    state = doc.get("state") or {}
                    if doc.get("flag") == TOGGLE_FLAG and "version" in state:
                        sub.arrivals.setdefault(int(state["version"]), first_at)
                        sub.arrived.set()
                event, data, first_at = "", [], 0.0
                continue
            first_at = first_at or now
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)


async def _propagation(
    put_base: str, put_token: str, subs: list[Subscriber], toggles: int, rate: float
) -> Propagation:
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=None)
    async with (
        aiohttp.ClientSession(timeout=timeout) as listen,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as writer,
    ):
        tasks = [asyncio.create_task(_listen(listen, s), name=s.label) for s in subs]
        try:
            deadline = time.perf_counter() + 15
            while not all(s.ready.is_set() for s in subs) and time.perf_counter() < deadline:
                for t in tasks:
                    if t.done():
                        t.result()  # a subscriber that failed raises here
                await asyncio.sleep(0.05)
            if not all(s.ready.is_set() for s in subs):
                raise BenchError("the SSE subscribers did not receive their hello event")
            url = f"{put_base}/v1/flags/{TOGGLE_FLAG}"
            headers = {"Authorization": f"Bearer {put_token}"}
            async with writer.get(url, headers=headers) as resp:
                doc = await resp.json()
            enabled = bool(doc["environments"].get(ENV, {}).get("enabled", False))
            url = f"{url}/environments/{ENV}"
            sent: dict[int, float] = {}
            answered: dict[int, float] = {}
            put_ms: list[float] = []
            errors = 0
            start = time.perf_counter()
            for i in range(toggles):
                enabled = not enabled
                t0 = time.perf_counter()
                async with writer.put(url, json={"enabled": enabled}, headers=headers) as resp:
                    body = await resp.read()
                t1 = time.perf_counter()
                if resp.status != 200:
                    errors += 1
                    say(f"!!! PUT {url}: {resp.status} {body[:200]!r}")
                else:
                    version = int(json.loads(body)["version"])
                    sent[version], answered[version] = t0, t1
                    put_ms.append((t1 - t0) * 1000)
                delay = start + (i + 1) / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            seconds = time.perf_counter() - start
            with contextlib.suppress(TimeoutError):  # what has not come in 5 s is missing
                async with asyncio.timeout(5):
                    for s in subs:
                        while not sent.keys() <= s.arrivals.keys():
                            s.arrived.clear()
                            await s.arrived.wait()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    for s in subs:
        s.latencies_ms = [(s.arrivals[v] - t0) * 1000 for v, t0 in sent.items() if v in s.arrivals]
        s.missing = len(sent) - len(s.latencies_ms)
        s.after_answer_ms = [
            (s.arrivals[v] - t1) * 1000 for v, t1 in answered.items() if v in s.arrivals
        ]
    return Propagation(subs, put_ms, toggles, errors, rate, seconds)


def measure_propagation(
    server: Server, token: str, client: tuple[str, str], toggles: int, rate: float
) -> Propagation:
    subs = [Subscriber("same worker (the PUT's)", server.base, token)]
    try:
        with hearth_server(share=server) as other:
            other_token = bearer_token(other, client)
            subs.append(Subscriber("other worker (2nd process)", other.base, other_token))
            say(f"toggling {TOGGLE_FLAG} {toggles} times at {rate:g}/s; 1 subscriber per worker")
            return asyncio.run(_propagation(server.base, token, subs, toggles, rate))
    except BenchError as exc:
        if len(subs) > 1:
            raise
        say(f"!!! no second worker ({exc}); both subscribers on the first one")
        subs.append(Subscriber("same worker, 2nd subscriber", server.base, token))
        return asyncio.run(_propagation(server.base, token, subs, toggles, rate))
