"""Shared benchmark helpers: databases, the demo Deps, contract rows, timing and tables."""

from __future__ import annotations

import csv
import io
import json
import os
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from config.reference import Reference, load_reference
from config.regions import RegionTree, load_regions
from dispatch.db.schema import upgrade
from dispatch.domain.codes import Level, Role
from dispatch.domain.jurisdiction import Scope
from dispatch.services.context import Actor
from dispatch.services.deps import Deps
from dispatch.services.imports import CONTRACT_COLUMNS, CaseRecord
from dispatch.services.seed import DemoCases

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO_ROOT / "config"
#: Where SQLite benchmark databases live (git-ignored).
WORK_DIR = Path(os.environ.get("BENCH_DIR", REPO_ROOT / "var" / "bench"))
#: The PostgreSQL server the benchmarks create their databases on.
PG_SERVER = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/")
MATCH_SECRET = b"bench-match-secret"


def _pg_admin() -> psycopg.Connection[Any]:
    url = make_url(PG_SERVER).set(drivername="postgresql", database="postgres")
    return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)


def pg_url(name: str) -> str:
    return make_url(PG_SERVER).set(database=name).render_as_string(hide_password=False)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def drop_database(backend: str, pg_name: str, sqlite_path: Path) -> None:
    if backend == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{sqlite_path}{suffix}").unlink(missing_ok=True)
        return
    with _pg_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'.encode())


def ensure_database(backend: str, pg_name: str, sqlite_path: Path) -> str:
    """The URL of a migrated benchmark database, created when missing (kept between runs)."""
    if backend == "sqlite":
        sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        url = sqlite_url(sqlite_path)
    else:
        with _pg_admin() as admin:
            exists = admin.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (pg_name,)
            ).fetchone()
            if not exists:
                admin.execute(f'CREATE DATABASE "{pg_name}"'.encode())
        url = pg_url(pg_name)
    upgrade(url)
    return url


@contextmanager
def fresh_database(backend: str, pg_name: str, sqlite_path: Path) -> Iterator[str]:
    """A new, migrated database for one measurement, dropped afterwards."""
    drop_database(backend, pg_name, sqlite_path)
    try:
        yield ensure_database(backend, pg_name, sqlite_path)
    finally:
        drop_database(backend, pg_name, sqlite_path)


def config() -> tuple[RegionTree, Reference]:
    return load_regions(CONFIG_DIR), load_reference(CONFIG_DIR)


def make_deps(regions: RegionTree, reference: Reference, now: datetime) -> Deps:
    """The collaborators services need, with a frozen clock at ``now``."""
    return Deps(
        deadline_rules=reference.deadline_rules(),
        region_path=regions.path,
        region_level=lambda code: regions.get(code).level,
        match_secret=MATCH_SECRET,
        clock=lambda: now,
    )


def city_actor(regions: RegionTree) -> Actor:
    """An admin of the whole city (what the CLI import uses)."""
    return Actor(
        user_id=1,
        username="bench",
        role=Role.ADMIN,
        scope=Scope(Level.CITY, regions.city.code),
    )


def contract_row(record: CaseRecord, external_id: str) -> dict[str, str]:
    """A demo case as a row of the import contract (CSV cells as text)."""
    status = (
        "closed"
        if record.closed_at is not None
        else ("received" if record.state in ("intake", "review", "triage") else "in_progress")
    )
    parties = [
        {"name": name, "role": role, "id_number": id_number or "", "phone": phone or ""}
        for name, role, id_number, phone, _, _ in record.parties
    ]
    return {
        "external_id": external_id,
        "title": record.title,
        "category": record.category,
        "source": record.source,
        "severity": record.severity,
        "region_code": record.grid_code or record.township_code,
        "lat": "" if record.lat is None else str(record.lat),
        "lon": "" if record.lon is None else str(record.lon),
        "received_at": record.received_at.isoformat(),
        "parties": json.dumps(parties, ensure_ascii=False),
        "people_involved": str(record.people_involved),
        "amount": "" if record.amount is None else str(record.amount),
        "status": status,
        "outcome": record.outcome or "",
        "closed_at": record.closed_at.isoformat() if record.closed_at else "",
        "online": "true" if record.online else "false",
    }


def demo_rows(
    regions: RegionTree, deps: Deps, now: datetime, n: int, prefix: str = "EXT", seed: int = 11
) -> list[dict[str, str]]:
    """``n`` realistic contract rows (the demo generator's cases) with unique external ids."""
    generator = DemoCases(regions, deps, now, rng_seed=seed)
    return [contract_row(generator.case(), f"{prefix}-{i:08d}") for i in range(n)]


def to_csv(rows: Sequence[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(CONTRACT_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def to_jsonl(rows: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def timed(fn: Callable[[], object]) -> float:
    """Seconds one call of ``fn`` takes (wall clock)."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def percentiles(samples: Sequence[float]) -> tuple[float, float]:
    """(median, p95) of ``samples``."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A plain-text table with right-aligned columns."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """Count and p50/p95/p99/max in milliseconds of latencies given in seconds."""
    if not seconds:
        return {"n": 0}
    ordered = sorted(seconds)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(at(0.95) * 1000, 1),
        "p99_ms": round(at(0.99) * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }
