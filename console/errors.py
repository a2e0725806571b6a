"""The one place that maps errors to HTTP JSON (and to Socket.IO error payloads)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from console.i18n import t
from dispatch.domain.errors import DispatchError

logger = logging.getLogger(__name__)


def error_body(err: DispatchError, lang: str) -> dict[str, Any]:
    """``{"error": {"code", "message", "details"}}`` in ``lang``."""
    params = dict(err.params)
    details: dict[str, Any] = {}
    fields = params.pop("fields", None)
    if isinstance(fields, dict):
        details["fields"] = {
            name: {"code": code, "message": t(f"problems.{code}", lang)}
            for name, code in fields.items()
        }
    rows = params.pop("rows", None)
    if isinstance(rows, list):
        details["rows"] = [
            {
                "line": row["line"],
                "fields": {
                    name: {"code": code, "message": t(f"problems.{code}", lang)}
                    for name, code in row["fields"].items()
                },
            }
            for row in rows
        ]
    details.update(params)
    fill = {k: (", ".join(map(str, v)) if isinstance(v, list) else v) for k, v in params.items()}
    if "fields" in details:
        fill["fields"] = ", ".join(details["fields"])
    return {
        "error": {
            "code": err.code,
            "message": t(f"errors.{err.code}", lang, **fill),
            "details": details,
        }
    }


def _lang() -> str:
    from console.auth import request_lang

    try:
        return request_lang()
    except Exception:
        return "zh-CN"


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DispatchError)
    def _dispatch_error(err: DispatchError) -> tuple[Response, int]:
        return jsonify(error_body(err, _lang())), err.status

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException) -> Response | tuple[Response, int]:
        if not request.path.startswith("/api/"):
            return err.get_response()  # type: ignore[return-value]
        code = {404: "route_not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            err.code or 500, "bad_request"
        )
        body = {"error": {"code": code, "message": t(f"errors.{code}", _lang()), "details": {}}}
        return jsonify(body), err.code or 500

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> tuple[Response, int]:
        logger.exception("unhandled error on %s %s", request.method, request.path)
        body = {
            "error": {"code": "internal", "message": t("errors.internal", _lang()), "details": {}}
        }
        return jsonify(body), 500
