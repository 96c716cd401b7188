"""InfluxDB line protocol bodies carrying the same samples as the remote-write bodies, as
Telegraf writes them: a series ``<measurement>_<field>`` is the measurement (the metric name up
to its first ``_``) and the field (the rest), its labels the tags, time in ns."""

from __future__ import annotations

from collections.abc import Sequence

HEADERS = {"Content-Type": "text/plain; charset=utf-8"}


class ShardEncoder:
    def __init__(self, series: Sequence[tuple[str, dict[str, str]]]) -> None:
        self.prefixes = []
        for name, labels in series:
            measurement, field = name.split("_", 1)
            tags = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
            self.prefixes.append(f"{measurement},{tags} {field}=")

    def encode(self, values: Sequence[float], timestamp_ms: int) -> bytes:
        ns = f" {timestamp_ms * 1_000_000}\n"
        return "".join(f"{p}{v!r}{ns}" for p, v in zip(self.prefixes, values, strict=True)).encode()
