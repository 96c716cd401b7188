"""The ``hearth`` command group and its non-HTTP commands (``api.cli`` adds ``serve``)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import click
import orjson

from hearth_core import __version__, audit
from hearth_core.audit import repo as audit_repo
from hearth_core.bootstrap import AdminCredentials, prepare
from hearth_core.db.pool import connect, create_pool
from hearth_core.errors import ServiceError
from hearth_core.identity import clients, signing
from hearth_core.identity.clients import GRANTS, Client
from hearth_core.runtime import described_urls, running_services
from hearth_core.security.certs import make_dev_certs
from hearth_core.security.crypto import FieldCipher, MasterKeyRing
from hearth_core.security.keyring import load_field_cipher, rotate_data_keys
from hearth_core.settings import Settings, SettingsError
from hearth_core.users import repo as users_repo
from hearth_core.users.importer import Importer, ImportReport, rows_from
from hearth_core.users.service import reencrypt_all

T = TypeVar("T")


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings.from_env(**overrides)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None


def data_dir_option(f: Any) -> Any:
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False),
        default=None,
        help="Where the embedded services keep their data "
        "[env HEARTH_DATA_DIR; default ./.hearth].",
    )(f)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hearth")
def cli() -> None:
    """Hearth Core Services."""


def announce_admin(creds: AdminCredentials | None) -> None:
    if creds is None:
        return
    if creds.generated:
        click.echo(
            "\n  First admin created (shown once, store it now):\n"
            f"    email:    {creds.email}\n    password: {creds.password}\n",
            err=True,
        )
    else:
        click.echo(
            f"  First admin created: {creds.email} (password from the environment)", err=True
        )


@cli.command()
@data_dir_option
def migrate(data_dir: str | None) -> None:
    """Apply pending database migrations (starts the embedded services if no URLs are set)."""
    settings = load_settings(data_dir=data_dir)
    with running_services(settings) as live:
        applied, creds = asyncio.run(prepare(live))
    for mig in applied:
        click.echo(f"applied {mig.version:04d}_{mig.name}")
    if not applied:
        click.echo("schema is up to date")
    announce_admin(creds)


@cli.command()
@data_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def status(data_dir: str | None, as_json: bool) -> None:
    """Show which PostgreSQL, Redis and data dir are in use (passwords masked)."""
    settings = load_settings(data_dir=data_dir)
    db, rd = described_urls(settings)
    info = {
        "database_url": db,
        "redis_url": rd,
        "data_dir": str(settings.data_path),
        "version": __version__,
        "embedded": settings.embedded,
    }
    if as_json:
        sys.stdout.write(orjson.dumps(info, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        for key, value in info.items():
            click.echo(f"{key:13} {value}")


@asynccontextmanager
async def _admin_db(settings: Settings) -> AsyncIterator[tuple[asyncpg.Connection, FieldCipher]]:
    assert settings.database_url is not None
    conn = await connect(settings.database_url)
    try:
        cipher = await load_field_cipher(conn, MasterKeyRing.from_settings(settings))
        yield conn, cipher
    finally:
        await conn.close()


def _run_admin(
    data_dir: str | None, work: Callable[[asyncpg.Connection, FieldCipher, Settings], Awaitable[T]]
) -> T:
    """Run ``work`` against the database, borrowing a running embedded server's if there is one."""
    settings = load_settings(data_dir=data_dir)

    async def go(live: Settings) -> T:
        await prepare(live)
        async with _admin_db(live) as (conn, cipher):
            return await work(conn, cipher, live)

    with running_services(settings, redis=False, serving=False) as live:
        return asyncio.run(go(live))


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _echo_json(obj: Any) -> None:
    sys.stdout.write(orjson.dumps(obj, option=orjson.OPT_INDENT_2, default=str).decode() + "\n")


@cli.group()
def client() -> None:
    """Manage OAuth clients."""


