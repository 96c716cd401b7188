"""Revoked tokens, families, subjects and clients, held in memory by every worker.

Introspection and the bearer check consult only this cache. It is loaded at start, updated
synchronously by the worker that revokes, and by the others through LISTEN/NOTIFY (a reload on
every "revocation" event and after the listener reconnects).
"""

from __future__ import annotations

import time
from typing import Any

import asyncpg


class Revocations:
    def __init__(self) -> None:
        # kind -> value -> epoch seconds: expiry for jti/sid, revocation moment for sub/cid.
        self._jti: dict[str, float] = {}
        self._sid: dict[str, float] = {}
        self._sub: dict[str, float] = {}
        self._cid: dict[str, float] = {}

    async def load(self, conn: asyncpg.Connection | asyncpg.Pool) -> None:
        rows = await conn.fetch(
            "SELECT kind, value, extract(epoch FROM revoked_at) AS r, extract(epoch FROM expires_at) AS e"
            " FROM revocations WHERE expires_at > now()"
        )
        jti: dict[str, float] = {}
        sid: dict[str, float] = {}
        sub: dict[str, float] = {}
        cid: dict[str, float] = {}
        for row in rows:
            kind, value = row["kind"], row["value"]
            if kind == "jti":
                jti[value] = float(row["e"])
            elif kind == "sid":
                sid[value] = float(row["e"])
            elif kind == "sub":
                sub[value] = float(row["r"])
            elif kind == "cid":
                cid[value] = float(row["r"])
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


async def persist(conn: asyncpg.Connection, kind: str, value: str, *, expires_in: float) -> None:
    await conn.execute(
        """
        INSERT INTO revocations (kind, value, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3))
        ON CONFLICT (kind, value) DO UPDATE SET revoked_at = now(), expires_at = EXCLUDED.expires_at
        """,
        kind,
        value,
        float(expires_in),
    )
