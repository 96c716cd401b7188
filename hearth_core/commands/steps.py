"""What each step of a command does: set a flag, write a config value, check a metrics query,
call a Core Services endpoint, wait (cancellable), log. Steps act through the same services the
API uses, as ``command:<id>``; every outcome goes to the command's log."""

from __future__ import annotations

import asyncio
import contextlib
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
)
from hearth_core.commands.queue import CommandQueue
from hearth_core.config.service import ConfigService
from hearth_core.errors import ServiceError
from hearth_core.flags.model import DEFAULT_ENVIRONMENT
from hearth_core.flags.service import FlagService
from hearth_core.identity.provider import IdentityProvider
from hearth_core.metrics.query import Query, parse_matcher
from hearth_core.metrics.service import run_query

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


class Interrupted(Exception):
    """Cancel was asked, or the lease is no longer ours."""


class StepRunner:
    def __init__(
        self,
        queue: CommandQueue,
        pool: asyncpg.Pool,
        *,
        flags: FlagService,
        config: ConfigService,
        identity: IdentityProvider,
        routes: dict[str, RouteRef],
        base_url: str,
    ) -> None:
        self.queue = queue
        self.pool = pool
        self.flags = flags
        self.config = config
        self.identity = identity
        self.routes = routes
        self.base_url = base_url.rstrip("/")
        self._http: aiohttp.ClientSession | None = None

    def start(self) -> None:
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=CALL_TIMEOUT_SECONDS)
        )

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def run(self, step: Step, command: Command, cancel: asyncio.Event, owner: str) -> None:
        """Do one step; :class:`StepFailed` fails the command, :class:`Interrupted` stops it."""
        actor = f"command:{command.id}"
        cid = uuid.UUID(command.id)
        if isinstance(step, Wait):
            await self._wait(step.seconds, cid, owner, cancel)
        elif isinstance(step, Log):
            await self.queue.write_log(cid, step.message, step.level)
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
            await self.queue.write_log(
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
            asked = await self.queue.cancel_requested(cid, owner)
            if asked is None or asked:
                raise Interrupted
            cancel.clear()

    async def _set_flag(self, step: SetFlag, actor: str, cid: uuid.UUID) -> None:
        env = step.environment or DEFAULT_ENVIRONMENT
        try:
            flag = await self.flags.set_environment(
                step.flag,
                env,
                enabled=step.enabled,
                rollout_pct=step.rollout_pct,
                actor=actor,
                request_id=None,
            )
        except ServiceError as exc:
            raise StepFailed(_detail(exc)) from None
        except msgspec.ValidationError as exc:
            raise StepFailed(str(exc)) from None
        changes = {
            k: v
            for k, v in (("enabled", step.enabled), ("rollout_pct", step.rollout_pct))
            if v is not None
        }
        await self.queue.write_log(
            cid,
            f"flag {flag.name} in {env}: "
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
            series, _ = await run_query(self.pool, q)
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
            await self.queue.write_log(
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
        await self.queue.write_log(cid, f"{route.method} {path} → {status} {snippet}")


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
