"""Assignments: summon targets to a case, list, read, and the field actions.

Each view reads its caller's user row inside its own transaction (``require_actor(db)``): one
pool checkout per request instead of two, and the summon is the dispatcher's hot path.
"""

from __future__ import annotations

from flask import Response, jsonify, request

from console.api import bp
from console.api.common import int_arg, json_body, transaction
from console.auth import require_actor
from console.runtime import current_runtime
from dispatch.domain.errors import ValidationFailed
from dispatch.services import assignments


@bp.post("/cases/<int:case_id>/assignments")
def summon(case_id: int) -> tuple[Response, int]:
    with transaction() as db:
        actor = require_actor(db)
        created = assignments.summon(db, current_runtime().deps, actor, case_id, json_body())
        return jsonify(items=[assignments.summary(a) for a in created]), 201


@bp.get("/cases/<int:case_id>/assignments")
def case_board(case_id: int) -> Response:
    with transaction() as db:
        actor = require_actor(db)
        return jsonify(items=assignments.board(db, actor, case_id))


@bp.get("/assignments")
def list_assignments() -> Response:
    with transaction() as db:
        actor = require_actor(db)
        mine = request.args.get("mine") in ("1", "true")
        case_id = int_arg("case_id", 0, 0, 2**31) or None
        rows = assignments.list_assignments(
            db, actor, mine=mine, state=request.args.get("state"), case_id=case_id
        )
        return jsonify(items=[assignments.summary(a) for a in rows])


@bp.get("/assignments/<int:assignment_id>")
def get_assignment(assignment_id: int) -> Response:
    with transaction() as db:
        actor = require_actor(db)
        return jsonify(assignments.summary(assignments.get_assignment(db, actor, assignment_id)))


@bp.post("/assignments/<int:assignment_id>/<action>")
def act(assignment_id: int, action: str) -> Response:
    actor = require_actor()
    if action not in ("accept", "refuse", "report", "finish", "cancel"):
        raise ValidationFailed(fields={"action": "invalid_choice"})
    payload = request.get_json(silent=True) if request.data else {}
    if payload is None or not isinstance(payload, dict):
        payload = json_body()
    payload = {**payload, "action": action}
    idem = request.headers.get("Idempotency-Key")
    if idem and "idempotency_key" not in payload:
        payload["idempotency_key"] = idem
    with transaction() as db:
        return jsonify(assignments.act(db, current_runtime().deps, actor, assignment_id, payload))
