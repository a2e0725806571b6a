"""Case use cases: intake, read and list within jurisdiction, transitions, timeline, attachments."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from dispatch.db.models import Case, CaseAttachment, CaseEvent, Party
from dispatch.domain import cases as workflow
from dispatch.domain.cases import CaseAction, CaseState, CaseView
from dispatch.domain.codes import Level, Role, Severity
from dispatch.domain.errors import Conflict, Forbidden, NotFound, ValidationFailed
from dispatch.domain.identity import mask_id, mask_name, mask_phone, match_key
from dispatch.domain.jurisdiction import Scope
from dispatch.domain.kpi import LOCAL_TZ, delta
from dispatch.domain.supervision import deadlines_for
from dispatch.realtime import channels
from dispatch.services import audit
from dispatch.services.context import Actor
from dispatch.services.deps import Deps
from dispatch.services.outbox import emit
from dispatch.services.rollups import apply_delta, facts_of, parents_for
from dispatch.services.validation import CaseIn, TransitionIn, parse

#: Roles that may register new cases.
INTAKE_ROLES = frozenset(
    {Role.DUTY_OFFICER, Role.COMMANDER, Role.MEDIATOR, Role.LEADER, Role.ADMIN, Role.GRID_WORKER}
)


def scoped(stmt: Select[Any], scope: Scope) -> Select[Any]:
    """The one scoping function: restrict a case query to ``scope`` and below."""
    return stmt.where(getattr(Case, scope.column) == scope.code)


#: Local date text per UTC hour: formatting dates costs more than the rest of an imported row.
_LOCAL_DATE_TEXT: dict[tuple[int, int, int, int], str] = {}


def case_code(case_id: int, received_at: datetime) -> str:
    """The human case code: local date + a scrambled id, e.g. ``20261129-3F1A9C2``.

    Unique by construction (a bijection of the id) and not guessable in sequence like the bare
    id. Intake and import both use it, so codes never collide.
    """
    utc = received_at if received_at.tzinfo is UTC else received_at.astimezone(UTC)
    hour = (utc.year, utc.month, utc.day, utc.hour)
    day = _LOCAL_DATE_TEXT.get(hour)
    if day is None:
        # strftime costs more than the rest of the row; each local hour is formatted once.
        day = _LOCAL_DATE_TEXT[hour] = f"{utc.astimezone(LOCAL_TZ):%Y%m%d}"
        if len(_LOCAL_DATE_TEXT) > 100_000:
            _LOCAL_DATE_TEXT.clear()
    if case_id < 1 << 28:
        # Multiplying by an odd constant modulo 2**28 is a bijection on 28-bit ids.
        return f"{day}-{((case_id * 0x9E3779B) ^ 0x5A5A5A5) & 0xFFFFFFF:07X}"
    return f"{day}-{case_id:08X}"


def snapshot(case: Case) -> dict[str, Any]:
    """The audited state of a case (no personal data)."""
    return {
        "state": case.state,
        "level": case.level,
        "outcome": case.outcome,
        "referral": case.referral,
        "severity": case.severity,
        "finish_by": case.finish_by.isoformat() if case.finish_by else None,
        "closed_at": case.closed_at.isoformat() if case.closed_at else None,
        "card": case.card,
        "version": case.version,
    }


def add_event(
    session: Session, actor: Actor | None, case: Case, kind: str, data: dict[str, Any], at: datetime
) -> CaseEvent:
    event = CaseEvent(
        case_id=case.id,
        kind=kind,
        at=at,
        actor_id=actor.user_id if actor else None,
        actor_name=actor.username if actor else "system",
        data=data,
    )
    session.add(event)
    return event


def create_case(session: Session, deps: Deps, actor: Actor, payload: dict[str, Any]) -> Case:
    """Register a case at intake; route it to review or triage when asked.

    Raises ValidationFailed (bad fields, unknown region), NotFound (region outside the actor's
    jurisdiction: no existence leak), Forbidden (role may not register cases).
    """
    if actor.role not in INTAKE_ROLES:
        raise Forbidden(action="create_case", role=actor.role.value)
    data = parse(CaseIn, payload)
    try:
        path = deps.region_path(data.region_code)
    except KeyError as err:
        raise ValidationFailed(fields={"region_code": "unknown_region"}) from err
    if not actor.scope.covers(path) or path.township is None:
        if not actor.scope.covers(path):
            raise NotFound(object="region", id=data.region_code)
        raise ValidationFailed(fields={"region_code": "needs_township"})
    if data.external_id and session.scalar(
        select(Case.id).where(Case.external_id == data.external_id)
    ):
        raise Conflict("duplicate_external_id", external_id=data.external_id)
    now = deps.now()
    received_at = data.received_at or now
    level = Level(data.level) if data.level else _default_level(actor)
    deadlines = deadlines_for(
        deps.deadline_rules, data.severity, level, received_at, deps.deadline_scale
    )
    assert path.county is not None
    case = Case(
        # Placeholder until the id is known (unique, replaced before the transaction ends).
        code=secrets.token_hex(16),
        external_id=data.external_id,
        title=data.title,
        description=data.description,
        category=data.category.value,
        source=data.source.value,
        severity=data.severity.value,
        state=CaseState.INTAKE.value,
        level=level.value,
        city_code=path.city,
        county_code=path.county,
        township_code=path.township,
        grid_code=path.grid,
        address=data.address,
        lat=data.lat,
        lon=data.lon,
        people_involved=data.people_involved,
        amount=data.amount,
        online=data.online,
        received_at=received_at,
        finish_by=deadlines.finish_by,
        created_by=actor.user_id or None,
        updated_at=now,
        version=1,
    )
    for party in data.parties:
        case.parties.append(
            Party(
                name=party.name,
                role=party.role,
                id_number=party.id_number,
                phone=party.phone,
                id_key=match_key(deps.match_secret, party.id_number) if party.id_number else None,
                phone_key=match_key(deps.match_secret, party.phone) if party.phone else None,
            )
        )
    session.add(case)
    session.flush()
    case.code = case_code(case.id, received_at)
    add_event(session, actor, case, "created", {"source": case.source, "level": case.level}, now)
    audit.record(session, actor, "case.create", "case", case.id, now, None, snapshot(case))
    apply_delta(session, delta(None, facts_of(case)), parents_for(case))
    emit(session, channels.CASES, {"type": "case_created", "case": summary(case)})
    emit(session, channels.KPI, {"township_code": case.township_code})
    if data.route_to:
        action = CaseAction.START_REVIEW if data.route_to == "review" else CaseAction.TRIAGE
        apply_action(session, deps, actor, case, action, {})
    return case


def _default_level(actor: Actor) -> Level:
    """Cases are handled where they are taken in: a city clerk's intake stays at the city."""
    return actor.scope.level if actor.scope.level is not Level.GRID else Level.TOWNSHIP


