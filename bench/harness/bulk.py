"""``POST /v1/metrics/bulk`` from concurrent senders, every answer checked (ingest, query), and
the check of its answer for ``bench.harness.sharded`` (peers, store)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import aiohttp
import orjson

from bench.harness.server import Server


async def send_all(
    server: Server, token: str, bodies: Sequence[bytes], counts: list[int], senders: int
) -> tuple[float, list[str]]:
    """POST every body from ``senders`` concurrent senders; (seconds, problems)."""
    url = f"{server.base}/v1/metrics/bulk"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    problems: list[str] = []
    next_index = iter(range(len(bodies)))
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=300)
    connector = aiohttp.TCPConnector(limit=senders, force_close=False)

    async def sender(session: aiohttp.ClientSession) -> None:
        for i in next_index:
            async with session.post(url, data=bodies[i], headers=headers) as resp:
                raw = await resp.read()
                if resp.status != 200:
                    problems.append(f"batch {i}: HTTP {resp.status} {raw[:300]!r}")
                    continue
                accepted = orjson.loads(raw).get("accepted")
                if accepted != counts[i]:
                    problems.append(f"batch {i}: accepted {accepted} of {counts[i]}")

    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        t0 = time.perf_counter()
        await asyncio.gather(*(sender(session) for _ in range(senders)))
        seconds = time.perf_counter() - t0
    return seconds, problems


def bulk_check(status: int, body: bytes, samples: int) -> str | None:
    """A ``POST /v1/metrics/bulk`` answer acknowledges ``samples`` (sharded senders' check)."""
    if status != 200:
        return f"HTTP {status} {body[:300]!r}"
    accepted = orjson.loads(body).get("accepted")
    return None if accepted == samples else f"accepted {accepted} of {samples}"
