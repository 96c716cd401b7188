"""Brute-force protection for the password grant and the login page.

Failed sign-ins are counted per account (HMAC of the normalised email, never the address) and
per source address in Redis, shared by every worker. After ``FREE_FAILURES`` the account or
address is refused for a delay that doubles with each further failure (capped), whatever the
password — so guessing costs time, and a correct password during the lockout is refused too.
If Redis is down, counting falls back to this worker's memory.
"""

from __future__ import annotations

import time
from typing import Any

from redis.exceptions import RedisError

from hearth_core.security.crypto import FieldCipher, normalize_email

FREE_FAILURES = 5
BASE_DELAY = 2.0
MAX_DELAY = 900.0
WINDOW = 3600  # failures older than this are forgotten


def delay_for(failures: int) -> float:
    if failures < FREE_FAILURES:
        return 0.0
    return min(MAX_DELAY, BASE_DELAY * 2 ** (failures - FREE_FAILURES))


class BruteForceGuard:
    def __init__(self, redis: Any, cipher: FieldCipher) -> None:
        self.redis = redis
        self.cipher = cipher
        self._local: dict[str, tuple[int, float]] = {}

    def _keys(self, email: str, remote: str | None) -> list[str]:
        account = self.cipher.mac("bruteforce", normalize_email(email).encode()).hex()[:32]
        keys = [f"hearth:bf:{{acct:{account}}}"]
        if remote:
            keys.append(f"hearth:bf:{{ip:{remote}}}")
        return keys

    async def _state(self, key: str) -> tuple[int, float]:
        try:
            raw = await self.redis.hmget(key, "n", "last")
            return int(raw[0] or 0), float(raw[1] or 0)
        except (RedisError, OSError):
            return self._local.get(key, (0, 0.0))

    async def retry_after(self, email: str, remote: str | None) -> float:
        """Seconds until a sign-in may be attempted (0: now)."""
        now = time.time()
        wait = 0.0
        for key in self._keys(email, remote):
            n, last = await self._state(key)
            wait = max(wait, last + delay_for(n) - now)
        return max(0.0, wait)

    async def failed(self, email: str, remote: str | None) -> None:
        now = time.time()
        for key in self._keys(email, remote):
            try:
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.hincrby(key, "n", 1)
                    pipe.hset(key, "last", now)
                    pipe.expire(key, WINDOW)
                    await pipe.execute()
            except (RedisError, OSError):
                n, _ = self._local.get(key, (0, 0.0))
                self._local[key] = (n + 1, now)

    async def succeeded(self, email: str) -> None:
        key = self._keys(email, None)[0]
        self._local.pop(key, None)
        try:
            await self.redis.delete(key)
        except (RedisError, OSError):
            pass