def get_case(session: Session, actor: Actor, case_id: int, lock: bool = False) -> Case:
    """A case within the actor's jurisdiction, or NotFound (also for other areas' cases)."""
    stmt = scoped(select(Case).where(Case.id == case_id), actor.scope)
    if lock:
        stmt = stmt.with_for_update()
    case = session.scalars(stmt).one_or_none()
    if case is None:
        raise NotFound(object="case", id=case_id)
    return case


@dataclass(frozen=True)
class CaseFilter:
    state: list[str] | None = None
    status: str | None = None  # received | in_progress | closed (interchange status)
    category: str | None = None
    severity: str | None = None
    source: str | None = None
    region: str | None = None
    card: str | None = None
    q: str | None = None
    received_from: datetime | None = None
    received_to: datetime | None = None


_STATUS_STATES = {
    "received": [CaseState.INTAKE, CaseState.REVIEW, CaseState.TRIAGE],
    "in_progress": [
        CaseState.MEDIATION,
        CaseState.AGREEMENT,
        CaseState.JUDICIAL_CONFIRMATION,
        CaseState.PERFORMANCE,
    ],
    "closed": [CaseState.CLOSED, CaseState.VISITED, CaseState.ARCHIVED, CaseState.REJECTED],
}


def list_cases(
    session: Session,
    actor: Actor,
    flt: CaseFilter,
    page: int = 1,
    per_page: int = 50,
    region_scope: Scope | None = None,
) -> tuple[list[Case], int]:
    """Cases in the actor's jurisdiction matching ``flt``, newest first, with the total count."""
    stmt = scoped(select(Case), actor.scope)
    if region_scope is not None:
        stmt = scoped(stmt, region_scope)
    if flt.state:
        stmt = stmt.where(Case.state.in_(flt.state))
    if flt.status:
        stmt = stmt.where(Case.state.in_([s.value for s in _STATUS_STATES[flt.status]]))
    for column, value in (
        (Case.category, flt.category),
        (Case.severity, flt.severity),
        (Case.source, flt.source),
        (Case.card, flt.card),
    ):
        if value:
            stmt = stmt.where(column == value)
    if flt.q:
        like = f"%{flt.q}%"
        stmt = stmt.where(or_(Case.title.like(like), Case.code.like(like), Case.address.like(like)))
    if flt.received_from:
        stmt = stmt.where(Case.received_at >= flt.received_from)
    if flt.received_to:
        stmt = stmt.where(Case.received_at < flt.received_to)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = session.scalars(
        stmt.order_by(Case.received_at.desc(), Case.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return list(rows), int(total)


def transition(
    session: Session, deps: Deps, actor: Actor, case_id: int, payload: dict[str, Any]
) -> Case:
    """Apply a workflow action to a case (role, jurisdiction and state checked)."""
    data = parse(TransitionIn, payload)
    try:
        action = CaseAction(data.action)
    except ValueError as err:
        raise ValidationFailed(fields={"action": "invalid_choice"}) from err
    case = get_case(session, actor, case_id, lock=True)
    if data.expected_version is not None and data.expected_version != case.version:
        raise Conflict("stale_version", current=case.version, expected=data.expected_version)
    params = data.model_dump(exclude={"action", "expected_version"}, exclude_none=True)
    apply_action(session, deps, actor, case, action, params)
    return case


def apply_action(
    session: Session,
    deps: Deps,
    actor: Actor,
    case: Case,
    action: CaseAction,
    params: dict[str, Any],
    check_role: bool = True,
) -> None:
    """Apply ``action``; ``check_role`` False for steps that follow from another permitted act
    (a grid worker's acceptance moves the case into mediation)."""
    step = workflow.apply(
        CaseView(CaseState(case.state), Level(case.level)),
        action,
        params,
        role=actor.role if check_role else None,
    )
    now = deps.now()
    before = snapshot(case)
    facts_before = facts_of(case)
    case.state = step.after.state.value
    if step.after.level != step.before.level:
        case.level = step.after.level.value
        if action is CaseAction.ESCALATE:
            case.escalations += 1
    if step.ends_case:
        case.outcome = step.outcome.value if step.outcome else None
        case.closed_at = now
        case.card = "none"
    if "referral" in params:
        case.referral = params["referral"]
    case.updated_at = now
    case.version += 1
    add_event(
        session,
        actor,
        case,
        action.value,
        {"from": before["state"], "to": case.state, **step.details},
        now,
    )
    audit.record(
        session, actor, f"case.{action.value}", "case", case.id, now, before, snapshot(case)
    )
    apply_delta(session, delta(facts_before, facts_of(case)), parents_for(case))
    emit(
        session,
        channels.CASES,
        {"type": "case_changed", "action": action.value, "case": summary(case)},
    )
    emit(session, channels.KPI, {"township_code": case.township_code})


def apply_system_change(
    session: Session,
    deps: Deps,
    case: Case,
    kind: str,
    changes: dict[str, Any],
    data: dict[str, Any],
) -> None:
    """A change made by the supervision clock (card, escalation), recorded like any other."""
    now = deps.now()
    before = snapshot(case)
    for key, value in changes.items():
        setattr(case, key, value)
    case.updated_at = now
    case.version += 1
    add_event(session, None, case, kind, data, now)
    audit.record(session, None, f"case.{kind}", "case", case.id, now, before, snapshot(case))
    emit(session, channels.CASES, {"type": "case_changed", "action": kind, "case": summary(case)})


def summary(case: Case) -> dict[str, Any]:
    """The public, masked summary of a case (lists, the hall, bus events)."""
    return {
        "id": case.id,
        "code": case.code,
        "external_id": case.external_id,
        "title": case.title,
        "category": case.category,
        "source": case.source,
        "severity": case.severity,
        "state": case.state,
        "status": workflow.interchange_status(CaseState(case.state)),
        "level": case.level,
        "outcome": case.outcome,
        "city_code": case.city_code,
        "county_code": case.county_code,
        "township_code": case.township_code,
        "grid_code": case.grid_code,
        "lat": case.lat,
        "lon": case.lon,
        "online": case.online,
        "people_involved": case.people_involved,
        "received_at": case.received_at.isoformat(),
        "finish_by": case.finish_by.isoformat() if case.finish_by else None,
        "closed_at": case.closed_at.isoformat() if case.closed_at else None,
        "card": case.card,
        "escalations": case.escalations,
        "version": case.version,
    }


def detail(
    session: Session, actor: Actor, case: Case, unmasked_at: datetime | None = None
) -> dict[str, Any]:
    """Everything a case card shows: masked parties, timeline, attachments, allowed actions.

    With ``unmasked_at`` (the time of the request) raw identifiers are shown; callers check the
    permission, and the unmasking is audited here at that time.
    """
    unmask = unmasked_at is not None
    parties = session.scalars(
        select(Party).where(Party.case_id == case.id).order_by(Party.id)
    ).all()
    events = session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.at, CaseEvent.id)
    ).all()
    attachments = session.scalars(
        select(CaseAttachment).where(CaseAttachment.case_id == case.id).order_by(CaseAttachment.id)
    ).all()
    if unmasked_at is not None:
        audit.record(session, actor, "case.unmask", "case", case.id, unmasked_at)
    out = summary(case)
    out.update(
        description=case.description,
        address=case.address,
        amount=str(case.amount) if case.amount is not None else None,
        referral=case.referral,
        parties=[
            {
                "name": p.name if unmask else mask_name(p.name),
                "role": p.role,
                "id_number": p.id_number if unmask else mask_id(p.id_number),
                "phone": p.phone if unmask else mask_phone(p.phone),
            }
            for p in parties
        ],
        timeline=[
            {"kind": e.kind, "at": e.at.isoformat(), "actor": e.actor_name, "data": e.data}
            for e in events
        ],
        attachments=[
            {
                "id": a.id,
                "kind": a.kind,
                "mime": a.mime,
                "created_at": a.created_at.isoformat(),
                "meta": a.meta,
            }
            for a in attachments
        ],
        allowed_actions=[
            a.value
            for a in workflow.allowed_actions(CaseState(case.state), Level(case.level), actor.role)
        ],
    )
    return out


