"""The native decoder and write-log block encoder, run off the event loop.

Only ``hearth_core`` imports ``_native``; the ingest package goes through here.
"""

from __future__ import annotations

import asyncio
import time
from typing import Literal

from hearth_core._native import (
    BodyTooLarge,
    DecodedBatch,
    IngestError,
    MalformedBody,
    SeriesMap,
    UnknownFormat,
    decode_points,
)

Format = Literal["json", "ndjson", "csv"]
__all__ = [
    "BodyTooLarge",
    "DecodedBatch",
    "Format",
    "IngestError",
    "MalformedBody",
    "UnknownFormat",
    "decode",
    "decode_points",
    "encode",
    "encode_mapped",
    "encode_remote_write",
    "window",
]

FUTURE_SLACK_US = 24 * 3600 * 1_000_000  # a day ahead: clock skew, never far-future junk


def window(retention_days: int) -> dict[str, int]:
    """The clock and accepted time window of a decode call: ``now_us``, ``min_time_us`` (the
    retention horizon) and ``max_time_us`` (a day ahead), as keyword arguments."""
    now_us = time.time_ns() // 1000
    return {
        "now_us": now_us,
        "min_time_us": now_us - retention_days * 86_400_000_000,
        "max_time_us": now_us + FUTURE_SLACK_US,
    }


async def decode(
    body: bytes, fmt: Format, *, gzip: bool, retention_days: int, max_decompressed: int
) -> DecodedBatch:
    """Decode and validate ``body`` (off the loop). Raises ``MalformedBody``, ``BodyTooLarge``
    or ``UnknownFormat`` (all ``IngestError``) when the body as a whole is unusable."""
    return await asyncio.to_thread(
        decode_points,
        body,
        fmt,
        **window(retention_days),
        gzip=gzip,
        max_decompressed=max_decompressed,
    )


async def encode(batch: DecodedBatch, series_ids: dict[int, int]) -> bytes:
    """The write-log block of the batch's accepted samples; the native side releases the GIL."""
    return await asyncio.to_thread(batch.encode_block, series_ids)


async def encode_mapped(batch: DecodedBatch, series_ids: SeriesMap) -> bytes:
    """``encode`` with the ids of a ``SeriesMap``, looked up off the loop too. Raises
    ``UnmappedSeries`` (a ``KeyError``) naming a hash the map does not hold."""
    return await asyncio.to_thread(batch.encode_block_mapped, series_ids)


async def encode_remote_write(batch: DecodedBatch, namespace_label: str) -> bytes:
    """The batch's accepted samples as a snappy-compressed remote write 1.0 body (remote mode);
    the native side releases the GIL."""
    return await asyncio.to_thread(batch.encode_remote_write, namespace_label)
