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

import json
import logging
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
    String,
    Table,
    bindparam,
    case,
    func,
    insert,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.util import identity_key

from dispatch.db.base import UTCDateTime
from dispatch.db.models import Assignment, Case, Delivery, DeliveryCursor, FieldPresence, User
from dispatch.domain.assignments import TargetKind
from dispatch.services import assignments as assignment_service
from dispatch.services import cases as case_service

logger = logging.getLogger(__name__)

_CURSORS: Table = DeliveryCursor.__table__  # type: ignore[assignment]
_USERS: Table = User.__table__  # type: ignore[assignment]
#: The ``users`` column that makes a user a member of a target of each kind (else ``id``).
_MEMBER_COLUMN = {TargetKind.DEPARTMENT.value: "department_id", TargetKind.TEAM.value: "team_id"}
_DELIVERIES: Table = Delivery.__table__  # type: ignore[assignment]

_INSTALLED: weakref.WeakSet[sessionmaker[Session]] = weakref.WeakSet()
_NOTED = "cc_delivery_noted"  # assignment -> kind, collected by after_flush
# Cases of noted assignments, held until the commit: the identity map keeps objects weakly,
# so a case the caller no longer references would be read again just for its summary.
_HELD_CASES = "cc_delivery_cases"
_WRITTEN = "cc_delivery_written"  # Pushed items waiting for the commit
# Recipients already known to the writer of the assignments ((kind, id) -> user ids), so the
# outbox need not look them up again (summon has just read those users' rows).
_KNOWN_MEMBERS = "cc_delivery_members"
# Set in the info of every session of a factory with the hook installed (see ``install``).
_ACTIVE = "cc_delivery_outbox"

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
    return _recipients_of(session, [(assignment.target_kind, assignment.target_id)])[
        (assignment.target_kind, assignment.target_id)
    ]


def _recipients_of(
    session: Session,
    targets: Iterable[tuple[str, int]],
    known: dict[tuple[str, int], list[int]] | None = None,
) -> dict[tuple[str, int], list[int]]:
    """Members of each (kind, id) target, one query for all of them (none if all ``known``)."""
    wanted = set(targets)
    found: dict[tuple[str, int], list[int]] = {}
    if known:
        found.update({t: list(known[t]) for t in wanted if t in known})
        wanted -= set(found)
    if not wanted:
        return found
    found.update({t: [] for t in wanted})
    by_column: dict[str, set[int]] = {}
    for kind, target_id in wanted:
        by_column.setdefault(_MEMBER_COLUMN.get(kind, "id"), set()).add(target_id)
    users = _USERS
    # A Core query on the table: the ORM's select path costs more than the query here.
    rows = (
        session.connection()
        .execute(
            select(users.c.id, users.c.department_id, users.c.team_id)
            .where(
                users.c.active.is_(True),
                or_(*(users.c[column].in_(ids) for column, ids in by_column.items())),
            )
            .order_by(users.c.id)
        )
        .all()
    )
    for user_id, department_id, team_id in rows:
        for key, value in (
            (("department", department_id), department_id),
            (("team", team_id), team_id),
            (("mediator", user_id), user_id),
            (("grid_worker", user_id), user_id),
        ):
            if value is not None and key in wanted:
                found[key].append(user_id)
    return found


def _allocate(session: Session, counts: dict[int, int]) -> dict[int, int]:
    """Reserve ``counts[user]`` sequence numbers per user; returns each user's first new seq.

    The cursor rows are locked in user order (PostgreSQL), so two transactions writing to
    overlapping sets of users queue up instead of deadlocking; the commit order then matches
    the seq order for every user.
    """
    if not counts:
        return {}
    first = _advance(session, counts)
    missing = sorted(set(counts) - set(first))
    if missing:
        # A user's first delivery ever: create the cursor (racing creators meet at the primary
        # key and wait; ON CONFLICT keeps the loser quiet), then advance it like the others.
        _create_cursors(session, missing)
        first.update(_advance(session, {u: counts[u] for u in missing}))
    return first


