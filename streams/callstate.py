"""The video call state machine: pure values and transitions, no I/O.

A call is a commander and one or more township stations (a conference when several). Each
station is a leg: ringing -> accepted | declined | missed | cancelled; accepted -> ended.
The call is ringing while no leg has been accepted, active while one is, ended when the
commander hangs up or every leg has finished.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from streams.errors import Conflict


class LegState(StrEnum):
    RINGING = "ringing"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    MISSED = "missed"
    CANCELLED = "cancelled"
    ENDED = "ended"


class CallState(StrEnum):
    RINGING = "ringing"
    ACTIVE = "active"
    ENDED = "ended"


FINISHED = frozenset({LegState.DECLINED, LegState.MISSED, LegState.CANCELLED, LegState.ENDED})
#: A ring not answered in this time is missed.
RING_TIMEOUT = timedelta(seconds=45)

_ALLOWED: dict[tuple[LegState, str], LegState] = {
    (LegState.RINGING, "accept"): LegState.ACCEPTED,
    (LegState.RINGING, "decline"): LegState.DECLINED,
    (LegState.RINGING, "timeout"): LegState.MISSED,
    (LegState.RINGING, "cancel"): LegState.CANCELLED,
    (LegState.ACCEPTED, "hangup"): LegState.ENDED,
    (LegState.ACCEPTED, "cancel"): LegState.ENDED,
}


@dataclass(frozen=True)
class Leg:
    station_id: str
    state: LegState = LegState.RINGING
    changed_at: datetime | None = None


@dataclass(frozen=True)
class Call:
    id: str
    commander_id: int
    commander_name: str
    started_at: datetime
    legs: tuple[Leg, ...]
    case_id: int | None = None
    ended_at: datetime | None = None
    recording: bool = False
    hung_up: bool = field(default=False)

    @property
    def state(self) -> CallState:
        if self.hung_up or all(leg.state in FINISHED for leg in self.legs):
            return CallState.ENDED
        if any(leg.state is LegState.ACCEPTED for leg in self.legs):
            return CallState.ACTIVE
        return CallState.RINGING

    def leg(self, station_id: str) -> Leg:
        for leg in self.legs:
            if leg.station_id == station_id:
                return leg
        raise Conflict(f"station {station_id!r} is not in this call", station_id=station_id)

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "state": self.state.value,
            "commander_id": self.commander_id,
            "commander_name": self.commander_name,
            "case_id": self.case_id,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "recording": self.recording,
            "legs": [{"station_id": leg.station_id, "state": leg.state.value} for leg in self.legs],
        }


def new_call(
    call_id: str,
    commander_id: int,
    commander_name: str,
    stations: list[str],
    now: datetime,
    case_id: int | None = None,
) -> Call:
    if not stations:
        raise Conflict("a call needs at least one station")
    if len(set(stations)) != len(stations):
        raise Conflict("a station is listed twice")
    legs = tuple(Leg(s, LegState.RINGING, now) for s in stations)
    return Call(call_id, commander_id, commander_name, now, legs, case_id)


def _finish(call: Call, now: datetime) -> Call:
    if call.state is CallState.ENDED and call.ended_at is None:
        return replace(call, ended_at=now, recording=False)
    return call


def leg_event(call: Call, station_id: str, event: str, now: datetime) -> Call:
    """Apply ``event`` (accept, decline, timeout, cancel, hangup) to one station's leg."""
    if call.state is CallState.ENDED:
        raise Conflict("the call has ended", call_id=call.id)
    leg = call.leg(station_id)
    target = _ALLOWED.get((leg.state, event))
    if target is None:
        raise Conflict(f"cannot {event} a leg that is {leg.state.value}", state=leg.state.value)
    legs = tuple(
        replace(lg, state=target, changed_at=now) if lg.station_id == station_id else lg
        for lg in call.legs
    )
    return _finish(replace(call, legs=legs), now)


def hang_up(call: Call, now: datetime) -> Call:
    """The commander ends the call for everyone."""
    if call.state is CallState.ENDED:
        return call
    legs = tuple(
        replace(lg, state=_ALLOWED.get((lg.state, "cancel"), lg.state), changed_at=now)
        for lg in call.legs
    )
    return _finish(replace(call, legs=legs, hung_up=True), now)


def expire(call: Call, now: datetime, timeout: timedelta = RING_TIMEOUT) -> Call:
    """Mark legs ringing longer than ``timeout`` as missed."""
    out = call
    for leg in call.legs:
        if (
            leg.state is LegState.RINGING
            and leg.changed_at is not None
            and now - leg.changed_at >= timeout
            and out.state is not CallState.ENDED
        ):
            out = leg_event(out, leg.station_id, "timeout", now)
    return out
