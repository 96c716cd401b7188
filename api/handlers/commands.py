"""The project command workspace: /v1/commands (command.read / command.write; execute and
cancel need command.execute) and SOP templates."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from aiohttp import web

from api.jsonio import YAML_TYPES, json_response, read_document, read_query
from api.keys import COMMANDS
from api.principal import change_context
from api.routing import Endpoint, Routes
from hearth_core.commands.catalog import TemplateCatalog
from hearth_core.commands.model import (
    CALL_METHODS,
    Command,
    Filters,
    LogLine,
    RouteRef,
    SopTemplate,
    Status,
    Step,
)
from hearth_core.commands.operations import CommandOperations, command_id, export_csv
from hearth_core.db.paging import Page

routes = Routes("commands")


class NewCommand(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    template: str
    version: int | None = None  # default: the template's latest version
    parameters: dict[str, Any] = {}


class CommandUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    parameters: dict[str, Any] | None = None
    template_version: int | None = None


class ListQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    status: list[Status] | Status | None = None
    template: str | None = None
    triggered_by: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 50
    page: Annotated[int, msgspec.Meta(ge=1)] = 1


class ExportQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    format: Literal["json", "csv"] = "json"
    status: list[Status] | Status | None = None
    template: str | None = None
    triggered_by: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


class CommandDetail(Command, kw_only=True):
    steps: list[Step]
    log: list[LogLine]


class StatusQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    after: Annotated[int, msgspec.Meta(ge=0)] = 0  # log lines after this seq


class CommandStatus(msgspec.Struct, kw_only=True):
    id: str
    status: Status
    current_step: int
    steps_total: int
    cancel_requested: bool
    error: str | None
    attempts: int
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    log: list[LogLine]


class TemplateQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    q: str | None = None  # substring of the name or description
    name: str | None = None
    all_versions: bool = False
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 50
    page: Annotated[int, msgspec.Meta(ge=1)] = 1


class ImportedTemplate(msgspec.Struct, kw_only=True):
    name: str
    version: int
    result: Literal["created", "updated", "unchanged"]


class ImportResult(msgspec.Struct, kw_only=True):
    created: int
    updated: int
    unchanged: int
    templates: list[ImportedTemplate]


class ImportBody(msgspec.Struct, kw_only=True):
    templates: list[dict[str, Any]]


_new = msgspec.json.Decoder(NewCommand)
_update = msgspec.json.Decoder(CommandUpdate)
_any = msgspec.json.Decoder()


def _commands(request: web.Request) -> CommandOperations:
    return request.app[COMMANDS].commands


def _templates(request: web.Request) -> TemplateCatalog:
    return request.app[COMMANDS].templates


def _filters(q: ListQuery | ExportQuery) -> Filters:
    status: list[str] = [q.status] if isinstance(q.status, str) else list(q.status or [])
    return Filters(
        status=status,
        template=q.template,
        triggered_by=q.triggered_by,
        created_after=q.created_after,
        created_before=q.created_before,
    )


@routes.get(
    "/v1/commands",
    scope="command.read",
    summary="List commands: filter by status (repeatable), template, triggered_by, created_after/before",
    query=ListQuery,
    response=Page[Command],
)
async def list_commands(request: web.Request) -> web.Response:
    q = read_query(request, ListQuery)
    return json_response(await _commands(request).find(_filters(q), limit=q.limit, page=q.page))


@routes.post(
    "/v1/commands",
    scope="command.write",
    summary="Create a command from an SOP template with parameters (pending until executed)",
    body=NewCommand,
    response=Command,
    status=201,
)
async def create_command(request: web.Request) -> web.Response:
    body = await read_document(request, _new)
    cmd = await _commands(request).create(
        body.template, body.version, body.parameters, **change_context(request)
    )
    return json_response(cmd, status=201, headers={"Location": f"/v1/commands/{cmd.id}"})


@routes.get(
    "/v1/commands/sop-templates",
    scope="command.read",
    summary="SOP templates (latest versions; all_versions=true for every one); q searches",
    query=TemplateQuery,
    response=Page[SopTemplate],
)
async def list_templates(request: web.Request) -> web.Response:
    q = read_query(request, TemplateQuery)
    page = await _templates(request).list(
        q=q.q, name=q.name, all_versions=q.all_versions, limit=q.limit, page=q.page
    )
    return json_response(page)


@routes.post(
    "/v1/commands/import",
    scope="command.write",
    summary="Import SOP templates (JSON or YAML); a changed template becomes a new version",
    body=ImportBody,
    response=ImportResult,
    content_types=("application/json", *YAML_TYPES),
)
async def import_templates(request: web.Request) -> web.Response:
    data = await read_document(request, _any)
    result = await _templates(request).import_templates(data, **change_context(request))
    return json_response(msgspec.convert(result, ImportResult))


@routes.get(
    "/v1/commands/export",
    scope="command.read",
    summary="Export commands as JSON or CSV (the same filters as the list)",
    query=ExportQuery,
    content_types=("application/json", "text/csv"),
)
async def export_commands(request: web.Request) -> web.Response:
    q = read_query(request, ExportQuery)
    items = await _commands(request).export(_filters(q))
    disposition = {"Content-Disposition": f'attachment; filename="commands.{q.format}"'}
    if q.format == "csv":
        return web.Response(text=export_csv(items), content_type="text/csv", headers=disposition)
    return json_response(items, headers=disposition)


@routes.get(
    "/v1/commands/{id}",
    scope="command.read",
    summary="One command with its rendered steps and output log",
    response=CommandDetail,
)
async def get_command(request: web.Request) -> web.Response:
    svc = _commands(request)
    cmd, log = await svc.snapshot(command_id(request.match_info["id"]))
    detail = CommandDetail(**msgspec.structs.asdict(cmd), steps=await svc.steps(cmd), log=log)
    return json_response(detail)


@routes.put(
    "/v1/commands/{id}",
    scope="command.write",
    summary="Edit a pending command's parameters or template version (409 once it runs)",
    body=CommandUpdate,
    response=Command,
    responses={409: "the command is no longer pending"},
)
async def update_command(request: web.Request) -> web.Response:
    body = await read_document(request, _update)
    cmd = await _commands(request).update(
        command_id(request.match_info["id"]),
        parameters=body.parameters,
        template_version=body.template_version,
        **change_context(request),
    )
    return json_response(cmd)


@routes.get(
    "/v1/commands/{id}/status",
    scope="command.read",
    summary="Live status and the log lines after ?after=<seq>",
    query=StatusQuery,
    response=CommandStatus,
)
async def command_status(request: web.Request) -> web.Response:
    q = read_query(request, StatusQuery)
    svc = _commands(request)
    c, log = await svc.snapshot(command_id(request.match_info["id"]), after=q.after)
    return json_response(
        CommandStatus(
            id=c.id,
            status=c.status,
            current_step=c.current_step,
            steps_total=c.steps_total,
            cancel_requested=c.cancel_requested,
            error=c.error,
            attempts=c.attempts,
            queued_at=c.queued_at,
            started_at=c.started_at,
            finished_at=c.finished_at,
            updated_at=c.updated_at,
            log=log,
        )
    )


@routes.post(
    "/v1/commands/{id}/execute",
    scope="command.execute",
    summary="Queue a pending command; a worker runs it",
    response=Command,
    status=202,
    responses={409: "the command is not pending"},
)
async def execute_command(request: web.Request) -> web.Response:
    cmd = await _commands(request).execute(
        command_id(request.match_info["id"]), **change_context(request)
    )
    return json_response(cmd, status=202)


@routes.post(
    "/v1/commands/{id}/cancel",
    scope="command.execute",
    summary="Cancel: a pending command at once, a running one between steps or in a wait",
    response=Command,
    status=202,
    responses={409: "the command has already finished"},
)
async def cancel_command(request: web.Request) -> web.Response:
    cmd = await _commands(request).cancel(
        command_id(request.match_info["id"]), **change_context(request)
    )
    return json_response(cmd, status=202)


def callable_routes(endpoints: Iterable[Endpoint]) -> dict[str, RouteRef]:
    """What a ``call`` step may reach: GET/POST/PUT/DELETE routes of the app's table by name,
    except the command workspace itself, the OAuth endpoints and event streams."""
    return {
        ep.route_name: RouteRef(ep.method, ep.path, ep.scope)
        for ep in endpoints
        if ep.method in CALL_METHODS
        and ep.tag not in ("commands", "oauth")
        and "text/event-stream" not in ep.content_types
    }
