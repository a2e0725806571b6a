"""Engine and session factory. SQLite gets WAL and foreign keys; PostgreSQL uses psycopg 3."""

from __future__ import annotations

import sqlite3
import threading
import time
import weakref
from collections import deque
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.orm import Session, sessionmaker

#: Seconds a writer waits for the write gate (the same as SQLite's own busy timeout below).
WRITE_WAIT_SECONDS = 30.0
#: Statements that make pysqlite open a write transaction (its own list: see the sqlite3 docs
#: on implicit transactions). Anything else writing (DDL) falls back to SQLite's busy handler.
_WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLACE")


def normalise_url(url: str) -> str:
    """Let operators write postgresql://... and still get the psycopg 3 driver."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class WriteGate:
    """One writing transaction at a time per process, the others queued first come first served.

    SQLite has one writer per database file. Without this, writer threads of one process
    meet at the file lock and SQLite's busy handler makes the losers sleep and retry
    (1, 2, 5, … up to 100 ms a round): a writer can lose several rounds in a row, which
    showed as p99 latencies near a second with four concurrent dispatchers while the
    median was 30 ms. Here a writer that finds the gate taken waits in line and is handed the
    gate the moment the previous transaction commits or rolls back.

    The gate is taken just before a connection's first INSERT/UPDATE/DELETE/REPLACE (when
    pysqlite opens its write transaction) and released after that connection's commit or
    rollback, so reading never waits. Other processes still meet at the file lock.
    """

    def __init__(self, timeout: float = WRITE_WAIT_SECONDS) -> None:
        self.timeout = timeout
        self._mutex = threading.Lock()
        self._holder: Any = None  # the DBAPI connection writing now
        self._holder_thread: int | None = None
        self._waiters: deque[tuple[threading.Lock, Any]] = deque()

    def holds(self, dbapi_conn: Any) -> bool:
        return self._holder is not None and self._holder is dbapi_conn

    def acquire(self, dbapi_conn: Any) -> None:
        """Wait for the gate on behalf of ``dbapi_conn``.

        Raises:
            sqlite3.OperationalError: not handed the gate within ``timeout`` seconds, or the
                gate is held by another connection of this very thread (it could never be
                released while this thread waits).
        """
        me = threading.get_ident()
        with self._mutex:
            if self._holder is dbapi_conn:
                return
            if self._holder is None:
                self._holder, self._holder_thread = dbapi_conn, me
                return
            if self._holder_thread == me:
                raise sqlite3.OperationalError(
                    "database is locked (this thread is writing on another connection)"
                )
            baton = threading.Lock()
            baton.acquire()
            self._waiters.append((baton, dbapi_conn))
        if baton.acquire(timeout=self.timeout):
            return  # handed over by release(), holder already set to us
        with self._mutex:
            try:
                self._waiters.remove((baton, dbapi_conn))
            except ValueError:
                return  # handed over just as the wait timed out: ours after all
        raise sqlite3.OperationalError("database is locked (write gate timeout)")

    def release(self, dbapi_conn: Any) -> None:
        """Hand the gate to the next writer in line, if ``dbapi_conn`` holds it."""
        with self._mutex:
            if self._holder is None or self._holder is not dbapi_conn:
                return
            if self._waiters:
                baton, self._holder = self._waiters.popleft()
                # The waiter's thread id is set when it runs; until then nobody else can
                # take the gate, which is all the same-thread check needs.
                self._holder_thread = None
                baton.release()
            else:
                self._holder, self._holder_thread = None, None

    def claim_thread(self, dbapi_conn: Any) -> None:
        with self._mutex:
            if self._holder is dbapi_conn:
                self._holder_thread = threading.get_ident()


def _is_write(statement: str) -> bool:
    return statement.lstrip()[:7].upper().startswith(_WRITE_VERBS)


def _install_write_gate(engine: Engine, gate: WriteGate) -> None:
    dialect = engine.dialect
    do_commit, do_rollback = dialect.do_commit, dialect.do_rollback

    def _raw(connection: Any) -> Any:
        # The dialect is called with the pool's proxy; the cursor events see the raw driver
        # connection. Key the gate on the raw one.
        return getattr(connection, "dbapi_connection", connection)

    @event.listens_for(engine, "before_cursor_execute")
    def _enter(
        _conn: Any, cursor: Any, statement: str, _params: Any, _ctx: Any, _many: bool
    ) -> None:
        raw = cursor.connection
        # Only the statement that opens the write transaction waits. A connection already in
        # a transaction without the gate wrote through the raw driver (the bulk import does):
        # it holds SQLite's lock, and waiting for the gate there could deadlock with a gate
        # holder waiting for that lock, so it carries on as SQLite alone would have it.
        if _is_write(statement) and not raw.in_transaction and not gate.holds(raw):
            gate.acquire(raw)
            gate.claim_thread(raw)

    @event.listens_for(engine, "after_cursor_execute")
    def _autocommitted(
        _conn: Any, cursor: Any, _statement: str, _params: Any, _ctx: Any, _many: bool
    ) -> None:
        # A write run outside a transaction (driver-level autocommit) is already durable.
        raw = cursor.connection
        if gate.holds(raw) and not raw.in_transaction:
            gate.release(raw)

    @event.listens_for(engine, "handle_error")
    def _failed(context: Any) -> None:
        # A failed write may leave no transaction open (e.g. the BEGIN itself failed).
        raw = getattr(context.cursor, "connection", None)
        if raw is not None and gate.holds(raw) and not raw.in_transaction:
            gate.release(raw)

    def commit(connection: Any) -> None:
        try:
            do_commit(connection)
        finally:
            gate.release(_raw(connection))

    def rollback(connection: Any) -> None:
        try:
            do_rollback(connection)
        finally:
            gate.release(_raw(connection))

    # The dialect has no "after commit" event (ConnectionEvents.commit runs before it), and
    # the gate must be held until the file lock is released, so wrap this engine's dialect.
    dialect.do_commit = commit  # type: ignore[method-assign,assignment]
    dialect.do_rollback = rollback  # type: ignore[method-assign,assignment]

    @event.listens_for(engine.pool, "invalidate")
    def _invalidated(dbapi_conn: Any, _record: Any, _exc: Any) -> None:
        gate.release(dbapi_conn)

    @event.listens_for(engine.pool, "close")
    def _closed(dbapi_conn: Any, _record: Any) -> None:
        gate.release(dbapi_conn)


_GATES: weakref.WeakKeyDictionary[Engine, WriteGate] = weakref.WeakKeyDictionary()


def write_gate(engine: Engine) -> WriteGate | None:
    """The write gate of an SQLite file engine made by :func:`make_engine` (None otherwise)."""
    return _GATES.get(engine)


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        # The web process serves requests from several threads; SQLite needs to know.
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        if ":memory:" not in url and url.rstrip("/") not in ("sqlite:", "sqlite+pysqlite:"):
            gate = WriteGate()
            _install_write_gate(engine, gate)
            _GATES[engine] = gate
        return engine
    engine = create_engine(url, pool_size=10, max_overflow=20, **kwargs)
    _ping_when_idle(engine)
    return engine


#: A pooled server connection unused for longer than this is pinged before it is handed out,
#: so one the server dropped while it sat idle (a restart, a firewall's idle timeout) is
#: replaced before a request uses it. A connection in steady use is not: SQLAlchemy's
#: ``pool_pre_ping`` pings at every checkout, a round trip that cost the dispatcher about 5% of
#: its web process at 500 deliveries/s. A connection that breaks while in use fails its
#: statement, and SQLAlchemy then invalidates the whole pool, as it would with pre-ping.
PING_AFTER_IDLE_SECONDS = 2.0
_IDLE_SINCE = "cc_idle_since"


def _ping_when_idle(engine: Engine) -> None:
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_conn: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checking_out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_conn)
        except dialect.loaded_dbapi.Error as err:
            if dialect.is_disconnect(err, dbapi_conn, None):
                # The pool drops this connection (and any older ones) and hands out a new one.
                raise exc.InvalidatePoolError() from err
            raise


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
