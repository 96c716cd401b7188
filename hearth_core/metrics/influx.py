"""InfluxDB line protocol: the native decoder (``decode_influx``), run off the event loop.

Mapping (the native docstring has the details): each field is a sample of the series
``<measurement>_<field>``, tags are labels, a tag named by the namespace label gives the
namespace; string fields and unparseable lines are rejected by line, the rest kept.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from hearth_core._native import decode_influx
from hearth_core.metrics.codec import DecodedBatch, window

Precision = Literal["ns", "n", "us", "u", "ms", "s", "m", "h"]
__all__ = ["Precision", "decode"]


async def decode(
    body: bytes,
    *,
    precision: Precision,
    gzip: bool,
    namespace: str,
    namespace_label: str,
    retention_days: int,
    max_decompressed: int,
) -> DecodedBatch:
    """Decode and validate a line protocol body (off the loop). Rejections are
    ``(line_index, reason)``, 0-based. Raises ``MalformedBody`` (bad gzip) or
    ``BodyTooLarge`` (gzip inflating past ``max_decompressed``)."""
    return await asyncio.to_thread(
        decode_influx,
        body,
        precision=precision,
        gzip=gzip,
        namespace=namespace,
        namespace_label=namespace_label,
        **window(retention_days),
        max_decompressed=max_decompressed,
    )
