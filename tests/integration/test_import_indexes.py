"""The equality-only text indexes use byte comparison on PostgreSQL (migration 0003) and still
serve the lookups that need them."""

from __future__ import annotations

import pytest
from sqlalchemy import Table, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex

from dispatch.db.models import Case, Party
from dispatch.db.session import make_engine

PATTERN_INDEXES = (
    "ix_parties_id_key",
    "ix_parties_phone_key",
    "ix_cases_township_received",
    "ix_cases_county_state",
)


@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)
def test_migrated_indexes_match_the_models_operator_classes(database_url: str) -> None:
    # alembic check does not compare operator classes: compare the definitions here.
    tables: list[Table] = [Case.__table__, Party.__table__]  # type: ignore[list-item]
    indexes = {str(i.name): i for t in tables for i in t.indexes}
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            found: dict[str, str] = dict(
                conn.execute(
                    text("SELECT indexname, indexdef FROM pg_indexes WHERE indexname = ANY(:n)"),
                    {"n": list(PATTERN_INDEXES)},
                ).all()
            )
    finally:
        engine.dispose()
    assert set(found) == set(PATTERN_INDEXES)
    for name in PATTERN_INDEXES:
        model_ddl = str(CreateIndex(indexes[name]).compile(dialect=postgresql.dialect()))
        assert "varchar_pattern_ops" in found[name]
        assert found[name].count("varchar_pattern_ops") == model_ddl.count("varchar_pattern_ops")


@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)
@pytest.mark.parametrize(
    ("sql", "index"),
    [
        ("SELECT case_id FROM parties WHERE id_key IN ('a', 'b')", "ix_parties_id_key"),
        ("SELECT case_id FROM parties WHERE phone_key = ANY(ARRAY['a'])", "ix_parties_phone_key"),
        (
            "SELECT id FROM cases WHERE township_code = '990102001' "
            "ORDER BY received_at DESC LIMIT 20",
            "ix_cases_township_received",
        ),
        (
            "SELECT count(*) FROM cases WHERE county_code = '990102' "
            "AND state IN ('intake', 'mediation')",
            "ix_cases_county_state",
        ),
    ],
)
def test_equality_lookups_still_use_the_indexes(database_url: str, sql: str, index: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            # Empty tables: take the sequential scan off the table so the plan shows
            # whether the index can serve the condition at all.
            conn.execute(text("SET enable_seqscan = off"))
            plan = "\n".join(conn.execute(text(f"EXPLAIN {sql}")).scalars())
    finally:
        engine.dispose()
    assert index in plan, plan
