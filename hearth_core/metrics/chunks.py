"""Compressed series chunks, their rollups and write-log blocks (native core).

Only ``hearth_core`` imports ``_native``; the metric store goes through here. Every
function releases the GIL for its real work, so call it through
``asyncio.to_thread`` from the event loop. Formats and codec figures:
``native/src/chunk/mod.rs``, ``native/src/block/mod.rs``, ``bench/ingest/CODECS.md``.

Compaction is one call per pass: ``touched_windows`` lists the ``(series_id,
window_start_us)`` chunks a pass's blocks touch, ``compact_columns`` merges the blocks into
them and recomputes the hourly rollups of the affected hours, returning columns ready for
the multi-row writes (``native/src/compact/mod.rs``); ``rebase_rollups`` recomputes a stored
window's rollups when a late sample changed the value before it.

Reading is one call per query (``native/src/query/mod.rs``): ``aggregate_windows``
answers an analytics query (one value per group and step window, ``Agg``) from the
chunks and the not yet compacted blocks, with compaction's merge rule and the rollup
semantics of ``rollups``; ``series_samples`` returns the merged raw samples;
``reencode_chunks`` re-encodes chunks in a batch (sealing Gorilla chunks as pcodec).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

from hearth_core import _native
from hearth_core._native import (
    CHUNK_MAX_SAMPLES,
    HOUR_US,
    STALE_NAN_BITS,
    BlockError,
    ChunkError,
    aggregate_windows,
    chunk_edges,
    chunk_header,
    compact_columns,
    decode_block,
    decode_chunk,
    encode_block,
    encode_chunk,
    rebase_rollups,
    reencode_chunks,
    rollups,
    series_samples,
    touched_windows,
)

__all__ = [
    "AGGS",
    "CHUNK_MAX_SAMPLES",
    "CODEC_IDS",
    "HOUR_US",
    "STALE_NAN_BITS",
    "WINDOW_US",
    "Agg",
    "BlockError",
    "ChunkError",
    "Codec",
    "aggregate_windows",
    "chunk_edges",
    "chunk_header",
    "compact_columns",
    "decode_block",
    "decode_chunk",
    "encode_block",
    "encode_chunk",
    "native_path",
    "rebase_rollups",
    "reencode_chunks",
    "rollups",
    "series_samples",
    "touched_windows",
]

Codec = Literal["pco", "gorilla"]
Agg = Literal["avg", "sum", "min", "max", "count", "last", "rate"]
"""How ``aggregate_windows`` combines a group's series per window."""
AGGS: tuple[Agg, ...] = get_args(Agg)

WINDOW_US: int = 2 * HOUR_US
"""A chunk holds one series' samples of ``[start, start + WINDOW_US)``, ``start`` a multiple of
it: 480 samples at a 15-s scrape, enough for pcodec to pay off (``bench/ingest/CODECS.md``)."""
CODEC_IDS: dict[Codec, int] = {"gorilla": 1, "pco": 2}
"""``metric_chunks.codec`` of each codec."""


def native_path() -> str:
    """Where the native module's file is (the SQL ``metrics`` function loads it)."""
    return str(Path(_native.__file__).resolve())
