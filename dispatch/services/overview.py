"""Read models for the hall and the analysis room: bounded, scoped queries (cases, rollups, users).

Every function takes the actor's :class:`Scope` and goes through the one scoping function
(``dispatch.services.cases.scoped``) or the scope column of the rollups, so a county or township
display never sees another area. Results are bounded (newest N) so the hall's payload does not
grow with the number of cases.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from config.regions import RegionTree
from dispatch.db.models import Case, RollupMonth, User
from dispatch.domain.cases import OPEN_STATES
from dispatch.domain.codes import Level, Role
from dispatch.domain.jurisdiction import Scope
from dispatch.domain.kpi import LOCAL_TZ, Summary, change
from dispatch.services import cases as case_service
from dispatch.services import stats

#: At most this many case points on the map (newest open cases first).
MAP_POINTS_LIMIT = 500
#: Cases in the latest-cases stream.
STREAM_LIMIT = 40
#: Cards on the supervision board.
SUPERVISION_LIMIT = 30

_OPEN = [s.value for s in OPEN_STATES]
PERIODS: tuple[str, ...] = ("today", "month", "year")


def point_of(case: Case) -> dict[str, Any]:
    """The few fields the map and the stream need (no personal data)."""
    return {
        "id": case.id,
        "code": case.code,
        "title": case.title,
        "category": case.category,
        "severity": case.severity,
        "state": case.state,
        "status": "closed" if case.state not in _OPEN else "open",
        "township_code": case.township_code,
        "county_code": case.county_code,
        "lat": case.lat,
        "lon": case.lon,
        "received_at": case.received_at.isoformat(),
        "finish_by": case.finish_by.isoformat() if case.finish_by else None,
        "card": case.card,
        "escalations": case.escalations,
        "level": case.level,
    }


def slim(summary: dict[str, Any]) -> dict[str, Any]:
    """The same fields from a bus case summary (``cases.summary``)."""
    keys = (
        "id", "code", "title", "category", "severity", "state", "township_code", "county_code",
        "lat", "lon", "received_at", "finish_by", "card", "escalations", "level",
    )  # fmt: skip
    out = {k: summary.get(k) for k in keys}
    out["status"] = "closed" if summary.get("status") == "closed" else "open"
    return out


def _region_filter(scope: Scope, region: Scope | None) -> list[Scope]:
    return [scope] if region is None else [scope, region]


def latest_open(
    session: Session, scope: Scope, region: Scope | None = None, limit: int = MAP_POINTS_LIMIT
) -> list[dict[str, Any]]:
    """The newest open cases in scope (and in ``region`` when drilled down), at most ``limit``."""
    stmt = select(Case).where(Case.state.in_(_OPEN))
    for s in _region_filter(scope, region):
        stmt = case_service.scoped(stmt, s)
    rows = session.scalars(stmt.order_by(Case.received_at.desc(), Case.id.desc()).limit(limit))
    return [point_of(c) for c in rows]


def latest_cases(
    session: Session, scope: Scope, region: Scope | None = None, limit: int = STREAM_LIMIT
) -> list[dict[str, Any]]:
    """The newest cases in scope, any state, newest first."""
    stmt = select(Case)
    for s in _region_filter(scope, region):
        stmt = case_service.scoped(stmt, s)
    rows = session.scalars(stmt.order_by(Case.received_at.desc(), Case.id.desc()).limit(limit))
    return [point_of(c) for c in rows]


def open_by_township(session: Session, scope: Scope, regions: RegionTree) -> dict[str, int]:
    """Open cases per township in scope, from the month rollups (no scan of the cases)."""
    if scope.level is Level.GRID:
        by_town = cast(
            "Select[Any]", select(Case.township_code, func.count()).where(Case.state.in_(_OPEN))
        )
        stmt = case_service.scoped(by_town, scope).group_by(Case.township_code)
        return {str(code): int(n) for code, n in session.execute(stmt)}
    table = RollupMonth.__table__
    stmt2 = (
        select(
            table.c.township_code,
            func.coalesce(func.sum(table.c.received), 0)
            - func.coalesce(func.sum(table.c.closed), 0),
        )
        .where(table.c[scope.column] == scope.code)
        .group_by(table.c.township_code)
    )
    counts = {str(code): max(int(n), 0) for code, n in session.execute(stmt2)}
    townships = (
        [scope.code]
        if scope.level is Level.TOWNSHIP
        else [r.code for r in regions.descendants(scope.code, Level.TOWNSHIP)]
    )
    return {code: counts.get(code, 0) for code in townships}


def period_bounds(now: datetime) -> dict[str, tuple[datetime, datetime]]:
    """[start, end) of today, this month and this year in local time, ``end`` the next midnight.

    Whole local days let the summary read only the rollups (a range ending mid-day makes it
    scan the cases of that day, which grows with the case count). Nothing is received or closed
    after ``now``, so the counts equal those up to ``now``; the one figure that looks ahead,
    overdue, is counted at ``now`` separately (:func:`overdue_at`).
    """
    local = now.astimezone(LOCAL_TZ)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    tomorrow = midnight + timedelta(days=1)  # Asia/Shanghai has no daylight saving time
    return {
        "today": (midnight, tomorrow),
        "month": (midnight.replace(day=1), tomorrow),
        "year": (midnight.replace(month=1, day=1), tomorrow),
    }


def overdue_at(session: Session, scope: Scope, now: datetime) -> int:
    """Open cases past their finish deadline at ``now`` (the KPI definition), by index."""
    stmt = case_service.scoped(
        select(func.count()).select_from(Case).where(Case.state.in_(_OPEN), Case.finish_by < now),
        scope,
    )
    return int(session.scalar(stmt) or 0)


def year_before(moment: datetime) -> datetime:
    local = moment.astimezone(LOCAL_TZ)
    try:
        return local.replace(year=local.year - 1)
    except ValueError:  # 29 February
        return (local - timedelta(days=1)).replace(year=local.year - 1)


@dataclass(frozen=True)
class PeriodFigures:
    """The KPI summary of one period and of the same period a year earlier."""

    period: str
    current: Summary
    previous: Summary

    def yoy(self, metric: str) -> float | None:
        """Year-on-year change of ``metric`` (a Summary field or rate property)."""
        return change(getattr(self.current, metric), getattr(self.previous, metric))


def kpi_periods(
    session: Session, scope: Scope, regions: RegionTree, now: datetime
) -> list[PeriodFigures]:
    """Summary figures for today, this month and this year, with last year's same period.

    Last year's period covers the same local days (whole days: "today" is compared with the
    whole of the same day a year ago).
    """
    area = rollup_scope(scope, regions)
    overdue_now = overdue_at(session, area, now)
    out = []
    for period, (start, end) in period_bounds(now).items():
        current = replace(stats.summary(session, area, start, end), overdue=overdue_now)
        # A year ago, overdue is read from the rollups at the end of that day.
        previous = stats.summary(session, area, year_before(start), year_before(end))
        out.append(PeriodFigures(period, current, previous))
    return out


def rollup_scope(scope: Scope, regions: RegionTree) -> Scope:
    """The scope for rollup figures: rollups stop at the township, so a grid shows its township."""
    if scope.level is Level.GRID:
        parent = regions.get(scope.code).parent
        if parent is not None:
            return Scope(Level.TOWNSHIP, parent)
    return scope


@dataclass(frozen=True)
class LeagueRow:
    code: str
    received: int
    success_rate: float | None
    on_time_rate: float | None
    in_progress: int


def league(session: Session, scope: Scope, regions: RegionTree, now: datetime) -> list[LeagueRow]:
    """Year-to-date figures of each area one level below the scope (counties for the city)."""
    start, end = period_bounds(now)["year"]
    if scope.level in (Level.CITY, Level.COUNTY):
        children = regions.children(scope.code)
        areas = [Scope(c.level, c.code) for c in children if c.level is not Level.GRID]
    else:
        areas = [scope] if scope.level is Level.TOWNSHIP else []
    rows = []
    for area in areas:
        s = stats.summary(session, area, start, end)
        rows.append(LeagueRow(area.code, s.received, s.success_rate, s.on_time_rate, s.in_progress))
    return sorted(rows, key=lambda r: (-(r.success_rate or 0.0), -r.received))


@dataclass(frozen=True)
class SupervisionFigures:
    yellow: int
    red: int
    overdue: int
    escalated: int
    cards: list[dict[str, Any]]


def supervision(
    session: Session, scope: Scope, now: datetime, limit: int = SUPERVISION_LIMIT
) -> SupervisionFigures:
    """Open cases under supervision: yellow and red cards, overdue, escalated."""
    base = case_service.scoped(select(Case).where(Case.state.in_(_OPEN)), scope)
    flagged = or_(Case.card.in_(["yellow", "red"]), Case.finish_by < now, Case.escalations > 0)

    def count(*conditions: Any) -> int:
        stmt = select(func.count()).select_from(base.where(*conditions).subquery())
        return int(session.scalar(stmt) or 0)

    rows = session.scalars(base.where(flagged).order_by(Case.finish_by.asc()).limit(limit))
    return SupervisionFigures(
        yellow=count(Case.card == "yellow"),
        red=count(Case.card == "red"),
        overdue=count(Case.finish_by < now),
        escalated=count(Case.escalations > 0),
        cards=[point_of(c) for c in rows],
    )


#: Roles shown as "on duty" in the hall header.
DUTY_ROLES = (Role.DUTY_OFFICER.value, Role.COMMANDER.value, Role.LEADER.value)


def on_duty(session: Session, scope: Scope, regions: RegionTree, limit: int = 6) -> list[str]:
    """Display names of active duty officers, commanders and leaders in the scope."""
    rows = session.execute(
        select(User.display_name, User.region_code, User.role)
        .where(User.active.is_(True), User.role.in_(DUTY_ROLES))
        .order_by(User.role, User.id)
        .limit(500)
    ).all()
    names = [
        str(name)
        for name, region, _role in rows
        if region in regions and regions.is_within(str(region), scope.code)
    ]
    return names[:limit]


def category_mix(session: Session, scope: Scope, since: datetime) -> dict[str, int]:
    """Cases received since ``since`` per category, in scope."""
    by_cat = cast(
        "Select[Any]", select(Case.category, func.count()).where(Case.received_at >= since)
    )
    stmt = case_service.scoped(by_cat, scope).group_by(Case.category)
    return {str(cat): int(n) for cat, n in session.execute(stmt)}


def field_presence(
    session: Session, scope: Scope, regions: RegionTree, now: datetime
) -> list[dict[str, Any]]:
    """Online field staff in scope for the map layer and the online count (display name only)."""
    from dispatch.services import presence

    return presence.online_in_area(session, regions, scope, now)
