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
from hearth_core.services import open_command_workers, open_services
from hearth_core.settings import Settings
from hearth_core.tenancy.cli import metrics_command
from hearth_core.unleash.cli import flags_command
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
@click.option(
    "--tls-cert",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Serve HTTPS with this certificate (PEM) [env HEARTH_TLS_CERT].",
)
@click.option(
    "--tls-key",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Its private key (PEM) [env HEARTH_TLS_KEY].",
)
@click.option(
    "--client-ca",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Require client certificates signed by this CA (mTLS) [env HEARTH_TLS_CLIENT_CA].",
)
def serve(
    host: str | None,
    port: int | None,
    data_dir: str | None,
    workers: int | None,
    tls_cert: str | None,
    tls_key: str | None,
    client_ca: str | None,
) -> None:
    """Serve the API and console (starting embedded PostgreSQL/Redis when no URLs are set)."""
    settings = load_settings(
        host=host,
        port=port,
        data_dir=data_dir,
        workers=workers,
        tls_cert=tls_cert,
        tls_key=tls_key,
        tls_client_ca=client_ca,
    )
    if bool(settings.tls_cert) != bool(settings.tls_key):
        raise click.UsageError("--tls-cert and --tls-key go together")
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
                f"[hearth] serving on {live.public_base_url} "
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


@cli.command()
@data_dir_option
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=None,
    help="Command worker tasks [env HEARTH_COMMAND_WORKERS; default 2].",
)
def worker(data_dir: str | None, concurrency: int | None) -> None:
    """Run only the project-command workers (no HTTP server); SIGTERM or Ctrl-C stops them."""
    from api.app import all_endpoints
    from api.handlers.commands import callable_routes

    settings = load_settings(data_dir=data_dir)
    logs.configure(settings.log_level)
    n = concurrency or max(settings.command_workers, 1)

    async def go(live: Settings) -> None:
        _, creds = await prepare(live)
        announce_admin(creds)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        routes = callable_routes(all_endpoints())
        # The same services as the server (data-key reloads, flags, config, Redis), no HTTP:
        # ``call`` steps reach the server at ``settings.public_base_url``.
        async with (
            open_services(live) as services,
            open_command_workers(services, routes, concurrency=n),
        ):
            click.echo(f"[hearth] {n} command worker(s) running; Ctrl-C stops", err=True)
            await stop.wait()

    # Beside a running server on the same data dir its PostgreSQL and Redis are borrowed, never
    # stopped; alone, the worker starts (and stops) them itself.
    with running_services(settings, serving=False) as live:
        asyncio.run(go(live))


cli.add_command(ingest_command)
cli.add_command(flags_command)
cli.add_command(metrics_command)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
