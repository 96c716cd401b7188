"""Revoked tokens, families, subjects and clients, held in memory by every worker.

Introspection and the bearer check consult only this cache. It is loaded at start, updated
synchronously by the worker that revokes, and by the others through LISTEN/NOTIFY (a reload on
every "revocation" event and after the listener reconnects).
"""

from __future__ import annotations

import time
from typing import Any

import asyncpg

from hearth_core.identity import repo


class Revocations:
    def __init__(self) -> None:
        # kind -> value -> epoch seconds: expiry for jti/sid, revocation moment for sub/cid.
        self._jti: dict[str, float] = {}
        self._sid: dict[str, float] = {}
        self._sub: dict[str, float] = {}
        self._cid: dict[str, float] = {}

    async def load(self, conn: asyncpg.Connection | asyncpg.Pool) -> None:
        rows = await repo.live_revocations(conn)
        jti: dict[str, float] = {}
        sid: dict[str, float] = {}
        sub: dict[str, float] = {}
        cid: dict[str, float] = {}
        for row in rows:
            kind, value = row["kind"], row["value"]
            if kind == "jti":
                jti[value] = row["expires"]
            elif kind == "sid":
                sid[value] = row["expires"]
            elif kind == "sub":
                sub[value] = row["revoked"]
            elif kind == "cid":
                cid[value] = row["revoked"]
        self._jti, self._sid, self._sub, self._cid = jti, sid, sub, cid

    def add(
        self, kind: str, value: str, *, expires_at: float, revoked_at: float | None = None
    ) -> None:
        moment = time.time() if revoked_at is None else revoked_at
        if kind == "jti":
            self._jti[value] = expires_at
        elif kind == "sid":
            self._sid[value] = expires_at
        elif kind == "sub":
            self._sub[value] = moment
        elif kind == "cid":
            self._cid[value] = moment

    def is_revoked(self, claims: dict[str, Any]) -> bool:
        if claims.get("jti") in self._jti:
            return True
        sid = claims.get("sid")
        if sid is not None and sid in self._sid:
            return True
        iat = claims.get("iat", 0)
        moment = self._sub.get(claims.get("sub", ""))
        if moment is not None and iat <= moment:
            return True
        moment = self._cid.get(claims.get("client_id", ""))
        return moment is not None and iat <= moment
