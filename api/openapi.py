"""OpenAPI 3.1, generated from the declared endpoints and their msgspec types."""

from __future__ import annotations

import re
from typing import Any

import msgspec
from aiohttp import web

from api.jsonio import json_response
from api.keys import ENDPOINTS, OPENAPI_CACHE, SETTINGS
from api.problems import Problem
from api.routing import Endpoint, Routes
from hearth_core import __version__
from hearth_core.scopes import ALL_SCOPES, PUBLIC

routes = Routes("meta")
_PATH_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
_REF = "#/components/schemas/{name}"


def build_document(endpoints: list[Endpoint], base_url: str) -> dict[str, Any]:
    types: list[Any] = [Problem]
    for ep in endpoints:
        types += [t for t in (ep.body, ep.query, ep.response) if t is not None]
    schemas, components = msgspec.json.schema_components(types, ref_template=_REF)
    by_type = dict(zip(types, schemas, strict=True))
    problem_ref = by_type[Problem]

    paths: dict[str, dict[str, Any]] = {}
    for ep in sorted(endpoints, key=lambda e: (e.path, e.method)):
        path = _PATH_PARAM.sub(r"{\1}", ep.path)
        params: list[dict[str, Any]] = [
            {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
            for n in _PATH_PARAM.findall(ep.path)
        ]
        if ep.query is not None:
            params += _query_parameters(by_type[ep.query], components)
        op: dict[str, Any] = {
            "operationId": ep.route_name,
            "summary": ep.summary,
            "tags": [ep.tag],
            "x-scope": ep.scope,
            "responses": {},
        }
        if params:
            op["parameters"] = params
        error = _problem if ep.error_shape is None else _protocol_error
        if ep.scope != PUBLIC:
            op["security"] = [{"oauth2": [ep.scope]}] + [
                {_SCHEMES[s]: [ep.scope]} for s in ep.token_schemes
            ]
            op["responses"]["401"] = error("missing or invalid token", problem_ref)
            op["responses"]["403"] = error(f"token lacks scope {ep.scope}", problem_ref)
        if ep.token_type is not None:
            op["x-token-type"] = ep.token_type
            op["security"] = [{"unleashToken": []}]
            op["responses"]["401"] = error("missing or unknown API token", problem_ref)
            op["responses"]["403"] = error(f"not a {ep.token_type} API token", problem_ref)
        if ep.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {ct: {"schema": by_type[ep.body]} for ct in ep.content_types},
            }
            op["responses"]["400"] = error("invalid input, naming the field", problem_ref)
        ok: dict[str, Any] = {"description": "success"}
        if ep.response is not None:
            ok["content"] = {"application/json": {"schema": by_type[ep.response]}}
        elif ep.body is None and ep.content_types != ("application/json",):
            ok["content"] = {ct: {} for ct in ep.content_types}
        op["responses"][str(ep.status)] = ok
        for code, text in ep.responses.items():
            op["responses"][str(code)] = error(text, problem_ref)
        paths.setdefault(path, {})[ep.method.lower()] = op

    scopes = {s: s for s in ALL_SCOPES}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Hearth Core Services", "version": __version__},
        "servers": [{"url": base_url}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                # The InfluxDB routes' spellings of the same access token (Telegraf, clients).
                "influxToken": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "`Token <access token>`",
                },
                # Unleash's SDK routes: an Unleash API token (`hearth flags token create`).
                "unleashToken": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "an Unleash API token as it is (or `Bearer <token>`)",
                },
                "basic": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "the access token as the password",
                },
                "tokenQuery": {
                    "type": "apiKey",
                    "in": "query",
                    "name": "p",
                    "description": "the access token (InfluxDB 1.x `?u=&p=`)",
                },
                "oauth2": {
                    "type": "oauth2",
                    "flows": {
                        "clientCredentials": {"tokenUrl": "/oauth/token", "scopes": scopes},
                        "authorizationCode": {
                            "authorizationUrl": "/oauth/authorize",
                            "tokenUrl": "/oauth/token",
                            "scopes": scopes,
                        },
                    },
                },
            },
        },
    }


# Endpoint.token_schemes -> the security scheme that documents it.
_SCHEMES = {"Bearer": "bearer", "Token": "influxToken", "Basic": "basic", "query": "tokenQuery"}


def _protocol_error(description: str, _ref: dict[str, Any]) -> dict[str, Any]:
    # A protocol route (Endpoint.error_shape) answers in its protocol's own error shape.
    return {"description": f"{description} (in the protocol's own error format)"}


def _problem(description: str, ref: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": ref}}}


def _query_parameters(ref: dict[str, Any], components: dict[str, Any]) -> list[dict[str, Any]]:
    # Two handlers may both call their query Struct "ListQuery": msgspec then qualifies the
    # component names, so follow the $ref rather than guess the name.
    schema = components[ref["$ref"].rsplit("/", 1)[1]]
    required = set(schema.get("required", ()))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema.get("properties", {}).items()
    ]


@routes.get("/openapi.json", scope=PUBLIC, summary="This API's OpenAPI 3.1 document")
async def openapi_document(request: web.Request) -> web.Response:
    cache = request.app[OPENAPI_CACHE]
    if "doc" not in cache:
        cache["doc"] = build_document(
            list(request.app[ENDPOINTS].values()), request.app[SETTINGS].public_base_url
        )
    return json_response(cache["doc"], headers={"Cache-Control": "public, max-age=60"})
