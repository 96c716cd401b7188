"""Profiles: /v1/users (profile.read / profile.write)."""

from __future__ import annotations

import tempfile
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from aiohttp import web

from api.jsonio import YAML_TYPES, json_response, read_document, read_query
from api.keys import CIPHER, DB, SETTINGS, USERS
from api.principal import change_context
from api.routing import Routes
from hearth_core.db.paging import Page
from hearth_core.errors import NotFound, TooLarge, UnsupportedMediaType
from hearth_core.users.importer import Importer, rows_from
from hearth_core.users.model import User
from hearth_core.users.service import SORTS, UserQuery

routes = Routes("users")

Email = Annotated[str, msgspec.Meta(min_length=3, max_length=254)]
Name = Annotated[str, msgspec.Meta(max_length=200)]
Password = Annotated[str, msgspec.Meta(min_length=8, max_length=1024)]


class NewUser(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    email: Email
    display_name: Name | None = None
    password: Password | None = None
    attributes: dict[str, Any] = {}
    roles: list[str] = []
    status: Literal["active", "inactive"] = "active"


class UserUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Fields present are changed; absent ones are kept."""

    email: Email | msgspec.UnsetType = msgspec.UNSET
    display_name: Name | msgspec.UnsetType | None = msgspec.UNSET
    password: Password | msgspec.UnsetType = msgspec.UNSET
    attributes: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    roles: list[str] | msgspec.UnsetType = msgspec.UNSET
    status: Literal["active", "inactive"] | msgspec.UnsetType = msgspec.UNSET


class UserListQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 50
    page: Annotated[int, msgspec.Meta(ge=1)] = 1
    email: str | None = None
    role: str | None = None
    status: Literal["active", "inactive", "erased"] | None = None
    q: Annotated[str, msgspec.Meta(min_length=1, max_length=32)] | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    sort: Literal[tuple(SORTS)] = "created_at"  # type: ignore[valid-type]


class DeleteQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    erase: bool = False


class ImportQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    mode: Literal["all_or_nothing", "partial"] = "all_or_nothing"
    dry_run: bool = False
    on_conflict: Literal["update", "skip"] = "update"


class ImportRowOut(msgspec.Struct, kw_only=True, omit_defaults=True):
    row: int
    status: Literal["created", "updated", "skipped", "error"]
    user_id: str | None = None
    error: str | None = None


class ImportOut(msgspec.Struct, kw_only=True):
    mode: str
    dry_run: bool
    committed: bool
    created: int
    updated: int
    skipped: int
    errors: int
    rows: list[ImportRowOut]


_new = msgspec.json.Decoder(NewUser)
_update = msgspec.json.Decoder(UserUpdate)
CSV_TYPES = ("text/csv", "application/csv")


def _user_id(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["user_id"])
    except ValueError:
        raise NotFound(f"no user {request.match_info['user_id']!r}") from None


@routes.get(
    "/v1/users",
    scope="profile.read",
    summary="List users (filters, sort, pages)",
    query=UserListQuery,
    response=Page[User],
)
async def list_users(request: web.Request) -> web.Response:
    q = read_query(request, UserListQuery)
    return json_response(await request.app[USERS].list(UserQuery(**msgspec.structs.asdict(q))))


@routes.post(
    "/v1/users",
    scope="profile.write",
    summary="Create a user",
    body=NewUser,
    response=User,
    status=201,
)
async def create_user(request: web.Request) -> web.Response:
    spec = await read_document(request, _new)
    user = await request.app[USERS].create(
        **msgspec.structs.asdict(spec), **change_context(request)
    )
    return json_response(user, status=201, headers={"Location": f"/v1/users/{user.user_id}"})


@routes.get("/v1/users/{user_id}", scope="profile.read", summary="One user", response=User)
async def get_user(request: web.Request) -> web.Response:
    return json_response(await request.app[USERS].get(_user_id(request)))


@routes.put(
    "/v1/users/{user_id}",
    scope="profile.write",
    summary="Update a user (fields present are changed)",
    body=UserUpdate,
    response=User,
)
async def update_user(request: web.Request) -> web.Response:
    spec = await read_document(request, _update)
    changes = {k: v for k, v in msgspec.structs.asdict(spec).items() if v is not msgspec.UNSET}
    user = await request.app[USERS].update(
        _user_id(request), changes=changes, **change_context(request)
    )
    return json_response(user)


@routes.delete(
    "/v1/users/{user_id}",
    scope="profile.write",
    summary="Deactivate a user (?erase=true also removes their PII)",
    query=DeleteQuery,
    status=204,
)
async def delete_user(request: web.Request) -> web.Response:
    q = read_query(request, DeleteQuery)
    await request.app[USERS].deactivate(_user_id(request), erase=q.erase, **change_context(request))
    return web.Response(status=204)


@routes.post(
    "/v1/users/import",
    scope="profile.write",
    summary="Bulk import from CSV or YAML (streamed), with per-row results",
    query=ImportQuery,
    response=ImportOut,
    content_types=(*CSV_TYPES, *YAML_TYPES),
    responses={415: "not CSV or YAML", 422: "all_or_nothing import with bad rows"},
)
async def import_users(request: web.Request) -> web.Response:
    q = read_query(request, ImportQuery)
    ctype = request.content_type
    if ctype not in CSV_TYPES + YAML_TYPES:
        raise UnsupportedMediaType(f"send text/csv or application/yaml, not {ctype or 'nothing'}")
    limit = request.app[SETTINGS].max_import_bytes
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
        size = 0
        async for chunk in request.content.iter_chunked(256 * 1024):
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"the import is over its limit of {limit} bytes")
            spool.write(chunk)
        spool.seek(0)
        importer = Importer(
            request.app[DB],
            request.app[CIPHER],
            mode=q.mode,
            dry_run=q.dry_run,
            on_conflict=q.on_conflict,
            max_rows=request.app[SETTINGS].max_import_rows,
            **change_context(request),
        )
        report = await importer.run(rows_from(spool, "csv" if ctype in CSV_TYPES else "yaml"))
    body = ImportOut(
        mode=report.mode,
        dry_run=report.dry_run,
        committed=report.committed,
        created=report.created,
        updated=report.updated,
        skipped=report.skipped,
        errors=report.errors,
        rows=[
            ImportRowOut(row=r.row, status=r.status, user_id=r.user_id, error=r.error)
            for r in report.rows
        ],
    )
    failed = report.errors and report.mode == "all_or_nothing"
    return json_response(body, status=422 if failed else 200)
