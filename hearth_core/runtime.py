"""Resolving which PostgreSQL and Redis to use: the configured ones, or embedded ones."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

from hearth_core.localstack import PG_DATABASE, PG_USER, LocalStack
from hearth_core.security.crypto import MasterKeyRing
from hearth_core.settings import Settings


def make_localstack(settings: Settings) -> LocalStack:
    return LocalStack(
        settings.data_path,
        pg_port=settings.pg_port,
        redis_port=settings.redis_port,
        durable=settings.pg_durable,
    )


@contextmanager
def running_services(
    settings: Settings, *, redis: bool = True, serving: bool = True
) -> Iterator[Settings]:
    """Yield settings whose URLs point at live services; start (and later stop) what's missing.

    Admin commands pass ``serving=False, redis=False``: they borrow the database of a server
    that may be running on the same data dir and never stop it.
    """
    if settings.database_url is not None and (settings.redis_url is not None or not redis):
        yield settings
        return
    stack = make_localstack(settings)
    stack.start(
        postgres=settings.database_url is None,
        redis=redis and settings.redis_url is None,
        adopt_running=serving,
    )
    changes: dict[str, str] = {}
    if settings.database_url is None and not (settings.master_key or settings.master_key_file):
        # The embedded database comes with its own master key, kept beside its data.
        key_file = settings.data_path / "master.key"
        MasterKeyRing.create_file(key_file)
        changes["master_key_file"] = str(key_file)
    try:
        yield settings.replace(
            database_url=settings.database_url or stack.database_url,
            redis_url=settings.redis_url or stack.redis_url,
            **changes,
        )
    finally:
        stack.stop()


def mask_url(url: str) -> str:
    """The URL with its password replaced, fit to print."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def described_urls(settings: Settings) -> tuple[str, str]:
    """The URLs in use, masked, without starting anything."""
    db = settings.database_url or (
        f"postgresql://{PG_USER}:***@127.0.0.1:{settings.pg_port}/{PG_DATABASE}"
    )
    rd = settings.redis_url or f"redis://:***@127.0.0.1:{settings.redis_port}/0"
    return mask_url(db), mask_url(rd)
