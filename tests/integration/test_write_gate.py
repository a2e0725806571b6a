"""The SQLite write gate: writers of one process queue in order instead of polling the file lock."""

from __future__ import annotations

import functools
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from dispatch.db.session import WriteGate, make_engine, write_gate


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'gate.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT)"))
    yield engine
    engine.dispose()


def _wait_until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


def test_second_writer_waits_for_the_gate_while_readers_go_on(engine: Engine) -> None:
    gate = write_gate(engine)
    assert gate is not None
    first_wrote = threading.Event()
    let_first_commit = threading.Event()
    order: list[str] = []

    def first() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t (who) VALUES ('first')"))
            first_wrote.set()
            let_first_commit.wait(5)
            order.append("first")

    def second() -> None:
        first_wrote.wait(5)
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t (who) VALUES ('second')"))
            order.append("second")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for th in threads:
        th.start()
    _wait_until(lambda: len(gate._waiters) == 1)
    # A reader is not held up by the queued writer nor by the one writing.
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM t")) == 0
    let_first_commit.set()
    for th in threads:
        th.join(5)
    assert order == ["first", "second"]
    with engine.connect() as conn:
        assert conn.scalars(text("SELECT who FROM t ORDER BY id")).all() == ["first", "second"]
    assert gate._holder is None


def _queued(gate: WriteGate, n: int) -> bool:
    return len(gate._waiters) == n


def test_many_writers_all_commit_without_busy_errors(engine: Engine) -> None:
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            for i in range(25):
                with engine.begin() as conn:
                    conn.execute(text("INSERT INTO t (who) VALUES (:w)"), {"w": f"{k}-{i}"})
                    # Hold the transaction a little so writers really overlap.
                    time.sleep(0.001)
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert errors == []
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM t")) == 150


def test_rollback_releases_the_gate(engine: Engine) -> None:
    gate = write_gate(engine)
    assert gate is not None
    with pytest.raises(RuntimeError), engine.begin() as conn:
        conn.execute(text("INSERT INTO t (who) VALUES ('x')"))
        assert gate._holder is not None
        raise RuntimeError("abort")
    assert gate._holder is None
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t (who) VALUES ('y')"))
    with engine.connect() as conn:
        assert conn.scalars(text("SELECT who FROM t")).all() == ["y"]


def test_waiters_are_served_first_come_first_served() -> None:
    gate = WriteGate(timeout=5)
    holder = object()
    gate.acquire(holder)
    served: list[int] = []

    def wait(k: int, conn: object) -> None:
        gate.acquire(conn)
        served.append(k)
        gate.release(conn)

    threads = []
    for k in range(4):
        th = threading.Thread(target=wait, args=(k, object()))
        th.start()
        threads.append(th)
        _wait_until(functools.partial(_queued, gate, k + 1))
    gate.release(holder)
    for th in threads:
        th.join(5)
    assert served == [0, 1, 2, 3]


def test_a_writer_that_is_never_handed_the_gate_fails_like_a_busy_database() -> None:
    gate = WriteGate(timeout=0.05)
    gate.acquire("held")
    failed: list[BaseException] = []

    def other() -> None:
        try:
            gate.acquire("late")
        except sqlite3.OperationalError as err:
            failed.append(err)

    th = threading.Thread(target=other)
    th.start()
    th.join(5)
    assert failed and "locked" in str(failed[0])
    assert not gate._waiters
    # The same thread writing on a second connection would wait for itself: refused at once.
    with pytest.raises(sqlite3.OperationalError):
        gate.acquire("second connection of this thread")
    gate.release("held")
    gate.acquire("late")
    assert gate.holds("late")
