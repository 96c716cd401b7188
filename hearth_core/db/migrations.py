"""Numbered ``NNNN_name.sql`` (or ``.py``) files shipped in ``hearth_core/migrations``, applied
in order.

Each file runs in its own transaction and is recorded in ``schema_migrations`` with a checksum;
a session-level advisory lock serialises workers that start together. A ``.py`` migration is
for a data change SQL cannot make (e.g. re-encoding rows in the native core): it defines
``async def apply(conn: asyncpg.Connection) -> None``.
"""

from __future__ import annotations

import hashlib
import importlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources

import asyncpg

# Arbitrary constant shared by every Hearth process: "hearth" in ASCII.
MIGRATION_LOCK_KEY = 0x686561727468
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.(sql|py)$")


class MigrationError(RuntimeError):
    """The migration files and the database disagree."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str  # the file's text (for a .py migration, its source)
    kind: str = "sql"

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    async def run(self, conn: asyncpg.Connection) -> None:
        if self.kind == "sql":
            await conn.execute(self.sql)
            return
        module = importlib.import_module(f"hearth_core.migrations.{self.version:04d}_{self.name}")
        apply: Callable[[asyncpg.Connection], Awaitable[None]] = module.apply
        await apply(conn)


def available() -> list[Migration]:
    found: list[Migration] = []
    for entry in resources.files("hearth_core.migrations").iterdir():
        m = _NAME.match(entry.name)
        if m:
            found.append(
                Migration(int(m.group(1)), m.group(2), entry.read_text("utf-8"), m.group(3))
            )
    found.sort(key=lambda mig: mig.version)
    versions = [mig.version for mig in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration numbers in {versions}")
    return found


async def apply_all(conn: asyncpg.Connection, *, until: int | None = None) -> list[Migration]:
    """Apply every pending migration (up to version ``until``); return the ones applied by
    this call."""
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer PRIMARY KEY,
                name text NOT NULL,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """
        )
        done = {
            r["version"]: r["checksum"]
            for r in await conn.fetch("SELECT version, checksum FROM schema_migrations")
        }
        applied: list[Migration] = []
        for mig in available():
            if until is not None and mig.version > until:
                break
            if mig.version in done:
                if done[mig.version] != mig.checksum:
                    raise MigrationError(
                        f"migration {mig.version:04d}_{mig.name} was changed after it was applied"
                    )
                continue
            async with conn.transaction():
                await mig.run(conn)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    mig.version,
                    mig.name,
                    mig.checksum,
                )
            applied.append(mig)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)


async def applied_versions(conn: asyncpg.Connection) -> list[int]:
    rows = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
    return [r["version"] for r in rows]
