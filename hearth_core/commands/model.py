"""What SOP templates and commands are: the step types (a tagged union on ``action``), the
template spec that import accepts, validation with step-level paths, and ``{{param}}``
substitution.

Steps are built-in, safe actions only — never a shell: set a flag, write a config value, check
a metrics query against a threshold, call a Core Services endpoint by route name, wait, log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from hearth_core.config.service import check_schema
from hearth_core.errors import InvalidInput
from hearth_core.metrics.query import parse_matcher

TemplateName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
Status = Literal["pending", "running", "succeeded", "failed", "cancelled"]
TERMINAL = ("succeeded", "failed", "cancelled")
Op = Literal[">", ">=", "<", "<=", "==", "!="]
CALL_METHODS = ("GET", "POST", "PUT", "DELETE")
MAX_WAIT_SECONDS = 3600

_FLAG = re.compile(r"^[^\x00-\x1f\x7f/]{1,255}$")
_ENV = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,255}$")
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_WHOLE = re.compile(r"^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$")
_AT = re.compile(r"^(?P<msg>.*?)(?: - at `(?P<path>[^`]*)`)?$", re.S)


class _Step(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, tag_field="action"):
    pass


class SetFlag(_Step, tag="set_flag", kw_only=True):
    """Switch a flag in one environment (``default`` when none is named) and/or set the rollout
    of its flexibleRollout strategies there."""

    flag: Text
    enabled: bool | None = None
    rollout_pct: Annotated[int, msgspec.Meta(ge=0, le=100)] | None = None
    environment: Text | None = None


class WriteConfig(_Step, tag="write_config", kw_only=True):
    """Write one configuration value (a new version; the key's JSON Schema applies)."""

    environment: Text
    key: Text
    value: Any


class CheckMetric(_Step, tag="check_metric", kw_only=True):
    """Query the last ``range_seconds``; the last window's value of every series must satisfy
    ``value <op> threshold``, else the command fails."""

    namespace: Text
    name: Text
    match: list[Text] = []
    agg: Literal["avg", "sum", "min", "max", "count", "last", "rate"] = "avg"
    range_seconds: Annotated[int, msgspec.Meta(ge=1, le=30 * 86400)] = 300
    step: Annotated[int, msgspec.Meta(ge=1, le=30 * 86400)] | None = None
    op: Op
    threshold: float


class Call(_Step, tag="call", kw_only=True):
    """Call a Core Services endpoint by route name (``flags.list_flags``): path parameters and
    the query string come from ``params``, the JSON body from ``body``."""

    endpoint: Text
    params: dict[str, Any] = {}
    body: Any = None


class Wait(_Step, tag="wait", kw_only=True):
    seconds: Annotated[float, msgspec.Meta(ge=0, le=MAX_WAIT_SECONDS)]


class Log(_Step, tag="log", kw_only=True):
    message: Annotated[str, msgspec.Meta(max_length=10_000)]
    level: Literal["info", "warning", "error"] = "info"


Step = SetFlag | WriteConfig | CheckMetric | Call | Wait | Log


class TemplateSpec(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: TemplateName
    description: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    parameters: dict[str, Any] | None = None  # JSON Schema (2020-12) of the parameters
    steps: Annotated[list[Step], msgspec.Meta(min_length=1, max_length=200)]


class _TemplateHead(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A template with its steps still raw, so every step is checked on its own."""

    name: TemplateName
    description: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    parameters: dict[str, Any] | None = None
    steps: Annotated[list[Any], msgspec.Meta(min_length=1, max_length=200)]


class SopTemplate(msgspec.Struct, kw_only=True):
    name: str
    version: int
    description: str
    parameters: dict[str, Any] | None
    steps: list[Step]
    created_at: datetime
    created_by: str


class LogLine(msgspec.Struct, kw_only=True):
    seq: int
    at: datetime
    level: str
    line: str


class Command(msgspec.Struct, kw_only=True):
    id: str
    template: str
    template_version: int
    parameters: dict[str, Any]
    status: Status
    triggered_by: str
    created_at: datetime
    updated_at: datetime
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    current_step: int
    steps_total: int
    error: str | None
    cancel_requested: bool
    attempts: int
    lease_owner: str | None = None
    lease_until: datetime | None = None


class Filters(msgspec.Struct, kw_only=True):
    """What the command list and export filter on; empty means any."""

    status: list[str] = []
    template: str | None = None
    triggered_by: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


@dataclass(frozen=True)
class RouteRef:
    """What a ``call`` step may reach: a route of the app's table, by name."""

    method: str
    path: str
    scope: str


# ------------------------------------------------------------------ validation
def _msgspec_error(exc: msgspec.ValidationError, root: str) -> dict[str, str]:
    m = _AT.match(str(exc))
    assert m is not None
    path = m.group("path") or "$"
    return {"path": root + path[1:], "message": m.group("msg")}


def _templated(value: Any) -> bool:
    return isinstance(value, str) and PLACEHOLDER.search(value) is not None


def step_errors(
    step: Step, root: str, routes: dict[str, RouteRef] | None, *, rendered: bool = False
) -> list[dict[str, str]]:
    """Checks msgspec cannot express. Fields still holding ``{{param}}`` are checked once the
    command's parameters fill them in (``rendered=True``)."""
    errors: list[dict[str, str]] = []

    def check(field: str, value: Any, pattern: re.Pattern[str], what: str) -> None:
        if value is None or (not rendered and _templated(value)):
            return
        if not isinstance(value, str) or not pattern.match(value):
            errors.append({"path": f"{root}.{field}", "message": f"not a valid {what}"})

    if isinstance(step, SetFlag):
        check("flag", step.flag, _FLAG, "flag name")
        check("environment", step.environment, _ENV, "environment name")
        if step.enabled is None and step.rollout_pct is None:
            errors.append({"path": root, "message": "set_flag needs enabled or rollout_pct"})
    elif isinstance(step, WriteConfig):
        check("environment", step.environment, _ENV, "environment name")
        check("key", step.key, _KEY, "config key")
    elif isinstance(step, CheckMetric):
        for i, raw in enumerate(step.match):
            if not rendered and _templated(raw):
                continue
            try:
                parse_matcher(raw, i)
            except InvalidInput as exc:
                msg = exc.errors[0]["message"] if exc.errors else exc.detail
                errors.append({"path": f"{root}.match[{i}]", "message": msg})
    elif isinstance(step, Call) and routes is not None:
        if not (not rendered and _templated(step.endpoint)) and step.endpoint not in routes:
            errors.append(
                {
                    "path": f"{root}.endpoint",
                    "message": f"no callable route named {step.endpoint!r}",
                }
            )
    return errors


def parse_templates(
    data: Any, routes: dict[str, RouteRef] | None
) -> tuple[list[TemplateSpec], list[dict[str, str]]]:
    """``{"templates": [...]}``, a list of templates, or one template; every error with its
    path (``$.templates[0].steps[2].threshold``), not just the first."""
    if isinstance(data, dict) and "templates" in data:
        items, root = data["templates"], "$.templates"
        extra = set(data) - {"templates"}
        if extra:
            return [], [{"path": f"$.{sorted(extra)[0]}", "message": "unknown field"}]
    elif isinstance(data, list):
        items, root = data, "$"
    elif isinstance(data, dict):
        items, root = [data], None
    else:
        return [], [{"path": "$", "message": "expected {templates: [...]}, a list or a template"}]
    if not isinstance(items, list):
        return [], [{"path": root or "$", "message": "expected a list of templates"}]
    specs: list[TemplateSpec] = []
    errors: list[dict[str, str]] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        at = f"{root}[{i}]" if root is not None else "$"
        try:
            head = msgspec.convert(item, _TemplateHead)
        except msgspec.ValidationError as exc:
            errors.append(_msgspec_error(exc, at))
            continue
        steps: list[Step] = []
        for j, raw in enumerate(head.steps):
            step_at = f"{at}.steps[{j}]"
            try:
                step = msgspec.convert(raw, Step)
            except msgspec.ValidationError as exc:
                errors.append(_msgspec_error(exc, step_at))
                continue
            errors += step_errors(step, step_at, routes)
            steps.append(step)
        errors += schema_errors(head.parameters, f"{at}.parameters")
        if head.name in seen:
            errors.append({"path": f"{at}.name", "message": f"{head.name!r} appears twice"})
        seen[head.name] = i
        if len(steps) == len(head.steps):
            specs.append(
                TemplateSpec(
                    name=head.name,
                    description=head.description,
                    parameters=head.parameters,
                    steps=steps,
                )
            )
    return specs, errors


def schema_errors(schema: dict[str, Any] | None, path: str) -> list[dict[str, str]]:
    try:
        check_schema(schema, path)
    except InvalidInput as exc:
        return exc.errors
    return []


# ------------------------------------------------------------------ parameters
def _substitute(value: Any, params: dict[str, Any], missing: set[str]) -> Any:
    if isinstance(value, str):
        whole = _WHOLE.match(value)
        if whole is not None:
            name = whole.group(1)
            if name not in params:
                missing.add(name)
                return value
            return params[name]  # the value itself, of any JSON type

        def one(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in params:
                missing.add(name)
                return m.group(0)
            v = params[name]
            return v if isinstance(v, str) else msgspec.json.encode(v).decode()

        return PLACEHOLDER.sub(one, value)
    if isinstance(value, list):
        return [_substitute(v, params, missing) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, params, missing) for k, v in value.items()}
    return value


def render_steps(
    steps: list[Any], params: dict[str, Any], routes: dict[str, RouteRef] | None
) -> tuple[list[Step], list[dict[str, str]]]:
    """The template's steps with ``{{param}}`` filled in (plain text substitution: a string that
    is exactly one placeholder takes the parameter's value as is), checked again in full."""
    out: list[Step] = []
    errors: list[dict[str, str]] = []
    for j, raw in enumerate(steps):
        at = f"steps[{j}]"
        missing: set[str] = set()
        rendered = _substitute(msgspec.to_builtins(raw), params, missing)
        for name in sorted(missing):
            errors.append({"path": f"$.parameters.{name}", "message": f"required by {at}"})
        if missing:
            continue
        try:
            step = msgspec.convert(rendered, Step)
        except msgspec.ValidationError as exc:
            err = _msgspec_error(exc, f"$.{at}")
            errors.append({"path": "$.parameters", "message": f"{err['path']}: {err['message']}"})
            continue
        for err in step_errors(step, f"$.{at}", routes, rendered=True):
            errors.append({"path": "$.parameters", "message": f"{err['path']}: {err['message']}"})
        out.append(step)
    return out, errors


def describe(step: Step) -> str:
    """One line naming a step, for the command log."""
    if isinstance(step, SetFlag):
        parts = [f"enabled={str(step.enabled).lower()}" if step.enabled is not None else ""]
        if step.rollout_pct is not None:
            parts.append(f"rollout_pct={step.rollout_pct}")
        env = f" in {step.environment}" if step.environment else ""
        return f"set_flag {step.flag}{env}: {' '.join(p for p in parts if p)}"
    if isinstance(step, WriteConfig):
        return f"write_config {step.environment}/{step.key}"
    if isinstance(step, CheckMetric):
        sel = "{" + ", ".join(step.match) + "}" if step.match else ""
        return (
            f"check_metric {step.agg}({step.namespace}/{step.name}{sel}"
            f"[{step.range_seconds}s]) {step.op} {step.threshold:g}"
        )
    if isinstance(step, Call):
        return f"call {step.endpoint}"
    if isinstance(step, Wait):
        return f"wait {step.seconds:g}s"
    return "log"
