"""Keep the KPI rollup tables in step with the cases (see dispatch.domain.kpi)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from dispatch.db.models import Case, RollupDay, RollupMonth
from dispatch.domain.codes import Outcome, Severity
from dispatch.domain.kpi import METRICS, CaseFacts, RollupKey


def facts_of(case: Case) -> CaseFacts:
    return CaseFacts(
        township_code=case.township_code,
        received_at=case.received_at,
        severity=Severity(case.severity),
        online=bool(case.online),
        finish_by=case.finish_by,
        closed_at=case.closed_at,
        outcome=Outcome(case.outcome) if case.outcome else None,
    )


def _rows(
    delta: Counter[RollupKey], month: bool, parents: dict[str, tuple[str, str]]
) -> list[dict[str, object]]:
    grouped: dict[tuple[date, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(METRICS, 0))
    for (day, town, metric), count in delta.items():
        bucket = day.replace(day=1) if month else day
        grouped[(bucket, town)][metric] += count
    rows = []
    for (bucket, town), metrics in grouped.items():
        if not any(metrics.values()):
            continue
        county, city = parents[town]
        rows.append(
            {
                "day": bucket,
                "township_code": town,
                "county_code": county,
                "city_code": city,
                **metrics,
            }
        )
    return rows


def apply_delta(
    session: Session, delta: Counter[RollupKey], parents: dict[str, tuple[str, str]]
) -> None:
    """Add ``delta`` to the day and month rollups (an upsert that adds, on both dialects).

    ``parents`` maps a township code to its (county code, city code).
    """
    if not delta:
        return
    dialect = session.get_bind().dialect.name
    for model, month in ((RollupDay, False), (RollupMonth, True)):
        rows = _rows(delta, month, parents)
        if not rows:
            continue
        table: Table = model.__table__  # type: ignore[assignment]
        insert = pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)
        stmt = insert.on_conflict_do_update(
            index_elements=["day", "township_code"],
            set_={m: table.c[m] + insert.excluded[m] for m in METRICS},
        )
        session.execute(stmt, rows)


def parents_for(case: Case) -> dict[str, tuple[str, str]]:
    return {case.township_code: (case.county_code, case.city_code)}
