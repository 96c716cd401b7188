"""Native core of Hearth Core Services (Rust, built by maturin).

Import only from ``hearth_core``. The series hash is the key of the metric series
dictionary (``metric_series.hash``); it is part of the storage contract.

Canonical encoding of a series identity (all integers u32 little-endian, strings
UTF-8, no normalisation)::

    len(namespace) namespace  len(name) name  label_count
    then, for each label in ascending UTF-8 byte order of its key:
    len(key) key  len(value) value

The series hash is XXH64 (seed 0) of that encoding, reinterpreted as a signed
64-bit integer so it fits PostgreSQL ``bigint``.

Feature-flag bucketing is Unleash-compatible: a user's bucket in a group (usually
the flag name) is MurmurHash3 x86 32-bit of the UTF-8 key ``"{group}:{user_id}"``
reduced to ``1..normalizer``, with seed 0 for rollouts (normalizer 100) and seed
86028157 for variants (normalizer = total variant weight). The buckets are a
contract with the flag configuration: changing them moves users between buckets.

Metric ingestion: ``decode_points`` decodes a request body (JSON array or
``{"points": [...]}``, NDJSON, or CSV; optionally gzip) into a ``DecodedBatch`` of
validated points, reporting every rejected item with its index and a reason naming
the field. The batch encodes its points as one write-log block (see below).

Metric storage: a *chunk* holds one series' samples (timestamps in µs since the Unix
epoch, ``float`` values) compressed with pcodec (default) or Gorilla; a *write-log
block* holds one ingest batch's samples as three columns sorted by (series, time).
Both are self-describing and checksummed; every ``float`` bit pattern (NaN payloads
such as Prometheus's staleness marker ``STALE_NAN_BITS``, ``-0.0``, infinities) and
every 64-bit timestamp round-trips exactly. Layouts: ``native/src/chunk/mod.rs`` and
``native/src/block/mod.rs``; codec figures: ``bench/ingest/CODECS.md``.
"""

from collections.abc import Iterable, Sequence
from typing import Literal, Self, final

__all__ = [
    "CHUNK_MAX_SAMPLES",
    "HOUR_US",
    "STALE_NAN_BITS",
    "BlockError",
    "BodyTooLarge",
    "BucketError",
    "ChunkError",
    "DecodedBatch",
    "FlagContextError",
    "FlagSet",
    "FlagStateError",
    "IngestError",
    "MalformedBody",
    "PromqlError",
    "SeriesError",
    "SeriesMap",
    "UnknownFormat",
    "UnmappedSeries",
    "__version__",
    "aggregate_windows",
    "canonical_encoding",
    "chunk_edges",
    "chunk_header",
    "compact_columns",
    "decode_block",
    "decode_chunk",
    "decode_influx",
    "decode_otlp",
    "decode_points",
    "decode_remote_write",
    "encode_block",
    "encode_chunk",
    "encode_otlp_response",
    "encode_rpc_status",
    "log_series_ids",
    "murmur3_x86_32",
    "promql_enforce",
    "promql_enforce_selectors",
    "promql_eval",
    "promql_match_series",
    "promql_needs",
    "promql_selectors",
    "rebase_rollups",
    "reencode_chunks",
    "rollout_bucket",
    "rollout_buckets",
    "rollups",
    "series_hash",
    "series_hashes",
    "series_samples",
    "touched_windows",
    "variant_bucket",
]

__version__: str
"""Version of the native crate (equals the Python package version)."""

class SeriesError(ValueError):
    """A series identity cannot be encoded.

    Raised for a duplicate label key (impossible from a ``dict``) or a string
    whose UTF-8 encoding exceeds 4 GiB.
    """

def series_hash(namespace: str, name: str, labels: dict[str, str]) -> int:
    """Signed 64-bit series hash of ``(namespace, name, labels)``.

    XXH64 (seed 0) of the canonical encoding. Label order does not matter.

    Raises:
        TypeError: a label key or value is not ``str``.
    """

def series_hashes(items: Iterable[tuple[str, str, dict[str, str]]]) -> list[int]:
    """``series_hash`` of each ``(namespace, name, labels)`` tuple, in order.

    Faster than calling ``series_hash`` in a loop: the inputs are converted in
    one pass and the hashing runs with the GIL released.

    Raises:
        TypeError: an item is not a 3-tuple ``(str, str, dict)`` or a label key
            or value is not ``str``; the message names the item index.
    """

def canonical_encoding(namespace: str, name: str, labels: dict[str, str]) -> bytes:
    """The canonical byte encoding that ``series_hash`` hashes (for debugging and tests)."""

class BucketError(ValueError):
    """A bucket cannot be computed: ``variant_bucket`` with a total weight of 0."""

