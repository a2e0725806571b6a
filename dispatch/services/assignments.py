"""Assignment use cases: summon departments/teams/people to a case, and their answers.

"中心吹哨、部门报到": one call may summon several targets at once, each with its own deadlines.
The target accepts (接单), refuses with a reason (退单: the case goes back to triage), reports
progress (反馈) and finishes. Every step is an event on the case, an audit row and a bus message.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field
from sqlalchemy import Select, Table, func, insert, select, text
from sqlalchemy.orm import Session, make_transient_to_detached

from dispatch.db.models import (
    ActionReceipt,
    Assignment,
    AssignmentReport,
    AuditEntry,
    Case,
    CaseEvent,
    Department,
    Team,
    User,
)
from dispatch.domain.assignments import (
    OPEN_ASSIGNMENT_STATES,
    AssignmentAction,
    AssignmentState,
    TargetKind,
    apply_assignment,
)
from dispatch.domain.cases import CaseAction, CaseState
from dispatch.domain.codes import Level, Role, Severity
from dispatch.domain.errors import Forbidden, NotFound, ValidationFailed
from dispatch.domain.supervision import deadlines_for
from dispatch.realtime import channels
from dispatch.services import audit, delivery
from dispatch.services import cases as case_service
from dispatch.services.context import Actor
from dispatch.services.deps import Deps
from dispatch.services.outbox import emit
from dispatch.services.validation import _Strict, parse

_ASSIGNMENTS: Table = Assignment.__table__  # type: ignore[assignment]
_EVENTS: Table = CaseEvent.__table__  # type: ignore[assignment]
_AUDIT: Table = AuditEntry.__table__  # type: ignore[assignment]

DISPATCH_ROLES = frozenset({Role.COMMANDER, Role.DUTY_OFFICER, Role.LEADER, Role.ADMIN})


class TargetIn(_Strict):
    kind: TargetKind
    id: int = Field(ge=1)
    accept_minutes: int | None = Field(default=None, ge=1, le=7 * 24 * 60)
    finish_hours: int | None = Field(default=None, ge=1, le=365 * 24)
    instructions: str = Field(default="", max_length=2000)


class SummonIn(_Strict):
    targets: list[TargetIn] = Field(min_length=1, max_length=20)


class ActionIn(_Strict):
    action: Literal["accept", "refuse", "report", "finish", "cancel"]
    reason: str | None = Field(default=None, max_length=2000)
    text: str | None = Field(default=None, max_length=5000)
    outcome: str | None = Field(default=None, max_length=16)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    photos: list[str] = Field(default_factory=list, max_length=9)
    idempotency_key: str | None = Field(default=None, min_length=8, max_length=80)


def _target(
    session: Session, kind: TargetKind, target_id: int
) -> tuple[str, str, list[int] | None]:
    """(display name, region code, members) of a target; NotFound when it does not exist.

    ``members`` are the users a delivery goes to when the target is a person (the user, if
    active), known from the row read here; None for a department or team (looked up by the
    outbox).
    """
    if kind is TargetKind.DEPARTMENT:
        dept = session.get(Department, target_id)
        if dept:
            return dept.name_zh, dept.region_code, None
    elif kind is TargetKind.TEAM:
        team = session.get(Team, target_id)
        if team:
            return team.name, team.region_code, None
    else:
        user = session.get(User, target_id)
        wanted = Role.MEDIATOR if kind is TargetKind.MEDIATOR else Role.GRID_WORKER
        if user and user.role == wanted.value:
            return user.display_name, user.region_code, [user.id] if user.active else []
    raise ValidationFailed(fields={"targets": "unknown_target"})


def _preload_targets(session: Session, targets: list[TargetIn]) -> list[object]:
    """Load every target row in one query per table; ``_target`` then finds them in the identity
    map as long as the caller keeps the returned rows (the identity map holds weak references).
    """
    held: list[object] = []
    models: dict[TargetKind, Any] = {TargetKind.DEPARTMENT: Department, TargetKind.TEAM: Team}
    wanted: dict[Any, set[int]] = {}
    for t in targets:
        wanted.setdefault(models.get(t.kind, User), set()).add(t.id)
    for model, ids in wanted.items():
        if len(ids) > 1:
            held.extend(session.scalars(select(model).where(model.id.in_(ids))).all())
    return held


def summary(a: Assignment) -> dict[str, Any]:
    return {
        "id": a.id,
        "case_id": a.case_id,
        "target_kind": a.target_kind,
        "target_id": a.target_id,
        "target_name": a.target_name,
        "region_code": a.region_code,
        "state": a.state,
        "level": a.level,
        "instructions": a.instructions,
        "offered_at": a.offered_at.isoformat(),
        "accept_by": a.accept_by.isoformat(),
        "finish_by": a.finish_by.isoformat(),
        "accepted_at": a.accepted_at.isoformat() if a.accepted_at else None,
        "finished_at": a.finished_at.isoformat() if a.finished_at else None,
        "refused_reason": a.refused_reason,
        "outcome": a.outcome,
        "card": a.card,
        "version": a.version,
    }


def summon(
    session: Session, deps: Deps, actor: Actor, case_id: int, payload: dict[str, Any]
) -> list[Assignment]:
    """Offer a case to one or several targets at once, each with its own deadlines."""
    if actor.role not in DISPATCH_ROLES:
        raise Forbidden(action="assign", role=actor.role.value)
    data = parse(SummonIn, payload)
    case = case_service.get_case(session, actor, case_id, lock=True)
    if CaseState(case.state) not in (
        CaseState.INTAKE,
        CaseState.REVIEW,
        CaseState.TRIAGE,
        CaseState.MEDIATION,
    ):
        raise ValidationFailed(fields={"case": "case_not_assignable"})
    now = deps.now()
    if CaseState(case.state) in (CaseState.INTAKE, CaseState.REVIEW):
        case_service.apply_action(session, deps, actor, case, CaseAction.TRIAGE, {})
    # One query per target table, one INSERT for all the new assignments (ids in target
    # order), then the events, audit rows and bus messages: the same rows as one flush per
    # target.
    loaded = _preload_targets(session, data.targets)
    deadlines = deadlines_for(
        deps.deadline_rules,
        Severity(case.severity),
        Level(case.level),
        now,
        deps.deadline_scale,
    )
    created: list[Assignment] = []
    names: list[str] = []
    rows: list[dict[str, Any]] = []
    members: dict[tuple[str, int], list[int]] = {}
    for target in data.targets:
        name, region, people = _target(session, target.kind, target.id)
        if people is not None:
            members[(target.kind.value, target.id)] = people
        accept_by = (
            now + timedelta(minutes=target.accept_minutes)
            if target.accept_minutes
            else deadlines.accept_by
        )
        finish_by = (
            now + timedelta(hours=target.finish_hours)
            if target.finish_hours
            else deadlines.finish_by
        )
        if accept_by >= finish_by:
            raise ValidationFailed(fields={"targets": "accept_after_finish"})
        rows.append(
            {
                "case_id": case.id,
                "target_kind": target.kind.value,
                "target_id": target.id,
                "target_name": name,
                "region_code": region,
                "state": AssignmentState.OFFERED.value,
                "level": case.level,
                "instructions": target.instructions,
                "offered_at": now,
                "accept_by": accept_by,
                "finish_by": finish_by,
                "accepted_at": None,
                "finished_at": None,
                "refused_reason": None,
                "outcome": None,
                "card": "none",
                "supervision": [],
                "created_by": actor.user_id or None,
                "version": 1,
            }
        )
        names.append(name)
    del loaded
    # The rows go in as one Core INSERT, not through the unit of work (whose flush of ten
    # objects cost more than the rest of the summon), and are then attached to the session
    # as persistent objects: every column is set, so reading one never loads it again, and a
    # later change to one in this transaction is flushed as usual. The outbox hook sees only
    # what the ORM flushes, so the new assignments are handed to it here. Pending ORM changes
    # (the case's triage step and its timeline event) are flushed first, so rows keep the
    # order in which they were made.
    session.flush()
    conn = session.connection()
    ids = _reserve_assignment_ids(session, len(rows))
    for row, new_id in zip(rows, ids, strict=False):
        row["id"] = new_id
    if not ids:
        # One row (or a dialect without reserved ids): the database hands out the key.
        for row in rows:
            row["id"] = int(
                conn.execute(insert(_ASSIGNMENTS).returning(_ASSIGNMENTS.c.id), row).scalar_one()
            )
    for row in rows:
        assignment = Assignment(**row)
        make_transient_to_detached(assignment)
        session.add(assignment)
        created.append(assignment)
    delivery.note_offered(session, created, case, members)
    case_summary = case_service.summary(case)
    events: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    for assignment, name in zip(created, names, strict=True):
        offered = summary(assignment)
        events.append(
            event_row(
                actor,
                case,
                "assignment_offered",
                {"assignment_id": assignment.id, "target": name},
                now,
            )
        )
        entries.append(
            audit_row(actor, "assignment.offer", "assignment", assignment.id, now, None, offered)
        )
        emit(
            session,
            channels.ASSIGNMENTS,
            {"type": "assignment_offered", "assignment": offered, "case": dict(case_summary)},
        )
    # The assignments (unless already inserted one by one above), their timeline events and
    # audit rows: one statement each on SQLite, one for all three on PostgreSQL. Added as ORM
    # objects, events and audit rows would each be their own INSERT ... RETURNING id on SQLite
    # (the ORM fetches every new primary key), i.e. 20 round trips for 10 targets. Nobody
    # reads those ids here.
    delivery.insert_all(
        conn, [(_ASSIGNMENTS, rows if ids else []), (_EVENTS, events), (_AUDIT, entries)]
    )
    return created


def _reserve_assignment_ids(session: Session, count: int) -> list[int]:
    """Ids for ``count`` new assignments, so that they insert as one plain batch.

    Without ids the ORM must read each new row's key back. SQLite cannot return the keys of a
    multi-row INSERT in a guaranteed order, so it inserted one row per statement (10 statements
    for 10 targets). A write that changes nothing first opens the write transaction: it takes
    SQLite's write lock (and the process's write gate), so no other writer can insert
    assignments until this transaction ends, and max(id) + 1 is free (it is what SQLite itself
    would choose).

    PostgreSQL could return the keys of one INSERT, but SQLAlchemy then renders a fresh
    multi-row ``INSERT ... VALUES (...), (...) RETURNING`` (≈6 KB of SQL for 10 targets) that
    psycopg re-parses on every call (too long for its statement cache): ≈1.5 ms of the web
    process per summon. Taking the ids from the column's own sequence in one small statement
    lets the rows go as an ``executemany`` of a short, prepared INSERT.
    """
    if count < 2:
        return []
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        return sorted(conn.scalars(_NEXT_ASSIGNMENT_IDS, {"n": count}).all())
    if conn.dialect.name != "sqlite":
        return []
    conn.exec_driver_sql("UPDATE assignments SET id = id WHERE 0")
    last = conn.scalar(select(func.max(_ASSIGNMENTS.c.id)))
    first = int(last or 0) + 1
    return list(range(first, first + count))


#: ``n`` fresh ids from the assignments' id sequence (PostgreSQL; whatever its name).
_NEXT_ASSIGNMENT_IDS = text(
    "SELECT nextval(pg_get_serial_sequence('assignments', 'id')) FROM generate_series(1, :n)"
)


def event_row(
    actor: Actor | None, case: Case, kind: str, data: dict[str, Any], at: datetime
) -> dict[str, Any]:
    """The ``case_events`` row :func:`case_service.add_event` would add, as plain values."""
    return {
        "case_id": case.id,
        "kind": kind,
        "at": at,
        "actor_id": actor.user_id if actor else None,
        "actor_name": actor.username if actor else "system",
        "data": data,
    }


def audit_row(
    actor: Actor | None,
    action: str,
    object_type: str,
    object_id: object,
    at: datetime,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> dict[str, Any]:
    """The ``audit`` row :func:`audit.record` would add, as plain values."""
    return {
        "at": at,
        "actor_id": actor.user_id if actor else None,
        "actor_name": actor.username if actor else "anonymous",
        "action": action,
        "object_type": object_type,
        "object_id": str(object_id),
        "before": before,
        "after": after,
    }


def addressed_to(assignment: Assignment, actor: Actor) -> bool:
    """Whether the assignment's target is the actor (or the actor's department or team)."""
    kind = TargetKind(assignment.target_kind)
    if kind is TargetKind.DEPARTMENT:
        return actor.department_id == assignment.target_id
    if kind is TargetKind.TEAM:
        return actor.team_id == assignment.target_id
    return actor.user_id == assignment.target_id


def _visible(stmt: Select[Any], actor: Actor) -> Select[Any]:
    """Assignments the actor may see: addressed to them, or on cases in their jurisdiction."""
    from sqlalchemy import and_, or_

    scoped_cases = case_service.scoped(select(Case.id), actor.scope)
    mine = []
    if actor.department_id:
        mine.append(
            and_(
                Assignment.target_kind == "department", Assignment.target_id == actor.department_id
            )
        )
    if actor.team_id:
        mine.append(and_(Assignment.target_kind == "team", Assignment.target_id == actor.team_id))
    mine.append(
        and_(
            Assignment.target_kind.in_(["mediator", "grid_worker"]),
            Assignment.target_id == actor.user_id,
        )
    )
    return stmt.where(or_(Assignment.case_id.in_(scoped_cases), *mine))


def get_assignment(
    session: Session, actor: Actor, assignment_id: int, lock: bool = False
) -> Assignment:
    stmt = _visible(select(Assignment).where(Assignment.id == assignment_id), actor)
    if lock:
        stmt = stmt.with_for_update()
    found = session.scalars(stmt).one_or_none()
    if found is None:
        raise NotFound(object="assignment", id=assignment_id)
    return found


def list_assignments(
    session: Session,
    actor: Actor,
    mine: bool = False,
    state: str | None = None,
    case_id: int | None = None,
    limit: int = 200,
) -> list[Assignment]:
    stmt = _visible(select(Assignment), actor)
    if state:
        stmt = stmt.where(Assignment.state == state)
    if case_id:
        stmt = stmt.where(Assignment.case_id == case_id)
    rows = session.scalars(stmt.order_by(Assignment.offered_at.desc()).limit(limit)).all()
    return [a for a in rows if addressed_to(a, actor)] if mine else list(rows)


def act(
    session: Session, deps: Deps, actor: Actor, assignment_id: int, payload: dict[str, Any]
) -> dict[str, Any]:
    """Apply a field action (accept, refuse, report, finish) or a centre cancel.

    With an ``idempotency_key`` a repeated request returns the first result and changes nothing.
    """
    data = parse(ActionIn, payload)
    if data.idempotency_key:
        receipt = session.get(ActionReceipt, data.idempotency_key)
        if receipt is not None and receipt.user_id == actor.user_id:
            return dict(receipt.result)
    assignment = get_assignment(session, actor, assignment_id, lock=True)
    action = AssignmentAction(data.action)
    if action is AssignmentAction.CANCEL:
        if actor.role not in DISPATCH_ROLES:
            raise Forbidden(action="cancel", role=actor.role.value)
    elif not addressed_to(assignment, actor):
        raise Forbidden(action=action.value, role=actor.role.value)
    step = apply_assignment(AssignmentState(assignment.state), action, data.model_dump())
    now = deps.now()
    before = summary(assignment)
    case = session.get(Case, assignment.case_id)
    assert case is not None
    assignment.state = step.after.value
    if action is AssignmentAction.ACCEPT:
        assignment.accepted_at = now
        assignment.card = "none"
        if CaseState(case.state) is CaseState.TRIAGE:
            case_service.apply_action(
                session, deps, actor, case, CaseAction.START_MEDIATION, {}, check_role=False
            )
    elif action is AssignmentAction.REFUSE:
        assignment.refused_reason = data.reason
        _back_to_triage(session, deps, actor, case, data.reason or "")
    elif action is AssignmentAction.REPORT:
        session.add(
            AssignmentReport(
                assignment_id=assignment.id,
                at=now,
                actor_id=actor.user_id,
                text=data.text or "",
                lat=data.lat,
                lon=data.lon,
                photos=data.photos,
            )
        )
    elif action is AssignmentAction.FINISH:
        assignment.finished_at = now
        assignment.outcome = data.outcome
        assignment.card = "none"
    assignment.version += 1
    event_data: dict[str, Any] = {"assignment_id": assignment.id, "target": assignment.target_name}
    for key in ("reason", "text", "outcome"):
        if getattr(data, key):
            event_data[key] = getattr(data, key)
    case_service.add_event(session, actor, case, f"assignment_{action.value}", event_data, now)
    audit.record(
        session,
        actor,
        f"assignment.{action.value}",
        "assignment",
        assignment.id,
        now,
        before,
        summary(assignment),
    )
    result = {"assignment": summary(assignment)}
    emit(
        session,
        channels.ASSIGNMENTS,
        {"type": f"assignment_{action.value}", **result, "case": case_service.summary(case)},
    )
    if data.idempotency_key:
        session.add(
            ActionReceipt(key=data.idempotency_key, user_id=actor.user_id, at=now, result=result)
        )
    return result


def _back_to_triage(session: Session, deps: Deps, actor: Actor, case: Case, reason: str) -> None:
    """A refusal hands the case back to the centre when nobody else is still working on it."""
    others_open = session.scalar(
        select(Assignment.id)
        .where(
            Assignment.case_id == case.id,
            Assignment.state.in_([s.value for s in OPEN_ASSIGNMENT_STATES]),
        )
        .limit(1)
    )
    if others_open is None and CaseState(case.state) is CaseState.MEDIATION:
        case_service.apply_action(
            session, deps, actor, case, CaseAction.RETURN, {"reason": reason}, check_role=False
        )


def board(session: Session, actor: Actor, case_id: int) -> list[dict[str, Any]]:
    """Who has reported (accepted) and who has not, for one case."""
    case_service.get_case(session, actor, case_id)
    rows = session.scalars(
        select(Assignment).where(Assignment.case_id == case_id).order_by(Assignment.id)
    ).all()
    return [summary(a) | {"reported": a.accepted_at is not None} for a in rows]
