"""The supervision clock (督办): accept and finish deadlines, yellow and red cards, escalation.

Deadlines come from reference data (per severity and level) and may be scaled down by an
emergency plan (wartime mode) through ``scale``. Every function takes ``now``; nothing reads the
wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from dispatch.domain.cases import level_above
from dispatch.domain.codes import Level, Severity


class Card(StrEnum):
    NONE = "none"
    YELLOW = "yellow"
    RED = "red"


@dataclass(frozen=True)
class DeadlineRule:
    """How long a target has to accept and to finish, at one severity and level."""

    accept: timedelta
    finish: timedelta


@dataclass(frozen=True)
class Deadlines:
    accept_by: datetime
    finish_by: datetime


#: Fraction of the allowed time after which a yellow card is shown (near the deadline).
YELLOW_AT = 0.8


def deadlines_for(
    rules: dict[tuple[Severity, Level], DeadlineRule],
    severity: Severity,
    level: Level,
    start: datetime,
    scale: float = 1.0,
) -> Deadlines:
    """Deadlines for an assignment or case that starts at ``start``.

    ``scale`` (0 < scale <= 1) shortens every deadline, as an emergency plan does.
    """
    if not 0 < scale <= 1:
        raise ValueError("scale must be in (0, 1]")
    rule = rules[(severity, level if level is not Level.GRID else Level.TOWNSHIP)]
    return Deadlines(accept_by=start + rule.accept * scale, finish_by=start + rule.finish * scale)


def card(start: datetime, deadline: datetime, now: datetime, done: bool = False) -> Card:
    """Yellow once ``YELLOW_AT`` of the allowed time has passed, red past the deadline."""
    if done:
        return Card.NONE
    if now >= deadline:
        return Card.RED
    allowed = (deadline - start).total_seconds()
    if allowed <= 0 or (now - start).total_seconds() >= YELLOW_AT * allowed:
        return Card.YELLOW
    return Card.NONE


class StepKind(StrEnum):
    RENOTIFY = "renotify"
    YELLOW_CARD = "yellow_card"
    RED_CARD = "red_card"
    ESCALATE = "escalate"


@dataclass(frozen=True)
class SupervisionStep:
    kind: StepKind
    clock: str  # "accept" or "finish"
    to_level: Level | None = None


@dataclass(frozen=True)
class ClockState:
    """What the clock already did for one assignment (so each step happens once)."""

    accepted: bool
    finished: bool
    start: datetime
    accept_by: datetime
    finish_by: datetime
    level: Level
    steps_done: frozenset[tuple[str, str]] = frozenset()  # (clock, step kind)


def due_steps(clock: ClockState, now: datetime) -> list[SupervisionStep]:
    """Steps the supervision clock must take now, each at most once per clock.

    Accept clock (nobody accepted): yellow card near the deadline with a re-notification, red
    card past it with a re-notification and escalation one level up. Finish clock (accepted,
    not finished): yellow near, red past, escalation past.
    """
    if clock.finished:
        return []
    name, deadline = ("finish", clock.finish_by) if clock.accepted else ("accept", clock.accept_by)
    colour = card(clock.start, deadline, now)
    wanted: list[SupervisionStep] = []
    if colour in (Card.YELLOW, Card.RED):
        wanted.append(SupervisionStep(StepKind.YELLOW_CARD, name))
        if name == "accept":
            wanted.append(SupervisionStep(StepKind.RENOTIFY, name))
    if colour is Card.RED:
        wanted.append(SupervisionStep(StepKind.RED_CARD, name))
        up = level_above(clock.level)
        if up is not None:
            wanted.append(SupervisionStep(StepKind.ESCALATE, name, to_level=up))
    return [s for s in wanted if (s.clock, s.kind.value) not in clock.steps_done]
