"""One environment's flags, compiled: the client-API body Unleash SDKs download (with its ETag)
and the native evaluator every evaluation route uses."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import orjson

from hearth_core._native import FlagSet
from hearth_core.flags.model import Flag, Segment
from hearth_core.flags.unleash import client_state


@dataclass(frozen=True, slots=True)
class EnvSnapshot:
    environment: str
    client_body: bytes  # GET /api/client/features
    etag: str  # of the state: strong, changes whenever anything an SDK sees changes
    flagset: FlagSet


def build_snapshot(flags: list[Flag], segments: list[Segment], env: str) -> EnvSnapshot:
    body = orjson.dumps(client_state(flags, segments, env))
    # The evaluator also gets each flag's metadata, which OFREP answers carry.
    evaluated = orjson.dumps(client_state(flags, segments, env, metadata=True))
    digest = hashlib.blake2b(evaluated, digest_size=10).hexdigest()
    return EnvSnapshot(
        environment=env, client_body=body, etag=f'"{digest}"', flagset=FlagSet(evaluated)
    )
