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
import time
import uuid
from typing import Any
from urllib.parse import quote

import aiohttp
import asyncpg
import msgspec

from hearth_core.commands.model import (
    Call,
    CheckMetric,
    Command,
    Log,
    RouteRef,
    SetFlag,
    Step,
    Wait,
    WriteConfig,
    describe,
    render_steps,
)
from hearth_core.commands.service import CommandService
from hearth_core.config.service import ConfigService
from hearth_core.errors import ServiceError
from hearth_core.events import EventListener
from hearth_core.flags.service import FlagService
from hearth_core.identity.provider import IdentityProvider
from hearth_core.metrics.query import Query, parse_matcher
from hearth_core.metrics.service import run_query

log = logging.getLogger("hearth.commands")
POLL_SECONDS = 1.0
RENEW_SECONDS = 10.0
CANCEL_POLL_SECONDS = 0.5
CALL_TIMEOUT_SECONDS = 30.0
CALL_CLIENT_ID = "hearth-commands"
_OPS = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


class StepFailed(Exception):
    """The step ran and its outcome fails the command (a false check, an HTTP error, …)."""


class _Stop(Exception):
    """Cancel was asked, or the lease is no longer ours."""


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
        self.service = service
        self.flags = flags
        self.config = config
        self.identity = identity
        self.routes = routes
        self.base_url = base_url.rstrip("/")
        self.concurrency = concurrency
        self._prefix = f"{socket.gethostname()}:{os.getpid()}"
        self._wake = asyncio.Event()
        self._cancels: dict[str, asyncio.Event] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._http: aiohttp.ClientSession | None = None

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
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=CALL_TIMEOUT_SECONDS)
        )
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
        if self._http is not None:
            await self._http.close()
            self._http = None

    # -------------------------------------------------------------- the loop
    async def _loop(self, owner: str) -> None:
        while True:
            try:
                claimed = await self.service.claim(owner)
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
                        asyncio.shield(self.service.release(uuid.UUID(command.id), owner)), 2.0
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
                asked = await self.service.renew(cid, owner)
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
                await self.service.finish(cid, owner, "failed", msg, f"failed: {msg}")
                return
            total = len(steps)
            if command.cancel_requested:
                await self._cancelled(cid, owner, command.current_step)
                return
            for index in range(command.current_step, total):
                step = steps[index]
                await self.service.write_log(cid, f"step {index + 1}/{total}: {describe(step)}")
                try:
                    await self._step(step, command, cancel, owner)
                except _Stop:
                    if not lost and await self.service.cancel_requested(cid, owner):
                        await self._cancelled(cid, owner, index)
                    return
                except StepFailed as exc:
                    reason = f"step {index + 1} ({step_name(step)}): {exc}"
                    await self.service.finish(cid, owner, "failed", reason, f"failed: {reason}")
                    return
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    raise  # the database went away: the lease runs out, the command is retried
                except Exception as exc:
                    log.exception("command step failed unexpectedly", extra={"command": command.id})
                    reason = (
                        f"step {index + 1} ({step_name(step)}): internal error {type(exc).__name__}"
                    )
                    await self.service.finish(cid, owner, "failed", reason, f"failed: {reason}")
                    return
                asked = await self.service.advance(cid, owner, index + 1)
                if asked is None:
                    return  # lease lost: the new owner carries on
                if asked and index + 1 < total:
                    await self._cancelled(cid, owner, index + 1)
                    return
            await self.service.finish(
                cid, owner, "succeeded", None, f"succeeded: {total} step(s) done"
            )
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await renewer
            self._cancels.pop(command.id, None)

    async def _cancelled(self, cid: uuid.UUID, owner: str, done: int) -> None:
        await self.service.finish(cid, owner, "cancelled", None, f"cancelled after {done} step(s)")

    # ------------------------------------------------------------- the steps
    async def _step(self, step: Step, command: Command, cancel: asyncio.Event, owner: str) -> None:
        actor = f"command:{command.id}"
        cid = uuid.UUID(command.id)
        if isinstance(step, Wait):
            await self._wait(step.seconds, cid, owner, cancel)
        elif isinstance(step, Log):
            await self.service.write_log(cid, step.message, step.level)
        elif isinstance(step, SetFlag):
            await self._set_flag(step, actor, cid)
        elif isinstance(step, WriteConfig):
            try:
                entry, _ = await self.config.set(
                    step.environment,
                    step.key,
                    step.value,
                    schema=msgspec.UNSET,
                    expected_version=None,
                    actor=actor,
                    request_id=None,
                )
            except ServiceError as exc:
                raise StepFailed(_detail(exc)) from None
            await self.service.write_log(
                cid, f"config {step.environment}/{step.key} is now version {entry.version}"
            )
        elif isinstance(step, CheckMetric):
            await self._check_metric(step, cid)
        elif isinstance(step, Call):
            await self._call(step, command)

    async def _wait(
        self, seconds: float, cid: uuid.UUID, owner: str, cancel: asyncio.Event
    ) -> None:
        """Sleep, but end at once on cancel (NOTIFY), re-reading the row twice a second in
        case a notification was missed."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(cancel.wait(), min(left, CANCEL_POLL_SECONDS))
            asked = await self.service.cancel_requested(cid, owner)
            if asked is None or asked:
                raise _Stop
            cancel.clear()

    async def _set_flag(self, step: SetFlag, actor: str, cid: uuid.UUID) -> None:
        changes: dict[str, Any] = {}
        try:
            if step.environment is None:
                if step.enabled is not None:
                    changes["enabled"] = step.enabled
                if step.rollout_pct is not None:
                    changes["rollout_pct"] = step.rollout_pct
            else:
                flag = await self.flags.get(step.flag)
                envs = msgspec.to_builtins(flag.environments)
                state = dict(envs.get(step.environment, {}))
                if step.enabled is not None:
                    state["enabled"] = step.enabled
                if step.rollout_pct is not None:
                    state["rollout_pct"] = step.rollout_pct
                envs[step.environment] = state
                changes["environments"] = envs
            flag = await self.flags.update(
                step.flag, changes, expected_version=None, actor=actor, request_id=None
            )
        except ServiceError as exc:
            raise StepFailed(_detail(exc)) from None
        except msgspec.ValidationError as exc:
            raise StepFailed(str(exc)) from None
        where = f" in {step.environment}" if step.environment else ""
        await self.service.write_log(
            cid,
            f"flag {flag.name}{where}: "
            + ", ".join(f"{k}={msgspec.json.encode(v).decode()}" for k, v in changes.items())
            + f" (version {flag.version})",
        )

    async def _check_metric(self, step: CheckMetric, cid: uuid.UUID) -> None:
        end = time.time()
        width = step.step or step.range_seconds
        try:
            q = Query(
                namespace=step.namespace,
                name=step.name,
                start=end - step.range_seconds,
                end=end,
                step=width,
                agg=step.agg,
                matchers=tuple(parse_matcher(m, i) for i, m in enumerate(step.match)),
            )
            series, _ = await run_query(self.service.pool, q)
        except ServiceError as exc:
            raise StepFailed(_detail(exc)) from None
        sel = step.namespace + "/" + step.name
        if not any(s.values for s in series):
            raise StepFailed(f"no data for {sel} in the last {step.range_seconds}s")
        compare = _OPS[step.op]
        failed = []
        for s in series:
            if not s.values:
                continue
            value = s.values[-1][1]
            labels = {k: v for k, v in s.metric.items() if k != "__name__"}
            shown = f"{sel}{_labels(labels)} {step.agg} = {value:g}"
            ok = compare(value, step.threshold)
            await self.service.write_log(
                cid,
                f"check {shown} {step.op} {step.threshold:g}: {'ok' if ok else 'FAILED'}",
                "info" if ok else "error",
            )
            if not ok:
                failed.append(shown)
        if failed:
            raise StepFailed(f"{'; '.join(failed)}, expected {step.op} {step.threshold:g}")

    async def _call(self, step: Call, command: Command) -> None:
        route = self.routes.get(step.endpoint)
        if route is None:
            raise StepFailed(f"no callable route named {step.endpoint!r}")
        params = dict(step.params)
        path = route.path
        for name in _path_params(path):
            if name not in params:
                raise StepFailed(f"{step.endpoint} needs params.{name}")
            path = path.replace("{" + name + "}", quote(str(params.pop(name)), safe=""))
        query = [
            (k, _qs(item))
            for k, v in params.items()
            for item in (v if isinstance(v, list) else [v])
        ]
        headers = {"X-Request-ID": f"command-{command.id}"}
        if route.scope != "public":
            token, _ = self.identity.tokens.issue_access_token(
                sub=f"command:{command.id}", client_id=CALL_CLIENT_ID, scope=route.scope
            )
            headers["Authorization"] = f"Bearer {token}"
        kwargs: dict[str, Any] = {"params": query, "headers": headers}
        if step.body is not None:
            kwargs["data"] = msgspec.json.encode(step.body)
            headers["Content-Type"] = "application/json"
        assert self._http is not None
        try:
            async with self._http.request(route.method, self.base_url + path, **kwargs) as resp:
                body = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise StepFailed(f"{route.method} {path}: {exc!r}") from None
        cid = uuid.UUID(command.id)
        if status >= 400:
            raise StepFailed(f"{route.method} {path} answered {status}: {_problem(body)}")
        snippet = body[:500].decode("utf-8", "replace")
        await self.service.write_log(cid, f"{route.method} {path} → {status} {snippet}")


def step_name(step: Step) -> str:
    return type(step).__struct_config__.tag  # type: ignore[return-value]


def _detail(exc: ServiceError) -> str:
    if exc.errors:
        return f"{exc.detail} ({exc.errors[0]['path']}: {exc.errors[0]['message']})"
    return exc.detail


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def _path_params(path: str) -> list[str]:
    out, rest = [], path
    while "{" in rest:
        start = rest.index("{")
        end = rest.index("}", start)
        out.append(rest[start + 1 : end].split(":")[0])
        rest = rest[end + 1 :]
    return out


def _qs(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return msgspec.json.encode(value).decode()


def _problem(body: bytes) -> str:
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return body[:300].decode("utf-8", "replace")
    if isinstance(data, dict):
        return str(data.get("detail") or data.get("title") or data)[:300]
    return str(data)[:300]
