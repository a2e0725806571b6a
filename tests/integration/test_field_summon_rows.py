"""A multi-target summon writes the same rows as the one-at-a-time helpers, in one transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from dispatch.db.models import Assignment, AuditEntry, Case, CaseEvent, Delivery, DeliveryCursor
from dispatch.services import assignments, audit
from dispatch.services import cases as case_service
from tests.integration.test_field_support import (  # noqa: F401  (fixtures: app, world)
    World,
    dispatcher_app,
    dispatcher_world,
)

EVENT_COLUMNS = ("case_id", "kind", "at", "actor_id", "actor_name", "data")
AUDIT_COLUMNS = (
    "at",
    "actor_id",
    "actor_name",
    "action",
    "object_type",
    "object_id",
    "before",
    "after",
)


def _values(row: object, columns: tuple[str, ...]) -> dict[str, Any]:
    return {c: getattr(row, c) for c in columns}


def test_summon_rows_match_the_single_row_helpers(world: World) -> None:
    case_id = world.new_case()
    targets: list[dict[str, Any]] = [
        {"kind": "grid_worker", "id": world.ids["member1"]},
        {"kind": "grid_worker", "id": world.ids["member2"]},
        {"kind": "team", "id": world.team_id, "instructions": "带上调解书"},
    ]
    ids = world.summon(case_id, targets)
    assert len(ids) == 3 and len(set(ids)) == 3

    factory = world.runtime.session_factory
    with factory() as db:
        made = db.scalars(select(Assignment).where(Assignment.id.in_(ids))).all()
        assert sorted(a.target_id for a in made) == sorted(t["id"] for t in targets)
        events = db.scalars(
            select(CaseEvent)
            .where(CaseEvent.case_id == case_id, CaseEvent.kind == "assignment_offered")
            .order_by(CaseEvent.id)
        ).all()
        entries = db.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "assignment.offer")
            .order_by(AuditEntry.id)
        ).all()
        written_events = [_values(e, EVENT_COLUMNS) for e in events]
        written_entries = [_values(e, AUDIT_COLUMNS) for e in entries]
        case = db.get(Case, case_id)
        assert case is not None
        offered = {a.id: a for a in made}
        # What the one-row helpers would have added for the same assignments, never flushed.
        expected_events = []
        for assignment_id in ids:
            a = offered[assignment_id]
            event = case_service.add_event(
                db,
                world.commander,
                case,
                "assignment_offered",
                {"assignment_id": a.id, "target": a.target_name},
                a.offered_at,
            )
            expected_events.append(_values(event, EVENT_COLUMNS))
            audit.record(
                db,
                world.commander,
                "assignment.offer",
                "assignment",
                a.id,
                a.offered_at,
                None,
                assignments.summary(a),
            )
        expected_entries = [
            _values(obj, AUDIT_COLUMNS) for obj in db.new if isinstance(obj, AuditEntry)
        ]
        db.rollback()
    assert written_events == expected_events
    by_object = {e["object_id"]: e for e in written_entries}
    assert len(by_object) == len(ids)
    assert by_object == {e["object_id"]: e for e in expected_entries}


def test_summon_outbox_rows_and_cursors_in_the_same_commit(world: World) -> None:
    first = world.offer_team()
    second = world.offer_team()
    with world.runtime.session_factory() as db:
        rows = db.scalars(select(Delivery).order_by(Delivery.recipient_id, Delivery.seq)).all()
        by_user: dict[int, list[tuple[int, int]]] = {}
        for row in rows:
            by_user.setdefault(row.recipient_id, []).append((row.seq, row.assignment_id))
        members = {world.ids["member1"], world.ids["member2"]}
        assert set(by_user) == members
        for user_id in members:
            # Gap-free per recipient, in commit order; the cursor holds the last seq.
            assert by_user[user_id] == [(1, first), (2, second)]
            cursor = db.get(DeliveryCursor, user_id)
            assert cursor is not None and cursor.last_seq == 2
