"""Each client's metric tenancy, held in memory by every process (refreshed by NOTIFY), and the
rule every metrics route applies: a bound client writes and reads its own namespace only.

A binding names a namespace — the label every series carries in a remote backend, and the
namespace column in PostgreSQL — and optionally the client's tenant id on the backend (Mimir's
``X-Scope-OrgID``, a VictoriaMetrics cluster's ``/insert/{tenant}/…``); without one the
backend's default tenant (``HEARTH_METRICS_REMOTE_TENANT``) is used.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

import asyncpg
import msgspec

from hearth_core.db.audited import audited_write
from hearth_core.errors import Forbidden, InvalidInput, NotFound
from hearth_core.tenancy import repo

# Hearth's namespace rule (native/src/ingest/point.rs NAME_PATTERN, 1 to 200 characters).
NAMESPACE = re.compile(r"[A-Za-z_:][A-Za-z0-9_:.]{0,199}")
# A backend tenant id goes into a header and a URL path segment: Cortex/Mimir's rule (letters,
# digits and !-_.*'() ; VictoriaMetrics cluster's is digits with an optional ":project").
TENANT = re.compile(r"[A-Za-z0-9!\-_.*'():]{1,150}")


class TenantSpec(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    namespace: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    tenant: str | None = None


class Tenant(msgspec.Struct, kw_only=True, frozen=True):
    client_id: str
    namespace: str
    tenant: str | None
    updated_at: datetime
    updated_by: str


def _tenant(row: asyncpg.Record) -> Tenant:
    return msgspec.convert(dict(row), Tenant)


def check_spec(spec: TenantSpec) -> None:
    errors = []
    if not NAMESPACE.fullmatch(spec.namespace):
        errors.append(
            {"path": "$.namespace", "message": f"must match ^{NAMESPACE.pattern}$"},
        )
    if spec.tenant is not None and not TENANT.fullmatch(spec.tenant):
        errors.append({"path": "$.tenant", "message": f"must match ^{TENANT.pattern}$"})
    if errors:
        raise InvalidInput("invalid tenant binding", errors=errors)


class TenantService:
    def __init__(self, pool: repo.Db) -> None:
        self._pool = pool
        self._by_client: dict[str, Tenant] = {}

    async def load(self) -> None:
        self._by_client = {r["client_id"]: _tenant(r) for r in await repo.list_all(self._pool)}

    async def on_event(self, event: dict[str, Any]) -> None:
        client_id = event.get("client_id")
        if not isinstance(client_id, str):
            return
        row = await repo.get(self._pool, client_id)
        if row is None:
            self._by_client.pop(client_id, None)
        else:
            self._by_client[client_id] = _tenant(row)

    def of(self, client_id: str) -> Tenant | None:
        return self._by_client.get(client_id)

    def namespace(self, client_id: str, requested: str | None, default: str) -> str:
        """The namespace a request of ``client_id`` works in: a bound client's own (asking for
        another is 403), else ``requested``, else ``default``."""
        bound = self._by_client.get(client_id)
        if bound is None:
            return default if requested is None else requested
        if requested is not None and requested != bound.namespace:
            raise Forbidden(
                f"client {client_id!r} is bound to metrics namespace {bound.namespace!r}"
            )
        return bound.namespace

    def check_written(self, client_id: str, namespaces: Callable[[], list[str]]) -> None:
        """403 when a bound client's batch names a namespace other than its own. The batch's
        ``namespaces`` are listed only for a bound client (a native pass over the batch)."""
        bound = self._by_client.get(client_id)
        if bound is None:
            return
        other = [ns for ns in namespaces() if ns != bound.namespace]
        if other:
            raise Forbidden(
                f"client {client_id!r} is bound to metrics namespace {bound.namespace!r}; "
                f"the body writes to {other[0]!r}"
            )

    def backend_tenant(self, client_id: str, default: str) -> str:
        bound = self._by_client.get(client_id)
        return bound.tenant if bound is not None and bound.tenant else default

    async def list(self) -> list[Tenant]:
        return [_tenant(r) for r in await repo.list_all(self._pool)]

    async def put(
        self, client_id: str, spec: TenantSpec, *, actor: str, request_id: str | None
    ) -> Tenant:
        check_spec(spec)
        async with audited_write(self._pool, actor=actor, request_id=request_id) as w:
            before = await repo.get(w.conn, client_id)
            try:
                row = await repo.upsert(w.conn, client_id, spec.namespace, spec.tenant, actor)
            except asyncpg.ForeignKeyViolationError:
                raise NotFound(f"no client {client_id!r}") from None
            after = _tenant(row)
            await w.audit(
                "metrics.tenant.set",
                f"client:{client_id}",
                before=None if before is None else msgspec.to_builtins(_tenant(before)),
                after=msgspec.to_builtins(after),
            )
            await w.notify("metric_tenant", client_id=client_id)
        self._by_client[client_id] = after
        return after

    async def remove(self, client_id: str, *, actor: str, request_id: str | None) -> None:
        async with audited_write(self._pool, actor=actor, request_id=request_id) as w:
            row = await repo.delete(w.conn, client_id)
            if row is None:
                raise NotFound(f"client {client_id!r} has no metrics tenant binding")
            await w.audit(
                "metrics.tenant.unset",
                f"client:{client_id}",
                before=msgspec.to_builtins(_tenant(row)),
            )
            await w.notify("metric_tenant", client_id=client_id)
        self._by_client.pop(client_id, None)