def add_timeline_event(
    session: Session, deps: Deps, actor: Actor, case_id: int, kind: str, data: dict[str, Any]
) -> CaseEvent:
    """Record something that happened about a case (a video call, a snapshot) on its timeline."""
    case = get_case(session, actor, case_id)
    event = add_event(session, actor, case, kind, data, deps.now())
    emit(session, channels.CASES, {"type": "case_event", "kind": kind, "case": summary(case)})
    return event


def add_attachment(
    session: Session,
    deps: Deps,
    actor: Actor,
    case_id: int,
    kind: str,
    path: str,
    mime: str,
    meta: dict[str, Any],
) -> CaseAttachment:
    """Attach a file (snapshot, recording, photo) to a case, with a timeline line and audit."""
    if kind not in {"snapshot", "recording", "photo", "document"}:
        raise ValidationFailed(fields={"kind": "invalid_choice"})
    case = get_case(session, actor, case_id)
    now = deps.now()
    attachment = CaseAttachment(
        case_id=case.id,
        kind=kind,
        path=path,
        mime=mime,
        created_at=now,
        created_by=actor.user_id,
        meta=meta,
    )
    session.add(attachment)
    session.flush()
    add_event(
        session, actor, case, f"attachment_{kind}", {"attachment_id": attachment.id, **meta}, now
    )
    audit.record(
        session,
        actor,
        "case.attach",
        "case",
        case.id,
        now,
        None,
        {"attachment": attachment.id, "kind": kind},
    )
    return attachment


