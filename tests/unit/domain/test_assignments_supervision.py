"""Assignment lifecycle and the supervision clock (cards, re-notify, escalation)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.domain.assignments import (
    ASSIGNMENT_TRANSITIONS,
    AssignmentAction,
    AssignmentState,
    apply_assignment,
)
from dispatch.domain.codes import Level, Severity
from dispatch.domain.errors import IllegalTransition, ValidationFailed
from dispatch.domain.supervision import (
    Card,
    ClockState,
    DeadlineRule,
    StepKind,
    card,
    deadlines_for,
    due_steps,
)

T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
GOOD = {"reason": "不属于本部门职责", "text": "已到现场", "outcome": "success"}


def test_refusal_needs_reason_and_sends_back_to_triage() -> None:
    with pytest.raises(ValidationFailed):
        apply_assignment(AssignmentState.OFFERED, AssignmentAction.REFUSE, {"reason": " "})
    step = apply_assignment(AssignmentState.OFFERED, AssignmentAction.REFUSE, GOOD)
    assert step.after is AssignmentState.REFUSED and step.sends_case_back_to_triage


def test_finish_needs_valid_outcome() -> None:
    with pytest.raises(ValidationFailed) as info:
        apply_assignment(AssignmentState.ACCEPTED, AssignmentAction.FINISH, {"outcome": "maybe"})
    assert info.value.params["fields"] == {"outcome": "invalid_choice"}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(list(AssignmentAction)), max_size=20))
def test_random_assignment_sequences(actions: list[AssignmentAction]) -> None:
    state = AssignmentState.OFFERED
    for action in actions:
        legal = action in ASSIGNMENT_TRANSITIONS[state]
        try:
            step = apply_assignment(state, action, GOOD)
        except IllegalTransition:
            assert not legal
            continue
        assert legal and step.before is state
        state = step.after
        assert state in AssignmentState


RULES = {
    (sev, lvl): DeadlineRule(accept=timedelta(minutes=30), finish=timedelta(days=10))
    for sev in Severity
    for lvl in (Level.CITY, Level.COUNTY, Level.TOWNSHIP)
}


def test_deadlines_scale_for_emergencies() -> None:
    normal = deadlines_for(RULES, Severity.MAJOR, Level.TOWNSHIP, T0)
    wartime = deadlines_for(RULES, Severity.MAJOR, Level.TOWNSHIP, T0, scale=0.5)
    assert normal.accept_by - T0 == timedelta(minutes=30)
    assert wartime.accept_by - T0 == timedelta(minutes=15)
    with pytest.raises(ValueError):
        deadlines_for(RULES, Severity.MAJOR, Level.TOWNSHIP, T0, scale=0)


@pytest.mark.parametrize(
    ("minutes", "expected"), [(0, Card.NONE), (23, Card.NONE), (24, Card.YELLOW), (30, Card.RED)]
)
def test_cards(minutes: int, expected: Card) -> None:
    assert card(T0, T0 + timedelta(minutes=30), T0 + timedelta(minutes=minutes)) is expected


def test_clock_steps_happen_once_and_escalate_one_level() -> None:
    clock = ClockState(
        accepted=False,
        finished=False,
        start=T0,
        accept_by=T0 + timedelta(minutes=30),
        finish_by=T0 + timedelta(days=10),
        level=Level.TOWNSHIP,
    )
    assert due_steps(clock, T0 + timedelta(minutes=10)) == []
    near = due_steps(clock, T0 + timedelta(minutes=25))
    assert [s.kind for s in near] == [StepKind.YELLOW_CARD, StepKind.RENOTIFY]
    done = frozenset((s.clock, s.kind.value) for s in near)
    late = due_steps(
        ClockState(**{**clock.__dict__, "steps_done": done}), T0 + timedelta(minutes=31)
    )
    assert [s.kind for s in late] == [StepKind.RED_CARD, StepKind.ESCALATE]
    assert late[-1].to_level is Level.COUNTY
    done |= frozenset((s.clock, s.kind.value) for s in late)
    assert (
        due_steps(ClockState(**{**clock.__dict__, "steps_done": done}), T0 + timedelta(hours=5))
        == []
    )


def test_city_cases_cannot_escalate_further() -> None:
    clock = ClockState(
        False, False, T0, T0 + timedelta(minutes=1), T0 + timedelta(days=1), Level.CITY
    )
    kinds = [s.kind for s in due_steps(clock, T0 + timedelta(minutes=2))]
    assert StepKind.RED_CARD in kinds and StepKind.ESCALATE not in kinds
