"""The case lifecycle (一体化操作流程) as a pure state machine.

intake → review (联席研判) → triage (分流督办) → mediation (联动化解及稳控) → agreement
(签订协议) → judicial_confirmation (司法确认) → performance (督促执行) → closed (办结)
→ visited (回访) → archived (归档), with the side paths of DOMAIN.md: not admissible
(rejected, with referral), returned to triage, failed (with referral), withdrawn, and the level
changes escalate (上报) and delegate (下派), which keep the state and move the level.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from dispatch.domain.codes import HANDLING_LEVELS, LEVEL_ORDER, Level, Outcome, Referral, Role
from dispatch.domain.errors import Forbidden, IllegalTransition, ValidationFailed


class CaseState(StrEnum):
    INTAKE = "intake"
    REVIEW = "review"
    TRIAGE = "triage"
    MEDIATION = "mediation"
    AGREEMENT = "agreement"
    JUDICIAL_CONFIRMATION = "judicial_confirmation"
    PERFORMANCE = "performance"
    CLOSED = "closed"
    VISITED = "visited"
    ARCHIVED = "archived"
    REJECTED = "rejected"


class CaseAction(StrEnum):
    START_REVIEW = "start_review"
    TRIAGE = "triage"
    REJECT = "reject"
    START_MEDIATION = "start_mediation"
    RETURN = "return"
    REACH_AGREEMENT = "reach_agreement"
    RESOLVE = "resolve"
    FAIL = "fail"
    WITHDRAW = "withdraw"
    REQUEST_CONFIRMATION = "request_confirmation"
    CONFIRM = "confirm"
    DENY_CONFIRMATION = "deny_confirmation"
    START_PERFORMANCE = "start_performance"
    COMPLETE = "complete"
    VISIT = "visit"
    ARCHIVE = "archive"
    ESCALATE = "escalate"
    DELEGATE = "delegate"


#: States in which the case is still being worked on (the "open" set of the KPIs).
OPEN_STATES = frozenset(
    {
        CaseState.INTAKE,
        CaseState.REVIEW,
        CaseState.TRIAGE,
        CaseState.MEDIATION,
        CaseState.AGREEMENT,
        CaseState.JUDICIAL_CONFIRMATION,
        CaseState.PERFORMANCE,
    }
)
#: States after the case ended; their outcome is fixed.
ENDED_STATES = frozenset(CaseState) - OPEN_STATES

#: Level changes are allowed while the case has not yet reached an agreement.
_LEVEL_CHANGE_STATES = frozenset(
    {CaseState.INTAKE, CaseState.REVIEW, CaseState.TRIAGE, CaseState.MEDIATION}
)


@dataclass(frozen=True)
class _Rule:
    target: CaseState | None  # None: the state stays (level changes)
    outcome: Outcome | None = None
    needs: tuple[str, ...] = ()  # parameters the action requires


_S, _A = CaseState, CaseAction
#: The transition table: state -> action -> rule. Anything absent is illegal.
TRANSITIONS: dict[CaseState, dict[CaseAction, _Rule]] = {
    _S.INTAKE: {
        _A.START_REVIEW: _Rule(_S.REVIEW),
        _A.TRIAGE: _Rule(_S.TRIAGE),
        _A.REJECT: _Rule(_S.REJECTED, Outcome.REFERRED, ("referral", "reason")),
        _A.WITHDRAW: _Rule(_S.CLOSED, Outcome.WITHDRAWN),
    },
    _S.REVIEW: {
        _A.TRIAGE: _Rule(_S.TRIAGE),
        _A.REJECT: _Rule(_S.REJECTED, Outcome.REFERRED, ("referral", "reason")),
        _A.WITHDRAW: _Rule(_S.CLOSED, Outcome.WITHDRAWN),
    },
    _S.TRIAGE: {
        _A.START_REVIEW: _Rule(_S.REVIEW),
        _A.START_MEDIATION: _Rule(_S.MEDIATION),
        _A.WITHDRAW: _Rule(_S.CLOSED, Outcome.WITHDRAWN),
    },
    _S.MEDIATION: {
        _A.RETURN: _Rule(_S.TRIAGE, None, ("reason",)),
        _A.REACH_AGREEMENT: _Rule(_S.AGREEMENT),
        _A.RESOLVE: _Rule(_S.CLOSED, Outcome.SUCCESS),
        _A.FAIL: _Rule(_S.CLOSED, Outcome.FAILURE, ("referral",)),
        _A.WITHDRAW: _Rule(_S.CLOSED, Outcome.WITHDRAWN),
    },
    _S.AGREEMENT: {
        _A.REQUEST_CONFIRMATION: _Rule(_S.JUDICIAL_CONFIRMATION),
        _A.START_PERFORMANCE: _Rule(_S.PERFORMANCE),
        _A.COMPLETE: _Rule(_S.CLOSED, Outcome.SUCCESS),
    },
    _S.JUDICIAL_CONFIRMATION: {
        _A.CONFIRM: _Rule(_S.PERFORMANCE),
        _A.DENY_CONFIRMATION: _Rule(_S.MEDIATION, None, ("reason",)),
    },
    _S.PERFORMANCE: {
        _A.COMPLETE: _Rule(_S.CLOSED, Outcome.SUCCESS),
        _A.FAIL: _Rule(_S.CLOSED, Outcome.FAILURE, ("referral",)),
    },
    _S.CLOSED: {
        _A.VISIT: _Rule(_S.VISITED, None, ("satisfaction",)),
        _A.ARCHIVE: _Rule(_S.ARCHIVED),
    },
    _S.VISITED: {_A.ARCHIVE: _Rule(_S.ARCHIVED)},
    _S.REJECTED: {_A.ARCHIVE: _Rule(_S.ARCHIVED)},
    _S.ARCHIVED: {},
}
for _state in _LEVEL_CHANGE_STATES:
    TRANSITIONS[_state][_A.ESCALATE] = _Rule(None)
    TRANSITIONS[_state][_A.DELEGATE] = _Rule(None)

_R = Role
_ALL_STAFF = frozenset({_R.DUTY_OFFICER, _R.COMMANDER, _R.MEDIATOR, _R.LEADER, _R.ADMIN})
#: Which roles may take each action. Analysts read only; grid workers and department staff act
#: through their assignments (the assignment lifecycle), not on the case directly.
ACTION_ROLES: dict[CaseAction, frozenset[Role]] = {
    _A.START_REVIEW: frozenset({_R.COMMANDER, _R.DUTY_OFFICER, _R.LEADER, _R.ADMIN}),
    _A.TRIAGE: frozenset({_R.COMMANDER, _R.DUTY_OFFICER, _R.LEADER, _R.ADMIN}),
    _A.REJECT: frozenset({_R.COMMANDER, _R.DUTY_OFFICER, _R.LEADER, _R.ADMIN}),
    _A.START_MEDIATION: _ALL_STAFF | {_R.DEPARTMENT_STAFF},
    _A.RETURN: _ALL_STAFF | {_R.DEPARTMENT_STAFF},
    _A.REACH_AGREEMENT: _ALL_STAFF,
    _A.RESOLVE: _ALL_STAFF | {_R.DEPARTMENT_STAFF},
    _A.FAIL: _ALL_STAFF,
    _A.WITHDRAW: _ALL_STAFF,
    _A.REQUEST_CONFIRMATION: _ALL_STAFF,
    _A.CONFIRM: _ALL_STAFF,
    _A.DENY_CONFIRMATION: _ALL_STAFF,
    _A.START_PERFORMANCE: _ALL_STAFF,
    _A.COMPLETE: _ALL_STAFF,
    _A.VISIT: _ALL_STAFF | {_R.GRID_WORKER},
    _A.ARCHIVE: frozenset({_R.COMMANDER, _R.DUTY_OFFICER, _R.LEADER, _R.ADMIN}),
    _A.ESCALATE: frozenset({_R.COMMANDER, _R.DUTY_OFFICER, _R.LEADER, _R.ADMIN, _R.MEDIATOR}),
    _A.DELEGATE: frozenset({_R.COMMANDER, _R.DUTY_OFFICER, _R.LEADER, _R.ADMIN}),
}


@dataclass(frozen=True)
class CaseView:
    """What the workflow needs to know about a case."""

    state: CaseState
    level: Level


@dataclass(frozen=True)
class Transition:
    """The result of applying an action: the new state, level and outcome, and the event."""

    action: CaseAction
    before: CaseView
    after: CaseView
    outcome: Outcome | None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ends_case(self) -> bool:
        return self.before.state in OPEN_STATES and self.after.state not in OPEN_STATES


def allowed_actions(state: CaseState, level: Level, role: Role | None = None) -> list[CaseAction]:
    """Actions legal in ``state`` at ``level``, filtered by ``role`` when given, in table order."""
    actions = []
    for action in TRANSITIONS[state]:
        if action is CaseAction.ESCALATE and level_above(level) is None:
            continue
        if action is CaseAction.DELEGATE and level_below(level) is None:
            continue
        if role is not None and role not in ACTION_ROLES[action]:
            continue
        actions.append(action)
    return actions


def level_above(level: Level) -> Level | None:
    """The next level up (township → county → city), or None at the top."""
    index = LEVEL_ORDER.index(level)
    return LEVEL_ORDER[index - 1] if index > 0 else None


def level_below(level: Level) -> Level | None:
    """The next handling level down, or None at the township."""
    index = LEVEL_ORDER.index(level)
    below = LEVEL_ORDER[index + 1] if index + 1 < len(LEVEL_ORDER) else None
    return below if below in HANDLING_LEVELS else None


def apply(
    case: CaseView,
    action: CaseAction,
    params: dict[str, Any] | None = None,
    role: Role | None = None,
) -> Transition:
    """Apply ``action`` to ``case``; raise instead of changing anything when it is not allowed.

    Raises:
        IllegalTransition: the state (or level) does not allow the action; the error names the
            current state and the allowed actions.
        Forbidden: ``role`` may not take this action.
        ValidationFailed: a required parameter (reason, referral, satisfaction) is missing or bad.
    """
    params = dict(params or {})
    legal = allowed_actions(case.state, case.level)
    if action not in legal:
        raise IllegalTransition(
            state=case.state.value, action=action.value, allowed=[a.value for a in legal]
        )
    if role is not None and role not in ACTION_ROLES[action]:
        raise Forbidden(action=action.value, role=role.value)
    rule = TRANSITIONS[case.state][action]
    _check_params(rule, params)
    level = case.level
    if action is CaseAction.ESCALATE:
        level = level_above(case.level) or case.level
    elif action is CaseAction.DELEGATE:
        level = level_below(case.level) or case.level
    after = CaseView(state=rule.target or case.state, level=level)
    details = {key: params[key] for key in rule.needs if key in params}
    for optional in ("note", "reason"):
        if optional in params and optional not in details and params[optional]:
            details[optional] = params[optional]
    return Transition(
        action=action, before=case, after=after, outcome=rule.outcome, details=details
    )


def _check_params(rule: _Rule, params: dict[str, Any]) -> None:
    problems: dict[str, str] = {}
    for key in rule.needs:
        value = params.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            problems[key] = "required"
        elif key == "referral" and value not in {r.value for r in Referral}:
            problems[key] = "invalid_choice"
        elif key == "satisfaction" and not (isinstance(value, int) and 1 <= value <= 5):
            problems[key] = "satisfaction_range"
    if problems:
        raise ValidationFailed(fields=problems)


def interchange_status(state: CaseState) -> str:
    """The coarse status of the import/export contract: received, in_progress or closed."""
    if state in (CaseState.INTAKE, CaseState.REVIEW, CaseState.TRIAGE):
        return "received"
    if state in OPEN_STATES:
        return "in_progress"
    return "closed"