@client.command("create")
@click.option("--name", required=True, help="Human-readable name.")
@click.option("--grants", required=True, help="Comma-separated: " + ", ".join(GRANTS) + ".")
@click.option("--scopes", default="", help="Comma-separated scopes the client may request.")
@click.option(
    "--redirect-uri", "redirect_uris", multiple=True, help="Allowed redirect URI (repeatable)."
)
@click.option("--public", is_flag=True, help="A public client (no secret; PKCE).")
@click.option("--json", "as_json", is_flag=True, help='Print {"client_id", "client_secret"}.')
@data_dir_option
def client_create(
    name: str,
    grants: str,
    scopes: str,
    redirect_uris: tuple[str, ...],
    public: bool,
    as_json: bool,
    data_dir: str | None,
) -> None:
    """Register a client; its secret is printed once."""

    async def work(
        conn: asyncpg.Connection, cipher: FieldCipher, _s: Settings
    ) -> tuple[Client, str | None]:
        return await clients.create(
            conn,
            cipher,
            name=name,
            grants=_csv(grants),
            scopes=_csv(scopes),
            redirect_uris=list(redirect_uris),
            confidential=not public,
            actor="cli",
        )

    try:
        created, secret = _run_admin(data_dir, work)
    except ServiceError as exc:
        raise click.ClickException(_service_message(exc)) from None
    if as_json:
        _echo_json({"client_id": created.client_id, "client_secret": secret})
    else:
        click.echo(f"client_id:     {created.client_id}")
        if secret:
            click.echo(f"client_secret: {secret}   (shown once)")


@client.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@data_dir_option
def client_list(as_json: bool, data_dir: str | None) -> None:
    """List registered clients."""

    async def work(conn: asyncpg.Connection, _c: FieldCipher, _s: Settings) -> list[Client]:
        return await clients.list_all(conn)

    items = [c.public_view() for c in _run_admin(data_dir, work)]
    if as_json:
        _echo_json(items)
        return
    for c in items:
        kind = "confidential" if c["confidential"] else "public"
        click.echo(f"{c['client_id']:24} {kind:12} {c['name']:24} grants={','.join(c['grants'])}")


@client.command("rotate-secret")
@click.argument("client_id")
@click.option("--json", "as_json", is_flag=True, help='Print {"client_id", "client_secret"}.')
@data_dir_option
def client_rotate_secret(client_id: str, as_json: bool, data_dir: str | None) -> None:
    """Issue a new secret for CLIENT_ID; the old one stops working at once."""

    async def work(conn: asyncpg.Connection, cipher: FieldCipher, _s: Settings) -> str:
        return await clients.rotate_secret(conn, cipher, client_id, actor="cli")

    try:
        secret = _run_admin(data_dir, work)
    except ServiceError as exc:
        raise click.ClickException(_service_message(exc)) from None
    if as_json:
        _echo_json({"client_id": client_id, "client_secret": secret})
    else:
        click.echo(f"client_secret: {secret}   (shown once)")


@client.command("delete")
@click.argument("client_id")
@data_dir_option
def client_delete(client_id: str, data_dir: str | None) -> None:
    """Delete CLIENT_ID; tokens it holds stop introspecting active."""

    async def work(conn: asyncpg.Connection, _c: FieldCipher, s: Settings) -> None:
        await clients.delete(
            conn, client_id, actor="cli", revoke_for_seconds=s.access_token_ttl + 300
        )

    try:
        _run_admin(data_dir, work)
    except ServiceError as exc:
        raise click.ClickException(_service_message(exc)) from None
    click.echo(f"deleted {client_id}")


@cli.group()
def keys() -> None:
    """Manage token signing keys."""


@keys.command("rotate")
@data_dir_option
def keys_rotate(data_dir: str | None) -> None:
    """A new ES256 key signs from now on; old keys stay in the JWKS until their tokens expire."""

    async def work(conn: asyncpg.Connection, cipher: FieldCipher, s: Settings) -> str:
        return await signing.rotate(
            conn, cipher, keep_for=timedelta(seconds=s.access_token_ttl + 300), actor="cli"
        )

    kid = _run_admin(data_dir, work)
    click.echo(f"new signing key: {kid}")


def _service_message(exc: ServiceError) -> str:
    details = "; ".join(f"{e['path']}: {e['message']}" for e in exc.errors)
    return f"{exc.detail}" + (f" ({details})" if details else "")


@keys.command("rotate-data")
@click.option("--reencrypt", is_flag=True, help="Also rewrite every row under the new data key.")
@data_dir_option
def keys_rotate_data(reencrypt: bool, data_dir: str | None) -> None:
    """Re-wrap the data keys under the primary master key and start a new data key.

    Put the new master key first in HEARTH_MASTER_KEY (keep the old one after it), run this, and
    the old master key is no longer needed. Servers keep running: they reload the keys on notice.
    """

    async def work(conn: asyncpg.Connection, _c: FieldCipher, s: Settings) -> tuple[int, int, int]:
        ring = MasterKeyRing.from_settings(s)
        rewrapped, new_id = await rotate_data_keys(conn, ring, actor="cli")
        rewritten = 0
        if reencrypt:
            cipher = await load_field_cipher(conn, ring)
            total = await users_repo.count_encrypted(conn)
            with click.progressbar(
                length=total, label="re-encrypting users", file=sys.stderr
            ) as bar:
                rewritten = await reencrypt_all(conn, cipher, progress=bar.update)
        return rewrapped, new_id, rewritten

    rewrapped, new_id, rewritten = _run_admin(data_dir, work)
    click.echo(f"re-wrapped {rewrapped} data key(s); new data key {new_id}")
    if reencrypt:
        click.echo(f"re-encrypted {rewritten} user(s)")


