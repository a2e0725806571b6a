"""Collaborators every service needs, passed in (no globals): clock, rules, regions, secrets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dispatch.domain.codes import Level, Severity
from dispatch.domain.jurisdiction import RegionPath
from dispatch.domain.supervision import DeadlineRule


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Deps:
    """What services use besides the session and the actor.

    ``region_path`` resolves a region code to its chain of codes (and raises KeyError for an
    unknown code); ``deadline_scale`` is shortened by an emergency plan (wartime mode).
    """

    deadline_rules: dict[tuple[Severity, Level], DeadlineRule]
    region_path: Callable[[str], RegionPath]
    region_level: Callable[[str], Level]
    match_secret: bytes
    clock: Callable[[], datetime] = utc_now
    deadline_scale: float = 1.0
    extras: dict[str, object] = field(default_factory=dict)

    def now(self) -> datetime:
        return self.clock()
