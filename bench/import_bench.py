"""Import throughput: ``import_cases`` (validation, parties, events, audit, rollups) against a raw
executemany (SQLite) / COPY (PostgreSQL) of the same case rows, measured in the same run.

    python -m bench.import_bench [--cases 200000] [--backend sqlite|postgresql|both] [--serial]

Figures (2026-11-29, 2 shared cores, other agents' tests and benchmarks running; see
bench/README.md for the full tables). ``--cases 100000 --backend both``:

- before (single process, validate then write), load 1.2: SQLite 6,936 cases/s (raw 32,281,
  ratio 0.21), PostgreSQL 7,345 (raw 45,549, ratio 0.16).
- after (forked validator overlapping the writes), four runs at load 2.5-8.7: SQLite
  6,100-12,700 cases/s (ratio 0.28-0.48), PostgreSQL 3,100-10,700 (ratio 0.23-0.27). The
  spread is the other processes' load: both sides of the pipeline need a core each.
- "raw all rows": every row the import writes (cases, parties, events, audit), formatted
  beforehand exactly as the import formats them, written with executemany/COPY: what the schema
  alone costs, with no validation.
- CPU a case, old and new code interleaved at load 7 (60,000 cases): SQLite 195 us in one
  process -> 67 us writing + 89 us validating; PostgreSQL 110 us + 94 us server -> 12 us
  writing + 80 us validating + 82 us server. The validating child limits both now; targets
  (25,000 / 15,000) not met.
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from bench.common import (
    WORK_DIR,
    city_actor,
    config,
    demo_rows,
    fresh_database,
    make_deps,
    table,
    to_csv,
)
from dispatch.db.session import make_engine, make_session_factory
from dispatch.services import imports
from dispatch.services.imports import (
    CASE_COLUMNS,
    CaseRecord,
    _case_values,
    _copy_sql,
    _insert_sql,
    _SqliteTime,
    import_cases,
)

NOW = datetime(2026, 11, 29, 6, 30, tzinfo=UTC)
TARGETS = {"sqlite": 25_000, "postgresql": 15_000}
#: Distinct generated rows; bigger files repeat them under new external ids (generation is
#: slower than import and is not what is measured).
DISTINCT_ROWS = 20_000


@dataclass
class Result:
    backend: str
    cases: int
    parallel: bool
    import_s: float
    commit_s: float
    #: CPU seconds of this process and of the validating child (not the database server's).
    cpu_s: float
    child_cpu_s: float
    raw_rows_per_s: float
    #: Cases/s of a plain executemany/COPY of every row the import writes (cases, parties,
    #: events, audit), formatted beforehand: the floor this schema sets, with no validation.
    raw_all_cases_per_s: float

    @property
    def total_s(self) -> float:
        return self.import_s + self.commit_s

    @property
    def rate(self) -> float:
        return self.cases / self.total_s


def make_file(n: int) -> str:
    regions, reference = config()
    deps = make_deps(regions, reference, NOW)
    base = demo_rows(regions, deps, NOW, min(n, DISTINCT_ROWS))
    rows = [dict(base[i % len(base)], external_id=f"B-{i:09d}") for i in range(n)]
    return to_csv(rows)


def timed_import(
    engine: Engine, data: str, parallel: bool | None
) -> tuple[float, float, bool, float, float]:
    """Run the import once: seconds inside ``import_cases`` (validation and writing, which
    overlap on the parallel path), seconds of the commit, whether it ran in parallel, and the
    CPU seconds of this process and of the validating child."""
    regions, reference = config()
    deps = make_deps(regions, reference, NOW)
    factory = make_session_factory(engine)
    seen: dict[str, bool] = {"parallel": False}
    original = imports._import_parallel

    def spy(*args: Any) -> imports.ImportReport | None:
        seen["parallel"] = True
        return original(*args)

    imports._import_parallel = spy  # type: ignore[assignment]
    try:
        children_before = _children_cpu()
        cpu_before = time.process_time()
        start = time.perf_counter()
        with factory.begin() as session:
            report = import_cases(
                session, deps, city_actor(regions), data, "csv", parallel=parallel
            )
            before_commit = time.perf_counter()
        end = time.perf_counter()
        cpu = time.process_time() - cpu_before
        child_cpu = _children_cpu() - children_before
    finally:
        imports._import_parallel = original
    if not report.ok or not report.imported:
        raise SystemExit(f"import failed: {report.to_dict()['errors'][:3]}")
    return before_commit - start, end - before_commit, seen["parallel"], cpu, child_cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def records_of(data: str) -> list[CaseRecord]:
    """The validated records of the file (untimed), for the raw baseline's rows."""
    regions, reference = config()
    deps = make_deps(regions, reference, NOW)
    ctx = imports._Context(deps=deps, actor=city_actor(regions), now=NOW)
    ctx.keys = imports.MatchKeys(deps.match_secret)
    with imports.gc_paused():
        return list(imports._checked(data, "csv", ctx, imports.ImportReport(), {}))


