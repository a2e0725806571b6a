"""POST /auth/token (machine clients), GET /me."""

from __future__ import annotations

from flask import Response, jsonify

from console.api import bp
from console.api.common import json_body, transaction
from console.auth import Unauthorized, actor_payload, issue_token, require_actor
from console.runtime import current_runtime
from dispatch.domain.errors import ValidationFailed
from dispatch.services import users


@bp.post("/auth/token")
def token() -> Response:
    data = json_body()
    username, password = data.get("username"), data.get("password")
    problems = {
        k: "required"
        for k, v in (("username", username), ("password", password))
        if not isinstance(v, str) or not v
    }
    if problems:
        raise ValidationFailed(fields=problems)
    runtime = current_runtime()
    with transaction() as db:
        user = users.authenticate(db, runtime.deps, str(username), str(password))
    # Raised after the commit, so the failed attempt stays in the audit trail.
    if user is None:
        raise Unauthorized("bad_credentials")
    return jsonify(
        token=issue_token(runtime, user),
        token_type="bearer",
        expires_in=runtime.settings.token_ttl_seconds,
        user=users.public(user),
    )


@bp.get("/me")
def me() -> Response:
    return jsonify(actor_payload(require_actor()))
