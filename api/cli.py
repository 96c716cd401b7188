"""``hearth`` entry point: hearth_core's commands plus ``serve``."""

from __future__ import annotations

import asyncio
import signal
import sys

import click

from api.server import run_single, run_workers
from hearth_core import logs
from hearth_core.bootstrap import prepare
from hearth_core.cli import announce_admin, cli, data_dir_option, load_settings
from hearth_core.runtime import running_services
from ingest.cli import ingest_command


class _Terminated(Exception):
    """SIGTERM before the server's own handlers are installed: unwind and stop the services."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated


@cli.command()
@click.option(
    "--host", default=None, help="Interface to bind [env HEARTH_HOST; default 127.0.0.1]."
)
@click.option("--port", type=int, default=None, help="Port [env HEARTH_PORT; default 8080].")
@data_dir_option
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Processes sharing the port via SO_REUSEPORT [env HEARTH_WORKERS; default 1].",
)
def serve(host: str | None, port: int | None, data_dir: str | None, workers: int | None) -> None:
    """Serve the API and console (starting embedded PostgreSQL/Redis when no URLs are set)."""
    settings = load_settings(host=host, port=port, data_dir=data_dir, workers=workers)
    logs.configure(settings.log_level)
    signal.signal(signal.SIGTERM, _on_sigterm)
    code = 0
    try:
        with running_services(settings) as live:
            applied, creds = asyncio.run(prepare(live))
            for mig in applied:
                click.echo(f"[hearth] applied migration {mig.version:04d}_{mig.name}", err=True)
            announce_admin(creds)
            click.echo(
                f"[hearth] serving on http://{live.host}:{live.port} "
                f"with {live.workers} worker(s); Ctrl-C stops",
                err=True,
            )
            if live.workers == 1:
                run_single(live)
            else:
                code = run_workers(live)
    except (_Terminated, KeyboardInterrupt):
        code = 0
    sys.exit(code)


cli.add_command(ingest_command)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
