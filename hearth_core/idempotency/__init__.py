"""Idempotency-Key for creating and ingesting POSTs: ``service`` holds the rules (reserve,
replay, complete, release), ``repo`` the SQL."""

from hearth_core.idempotency.service import (
    Replay,
    Reservation,
    complete,
    prune,
    release,
    request_hash,
    reserve,
)

__all__ = ["Replay", "Reservation", "complete", "prune", "release", "request_hash", "reserve"]
