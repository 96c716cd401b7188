"""Unleash-style API token secrets: ``*:<environment>.<56 hex digits>``, as Unleash makes them
(``*`` = every project; Hearth has one). Only a SHA-256 of the whole secret is stored: the
secret has 224 random bits, so a fast hash is as safe as a slow one and costs no time per
request."""

from __future__ import annotations

import hashlib
import secrets

SECRET_BYTES = 28
HINT_HEX = 8  # digits of the random part kept in the listing, to tell tokens apart


def make_secret(environment: str) -> str:
    return f"*:{environment}.{secrets.token_hex(SECRET_BYTES)}"


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


def hint(secret: str) -> str:
    prefix, _, random = secret.rpartition(".")
    return f"{prefix}.{random[:HINT_HEX]}…"
