"""Cases: create, read, list with filters and paging, transitions, related cases, suggestions."""

from __future__ import annotations

from flask import Response, jsonify, request

from console.api import bp
from console.api.common import int_arg, json_body, moment_arg, transaction
from console.auth import require_actor
from console.runtime import current_runtime
from dispatch.domain.codes import Level, Role
from dispatch.domain.errors import Forbidden, ValidationFailed
from dispatch.domain.jurisdiction import Scope
from dispatch.services import cases

#: Roles allowed to see raw personal identifiers (each unmasking is audited).
UNMASK_ROLES = frozenset({Role.COMMANDER, Role.MEDIATOR, Role.LEADER, Role.ADMIN})
_STATUSES = {"received", "in_progress", "closed"}


@bp.post("/cases")
def create_case() -> tuple[Response, int]:
    actor = require_actor()
    with transaction() as db:
        case = cases.create_case(db, current_runtime().deps, actor, json_body())
        body = cases.detail(db, actor, case)
    return jsonify(body), 201


@bp.get("/cases")
def list_cases() -> Response:
    actor = require_actor()
    status = request.args.get("status") or None
    if status and status not in _STATUSES:
        raise ValidationFailed(fields={"status": "invalid_choice"})
    region = request.args.get("region") or None
    region_scope = None
    runtime = current_runtime()
    if region:
        try:
            level = runtime.deps.region_level(region)
        except KeyError as err:
            raise ValidationFailed(fields={"region": "unknown_region"}) from err
        region_scope = Scope(Level(level), region)
    flt = cases.CaseFilter(
        state=request.args.getlist("state") or None,
        status=status,
        category=request.args.get("category") or None,
        severity=request.args.get("severity") or None,
        source=request.args.get("source") or None,
        card=request.args.get("card") or None,
        q=(request.args.get("q") or "").strip()[:100] or None,
        received_from=moment_arg("from"),
        received_to=moment_arg("to"),
    )
    page = int_arg("page", 1, 1, 100000)
    per_page = int_arg("per_page", 50, 1, 500)
    with transaction() as db:
        rows, total = cases.list_cases(db, actor, flt, page, per_page, region_scope)
        items = [cases.summary(c) for c in rows]
    return jsonify(items=items, total=total, page=page, per_page=per_page)


@bp.get("/cases/<int:case_id>")
def get_case(case_id: int) -> Response:
    actor = require_actor()
    unmask = request.args.get("unmask") in ("1", "true")
    if unmask and actor.role not in UNMASK_ROLES:
        raise Forbidden(action="unmask", role=actor.role.value)
    with transaction() as db:
        case = cases.get_case(db, actor, case_id)
        at = current_runtime().deps.now() if unmask else None
        return jsonify(cases.detail(db, actor, case, unmasked_at=at))


@bp.post("/cases/<int:case_id>/transitions")
def transition(case_id: int) -> Response:
    actor = require_actor()
    with transaction() as db:
        case = cases.transition(db, current_runtime().deps, actor, case_id, json_body())
        return jsonify(cases.detail(db, actor, case))


@bp.post("/cases/related")
def related() -> Response:
    """Open or recent cases of the same parties or place, shown at intake before saving."""
    actor = require_actor()
    data = json_body()
    parties = data.get("parties") or []
    if not isinstance(parties, list):
        raise ValidationFailed(fields={"parties": "not_a_list"})
    ids = [str(p.get("id_number") or "") for p in parties if isinstance(p, dict)]
    phones = [str(p.get("phone") or "") for p in parties if isinstance(p, dict)]
    region = data.get("region_code")
    township = None
    if isinstance(region, str) and region:
        try:
            township = current_runtime().deps.region_path(region).township
        except KeyError:
            township = None
    with transaction() as db:
        items = cases.related_cases(
            db, current_runtime().deps, actor, ids, phones, township, data.get("address")
        )
    return jsonify(items=items)


@bp.post("/cases/suggest")
def suggest() -> Response:
    """Category and severity suggested from the description (the clerk confirms)."""
    require_actor()
    data = json_body()
    text = str(data.get("description") or "") + " " + str(data.get("title") or "")
    people = data.get("people_involved")
    reference = current_runtime().reference
    categories = reference.suggest_category(text)
    severity = reference.suggest_severity(text, people if isinstance(people, int) else 1)
    return jsonify(
        categories=[{"code": c, "score": s} for c, s in categories[:3]], severity=severity
    )
