"""Versioned key/value per environment, any JSON value, optional JSON Schema per key.

Every write adds a version to ``config_history``; compare-and-set takes ``expected_version``.
Reads come from memory: each worker holds every entry and refreshes one on NOTIFY.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import msgspec
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from hearth_core.config import repo
from hearth_core.db.audited import AuditedWrite, audited_write
from hearth_core.db.paging import Page
from hearth_core.errors import Conflict, InvalidInput, NotFound


class ConfigEntry(msgspec.Struct, kw_only=True):
    environment: str
    key: str
    value: Any
    version: int
    schema: dict[str, Any] | None = None
    updated_at: datetime
    updated_by: str


class ConfigVersion(msgspec.Struct, kw_only=True):
    version: int
    value: Any
    action: str
    actor: str
    at: datetime
    request_id: str | None


def _entry(r: asyncpg.Record) -> ConfigEntry:
    return ConfigEntry(
        environment=r["environment"],
        key=r["key"],
        value=r["value"],
        version=r["version"],
        schema=r["schema"],
        updated_at=r["updated_at"],
        updated_by=r["updated_by"],
    )


def check_schema(
    schema: dict[str, Any] | None, path: str = "$.schema"
) -> Draft202012Validator | None:
    if schema is None:
        return None
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise InvalidInput(
            "invalid JSON Schema", errors=[{"path": path, "message": exc.message}]
        ) from None
    return Draft202012Validator(schema)


def check_value(validator: Draft202012Validator | None, value: Any, root: str = "$.value") -> None:
    if validator is None:
        return
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    if errors:
        raise InvalidInput(
            "value does not match the key's JSON Schema",
            errors=[{"path": root + e.json_path[1:], "message": e.message} for e in errors[:20]],
        )


class ConfigService:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.entries: dict[tuple[str, str], ConfigEntry] = {}

    async def load(self) -> None:
        rows = await repo.all_entries(self.pool)
        self.entries = {(r["environment"], r["key"]): _entry(r) for r in rows}

    async def on_event(self, event: dict[str, Any]) -> None:
        env, key = event.get("environment"), event.get("key")
        if not isinstance(env, str) or not isinstance(key, str):
            return
        await self._refresh(env, key)

    async def _refresh(self, env: str, key: str) -> None:
        row = await repo.get_entry(self.pool, env, key)
        if row is None:
            self.entries.pop((env, key), None)
        else:
            fresh = _entry(row)
            held = self.entries.get((env, key))
            if held is None or held.version <= fresh.version:
                self.entries[(env, key)] = fresh

    # -------------------------------------------------------------- reads
    def get(self, env: str, key: str) -> ConfigEntry:
        entry = self.entries.get((env, key))
        if entry is None:
            raise NotFound(f"no config {key!r} in environment {env!r}")
        return entry

    def list(self, env: str, prefix: str | None = None) -> list[ConfigEntry]:
        return sorted(
            (
                e
                for (en, k), e in self.entries.items()
                if en == env and (not prefix or k.startswith(prefix))
            ),
            key=lambda e: e.key,
        )

    def environments(self) -> list[str]:
        return sorted({env for env, _ in self.entries})

    async def history(self, env: str, key: str, *, limit: int, page: int) -> Page[ConfigVersion]:
        rows, total = await repo.history_page(self.pool, env, key, page=page, limit=limit)
        if not total:
            raise NotFound(f"no config {key!r} in environment {env!r}")
        return Page(
            items=[ConfigVersion(**dict(r)) for r in rows], page=page, limit=limit, total=total
        )

    # ------------------------------------------------------------- writes
    async def _write(
        self,
        w: AuditedWrite,
        env: str,
        key: str,
        value: Any,
        *,
        schema: dict[str, Any] | msgspec.UnsetType | None,
        expected_version: int | None,
        action: str,
    ) -> ConfigEntry:
        if value is None:
            raise InvalidInput(
                "a value cannot be null; delete the key instead",
                errors=[{"path": "$.value", "message": "must not be null"}],
            )
        current = await repo.lock_entry(w.conn, env, key)
        version = current["version"] if current is not None else 0
        if expected_version is not None and expected_version != version:
            raise Conflict(
                f"{key!r} in {env!r} is at version {version}, not {expected_version}",
                errors=[{"path": "$.expected_version", "message": f"current version is {version}"}],
            )
        new_schema = (
            (current["schema"] if current is not None else None)
            if schema is msgspec.UNSET
            else schema
        )
        check_value(check_schema(new_schema), value)
        last = await repo.last_version(w.conn, env, key)
        new_version = max(version, last) + 1  # a deleted key's history continues, never reused
        row = await repo.upsert_entry(
            w.conn, env, key, value=value, schema=new_schema, version=new_version, actor=w.actor
        )
        await repo.add_history(
            w.conn,
            env,
            key,
            version=new_version,
            value=value,
            schema=new_schema,
            action=action,
            actor=w.actor,
            request_id=w.request_id,
        )
        await w.audit(
            f"config.{action}",
            f"config:{env}/{key}",
            before={"version": version, "value": current["value"]} if current is not None else None,
            after={"version": new_version, "value": value},
        )
        await w.notify("config", environment=env, key=key, version=new_version)
        return _entry(row)

    async def set(
        self,
        env: str,
        key: str,
        value: Any,
        *,
        schema: dict[str, Any] | msgspec.UnsetType | None,
        expected_version: int | None,
        actor: str,
        request_id: str | None,
    ) -> tuple[ConfigEntry, bool]:
        """Create or update; returns the entry and whether it was created."""
        async with audited_write(self.pool, actor=actor, request_id=request_id) as w:
            entry = await self._write(
                w, env, key, value, schema=schema, expected_version=expected_version, action="set"
            )
        self.entries[(env, key)] = entry
        return entry, entry.version == 1

    async def rollback(
        self, env: str, key: str, to_version: int, *, actor: str, request_id: str | None
    ) -> ConfigEntry:
        async with audited_write(self.pool, actor=actor, request_id=request_id) as w:
            old = await repo.history_version(w.conn, env, key, to_version)
            if old is None or old["action"] == "delete":
                raise NotFound(f"{key!r} in {env!r} has no version {to_version}")
            entry = await self._write(
                w,
                env,
                key,
                old["value"],
                schema=msgspec.UNSET,
                expected_version=None,
                action="rollback",
            )
        self.entries[(env, key)] = entry
        return entry

    async def delete(self, env: str, key: str, *, actor: str, request_id: str | None) -> None:
        async with audited_write(self.pool, actor=actor, request_id=request_id) as w:
            row = await repo.delete_entry(w.conn, env, key)
            if row is None:
                raise NotFound(f"no config {key!r} in environment {env!r}")
            await repo.add_history(
                w.conn,
                env,
                key,
                version=row["version"] + 1,
                value=None,
                schema=None,
                action="delete",
                actor=actor,
                request_id=request_id,
            )
            await w.audit(
                "config.delete",
                f"config:{env}/{key}",
                before={"version": row["version"], "value": row["value"]},
            )
            await w.notify("config", environment=env, key=key, version=row["version"] + 1)
        self.entries.pop((env, key), None)

    async def import_env(
        self, env: str, entries: dict[str, dict[str, Any]], *, actor: str, request_id: str | None
    ) -> dict[str, int]:
        """Write a whole environment: every entry valid, or nothing written."""
        errors = []
        for key, item in entries.items():
            try:
                check_value(
                    check_schema(item.get("schema"), f"$.entries.{key}.schema"),
                    item.get("value"),
                    f"$.entries.{key}.value",
                )
            except InvalidInput as exc:
                errors += exc.errors
        if errors:
            raise InvalidInput("invalid entries; nothing imported", errors=errors)
        written = unchanged = 0
        async with audited_write(self.pool, actor=actor, request_id=request_id) as w:
            for key, item in sorted(entries.items()):
                current = await repo.get_entry(w.conn, env, key)
                if (
                    current is not None
                    and current["value"] == item.get("value")
                    and current["schema"] == item.get("schema")
                ):
                    unchanged += 1
                    continue
                try:
                    await self._write(
                        w,
                        env,
                        key,
                        item.get("value"),
                        schema=item.get("schema"),
                        expected_version=None,
                        action="import",
                    )
                except asyncpg.CheckViolationError:
                    raise InvalidInput(
                        "invalid key",
                        errors=[
                            {
                                "path": f"$.entries.{key}",
                                "message": "keys: letters, digits, _ . : / - (1-256)",
                            }
                        ],
                    ) from None
                written += 1
        for key in entries:
            await self._refresh(env, key)
        return {"written": written, "unchanged": unchanged}
