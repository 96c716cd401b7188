"""The flag service: writes (serialised, each one a revision), the in-memory store every worker
evaluates from, and the change stream's subscribers.

Writes take one advisory lock, so revision order is commit order: a stream client that resumes
from Last-Event-ID N and gets every revision > N has missed nothing.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import msgspec

from hearth_core.broadcast import Broadcast, Subscription
from hearth_core.db.audited import AuditedWrite, audited_write
from hearth_core.db.paging import Page
from hearth_core.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from hearth_core.flags import repo
from hearth_core.flags.model import (
    DEFAULT_ENVIRONMENT,
    Change,
    EnvConfig,
    Flag,
    FlagRevision,
    FlagSpec,
    Segment,
    SegmentSpec,
    Strategy,
    constraints_errors,
    spec_errors,
    structure_errors,
)
from hearth_core.flags.snapshot import EnvSnapshot, build_snapshot
from hearth_core.flags.unleash import (
    ImportMode,
    UnleashState,
    client_state,
    spec_from_feature,
    spec_of,
    without_env,
)

log = logging.getLogger("hearth.flags")


class FlagService:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.flags: dict[str, Flag] = {}
        self.segments: dict[int, Segment] = {}
        self.revision = 0
        self.changes: Broadcast[Change] = Broadcast()
        # Compiled per environment on first use; dropped on any change.
        self._snapshots: dict[str, EnvSnapshot] = {}

    # ------------------------------------------------------------- memory
    async def load(self) -> None:
        async with self.pool.acquire() as conn:
            flags = await repo.live(conn)
            segments = await repo.segments(conn)
            revision = await repo.latest_revision(conn)
        self.flags = {f.name: f for f in flags}
        self.segments = {s.id: s for s in segments}
        self.revision = revision
        self._snapshots.clear()

    async def on_segment_event(self, event: dict[str, Any]) -> None:
        """A segment changed somewhere: every environment's compiled state may depend on it."""
        self.segments = {s.id: s for s in await repo.segments(self.pool)}
        self._snapshots.clear()

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
        self._snapshots.clear()
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
    def snapshot(self, env: str = DEFAULT_ENVIRONMENT) -> EnvSnapshot:
        """The environment's client-API state and its compiled evaluator."""
        snap = self._snapshots.get(env)
        if snap is None:
            snap = build_snapshot(list(self.flags.values()), list(self.segments.values()), env)
            # Only environments some flag knows are kept: any other name compiles to all-off,
            # and caching every name a caller makes up would grow without bound.
            if env == DEFAULT_ENVIRONMENT or any(
                env in f.environments for f in self.flags.values()
            ):
                self._snapshots[env] = snap
        return snap

    def environments(self) -> list[str]:
        return sorted(
            {DEFAULT_ENVIRONMENT, *(e for f in self.flags.values() for e in f.environments)}
        )

    # -------------------------------------------------------------- reads
    async def list_flags(self, *, include_archived: bool) -> list[Flag]:
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
        self._snapshots.clear()

    def _check(self, spec: FlagSpec, root: str = "$") -> None:
        if errors := spec_errors(spec, root, set(self.segments)):
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

    async def _change(
        self,
        name: str,
        changes_of: Callable[[Flag], dict[str, Any]],
        *,
        expected_version: int | None,
        actor: str,
        request_id: str | None,
    ) -> Flag:
        """Lock the flag, check the expected version, write ``changes_of(the flag)`` over it."""
        async with self._write(actor, request_id) as w:
            before = await repo.lock(w.conn, name)
            if expected_version is not None and expected_version != before.version:
                raise PreconditionFailed(
                    f"flag {name!r} is at version {before.version}, not {expected_version}"
                )
            spec = _merge(before, changes_of(before))
            self._check(spec)
            after = await repo.replace(w.conn, spec, actor, restore=False)
            await self._record(w, name, "update", before, after)
        await self._apply([name])
        return after

    async def update(
        self,
        name: str,
        changes: dict[str, Any],
        *,
        expected_version: int | None,
        actor: str,
        request_id: str | None,
    ) -> Flag:
        return await self._change(
            name,
            lambda _: changes,
            expected_version=expected_version,
            actor=actor,
            request_id=request_id,
        )

    async def update_environment(
        self,
        name: str,
        environment: str,
        changes: dict[str, Any],
        *,
        expected_version: int | None,
        actor: str,
        request_id: str | None,
    ) -> Flag:
        """Change some of one environment's fields (enabled, strategies, variants)."""

        def changes_of(before: Flag) -> dict[str, Any]:
            envs = msgspec.to_builtins(before.environments)
            envs[environment] = {**envs.get(environment, {}), **changes}
            return {"environments": envs}

        return await self._change(
            name,
            changes_of,
            expected_version=expected_version,
            actor=actor,
            request_id=request_id,
        )

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
        self, enabled: bool, *, environment: str, actor: str, request_id: str | None
    ) -> int:
        """Switch every live flag in one environment; returns how many changed."""
        changed: list[str] = []
        async with self._write(actor, request_id) as w:
            for before in await repo.lock_live(w.conn):
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

    async def set_environment(
        self,
        name: str,
        environment: str,
        *,
        enabled: bool | None,
        rollout_pct: int | None,
        actor: str,
        request_id: str | None,
    ) -> Flag:
        """Switch a flag in one environment and/or set the rollout of its flexibleRollout
        strategies there (adding one — stickiness default, groupId the flag — when it has none)."""

        def changes_of(before: Flag) -> dict[str, Any]:
            cfg = before.environments.get(environment) or EnvConfig()
            strategies = list(cfg.strategies)
            if rollout_pct is not None:
                rollouts = [i for i, st in enumerate(strategies) if st.name == "flexibleRollout"]
                if not rollouts:
                    params = {"rollout": "100", "stickiness": "default", "groupId": name}
                    strategies.append(Strategy(name="flexibleRollout", parameters=params))
                    rollouts = [len(strategies) - 1]
                for i in rollouts:
                    params = {**strategies[i].parameters, "rollout": str(rollout_pct)}
                    strategies[i] = msgspec.structs.replace(strategies[i], parameters=params)
            new = EnvConfig(
                enabled=cfg.enabled if enabled is None else enabled,
                strategies=strategies,
                variants=cfg.variants,
            )
            envs = {**before.environments, environment: new}
            return {"environments": msgspec.to_builtins(envs)}

        return await self._change(
            name, changes_of, expected_version=None, actor=actor, request_id=request_id
        )

    async def import_flags(
        self, specs: list[FlagSpec], *, actor: str, request_id: str | None
    ) -> dict[str, int]:
        """Upsert every flag in one transaction; any invalid flag and nothing is written."""
        errors = [
            e for i, s in enumerate(specs) for e in spec_errors(s, f"$[{i}]", set(self.segments))
        ]
        names = [s.name for s in specs]
        for i, n in enumerate(names):
            if names.index(n) != i:
                errors.append({"path": f"$[{i}].name", "message": f"{n!r} appears twice"})
        if errors:
            raise InvalidInput("invalid flags; nothing imported", errors=errors)
        async with self._write(actor, request_id) as w:
            counts = await self._upsert(w, specs, [])
        await self._apply(names)
        return counts

    async def _upsert(
        self, w: AuditedWrite, specs: list[FlagSpec], also_lock: list[str]
    ) -> dict[str, int]:
        created = updated = unchanged = 0
        names = [s.name for s in specs]
        existing = {f.name: f for f in await repo.lock_named(w.conn, names + also_lock)}
        for spec in specs:
            before = existing.get(spec.name)
            if before is None:
                after = await repo.insert(w.conn, spec, w.actor)
                await self._record(w, spec.name, "import", None, after)
                created += 1
            elif repo.same_spec(before, spec) and not before.archived:
                unchanged += 1
            else:
                after = await repo.replace(w.conn, spec, w.actor, restore=True)
                await self._record(w, spec.name, "import", before, after)
                updated += 1
        return {"created": created, "updated": updated, "unchanged": unchanged}

    async def import_unleash(
        self,
        state: UnleashState,
        environment: str,
        mode: ImportMode,
        *,
        actor: str,
        request_id: str | None,
    ) -> dict[str, int]:
        """Unleash's client-API document into one environment, atomically. Segments keep their
        ids (the features refer to them by id); ``replace`` also takes out of the environment
        every flag the document lacks and deletes the segments nothing uses any more."""
        errors: list[dict[str, str]] = []
        names = [f.name for f in state.features]
        for i, n in enumerate(names):
            if names.index(n) != i:
                errors.append({"path": f"$.features[{i}].name", "message": f"{n!r} appears twice"})
        seg_ids = [s.id for s in state.segments]
        for i, s in enumerate(state.segments):
            if seg_ids.index(s.id) != i:
                errors.append({"path": f"$.segments[{i}].id", "message": f"{s.id} appears twice"})
        if errors:
            raise InvalidInput("invalid document; nothing imported", errors=errors)
        counts = {"created": 0, "updated": 0, "unchanged": 0, "removed": 0, "segments": 0}
        async with self._write(actor, request_id) as w:
            for seg in state.segments:
                seg_spec = SegmentSpec(
                    name=seg.name or f"segment-{seg.id}",
                    description=seg.description or "",
                    constraints=seg.constraints,
                )
                try:
                    async with w.conn.transaction():
                        old = await w.conn.fetchval(
                            "SELECT id FROM flag_segments WHERE id = $1 FOR UPDATE", seg.id
                        )
                        if old is None:
                            after_seg = await repo.insert_segment(
                                w.conn, seg_spec, actor, segment_id=seg.id
                            )
                        else:
                            after_seg = await repo.update_segment(w.conn, seg.id, seg_spec, actor)
                except asyncpg.UniqueViolationError:
                    raise Conflict(
                        f"segment name {seg_spec.name!r} belongs to another segment",
                        errors=[{"path": "$.segments", "message": f"name {seg_spec.name!r} taken"}],
                    ) from None
                await w.audit(
                    "flag_segment.import", f"segment:{seg.id}", after=msgspec.to_builtins(after_seg)
                )
                counts["segments"] += 1
            known = {s.id for s in await repo.segments(w.conn)}
            current = {f.name: f for f in await repo.lock_live(w.conn)}
            existing = {f.name: f for f in await repo.lock_named(w.conn, names)}
            specs = []
            for i, feature in enumerate(state.features):
                before = existing.get(feature.name)
                spec = spec_from_feature(feature, environment, spec_of(before) if before else None)
                errors += structure_errors(spec, f"$.features[{i}]")
                specs.append(spec)
            if mode == "replace":
                dropped = [
                    without_env(f, environment)
                    for name, f in current.items()
                    if name not in set(names) and environment in f.environments
                ]
            else:
                dropped = []
            if errors:
                raise InvalidInput("invalid document; nothing imported", errors=errors)
            result = await self._upsert(w, specs + dropped, [])
            counts.update(result)
            counts["removed"] = len(dropped)
            counts["updated"] -= len(dropped)
            if mode == "replace":
                keep = set(seg_ids)
                for sid in known - keep:
                    if not await repo.segment_users(w.conn, sid):
                        await repo.delete_segment(w.conn, sid)
                        await w.audit("flag_segment.delete", f"segment:{sid}")
            await w.notify("flag_segment")
        await self._apply(names + [d.name for d in dropped])
        await self.on_segment_event({})
        return counts

    def export_unleash(self, environment: str) -> dict[str, Any]:
        return client_state(list(self.flags.values()), list(self.segments.values()), environment)

    # ----------------------------------------------------------- segments
    def list_segments(self) -> list[Segment]:
        return sorted(self.segments.values(), key=lambda s: s.id)

    def get_segment(self, segment_id: int) -> Segment:
        seg = self.segments.get(segment_id)
        if seg is None:
            raise NotFound(f"no segment {segment_id}")
        return seg

    def _check_segment(self, spec: SegmentSpec) -> None:
        if errors := constraints_errors(spec.constraints, "$.constraints"):
            raise InvalidInput("invalid segment", errors=errors)

    async def create_segment(
        self, spec: SegmentSpec, *, actor: str, request_id: str | None
    ) -> Segment:
        self._check_segment(spec)
        async with self._write(actor, request_id) as w:
            try:
                seg = await repo.insert_segment(w.conn, spec, actor)
            except asyncpg.UniqueViolationError:
                raise Conflict(
                    f"segment {spec.name!r} exists",
                    errors=[{"path": "$.name", "message": "taken"}],
                ) from None
            await w.audit(
                "flag_segment.create", f"segment:{seg.id}", after=msgspec.to_builtins(seg)
            )
            await w.notify("flag_segment", id=seg.id)
        await self.on_segment_event({})
        return seg

    async def update_segment(
        self, segment_id: int, spec: SegmentSpec, *, actor: str, request_id: str | None
    ) -> Segment:
        self._check_segment(spec)
        async with self._write(actor, request_id) as w:
            before = await repo.lock_segment(w.conn, segment_id)
            try:
                after = await repo.update_segment(w.conn, segment_id, spec, actor)
            except asyncpg.UniqueViolationError:
                raise Conflict(
                    f"segment {spec.name!r} exists",
                    errors=[{"path": "$.name", "message": "taken"}],
                ) from None
            await w.audit(
                "flag_segment.update",
                f"segment:{segment_id}",
                before=msgspec.to_builtins(before),
                after=msgspec.to_builtins(after),
            )
            await w.notify("flag_segment", id=segment_id)
        await self.on_segment_event({})
        return after

    async def delete_segment(self, segment_id: int, *, actor: str, request_id: str | None) -> None:
        async with self._write(actor, request_id) as w:
            before = await repo.lock_segment(w.conn, segment_id)
            if users := await repo.segment_users(w.conn, segment_id):
                raise Conflict(
                    f"segment {segment_id} is used by {', '.join(users[:10])}",
                    errors=[{"path": "id", "message": "in use"}],
                )
            await repo.delete_segment(w.conn, segment_id)
            await w.audit(
                "flag_segment.delete", f"segment:{segment_id}", before=msgspec.to_builtins(before)
            )
            await w.notify("flag_segment", id=segment_id)
        await self.on_segment_event({})


def _merge(flag: Flag, changes: dict[str, Any]) -> FlagSpec:
    base = {k: v for k, v in msgspec.to_builtins(flag).items() if k in FlagSpec.__struct_fields__}
    base.update(changes)
    base["name"] = flag.name
    return msgspec.convert(base, FlagSpec)  # a ValidationError names the path: a 400