def related_cases(
    session: Session,
    deps: Deps,
    actor: Actor,
    id_numbers: list[str],
    phones: list[str],
    township_code: str | None,
    address: str | None,
    days: int = 180,
) -> list[dict[str, Any]]:
    """Open or recent cases of the same parties or place (repeat and duplicate detection)."""
    since = deps.now() - timedelta(days=days)
    keys_id = [match_key(deps.match_secret, v) for v in id_numbers if v]
    keys_phone = [match_key(deps.match_secret, v) for v in phones if v]
    conditions: list[ColumnElement[bool]] = []
    if keys_id:
        conditions.append(Case.id.in_(select(Party.case_id).where(Party.id_key.in_(keys_id))))
    if keys_phone:
        conditions.append(Case.id.in_(select(Party.case_id).where(Party.phone_key.in_(keys_phone))))
    if township_code and address and len(address) >= 4:
        conditions.append((Case.township_code == township_code) & (Case.address == address))
    if not conditions:
        return []
    stmt = scoped(select(Case), actor.scope).where(
        or_(*conditions),
        or_(Case.state.in_([s.value for s in workflow.OPEN_STATES]), Case.received_at >= since),
    )
    rows = session.scalars(stmt.order_by(Case.received_at.desc()).limit(20)).all()
    return [summary(c) for c in rows]


def severity_rank(value: str) -> int:
    return list(Severity).index(Severity(value))
