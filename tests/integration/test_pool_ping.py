"""Pooled PostgreSQL connections: one the server dropped while it sat idle is replaced before a
request uses it (``dispatch.db.session.PING_AFTER_IDLE_SECONDS``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from dispatch.db import session as db_session
from dispatch.db.session import make_engine

pytestmark = pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    built = make_engine(database_url)
    yield built
    built.dispose()


def pooled_pid_dropped_by_the_server(engine: Engine, database_url: str) -> int:
    """Use one pooled connection, put it back, and have the server end it (as a restart does)."""
    with engine.connect() as conn:
        pid = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
    admin = create_engine(database_url)
    try:
        with admin.connect() as other:
            assert other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    finally:
        admin.dispose()
    return pid


def test_a_connection_dropped_while_idle_is_replaced_before_use(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_session, "PING_AFTER_IDLE_SECONDS", 0.0)
    dropped = pooled_pid_dropped_by_the_server(engine, database_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != dropped


def test_a_connection_in_steady_use_is_not_pinged_and_the_pool_recovers_after_a_failure(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_session, "PING_AFTER_IDLE_SECONDS", 3600.0)
    dropped = pooled_pid_dropped_by_the_server(engine, database_url)
    # Not idle long enough to be pinged: the statement fails (one request, as without pre-ping)...
    with pytest.raises(OperationalError), engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    # ...and SQLAlchemy invalidated the pool, so the next request gets a new connection.
    with engine.connect() as conn:
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != dropped
