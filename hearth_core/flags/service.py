"""The flag service: writes (serialised, each one a revision), the in-memory store every worker
evaluates from, and the change stream's subscribers.

Writes take one advisory lock, so revision order is commit order: a stream client that resumes
from Last-Event-ID N and gets every revision > N has missed nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import msgspec
import orjson

from hearth_core import audit, events
from hearth_core.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from hearth_core.flags.evaluate import EvalContext, Evaluation, evaluate
from hearth_core.flags.model import Flag, FlagSpec, spec_errors

log = logging.getLogger("hearth.flags")
_WRITE_LOCK = 0x666C6167  # "flag"
_COLUMNS = (
    "description",
    "enabled",
    "rollout_pct",
    "variants",
    "targeting",
    "environments",
    "metadata",
)
SUBSCRIBER_QUEUE = 1000


class Change(msgspec.Struct, kw_only=True):
    """One event of the change stream."""

    revision: int
    flag: str
    action: str
    state: Flag | None  # None once archived


def _flag(row: asyncpg.Record) -> Flag:
    return msgspec.convert(
        {
            "name": row["name"],
            "description": row["description"],
            "enabled": row["enabled"],
            "rollout_pct": row["rollout_pct"],
            "variants": row["variants"],
            "targeting": row["targeting"],
            "environments": row["environments"],
            "metadata": row["metadata"],
            "version": row["version"],
            "archived": row["archived_at"] is not None,
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
            "updated_by": row["updated_by"],
        },
        Flag,
    )


def _spec_values(spec: FlagSpec) -> list[Any]:
    b = msgspec.to_builtins(spec)
    return [b[c] for c in _COLUMNS]


class FlagService:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.flags: dict[str, Flag] = {}
        self.revision = 0
        self._subscribers: set[asyncio.Queue[Change | None]] = set()
        self._encoder = msgspec.json.Encoder()

    # ------------------------------------------------------------- memory
    async def load(self) -> None:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch("SELECT * FROM flags WHERE archived_at IS NULL")
            revision = await conn.fetchval("SELECT coalesce(max(revision), 0) FROM flag_revisions")
        self.flags = {r["name"]: _flag(r) for r in rows}
        self.revision = revision

    async def on_event(self, event: dict[str, Any]) -> None:
        """A NOTIFY from any worker (this one included): refresh that flag, tell subscribers."""
        name, revision = event.get("flag"), event.get("revision")
        if not isinstance(name, str) or not isinstance(revision, int):
            return
        row = await self.pool.fetchrow("SELECT * FROM flags WHERE name = $1", name)
        state = _flag(row) if row is not None else None
        if state is None or state.archived:
            self.flags.pop(name, None)
        else:
            self.flags[name] = state
        self.revision = max(self.revision, revision)
        self._publish(
            Change(
                revision=revision,
                flag=name,
                action=event.get("action", "update"),
                state=None if state is None or state.archived else state,
            )
        )

    def _publish(self, change: Change) -> None:
        for q in list(self._subscribers):
            try:
                q.put_nowait(change)
            except asyncio.QueueFull:
                # A reader this far behind reconnects with Last-Event-ID and replays.
                self._subscribers.discard(q)
                with contextlib.suppress(asyncio.QueueFull):
                    q.get_nowait()
                    q.put_nowait(None)

    def close_subscribers(self) -> None:
        for q in list(self._subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait(None)
        self._subscribers.clear()

    # ---------------------------------------------------------- evaluation
    def etag(self, ctx: EvalContext) -> str:
        digest = hashlib.blake2b(self._encoder.encode(ctx), digest_size=8).hexdigest()
        return f'"{self.revision}-{digest}"'

    def evaluate_all(self, ctx: EvalContext) -> list[Evaluation]:
        return [evaluate(f, ctx) for f in self.flags.values()]

    def evaluate_one(self, name: str, ctx: EvalContext) -> Evaluation:
        flag = self.flags.get(name)
        if flag is None:
            raise NotFound(f"no flag {name!r}")
        return evaluate(flag, ctx)

    # -------------------------------------------------------------- reads
    async def list(self, *, include_archived: bool) -> list[Flag]:
        if not include_archived:
            return sorted(self.flags.values(), key=lambda f: f.name)
        rows = await self.pool.fetch("SELECT * FROM flags ORDER BY name")
        return [_flag(r) for r in rows]

    async def get(self, name: str) -> Flag:
        row = await self.pool.fetchrow("SELECT * FROM flags WHERE name = $1", name)
        if row is None:
            raise NotFound(f"no flag {name!r}")
        return _flag(row)

    async def audit_trail(
        self, name: str, *, limit: int, page: int
    ) -> tuple[list[dict[str, Any]], int]:
        async with self.pool.acquire() as conn:
            total = await conn.fetchval(
                "SELECT count(*) FROM flag_revisions WHERE flag_name=$1", name
            )
            if total == 0 and not await conn.fetchval("SELECT 1 FROM flags WHERE name=$1", name):
                raise NotFound(f"no flag {name!r}")
            rows = await conn.fetch(
                "SELECT revision, action, before, after, actor, at, request_id FROM flag_revisions"
                " WHERE flag_name=$1 ORDER BY revision DESC LIMIT $2 OFFSET $3",
                name,
                limit,
                (page - 1) * limit,
            )
        return [dict(r) for r in rows], total

    async def changes_since(self, revision: int) -> list[Change]:
        rows = await self.pool.fetch(
            "SELECT revision, flag_name, action, after FROM flag_revisions WHERE revision > $1"
            " ORDER BY revision LIMIT 10000",
            revision,
        )
        out = []
        for r in rows:
            state = msgspec.convert(r["after"], Flag) if r["after"] is not None else None
            out.append(
                Change(
                    revision=r["revision"],
                    flag=r["flag_name"],
                    action=r["action"],
                    state=None if state is None or state.archived else state,
                )
            )
        return out

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[Change | None]]:
        q: asyncio.Queue[Change | None] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self._subscribers.add(q)
        try:
            yield q
        finally:
            self._subscribers.discard(q)

    # ------------------------------------------------------------- writes
    async def _record(
        self,
        conn: asyncpg.Connection,
        name: str,
        action: str,
        before: Flag | None,
        after: Flag | None,
        actor: str,
        request_id: str | None,
    ) -> int:
        b = msgspec.to_builtins(before) if before is not None else None
        a = msgspec.to_builtins(after) if after is not None else None
        revision: int = await conn.fetchval(
            "INSERT INTO flag_revisions (flag_name, action, before, after, actor, request_id)"
            " VALUES ($1, $2, $3, $4, $5, $6) RETURNING revision",
            name,
            action,
            b,
            a,
            actor,
            request_id,
        )
        await audit.record(
            conn,
            actor=actor,
            action=f"flag.{action}",
            target=f"flag:{name}",
            before=b,
            after=a,
            request_id=request_id,
        )
        await events.notify(conn, "flag", flag=name, revision=revision, action=action)
        return revision

    async def _apply(self, names: list[str]) -> None:
        # The NOTIFY reaches this worker too, but answer with our own write already visible —
        # flags and revision both, so an ETag taken right after the write is already new.
        async with self.pool.acquire() as conn:
            rows = await conn.fetch("SELECT * FROM flags WHERE name = ANY($1)", names)
            revision = await conn.fetchval("SELECT coalesce(max(revision), 0) FROM flag_revisions")
        self.revision = max(self.revision, revision)
        for r in rows:
            f = _flag(r)
            if f.archived:
                self.flags.pop(f.name, None)
            else:
                self.flags[f.name] = f

    def _check(self, spec: FlagSpec, root: str = "$") -> None:
        if errors := spec_errors(spec, root):
            raise InvalidInput("invalid flag", errors=errors)

    async def create(self, spec: FlagSpec, *, actor: str, request_id: str | None) -> Flag:
        self._check(spec)
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _WRITE_LOCK)
            try:
                row = await conn.fetchrow(
                    f"INSERT INTO flags (name, {', '.join(_COLUMNS)}, updated_by)"  # noqa: S608 - fixed columns
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *",
                    spec.name,
                    *_spec_values(spec),
                    actor,
                )
            except asyncpg.UniqueViolationError:
                raise Conflict(
                    f"flag {spec.name!r} exists",
                    errors=[{"path": "$.name", "message": "taken (perhaps archived)"}],
                ) from None
            flag = _flag(row)
            await self._record(conn, spec.name, "create", None, flag, actor, request_id)
        await self._apply([spec.name])
        return flag

    async def update(
        self,
        name: str,
        changes: dict[str, Any],
        *,
        expected_version: int | None,
        actor: str,
        request_id: str | None,
    ) -> Flag:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _WRITE_LOCK)
            row = await conn.fetchrow("SELECT * FROM flags WHERE name=$1 FOR UPDATE", name)
            if row is None:
                raise NotFound(f"no flag {name!r}")
            before = _flag(row)
            if expected_version is not None and expected_version != before.version:
                raise PreconditionFailed(
                    f"flag {name!r} is at version {before.version}, not {expected_version}"
                )
            spec = _merge(before, changes)
            self._check(spec)
            row = await conn.fetchrow(
                "UPDATE flags SET description=$2, enabled=$3, rollout_pct=$4, variants=$5, targeting=$6,"
                " environments=$7, metadata=$8, version=version+1, updated_at=now(), updated_by=$9"
                " WHERE name=$1 RETURNING *",
                name,
                *_spec_values(spec),
                actor,
            )
            after = _flag(row)
            await self._record(conn, name, "update", before, after, actor, request_id)
        await self._apply([name])
        return after

    async def set_archived(
        self, name: str, archived: bool, *, actor: str, request_id: str | None
    ) -> Flag:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _WRITE_LOCK)
            row = await conn.fetchrow("SELECT * FROM flags WHERE name=$1 FOR UPDATE", name)
            if row is None:
                raise NotFound(f"no flag {name!r}")
            before = _flag(row)
            if before.archived == archived:
                return before
            row = await conn.fetchrow(
                "UPDATE flags SET archived_at = CASE WHEN $2 THEN now() END, version=version+1,"
                " updated_at=now(), updated_by=$3 WHERE name=$1 RETURNING *",
                name,
                archived,
                actor,
            )
            after = _flag(row)
            await self._record(
                conn, name, "archive" if archived else "restore", before, after, actor, request_id
            )
        await self._apply([name])
        return after

    async def toggle_all(
        self, enabled: bool, *, environment: str | None, actor: str, request_id: str | None
    ) -> int:
        """Switch every live flag (or its state in one environment); returns how many changed."""
        changed: list[str] = []
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _WRITE_LOCK)
            rows = await conn.fetch(
                "SELECT * FROM flags WHERE archived_at IS NULL ORDER BY name FOR UPDATE"
            )
            for row in rows:
                before = _flag(row)
                if environment is None:
                    if before.enabled == enabled:
                        continue
                    row = await conn.fetchrow(
                        "UPDATE flags SET enabled=$2, version=version+1, updated_at=now(), updated_by=$3"
                        " WHERE name=$1 RETURNING *",
                        before.name,
                        enabled,
                        actor,
                    )
                else:
                    env = before.environments.get(environment)
                    if env is not None and env.enabled == enabled:
                        continue
                    row = await conn.fetchrow(
                        "UPDATE flags SET environments = jsonb_set(environments, ARRAY[$2],"
                        " coalesce(environments->$2, '{}'::jsonb) || jsonb_build_object('enabled', $3::boolean)),"
                        " version=version+1, updated_at=now(), updated_by=$4 WHERE name=$1 RETURNING *",
                        before.name,
                        environment,
                        enabled,
                        actor,
                    )
                await self._record(
                    conn, before.name, "toggle", before, _flag(row), actor, request_id
                )
                changed.append(before.name)
        if changed:
            await self._apply(changed)
        return len(changed)

    async def import_flags(
        self, specs: list[FlagSpec], *, actor: str, request_id: str | None
    ) -> dict[str, int]:
        """Upsert every flag in one transaction; any invalid flag and nothing is written."""
        errors = [e for i, s in enumerate(specs) for e in spec_errors(s, f"$[{i}]")]
        names = [s.name for s in specs]
        for i, n in enumerate(names):
            if names.index(n) != i:
                errors.append({"path": f"$[{i}].name", "message": f"{n!r} appears twice"})
        if errors:
            raise InvalidInput("invalid flags; nothing imported", errors=errors)
        created = updated = unchanged = 0
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _WRITE_LOCK)
            existing = {
                r["name"]: _flag(r)
                for r in await conn.fetch(
                    "SELECT * FROM flags WHERE name = ANY($1) FOR UPDATE", names
                )
            }
            for spec in specs:
                before = existing.get(spec.name)
                if before is None:
                    row = await conn.fetchrow(
                        f"INSERT INTO flags (name, {', '.join(_COLUMNS)}, updated_by)"  # noqa: S608 - fixed columns
                        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *",
                        spec.name,
                        *_spec_values(spec),
                        actor,
                    )
                    await self._record(
                        conn, spec.name, "import", None, _flag(row), actor, request_id
                    )
                    created += 1
                    continue
                if _spec_values(_merge(before, {})) == _spec_values(spec) and not before.archived:
                    unchanged += 1
                    continue
                row = await conn.fetchrow(
                    "UPDATE flags SET description=$2, enabled=$3, rollout_pct=$4, variants=$5, targeting=$6,"
                    " environments=$7, metadata=$8, archived_at=NULL, version=version+1, updated_at=now(),"
                    " updated_by=$9 WHERE name=$1 RETURNING *",
                    spec.name,
                    *_spec_values(spec),
                    actor,
                )
                await self._record(conn, spec.name, "import", before, _flag(row), actor, request_id)
                updated += 1
        await self._apply(names)
        return {"created": created, "updated": updated, "unchanged": unchanged}


def _merge(flag: Flag, changes: dict[str, Any]) -> FlagSpec:
    base = {k: v for k, v in msgspec.to_builtins(flag).items() if k in FlagSpec.__struct_fields__}
    base.update(changes)
    base["name"] = flag.name
    return msgspec.convert(base, FlagSpec)  # a ValidationError names the path: a 400


def encode_change(change: Change) -> bytes:
    return orjson.dumps(msgspec.to_builtins(change))
