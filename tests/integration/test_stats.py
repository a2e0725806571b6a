"""Summary figures over imported and seeded cases equal a brute-force count over the raw rows;
the demo seeder produces valid people, open, overdue and escalated cases; reference seeding."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from bench.common import city_actor, config, demo_rows, make_deps, to_csv
from config.reference import Reference
from config.regions import RegionTree
from dispatch.db.models import Case, CaseEvent, Department, Party, Region, Team
from dispatch.db.session import make_engine, make_session_factory
from dispatch.domain.cases import OPEN_STATES, CaseState
from dispatch.domain.codes import Level, Role
from dispatch.domain.identity import id_number_problem, phone_problem
from dispatch.domain.jurisdiction import Scope
from dispatch.domain.kpi import LOCAL_TZ, ratio
from dispatch.services import stats
from dispatch.services.deps import Deps
from dispatch.services.imports import import_cases
from dispatch.services.seed import TOWNSHIP_TEAMS, demo_users, seed_demo, seed_reference

NOW = datetime(2026, 11, 29, 6, 30, tzinfo=UTC)  # 14:30 in Shanghai


@dataclass(frozen=True)
class RawCase:
    city: str
    county: str
    township: str
    severity: str
    online: bool
    received_at: datetime
    finish_by: datetime | None
    closed_at: datetime | None
    outcome: str | None


def brute_force(
    cases: list[RawCase], scope: Scope, start: datetime, end: datetime
) -> dict[str, object]:
    """DESIGN.md "Summary figures", word for word, over the raw rows."""
    mine = [c for c in cases if getattr(c, scope.column.removesuffix("_code")) == scope.code]
    closed_in = [c for c in mine if c.closed_at is not None and start <= c.closed_at < end]
    success = sum(c.outcome == "success" for c in closed_in)
    failure = sum(c.outcome == "failure" for c in closed_in)
    online_success = sum(c.outcome == "success" and c.online for c in closed_in)
    online_failure = sum(c.outcome == "failure" and c.online for c in closed_in)
    received = [c for c in mine if start <= c.received_at < end]
    return {
        "received": len(received),
        "resolved": success,
        "success_rate": ratio(success, success + failure),
        "online_success_rate": ratio(online_success, online_success + online_failure),
        "in_progress": sum(
            c.received_at < end and (c.closed_at is None or c.closed_at >= end) for c in mine
        ),
        "major_disputes": sum(c.severity in ("major", "critical") for c in received),
        "overdue": sum(
            c.finish_by is not None
            and c.finish_by < end
            and (c.closed_at is None or c.closed_at >= end)
            for c in mine
        ),
    }


def figures(session: Session, scope: Scope, start: datetime, end: datetime) -> dict[str, object]:
    s = stats.summary(session, scope, start, end)
    return {
        "received": s.received,
        "resolved": s.resolved,
        "success_rate": s.success_rate,
        "online_success_rate": s.online_success_rate,
        "in_progress": s.in_progress,
        "major_disputes": s.major_disputes,
        "overdue": s.overdue,
    }


def raw_cases(session: Session) -> list[RawCase]:
    return [
        RawCase(
            c.city_code,
            c.county_code,
            c.township_code,
            c.severity,
            c.online,
            c.received_at,
            c.finish_by,
            c.closed_at,
            c.outcome,
        )
        for c in session.scalars(select(Case))
    ]


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), LOCAL_TZ)


def ranges() -> list[tuple[str, datetime, datetime]]:
    """Ranges of the hall and the API: DATE bounds (local midnight) and mid-day timestamps."""
    today = NOW.astimezone(LOCAL_TZ).date()
    month = today.replace(day=1)
    year = today.replace(month=1, day=1)
    return [
        ("today, to now", midnight(today), NOW),
        ("today, whole day", midnight(today), midnight(today + timedelta(days=1))),
        ("this month, to now", midnight(month), NOW),
        ("this month, dates", midnight(month), midnight(today)),
        ("this year, to now", midnight(year), NOW),
        ("this year, dates", midnight(year), midnight(today + timedelta(days=1))),
        ("last year", midnight(date(year.year - 1, 1, 1)), midnight(year)),
        ("mid-day to mid-day", datetime(2025, 3, 14, 3, 17, tzinfo=UTC), NOW - timedelta(hours=5)),
        (
            "within one day",
            datetime(2026, 6, 3, 1, tzinfo=UTC),
            datetime(2026, 6, 3, 9, tzinfo=UTC),
        ),
        (
            "across months mid-day",
            datetime(2026, 1, 31, 20, tzinfo=UTC),
            datetime(2026, 4, 2, 13, tzinfo=UTC),
        ),
        ("everything", datetime(2020, 1, 1, tzinfo=UTC), NOW),
    ]


@pytest.fixture(scope="module")
def demo_config() -> tuple[RegionTree, Reference]:
    return config()


@pytest.fixture
def deps(demo_config: tuple[RegionTree, Reference]) -> Deps:
    return make_deps(demo_config[0], demo_config[1], NOW)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


def scopes(regions: RegionTree) -> list[Scope]:
    county = regions.children(regions.city.code)[0]
    township = regions.children(county.code)[0]
    return [
        Scope(Level.CITY, regions.city.code),
        Scope(Level.COUNTY, county.code),
        Scope(Level.TOWNSHIP, township.code),
    ]


def assert_figures_match(factory: sessionmaker[Session], regions: RegionTree) -> None:
    with factory() as session:
        cases = raw_cases(session)
        for scope in scopes(regions):
            for name, start, end in ranges():
                expected = brute_force(cases, scope, start, end)
                assert figures(session, scope, start, end) == expected, (scope, name)


def test_summary_over_imported_cases_equals_brute_force(
    factory: sessionmaker[Session], deps: Deps, demo_config: tuple[RegionTree, Reference]
) -> None:
    regions = demo_config[0]
    rows = demo_rows(regions, deps, NOW, 2500)
    with factory.begin() as session:
        report = import_cases(session, deps, city_actor(regions), to_csv(rows), "csv")
    assert report.ok and report.imported == 2500
    assert_figures_match(factory, regions)


def test_seed_demo_makes_a_believable_centre(
    factory: sessionmaker[Session], deps: Deps, demo_config: tuple[RegionTree, Reference]
) -> None:
    regions, reference = demo_config
    with factory.begin() as session:
        seed_reference(session, regions, reference)
        written = seed_demo(
            session, deps, regions, reference, 4000, NOW, rng_seed=3, batch_size=1500
        )
    assert written == 4000
    with factory() as session:
        cases = session.scalars(select(Case)).all()
        assert len(cases) == 4000
        assert min(c.received_at for c in cases) >= NOW - timedelta(days=731)
        assert len({c.code for c in cases}) == 4000
        open_cases = [c for c in cases if CaseState(c.state) in OPEN_STATES]
        overdue = [c for c in open_cases if c.finish_by is not None and c.finish_by < NOW]
        assert open_cases and overdue
        assert all(c.card == "red" for c in overdue)
        assert all(c.outcome is None and c.closed_at is None for c in open_cases)
        escalated = [c for c in cases if c.escalations >= 1]
        assert escalated and all(c.level != "township" for c in escalated)
        escalate_events = session.scalar(
            select(func.count()).select_from(CaseEvent).where(CaseEvent.kind == "escalate")
        )
        assert escalate_events == len(escalated)
        ended = [c for c in cases if c.outcome in ("success", "failure")]
        success = sum(c.outcome == "success" for c in ended) / len(ended)
        assert 0.97 <= success <= 0.995
        online = sum(c.online for c in cases) / len(cases)
        assert 0.15 <= online <= 0.25
        assert sum(c.severity == "general" for c in cases) > len(cases) / 2
        assert all(c.closed_at is None or c.closed_at >= c.received_at for c in cases)
        parties = session.scalars(select(Party)).all()
        assert len(parties) >= 2 * len(cases)
        ids = [p.id_number for p in parties if p.id_number]
        assert ids and all(id_number_problem(i) is None for i in ids)
        assert all(phone_problem(p.phone) is None for p in parties if p.phone)
        # Wage arrears peak in the weeks before the Spring Festival.
        wages = [
            c.received_at.astimezone(LOCAL_TZ).month for c in cases if c.category == "wage_arrears"
        ]
        assert sum(m in (12, 1) for m in wages) > sum(m in (6, 7) for m in wages) * 2
    assert_figures_match(factory, regions)


def test_seed_reference_is_complete_and_repeatable(
    factory: sessionmaker[Session], demo_config: tuple[RegionTree, Reference]
) -> None:
    regions, reference = demo_config
    for _ in range(2):
        with factory.begin() as session:
            seed_reference(session, regions, reference)
    townships = regions.at_level(Level.TOWNSHIP)
    expected_departments = sum(
        len(regions.at_level(level)) for entry in reference.departments for level in entry.levels
    )
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Region)) == len(regions)
        assert session.scalar(select(func.count()).select_from(Department)) == expected_departments
        teams = session.scalars(select(Team)).all()
        assert len(teams) == len(TOWNSHIP_TEAMS) * len(townships)
        assert any(t.kind == "volunteer" and "和事佬" in t.name for t in teams)
        assert all(t.department_id is not None for t in teams if t.kind == "police_station")
        town = session.get(Region, townships[0].code)
        assert town is not None and town.county_code == regions.path(town.code).county
    users = demo_users(regions)
    assert {u.role for u in users} == set(Role)
    assert all(u.password == "demo1234" and u.region_code in regions for u in users)
