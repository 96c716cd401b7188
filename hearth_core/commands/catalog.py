"""The SOP template catalog: import (a changed template becomes a new version), search, and
the lookup and parameter check every command is created or edited against."""

from __future__ import annotations

import hashlib
from typing import Any

import asyncpg
import msgspec
import orjson

from hearth_core.commands import repo
from hearth_core.commands.model import RouteRef, SopTemplate, parse_templates, render_steps
from hearth_core.config.service import check_schema, check_value
from hearth_core.db.audited import audited_write
from hearth_core.db.paging import Page
from hearth_core.errors import InvalidInput, NotFound


def _digest(description: str, parameters: Any, steps: list[Any]) -> str:
    canon = orjson.dumps(
        {"description": description, "parameters": parameters, "steps": steps},
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(canon).hexdigest()


class TemplateCatalog:
    def __init__(self, pool: asyncpg.Pool, routes: dict[str, RouteRef] | None = None) -> None:
        self.pool = pool
        self.routes = routes  # what ``call`` steps may name; None: not checked

    async def import_templates(
        self, data: Any, *, actor: str, request_id: str | None
    ) -> dict[str, Any]:
        """Every template valid, or nothing written. A changed template becomes a new version;
        an identical one stays as it is."""
        specs, errors = parse_templates(data, self.routes)
        if errors:
            raise InvalidInput("invalid SOP templates; nothing imported", errors=errors[:100])
        results = []
        counts = {"created": 0, "updated": 0, "unchanged": 0}
        async with audited_write(self.pool, actor=actor, request_id=request_id) as w:
            for spec in specs:
                steps = msgspec.to_builtins(spec.steps)
                digest = _digest(spec.description, spec.parameters, steps)
                await repo.lock_template_name(w.conn, spec.name)
                latest = await repo.latest_digest(w.conn, spec.name)
                if latest is not None and latest[1] == digest:
                    counts["unchanged"] += 1
                    results.append({"name": spec.name, "version": latest[0], "result": "unchanged"})
                    continue
                version = 1 if latest is None else latest[0] + 1
                await repo.insert_template(
                    w.conn,
                    name=spec.name,
                    version=version,
                    description=spec.description,
                    parameters=spec.parameters,
                    steps=steps,
                    digest=digest,
                    created_by=actor,
                )
                await w.audit(
                    "sop_template.import",
                    f"sop_template:{spec.name}",
                    before=None if latest is None else {"version": latest[0]},
                    after={"version": version, "steps": len(steps)},
                )
                result = "created" if latest is None else "updated"
                counts[result] += 1
                results.append({"name": spec.name, "version": version, "result": result})
        return {**counts, "templates": results}

    async def list(
        self, *, q: str | None, name: str | None, all_versions: bool, limit: int, page: int
    ) -> Page[SopTemplate]:
        items, total = await repo.find_templates(
            self.pool,
            q=q or None,
            name=name or None,
            all_versions=all_versions,
            page=page,
            limit=limit,
        )
        return Page(items=items, page=page, limit=limit, total=total)

    async def resolve(
        self, conn: asyncpg.Connection, name: str, version: int | None
    ) -> SopTemplate:
        """The template a command names (its newest version unless ``version``), or 404."""
        template = await repo.template(conn, name, version)
        if template is None:
            what = name if version is None else f"{name} version {version}"
            raise NotFound(
                f"no SOP template {what}", errors=[{"path": "$.template", "message": "unknown"}]
            )
        return template

    def check_parameters(self, template: SopTemplate, params: dict[str, Any]) -> None:
        """The parameters fit the template's JSON Schema, and its steps filled in are valid."""
        check_value(check_schema(template.parameters), params, "$.parameters")
        _, errors = render_steps(template.steps, params, self.routes)
        if errors:
            raise InvalidInput("the parameters do not fit the template", errors=errors)
