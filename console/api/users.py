"""Users: list within jurisdiction, create (admins)."""

from __future__ import annotations

from flask import Response, jsonify

from console.api import bp
from console.api.common import json_body, transaction
from console.auth import require_actor
from console.runtime import current_runtime
from dispatch.services import users


@bp.get("/users")
def list_users() -> Response:
    actor = require_actor()
    with transaction() as db:
        return jsonify(
            items=[users.public(u) for u in users.list_users(db, current_runtime().deps, actor)]
        )


@bp.post("/users")
def create_user() -> tuple[Response, int]:
    actor = require_actor()
    with transaction() as db:
        user = users.create_user(db, current_runtime().deps, actor, json_body())
        return jsonify(users.public(user)), 201
