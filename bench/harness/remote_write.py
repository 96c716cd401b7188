"""Prometheus remote write 1.0 request bodies: a protobuf ``prometheus.WriteRequest``, snappy
(block format) compressed.

The message types are built at import from a descriptor of Prometheus's prompb/types.proto and
remote.proto (only the fields remote write 1.0 sends), and encoded by the ``protobuf``
package; ``cramjam`` does snappy. Both come with pyproject's ``bench`` extra.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.harness.log import BenchError

try:
    import cramjam
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
except ImportError:
    raise BenchError(
        "protobuf or cramjam is missing: `make bench` installs them (pyproject's bench extra)"
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
