"""GET /openapi.json: the OpenAPI 3.1 description of /api/v1 (schemas from the pydantic inputs)."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from console.api import bp
from dispatch.services.assignments import ActionIn, SummonIn
from dispatch.services.users import UserIn
from dispatch.services.validation import CaseIn, TransitionIn

_ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object"},
            },
            "required": ["code", "message", "details"],
        }
    },
}
_ERRORS = {
    "401": {
        "description": "not signed in / bad token",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    },
    "404": {
        "description": "not found or outside the caller's jurisdiction",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    },
    "409": {
        "description": "illegal transition (details: state, allowed) or conflict",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    },
    "422": {
        "description": "invalid input (details.fields: field -> {code, message})",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    },
}


def _op(
    summary: str, body: str | None = None, params: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {"200": {"description": "OK"}, **_ERRORS},
    }
    if body:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}},
        }
    if params:
        op["parameters"] = params
    return op


def _q(name: str, description: str, required: bool = False) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": {"type": "string"},
    }


def _p(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "integer"}}


def document() -> dict[str, Any]:
    schemas: dict[str, Any] = {"Error": _ERROR}
    for model in (CaseIn, TransitionIn, SummonIn, ActionIn, UserIn):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    schemas["TokenIn"] = {
        "type": "object",
        "properties": {"username": {"type": "string"}, "password": {"type": "string"}},
        "required": ["username", "password"],
    }
    paths = {
        "/auth/token": {"post": _op("Bearer token for machine clients", "TokenIn")},
        "/me": {"get": _op("The signed-in user")},
        "/cases": {
            "get": _op(
                "List cases in the caller's jurisdiction",
                params=[
                    _q(n, d)
                    for n, d in (
                        ("status", "received | in_progress | closed"),
                        ("state", "internal state (repeatable)"),
                        ("category", "category code"),
                        ("severity", "severity code"),
                        ("source", "source code"),
                        ("region", "region code (within jurisdiction)"),
                        ("card", "none | yellow | red"),
                        ("q", "text in title, code or address"),
                        ("from", "received from (DATE or ISO-8601)"),
                        ("to", "received before"),
                        ("page", "1-based page"),
                        ("per_page", "1..500"),
                    )
                ],
            ),
            "post": _op("Register a case at intake", "CaseIn"),
        },
        "/cases/{case_id}": {
            "get": _op(
                "A case card: masked parties, timeline, allowed actions",
                params=[
                    _p("case_id"),
                    _q("unmask", "1 to show raw identifiers (permission; audited)"),
                ],
            )
        },
        "/cases/{case_id}/transitions": {
            "post": _op("Apply a workflow action", "TransitionIn", [_p("case_id")])
        },
        "/cases/{case_id}/assignments": {
            "post": _op("Summon one or several targets (中心吹哨)", "SummonIn", [_p("case_id")]),
            "get": _op("Who has reported and who has not", params=[_p("case_id")]),
        },
        "/cases/related": {"post": _op("Open or recent cases of the same parties or place")},
        "/cases/suggest": {"post": _op("Category and severity suggested from a description")},
        "/assignments": {
            "get": _op(
                "Assignments visible to the caller",
                params=[
                    _q("mine", "1: addressed to me"),
                    _q("state", "state"),
                    _q("case_id", "case"),
                ],
            )
        },
        "/assignments/{assignment_id}": {
            "get": _op("One assignment", params=[_p("assignment_id")])
        },
        "/assignments/{assignment_id}/{action}": {
            "post": _op(
                "accept | refuse | report | finish | cancel (Idempotency-Key header)",
                "ActionIn",
                [
                    _p("assignment_id"),
                    {
                        "name": "action",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                ],
            )
        },
        "/import": {
            "post": {
                **_op(
                    "Import cases: CSV or JSON Lines; idempotent on external_id; all-or-nothing; bad rows by line",
                    params=[_q("format", "csv | jsonl")],
                ),
                "requestBody": {
                    "content": {
                        "text/csv": {},
                        "application/x-ndjson": {},
                        "multipart/form-data": {},
                    }
                },
            }
        },
        "/stats/summary": {
            "get": _op(
                "Summary figures of a region and below over [from, to)",
                params=[
                    _q("region", "region code (default: yours)"),
                    _q("from", "DATE (local midnight, Asia/Shanghai) or ISO-8601 with zone", True),
                    _q("to", "exclusive end", True),
                ],
            )
        },
        "/regions": {
            "get": _op(
                "Regions within jurisdiction",
                params=[_q("level", "city | county | township | grid")],
            )
        },
        "/regions/{code}": {
            "get": _op(
                "A region and its children",
                params=[
                    {"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
            )
        },
        "/regions/geojson": {
            "get": _op("Boundaries as GeoJSON", params=[_q("level", "county | township | grid")])
        },
        "/users": {
            "get": _op("Users within jurisdiction"),
            "post": _op("Create a user (admin)", "UserIn"),
        },
    }
    try:  # the video component documents its own routes when it is part of the build
        from streams import openapi as video_openapi
    except ModuleNotFoundError:
        video_openapi = None  # type: ignore[assignment]
    if video_openapi is not None:
        paths.update(video_openapi.paths())
        schemas.update(video_openapi.schemas())
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Dispute mediation command console API",
            "version": "1.0.0",
            "description": "Errors are JSON {error: {code, message, details}}; messages follow Accept-Language or ?lang= (zh-CN default, en). "
            "Authenticate with a bearer token from POST /auth/token or a browser session.",
        },
        "servers": [{"url": "/api/v1"}],
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(document())
