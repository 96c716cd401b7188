"""Prometheus remote write messages for tests, encoded by the ``protobuf`` package (an
encoder independent of the prost decoder under test), compressed by ``cramjam``'s snappy.

The classes are built from a descriptor written out from Prometheus's prompb/types.proto,
remote.proto (1.0, package ``prometheus``) and io/prometheus/write/v2/types.proto (2.0) —
the fields a test sends, with their exact numbers. Native histograms carry a few of their
fields only: Hearth counts them, never reads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cramjam
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto
# package -> message -> [(field, number, type, message type if any, repeated)]
_SCHEMA: dict[str, dict[str, list[tuple[str, int, int, str | None, bool]]]] = {
    "prometheus": {
        "Sample": [
            ("value", 1, _F.TYPE_DOUBLE, None, False),
            ("timestamp", 2, _F.TYPE_INT64, None, False),
        ],
        "Label": [
            ("name", 1, _F.TYPE_STRING, None, False),
            ("value", 2, _F.TYPE_STRING, None, False),
        ],
        "Exemplar": [
            ("labels", 1, _F.TYPE_MESSAGE, "Label", True),
            ("value", 2, _F.TYPE_DOUBLE, None, False),
            ("timestamp", 3, _F.TYPE_INT64, None, False),
        ],
        "Histogram": [
            ("count_int", 1, _F.TYPE_UINT64, None, False),
            ("sum", 3, _F.TYPE_DOUBLE, None, False),
            ("schema", 4, _F.TYPE_SINT32, None, False),
            ("positive_deltas", 12, _F.TYPE_SINT64, None, True),
            ("timestamp", 15, _F.TYPE_INT64, None, False),
        ],
        "TimeSeries": [
            ("labels", 1, _F.TYPE_MESSAGE, "Label", True),
            ("samples", 2, _F.TYPE_MESSAGE, "Sample", True),
            ("exemplars", 3, _F.TYPE_MESSAGE, "Exemplar", True),
            ("histograms", 4, _F.TYPE_MESSAGE, "Histogram", True),
        ],
        "MetricMetadata": [
            ("type", 1, _F.TYPE_INT32, None, False),
            ("metric_family_name", 2, _F.TYPE_STRING, None, False),
            ("help", 4, _F.TYPE_STRING, None, False),
            ("unit", 5, _F.TYPE_STRING, None, False),
        ],
        "WriteRequest": [
            ("timeseries", 1, _F.TYPE_MESSAGE, "TimeSeries", True),
            ("metadata", 3, _F.TYPE_MESSAGE, "MetricMetadata", True),
        ],
    },
    "io.prometheus.write.v2": {
        "Sample": [
            ("value", 1, _F.TYPE_DOUBLE, None, False),
            ("timestamp", 2, _F.TYPE_INT64, None, False),
        ],
        "Exemplar": [
            ("labels_refs", 1, _F.TYPE_UINT32, None, True),
            ("value", 2, _F.TYPE_DOUBLE, None, False),
            ("timestamp", 3, _F.TYPE_INT64, None, False),
        ],
        "Metadata": [
            ("type", 1, _F.TYPE_INT32, None, False),
            ("help_ref", 3, _F.TYPE_UINT32, None, False),
            ("unit_ref", 4, _F.TYPE_UINT32, None, False),
        ],
        "Histogram": [
            ("count_int", 1, _F.TYPE_UINT64, None, False),
            ("sum", 3, _F.TYPE_DOUBLE, None, False),
            ("timestamp", 15, _F.TYPE_INT64, None, False),
        ],
        "TimeSeries": [
            ("labels_refs", 1, _F.TYPE_UINT32, None, True),
            ("samples", 2, _F.TYPE_MESSAGE, "Sample", True),
            ("histograms", 3, _F.TYPE_MESSAGE, "Histogram", True),
            ("exemplars", 4, _F.TYPE_MESSAGE, "Exemplar", True),
            ("metadata", 5, _F.TYPE_MESSAGE, "Metadata", False),
            ("created_timestamp", 6, _F.TYPE_INT64, None, False),
        ],
        "Request": [
            ("symbols", 4, _F.TYPE_STRING, None, True),
            ("timeseries", 5, _F.TYPE_MESSAGE, "TimeSeries", True),
        ],
    },
}


def _classes() -> dict[str, Any]:
    pool = descriptor_pool.DescriptorPool()
    out: dict[str, Any] = {}
    for package, messages in _SCHEMA.items():
        fdp = descriptor_pb2.FileDescriptorProto(
            name=f"test_{package}.proto", package=package, syntax="proto3"
        )
        for name, fields in messages.items():
            msg = fdp.message_type.add(name=name)
            for field, number, kind, ref, repeated in fields:
                msg.field.add(
                    name=field,
                    number=number,
                    type=kind,
                    label=_F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL,
                    type_name=f".{package}.{ref}" if ref else None,
                )
        pool.Add(fdp)
        for name in messages:
            out[f"{package}.{name}"] = message_factory.GetMessageClass(
                pool.FindMessageTypeByName(f"{package}.{name}")
            )
    return out


_MESSAGES = _classes()
WriteRequest = _MESSAGES["prometheus.WriteRequest"]
RequestV2 = _MESSAGES["io.prometheus.write.v2.Request"]

Labels = Sequence[tuple[str, str]]
Samples = Sequence[tuple[float, int]]  # (value, timestamp in ms)


def snappy(raw: bytes) -> bytes:
    return bytes(cramjam.snappy.compress_raw(raw))


def unsnappy(body: bytes) -> bytes:
    return bytes(cramjam.snappy.decompress_raw(body))


def v1(series: Sequence[tuple[Labels, Samples]], **extra: Any) -> Any:
    """A ``prometheus.WriteRequest`` of ``series``; ``extra`` sets other fields."""
    req = WriteRequest(**extra)
    for labels, samples in series:
        ts = req.timeseries.add()
        for name, value in labels:
            ts.labels.add(name=name, value=value)
        for value, timestamp in samples:
            ts.samples.add(value=value, timestamp=timestamp)
    return req


def v2(series: Sequence[tuple[Labels, Samples]]) -> Any:
    """An ``io.prometheus.write.v2.Request`` of ``series``, its symbols interned in order of
    first use after the required empty string."""
    req = RequestV2()
    symbols: dict[str, int] = {"": 0}

    def ref(s: str) -> int:
        return symbols.setdefault(s, len(symbols))

    for labels, samples in series:
        ts = req.timeseries.add()
        for name, value in labels:
            ts.labels_refs.extend([ref(name), ref(value)])
        for value, timestamp in samples:
            ts.samples.add(value=value, timestamp=timestamp)
    req.symbols.extend(symbols)
    return req


def body(msg: Any) -> bytes:
    """A request body: the message serialised and snappy (block format) compressed."""
    return snappy(msg.SerializeToString())
