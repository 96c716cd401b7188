"""The cardinality policy: how many series each client may create, read from the config store.

Key ``metrics.cardinality`` in the environment ``HEARTH_METRICS_POLICY_ENVIRONMENT``::

    {"max_series": 1000000, "max_new_series_per_hour": 50000,
     "clients": {"noisy-exporter": {"max_new_series_per_hour": 1000}}}

Top-level limits apply to every client; a client's own entry replaces them field by field.
Absent or null: unlimited. Only new series are refused (their samples are not stored and the
answer says why); series a client created before keep being written.
"""

from __future__ import annotations

import logging
from typing import Annotated

import msgspec

from hearth_core.config.service import ConfigService
from hearth_core.errors import NotFound
from hearth_core.metrics.series import NO_LIMITS, SeriesLimits

log = logging.getLogger("hearth.ingest")
POLICY_KEY = "metrics.cardinality"
Limit = Annotated[int, msgspec.Meta(ge=0)] | None


class ClientLimits(msgspec.Struct, forbid_unknown_fields=True):
    max_series: Limit = None
    max_new_series_per_hour: Limit = None


class Policy(ClientLimits, forbid_unknown_fields=True):
    clients: dict[str, ClientLimits] = {}


class CardinalityPolicy:
    def __init__(self, config: ConfigService | None, environment: str) -> None:
        self.config = config
        self.environment = environment
        self._parsed: tuple[int, Policy] | None = None

    def limits(self, client_id: str) -> SeriesLimits:
        policy = self._policy()
        if policy is None:
            return NO_LIMITS
        own = policy.clients.get(client_id)
        mine = {} if own is None else msgspec.structs.asdict(own)
        return SeriesLimits(
            **{
                f: mine[f] if mine.get(f) is not None else getattr(policy, f)
                for f in ClientLimits.__struct_fields__
            }
        )

    def _policy(self) -> Policy | None:
        if self.config is None:
            return None
        try:
            entry = self.config.get(self.environment, POLICY_KEY)
        except NotFound:
            return None
        if self._parsed is not None and self._parsed[0] == entry.version:
            return self._parsed[1]
        try:
            policy = msgspec.convert(entry.value, Policy)
        except msgspec.ValidationError as exc:
            # A bad policy must not stop ingestion: the previous one stays (none at first).
            log.warning("cardinality policy ignored", extra={"error": str(exc)})
            return self._parsed[1] if self._parsed is not None else None
        self._parsed = (entry.version, policy)
        return policy
