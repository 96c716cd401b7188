"""Prometheus remote write 1.0 request bodies: a protobuf ``prometheus.WriteRequest``, snappy
(block format) compressed.

The message types are built at import from a descriptor of Prometheus's prompb/types.proto and
remote.proto (only the fields remote write 1.0 sends), and encoded by the ``protobuf``
package; ``cramjam`` does snappy. Both come with pyproject's ``bench`` extra.
``encode_columns`` writes the same wire format from numpy arrays, for loads of tens of
millions of samples (bench/query), where one protobuf call per sample would take minutes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.harness.log import BenchError

try:
    import cramjam
    import numpy as np
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
except ImportError:
    raise BenchError(
        "protobuf, cramjam or numpy is missing: `make bench` installs them (pyproject's bench extra)"
    ) from None

HEADERS = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}

_F = descriptor_pb2.FieldDescriptorProto
# message: [(field, number, type, repeated message type or None)], as in prompb (proto3).
_SCHEMA: dict[str, list[tuple[str, int, int, str | None]]] = {
    "Sample": [("value", 1, _F.TYPE_DOUBLE, None), ("timestamp", 2, _F.TYPE_INT64, None)],
    "Label": [("name", 1, _F.TYPE_STRING, None), ("value", 2, _F.TYPE_STRING, None)],
    "TimeSeries": [
        ("labels", 1, _F.TYPE_MESSAGE, "Label"),
        ("samples", 2, _F.TYPE_MESSAGE, "Sample"),
    ],
    "WriteRequest": [("timeseries", 1, _F.TYPE_MESSAGE, "TimeSeries")],
}


def _classes() -> dict[str, Any]:
    fdp = descriptor_pb2.FileDescriptorProto(
        name="bench_prompb.proto", package="prometheus", syntax="proto3"
    )
    for name, fields in _SCHEMA.items():
        msg = fdp.message_type.add(name=name)
        for field, number, kind, ref in fields:
            msg.field.add(
                name=field,
                number=number,
                type=kind,
                label=_F.LABEL_REPEATED if ref else _F.LABEL_OPTIONAL,
                type_name=f".prometheus.{ref}" if ref else None,
            )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"prometheus.{name}"))
        for name in _SCHEMA
    }


_MESSAGES = _classes()
WriteRequest = _MESSAGES["WriteRequest"]


class ShardEncoder:
    """Request bodies for a fixed set of series, one sample each: the labels are set once,
    each ``encode`` sets the samples and serialises the whole WriteRequest."""

    def __init__(self, series: Sequence[Sequence[tuple[str, str]]]) -> None:
        self.request = WriteRequest()
        for labels in series:
            ts = self.request.timeseries.add()
            for name, value in labels:
                ts.labels.add(name=name, value=value)
            ts.samples.add()
        self.samples = [ts.samples[0] for ts in self.request.timeseries]

    def encode(self, values: Sequence[float], timestamp_ms: int) -> bytes:
        for sample, value in zip(self.samples, values, strict=True):
            sample.value = value
            sample.timestamp = timestamp_ms
        return bytes(cramjam.snappy.compress_raw(self.request.SerializeToString()))


def decode(body: bytes) -> Any:
    """The WriteRequest in a body (for checks)."""
    msg = WriteRequest()
    msg.ParseFromString(bytes(cramjam.snappy.decompress_raw(body)))
    return msg


# ---------------------------------------------------------------- columns, without protobuf
# Every Sample is written as 16 bytes: 0x09 + the double (field 1, fixed64), 0x10 + the
# timestamp as a 6-byte varint (field 2) — exactly 6 bytes for every epoch-ms time from 1971
# (2**35) to 2109 (2**42). Proto3 would leave a 0.0 value out; a parser takes it either way.
_TS_LO, _TS_HI = 1 << 35, 1 << 42
_SAMPLE = 16
_IN_SERIES = 2 + _SAMPLE  # 0x12 (TimeSeries field 2, length-delimited), length 16, the sample


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return bytes([number << 3 | 2]) + _varint(len(payload)) + payload


def encode_labels(labels: Sequence[tuple[str, str]]) -> bytes:
    """A TimeSeries' labels as its encoded ``labels`` fields (in the order given: remote
    write wants them sorted by name, ``__name__`` first)."""
    return b"".join(_field(1, _field(1, n.encode()) + _field(2, v.encode())) for n, v in labels)


def encode_columns(
    labels: Sequence[bytes], timestamps: Any, values: Any, *, compress: bool = True
) -> bytes:
    """A WriteRequest of ``len(labels)`` series: series ``i`` has the encoded labels
    ``labels[i]`` (``encode_labels``) and the samples ``timestamps[i]`` (epoch ms, int64) and
    ``values[i]`` (float64), 2-D arrays of one row per series (rows of equal length). The same
    bytes the protobuf package writes for these samples (``decode`` reads them back);
    snappy-compressed unless ``compress`` is false."""
    ts = np.ascontiguousarray(timestamps, dtype=np.int64)
    vs = np.ascontiguousarray(values, dtype="<f8")
    if ts.shape != vs.shape or ts.ndim != 2 or ts.shape[0] != len(labels):
        raise ValueError(f"shapes {ts.shape} / {vs.shape} for {len(labels)} series")
    if ts.size and (ts.min() < _TS_LO or ts.max() >= _TS_HI):
        raise ValueError("a timestamp outside 1971-2109 (epoch ms) does not fit 6 varint bytes")
    n, m = ts.shape
    out = np.empty((n, m, _IN_SERIES), dtype=np.uint8)
    out[:, :, 0] = 0x12
    out[:, :, 1] = _SAMPLE
    out[:, :, 2] = 0x09
    out[:, :, 3:11] = vs.view(np.uint8).reshape(n, m, 8)
    out[:, :, 11] = 0x10
    u = ts.astype(np.uint64)
    for j in range(6):
        group = (u >> np.uint64(7 * j)) & np.uint64(0x7F)
        out[:, :, 12 + j] = group | np.uint64(0x80 if j < 5 else 0)
    parts = []
    for i in range(n):
        body = labels[i] + out[i].tobytes()
        parts.append(b"\x0a" + _varint(len(body)) + body)
    raw = b"".join(parts)
    return bytes(cramjam.snappy.compress_raw(raw)) if compress else raw
