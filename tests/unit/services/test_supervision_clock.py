"""The supervision service's clock glue, without a database: steps once each, in order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from dispatch.db.models import Assignment
from dispatch.domain.supervision import Card, due_steps
from dispatch.services.supervision import _ORDER, _raise_card, clock_of

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


def assignment(state: str = "offered", accept_min: int = 10, finish_h: int = 4) -> Assignment:
    return Assignment(
        id=1,
        case_id=1,
        state=state,
        offered_at=T0,
        accept_by=T0 + timedelta(minutes=accept_min),
        finish_by=T0 + timedelta(hours=finish_h),
        supervision=[],
        card="none",
    )


def test_clock_of_reads_state_and_steps_taken() -> None:
    a = assignment("accepted")
    a.supervision = [["accept", "yellow_card"]]
    clock = clock_of(a, "township")
    assert clock.accepted and not clock.finished
    assert clock.steps_done == frozenset({("accept", "yellow_card")})
    assert clock_of(assignment("done"), "township").finished


def test_cards_only_go_up() -> None:
    assert _raise_card("none", Card.YELLOW) == "yellow"
    assert _raise_card("red", Card.YELLOW) == "red"
    assert _raise_card("yellow", Card.RED) == "red"


@given(st.lists(st.integers(min_value=0, max_value=60 * 24), min_size=1, max_size=30))
def test_any_sequence_of_ticks_takes_each_step_once(minutes: list[int]) -> None:
    """Ticks at arbitrary (even repeated or backwards) times never repeat a step."""
    a = assignment(accept_min=30)
    taken: list[tuple[str, str]] = []
    for m in minutes:
        steps = sorted(
            due_steps(clock_of(a, "township"), T0 + timedelta(minutes=m)),
            key=lambda s: _ORDER[s.kind],
        )
        for step in steps:
            taken.append((step.clock, step.kind.value))
            a.supervision = [*a.supervision, [step.clock, step.kind.value]]
    assert len(taken) == len(set(taken))
    kinds = [k for _, k in taken]
    if "escalate" in kinds:
        assert kinds.index("red_card") < kinds.index("escalate")
    if "red_card" in kinds and "yellow_card" in kinds:
        assert kinds.index("yellow_card") < kinds.index("red_card")
    if max(minutes) >= 30:
        assert {"renotify", "yellow_card", "red_card", "escalate"} <= set(kinds)
