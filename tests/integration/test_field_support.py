"""Shared helpers for the field dispatcher tests: a small world of people, teams and one case.

Kept in a ``test_field*`` module so the dispatcher's tests own it; it holds no tests itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from console.auth import issue_token
from console.runtime import Runtime
from dispatch.db.models import Department, Region, Team, User
from dispatch.services import assignments, cases, users
from dispatch.services.context import Actor
from dispatch.services.users import actor_for

PASSWORD = "field-pass-123"


@dataclass
class World:
    """Ids and tokens of the seeded people; ``case_ids`` are cases ready for triage."""

    runtime: Runtime
    commander: Actor
    department_id: int
    team_id: int
    ids: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    case_ids: list[int] = field(default_factory=list)

    def new_case(self, title: str = "邻里噪音纠纷", level: str = "township") -> int:
        township = next(r for r in self.runtime.regions if r.level.value == "township")
        with self.runtime.session_factory.begin() as db:
            case = cases.create_case(
                db,
                self.runtime.deps,
                self.commander,
                {
                    "title": title,
                    "category": "neighbour",
                    "source": "walk_in",
                    "region_code": township.code,
                    "route_to": "triage",
                    "level": level,
                },
            )
            return case.id

    def summon(self, case_id: int, targets: list[dict[str, Any]]) -> list[int]:
        with self.runtime.session_factory.begin() as db:
            made = assignments.summon(
                db, self.runtime.deps, self.commander, case_id, {"targets": targets}
            )
            return [a.id for a in made]

    def offer_team(self, case_id: int | None = None, **extra: Any) -> int:
        case_id = case_id or self.new_case()
        return self.summon(case_id, [{"kind": "team", "id": self.team_id, **extra}])[0]


def seed_world(app: Flask, extra_team_members: int = 0) -> World:
    """Regions, a department with one member, a team with two members, a commander, an outsider."""
    runtime: Runtime = app.extensions["cc"]
    deps = runtime.deps
    with runtime.session_factory.begin() as db:
        if db.scalar(select(Region.code).limit(1)) is None:
            for r in runtime.regions:
                db.add(
                    Region(
                        code=r.code,
                        name_zh=r.name_zh,
                        name_en=r.name_en,
                        level=r.level.value,
                        parent_code=r.parent,
                        city_code=runtime.regions.city.code,
                        county_code=None,
                        township_code=None,
                        lon=r.centroid[0],
                        lat=r.centroid[1],
                    )
                )
            db.flush()
        city = runtime.regions.city.code
        township = next(r for r in runtime.regions if r.level.value == "township").code
        dept = Department(code="housing", name_zh="住建局", name_en="Housing", region_code=city)
        db.add(dept)
        db.flush()
        team = Team(name="网格一队", kind="grid", region_code=township, department_id=None)
        db.add(team)
        db.flush()
        people: list[tuple[str, str, str, dict[str, Any]]] = [
            ("commander", "commander", city, {}),
            ("member1", "grid_worker", township, {"team_id": team.id}),
            ("member2", "grid_worker", township, {"team_id": team.id}),
            ("staff", "department_staff", city, {"department_id": dept.id}),
            ("outsider", "grid_worker", township, {}),
        ]
        people += [
            (f"extra{i}", "grid_worker", township, {"team_id": team.id})
            for i in range(extra_team_members)
        ]
        made: dict[str, User] = {}
        for name, role, region, extra in people:
            made[name] = users.create_user(
                db,
                deps,
                None,
                {
                    "username": name,
                    "password": PASSWORD,
                    "role": role,
                    "region_code": region,
                    **extra,
                },
            )
        world = World(
            runtime=runtime,
            commander=actor_for(made["commander"], deps),
            department_id=dept.id,
            team_id=team.id,
            ids={name: user.id for name, user in made.items()},
            tokens={name: issue_token(runtime, user) for name, user in made.items()},
        )
    return world


def wait_for(check: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


#: The parts of the app the dispatcher needs: other pages may be half-built in a working tree,
#: and the dispatcher must not depend on them.
FIELD_EXTENSIONS = ("dispatch.realtime.field", "dispatch.workers.supervisor")


def field_app(settings: Any) -> Iterator[Flask]:
    """A migrated app with only the dispatcher's extensions; stopped afterwards."""
    from console.app import create_app
    from dispatch.db.schema import upgrade

    upgrade(settings.database_url)
    app = create_app(settings, extensions=FIELD_EXTENSIONS)
    app.config["TESTING"] = True
    try:
        yield app
    finally:
        app.extensions["cc"].stop()


# The dispatcher's fixtures, for the modules that test it. A module takes them with
# ``from tests.integration.test_field_support import dispatcher_app, dispatcher_world``; they
# are requested as ``app`` (which ``live_server`` serves) and ``world``.
@pytest.fixture(name="app")
def dispatcher_app(settings: Any) -> Iterator[Flask]:
    yield from field_app(settings)


@pytest.fixture(name="world")
def dispatcher_world(app: Flask) -> World:
    return seed_world(app)
