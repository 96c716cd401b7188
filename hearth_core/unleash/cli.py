"""``hearth flags token create|list|revoke``: Unleash API tokens from the command line (straight
to the database, borrowing a running embedded server's; running servers hear of the change)."""

from __future__ import annotations

import uuid

import asyncpg
import click
import msgspec

from hearth_core.cli import _echo_json, _run_admin, _service_message, data_dir_option
from hearth_core.errors import ServiceError
from hearth_core.security.crypto import FieldCipher
from hearth_core.settings import Settings
from hearth_core.unleash import repo
from hearth_core.unleash.model import ApiToken, CreatedToken, TokenSpec
from hearth_core.unleash.service import create_token, revoke_token

ENV_HELP = "The environment the token reads (lowercase letters, digits, - and _)."


@click.group("flags")
def flags_command() -> None:
    """Feature flags: Unleash API tokens for SDKs."""


@flags_command.group("token")
def token_group() -> None:
    """Unleash API tokens (backend: /api/client/*, frontend: /api/frontend)."""


@token_group.command("create")
@click.option("--type", "type_", type=click.Choice(["backend", "frontend"]), required=True)
@click.option("--environment", required=True, help=ENV_HELP)
@click.option("--name", default=None, help="A name to tell it apart.")
@click.option("--json", "as_json", is_flag=True, help='Print {"token", "id", ...}.')
@data_dir_option
def token_create(
    type_: str, environment: str, name: str | None, as_json: bool, data_dir: str | None
) -> None:
    """Create a token; its secret is printed once."""
    try:
        spec = msgspec.convert({"type": type_, "environment": environment, "name": name}, TokenSpec)
    except msgspec.ValidationError as exc:
        raise click.UsageError(str(exc).replace("$.", "--", 1)) from None

    async def work(conn: asyncpg.Connection, _c: FieldCipher, _s: Settings) -> CreatedToken:
        return await create_token(conn, spec, actor="cli", request_id=None)

    created = _run_admin(data_dir, work)
    if as_json:
        _echo_json(_view(created) | {"token": created.token})
    else:
        click.echo(f"id:    {created.id}")
        click.echo(f"token: {created.token}   (shown once)")


def _view(token: ApiToken) -> dict[str, object]:
    return {f: getattr(token, f) for f in ApiToken.__struct_fields__}


@token_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@data_dir_option
def token_list(as_json: bool, data_dir: str | None) -> None:
    """List tokens (never their secrets)."""

    async def work(conn: asyncpg.Connection, _c: FieldCipher, _s: Settings) -> list[ApiToken]:
        return await repo.tokens(conn)

    items = _run_admin(data_dir, work)
    if as_json:
        _echo_json([_view(t) for t in items])
        return
    for t in items:
        state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "active"
        click.echo(f"{t.id}  {t.type:8} {t.environment:16} {t.hint:28} {state:18} {t.name}")


@token_group.command("revoke")
@click.argument("token_id", type=click.UUID)
@data_dir_option
def token_revoke(token_id: uuid.UUID, data_dir: str | None) -> None:
    """Revoke TOKEN_ID: every server refuses it from then on."""

    async def work(conn: asyncpg.Connection, _c: FieldCipher, _s: Settings) -> ApiToken:
        return await revoke_token(conn, token_id, actor="cli", request_id=None)

    try:
        _run_admin(data_dir, work)
    except ServiceError as exc:
        raise click.ClickException(_service_message(exc)) from None
    click.echo(f"revoked {token_id}")
