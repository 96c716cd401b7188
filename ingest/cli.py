"""``hearth ingest FILE``: stream a large file to /v1/metrics/bulk in batches, with a progress
bar, retries (each batch carries an Idempotency-Key, so a retry never writes twice) and a
closing throughput line."""

from __future__ import annotations

import asyncio
import base64
import csv
import gzip as gzip_mod
import hashlib
import io
import os
import sys
import time
from collections.abc import Iterator
from typing import IO, Any

import aiohttp
import click
import orjson

CONTENT_TYPES = {"json": "application/json", "ndjson": "application/x-ndjson", "csv": "text/csv"}


def _guess(path: str) -> str:
    lower = path.lower().removesuffix(".gz")
    if lower.endswith((".ndjson", ".jsonl")):
        return "ndjson"
    if lower.endswith(".csv"):
        return "csv"
    return "json"


def batches(stream: IO[bytes], fmt: str, size: int) -> Iterator[tuple[bytes, int]]:
    """(body, points) chunks of at most ``size`` points, in the file's own format."""
    if fmt == "ndjson":
        chunk: list[bytes] = []
        for line in stream:
            if line.strip():
                chunk.append(line if line.endswith(b"\n") else line + b"\n")
                if len(chunk) >= size:
                    yield b"".join(chunk), len(chunk)
                    chunk = []
        if chunk:
            yield b"".join(chunk), len(chunk)
    elif fmt == "csv":
        reader = csv.reader(io.TextIOWrapper(stream, encoding="utf-8-sig", newline=""))
        header = next(reader, None)
        if header is None:
            return
        rows: list[list[str]] = []
        for row in reader:
            rows.append(row)
            if len(rows) >= size:
                yield _csv(header, rows), len(rows)
                rows = []
        if rows:
            yield _csv(header, rows), len(rows)
    else:
        data = orjson.loads(stream.read())
        points = data["points"] if isinstance(data, dict) else data
        for i in range(0, len(points), size):
            part = points[i : i + size]
            yield orjson.dumps(part), len(part)


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return out.getvalue().encode()


async def _token(session: aiohttp.ClientSession, url: str, client_id: str, secret: str) -> str:
    auth = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    async with session.post(
        f"{url}/oauth/token",
        data={"grant_type": "client_credentials", "scope": "metrics.write"},
        headers={"Authorization": auth},
    ) as resp:
        body = await resp.json(content_type=None)
        if resp.status != 200:
            raise click.ClickException(f"token request failed: {body}")
        return str(body["access_token"])


async def _send(
    session: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    body: bytes,
    key: str,
    compress: bool,
) -> dict[str, Any]:
    data = gzip_mod.compress(body, 1) if compress else body
    h = {**headers, "Idempotency-Key": key}
    if compress:
        h["Content-Encoding"] = "gzip"
    for attempt in range(8):
        try:
            async with session.post(
                f"{url}/v1/metrics/bulk?partial=true", data=data, headers=h
            ) as resp:
                body_json = await resp.json(content_type=None)
                if resp.status == 200:
                    return dict(body_json)
                if resp.status not in (409, 503):
                    raise click.ClickException(
                        f"batch refused ({resp.status}): {body_json.get('detail', body_json)}"
                    )
                delay = float(resp.headers.get("Retry-After", "1"))
        except aiohttp.ClientConnectionError:
            delay = 0.5 * 2**attempt
        await asyncio.sleep(min(delay, 10))
    raise click.ClickException("giving up on a batch after 8 attempts")


async def run(
    path: str,
    fmt: str,
    url: str,
    token: str | None,
    client_id: str | None,
    secret: str | None,
    *,
    batch_size: int,
    concurrency: int,
    compress: bool,
    size: int,
    file_id: str,
) -> None:
    opener = gzip_mod.open if path.endswith(".gz") else open
    accepted = rejected = 0
    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        if token is None:
            if not (client_id and secret):
                raise click.UsageError("give --token, or --client-id and --client-secret")
            token = await _token(session, url, client_id, secret)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": CONTENT_TYPES[fmt]}
        slots = asyncio.Semaphore(concurrency)
        tasks: set[asyncio.Task[None]] = set()

        async def one(body: bytes, index: int) -> None:
            nonlocal accepted, rejected
            try:
                result = await _send(session, url, headers, body, f"{file_id}-{index}", compress)
                accepted += result["accepted"]
                rejected += result.get("rejected_total", 0)
            finally:
                slots.release()

        stream = await asyncio.to_thread(opener, path, "rb")
        label = f"ingesting {os.path.basename(path)}"
        with stream, click.progressbar(length=size, label=label, file=sys.stderr) as bar:
            raw = getattr(stream, "fileobj", None) or stream  # gzip: count compressed bytes
            chunks = batches(stream, fmt, batch_size)
            seen = index = 0
            # The file is read and split in a worker thread, so sends keep flowing meanwhile.
            while (item := await asyncio.to_thread(next, chunks, None)) is not None:
                await slots.acquire()
                task = asyncio.create_task(one(item[0], index))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                index += 1
                pos = raw.tell()
                bar.update(pos - seen)
                seen = pos
            if tasks:
                await asyncio.gather(*tasks)
            bar.update(size - seen)
    elapsed = time.perf_counter() - started
    click.echo(
        f"ingested {accepted} points ({rejected} rejected) in {elapsed:.2f} s: "
        f"{accepted / elapsed if elapsed else 0:,.0f} points/s"
    )


@click.command("ingest")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "ndjson", "csv"]),
    default=None,
    help="Default: from the file name (.json, .ndjson/.jsonl, .csv; .gz allowed).",
)
@click.option("--url", default="http://127.0.0.1:8080", show_default=True, envvar="HEARTH_URL")
@click.option("--token", envvar="HEARTH_TOKEN", help="A bearer token with metrics.write.")
@click.option("--client-id", envvar="HEARTH_CLIENT_ID", help="Or: a client to get a token for.")
@click.option("--client-secret", envvar="HEARTH_CLIENT_SECRET")
@click.option("--batch-size", default=50_000, show_default=True, help="Points per request.")
@click.option("--concurrency", default=8, show_default=True, help="Requests in flight.")
@click.option("--gzip", "compress", is_flag=True, help="Compress each request body.")
def ingest_command(
    file: str,
    fmt: str | None,
    url: str,
    token: str | None,
    client_id: str | None,
    client_secret: str | None,
    batch_size: int,
    concurrency: int,
    compress: bool,
) -> None:
    """Send a large metrics FILE to the server in batches (retries are idempotent)."""
    size = os.path.getsize(file)
    stamp = f"{os.path.abspath(file)}:{size}:{os.path.getmtime(file)}"
    asyncio.run(
        run(
            file,
            fmt or _guess(file),
            url.rstrip("/"),
            token,
            client_id,
            client_secret,
            batch_size=batch_size,
            concurrency=concurrency,
            compress=compress,
            size=size,
            file_id=hashlib.sha256(stamp.encode()).hexdigest()[:16],
        )
    )