def raw_baseline(engine: Engine, backend: str, records: list[CaseRecord]) -> float:
    """Rows/s of a plain executemany/COPY of the same case rows into an empty cases table."""
    if backend == "sqlite":
        stamp = _SqliteTime()
        when = _SqliteTime()
        rows = [
            _float_amount(_case_values(r, i + 1, 1, when, stamp)) for i, r in enumerate(records)
        ]

        def load(raw: Any) -> None:
            raw.executemany(_insert_sql("cases", CASE_COLUMNS), rows)

    else:
        same: Callable[[datetime | None], Any] = lambda m: m  # noqa: E731
        rows = [_case_values(r, i + 1, 1, same, same) for i, r in enumerate(records)]

        def load(raw: Any) -> None:
            with raw.cursor() as cur, cur.copy(_copy_sql("cases", CASE_COLUMNS)) as copy:
                for row in rows:
                    copy.write_row(row)

    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        start = time.perf_counter()
        load(raw)
        raw.commit()
        elapsed = time.perf_counter() - start
    return len(rows) / elapsed


def raw_all_rows(engine: Engine, backend: str, records: list[CaseRecord]) -> float:
    """Cases/s of writing all four tables' rows of these records (formatted untimed, exactly
    as the import formats them) with executemany (SQLite) or COPY (PostgreSQL), then commit."""
    ids = range(1, len(records) + 1)
    rows = imports._FORMATTERS[backend](records, ids, 1, "bench")
    write = imports._write_sqlite_rows if backend == "sqlite" else imports._write_copy_rows
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        cur = raw.cursor()
        if backend == "sqlite":
            # The same page cache the import uses for a big write.
            cur.execute(f"PRAGMA cache_size = -{imports._SQLITE_IMPORT_CACHE_KIB}")
        start = time.perf_counter()
        write(cur, rows)
        raw.commit()
        elapsed = time.perf_counter() - start
        cur.close()
    return len(records) / elapsed


def _float_amount(values: tuple[Any, ...]) -> tuple[Any, ...]:
    amount = values[20]
    return values if amount is None else (*values[:20], float(amount), *values[21:])


def on_empty_database(backend: str, measure: Callable[[Engine], Any]) -> Any:
    """``measure(engine)`` on a new, migrated database, so every measurement starts from the
    same empty tables."""
    with fresh_database(backend, "cc_bench_import", WORK_DIR / "import.db") as url:
        engine = make_engine(url)
        try:
            return measure(engine)
        finally:
            engine.dispose()


def run(backend: str, n: int, data: str, parallel: bool | None) -> Result:
    import_s, commit_s, ran_parallel, cpu_s, child_cpu_s = on_empty_database(
        backend, lambda engine: timed_import(engine, data, parallel)
    )
    records = records_of(data)
    raw_rate = on_empty_database(backend, lambda engine: raw_baseline(engine, backend, records))
    raw_all = on_empty_database(backend, lambda engine: raw_all_rows(engine, backend, records))
    return Result(
        backend, n, ran_parallel, import_s, commit_s, cpu_s, child_cpu_s, raw_rate, raw_all
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cases", type=int, default=200_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--serial",
        action="store_true",
        help="force the single-process path (default: what import_cases chooses)",
    )
    args = parser.parse_args(argv)
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    print(f"import benchmark: {args.cases:,} cases from CSV (parties, event, audit, rollups)")
    data = make_file(args.cases)
    print(f"file: {len(data.encode()) / 1e6:.1f} MB")
    parallel = False if args.serial else None
    results = [run(backend, args.cases, data, parallel) for backend in backends]
    print(
        table(
            (
                "backend",
                "cases",
                "parallel",
                "import s",
                "commit s",
                "cpu s (main/child)",
                "import cases/s",
                "raw case rows/s",
                "ratio",
                "raw all rows, cases/s",
                "ratio",
                "target",
                "met",
            ),
            (
                (
                    r.backend,
                    f"{r.cases:,}",
                    "yes" if r.parallel else "no",
                    f"{r.import_s:.2f}",
                    f"{r.commit_s:.2f}",
                    f"{r.cpu_s:.2f} / {r.child_cpu_s:.2f}",
                    f"{r.rate:,.0f}",
                    f"{r.raw_rows_per_s:,.0f}",
                    f"{r.rate / r.raw_rows_per_s:.2f}",
                    f"{r.raw_all_cases_per_s:,.0f}",
                    f"{r.rate / r.raw_all_cases_per_s:.2f}",
                    f"{TARGETS[r.backend]:,}",
                    "yes" if r.rate >= TARGETS[r.backend] else "NO",
                )
                for r in results
            ),
        )
    )
    for r in results:
        if r.raw_all_cases_per_s < TARGETS[r.backend]:
            print(
                f"{r.backend}: writing the import's rows alone, formatted beforehand and with no"
                f" validation, reached {r.raw_all_cases_per_s:,.0f} cases/s in this run, below"
                f" the {TARGETS[r.backend]:,} target"
            )


if __name__ == "__main__":
    main()
