"""The case lifecycle state machine: table-driven and property-based tests."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.domain.cases import (
    ACTION_ROLES,
    OPEN_STATES,
    TRANSITIONS,
    CaseAction,
    CaseState,
    CaseView,
    allowed_actions,
    apply,
    interchange_status,
    level_above,
    level_below,
)
from dispatch.domain.codes import Level, Outcome, Role
from dispatch.domain.errors import Forbidden, IllegalTransition, ValidationFailed

PARAMS = {"reason": "当事人不符合受理条件", "referral": "court", "satisfaction": 5}


def test_happy_path_to_archive() -> None:
    case = CaseView(CaseState.INTAKE, Level.TOWNSHIP)
    path = [
        CaseAction.START_REVIEW,
        CaseAction.TRIAGE,
        CaseAction.START_MEDIATION,
        CaseAction.REACH_AGREEMENT,
        CaseAction.REQUEST_CONFIRMATION,
        CaseAction.CONFIRM,
        CaseAction.COMPLETE,
        CaseAction.VISIT,
        CaseAction.ARCHIVE,
    ]
    outcomes = []
    for action in path:
        step = apply(case, action, PARAMS)
        outcomes.append(step.outcome)
        case = step.after
    assert case.state is CaseState.ARCHIVED
    assert Outcome.SUCCESS in outcomes


def test_illegal_transition_names_state_and_allowed_actions() -> None:
    with pytest.raises(IllegalTransition) as info:
        apply(CaseView(CaseState.INTAKE, Level.TOWNSHIP), CaseAction.COMPLETE)
    assert info.value.params["state"] == "intake"
    assert "start_review" in info.value.params["allowed"]
    assert "complete" not in info.value.params["allowed"]


def test_reject_needs_referral_and_reason() -> None:
    with pytest.raises(ValidationFailed) as info:
        apply(
            CaseView(CaseState.INTAKE, Level.TOWNSHIP), CaseAction.REJECT, {"referral": "nowhere"}
        )
    assert info.value.params["fields"] == {"referral": "invalid_choice", "reason": "required"}


def test_failed_mediation_is_referred_and_counts_as_failure() -> None:
    step = apply(
        CaseView(CaseState.MEDIATION, Level.COUNTY), CaseAction.FAIL, {"referral": "litigation"}
    )
    assert step.after.state is CaseState.CLOSED
    assert step.outcome is Outcome.FAILURE
    assert step.details["referral"] == "litigation"


@pytest.mark.parametrize(
    ("level", "up", "down"),
    [
        (Level.TOWNSHIP, Level.COUNTY, None),
        (Level.COUNTY, Level.CITY, Level.TOWNSHIP),
        (Level.CITY, None, Level.COUNTY),
    ],
)
def test_level_ladder(level: Level, up: Level | None, down: Level | None) -> None:
    assert level_above(level) is up
    assert level_below(level) is down
    actions = allowed_actions(CaseState.TRIAGE, level)
    assert (CaseAction.ESCALATE in actions) is (up is not None)
    assert (CaseAction.DELEGATE in actions) is (down is not None)


def test_escalate_keeps_state_and_moves_level() -> None:
    step = apply(CaseView(CaseState.MEDIATION, Level.TOWNSHIP), CaseAction.ESCALATE)
    assert step.after == CaseView(CaseState.MEDIATION, Level.COUNTY)


def test_role_is_checked() -> None:
    with pytest.raises(Forbidden):
        apply(CaseView(CaseState.INTAKE, Level.TOWNSHIP), CaseAction.TRIAGE, role=Role.ANALYST)
    assert allowed_actions(CaseState.INTAKE, Level.TOWNSHIP, Role.ANALYST) == []


def test_every_action_has_roles_and_every_state_a_row() -> None:
    assert set(ACTION_ROLES) == set(CaseAction)
    assert set(TRANSITIONS) == set(CaseState)


@pytest.mark.parametrize("state", list(CaseState))
def test_interchange_status_is_defined(state: CaseState) -> None:
    expected = "closed" if state not in OPEN_STATES else interchange_status(state)
    assert interchange_status(state) in {"received", "in_progress", "closed"}
    assert interchange_status(state) == expected


@settings(max_examples=300, deadline=None)
@given(
    actions=st.lists(st.sampled_from(list(CaseAction)), max_size=30),
    start_level=st.sampled_from([Level.CITY, Level.COUNTY, Level.TOWNSHIP]),
    role=st.none() | st.sampled_from(list(Role)),
)
def test_random_sequences_never_reach_an_undefined_state(
    actions: list[CaseAction], start_level: Level, role: Role | None
) -> None:
    case = CaseView(CaseState.INTAKE, start_level)
    ended = False
    for action in actions:
        legal = action in allowed_actions(case.state, case.level, role)
        try:
            step = apply(case, action, PARAMS, role=role)
        except (IllegalTransition, Forbidden):
            assert not legal
            continue
        assert legal
        assert step.after.state in CaseState
        assert step.after.level in (Level.CITY, Level.COUNTY, Level.TOWNSHIP)
        if ended:
            # once a case has ended it never becomes open again
            assert step.after.state not in OPEN_STATES
        if step.ends_case:
            assert step.outcome is not None
            ended = True
        case = step.after