@cli.group()
def users() -> None:
    """Manage users."""


@users.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "yaml"]),
    default=None,
    help="Default: from the file name (.csv, .yaml/.yml).",
)
@click.option("--mode", type=click.Choice(["all_or_nothing", "partial"]), default="all_or_nothing")
@click.option("--dry-run", is_flag=True, help="Validate and report; write nothing.")
@click.option(
    "--on-conflict",
    type=click.Choice(["update", "skip"]),
    default="update",
    help="An email that exists already: update the user, or skip the row.",
)
@click.option("--json", "as_json", is_flag=True, help="Print every row's result as JSON.")
@data_dir_option
def users_import(
    file: str,
    fmt: str | None,
    mode: str,
    dry_run: bool,
    on_conflict: str,
    as_json: bool,
    data_dir: str | None,
) -> None:
    """Import users from a CSV or YAML FILE, with a progress bar."""
    fmt = fmt or ("yaml" if file.endswith((".yaml", ".yml")) else "csv")
    size = os.path.getsize(file)

    async def work(_conn: asyncpg.Connection, cipher: FieldCipher, s: Settings) -> ImportReport:
        pool = await create_pool(s)
        try:
            with (
                open(file, "rb") as stream,  # noqa: ASYNC230 - read in worker threads
                click.progressbar(
                    length=size, label=f"importing {os.path.basename(file)}", file=sys.stderr
                ) as bar,
            ):
                seen = 0

                def advance(_rows: int) -> None:
                    nonlocal seen
                    pos = stream.tell()
                    bar.update(pos - seen)
                    seen = pos

                importer = Importer(
                    pool,
                    cipher,
                    mode=mode,
                    dry_run=dry_run,
                    on_conflict=on_conflict,  # type: ignore[arg-type]
                    actor="cli",
                    request_id=None,
                    progress=advance,
                )
                return await importer.run(rows_from(stream, fmt))  # type: ignore[arg-type]
        finally:
            await pool.close()

    try:
        report = _run_admin(data_dir, work)
    except ServiceError as exc:
        raise click.ClickException(_service_message(exc)) from None
    if as_json:
        _echo_json(report)
    else:
        for r in report.rows:
            if r.status == "error":
                click.echo(f"row {r.row}: {r.error}", err=True)
        state = (
            "dry run, nothing written"
            if dry_run
            else ("committed" if report.committed else "rolled back")
        )
        click.echo(
            f"created {report.created}, updated {report.updated}, skipped {report.skipped}, "
            f"errors {report.errors} ({state})"
        )
    if report.errors and mode == "all_or_nothing":
        sys.exit(1)


@cli.group("audit")
def audit_group() -> None:
    """The audit log."""


@audit_group.command("verify")
@data_dir_option
def audit_verify(data_dir: str | None) -> None:
    """Check the hash chain: exits 1 naming every changed or missing row."""

    async def work(
        conn: asyncpg.Connection, _c: FieldCipher, _s: Settings
    ) -> tuple[list[str], int]:
        return await audit.verify(conn), await audit_repo.count(conn)

    problems, n = _run_admin(data_dir, work)
    if problems:
        for p in problems:
            click.echo(p, err=True)
        raise click.ClickException(f"audit chain broken: {len(problems)} problem(s) in {n} rows")
    click.echo(f"audit chain intact: {n} rows")


@cli.group()
def certs() -> None:
    """TLS certificates."""


@certs.command("dev")
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Directory [default <data-dir>/certs].",
)
@click.option(
    "--client-cn",
    default="hearth-dev-client",
    show_default=True,
    help="The client certificate's CN (name a client_id to authenticate as it).",
)
@data_dir_option
def certs_dev(out: str | None, client_cn: str, data_dir: str | None) -> None:
    """Make a development CA, a server certificate (localhost, 127.0.0.1) and a client one."""
    settings = load_settings(data_dir=data_dir)
    target = Path(out) if out else settings.data_path / "certs"
    paths = make_dev_certs(target, client_cn=client_cn)
    for role, path in paths.items():
        click.echo(f"{role:11} {path}")
    click.echo(
        f"\nhearth serve --tls-cert {paths['server']} --tls-key {paths['server_key']} --client-ca {paths['ca']}"
    )
