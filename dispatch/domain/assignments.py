"""The assignment lifecycle: the centre calls (派单/吹哨), the target answers (接单/报到).

offered → accepted → (progress reports) → done; offered → refused (with reason: the case goes
back to triage); offered/accepted → cancelled by the centre. Several assignments may be open on
one case at once (中心吹哨、部门报到), each with its own deadlines.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from dispatch.domain.codes import Outcome
from dispatch.domain.errors import IllegalTransition, ValidationFailed


class TargetKind(StrEnum):
    DEPARTMENT = "department"
    TEAM = "team"
    MEDIATOR = "mediator"
    GRID_WORKER = "grid_worker"


class AssignmentState(StrEnum):
    OFFERED = "offered"
    ACCEPTED = "accepted"
    REFUSED = "refused"
    DONE = "done"
    CANCELLED = "cancelled"


class AssignmentAction(StrEnum):
    ACCEPT = "accept"
    REFUSE = "refuse"
    REPORT = "report"
    FINISH = "finish"
    CANCEL = "cancel"


OPEN_ASSIGNMENT_STATES = frozenset({AssignmentState.OFFERED, AssignmentState.ACCEPTED})

_S, _A = AssignmentState, AssignmentAction
#: state -> action -> next state. A report keeps the state.
ASSIGNMENT_TRANSITIONS: dict[AssignmentState, dict[AssignmentAction, AssignmentState]] = {
    _S.OFFERED: {_A.ACCEPT: _S.ACCEPTED, _A.REFUSE: _S.REFUSED, _A.CANCEL: _S.CANCELLED},
    _S.ACCEPTED: {_A.REPORT: _S.ACCEPTED, _A.FINISH: _S.DONE, _A.CANCEL: _S.CANCELLED},
    _S.REFUSED: {},
    _S.DONE: {},
    _S.CANCELLED: {},
}

#: Outcomes a field team may report when it finishes.
FINISH_OUTCOMES = frozenset({Outcome.SUCCESS, Outcome.FAILURE, Outcome.REFERRED})


@dataclass(frozen=True)
class AssignmentStep:
    action: AssignmentAction
    before: AssignmentState
    after: AssignmentState

    @property
    def sends_case_back_to_triage(self) -> bool:
        """A refusal (退单) hands the case back to the centre for another triage."""
        return self.action is AssignmentAction.REFUSE


def allowed_assignment_actions(state: AssignmentState) -> list[AssignmentAction]:
    return list(ASSIGNMENT_TRANSITIONS[state])


def apply_assignment(
    state: AssignmentState, action: AssignmentAction, params: Mapping[str, object] | None = None
) -> AssignmentStep:
    """Apply a field or centre action to an assignment in ``state``.

    Raises:
        IllegalTransition: the action is not allowed in this state.
        ValidationFailed: a refusal without a reason, a report without text, a finish without a
            valid outcome.
    """
    params = params or {}
    table = ASSIGNMENT_TRANSITIONS[state]
    if action not in table:
        raise IllegalTransition(
            state=state.value, action=action.value, allowed=[a.value for a in table]
        )
    problems: dict[str, str] = {}
    if action is AssignmentAction.REFUSE and not str(params.get("reason") or "").strip():
        problems["reason"] = "required"
    if action is AssignmentAction.REPORT and not str(params.get("text") or "").strip():
        problems["text"] = "required"
    if action is AssignmentAction.FINISH:
        outcome = params.get("outcome")
        if outcome not in {o.value for o in FINISH_OUTCOMES}:
            problems["outcome"] = "invalid_choice" if outcome else "required"
    if problems:
        raise ValidationFailed(fields=problems)
    return AssignmentStep(action=action, before=state, after=table[action])
