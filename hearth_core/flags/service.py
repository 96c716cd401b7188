"""The flag service: writes (serialised, each one a revision), the in-memory store every worker
evaluates from, and the change stream's subscribers.

Writes take one advisory lock, so revision order is commit order: a stream client that resumes
from Last-Event-ID N and gets every revision > N has missed nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import msgspec

from hearth_core.broadcast import Broadcast, Subscription
from hearth_core.db.audited import AuditedWrite, audited_write
from hearth_core.db.paging import Page
from hearth_core.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from hearth_core.flags import repo
from hearth_core.flags.evaluate import EvalContext, Evaluation, evaluate
from hearth_core.flags.model import Change, Flag, FlagRevision, FlagSpec, spec_errors

log = logging.getLogger("hearth.flags")


class FlagService:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.flags: dict[str, Flag] = {}
        self.revision = 0
        self.changes: Broadcast[Change] = Broadcast()
        self._encoder = msgspec.json.Encoder()

    # ------------------------------------------------------------- memory
    async def load(self) -> None:
        async with self.pool.acquire() as conn:
            flags = await repo.live(conn)
            revision = await repo.latest_revision(conn)
        self.flags = {f.name: f for f in flags}
        self.revision = revision

    async def on_event(self, event: dict[str, Any]) -> None:
        """A NOTIFY from any worker (this one included): refresh that flag, tell subscribers."""
        name, revision = event.get("flag"), event.get("revision")
        if not isinstance(name, str) or not isinstance(revision, int):
            return
        state = await repo.get(self.pool, name)
        if state is None or state.archived:
            self.flags.pop(name, None)
        else:
            self.flags[name] = state
        self.revision = max(self.revision, revision)
        self.changes.publish(
            Change(
                revision=revision,
                flag=name,
                action=event.get("action", "update"),
                state=None if state is None or state.archived else state,
            )
        )

    def subscribe(self) -> contextlib.AbstractContextManager[Subscription[Change]]:
        return self.changes.subscribe()

    def close_subscribers(self) -> None:
        self.changes.close()

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
        return await repo.every(self.pool)

    async def get(self, name: str) -> Flag:
        flag = await repo.get(self.pool, name)
        if flag is None:
            raise NotFound(f"no flag {name!r}")
        return flag

    async def audit_trail(self, name: str, *, limit: int, page: int) -> Page[FlagRevision]:
        async with self.pool.acquire() as conn:
            rows, total = await repo.revisions(conn, name, page=page, limit=limit)
            if total == 0 and not await repo.exists(conn, name):
                raise NotFound(f"no flag {name!r}")
        return Page(
            items=[FlagRevision(**dict(r)) for r in rows], page=page, limit=limit, total=total
        )

    async def changes_since(self, revision: int) -> list[Change]:
        out = []
        for r in await repo.revisions_since(self.pool, revision):
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

    # ------------------------------------------------------------- writes
    @contextlib.asynccontextmanager
    async def _write(self, actor: str, request_id: str | None) -> AsyncIterator[AuditedWrite]:
        async with audited_write(self.pool, actor=actor, request_id=request_id) as w:
            await repo.lock_writes(w.conn)
            yield w

    async def _record(
        self, w: AuditedWrite, name: str, action: str, before: Flag | None, after: Flag | None
    ) -> None:
        """The revision, its audit row and the NOTIFY every worker's store and stream hear."""
        b = msgspec.to_builtins(before) if before is not None else None
        a = msgspec.to_builtins(after) if after is not None else None
        revision = await repo.add_revision(
            w.conn, name, action, b, a, actor=w.actor, request_id=w.request_id
        )
        await w.audit(f"flag.{action}", f"flag:{name}", before=b, after=a)
        await w.notify("flag", flag=name, revision=revision, action=action)

    async def _apply(self, names: list[str]) -> None:
        # The NOTIFY reaches this worker too, but answer with our own write already visible —
        # flags and revision both, so an ETag taken right after the write is already new.
        async with self.pool.acquire() as conn:
            flags = await repo.named(conn, names)
            revision = await repo.latest_revision(conn)
        self.revision = max(self.revision, revision)
        for f in flags:
            if f.archived:
                self.flags.pop(f.name, None)
            else:
                self.flags[f.name] = f

    def _check(self, spec: FlagSpec, root: str = "$") -> None:
        if errors := spec_errors(spec, root):
            raise InvalidInput("invalid flag", errors=errors)

    async def create(self, spec: FlagSpec, *, actor: str, request_id: str | None) -> Flag:
        self._check(spec)
        async with self._write(actor, request_id) as w:
            try:
                flag = await repo.insert(w.conn, spec, actor)
            except asyncpg.UniqueViolationError:
                raise Conflict(
                    f"flag {spec.name!r} exists",
                    errors=[{"path": "$.name", "message": "taken (perhaps archived)"}],
                ) from None
            await self._record(w, spec.name, "create", None, flag)
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
        async with self._write(actor, request_id) as w:
            before = await repo.lock(w.conn, name)
            if expected_version is not None and expected_version != before.version:
                raise PreconditionFailed(
                    f"flag {name!r} is at version {before.version}, not {expected_version}"
                )
            spec = _merge(before, changes)
            self._check(spec)
            after = await repo.replace(w.conn, spec, actor, restore=False)
            await self._record(w, name, "update", before, after)
        await self._apply([name])
        return after

    async def set_archived(
        self, name: str, archived: bool, *, actor: str, request_id: str | None
    ) -> Flag:
        async with self._write(actor, request_id) as w:
            before = await repo.lock(w.conn, name)
            if before.archived == archived:
                return before
            after = await repo.set_archived(w.conn, name, archived, actor)
            await self._record(w, name, "archive" if archived else "restore", before, after)
        await self._apply([name])
        return after

    async def toggle_all(
        self, enabled: bool, *, environment: str | None, actor: str, request_id: str | None
    ) -> int:
        """Switch every live flag (or its state in one environment); returns how many changed."""
        changed: list[str] = []
        async with self._write(actor, request_id) as w:
            for before in await repo.lock_live(w.conn):
                if environment is None:
                    if before.enabled == enabled:
                        continue
                else:
                    env = before.environments.get(environment)
                    if env is not None and env.enabled == enabled:
                        continue
                after = await repo.set_enabled(
                    w.conn, before.name, enabled, actor, environment=environment
                )
                await self._record(w, before.name, "toggle", before, after)
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
        async with self._write(actor, request_id) as w:
            existing = {f.name: f for f in await repo.lock_named(w.conn, names)}
            for spec in specs:
                before = existing.get(spec.name)
                if before is None:
                    await self._record(
                        w, spec.name, "import", None, await repo.insert(w.conn, spec, actor)
                    )
                    created += 1
                elif repo.same_spec(before, spec) and not before.archived:
                    unchanged += 1
                else:
                    after = await repo.replace(w.conn, spec, actor, restore=True)
                    await self._record(w, spec.name, "import", before, after)
                    updated += 1
        await self._apply(names)
        return {"created": created, "updated": updated, "unchanged": unchanged}


def _merge(flag: Flag, changes: dict[str, Any]) -> FlagSpec:
    base = {k: v for k, v in msgspec.to_builtins(flag).items() if k in FlagSpec.__struct_fields__}
    base.update(changes)
    base["name"] = flag.name
    return msgspec.convert(base, FlagSpec)  # a ValidationError names the path: a 400
