"""The ``hearth`` command group and its non-HTTP commands (``api.cli`` adds ``serve``)."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import click
import orjson

from hearth_core import __version__
from hearth_core.bootstrap import AdminCredentials, prepare
from hearth_core.runtime import described_urls, running_services
from hearth_core.settings import Settings, SettingsError


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
