"""Summary-figure latency over 1,000,000 cases: ``stats.summary`` (rollups) against the same
aggregate hand-written over the raw cases table with a covering index, in the same run.

    python -m bench.stats_bench [--cases 1000000] [--calls 50] [--backend sqlite|postgresql|both]

The seeded database is kept between runs (var/bench/stats.db; PostgreSQL ``cc_bench_stats``)
and reused while its marker matches the requested case count and seed.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from functools import partial
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select, text
from sqlalchemy.orm import Session

from bench.common import (
    WORK_DIR,
    config,
    drop_database,
    ensure_database,
    make_deps,
    percentiles,
    table,
)
from dispatch.db.models import Case
from dispatch.db.session import make_engine, make_session_factory
from dispatch.domain.codes import Level
from dispatch.domain.jurisdiction import RegionPath, Scope
from dispatch.domain.kpi import LOCAL_TZ, Summary, ratio
from dispatch.services import stats
from dispatch.services.seed import seed_demo

NOW = datetime(2026, 11, 29, 6, 30, tzinfo=UTC)  # 14:30 in Shanghai
SEED = 7
TARGET_MS = 20.0
PG_NAME = "cc_bench_stats"
SQLITE_PATH = WORK_DIR / "stats.db"
#: The raw baseline's covering index: every column the aggregate reads, led by the region
#: codes from the city down, so a city, county or township is one contiguous index range.
COVERING_INDEX = (
    "CREATE INDEX IF NOT EXISTS bench_cases_covering_v2 ON cases (city_code, county_code, "
    "township_code, received_at, closed_at, finish_by, outcome, online, severity)"
)
OLD_INDEXES = ("bench_cases_covering",)


def marker(n: int) -> str:
    return f"seed-demo n={n} seed={SEED} now={NOW.isoformat()}"


def read_marker(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            found = conn.execute(
                text("SELECT count(*) FROM sqlite_master WHERE name = 'bench_marker'")
            ).scalar()
            if not found:
                return None
            return conn.execute(text("SELECT value FROM bench_marker")).scalar()
        value = conn.execute(
            text(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = :n"
            ),
            {"n": PG_NAME},
        ).scalar()
        return str(value) if value else None


def write_marker(engine: Engine, value: str) -> None:
    # Outside the application's tables: a side table on SQLite, a database comment on PostgreSQL.
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(text("CREATE TABLE IF NOT EXISTS bench_marker (value TEXT)"))
            conn.execute(text("DELETE FROM bench_marker"))
            conn.execute(text("INSERT INTO bench_marker VALUES (:v)"), {"v": value})
        else:
            conn.execute(text(f"COMMENT ON DATABASE \"{PG_NAME}\" IS '{value}'"))


def prepare(backend: str, n: int) -> Engine:
    """A database holding ``n`` demo cases (seeded once, then reused) and the covering index."""
    url = ensure_database(backend, PG_NAME, SQLITE_PATH)
    engine = make_engine(url)
    if read_marker(engine) == marker(n):
        print(f"{backend}: reusing the seeded database ({marker(n)})")
        covering_index(engine, backend)
        return engine
    engine.dispose()
    drop_database(backend, PG_NAME, SQLITE_PATH)
    url = ensure_database(backend, PG_NAME, SQLITE_PATH)
    engine = make_engine(url)
    regions, reference = config()
    deps = make_deps(regions, reference, NOW)
    start = time.perf_counter()
    with make_session_factory(engine).begin() as session:
        seed_demo(session, deps, regions, reference, n, NOW, rng_seed=SEED, batch_size=50_000)
    seeded = time.perf_counter() - start
    print(f"{backend}: seeded {n:,} cases in {seeded:.0f} s ({n / seeded:,.0f} cases/s)")
    covering_index(engine, backend)
    write_marker(engine, marker(n))
    return engine


def covering_index(engine: Engine, backend: str) -> None:
    """Create the baseline's covering index when missing (and drop earlier versions of it)."""
    start = time.perf_counter()
    with engine.begin() as conn:
        for name in OLD_INDEXES:
            conn.execute(text(f"DROP INDEX IF EXISTS {name}"))
        conn.execute(text(COVERING_INDEX))
        if backend == "sqlite":
            conn.execute(text("ANALYZE"))
    if backend == "postgresql":
        # What autovacuum does soon after a bulk load, done now so the measurement does not
        # race it: seeding upserts each rollup row once per batch, leaving ~500,000 dead row
        # versions in rollup_day that a city's month or year read would otherwise wade through.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    print(f"{backend}: covering index and VACUUM/ANALYZE in {time.perf_counter() - start:.0f} s")


