"""``hearth metrics tenant set|list|unset``: bind clients to a metrics namespace (and a backend
tenant id) from the command line — straight to the database, audited; running servers hear of
the change by NOTIFY."""

from __future__ import annotations

import asyncpg
import click
import msgspec

from hearth_core.cli import _echo_json, _run_admin, _service_message, data_dir_option
from hearth_core.errors import ServiceError
from hearth_core.security.crypto import FieldCipher
from hearth_core.settings import Settings
from hearth_core.tenancy.service import Tenant, TenantService, TenantSpec


@click.group("metrics")
def metrics_command() -> None:
    """Metrics: client tenancy (namespace and backend tenant)."""


@metrics_command.group("tenant")
def tenant_group() -> None:
    """Which namespace (and remote-backend tenant) each client writes and reads."""


def _view(t: Tenant) -> dict[str, object]:
    return msgspec.to_builtins(t)


@tenant_group.command("set")
@click.argument("client_id")
@click.option("--namespace", required=True, help="The only namespace the client may use.")
@click.option(
    "--tenant",
    default=None,
    help="Its tenant id on the remote backend (X-Scope-OrgID, or {tenant} in the URLs); "
    "default HEARTH_METRICS_REMOTE_TENANT.",
)
@data_dir_option
def tenant_set(client_id: str, namespace: str, tenant: str | None, data_dir: str | None) -> None:
    """Bind CLIENT_ID to a namespace."""
    spec = TenantSpec(namespace=namespace, tenant=tenant)

    async def work(conn: asyncpg.Connection, _c: FieldCipher, _s: Settings) -> Tenant:
        return await TenantService(conn).put(client_id, spec, actor="cli", request_id=None)

    try:
        bound = _run_admin(data_dir, work)
    except ServiceError as exc:
        raise click.ClickException(_service_message(exc)) from None
    click.echo(f"{bound.client_id} -> namespace {bound.namespace}, tenant {bound.tenant or '-'}")


@tenant_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@data_dir_option
def tenant_list(as_json: bool, data_dir: str | None) -> None:
    """List the bindings."""

    async def work(conn: asyncpg.Connection, _c: FieldCipher, _s: Settings) -> list[Tenant]:
        return await TenantService(conn).list()

    items = _run_admin(data_dir, work)
    if as_json:
        _echo_json([_view(t) for t in items])
        return
    for t in items:
        click.echo(f"{t.client_id:40} {t.namespace:32} {t.tenant or '-':20} {t.updated_by}")


@tenant_group.command("unset")
@click.argument("client_id")
@data_dir_option
def tenant_unset(client_id: str, data_dir: str | None) -> None:
    """Remove CLIENT_ID's binding: it may use any namespace again."""

    async def work(conn: asyncpg.Connection, _c: FieldCipher, _s: Settings) -> None:
        await TenantService(conn).remove(client_id, actor="cli", request_id=None)

    try:
        _run_admin(data_dir, work)
    except ServiceError as exc:
        raise click.ClickException(_service_message(exc)) from None
    click.echo(f"unbound {client_id}")
