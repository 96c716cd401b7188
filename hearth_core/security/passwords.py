"""argon2id password hashing with OWASP parameters (m=19 MiB, t=2, p=1)."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


async def hash_password_async(password: str) -> str:
    # ~20 ms of CPU and 19 MiB: never on the event loop.
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(stored: str, password: str) -> bool:
    return await asyncio.to_thread(verify_password, stored, password)