def murmur3_x86_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3 x86 32-bit of ``data`` as an unsigned 32-bit integer.

    Raises:
        TypeError: ``data`` is not ``bytes`` (``bytearray`` and ``memoryview``
            are rejected too).
        OverflowError: ``seed`` is not in ``0 .. 2**32 - 1``.
    """

def rollout_bucket(group: str, user_id: str) -> int:
    """Rollout bucket ``1..100`` of ``user_id`` in ``group`` (usually the flag name).

    Unleash's ``normalizedValue(user_id, group, 100)``:
    ``murmur3_x86_32(f"{group}:{user_id}".encode(), 0) % 100 + 1``. The user is
    in a gradual rollout of ``p`` percent iff the bucket is ``<= p``.

    Raises:
        TypeError: ``group`` or ``user_id`` is not ``str``.
        UnicodeEncodeError: a string contains a lone surrogate.
    """

def rollout_buckets(groups: Iterable[str], user_id: str) -> list[int]:
    """``rollout_bucket(group, user_id)`` for each group, in order.

    One call evaluates many flags for one user. Large batches are hashed with
    the GIL released.

    Raises:
        TypeError: ``groups`` is a ``str`` or not iterable, an item is not
            ``str`` (the message names its index), or ``user_id`` is not ``str``.
        UnicodeEncodeError: a string contains a lone surrogate.
    """

def variant_bucket(group: str, user_id: str, total_weight: int) -> int:
    """Variant bucket ``1..total_weight`` of ``user_id`` in ``group``.

    Unleash's variant normalizer:
    ``murmur3_x86_32(f"{group}:{user_id}".encode(), 86028157) % total_weight + 1``.

    Raises:
        BucketError: ``total_weight`` is 0.
        OverflowError: ``total_weight`` is negative or at least ``2**32``.
        TypeError: ``group`` or ``user_id`` is not ``str``.
    """

class FlagStateError(ValueError):
    """A client-API state ``FlagSet`` cannot compile: not JSON, not an object, a feature or
    segment of the wrong shape, or a duplicate feature name. ``path`` names the member
    (``$``, ``$.features[3]``, ``$.features[3].name``)."""

    path: str

class FlagContextError(ValueError):
    """A request body whose context cannot be read. ``path`` names the member:
    ``$`` (not a JSON object), ``$.context`` (not an object), ``$.context.currentTime``
    (not an RFC 3339 date-time), ``$.context.plan`` / ``$.context.properties.plan`` (an
    object or array where a string, number or boolean belongs)."""

    path: str

@final
class FlagSet:
    """One environment's feature flags compiled for evaluation (Unleash's semantics).

    Built from Unleash's client-API state, exactly what ``GET /api/client/features``
    serves: ``{"version", "features": [...], "segments": [...]}``; a feature may also
    carry Hearth's ``metadata`` object, echoed in evaluations. Lenient as Unleash's SDKs
    are (unknown fields ignored, parameters may be numbers). Strategies, constraints,
    segments, feature and strategy variants and dependencies evaluate as in Unleash's
    engine (checked against Unleash's client specification); ``applicationHostname``
    compares with this server's host name (``$HOSTNAME``, else the system's).

    A request body is ``{"context": {...}}`` (empty bytes: an empty context): Unleash's
    fields ``userId``, ``sessionId``, ``remoteAddress``, ``environment``, ``appName``,
    ``currentTime`` and ``properties``; OFREP's ``targetingKey`` is the ``userId``; any
    other key is a property. Strings are taken as they are, numbers and booleans as their
    JSON text, ``null`` as absent.

    Each evaluation is ``{"key", "enabled", "variant", "payload"?, "value", "reason",
    "metadata"?}``: ``variant`` is the variant's name (``"disabled"`` when none),
    ``payload`` Unleash's ``{"type", "value"}``, ``value`` OFREP's (``enabled`` without a
    variant; else the payload decoded — ``json`` parsed, ``number`` a number, others a
    string — or the variant's name), ``reason`` one of ``DISABLED``, ``DEFAULT``,
    ``STATIC``, ``TARGETING_MATCH``, ``SPLIT``.

    Calls keep the GIL: a request's evaluation takes microseconds.

    Raises:
        FlagStateError: the state cannot be compiled.
        TypeError: ``state`` is not ``bytes``.
    """

    def __new__(cls, state: bytes) -> Self: ...
    def __len__(self) -> int:
        """Flags held."""

    def names(self) -> list[str]:
        """The flag names, in the state's order."""

    def evaluate(
        self, body: bytes, *, remote_address: str | None = None, session_id: str | None = None
    ) -> bytes:
        """Every flag evaluated for the context in ``body``: ``{"flags": [...]}`` as JSON.

        ``remote_address`` and ``session_id`` fill the context only where it lacks them.

        Raises:
            FlagContextError: the body or its context cannot be read.
        """

    def evaluate_one(self, name: str, body: bytes) -> bytes | None:
        """The flag ``name`` evaluated for the context in ``body`` (one JSON object), or
        None when there is no such flag.

        Raises:
            FlagContextError: the body or its context cannot be read (checked first).
        """

    def frontend(
        self, body: bytes, *, remote_address: str | None = None, session_id: str | None = None
    ) -> bytes:
        """Unleash's frontend API answer: the enabled flags only, as
        ``{"toggles": [{"name", "enabled": true, "variant": {"name", "enabled",
        "payload"?, "feature_enabled"}, "impressionData"}]}``.

        ``remote_address`` and ``session_id`` fill the context only where it lacks them
        (Unleash enriches a frontend context with the caller's address and a session id).

        Raises:
            FlagContextError: the body or its context cannot be read.
        """

class IngestError(ValueError):
    """The body as a whole cannot be decoded; the base of the three kinds below.

    ``decode_points`` raises one of its subclasses, each answered differently by a server:
    ``MalformedBody`` (the client's body is wrong), ``BodyTooLarge`` (it is too big once
    decompressed) and ``UnknownFormat`` (the caller named a format that does not exist).
    Problems of single items are not errors: they are reported in ``DecodedBatch.rejected``.
    """

class MalformedBody(IngestError):
    """The body is not what its format says.

    Raised for a body that is not JSON (``json``) or whose top level is neither an
    array nor ``{"points": [...]}``, a CSV body that is not UTF-8 or whose header is
    missing, has an unknown or duplicate column, or lacks ``namespace``, ``name`` or
    ``value``; and for gzip that is invalid or truncated.
    """

class BodyTooLarge(IngestError):
    """The gzip body decompresses to more than ``max_decompressed`` bytes.

    Decompression stops at the limit, so a zip bomb costs at most that much memory.
    The message names the limit.
    """

class UnknownFormat(IngestError):
    """The format is not ``"json"``, ``"ndjson"`` or ``"csv"`` (a bug in the caller)."""

@final
class SeriesMap:
    """A bounded map from series hash to ``series_id``: a worker's cache of ``metric_series``.

    Holds at most ``capacity`` entries between inserts: when ``insert_many`` takes it
    past that, the oldest entries (by insertion; re-inserting makes an entry the
    newest) are dropped until a tenth of the capacity is free. An insert never drops
    the entries it inserts, so one inserting more distinct hashes than the capacity
    keeps them all until the next insert. About 60 bytes per entry.

    Safe to read from threads (``DecodedBatch.encode_block_mapped`` looks ids up with
    the GIL released) while another thread inserts.

    Raises:
        ValueError: ``capacity`` is 0.
        OverflowError: ``capacity`` is negative.
    """

    def __new__(cls, capacity: int) -> Self: ...
    @property
    def capacity(self) -> int:
        """Most entries kept between inserts."""

    def __len__(self) -> int:
        """Entries held."""

    def get(self, hash: int) -> int | None:
        """The ``series_id`` of ``hash``, or None if the map does not hold it."""

    def insert_many(self, items: Iterable[tuple[int, int]]) -> None:
        """Insert or replace each ``(hash, series_id)`` (a later duplicate wins).

        Raises:
            TypeError: an item is not a tuple of ints.
            ValueError: an item is a tuple of another length than 2.
            OverflowError: a hash does not fit a signed 64-bit integer or a
                ``series_id`` a signed 32-bit one.
        """

    def clear(self) -> None:
        """Drop every entry."""

class UnmappedSeries(KeyError):
    """A series hash of the batch is not in the ``SeriesMap`` (the argument is the hash)."""

@final
class DecodedBatch:
    """The decoded, validated points of one body (made by ``decode_points``).

    Accepted points keep their input order. Each accepted point belongs to a series
    identified by ``series_hash(namespace, name, labels)``.
    """

    @property
    def total(self) -> int:
        """Items seen: JSON array items, NDJSON non-blank lines or CSV data rows."""

    @property
    def accepted(self) -> int:
        """Number of valid points."""

    @property
    def rejected(self) -> list[tuple[int, str]]:
        """``(index, reason)`` of each rejected item, in input order.

        ``index`` is 0-based over the items counted by ``total``; ``reason`` names the
        first offending field, e.g. ``"value: must be a finite number"``,
        ``"labels.host: must be a string"``, ``"missing field namespace"``,
        ``"timestamp outside the accepted window"``.
        """

    @property
    def min_time_us(self) -> int | None:
        """Earliest time of the accepted points, µs since the Unix epoch (None if none)."""

    @property
    def max_time_us(self) -> int | None:
        """Latest time of the accepted points, µs since the Unix epoch (None if none)."""

    @property
    def too_old(self) -> int:
        """Rejected samples whose time is before the accepted window (older than retention).

        Counted by the protocol decoders (remote write, OTLP, line protocol) only.
        """

    @property
    def ignored(self) -> list[tuple[str, int]]:
        """``(what, count)`` of what the protocol carried but Hearth does not store, e.g.
        ``("exemplars", 3)``, ``("native_histograms", 1)``; each ``what`` once."""

    def without_series(self, hashes: list[int]) -> DecodedBatch:
        """A copy without the points of the series whose hash is in ``hashes`` (a
        cardinality limit refused creating them); ``accepted``, ``series()`` and the
        times follow, ``total`` and ``rejected`` are kept. Runs with the GIL released."""

    def series(self) -> list[tuple[int, str, str, str]]:
        """Unique series of the accepted points, in order of first appearance.

        Each is ``(hash, namespace, name, labels_json)``: ``hash`` is ``series_hash``
        (signed 64-bit) and ``labels_json`` a compact JSON object with sorted keys, as
        ``json.dumps(labels, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``.
        """

    def encode_block(self, series_ids: dict[int, int]) -> bytes:
        """One write-log block (``encode_block``) of every accepted point.

        ``series_ids`` maps each series hash to its ``series_id``. The block holds the
        points sorted by ``(series_id, time)``, duplicates kept in input order.
        Encoding runs with the GIL released.

        Raises:
            KeyError: a series hash of the batch is missing from ``series_ids`` (the
                exception argument is the hash).
            OverflowError: a ``series_id`` does not fit a signed 64-bit integer.
        """

    def encode_remote_write(self, namespace_label: str) -> bytes:
        """Every accepted point as a Prometheus remote write 1.0 request body: a
        ``prometheus.WriteRequest`` protobuf, snappy block-compressed (send it with
        ``Content-Encoding: snappy``, ``Content-Type: application/x-protobuf`` and
        ``X-Prometheus-Remote-Write-Version: 0.1.0``).

        One time series per unique series, in order of first appearance, labels
        sorted by name: ``__name__`` = the series name, ``namespace_label`` = its
        namespace, then its own labels. An own label named ``__name__`` or
        ``namespace_label`` is left out (the name and the namespace win), and so is one
        with an empty value (Prometheus treats it as absent); series that differ only
        in such labels are sent as one. Samples of a series are sorted by time in
        milliseconds (µs floored); of samples in the same millisecond the later in
        input order is kept (the backend refuses a second, different value at a
        timestamp it holds, and Hearth's own store keeps the later write too).
        Values are kept bit for bit (NaN payloads, ±Inf, -0.0). An empty batch gives
        an empty request (a valid body). Encoding runs with the GIL released.
        """

    def namespaces(self) -> list[str]:
        """The distinct namespaces of the accepted points, sorted."""

    def missing_series(self, map: SeriesMap) -> list[tuple[int, str, str, str]]:
        """``series()`` restricted to the series ``map`` does not hold, in the same order.

        Tuples are built only for the missing series, so a batch of known series costs
        only the lookups (about 2 µs per 1000 series).
        """

    def encode_block_mapped(self, map: SeriesMap) -> bytes:
        """``encode_block`` with each series' ``series_id`` looked up in ``map``.

        Runs with the GIL released (the map is read-locked only for the lookups).

        Raises:
            UnmappedSeries: a series hash of the batch is not in ``map`` (e.g. evicted
                since ``missing_series``); the exception argument is the hash.
        """

    def __len__(self) -> int:
        """Number of accepted points."""

def decode_points(
    body: bytes,
    format: Literal["json", "ndjson", "csv"],
    *,
    now_us: int,
    min_time_us: int,
    max_time_us: int,
    gzip: bool = False,
    max_decompressed: int = 268435456,
) -> DecodedBatch:
    """Decode, validate and hash the points of a request body.

    Decompression, parsing, validation and hashing run with the GIL released.

    Formats: ``"json"`` (an array of point objects, or ``{"points": [...]}``),
    ``"ndjson"`` (one point object per line; blank lines skipped, a malformed line is
    a rejected item), ``"csv"`` (a header naming the columns ``namespace``, ``name``,
    ``value`` and optionally ``labels`` (a JSON object) and ``timestamp``, in any
    order). A point object has ``namespace`` and ``name`` (1 to 200 characters
    matching ``^[A-Za-z_:][A-Za-z0-9_:.]*$``), optional ``labels`` (at most 64, keys
    matching ``^[A-Za-z_][A-Za-z0-9_]*$`` of at most 128 characters, string values
    of at most 1024 characters), ``value`` (a finite number) and optional
    ``timestamp``: absent or null for ``now_us``, a number of epoch seconds (or
    milliseconds when its absolute value is at least 1e11), or an RFC 3339 string;
    the time must lie in ``[min_time_us, max_time_us]``.

    Args:
        body: the request body (``bytes``; a ``bytearray`` is copied).
        format: ``"json"``, ``"ndjson"`` or ``"csv"``.
        now_us: time of points without a timestamp, µs since the Unix epoch.
        min_time_us: earliest accepted time (inclusive).
        max_time_us: latest accepted time (inclusive).
        gzip: the body is gzip-compressed (one or more members).
        max_decompressed: largest accepted decompressed size in bytes.

    Raises:
        MalformedBody: the body as a whole is not in ``format``, or not valid gzip.
        BodyTooLarge: ``gzip`` is set and the body decompresses to more than
            ``max_decompressed`` bytes.
        UnknownFormat: ``format`` is none of the three.
        OverflowError: ``max_decompressed`` is negative, or a time is not a 64-bit int.
    """

def decode_remote_write(
    body: bytes,
    *,
    version: Literal[1, 2],
    namespace: str,
    namespace_label: str,
    now_us: int,
    min_time_us: int,
    max_time_us: int,
    max_decompressed: int,
) -> DecodedBatch:
    """Decode a Prometheus remote write body into a ``DecodedBatch`` of validated samples.

    The body is snappy (block format) compressed protobuf: ``prometheus.WriteRequest``
    for ``version=1`` (remote write 1.0), ``io.prometheus.write.v2.Request`` for
    ``version=2`` (2.0, labels as references into its symbols table). Decompression,
    decoding, validation and hashing run with the GIL released.

    Each series maps to Hearth as: name from ``__name__``; namespace from the label
    ``namespace_label`` when present (that label is then not stored), else
    ``namespace``; every other label as a label. Labels with an empty value are
    dropped first (Prometheus treats them as absent). The samples of a series without
    a name, with a duplicate ``__name__``/namespace label or with a label that is not
    UTF-8 are rejected items, as are samples the rules of ``decode_points`` refuse
    (names, labels, the time window); rejected items are counted in ``too_old`` when
    older than ``min_time_us``. Values are kept bit for bit (staleness markers, NaN,
    infinities); timestamps are converted from ms to µs. Exemplars, native histograms
    and metadata are not stored, only counted in ``DecodedBatch.ignored``
    (``"exemplars"``, ``"native_histograms"``, ``"metadata"``).

    Args:
        body: the request body as sent (snappy-compressed).
        version: 1 or 2, from the request's Content-Type.
        namespace: namespace of the series without the namespace label.
        namespace_label: label whose value is a series' namespace.
        now_us: the clock, µs since the Unix epoch (remote write samples carry times).
        min_time_us: earliest accepted time (inclusive).
        max_time_us: latest accepted time (inclusive).
        max_decompressed: largest accepted decompressed size in bytes.

    Raises:
        MalformedBody: not snappy, not the protobuf message of ``version``, or (2.0) a
            symbol reference out of range or an odd ``labels_refs``; the message names
            the field.
        BodyTooLarge: the body decompresses to more than ``max_decompressed`` bytes.
        ValueError: ``version`` is not 1 or 2.
    """

CHUNK_MAX_SAMPLES: int
"""Most samples one chunk holds (``2**20``)."""

STALE_NAN_BITS: int
"""Bit pattern of Prometheus's staleness marker NaN: ``0x7ff0000000000002``."""

class ChunkError(ValueError):
    """Samples cannot be encoded as a chunk, or bytes are not a valid chunk.

    Raised when ``timestamps_us`` and ``values`` differ in length or hold more than
    ``CHUNK_MAX_SAMPLES`` samples, and for a chunk that is truncated, fails its
    checksum, has an unknown codec byte, holds more or fewer samples than its header
    says, has bytes after its last sample, or decodes to timestamps that are not
    strictly increasing. The message says which.
    """

class BlockError(ValueError):
    """Samples cannot be encoded as a write-log block, or bytes are not a valid block.

    Raised when the three columns differ in length, and for a block that is
    truncated (a torn write), fails its checksum, has a bad magic or unknown version,
    or whose runs and counts do not add up. The message says which.
    """

def encode_chunk(
    timestamps_us: Sequence[int],
    values: Sequence[float],
    codec: Literal["pco", "gorilla"] = "pco",
) -> bytes:
    """Compress one series' samples into a self-describing chunk.

    Samples may come in any order: they are sorted by time, and of samples with the
    same timestamp only the last one (in input order) is kept — the later write wins.
    ``"pco"`` (pcodec) is the storage codec; ``"gorilla"`` (delta-of-delta + XOR, as
    Prometheus's chunks) encodes 3-15x faster and is 1.3-5x larger (figures in
    ``bench/ingest/CODECS.md``). Runs with the GIL released.

    Raises:
        ChunkError: the lengths differ, or more than ``CHUNK_MAX_SAMPLES`` samples.
        ValueError: ``codec`` is neither ``"pco"`` nor ``"gorilla"``.
        TypeError: an item is not an ``int`` / a ``float`` (or ``int``).
        OverflowError: a timestamp does not fit a signed 64-bit integer.
    """

def decode_chunk(data: bytes) -> tuple[list[int], list[float]]:
    """``(timestamps_us, values)`` of a chunk, timestamps strictly increasing.

    Values are bit-exact (NaN payloads are kept). Runs with the GIL released.

    Raises:
        ChunkError: the bytes are not a valid chunk.
    """

def chunk_header(data: bytes) -> tuple[Literal["pco", "gorilla"], int, int | None]:
    """``(codec, sample_count, first_timestamp_us)`` of a chunk without decoding it.

    The checksum is verified; ``first_timestamp_us`` is ``None`` for an empty chunk.

    Raises:
        ChunkError: the bytes are not a valid chunk header or fail the checksum.
    """

def chunk_edges(
    chunks: Sequence[tuple[int, bytes]],
) -> tuple[list[int], list[int], list[int], list[float], list[int], list[float]]:
    """The hourly edges of stored chunks, as columns.

    ``chunks`` are ``(series_id, data)``. For every hour a chunk holds any entry in:
    ``(series_ids, buckets_us, first_times_us, firsts, end_times_us, ends)`` — the
    hour's first and last raw entry, staleness markers and NaN included, bit for
    bit. An instant PromQL selector evaluated at a whole hour ``t`` (lookback at most
    an hour) reads exactly one of them: the first entry of the hour starting at
    ``t`` if it lies at ``t``, else the last entry of the hour before; so a series
    thinned to its edges answers it as its raw samples do. Rows in input order, then
    hour order. Runs with the GIL released.

    Raises:
        ChunkError: a chunk is not valid.
    """

def rollups(
    timestamps_us: Sequence[int],
    values: Sequence[float],
    bucket_seconds: int,
    prev_value: float | None = None,
) -> list[tuple[int, int, float, float, float, float, int, float]]:
    """Per-bucket rollups of one series' samples, in bucket order.

    Each row is ``(bucket_us, count, sum, min, max, last, last_time_us, increase)``
    for the bucket ``[bucket_us, bucket_us + bucket_seconds * 10**6)``;
    ``bucket_us = floor(t / width) * width``. Samples may come in any order (sorted
    first; duplicate timestamps: the later write wins). ``sum`` adds in time order.

    ``increase`` is the counter increase with resets accounted as Prometheus does:
    each sample adds ``v - previous`` if ``v >= previous`` and ``v`` itself if the
    value dropped (a reset). The previous sample may lie in an earlier bucket; for
    the first sample it is ``prev_value`` (the series' last value before these
    samples), and without one the first sample adds nothing.

    Special values: the staleness marker (the NaN with bits ``STALE_NAN_BITS``) is
    not a sample and is skipped by every field; a bucket holding only markers has no
    row. Any other NaN is a sample, as in Prometheus's ``*_over_time``: counted, makes
    ``sum`` NaN, is ``last`` when latest, ignored by ``min``/``max`` unless every
    sample of the bucket is NaN, and skipped by ``increase`` (neither value nor
    reset). ±Inf follow IEEE arithmetic (``sum`` may be ±Inf or NaN; an increase
    from +Inf to +Inf is NaN). Runs with the GIL released.

    Raises:
        ChunkError: the lengths differ.
        ValueError: ``bucket_seconds`` is not positive (or overflows µs).
    """

def encode_block(
    series_ids: Sequence[int], timestamps_us: Sequence[int], values: Sequence[float]
) -> bytes:
    """One write-log block of a batch's samples (three equal-length columns).

    The samples are stored sorted by ``(series_id, timestamp)``; samples with the
    same series and timestamp are all kept, in input order (so the later write can
    win when the block is folded into chunks). Header and XXH64 checksum make a torn
    or corrupted block an error on read. Runs with the GIL released.

    Raises:
        BlockError: the columns differ in length (or exceed ``2**32 - 1`` samples).
        TypeError: an item has the wrong type.
        OverflowError: a series id or timestamp does not fit a signed 64-bit integer.
    """

def decode_block(data: bytes) -> tuple[list[int], list[int], list[float]]:
    """``(series_ids, timestamps_us, values)`` of a block, sorted by (series, time).

    Values are bit-exact. Runs with the GIL released.

    Raises:
        BlockError: the bytes are not a valid block.
    """

HOUR_US: int
"""One hour in µs: the rollup bucket of ``compact_columns``; ``window_us`` must be a multiple."""

def touched_windows(blocks: Sequence[bytes], window_us: int) -> list[tuple[int, int]]:
    """Sorted, distinct ``(series_id, window_start_us)`` keys the blocks' samples fall into.

    A window is ``[start, start + window_us)`` with ``start`` a multiple of
    ``window_us``. The chunks of these keys are what ``compact_columns`` needs as
    ``existing``. Runs with the GIL released.

    Raises:
        BlockError: a block is not valid (the message names its index).
        ValueError: ``window_us`` is not a positive multiple of ``HOUR_US``.
    """

def compact_columns(
    blocks: Sequence[bytes],
    existing: dict[tuple[int, int], bytes],
    window_us: int,
    codec: Literal["pco", "gorilla"] = "pco",
    prev_values: dict[tuple[int, int], float] | None = None,
) -> tuple[
    tuple[
        list[int],
        list[int],
        list[int],
        list[int],
        list[int],
        list[float | None],
        list[bytes],
        list[float | None],
    ],
    tuple[
        list[int],
        list[int],
        list[int],
        list[float],
        list[float],
        list[float],
        list[float],
        list[int],
        list[float],
    ],
    tuple[list[int], list[int]],
    tuple[list[int], list[int], list[int], list[float], list[int], list[float]],
]:
    """Fold one compaction pass's write-log blocks into per-window chunks, as columns.

    ``blocks`` in write order; ``existing`` maps ``(series_id, window_start_us)`` to
    the stored chunk of that window (a missing key is an empty window; keys the
    blocks do not touch are ignored). Per series and timestamp the later write wins:
    a later block over an earlier one, within a block the later sample, and new
    samples over the existing chunk's. Values are bit-exact. Every chunk is written
    with ``codec``. Compacting the same blocks again into the result changes
    nothing (a pass that did not commit can simply be redone).

    Returns four groups of equally long lists, ready for multi-row writes:

    - chunks, one row per touched key in key order: ``(series_ids, window_starts_us,
      samples, min_us, max_us, last_values, data, baselines)``. ``last_values`` is
      the window's last value that is neither a staleness marker nor NaN (``None``
      if there is none); ``baselines`` is the value before the window its rollups
      used (``None`` if none): store it and pass it back in ``prev_values`` when a
      later call re-merges the window.
    - hours: ``(series_ids, buckets_us, counts, sums, mins, maxs, lasts,
      last_times_us, increases)``, the 1-hour rows (as ``rollups``) of every hour
      from the first one a new sample touched to its window's end, in key then hour
      order: a changed sample changes the next sample's counter increase, which may
      lie in a later hour.
    - empty hours: ``(series_ids, buckets_us)``, touched hours left with only
      staleness markers: their stored rollup row is obsolete.
    - edges: ``(series_ids, buckets_us, first_times_us, firsts, end_times_us,
      ends)``, the first and last raw entry (staleness markers and NaN included, bit
      for bit) of the same hours, hours with only markers included: what an instant
      PromQL selector reads at an hour boundary (see ``chunk_edges``).

    The increase of a window's first sample uses the last value of the window just
    before when this call merges that one too, else ``prev_values[key]`` (the series'
    last value before the window, or the window's stored baseline); without either
    that sample adds nothing. Runs with the GIL released.

    Raises:
        BlockError: a block is not valid (the message names its index).
        ChunkError: an existing chunk is not valid or holds samples outside its
            window, or a merged chunk would exceed ``CHUNK_MAX_SAMPLES`` (the
            message names the key).
        ValueError: ``window_us`` is not a positive multiple of ``HOUR_US``, or
            ``codec`` is unknown.
    """

def rebase_rollups(
    chunks: dict[tuple[int, int], bytes], prev_values: dict[tuple[int, int], float]
) -> tuple[
    list[int],
    list[int],
    list[int],
    list[float],
    list[float],
    list[float],
    list[float],
    list[int],
    list[float],
]:
    """The hourly rollups of stored chunks recomputed with new baselines, as columns.

    ``chunks`` maps ``(series_id, window_start_us)`` to a stored chunk;
    ``prev_values[key]`` is the series' new last value before that window (a key
    without one has no baseline: its first sample adds nothing to the increase).
    This is what a window's rollups become when a late sample changed the last value
    of the window before it: the chunk itself is unchanged. Returns the hour columns
    of ``compact_columns`` for every hour of every chunk, in key then hour order.
    Runs with the GIL released.

    Raises:
        ChunkError: a chunk is not valid (the message names the key).
    """

def aggregate_windows(
    series: Sequence[tuple[int, int]],
    chunks: Sequence[tuple[int, bytes]],
    blocks: Sequence[bytes],
    lo_us: int,
    first_us: int,
    hi_us: int,
    step_us: int,
    agg: Literal["avg", "sum", "min", "max", "count", "last", "rate"],
) -> list[tuple[int, list[int], list[float]]]:
    """Answer one analytics query over the raw samples of chunks and write-log blocks.

    ``series`` lists ``(series_id, group_index)``, each series once, ``group_index >=
    0``. ``chunks`` are ``(series_id, chunk)`` in any order, several per series
    allowed (chunks of series not in ``series`` are not decoded). ``blocks`` are
    write-log blocks in write order, all newer than every chunk; their samples of
    series not in ``series`` are ignored.

    A series' samples are its chunks' samples overridden at equal timestamps by the
    blocks' (a later block over an earlier one, within a block the later sample;
    between overlapping chunks the one given later), cut to ``lo_us <= t < hi_us``.
    Each series gets the ``rollups`` of those samples with buckets of ``step_us``
    (window ``[w, w + step_us)``, ``w = floor(t / step_us) * step_us``) and no
    ``prev_value``: staleness markers are skipped, other NaNs are samples, counter
    resets count as in ``rollups``, and a series' first sample at or after ``lo_us``
    adds no increase.

    Windows with ``w >= first_us`` are answered. Per group and window, over the
    group's series that have a rollup row there:

    - ``count``: the summed counts (as ``float``); ``sum``: the sums added in the
      order of ``series``; ``avg``: sum / count.
    - ``min`` / ``max``: of the series' mins / maxes; a NaN one is ignored unless all
      are NaN.
    - ``last``: the ``last`` with the greatest ``last_time_us``; on a tie the series
      listed first in ``series`` wins.
    - ``rate``: the sum over the series that also have a row in window ``w -
      step_us`` (the baseline) of ``increase / (step_us / 1e6)``; the others
      contribute nothing. Pass ``lo_us = first_us - step_us`` to give the first
      window its baseline.

    A window is answered only if at least one series contributed (for ``rate``:
    qualified); groups without windows are left out.

    Returns ``(group_index, window_starts_us, values)`` per group, groups ascending,
    windows ascending. Runs with the GIL released.

    Raises:
        ChunkError: a chunk of a listed series is not valid (the message names its
            index).
        BlockError: a block is not valid (the message names its index).
        ValueError: ``step_us <= 0``, not ``lo_us <= first_us <= hi_us``, ``agg``
            unknown, a negative ``group_index`` or a series listed twice.
    """

def series_samples(
    chunks: Sequence[tuple[int, bytes]],
    blocks: Sequence[bytes],
    lo_us: int,
    hi_us: int,
    series_ids: Sequence[int] | None = None,
) -> list[tuple[int, list[int], list[float]]]:
    """The merged stored samples per series in ``[lo_us, hi_us)``.

    Same inputs and merge rule as ``aggregate_windows``: ``chunks`` are
    ``(series_id, chunk)`` in any order, ``blocks`` in write order and newer than
    every chunk; at equal timestamps a block sample wins over a chunk's, a later
    block over an earlier one, within a block the later sample.

    Returns ``(series_id, timestamps_us, values)`` per series in ascending id, only
    for ``series_ids`` when given (other series' chunks are not decoded), and only
    series with a sample in the range. Timestamps are strictly increasing and
    values bit-exact; staleness markers are included (they are stored samples).
    Runs with the GIL released.

    Raises:
        ChunkError: a chunk is not valid (the message names its index).
        BlockError: a block is not valid (the message names its index).
    """

def reencode_chunks(chunks: Sequence[bytes], codec: Literal["pco", "gorilla"]) -> list[bytes]:
    """Every chunk decoded and encoded again with ``codec``, in order.

    Seals open Gorilla chunks as pcodec in one call. Samples are kept bit for bit.
    Runs with the GIL released.

    Raises:
        ChunkError: a chunk is not valid (the message names its index).
        ValueError: ``codec`` is neither ``"pco"`` nor ``"gorilla"``.
    """

def decode_influx(
    body: bytes,
    *,
    precision: Literal["ns", "n", "us", "u", "ms", "s", "m", "h"],
    gzip: bool,
    namespace: str,
    namespace_label: str,
    now_us: int,
    min_time_us: int,
    max_time_us: int,
    max_decompressed: int,
) -> DecodedBatch:
    """Decode an InfluxDB line protocol body (v1 ``/write``, v2 ``/api/v2/write``).

    Decompression, parsing (InfluxData's ``influxdb-line-protocol`` parser) and
    validation run with the GIL released. Each field of a line is one sample of the
    series ``<measurement>_<field>``, sanitised to ``^[A-Za-z_:][A-Za-z0-9_:.]*$``
    (every other character becomes ``_``; a leading digit gets a ``_`` in front);
    tags are labels, keys sanitised the same way to ``^[A-Za-z_][A-Za-z0-9_]*$``; a tag
    whose sanitised key is ``namespace_label`` gives the series' namespace (else
    ``namespace``). Float, integer (``i``) and unsigned (``u``) fields are stored as
    ``float``, booleans as 1.0/0.0; string fields are rejected, the line's other
    fields kept. A timestamp is read in ``precision`` (``ns``/``n``, ``us``/``u``,
    ``ms``, ``s``, and v1's ``m``, ``h``), floored to µs; a line without one is at
    ``now_us``. Blank lines and ``#`` comments are skipped.

    Errors are per line, as an InfluxDB partial write: the batch's ``rejected`` holds
    ``(line_index, reason)``, ``line_index`` 0-based over every ``\n`` of the
    (decompressed) body. A line that does not parse (reason ``unable to parse '<line>':
    <parser message>``), is not UTF-8, a string field (``field <key>: string values
    are not stored``) or a sample refused by the shared rules (``field <key>:
    <reason>``, e.g. a time outside the window) each add one rejection; decoding goes
    on. ``total`` is accepted samples plus rejections.

    Raises:
        MalformedBody: ``gzip`` is set and the body is not valid gzip.
        BodyTooLarge: ``gzip`` is set and the body decompresses to more than
            ``max_decompressed`` bytes.
        ValueError: ``precision`` is not one of the units above.
    """

def decode_otlp(
    body: bytes,
    *,
    json: bool,
    gzip: bool,
    namespace: str,
    namespace_label: str,
    now_us: int,
    min_time_us: int,
    max_time_us: int,
    max_decompressed: int,
) -> DecodedBatch:
    """Decode an OTLP/HTTP ``ExportMetricsServiceRequest`` into Prometheus-style samples.

    Decompression, parsing and translation run with the GIL released. Translation follows
    OpenTelemetry's Prometheus compatibility specification as Prometheus's OTLP receiver
    does: metric names cleaned and given unit and type suffixes (``_seconds``, ``_total``
    for monotonic cumulative sums, ``_ratio`` for gauges of unit ``1``), attribute names
    cleaned to label names (colliding ones joined with ``;``), ``service.name`` (with
    ``service.namespace``) as ``job`` and ``service.instance.id`` as ``instance``, the
    scope as ``otel_scope_*`` labels, the other resource attributes as one
    ``target_info`` sample per resource; histograms as ``_bucket{le}``/``_sum``/``_count``,
    summaries as ``{quantile}``/``_sum``/``_count``; NO_RECORDED_VALUE points as the
    staleness marker. Delta sums are stored as they are (without ``_total``); delta
    histograms, points without a value or time are rejected items; exemplars and
    exponential histograms are counted in ``ignored``. A series whose attributes (or
    resource attributes) translate to ``namespace_label`` goes to that namespace.

    Args:
        body: the request body.
        json: OTLP/JSON (the protobuf JSON mapping) rather than protobuf.
        gzip: the body is gzip-compressed.
        namespace: namespace of series that do not name one.
        namespace_label: the label whose value is a series' namespace.
        now_us: the clock, µs since the Unix epoch.
        min_time_us: earliest accepted time (inclusive).
        max_time_us: latest accepted time (inclusive).
        max_decompressed: largest accepted decompressed size in bytes.

    Raises:
        MalformedBody: not an ``ExportMetricsServiceRequest`` in that encoding, or bad gzip.
        BodyTooLarge: ``gzip`` is set and the body decompresses to more than
            ``max_decompressed`` bytes.
    """

def encode_otlp_response(rejected_data_points: int, error_message: str) -> bytes:
    """A protobuf ``ExportMetricsServiceResponse``; ``partial_success`` is set only when
    ``rejected_data_points`` is not 0 or ``error_message`` is not empty."""

def encode_rpc_status(code: int, message: str) -> bytes:
    """A protobuf ``google.rpc.Status`` (``code`` a ``google.rpc.Code``), the body of an
    OTLP/HTTP error answer."""

class PromqlError(ValueError):
    """A PromQL query that has no answer, classified as Prometheus's HTTP API does.

    ``error_type`` is Prometheus's ``errorType``: ``bad_data`` (the query does not
    parse or is ill-typed; HTTP 400), ``execution`` (valid PromQL that cannot be
    evaluated — an unsupported construct, many-to-many matching, too many samples;
    422), ``timeout`` (the deadline passed; 503) or ``internal`` (stored bytes that
    do not decode, or a failure of the engine itself; 500). ``message`` is the text
    of Prometheus's ``error`` member (also ``str(exc.args[0])``).
    """

    error_type: str
    message: str

def promql_needs(
    query: str, start_ms: int, end_ms: int, step_ms: int, lookback_ms: int
) -> list[tuple[list[tuple[str, str, str]], int, int, bool]]:
    """What evaluating ``query`` reads: per selector ``(matchers, min_t_ms, max_t_ms,
    hour_edges)``.

    Times are milliseconds since the epoch; an instant query has ``start_ms ==
    end_ms`` and ``step_ms == 0``; ``lookback_ms`` is how far back an instant
    selector looks (Prometheus's 5-minute lookback delta). The range is inclusive
    and has offsets, ``@``, ranges and subqueries applied. Matchers are ``(label, op,
    value)`` with ``op`` one of ``=``, ``!=``, ``=~``, ``!~`` (regexes as written,
    unanchored; Prometheus anchors them), the metric name as label ``__name__``.
    Every series the selector matches satisfies every matcher listed (a selector
    with ``or`` groups lists none). ``hour_edges`` is true when every read of the
    selector is an instant lookup at a whole hour (evaluation times minus its offset,
    or its ``@`` time, multiples of an hour; outside subqueries; lookback at most an
    hour): its series may then be read as their hourly edges (``chunk_edges``) with
    an identical result.

    Raises:
        PromqlError: the query does not parse (``bad_data``) or uses a construct the
            engine does not evaluate (``execution``).
    """

def promql_eval(
    query: str,
    start_ms: int,
    end_ms: int,
    step_ms: int,
    lookback_ms: int,
    series: Sequence[tuple[int, str, dict[str, str]]],
    chunks: Sequence[tuple[int, bytes]],
    blocks: Sequence[bytes],
    timeout_s: float,
    max_samples: int,
    edges: Sequence[tuple[int, bytes]],
    detach: bool = True,
) -> bytes:
    """Evaluate ``query``; the ``data`` member of Prometheus's answer as JSON bytes.

    ``series`` are ``(series_id, name, labels)`` of the series the query's
    selectors may match (a superset is fine: every matcher is applied again);
    labels with an empty value are no labels. ``chunks`` (``(series_id, chunk)``)
    and ``blocks`` (write-log blocks in write order) hold their samples, merged as
    compaction merges them (the later write wins); µs timestamps become ms (floor;
    of two samples in one millisecond the later is kept). Parameters as
    ``promql_needs``; ``timeout_s`` bounds the call, ``max_samples`` the samples
    loaded (and Prometheus's limit on samples held at once). The result is
    ``{"resultType": …, "result": …}`` with values as strings. ``edges`` are
    ``(series_id, packed)`` hourly edges for the selectors ``promql_needs`` marks
    ``hour_edges``: per hour in order 32 big-endian bytes (first time µs, first
    value, end time µs, end value); their entries join the series' samples. Runs with the
    GIL released, unless ``detach`` is false: a small evaluation the caller runs on its
    event loop keeps it (releasing and taking it back costs more than such a call).

    Raises:
        PromqlError: as ``promql_needs``; ``timeout`` past ``timeout_s``;
            ``execution`` over ``max_samples``; ``internal`` for a stored chunk or
            block that does not decode.
    """

def promql_selectors(selectors: Sequence[str]) -> list[list[tuple[str, str, str]]]:
    """Parse each series selector of a ``match[]`` parameter (``up{job="api"}``,
    ``{__name__=~"http_.*"}``): its matchers as ``promql_needs`` lists them.

    Raises:
        PromqlError: a selector does not parse, is not a plain series selector
            (``rate(x[5m])``, ``x offset 5m``), or has no matcher that excludes the
            empty string (``bad_data``).
    """

def promql_match_series(
    selectors: Sequence[str], series: Sequence[tuple[str, dict[str, str]]]
) -> list[int]:
    """Indices (ascending) of the ``(name, labels)`` in ``series`` that at least
    one of ``selectors`` matches exactly (regexes anchored, a missing label
    matching as ``""``). Runs with the GIL released.

    Raises:
        PromqlError: as ``promql_selectors``.
    """

def promql_enforce(query: str, label: str, value: str) -> str:
    """``query`` with the matcher ``label="value"`` added to every vector and matrix
    selector, as PromQL text to send to a Prometheus-compatible backend (what
    prom-label-proxy does, so a tenant reads only its own series).

    Every selector gets the matcher wherever it is: aggregations, both sides of every
    binary operator (``or``/``and``/``unless``, ``on()``/``ignoring()``), function
    arguments, subqueries, parentheses. A matcher the query has on ``label`` is kept
    as well, so both must hold: ``{hearth_namespace="b"}`` selects nothing rather than
    another tenant's series. What a query computes from its series is not limited
    (``label_replace`` may rename ``label`` on the tenant's own series, ``vector(1)``
    invents one): no other tenant's data is read. Comments are dropped; numbers,
    strings, durations, ``@`` and ``offset`` are rewritten in a normal form that
    Prometheus parses to the same query, e.g. ``sum(rate(x[90s])) by (job)`` →
    ``sum by (job) (rate(x{hearth_namespace="a"}[1m30s]))``.

    Raises:
        PromqlError: the query does not parse, is ill-typed or nests deeper than
            1000 levels (``bad_data``, Prometheus's ``parse error: …`` message), an
            empty ``label`` or ``value`` (``bad_data``), or the query uses ``info()``
            (it reads series no selector names) or a duration finer than a
            millisecond (``execution``).
    """

def promql_enforce_selectors(selectors: Sequence[str], label: str, value: str) -> list[str]:
    """Each ``match[]`` series selector with ``label="value"`` enforced as
    ``promql_enforce`` does (``up`` → ``up{hearth_namespace="a"}``), in order. No
    selector at all gives ``['{label="value"}']``: every series of the tenant, what
    the series, labels and label-values routes mean without ``match[]``. Runs with
    the GIL released.

    Raises:
        PromqlError: a selector does not parse or is not a plain series selector
            (``rate(x[5m])``, ``x offset 5m``, ``sum(x)``) (``bad_data``), or as
            ``promql_enforce``.
    """

def log_series_ids(blocks: Sequence[bytes], lo_us: int, hi_us: int) -> list[int]:
    """Ids (ascending) of the series with samples in ``[lo_us, hi_us)`` in the
    write-log ``blocks``. Runs with the GIL released.

    Raises:
        BlockError: a block is not valid (the message names its index).
    """
