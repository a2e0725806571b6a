"""Summary figures (DESIGN.md contract) from the rollups: no scan of the case table.

A range [start, end) is split into whole months (month rollup), whole days (day rollup) and, when
an end is not at local midnight, a partial day counted from the few cases touching it.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, case, func, select
from sqlalchemy.orm import Session

from dispatch.db.models import Case, RollupDay, RollupMonth
from dispatch.domain.codes import MAJOR_SEVERITIES
from dispatch.domain.jurisdiction import Scope
from dispatch.domain.kpi import LOCAL_TZ, METRICS, Summary, summarise

#: Counts already read during one summary, by what was read: the range and "everything
#: before to" share the partial last day and the whole days of the current month.
_Memo = dict[tuple[object, ...], Counter[str]]
#: A select of any columns (SQLAlchemy types selects by their columns).
_AnySelect = Select[*tuple[Any, ...]]


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), LOCAL_TZ)


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def _sum(
    session: Session,
    model: type[RollupDay] | type[RollupMonth],
    scope: Scope,
    lo: date | None,
    hi: date,
    memo: _Memo,
) -> Counter[str]:
    key = (model.__tablename__, lo, hi)
    if key not in memo:
        memo[key] = _sum_sql(session, model, scope, lo, hi)
    return memo[key]


def _sum_sql(
    session: Session,
    model: type[RollupDay] | type[RollupMonth],
    scope: Scope,
    lo: date | None,
    hi: date,
) -> Counter[str]:
    stmt = _sum_statement(model, scope.column, lo is not None)
    row = session.connection().execute(stmt, {"code": scope.code, "lo": lo, "hi": hi}).one()
    return Counter(dict(zip(METRICS, (int(v) for v in row), strict=True)))


@cache
def _sum_statement(
    model: type[RollupDay] | type[RollupMonth], column: str, bounded_below: bool
) -> _AnySelect:
    """The rollup sum of one shape, built once: building and keying the expression of a dozen
    sums cost more than running it (a summary makes up to six such statements)."""
    table = model.__table__
    columns = [func.coalesce(func.sum(table.c[m]), 0) for m in METRICS]
    stmt = select(*columns).where(
        table.c[column] == bindparam("code"), table.c.day < bindparam("hi")
    )
    if bounded_below:
        stmt = stmt.where(table.c.day >= bindparam("lo"))
    return stmt


def _whole_days(
    session: Session, scope: Scope, lo: date | None, hi: date, memo: _Memo
) -> Counter[str]:
    """Sums over local days [lo, hi); lo None means from the beginning."""
    if lo is not None and lo >= hi:
        return Counter()
    first_full_month = lo if lo is None or lo.day == 1 else _next_month(lo)
    last_month_start = hi.replace(day=1)
    total: Counter[str] = Counter()
    head_hi: date | None
    tail_lo: date | None
    if first_full_month is None or first_full_month < last_month_start:
        total.update(_sum(session, RollupMonth, scope, first_full_month, last_month_start, memo))
        head_hi = first_full_month
        tail_lo = last_month_start
    else:
        head_hi, tail_lo = None, lo
    if lo is not None and head_hi is not None and lo < head_hi:
        total.update(_sum(session, RollupDay, scope, lo, head_hi, memo))
    if tail_lo is not None and tail_lo < hi:
        total.update(_sum(session, RollupDay, scope, tail_lo, hi, memo))
    return total


def _partial_sql(session: Session, scope: Scope, start: datetime, end: datetime) -> Counter[str]:
    """Counts for a window shorter than a day, by SQL aggregates over the cases touching it.

    Mirrors ``dispatch.domain.kpi.moments`` (the tests compare both against brute force); each
    of the three statements is one index range (received_at, closed_at, finish_by) in a day.
    """
    if start >= end:
        return Counter()
    received_stmt, closed_stmt, due_stmt = _partial_statements(scope.column)
    conn = session.connection()
    params = {"code": scope.code, "start": start, "end": end}
    received, major = conn.execute(received_stmt, params).one()
    closed_row = conn.execute(closed_stmt, params).one()
    due, cleared_at_deadline = conn.execute(due_stmt, params).one()
    names = ("closed", "success", "failure", "online_success", "online_failure", "closed_on_time")
    out: Counter[str] = Counter(dict(zip(names, (int(v) for v in closed_row[:6]), strict=True)))
    out.update(
        received=int(received),
        major_received=int(major),
        due=int(due),
        cleared=int(closed_row[6]) + int(cleared_at_deadline),
    )
    return +out


_MAJOR = [s.value for s in MAJOR_SEVERITIES]


@cache
def _partial_statements(column_name: str) -> tuple[_AnySelect, _AnySelect, _AnySelect]:
    """The partial day's three statements for a scope column, built once (see
    ``_sum_statement``); the scope code and the window are bound at execution."""
    cases = Case.__table__.c
    column = cases[column_name]
    start, end = (
        bindparam("start", type_=cases.received_at.type),
        bindparam("end", type_=cases.received_at.type),
    )
    in_scope = column == bindparam("code")
    # The closed and due statements select by the day's range of closed_at / finish_by (about
    # a thousand rows a day at 1,000,000 cases) and must only filter the scope afterwards:
    # given a plain equality, PostgreSQL ANDs in a bitmap of the township's every case from
    # ix_cases_township_received (tens of thousands of rows, 10-15 ms instead of 1-2 ms).
    # coalesce() keeps the meaning (the region columns are NOT NULL) but no index matches it.
    scope_filter = func.coalesce(column, "") == bindparam("code")

    def count(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    received_in = cases.received_at.between(start, end) & (cases.received_at < end)
    closed_in = cases.closed_at.between(start, end) & (cases.closed_at < end)
    due_in = cases.finish_by.between(start, end) & (cases.finish_by < end)
    success, failure = cases.outcome == "success", cases.outcome == "failure"
    on_time = cases.finish_by.is_(None) | (cases.closed_at <= cases.finish_by)
    received = select(count(received_in), count(cases.severity.in_(_MAJOR))).where(
        in_scope, received_in
    )
    closed = select(
        count(closed_in),
        count(success),
        count(failure),
        count(success & cases.online),
        count(failure & cases.online),
        count(on_time),
        # cleared at max(finish_by, closed_at): here when closing came after the deadline
        count(cases.finish_by.is_not(None) & (cases.closed_at > cases.finish_by)),
    ).where(scope_filter, closed_in)
    due = select(
        count(due_in),
        # cleared at the deadline: closed on time (before this window or inside it)
        count(cases.closed_at.is_not(None) & (cases.closed_at <= cases.finish_by)),
    ).where(scope_filter, due_in)
    return received, closed, due


def _partial(
    session: Session, scope: Scope, start: datetime, end: datetime, memo: _Memo
) -> Counter[str]:
    key = ("partial", start, end)
    if key not in memo:
        memo[key] = _partial_sql(session, scope, start, end)
    return memo[key]


def _counts_between(
    session: Session, scope: Scope, start: datetime | None, end: datetime, memo: _Memo
) -> Counter[str]:
    end_local = end.astimezone(LOCAL_TZ)
    end_day = end_local.date()
    total: Counter[str] = Counter()
    if start is None:
        total.update(_whole_days(session, scope, None, end_day, memo))
        total.update(_partial(session, scope, local_midnight(end_day), end, memo))
        return total
    start_local = start.astimezone(LOCAL_TZ)
    first_whole = (
        start_local.date()
        if start_local.time() == time(0)
        else start_local.date() + timedelta(days=1)
    )
    if first_whole > end_day:  # both ends inside the same local day
        return _partial(session, scope, start, end, memo)
    total.update(_partial(session, scope, start, local_midnight(first_whole), memo))
    total.update(_whole_days(session, scope, first_whole, end_day, memo))
    total.update(_partial(session, scope, local_midnight(end_day), end, memo))
    return total


def summary(session: Session, scope: Scope, start: datetime, end: datetime) -> Summary:
    """The summary figures for the region ``scope`` and everything below it, over [start, end)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("summary needs timezone-aware bounds")
    memo: _Memo = {}
    in_range = _counts_between(session, scope, start, end, memo)
    before_end = _counts_between(session, scope, None, end, memo)
    return summarise(in_range, before_end)
