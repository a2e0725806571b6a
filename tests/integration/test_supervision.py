"""The supervision clock in the loop: yellow → red → escalate, once each, under a fixed clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import socketio
from flask import Flask
from sqlalchemy import select

from config.settings import Settings
from dispatch.db.models import Assignment, AuditEntry, Case, CaseEvent, Delivery
from dispatch.realtime import channels
from dispatch.services import supervision
from dispatch.workers.supervisor import Supervisor
from tests.integration.test_field_support import World, seed_world, wait_for

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    # Only the field namespace: the supervisor thread would race the explicit ticks below.
    yield from field_app_without_worker(settings)


def field_app_without_worker(settings: Settings) -> Iterator[Flask]:
    from console.app import create_app
    from dispatch.db.schema import upgrade

    upgrade(settings.database_url)
    app = create_app(settings, extensions=("dispatch.realtime.field",))
    try:
        yield app
    finally:
        app.extensions["cc"].stop()


@pytest.fixture
def clock(app: Flask) -> Clock:
    clock = Clock(T0)
    app.extensions["cc"].deps.clock = clock
    return clock


@pytest.fixture
def world(app: Flask, clock: Clock) -> World:
    return seed_world(app)


def tick(world: World, now: datetime) -> list[supervision.TakenStep]:
    with world.runtime.session_factory.begin() as db:
        return supervision.tick(db, world.runtime.deps, now)


def test_accept_clock_yellow_red_escalate_once_each(world: World, clock: Clock) -> None:
    heard: list[dict[str, Any]] = []
    world.runtime.bus.subscribe(channels.ASSIGNMENTS, lambda _c, p: heard.append(p))
    case_id = world.new_case()
    [assignment_id] = world.summon(
        case_id, [{"kind": "team", "id": world.team_id, "accept_minutes": 10, "finish_hours": 4}]
    )
    with world.runtime.session_factory() as db:
        case = db.get(Case, case_id)
        assert case is not None
        start_level = case.level

    assert tick(world, T0 + timedelta(minutes=5)) == []
    steps = tick(world, T0 + timedelta(minutes=8, seconds=30))
    assert [s.kind for s in steps] == ["renotify", "yellow_card"]
    assert tick(world, T0 + timedelta(minutes=9)) == []  # taken once, not on every tick
    steps = tick(world, T0 + timedelta(minutes=11))
    assert [s.kind for s in steps] == ["red_card", "escalate"]
    assert steps[1].to_level is not None and steps[1].to_level != start_level
    assert tick(world, T0 + timedelta(minutes=30)) == []

    with world.runtime.session_factory() as db:
        a = db.get(Assignment, assignment_id)
        case = db.get(Case, case_id)
        assert a is not None and case is not None
        assert a.card == "red" and a.state == "offered"
        assert a.supervision == [
            ["accept", "renotify"],
            ["accept", "yellow_card"],
            ["accept", "red_card"],
            ["accept", "escalate"],
        ]
        assert case.card == "red"
        assert case.level == steps[1].to_level and case.escalations == 1
        kinds = list(
            db.scalars(
                select(CaseEvent.kind).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
            )
        )
        for kind in ("supervision_renotify", "yellow_card", "red_card", "escalated"):
            assert kinds.count(kind) == 1, kinds
        escalated = db.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.kind == "escalated")
        ).one()
        assert escalated.at == T0 + timedelta(minutes=11)
        assert escalated.data["from_level"] == start_level
        actions = list(db.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
        for action in ("case.yellow_card", "case.red_card", "case.escalated"):
            assert actions.count(action) == 1
        for step in ("renotify", "yellow_card", "red_card", "escalate"):
            assert actions.count(f"assignment.{step}") == 1
        # The renotification is a fresh delivery to each team member.
        renotified = db.scalars(select(Delivery).where(Delivery.kind == "renotify")).all()
        assert sorted(d.recipient_id for d in renotified) == sorted(
            [world.ids["member1"], world.ids["member2"]]
        )
        assert all(d.seq == 2 for d in renotified)
    told = [p for p in heard if p.get("type") == "supervision"]
    assert [p["step"] for p in told] == ["renotify", "yellow_card", "red_card", "escalate"]


def test_finish_clock_after_accept(world: World, clock: Clock) -> None:
    from dispatch.services import assignments
    from dispatch.services.users import actor_for

    case_id = world.new_case()
    [assignment_id] = world.summon(
        case_id, [{"kind": "team", "id": world.team_id, "accept_minutes": 10, "finish_hours": 10}]
    )
    with world.runtime.session_factory.begin() as db:
        from dispatch.db.models import User

        member = db.get(User, world.ids["member1"])
        assert member is not None
        assignments.act(
            db,
            world.runtime.deps,
            actor_for(member, world.runtime.deps),
            assignment_id,
            {"action": "accept"},
        )
    # Accepted in time: the accept clock never fires, the finish clock does.
    assert tick(world, T0 + timedelta(hours=7)) == []
    assert [s.kind for s in tick(world, T0 + timedelta(hours=8, minutes=1))] == ["yellow_card"]
    late = tick(world, T0 + timedelta(hours=10, minutes=1))
    assert [(s.kind, s.clock) for s in late] == [("red_card", "finish"), ("escalate", "finish")]


def test_done_and_refused_assignments_are_left_alone(world: World, clock: Clock) -> None:
    case_id = world.new_case()
    world.summon(case_id, [{"kind": "team", "id": world.team_id, "accept_minutes": 10}])
    with world.runtime.session_factory.begin() as db:
        for a in db.scalars(select(Assignment)):
            a.state = "cancelled"
    assert tick(world, T0 + timedelta(days=30)) == []


def test_wartime_scale_shortens_deadlines(world: World, clock: Clock) -> None:
    world.runtime.deps.deadline_scale = 0.5
    case_id = world.new_case()
    [assignment_id] = world.summon(case_id, [{"kind": "team", "id": world.team_id}])
    with world.runtime.session_factory() as db:
        a = db.get(Assignment, assignment_id)
        assert a is not None
        half = a.accept_by - a.offered_at
    world.runtime.deps.deadline_scale = 1.0
    [normal_id] = world.summon(world.new_case(), [{"kind": "team", "id": world.team_id}])
    with world.runtime.session_factory() as db:
        b = db.get(Assignment, normal_id)
        assert b is not None
        assert half * 2 == b.accept_by - b.offered_at
    steps = tick(world, T0 + half + timedelta(seconds=1))
    assert {s.assignment_id for s in steps} == {assignment_id}


def test_supervisor_worker_ticks_on_its_own(world: World, clock: Clock) -> None:
    case_id = world.new_case()
    world.summon(case_id, [{"kind": "team", "id": world.team_id, "accept_minutes": 1}])
    clock.now = T0 + timedelta(minutes=2)
    worker = Supervisor(world.runtime.session_factory, world.runtime.deps, interval=0.05)
    worker.start()
    try:

        def escalated() -> bool:
            with world.runtime.session_factory() as db:
                case = db.get(Case, case_id)
                return case is not None and case.escalations == 1

        wait_for(escalated, what="worker escalation")
    finally:
        worker.stop()
    with world.runtime.session_factory() as db:
        case = db.get(Case, case_id)
        assert case is not None and case.escalations == 1  # once, however many ticks ran


def test_renotification_reaches_the_phone(
    world: World, clock: Clock, sio_client_factory: Callable[..., socketio.Client]
) -> None:
    got: list[dict[str, Any]] = []
    sio_client_factory(
        namespaces=["/field"],
        auth={"token": world.tokens["member1"]},
        handlers={("/field", "assignment"): got.append},
    )
    world.summon(world.new_case(), [{"kind": "team", "id": world.team_id, "accept_minutes": 10}])
    tick(world, T0 + timedelta(minutes=9))
    wait_for(lambda: [m for m in got if m["kind"] == "renotify"], what="renotify on the socket")
    # This phone never acknowledges, so on a slow run the hub may re-send a delivery (same
    # seq) before the test ends: count each delivery once, in the order it first came.
    assert list(dict.fromkeys(m["seq"] for m in got)) == [1, 2]
    assert {m["seq"] for m in got if m["kind"] == "renotify"} == {2}


def test_worker_only_process_still_writes_deliveries(settings: Settings) -> None:
    """A process running only the supervisor (no /field) must still write the outbox."""
    from console.app import create_app
    from dispatch.db.schema import upgrade

    upgrade(settings.database_url)
    worker_app = create_app(settings, extensions=("dispatch.workers.supervisor",))
    try:
        world = seed_world(worker_app)
        world.offer_team()
        with world.runtime.session_factory() as db:
            rows = db.scalars(select(Delivery)).all()
            assert sorted(r.recipient_id for r in rows) == sorted(
                [world.ids["member1"], world.ids["member2"]]
            )
    finally:
        worker_app.extensions["cc"].stop()
