"""Assignment deliveries to field users: an outbox written in the assignment's own transaction.

Why a session hook and not a bus subscriber: the bus publishes *after* commit, so a crash
between the commit and the subscriber's write would leave an offered assignment that nobody is
ever told about. The hook below sees every new ``Assignment`` and every change of an
assignment's ``state`` in a flush, and writes one ``Delivery`` row per member of the target in
``before_commit``, inside the same transaction: either the assignment and all its deliveries
commit, or none of them do. The assignment service needs no change and cannot forget to call
it; any code path that writes assignments through the app's session factory is covered.

After the commit the new rows are handed to a ``push`` callable (the /field namespace), which
emits them to connected recipients; whatever it misses is re-sent by the retry loop or replayed
when the recipient reconnects (``seq > last_seq``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session, sessionmaker

from dispatch.db.models import Assignment, Case, Delivery, DeliveryCursor, FieldPresence, User
from dispatch.domain.assignments import TargetKind
from dispatch.services import assignments as assignment_service
from dispatch.services import cases as case_service

logger = logging.getLogger(__name__)

_NOTED = "cc_delivery_noted"  # assignment -> kind, collected by after_flush
_WRITTEN = "cc_delivery_written"  # Pushed items waiting for the commit

#: First re-send of an unacknowledged delivery after this long; doubles per attempt.
FIRST_RETRY = timedelta(seconds=3)
MAX_RETRY = timedelta(seconds=60)

#: What a state change is announced as (``offered`` is a new assignment).
KIND_FOR_STATE = {
    "offered": "offered",
    "accepted": "accepted",
    "refused": "refused",
    "done": "done",
    "cancelled": "cancelled",
}


@dataclass(frozen=True)
class Pushed:
    """A committed delivery, ready to emit: ``{"seq": seq, **payload}`` to ``recipient_id``."""

    recipient_id: int
    seq: int
    payload: dict[str, Any]

    def message(self) -> dict[str, Any]:
        return {"seq": self.seq, **self.payload}


def backoff(attempts: int) -> timedelta:
    """Delay before re-sending a delivery that was sent ``attempts`` times without an ack."""
    return min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), MAX_RETRY)


def recipients(session: Session, assignment: Assignment) -> list[int]:
    """Ids of the active users an assignment is addressed to (every member of the target)."""
    kind = TargetKind(assignment.target_kind)
    stmt = select(User.id).where(User.active.is_(True))
    if kind is TargetKind.DEPARTMENT:
        stmt = stmt.where(User.department_id == assignment.target_id)
    elif kind is TargetKind.TEAM:
        stmt = stmt.where(User.team_id == assignment.target_id)
    else:
        stmt = stmt.where(User.id == assignment.target_id)
    return list(session.scalars(stmt.order_by(User.id)))


def _allocate(session: Session, user_id: int) -> int:
    """The next sequence number of ``user_id``, taken under the cursor row's lock."""
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        # Both dialects offer INSERT ... ON CONFLICT DO NOTHING: creating the cursor cannot race.
        module: Any
        if dialect == "postgresql":
            from sqlalchemy.dialects import postgresql as module
        else:
            from sqlalchemy.dialects import sqlite as module
        session.execute(
            module.insert(DeliveryCursor)
            .values(user_id=user_id, last_seq=0)
            .on_conflict_do_nothing(index_elements=["user_id"])
        )
    elif session.get(DeliveryCursor, user_id) is None:
        session.execute(insert(DeliveryCursor).values(user_id=user_id, last_seq=0))
    seq = session.execute(
        update(DeliveryCursor)
        .where(DeliveryCursor.user_id == user_id)
        .values(last_seq=DeliveryCursor.last_seq + 1)
        .returning(DeliveryCursor.last_seq)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    return int(seq)


def payload_for(session: Session, assignment: Assignment, kind: str) -> dict[str, Any]:
    """What a field client sees of an assignment and its case (masked case summary)."""
    case = session.get(Case, assignment.case_id)
    return {
        "kind": kind,
        "assignment": assignment_service.summary(assignment),
        "case": case_service.summary(case) if case is not None else None,
    }


def enqueue(
    session: Session,
    assignment: Assignment,
    kind: str,
    now: datetime,
    only: Iterable[int] | None = None,
) -> list[Pushed]:
    """Write one delivery of ``assignment`` per recipient (or per user in ``only``).

    The rows are pushed after the session commits (see :func:`install`).
    """
    users = list(only) if only is not None else recipients(session, assignment)
    payload = payload_for(session, assignment, kind)
    written: list[Pushed] = []
    for user_id in users:
        seq = _allocate(session, user_id)
        session.add(
            Delivery(
                assignment_id=assignment.id,
                recipient_id=user_id,
                seq=seq,
                kind=kind,
                payload=payload,
                created_at=now,
                attempts=1,
                next_attempt_at=now + backoff(1),
            )
        )
        written.append(Pushed(user_id, seq, payload))
    session.info.setdefault(_WRITTEN, []).extend(written)
    return written


def _note(session: Session, assignment: Assignment, kind: str) -> None:
    noted: dict[int, tuple[Assignment, str]] = session.info.setdefault(_NOTED, {})
    # An assignment offered and changed in one transaction is announced once, as it ends up.
    first = noted.get(id(assignment))
    noted[id(assignment)] = (assignment, "offered" if first and first[1] == "offered" else kind)


def install(
    factory: sessionmaker[Session],
    clock: Callable[[], datetime],
    push: Callable[[Sequence[Pushed]], None],
) -> None:
    """Write deliveries for assignment changes in every session of ``factory``; push on commit."""
    from sqlalchemy import event

    @event.listens_for(factory, "after_flush")
    def _collect(session: Session, _ctx: object) -> None:
        # Pre-flush lists and attribute history are still visible here (SQLAlchemy documents
        # it), and the new rows already have their ids.
        for obj in session.new:
            if isinstance(obj, Assignment):
                _note(session, obj, "offered")
        for obj in session.dirty:
            if isinstance(obj, Assignment):
                history = sa_inspect(obj).attrs.state.history
                if history.added and history.added[0] != (history.deleted or [None])[0]:
                    _note(session, obj, KIND_FOR_STATE.get(str(obj.state), "changed"))

    @event.listens_for(factory, "before_commit")
    def _write(session: Session) -> None:
        session.flush()
        # Writing deliveries flushes again; loop until no flush notes another assignment.
        while session.info.get(_NOTED):
            noted: dict[int, tuple[Assignment, str]] = session.info.pop(_NOTED)
            now = clock()
            for assignment, kind in noted.values():
                enqueue(session, assignment, kind, now)
            session.flush()

    @event.listens_for(factory, "after_commit")
    def _push(session: Session) -> None:
        written = session.info.pop(_WRITTEN, [])
        if written:
            try:
                push(written)
            except Exception:  # the retry loop and replay re-send from the table
                logger.exception("pushing %d deliveries failed", len(written))

    @event.listens_for(factory, "after_rollback")
    def _discard(session: Session) -> None:
        session.info.pop(_NOTED, None)
        session.info.pop(_WRITTEN, None)


def since(session: Session, user_id: int, last_seq: int, limit: int = 500) -> list[Pushed]:
    """Deliveries of ``user_id`` after ``last_seq``, oldest first (replay after a reconnect)."""
    rows = session.execute(
        select(Delivery.seq, Delivery.payload)
        .where(Delivery.recipient_id == user_id, Delivery.seq > last_seq)
        .order_by(Delivery.seq)
        .limit(limit)
    ).all()
    return [Pushed(user_id, int(seq), dict(payload)) for seq, payload in rows]


def due(
    session: Session, user_ids: Sequence[int], now: datetime, limit: int = 500
) -> list[Delivery]:
    """Unacknowledged deliveries of ``user_ids`` whose next attempt is due."""
    if not user_ids:
        return []
    return list(
        session.scalars(
            select(Delivery)
            .where(Delivery.next_attempt_at <= now, Delivery.recipient_id.in_(user_ids))
            .order_by(Delivery.recipient_id, Delivery.seq)
            .limit(limit)
        )
    )


def mark_sent(session: Session, rows: Sequence[Delivery], now: datetime) -> None:
    """Count a re-send and schedule the next one further out."""
    for row in rows:
        row.attempts += 1
        row.delivered_at = row.delivered_at or now
        row.next_attempt_at = now + backoff(row.attempts)


def mark_delivered(session: Session, user_id: int, seqs: Sequence[int], now: datetime) -> None:
    """Record that these deliveries were written to a connected socket of ``user_id``."""
    session.execute(
        update(Delivery)
        .where(
            Delivery.recipient_id == user_id,
            Delivery.seq.in_(list(seqs)),
            Delivery.delivered_at.is_(None),
        )
        .values(delivered_at=now)
        .execution_options(synchronize_session=False)
    )


def acknowledge(session: Session, user_id: int, seqs: Sequence[int], now: datetime) -> int:
    """Mark deliveries acknowledged; repeats change nothing. Returns how many changed."""
    result = session.execute(
        update(Delivery)
        .where(
            Delivery.recipient_id == user_id,
            Delivery.seq.in_(list(seqs)),
            Delivery.acked_at.is_(None),
        )
        .values(
            acked_at=now,
            next_attempt_at=None,
            delivered_at=func.coalesce(Delivery.delivered_at, now),
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def last_seq(session: Session, user_id: int) -> int:
    """The highest sequence number handed out to ``user_id`` (0 when none)."""
    value = session.scalar(select(DeliveryCursor.last_seq).where(DeliveryCursor.user_id == user_id))
    return int(value or 0)


def update_presence(
    session: Session,
    user_id: int,
    now: datetime,
    online: bool,
    lat: float | None = None,
    lon: float | None = None,
) -> dict[str, Any]:
    """Record a field user's connection state (and location); returns what the hall shows."""
    row = session.get(FieldPresence, user_id)
    if row is None:
        row = FieldPresence(user_id=user_id, online=online, last_seen=now)
        session.add(row)
    row.online = online
    row.last_seen = now
    if lat is not None and lon is not None:
        row.lat, row.lon, row.located_at = lat, lon, now
    return {
        "online": row.online,
        "last_seen": now.isoformat(),
        "lat": row.lat,
        "lon": row.lon,
        "located_at": row.located_at.isoformat() if row.located_at else None,
    }