def _advance(session: Session, counts: dict[int, int]) -> dict[int, int]:
    """Advance existing cursors (in user order on PostgreSQL); first new seq per user found."""
    # Core statements on the table, not the mapped class: the ORM's bulk UPDATE path costs
    # several times the statement itself, and nothing here needs the identity map.
    table = _CURSORS
    users = sorted(counts)
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        # Two fixed statements with array parameters: the same SQL text whatever the number of
        # users, so psycopg prepares them once (an IN list and a CASE per user made a new
        # statement to build, compile and parse for every size of batch).
        conn.execute(_PG_LOCK_CURSORS, {"users": users}).all()
        rows = conn.execute(
            _PG_ADVANCE_CURSORS, {"users": users, "counts": [counts[u] for u in users]}
        ).all()
    else:
        step = case(counts, value=table.c.user_id)
        rows = conn.execute(
            update(table)
            .where(table.c.user_id.in_(users))
            .values(last_seq=table.c.last_seq + step)
            .returning(table.c.user_id, table.c.last_seq)
        ).all()
    return {int(user_id): int(last) - counts[int(user_id)] + 1 for user_id, last in rows}


#: PostgreSQL: lock the cursor rows of a batch in user order, so two transactions writing to
#: overlapping sets of users queue up instead of deadlocking.
_PG_LOCK_CURSORS = text(
    "SELECT user_id FROM delivery_cursors WHERE user_id = ANY(CAST(:users AS integer[])) "
    "ORDER BY user_id FOR UPDATE"
)
#: PostgreSQL: advance the (locked) cursors by each user's count.
_PG_ADVANCE_CURSORS = text(
    "UPDATE delivery_cursors AS c SET last_seq = c.last_seq + n.count "
    "FROM unnest(CAST(:users AS integer[]), CAST(:counts AS integer[])) AS n(user_id, count) "
    "WHERE c.user_id = n.user_id RETURNING c.user_id, c.last_seq"
)


def _create_cursors(session: Session, users: Sequence[int]) -> None:
    conn = session.connection()
    dialect = conn.dialect.name
    values = [{"user_id": u, "last_seq": 0} for u in users]
    if dialect in ("postgresql", "sqlite"):
        # Both dialects offer INSERT ... ON CONFLICT DO NOTHING: creating a cursor cannot race.
        module: Any
        if dialect == "postgresql":
            from sqlalchemy.dialects import postgresql as module
        else:
            from sqlalchemy.dialects import sqlite as module
        conn.execute(
            module.insert(_CURSORS)
            .values(values)
            .on_conflict_do_nothing(index_elements=["user_id"])
        )
    else:
        present = set(conn.scalars(select(_CURSORS.c.user_id).where(_CURSORS.c.user_id.in_(users))))
        missing = [v for v in values if v["user_id"] not in present]
        if missing:
            conn.execute(insert(_CURSORS), missing)


