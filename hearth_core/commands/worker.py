"""Command workers: claim queued commands from PostgreSQL and run their steps.

Each worker task polls ``commands`` (``FOR UPDATE SKIP LOCKED``) and is woken at once by a
``command`` NOTIFY. A claimed command carries a 30 s lease, renewed every 10 s while it runs;
when a worker dies its lease expires and another worker takes the command over at its current
step (after three such deaths it is failed). Every write a worker makes about a command is
conditional on still holding the lease, so a worker that lost it stops without a trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from typing import Any

import asyncpg

from hearth_core.commands.model import Command, RouteRef, describe, render_steps
from hearth_core.commands.service import CommandService
from hearth_core.commands.steps import Interrupted, StepFailed, StepRunner, step_name
from hearth_core.config.service import ConfigService
from hearth_core.events import EventListener
from hearth_core.flags.service import FlagService
from hearth_core.identity.provider import IdentityProvider

log = logging.getLogger("hearth.commands")
POLL_SECONDS = 1.0
RENEW_SECONDS = 10.0


class CommandWorkers:
    """``concurrency`` worker tasks in this process."""

    def __init__(
        self,
        service: CommandService,
        *,
        flags: FlagService,
        config: ConfigService,
        identity: IdentityProvider,
        routes: dict[str, RouteRef],
        base_url: str,
        concurrency: int,
    ) -> None:
        self.queue = service.queue
        self.routes = routes
        self.steps = StepRunner(
            service.queue,
            service.pool,
            flags=flags,
            config=config,
            identity=identity,
            routes=routes,
            base_url=base_url,
        )
        self.concurrency = concurrency
        self._prefix = f"{socket.gethostname()}:{os.getpid()}"
        self._wake = asyncio.Event()
        self._cancels: dict[str, asyncio.Event] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def subscribe(self, listener: EventListener) -> None:
        listener.subscribe("command", self.on_event, resync=self._resync)

    async def _resync(self) -> None:
        self._wake.set()
        for ev in self._cancels.values():
            ev.set()  # each running command re-reads cancel_requested

    def on_event(self, event: dict[str, Any]) -> None:
        action = event.get("action")
        if action in ("queue", "release"):
            self._wake.set()
        elif action == "cancel":
            ev = self._cancels.get(str(event.get("id")))
            if ev is not None:
                ev.set()

    def start(self) -> None:
        self.steps.start()
        for slot in range(self.concurrency):
            self._tasks.append(
                asyncio.create_task(self._loop(f"{self._prefix}:{slot}"), name=f"command-{slot}")
            )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.steps.stop()

    # -------------------------------------------------------------- the loop
    async def _loop(self, owner: str) -> None:
        while True:
            try:
                claimed = await self.queue.claim(owner)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("claiming a command failed", extra={"error": repr(exc)})
                claimed = None
            if claimed is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
                self._wake.clear()
                continue
            command, raw_steps = claimed
            try:
                await self._run(command, raw_steps, owner)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(
                        asyncio.shield(self.queue.release(uuid.UUID(command.id), owner)), 2.0
                    )
                raise
            except Exception:
                # The database went away mid-command: the lease expires and another worker
                # (or this one) takes it over.
                log.exception("command worker failed", extra={"command": command.id})
                await asyncio.sleep(POLL_SECONDS)

    async def _run(self, command: Command, raw_steps: list[Any], owner: str) -> None:
        cid = uuid.UUID(command.id)
        cancel = asyncio.Event()
        self._cancels[command.id] = cancel
        lost = False

        async def renew() -> None:
            nonlocal lost
            while True:
                await asyncio.sleep(RENEW_SECONDS)
                asked = await self.queue.renew(cid, owner)
                if asked is None:
                    lost = True
                    cancel.set()
                    return
                if asked:
                    cancel.set()

        renewer = asyncio.create_task(renew(), name=f"lease-{command.id}")
        try:
            steps, errors = render_steps(raw_steps, command.parameters, self.routes)
            if errors:
                msg = "; ".join(f"{e['path']}: {e['message']}" for e in errors)
                await self.queue.finish(cid, owner, "failed", msg, f"failed: {msg}")
                return
            total = len(steps)
            if command.cancel_requested:
                await self._cancelled(cid, owner, command.current_step)
                return
            for index in range(command.current_step, total):
                step = steps[index]
                await self.queue.write_log(cid, f"step {index + 1}/{total}: {describe(step)}")
                try:
                    await self.steps.run(step, command, cancel, owner)
                except Interrupted:
                    if not lost and await self.queue.cancel_requested(cid, owner):
                        await self._cancelled(cid, owner, index)
                    return
                except StepFailed as exc:
                    reason = f"step {index + 1} ({step_name(step)}): {exc}"
                    await self.queue.finish(cid, owner, "failed", reason, f"failed: {reason}")
                    return
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    raise  # the database went away: the lease runs out, the command is retried
                except Exception as exc:
                    log.exception("command step failed unexpectedly", extra={"command": command.id})
                    reason = (
                        f"step {index + 1} ({step_name(step)}): internal error {type(exc).__name__}"
                    )
                    await self.queue.finish(cid, owner, "failed", reason, f"failed: {reason}")
                    return
                asked = await self.queue.advance(cid, owner, index + 1)
                if asked is None:
                    return  # lease lost: the new owner carries on
                if asked and index + 1 < total:
                    await self._cancelled(cid, owner, index + 1)
                    return
            await self.queue.finish(
                cid, owner, "succeeded", None, f"succeeded: {total} step(s) done"
            )
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await renewer
            self._cancels.pop(command.id, None)

    async def _cancelled(self, cid: uuid.UUID, owner: str, done: int) -> None:
        await self.queue.finish(cid, owner, "cancelled", None, f"cancelled after {done} step(s)")
