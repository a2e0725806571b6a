"""The supervision clock in the loop (督办): re-notify, yellow and red cards, escalation.

``tick(session, deps, now)`` looks at every open assignment, asks the pure domain clock
(``dispatch.domain.supervision.due_steps``) which steps are due, and takes each one exactly once:
the steps taken are stored on the assignment (``supervision``: ``[clock, step]`` pairs) in the same
transaction, and rows are locked (PostgreSQL: ``FOR UPDATE SKIP LOCKED``) so two supervisors never
take the same step. Every step is a case timeline event, an audit row and a bus message the hall
and the commander see.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.db.models import Assignment, Case
from dispatch.domain.assignments import OPEN_ASSIGNMENT_STATES, AssignmentState
from dispatch.domain.codes import Level
from dispatch.domain.supervision import Card, ClockState, StepKind, SupervisionStep, due_steps
from dispatch.realtime import channels
from dispatch.services import assignments as assignment_service
from dispatch.services import audit, delivery
from dispatch.services import cases as case_service
from dispatch.services.deps import Deps
from dispatch.services.outbox import emit

logger = logging.getLogger(__name__)

#: Assignments looked at per query page: bounded memory however many are open.
PAGE = 500


@dataclass(frozen=True)
class TakenStep:
    """One supervision step taken on one assignment."""

    assignment_id: int
    case_id: int
    kind: str
    clock: str
    to_level: str | None = None


def clock_of(a: Assignment, case_level: str) -> ClockState:
    """The domain clock of an assignment (both deadlines run from the offer)."""
    return ClockState(
        accepted=a.state == AssignmentState.ACCEPTED.value,
        finished=a.state not in {s.value for s in OPEN_ASSIGNMENT_STATES},
        start=a.offered_at,
        accept_by=a.accept_by,
        finish_by=a.finish_by,
        level=Level(case_level),
        steps_done=frozenset((str(c), str(k)) for c, k in (a.supervision or [])),
    )


def _card_rank(value: str) -> int:
    return {Card.NONE.value: 0, Card.YELLOW.value: 1, Card.RED.value: 2}.get(value, 0)


def _raise_card(current: str, wanted: Card) -> str:
    return wanted.value if _card_rank(wanted.value) > _card_rank(current) else current


def _take(
    session: Session, deps: Deps, a: Assignment, case: Case, step: SupervisionStep, now: datetime
) -> TakenStep:
    before = assignment_service.summary(a)
    data: dict[str, Any] = {"assignment_id": a.id, "target": a.target_name, "clock": step.clock}
    if step.kind is StepKind.RENOTIFY:
        # Every member is reminded, not only those who never acknowledged: an acknowledgement
        # says the phone got the message, not that anyone acted on it.
        delivery.enqueue(session, a, "renotify", now)
        case_service.add_event(session, None, case, "supervision_renotify", data, now)
    elif step.kind in (StepKind.YELLOW_CARD, StepKind.RED_CARD):
        colour = Card.YELLOW if step.kind is StepKind.YELLOW_CARD else Card.RED
        a.card = _raise_card(a.card, colour)
        case_service.apply_system_change(
            session, deps, case, step.kind.value, {"card": _raise_card(case.card, colour)}, data
        )
    elif step.kind is StepKind.ESCALATE:
        assert step.to_level is not None
        data |= {"from_level": case.level, "to_level": step.to_level.value}
        case_service.apply_system_change(
            session,
            deps,
            case,
            "escalated",
            {"level": step.to_level.value, "escalations": case.escalations + 1},
            data,
        )
    # A new list, not an in-place append: the JSON column only notices reassignment.
    a.supervision = [*(a.supervision or []), [step.clock, step.kind.value]]
    a.version += 1
    audit.record(
        session,
        None,
        f"assignment.{step.kind.value}",
        "assignment",
        a.id,
        now,
        before,
        assignment_service.summary(a),
    )
    emit(
        session,
        channels.ASSIGNMENTS,
        {
            "type": "supervision",
            "step": step.kind.value,
            "clock": step.clock,
            "to_level": step.to_level.value if step.to_level else None,
            "assignment": assignment_service.summary(a),
            "case": case_service.summary(case),
        },
    )
    return TakenStep(a.id, a.case_id, step.kind.value, step.clock, data.get("to_level"))


#: The order steps are taken in within one tick: cards before escalation, reminders first.
_ORDER = {StepKind.RENOTIFY: 0, StepKind.YELLOW_CARD: 1, StepKind.RED_CARD: 2, StepKind.ESCALATE: 3}


def tick(session: Session, deps: Deps, now: datetime) -> list[TakenStep]:
    """Take every supervision step due at ``now``; returns the steps taken.

    ``now`` is also the time recorded on events and audit rows (services read ``deps.now()``,
    so they get a copy of ``deps`` whose clock says ``now``). Open assignments are scanned
    without locks; only those with a step due are locked, re-read and re-checked, so the clock
    never holds up a team accepting at the same moment.
    """
    fixed = dataclasses.replace(deps, clock=_const(now))
    taken: list[TakenStep] = []
    for assignment_id in due_ids(session, now):
        a = session.scalars(
            select(Assignment)
            .where(Assignment.id == assignment_id)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        ).one_or_none()
        case = session.get(Case, a.case_id) if a is not None else None
        if a is None or case is None:
            continue  # another supervisor holds it, or it is gone
        steps = sorted(due_steps(clock_of(a, case.level), now), key=lambda s: _ORDER[s.kind])
        for step in steps:
            taken.append(_take(session, fixed, a, case, step, now))
    session.flush()
    return taken


def due_ids(session: Session, now: datetime) -> list[int]:
    """Ids of open assignments with a supervision step due at ``now`` (no locks taken)."""
    open_states = [s.value for s in OPEN_ASSIGNMENT_STATES]
    found: list[int] = []
    after_id = 0
    while True:
        rows = session.execute(
            select(
                Assignment.id,
                Assignment.state,
                Assignment.offered_at,
                Assignment.accept_by,
                Assignment.finish_by,
                Assignment.supervision,
                Case.level,
            )
            .join(Case, Case.id == Assignment.case_id)
            .where(Assignment.state.in_(open_states), Assignment.id > after_id)
            .order_by(Assignment.id)
            .limit(PAGE)
        ).all()
        if not rows:
            return found
        after_id = rows[-1].id
        for row in rows:
            clock = ClockState(
                accepted=row.state == AssignmentState.ACCEPTED.value,
                finished=False,
                start=row.offered_at,
                accept_by=row.accept_by,
                finish_by=row.finish_by,
                level=Level(row.level),
                steps_done=frozenset((str(c), str(k)) for c, k in (row.supervision or [])),
            )
            if due_steps(clock, now):
                found.append(row.id)


def _const(now: datetime) -> Callable[[], datetime]:
    return lambda: now