def payload_for(session: Session, assignment: Assignment, kind: str) -> dict[str, Any]:
    """What a field client sees of an assignment and its case (masked case summary)."""
    case_row = session.get(Case, assignment.case_id)
    return {
        "kind": kind,
        "assignment": assignment_service.summary(assignment),
        "case": case_service.summary(case_row) if case_row is not None else None,
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
    return enqueue_many(session, [(assignment, kind)], now, only)


def enqueue_many(
    session: Session,
    items: Sequence[tuple[Assignment, str]],
    now: datetime,
    only: Iterable[int] | None = None,
) -> list[Pushed]:
    """Deliveries for several assignment changes in a handful of statements, whatever the count."""
    if not items:
        return []
    if session.autoflush:
        session.flush()  # the queries below are Core statements, which do not autoflush
    members = (
        {}
        if only is not None
        else _recipients_of(
            session,
            [(a.target_kind, a.target_id) for a, _ in items],
            session.info.get(_KNOWN_MEMBERS),
        )
    )
    fixed = list(only) if only is not None else None
    held: dict[int, Case] = session.info.get(_HELD_CASES, {})
    plan: list[tuple[int, int, dict[str, Any]]] = []
    case_summaries: dict[int, dict[str, Any] | None] = {}
    for assignment, kind in items:
        if assignment.case_id not in case_summaries:
            case_row = held.get(assignment.case_id) or session.get(Case, assignment.case_id)
            case_summaries[assignment.case_id] = (
                case_service.summary(case_row) if case_row is not None else None
            )
        payload = {
            "kind": kind,
            "assignment": assignment_service.summary(assignment),
            "case": case_summaries[assignment.case_id],
        }
        targets = (
            fixed if fixed is not None else members[(assignment.target_kind, assignment.target_id)]
        )
        plan.extend((user_id, assignment.id, payload) for user_id in targets)
    counts: dict[int, int] = {}
    for user_id, _, _ in plan:
        counts[user_id] = counts.get(user_id, 0) + 1
    next_seq = _allocate(session, counts)
    rows: list[dict[str, Any]] = []
    written: list[Pushed] = []
    for user_id, assignment_id, payload in plan:
        seq = next_seq[user_id]
        next_seq[user_id] = seq + 1
        rows.append(
            {
                "assignment_id": assignment_id,
                "recipient_id": user_id,
                "seq": seq,
                "kind": payload["kind"],
                "payload": payload,
                "created_at": now,
                "attempts": 1,
                "next_attempt_at": now + backoff(1),
            }
        )
        written.append(Pushed(user_id, seq, payload))
    insert_many(session.connection(), _DELIVERIES, rows)
    session.info.setdefault(_WRITTEN, []).extend(written)
    return written


def insert_many(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table`` in one statement.

    On PostgreSQL an ``executemany`` goes through psycopg's pipeline mode, which waits for the
    socket once or more per row; under gevent each wait is a trip through the hub, and the
    four batches of a 10-target summon took ≈100 of them. Here it is one
    ``INSERT ... SELECT * FROM ROWS FROM (unnest(...), ...)``: a single round trip with a
    fixed, prepared SQL text, one array per column. JSON columns go as one JSON array
    (``json_array_elements``), not as an array of JSON texts, whose quoting psycopg does
    character by character in Python. Values go through each column type's bind processing
    as they would in an ``executemany``; JSON values are serialised with ``json.dumps`` like
    SQLAlchemy's JSON type (``None`` stored as JSON ``null``). Elsewhere (SQLite: its
    ``executemany`` runs in C) a plain ``executemany``.
    """
    insert_all(conn, [(table, rows)])


def insert_all(conn: Connection, batches: Sequence[tuple[Table, Sequence[dict[str, Any]]]]) -> None:
    """Insert several batches of rows, in the order given, in as few round trips as can be.

    PostgreSQL: one statement for all of them (every batch but the last a data-modifying
    ``WITH`` clause, see :func:`insert_many`); each round trip saved is a wait for the
    database server's turn on a busy machine. Other databases: one ``executemany`` a batch.
    The batches must not depend on each other's rows (foreign keys between them are checked
    against the statement's snapshot, which does not hold the others' rows).
    """
    batches = [(table, rows) for table, rows in batches if rows]
    if not batches:
        return
    if conn.dialect.name != "postgresql":
        for table, rows in batches:
            conn.execute(insert(table), list(rows))
        return
    shapes = tuple((table.name, tuple(rows[0]), _constant_columns(rows)) for table, rows in batches)
    statement, processors = _unnest_insert(conn, [t for t, _ in batches], shapes)
    params: dict[str, Any] = {}
    for b, ((_, rows), (_, names, constant), column_processors) in enumerate(
        zip(batches, shapes, processors, strict=True)
    ):
        for i, (name, same, process) in enumerate(
            zip(names, constant, column_processors, strict=True)
        ):
            if same:  # one value for every row
                value = rows[0][name]
                params[f"b{b}c{i}"] = (
                    json.dumps(value)
                    if process is _AS_JSON
                    else value
                    if process is None
                    else process(value)
                )
                continue
            values = [row[name] for row in rows]
            params[f"b{b}c{i}"] = (
                json.dumps(values)
                if process is _AS_JSON
                else values
                if process is None
                else [process(v) for v in values]
            )
    conn.execute(statement, params)


def _constant_columns(rows: Sequence[dict[str, Any]]) -> tuple[bool, ...]:
    """Per column: whether every row holds the same value (sent once, not as an array).

    Most columns of a batch are (a summon's case, deadlines, actor, times): psycopg dumps an
    array element by element in Python, so sending them once halves the statement's cost.
    At least one column stays an array: it carries the number of rows.
    """
    first, rest = rows[0], rows[1:]
    same = [
        all(type(row[name]) is type(value) and row[name] == value for row in rest)
        for name, value in first.items()
    ]
    if all(same):
        same[0] = False
    return tuple(same)


def _as_json(value: Any) -> Any:
    return value  # a marker: the column's values are sent as JSON text


_AS_JSON = _as_json
_Processor = Callable[[Any], Any] | None
_Shape = tuple[str, tuple[str, ...], tuple[bool, ...]]  # table, columns, constant per column
_UNNEST_INSERTS: dict[tuple[_Shape, ...], tuple[Any, list[list[Any]]]] = {}


def _unnest_insert(
    conn: Connection, tables: Sequence[Table], shapes: tuple[_Shape, ...]
) -> tuple[Any, list[list[_Processor]]]:
    """The one ``INSERT ... SELECT FROM ROWS FROM (...)`` statement of ``shapes`` (table,
    column names and which columns are constant, per batch) and each batch's column
    processors (cached per shape)."""
    cached = _UNNEST_INSERTS.get(shapes)
    if cached is not None:
        return cached
    dialect = conn.dialect
    parts: list[str] = []
    processors: list[list[_Processor]] = []
    for b, (table, (_, names, constant)) in enumerate(zip(tables, shapes, strict=True)):
        sources: list[str] = []
        aliases: list[str] = []
        values: list[str] = []
        column_processors: list[_Processor] = []
        for i, (name, same) in enumerate(zip(names, constant, strict=True)):
            column = table.c[name]
            if isinstance(column.type, JSON):
                sql_type = "JSON"
                column_processors.append(_AS_JSON)
            else:
                # Strings as TEXT: an explicit cast to VARCHAR(n) would cut a long value
                # silently, where the INSERT's own (assignment) cast refuses it.
                sql_type = (
                    "TEXT"
                    if isinstance(column.type, String)
                    else column.type.compile(dialect=dialect)
                )
                column_processors.append(column.type.bind_processor(dialect))
            if same:
                values.append(f"CAST(:b{b}c{i} AS {sql_type})")
                continue
            aliases.append(f"v{i}")
            values.append(f"u.v{i}")
            sources.append(
                f"json_array_elements(CAST(:b{b}c{i} AS JSON))"
                if sql_type == "JSON"
                else f"unnest(CAST(:b{b}c{i} AS {sql_type}[]))"
            )
        parts.append(
            f"INSERT INTO {table.name} ({', '.join(names)}) SELECT {', '.join(values)} "
            f"FROM ROWS FROM ({', '.join(sources)}) AS u({', '.join(aliases)})"
        )
        processors.append(column_processors)
    *first, last = parts
    sql = (
        "WITH " + ", ".join(f"i{b} AS ({part})" for b, part in enumerate(first)) + " " + last
        if first
        else last
    )
    _UNNEST_INSERTS[shapes] = (text(sql), processors)
    return _UNNEST_INSERTS[shapes]


def _note(session: Session, assignment: Assignment, kind: str) -> None:
    noted: dict[int, tuple[Assignment, str]] = session.info.setdefault(_NOTED, {})
    # An assignment offered and changed in one transaction is announced once, as it ends up.
    first = noted.get(id(assignment))
    noted[id(assignment)] = (assignment, "offered" if first and first[1] == "offered" else kind)


def note_offered(
    session: Session,
    assignments: Sequence[Assignment],
    case_row: Case,
    members: dict[tuple[str, int], list[int]] | None = None,
) -> None:
    """Announce new assignments written without the unit of work (a Core INSERT).

    The ``after_flush`` hook sees only what the ORM flushes; a writer that inserts assignments
    itself calls this in the same transaction, and their deliveries are written at the commit
    exactly as for flushed ones. ``members``: recipients the writer already knows per
    ``(kind, id)`` target (read in this transaction). Does nothing in a session whose factory
    has no outbox installed, as the hook would.
    """
    if not session.info.get(_ACTIVE):
        return
    for assignment in assignments:
        _note(session, assignment, "offered")
    session.info.setdefault(_HELD_CASES, {}).setdefault(case_row.id, case_row)
    if members:
        session.info.setdefault(_KNOWN_MEMBERS, {}).update(members)


def install(
    factory: sessionmaker[Session],
    clock: Callable[[], datetime],
    push: Callable[[Sequence[Pushed]], None],
) -> bool:
    """Write deliveries for assignment changes in every session of ``factory``; push on commit.

    Idempotent per factory (a second call returns False and changes nothing): installed twice,
    every assignment would be delivered twice. Every process that writes assignments must
    install it on its session factory: the web process does (``dispatch.realtime.field``), and
    so does a worker-only process (``dispatch.workers.supervisor``).
    """
    from sqlalchemy import event

    if factory in _INSTALLED:
        return False
    _INSTALLED.add(factory)
    # Every session of the factory carries the flag (sessionmaker copies ``info`` into each).
    factory.configure(info={**(factory.kw.get("info") or {}), _ACTIVE: True})

    @event.listens_for(factory, "after_flush")
    def _collect(session: Session, _ctx: object) -> None:
        # Pre-flush lists and attribute history are still visible here (SQLAlchemy documents
        # it), and the new rows already have their ids.
        for obj in session.new:
            if isinstance(obj, Assignment):
                _note(session, obj, "offered")
                held = session.info.setdefault(_HELD_CASES, {})
                if obj.case_id not in held:
                    found = session.identity_map.get(identity_key(Case, obj.case_id))
                    if found is not None:
                        held[obj.case_id] = found
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
            enqueue_many(session, list(noted.values()), clock())
            session.flush()

    @event.listens_for(factory, "after_commit")
    def _push(session: Session) -> None:
        session.info.pop(_HELD_CASES, None)
        session.info.pop(_KNOWN_MEMBERS, None)
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
        session.info.pop(_HELD_CASES, None)
        session.info.pop(_KNOWN_MEMBERS, None)

    return True


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


def put_off(session: Session, rows: Sequence[Delivery], now: datetime, seconds: float) -> None:
    """Move the next attempt of ``rows`` ``seconds`` later without counting a send."""
    later = now + timedelta(seconds=seconds)
    for row in rows:
        row.next_attempt_at = later


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


def acknowledge_pairs(session: Session, pairs: Sequence[tuple[int, int]], now: datetime) -> int:
    """Acknowledge many ``(recipient_id, seq)`` pairs in one statement; repeats change nothing."""
    if not pairs:
        return 0
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        # One fixed statement with two arrays: the IN list of pairs was new SQL (built,
        # compiled and parsed) for every batch size, and this runs every 50 ms under load.
        done = conn.execute(
            _PG_ACKNOWLEDGE,
            {
                "recipients": [r for r, _ in pairs],
                "seqs": [q for _, q in pairs],
                "now": now,
            },
        )
        return int(done.rowcount or 0)
    result = session.execute(
        update(Delivery)
        .where(
            tuple_(Delivery.recipient_id, Delivery.seq).in_(list(pairs)),
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


_PG_ACKNOWLEDGE = text(
    "UPDATE deliveries AS d SET acked_at = :now, next_attempt_at = NULL, "
    "delivered_at = coalesce(d.delivered_at, :now) "
    "FROM unnest(CAST(:recipients AS integer[]), CAST(:seqs AS integer[])) AS a(recipient_id, seq) "
    "WHERE d.recipient_id = a.recipient_id AND d.seq = a.seq AND d.acked_at IS NULL"
).bindparams(bindparam("now", type_=UTCDateTime()))


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


#: A connected user whose ``last_seen`` is older than this is shown offline (their process died).
STALE_AFTER = timedelta(seconds=90)


def team_presence(
    session: Session, visible_users: Sequence[User], now: datetime, team_id: int | None = None
) -> list[dict[str, Any]]:
    """Presence rows for the hall's team lists: online, last seen, location, per user.

    ``visible_users`` is the caller's jurisdiction-scoped user list (``users.list_users``).
    """
    chosen = [u for u in visible_users if team_id is None or u.team_id == team_id]
    rows = {
        p.user_id: p
        for p in session.scalars(
            select(FieldPresence).where(FieldPresence.user_id.in_([u.id for u in chosen]))
        )
    }
    out = []
    for user in chosen:
        p = rows.get(user.id)
        online = bool(p and p.online and now - p.last_seen <= STALE_AFTER)
        out.append(
            {
                "user_id": user.id,
                "name": user.display_name,
                "role": user.role,
                "team_id": user.team_id,
                "department_id": user.department_id,
                "region_code": user.region_code,
                "online": online,
                "last_seen": p.last_seen.isoformat() if p else None,
                "lat": p.lat if p else None,
                "lon": p.lon if p else None,
                "located_at": p.located_at.isoformat() if p and p.located_at else None,
            }
        )
    return out
