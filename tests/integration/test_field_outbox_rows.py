"""The outbox's batch statements write what an executemany would, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Table, insert, select, update
from sqlalchemy.exc import DBAPIError

from dispatch.db.models import AuditEntry, Delivery, DeliveryCursor, User
from dispatch.services import delivery
from tests.integration.test_field_support import (  # noqa: F401  (fixtures: app, world)
    World,
    dispatcher_app,
    dispatcher_world,
)

_AUDIT: Table = AuditEntry.__table__  # type: ignore[assignment]
AUDIT_COLUMNS = ("at", "actor_id", "actor_name", "action", "object_type", "object_id")


def _audit_rows(tag: str) -> list[dict[str, Any]]:
    at = datetime(2026, 11, 29, 8, 30, tzinfo=UTC)
    return [
        {
            "at": at + timedelta(seconds=i),
            "actor_id": None if i == 1 else i,
            "actor_name": f"调度员{i}",
            "action": tag,
            "object_type": "assignment",
            "object_id": str(i),
            "before": None,
            "after": {"state": "offered", "名称": f"网格员{i}", "n": [i, None, 1.5]},
        }
        for i in range(3)
    ]


def test_insert_many_writes_what_executemany_writes(world: World) -> None:
    factory = world.runtime.session_factory
    with factory.begin() as db:
        delivery.insert_many(db.connection(), _AUDIT, _audit_rows("batch"))
        db.connection().execute(insert(_AUDIT), _audit_rows("plain"))
    with factory() as db:
        got = {}
        for tag in ("batch", "plain"):
            rows = db.scalars(
                select(AuditEntry).where(AuditEntry.action == tag).order_by(AuditEntry.id)
            ).all()
            got[tag] = [
                {**{c: getattr(r, c) for c in AUDIT_COLUMNS if c != "action"}, "b": r.before}
                | {"a": r.after}
                for r in rows
            ]
        # JSON null for None, as SQLAlchemy's JSON type stores it, in both.
        before_sql = {
            tag: db.execute(select(_AUDIT.c.before.is_(None)).where(_AUDIT.c.action == tag))
            .scalars()
            .all()
            for tag in ("batch", "plain")
        }
    assert got["batch"] == got["plain"]
    assert len(got["batch"]) == 3
    assert before_sql["batch"] == before_sql["plain"]


@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)  # SQLite: no lengths
def test_insert_many_refuses_a_value_too_long_for_its_column(world: World) -> None:
    rows = _audit_rows("long")
    rows[2]["action"] = "x" * 61  # audit.action is VARCHAR(60)
    with pytest.raises(DBAPIError), world.runtime.session_factory.begin() as db:
        delivery.insert_many(db.connection(), _AUDIT, rows)


def test_acknowledge_pairs_marks_each_once(world: World) -> None:
    first, second = world.offer_team(), world.offer_team()
    members = [world.ids["member1"], world.ids["member2"]]
    factory = world.runtime.session_factory
    now = datetime.now(UTC)
    pairs = [(members[0], 1), (members[0], 2), (members[1], 2)]
    with factory.begin() as db:
        # One delivery was re-sent before: its first delivered_at stays.
        db.execute(
            update(Delivery)
            .where(Delivery.recipient_id == members[1], Delivery.seq == 2)
            .values(delivered_at=now - timedelta(seconds=5))
        )
        assert delivery.acknowledge_pairs(db, pairs, now) == 3
    with factory.begin() as db:
        assert delivery.acknowledge_pairs(db, [*pairs, (members[1], 1)], now) == 1
        assert delivery.acknowledge_pairs(db, pairs, now + timedelta(seconds=1)) == 0
    with factory() as db:
        rows = {
            (r.recipient_id, r.seq): r
            for r in db.scalars(select(Delivery).where(Delivery.recipient_id.in_(members)))
        }
    assert {r.assignment_id for r in rows.values()} == {first, second}
    for row in rows.values():
        assert row.acked_at == now and row.next_attempt_at is None
    assert rows[(members[1], 2)].delivered_at == now - timedelta(seconds=5)
    assert rows[(members[0], 1)].delivered_at == now


def test_summon_of_people_delivers_to_the_active_ones(world: World) -> None:
    """Person targets' recipients come from the summon's own read of them (no second query)."""
    with world.runtime.session_factory.begin() as db:
        outsider = db.get(User, world.ids["outsider"])
        assert outsider is not None
        outsider.active = False
    case_id = world.new_case()
    targets = [
        {"kind": "grid_worker", "id": world.ids["member1"]},
        {"kind": "grid_worker", "id": world.ids["outsider"]},
        {"kind": "team", "id": world.team_id},
    ]
    ids = world.summon(case_id, targets)
    with world.runtime.session_factory() as db:
        got = sorted(
            (r.assignment_id, r.recipient_id, r.seq)
            for r in db.scalars(select(Delivery).where(Delivery.assignment_id.in_(ids)))
        )
        cursors = {c.user_id: c.last_seq for c in db.scalars(select(DeliveryCursor))}
    member1, member2 = world.ids["member1"], world.ids["member2"]
    assert got == sorted([(ids[0], member1, 1), (ids[2], member1, 2), (ids[2], member2, 1)])
    assert cursors == {member1: 2, member2: 1}