def raw_summary(
    session: Session, scope: Scope, path: RegionPath, start: datetime, end: datetime
) -> Summary:
    """The DESIGN.md figures in one pass over the scope's raw rows (the baseline)."""
    closed_in = and_(Case.closed_at >= start, Case.closed_at < end)
    received_in = and_(Case.received_at >= start, Case.received_at < end)
    open_at_end = or_(Case.closed_at.is_(None), Case.closed_at >= end)
    count = func.count()
    # The scope's whole chain of codes, so the covering index (city, county, township first)
    # seeks to the scope's range instead of scanning.
    where = [Case.city_code == path.city]
    if scope.level in (Level.COUNTY, Level.TOWNSHIP):
        where.append(Case.county_code == path.county)
    if scope.level is Level.TOWNSHIP:
        where.append(Case.township_code == path.township)
    row = session.execute(
        select(
            count.filter(received_in),
            count.filter(closed_in, Case.outcome == "success"),
            count.filter(closed_in, Case.outcome == "failure"),
            count.filter(closed_in, Case.outcome == "success", Case.online.is_(True)),
            count.filter(closed_in, Case.outcome == "failure", Case.online.is_(True)),
            count.filter(Case.received_at < end, open_at_end),
            count.filter(received_in, Case.severity.in_(("major", "critical"))),
            count.filter(Case.finish_by < end, open_at_end),
            count.filter(closed_in),
        ).where(*where)
    ).one()
    received, success, failure, osuccess, ofailure, in_progress, major, overdue, closed = row
    return Summary(
        received=received,
        resolved=success,
        success=success,
        failure=failure,
        online_success=osuccess,
        online_failure=ofailure,
        in_progress=in_progress,
        major_disputes=major,
        overdue=overdue,
        closed=closed,
        closed_on_time=0,  # not part of the compared figures
    )


def key_figures(s: Summary) -> tuple[Any, ...]:
    return (
        s.received,
        s.resolved,
        ratio(s.success, s.success + s.failure),
        ratio(s.online_success, s.online_success + s.online_failure),
        s.in_progress,
        s.major_disputes,
        s.overdue,
    )


def midnight(day: date) -> datetime:
    return datetime.combine(day, dtime(0), LOCAL_TZ)


def ranges() -> list[tuple[str, datetime, datetime]]:
    today = NOW.astimezone(LOCAL_TZ).date()
    tomorrow = midnight(today + timedelta(days=1))
    month, year = today.replace(day=1), today.replace(month=1, day=1)
    return [
        ("today, dates", midnight(today), tomorrow),
        ("today, to=now", midnight(today), NOW),
        ("month, dates", midnight(month), tomorrow),
        ("month, to=now", midnight(month), NOW),
        ("year, dates", midnight(year), tomorrow),
        ("year, to=now", midnight(year), NOW),
    ]


def measure(call: Callable[[], object], calls: int) -> tuple[float, float]:
    call()  # warm the caches once, as a running server would be
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return percentiles(samples)


def run(backend: str, n: int, calls: int) -> list[tuple[object, ...]]:
    engine = prepare(backend, n)
    regions, _ = config()
    county = regions.children(regions.city.code)[0]
    township = regions.children(county.code)[0]
    scopes = [
        ("city", Scope(Level.CITY, regions.city.code)),
        ("county", Scope(Level.COUNTY, county.code)),
        ("township", Scope(Level.TOWNSHIP, township.code)),
    ]
    rows: list[tuple[object, ...]] = []
    factory = make_session_factory(engine)
    with factory() as session:
        total = session.scalar(select(func.count()).select_from(Case))
        print(f"{backend}: {total:,} cases")
        for scope_name, scope in scopes:
            for range_name, start, end in ranges():
                fast = stats.summary(session, scope, start, end)
                path = regions.path(scope.code)
                slow = raw_summary(session, scope, path, start, end)
                agree = key_figures(fast) == key_figures(slow)
                p50, p95 = measure(partial(stats.summary, session, scope, start, end), calls)
                r50, r95 = measure(partial(raw_summary, session, scope, path, start, end), calls)
                rows.append(
                    (
                        backend,
                        scope_name,
                        range_name,
                        f"{p50:.2f}",
                        f"{p95:.2f}",
                        f"{r50:.1f}",
                        f"{r95:.1f}",
                        f"{r50 / p50:.0f}x",
                        "yes" if agree else "NO",
                        "yes" if p95 <= TARGET_MS else "NO",
                    )
                )
                session.rollback()  # no long-lived snapshot between measurements
    engine.dispose()
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args(argv)
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    print(
        f"summary benchmark: {args.cases:,} cases, {args.calls} calls per cell, now={NOW.isoformat()}"
    )
    rows = [row for backend in backends for row in run(backend, args.cases, args.calls)]
    print(
        table(
            (
                "backend",
                "scope",
                "range",
                "summary p50 ms",
                "p95 ms",
                "raw p50 ms",
                "raw p95 ms",
                "raw/summary",
                "same figures",
                f"p95<={TARGET_MS:.0f}ms",
            ),
            rows,
        )
    )


if __name__ == "__main__":
    main()
