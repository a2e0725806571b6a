"""The call state machine: transitions, conference legs, timeouts (property-based too)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.callstate import (
    FINISHED,
    RING_TIMEOUT,
    CallState,
    LegState,
    expire,
    hang_up,
    leg_event,
    new_call,
)
from streams.errors import Conflict

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_accept_then_hang_up() -> None:
    call = new_call("c", 1, "cmd", ["s1"], T0)
    assert call.state is CallState.RINGING
    call = leg_event(call, "s1", "accept", T0)
    assert call.state is CallState.ACTIVE
    call = leg_event(call, "s1", "hangup", T0 + timedelta(minutes=3))
    assert call.state is CallState.ENDED and call.ended_at is not None


def test_conference_stays_active_while_one_station_remains() -> None:
    call = new_call("c", 1, "cmd", ["s1", "s2", "s3"], T0)
    call = leg_event(call, "s1", "accept", T0)
    call = leg_event(call, "s2", "decline", T0)
    assert call.state is CallState.ACTIVE
    call = expire(call, T0 + RING_TIMEOUT)
    assert call.leg("s3").state is LegState.MISSED
    assert call.state is CallState.ACTIVE
    call = hang_up(call, T0 + timedelta(minutes=1))
    assert call.state is CallState.ENDED
    assert call.leg("s1").state is LegState.ENDED


@pytest.mark.parametrize(
    ("first", "second"), [("decline", "accept"), ("accept", "accept"), ("accept", "decline")]
)
def test_illegal_second_answers(first: str, second: str) -> None:
    call = new_call("c", 1, "cmd", ["s1", "s2"], T0)
    call = leg_event(call, "s1", first, T0)
    with pytest.raises(Conflict):
        leg_event(call, "s1", second, T0)


def test_bad_station_lists() -> None:
    with pytest.raises(Conflict):
        new_call("c", 1, "cmd", [], T0)
    with pytest.raises(Conflict):
        new_call("c", 1, "cmd", ["s1", "s1"], T0)
    with pytest.raises(Conflict):
        leg_event(new_call("c", 1, "cmd", ["s1"], T0), "s9", "accept", T0)


EVENTS = st.sampled_from(["accept", "decline", "timeout", "cancel", "hangup"])


# The machine is shared and often busy: generation speed is not what this test is about.
@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), EVENTS), max_size=12), st.booleans())
def test_any_sequence_keeps_the_invariants(steps: list[tuple[int, str]], end: bool) -> None:
    call = new_call("c", 1, "cmd", ["s0", "s1", "s2"], T0)
    for i, (leg, event) in enumerate(steps):
        try:
            call = leg_event(call, f"s{leg}", event, T0 + timedelta(seconds=i))
        except Conflict:
            continue
        # once a leg has finished it never comes back
        ended = call.state is CallState.ENDED
        assert ended == all(lg.state in FINISHED for lg in call.legs)
        assert (call.ended_at is not None) == ended
    if end:
        call = hang_up(call, T0 + timedelta(hours=1))
        assert call.state is CallState.ENDED
        assert all(lg.state in FINISHED for lg in call.legs)
        assert not call.recording
