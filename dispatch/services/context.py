"""Who is acting: the actor passed to every service call (role and jurisdiction checked there)."""

from __future__ import annotations

from dataclasses import dataclass

from dispatch.domain.codes import Role
from dispatch.domain.jurisdiction import Scope


@dataclass(frozen=True)
class Actor:
    """The authenticated user behind a call. Services never act without one.

    ``scope`` is the user's region and everything below it; ``department_id`` and ``team_id``
    say which assignments are addressed to them.
    """

    user_id: int
    username: str
    role: Role
    scope: Scope
    department_id: int | None = None
    team_id: int | None = None
    lang: str = "zh-CN"


#: The actor used by system jobs (supervision clock, simulator, CLI import): the whole city.
def system_actor(city_code: str, lang: str = "zh-CN") -> Actor:
    from dispatch.domain.codes import Level

    return Actor(
        user_id=0,
        username="system",
        role=Role.ADMIN,
        scope=Scope(Level.CITY, city_code),
        lang=lang,
    )
