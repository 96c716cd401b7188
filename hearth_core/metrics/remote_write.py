"""Prometheus remote write bodies decoded by the native core, off the event loop."""

from __future__ import annotations

import asyncio
from typing import Literal

from hearth_core._native import DecodedBatch, decode_remote_write
from hearth_core.metrics.codec import window

Version = Literal[1, 2]
__all__ = ["Version", "decode"]


async def decode(
    body: bytes,
    *,
    version: Version,
    namespace: str,
    namespace_label: str,
    retention_days: int,
    max_decompressed: int,
) -> DecodedBatch:
    """Decode and validate a snappy-compressed remote write body (1.0 or 2.0). Raises
    ``MalformedBody`` or ``BodyTooLarge`` when the body as a whole is unusable; a sample
    refused by validation is a rejected item of the batch instead."""
    return await asyncio.to_thread(
        decode_remote_write,
        body,
        version=version,
        namespace=namespace,
        namespace_label=namespace_label,
        **window(retention_days),
        max_decompressed=max_decompressed,
    )
