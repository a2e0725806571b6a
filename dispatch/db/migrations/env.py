"""Alembic environment: runs migrations on the connection or URL handed in by schema.py."""

from __future__ import annotations

from alembic import context

from dispatch.db import models  # noqa: F401  (registers every table on Base.metadata)
from dispatch.db.base import Base
from dispatch.db.session import make_engine

target_metadata = Base.metadata
config = context.config


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies tables
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        _run(conn)
        conn.commit()
    engine.dispose()
