"""Case import (DESIGN.md contract) on SQLite and PostgreSQL: happy paths, idempotence,
all-or-nothing with every bad row reported, time zones, jurisdiction, and the ORM round trip."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from bench.common import city_actor, config, demo_rows, make_deps, to_csv, to_jsonl
from config.reference import Reference
from config.regions import RegionTree
from dispatch.db.models import AuditEntry, Case, CaseEvent, Party, RollupDay, RollupMonth
from dispatch.db.session import make_engine, make_session_factory
from dispatch.domain.codes import Level, Role, Severity
from dispatch.domain.errors import Forbidden
from dispatch.domain.identity import id_check_char, id_number_problem, match_key
from dispatch.domain.jurisdiction import Scope
from dispatch.domain.kpi import METRICS
from dispatch.domain.supervision import deadlines_for
from dispatch.services import imports
from dispatch.services.context import Actor
from dispatch.services.deps import Deps
from dispatch.services.imports import (
    PROBLEM_CODES,
    CaseRecord,
    ImportReport,
    MatchKeys,
    _id_number_ok,
    audit_after,
    case_code,
    import_cases,
)

NOW = datetime(2026, 11, 29, 6, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo_config() -> tuple[RegionTree, Reference]:
    return config()


@pytest.fixture
def regions(demo_config: tuple[RegionTree, Reference]) -> RegionTree:
    return demo_config[0]


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


def run_import(
    factory: sessionmaker[Session],
    deps: Deps,
    actor: Actor,
    data: str | bytes,
    fmt: str = "csv",
) -> ImportReport:
    with factory.begin() as session:
        return import_cases(session, deps, actor, data, fmt)  # type: ignore[arg-type]


def counts(factory: sessionmaker[Session]) -> dict[str, int]:
    with factory() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Case, Party, CaseEvent, AuditEntry, RollupDay, RollupMonth)
        }


def rollup_sums(factory: sessionmaker[Session]) -> tuple[Any, ...]:
    with factory() as session:
        table = RollupDay.__table__
        return tuple(
            session.execute(
                select(*(func.coalesce(func.sum(table.c[m]), 0) for m in METRICS))
            ).one()
        )


def valid_id(prefix: str = "990102", born: str = "19850612", seq: str = "123") -> str:
    first17 = prefix + born + seq
    return first17 + id_check_char(first17)


def row(**overrides: str) -> dict[str, str]:
    base = {
        "external_id": "X-1",
        "title": "张某与李某邻里纠纷",
        "category": "neighbour",
        "source": "walk_in",
        "severity": "general",
        "region_code": "990102001",
        "lat": "30.43",
        "lon": "106.72",
        "received_at": "2026-11-20T09:15:00+08:00",
        "parties": json.dumps(
            [
                {
                    "name": "张三",
                    "id_number": valid_id(),
                    "phone": "13800138000",
                    "role": "applicant",
                },
                {"name": "李四", "id_number": "", "phone": "", "role": "respondent"},
            ],
            ensure_ascii=False,
        ),
        "people_involved": "2",
        "amount": "",
        "status": "received",
        "outcome": "",
        "closed_at": "",
        "online": "false",
    }
    base.update(overrides)
    return base


# ------------------------------------------------------------------------------------------


def test_csv_import_round_trips_through_the_orm(
    factory: sessionmaker[Session], deps: Deps, regions: RegionTree
) -> None:
    rows = demo_rows(regions, deps, NOW, 300)
    report = run_import(factory, deps, city_actor(regions), to_csv(rows).encode())
    assert report.ok, report.errors[:3]
    assert (report.rows, report.imported, report.unchanged) == (300, 300, 0)
    n_parties = sum(len(json.loads(r["parties"])) for r in rows)
    assert counts(factory) | {"rollup_day": 0, "rollup_month": 0} == {
        "cases": 300,
        "parties": n_parties,
        "case_events": 300,
        "audit": 300,
        "rollup_day": 0,
        "rollup_month": 0,
    }
    by_external = {r["external_id"]: r for r in rows}
    with factory() as session:
        cases = session.scalars(select(Case)).all()
        for case in cases:
            source = by_external[case.external_id or ""]
            assert case.received_at == datetime.fromisoformat(source["received_at"])
            assert case.received_at.tzinfo is not None
            if source["closed_at"]:
                assert case.closed_at == datetime.fromisoformat(source["closed_at"])
                assert case.outcome == source["outcome"]
            else:
                assert case.closed_at is None and case.outcome is None
            assert case.code == case_code(case.id, case.received_at)
            assert case.online is (source["online"] == "true")
            assert str(case.amount or "") == source["amount"]
            path = regions.path(source["region_code"])
            assert (case.township_code, case.county_code, case.grid_code) == (
                path.township,
                path.county,
                path.grid,
            )
            expected = deadlines_for(
                deps.deadline_rules, Severity(case.severity), Level.CITY, case.received_at
            )
            assert case.finish_by == expected.finish_by
        one = next(c for c in cases if c.parties and c.parties[0].id_number)
        assert one.parties[0].id_key == match_key(deps.match_secret, one.parties[0].id_number or "")
        event = session.scalars(select(CaseEvent).where(CaseEvent.case_id == one.id)).one()
        assert event.kind == "imported" and event.at == NOW and event.data["source"] == one.source
        entry = session.scalars(select(AuditEntry).where(AuditEntry.object_id == str(one.id))).one()
        assert entry.action == "case.import" and entry.after is not None
        assert entry.after["external_id"] == one.external_id


def test_jsonl_import_accepts_typed_values(
    factory: sessionmaker[Session], deps: Deps, regions: RegionTree
) -> None:
    typed: dict[str, Any] = row(external_id="J-1")
    typed.update(
        lat=30.43,
        lon=106.72,
        people_involved=3,
        amount=1234.5,
        online=True,
        parties=[{"name": "王五", "id_number": valid_id(seq="777"), "role": "applicant"}],
        status="closed",
        outcome="success",
        closed_at="2026-11-25T10:00:00Z",
        state="visited",
        description="楼上漏水",
        address="人民路1号",
    )
    second = row(external_id="J-2", status="in_progress", state="agreement")
    report = run_import(factory, deps, city_actor(regions), to_jsonl([typed, second]), "jsonl")
    assert report.ok, report.errors
    with factory() as session:
        cases = {c.external_id: c for c in session.scalars(select(Case))}
    first = cases["J-1"]
    assert first.state == "visited" and first.outcome == "success" and first.online is True
    assert first.people_involved == 3 and str(first.amount) == "1234.50"
    assert first.closed_at == datetime(2026, 11, 25, 10, tzinfo=UTC)
    assert cases["J-2"].state == "agreement"


def test_reimport_changes_nothing(
    factory: sessionmaker[Session], deps: Deps, regions: RegionTree
) -> None:
    data = to_csv(demo_rows(regions, deps, NOW, 120))
    actor = city_actor(regions)
    assert run_import(factory, deps, actor, data).imported == 120
    before, sums = counts(factory), rollup_sums(factory)
    again = run_import(factory, deps, actor, data)
    assert (again.imported, again.unchanged, again.errors) == (0, 120, [])
    assert counts(factory) == before
    assert rollup_sums(factory) == sums


@pytest.mark.parametrize("parallel", [False, True])
def test_ids_written_by_a_concurrent_import_fail_the_file_with_a_conflict(
    factory: sessionmaker[Session],
    deps: Deps,
    regions: RegionTree,
    monkeypatch: pytest.MonkeyPatch,
    parallel: bool,
) -> None:
    """Another import commits the same external ids between this one's lookup and its write:
    a clear 409-style conflict, nothing of this file kept, and sending it again is safe."""
    from dispatch.domain.errors import Conflict
    from dispatch.services import imports as imports_module

    rows = demo_rows(regions, deps, NOW, 30)
    actor = city_actor(regions)
    run_import(factory, deps, actor, to_csv(rows[:10]))
    before = counts(factory)
    # The lookup sees the database as it was before the other import committed.
    monkeypatch.setattr(imports_module, "_existing_external_ids", lambda *_a, **_k: {})
    with pytest.raises(Conflict) as caught, factory.begin() as session:
        import_cases(session, deps, actor, to_csv(rows), "csv", parallel=parallel)
    assert caught.value.code == "import_conflict"
    assert counts(factory) == before
    monkeypatch.undo()
    report = run_import(factory, deps, actor, to_csv(rows))
    assert (report.imported, report.unchanged) == (20, 10)


def test_partly_known_file_imports_only_the_new_rows(
    factory: sessionmaker[Session], deps: Deps, regions: RegionTree
) -> None:
    rows = demo_rows(regions, deps, NOW, 60)
    actor = city_actor(regions)
    run_import(factory, deps, actor, to_csv(rows[:40]))
    report = run_import(factory, deps, actor, to_csv(rows))
    assert (report.imported, report.unchanged) == (20, 40)
    assert counts(factory)["cases"] == 60


def test_one_bad_file_imports_nothing_and_lists_every_bad_row(
    factory: sessionmaker[Session], deps: Deps, regions: RegionTree
) -> None:
    bad_id = valid_id()[:-1] + ("0" if valid_id()[-1] != "0" else "1")
    rows = [
        row(external_id="A"),  # line 2: fine
        row(external_id="B", category="quarrel"),  # line 3
        row(external_id="C", received_at="2026-11-20 09:15:00"),  # line 4: naive
        row(external_id="D", parties=json.dumps([{"name": "赵六", "id_number": bad_id}])),
        row(external_id="E", status="closed"),  # line 6: no outcome, no closed_at
        row(external_id="A"),  # line 7: duplicate in file
        row(external_id="F", region_code="123456"),  # line 8
        row(external_id="G"),  # line 9: fine
        row(external_id="H", status="received", outcome="success"),  # line 10
        row(external_id="I", received_at="yesterday", online="maybe", lat="91"),  # line 11
        row(
            external_id="J",
            status="closed",
            outcome="success",
            closed_at="2026-11-19T09:00:00+08:00",
        ),  # line 12: closed before received
    ]
    report = run_import(factory, deps, city_actor(regions), to_csv(rows))
    assert report.imported == 0
    assert {e.line: e.fields for e in report.errors} == {
        3: {"category": "invalid_choice"},
        4: {"received_at": "needs_timezone"},
        5: {"parties.0.id_number": "id_checksum"},
        6: {"outcome": "closed_needs_outcome", "closed_at": "closed_needs_closed_at"},
        7: {"external_id": "duplicate_in_file"},
        8: {"region_code": "unknown_region"},
        10: {"outcome": "open_must_be_empty"},
        11: {"received_at": "bad_datetime", "online": "not_a_boolean", "lat": "out_of_range"},
        12: {"closed_at": "before_received"},
    }
    assert report.errors[0].external_id == "B"
    assert counts(factory) == dict.fromkeys(counts(factory), 0)


def test_naive_timestamps_are_rejected_in_every_time_field(
    factory: sessionmaker[Session], deps: Deps, regions: RegionTree
) -> None:
    naive = row(
        status="closed",
        outcome="failure",
        received_at="2026-11-20T09:15:00",
        closed_at="2026-11-21T09:15:00",
        finish_by="2026-12-01T00:00:00",
    )
    report = run_import(factory, deps, city_actor(regions), to_jsonl([naive]), "jsonl")
    assert report.errors[0].fields == {
        "received_at": "needs_timezone",
        "closed_at": "needs_timezone",
        "finish_by": "needs_timezone",
    }
    assert counts(factory)["cases"] == 0


def test_county_actor_cannot_import_into_another_county(
    factory: sessionmaker[Session], deps: Deps, regions: RegionTree
) -> None:
    own_county, other_county = (r.code for r in regions.children(regions.city.code)[:2])
    own_town = regions.children(own_county)[0].code
    other_town = regions.children(other_county)[0].code
    actor = Actor(3, "county-duty", Role.DUTY_OFFICER, Scope(Level.COUNTY, own_county))
    rows = [
        row(external_id="in", region_code=own_town),
        row(external_id="out", region_code=other_town),
        row(external_id="city", region_code=regions.city.code),
    ]
    report = run_import(factory, deps, actor, to_csv(rows))
    assert [(e.line, e.fields) for e in report.errors] == [
        (3, {"region_code": "outside_jurisdiction"}),
        (4, {"region_code": "outside_jurisdiction"}),
    ]
    report = run_import(factory, deps, actor, to_csv(rows[:1]))
    assert report.imported == 1
    with factory() as session:
        case = session.scalars(select(Case)).one()
    # Handled where it was taken in: at the county, with the county's deadline.
    assert case.level == "county" and case.county_code == own_county


def test_roles_that_may_not_register_cases_are_refused(
    factory: sessionmaker[Session], deps: Deps, regions: RegionTree
) -> None:
    analyst = Actor(4, "analyst", Role.ANALYST, Scope(Level.CITY, regions.city.code))
    with pytest.raises(Forbidden):
        run_import(factory, deps, analyst, to_csv([row()]))


def test_csv_reports_physical_line_numbers_and_header_problems(
    factory: sessionmaker[Session], deps: Deps, regions: RegionTree
) -> None:
    multi = row(external_id="M", title="多行\n标题")
    data = to_csv([multi, row(external_id="N", severity="huge")])
    report = run_import(factory, deps, city_actor(regions), data)
    # The first record spans lines 2-3, so the second starts on line 4.
    assert [(e.line, e.fields) for e in report.errors] == [(4, {"severity": "invalid_choice"})]
    header_bad = "external_id,title,colour\nX,t,red\n"
    report = run_import(factory, deps, city_actor(regions), header_bad)
    assert report.errors[0].line == 1
    assert report.errors[0].fields["colour"] == "unknown_column"
    assert report.errors[0].fields["received_at"] == "missing_column"


def test_open_rows_past_their_deadline_arrive_with_a_red_card(
    factory: sessionmaker[Session], deps: Deps, regions: RegionTree
) -> None:
    old = (NOW - timedelta(days=60)).isoformat()
    report = run_import(factory, deps, city_actor(regions), to_csv([row(received_at=old)]))
    assert report.ok
    with factory() as session:
        case = session.scalars(select(Case)).one()
    assert case.card == "red" and case.finish_by is not None and case.finish_by < NOW


@pytest.mark.parametrize(
    "value",
    [
        valid_id(),
        valid_id(seq="991")[:-1] + "9",
        valid_id()[:-1] + "X",
        "11010519491231002X",
        "990102198502301234",
        "99010219850612123",
        "abcdefghijklmnopqr",
        valid_id().lower(),
    ],
)
def test_fast_id_check_agrees_with_the_domain(value: str) -> None:
    assert _id_number_ok(value) is (id_number_problem(value) is None and value == value.upper())


def test_fast_id_check_agrees_with_the_domain_on_every_check_character() -> None:
    import random

    rng = random.Random(5)
    for _ in range(500):
        first17 = f"{rng.randrange(10**5, 10**6)}19{rng.randrange(50, 99)}0{rng.randrange(1, 9)}"
        first17 += f"{rng.randrange(10, 28)}{rng.randrange(100, 999)}"
        assert len(first17) == 17
        valid = 0
        for check in "0123456789X":
            value = first17 + check
            assert _id_number_ok(value) is (id_number_problem(value) is None), value
            valid += _id_number_ok(value)
        assert valid == 1


@pytest.mark.parametrize("secret", [b"k", b"bench-match-secret", b"x" * 64, b"long" * 40])
def test_fast_match_keys_agree_with_the_domain(secret: bytes) -> None:
    keys = MatchKeys(secret)
    for value in (valid_id(), " 13800138000 ", valid_id()[:-1] + "x", "021-5555666"):
        assert keys(value) == match_key(secret, value)


def test_hand_written_audit_json_is_the_snapshot() -> None:
    record = CaseRecord(
        external_id='ext "1" \\ 中',
        title="t",
        description="",
        category="labour",
        source="hotline",
        severity="major",
        state="closed",
        level="county",
        outcome="failure",
        referral="litigation",
        city_code="990100",
        county_code="990102",
        township_code="990102001",
        grid_code=None,
        address="",
        lat=None,
        lon=None,
        people_involved=1,
        amount=None,
        online=False,
        received_at=NOW - timedelta(days=3),
        finish_by=NOW + timedelta(days=3),
        closed_at=NOW,
        card="none",
        escalations=0,
        updated_at=NOW,
        parties=[],
        events=[],
        audit=None,
    )
    assert json.loads(audit_after(record)) == {
        "state": "closed",
        "level": "county",
        "outcome": "failure",
        "referral": "litigation",
        "severity": "major",
        "finish_by": (NOW + timedelta(days=3)).isoformat(),
        "closed_at": NOW.isoformat(),
        "card": "none",
        "version": 1,
        "external_id": 'ext "1" \\ 中',
    }
    record.outcome = record.referral = record.closed_at = None
    after = json.loads(audit_after(record))
    assert after["outcome"] is None and after["closed_at"] is None and after["referral"] is None


@pytest.mark.parametrize(
    "external_id",
    ["EXT-00000001", "a b/c:d~", 'q"uote', "back\\slash", "中文", "tab\tx", "del\x7f", ""],
)
def test_audit_external_id_is_written_as_json_dumps_writes_it(external_id: str) -> None:
    from dispatch.services.seed import DemoCases  # a realistic record to vary

    regions, reference = config()
    record = DemoCases(regions, make_deps(regions, reference, NOW), NOW, rng_seed=3).case()
    record.external_id = external_id
    text = audit_after(record)
    assert text.endswith(f'"external_id": {json.dumps(external_id)}}}')
    assert json.loads(text)["external_id"] == external_id


def test_every_problem_code_has_a_message_in_both_languages() -> None:
    from console.i18n import catalog

    messages = catalog()
    assert {code for code in PROBLEM_CODES if f"problems.{code}" not in messages} == set()


def test_jsonl_reports_bad_lines_by_number(
    factory: sessionmaker[Session], deps: Deps, regions: RegionTree
) -> None:
    lines = [
        json.dumps(row(external_id="ok")),
        "",
        "{not json",
        "[1, 2]",
        json.dumps({**row(external_id="odd", category="x"), "colour": "red"}),
    ]
    report = run_import(factory, deps, city_actor(regions), "\n".join(lines) + "\n", "jsonl")
    assert [(e.line, e.fields) for e in report.errors] == [
        (3, {"_": "bad_json"}),
        (4, {"_": "not_an_object"}),
        (5, {"colour": "unknown_field", "category": "invalid_choice"}),
    ]
    assert report.rows == 4 and report.imported == 0


def test_import_codes_are_unique_and_never_shaped_like_intake_codes() -> None:
    day = datetime(2026, 3, 1, 4, tzinfo=UTC)
    ids = [*range(1, 200_001), (1 << 28) - 1, 1 << 28, 10**12]
    codes = {case_code(i, day) for i in ids}
    assert len(codes) == len(ids)
    # seven hex digits or more after the local date
    assert all(code.startswith("20260301-") and len(code) >= 9 + 7 for code in codes)


# ------------------------------------------------------------------------------------------
# Validating in a child process while the parent writes (big files)
# ------------------------------------------------------------------------------------------


def snapshot(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    """The rows an import wrote, seen from its own transaction, with generated keys made
    relative (a PostgreSQL sequence does not roll back, so two runs get different ids)."""
    first = session.scalar(select(func.min(Case.id))) or 0
    out: dict[str, list[tuple[Any, ...]]] = {}
    for model in (Case, Party, CaseEvent, AuditEntry, RollupDay, RollupMonth):
        table = model.__table__
        columns = [c for c in table.c if c.name not in ("id", "code")]
        keys = list(table.primary_key.columns)  # type: ignore[attr-defined]
        rows = session.execute(select(*columns).order_by(*keys)).all()
        names = [c.name for c in columns]
        normalised = []
        for values in rows:
            record = dict(zip(names, values, strict=True))
            if "case_id" in record:
                record["case_id"] -= first
            if model is AuditEntry:
                record["object_id"] = int(record["object_id"]) - first
            normalised.append(tuple(record.items()))
        out[model.__tablename__] = normalised
    codes_ok = all(
        code == case_code(case_id, received_at)
        for case_id, code, received_at in session.execute(
            select(Case.id, Case.code, Case.received_at)
        )
    )
    assert codes_ok
    return out


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    # Several chunks from a few hundred rows, so the tests cross chunk boundaries.
    monkeypatch.setattr(imports, "CHUNK_ROWS", 70)


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_parallel_import_writes_the_same_rows_as_the_serial_one(
    factory: sessionmaker[Session], deps: Deps, regions: RegionTree, fmt: str
) -> None:
    rows = demo_rows(regions, deps, NOW, 300)
    data = to_csv(rows) if fmt == "csv" else to_jsonl(rows)
    actor = city_actor(regions)
    results = {}
    for parallel in (False, True):
        with factory() as session, session.begin():
            report = import_cases(session, deps, actor, data, fmt, parallel=parallel)  # type: ignore[arg-type]
            results[parallel] = (report.to_dict(), snapshot(session))
            session.rollback()
    serial, parallel_run = results[False], results[True]
    assert (
        serial[0]
        == parallel_run[0]
        == {
            "rows": 300,
            "imported": 300,
            "unchanged": 0,
            "errors": [],
        }
    )
    assert len(serial[1]["cases"]) == 300
    assert serial[1] == parallel_run[1]


@pytest.mark.usefixtures("small_chunks")
def test_parallel_import_reports_bad_rows_of_every_chunk(
    factory: sessionmaker[Session], deps: Deps, regions: RegionTree
) -> None:
    rows = demo_rows(regions, deps, NOW, 300)
    rows[5] = dict(rows[5], received_at="2026-11-20 09:15:00")
    rows[150] = dict(rows[150], external_id=rows[3]["external_id"])
    rows[-1] = dict(rows[-1], category="quarrel")
    report = run_import(factory, deps, city_actor(regions), to_csv(rows))
    assert [(e.line, e.fields) for e in report.errors] == [
        (7, {"received_at": "needs_timezone"}),
        (152, {"external_id": "duplicate_in_file"}),
        (301, {"category": "invalid_choice"}),
    ]
    with factory.begin() as session:
        parallel = import_cases(
            session, deps, city_actor(regions), to_csv(rows), "csv", parallel=True
        )
    assert parallel.to_dict() == report.to_dict()
    assert report.imported == 0 and report.rows == 300
    assert counts(factory) == dict.fromkeys(counts(factory), 0)


@pytest.mark.usefixtures("small_chunks")
def test_bad_row_found_after_chunks_were_written_undoes_them(
    factory: sessionmaker[Session], deps: Deps, regions: RegionTree
) -> None:
    rows = demo_rows(regions, deps, NOW, 300)
    rows[-1] = dict(rows[-1], category="quarrel")
    written: list[int] = []
    original = imports._BATCH_WRITERS.copy()

    def counting(dialect: str) -> Any:
        def write(cur: Any, data: Any) -> None:
            written.append(1)
            original[dialect](cur, data)

        return write

    with factory.begin() as session:
        session.add(
            AuditEntry(at=NOW, actor_name="t", action="before", object_type="x", object_id="1")
        )
        session.flush()
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(imports, "_BATCH_WRITERS", {d: counting(d) for d in original})
            report = import_cases(
                session, deps, city_actor(regions), to_csv(rows), "csv", parallel=True
            )
    assert len(written) == 300 // 70  # the four full chunks went in before line 301 was seen
    assert [(e.line, e.fields) for e in report.errors] == [(301, {"category": "invalid_choice"})]
    assert report.imported == 0 and report.rows == 300
    assert {k: v for k, v in counts(factory).items() if k != "audit"} == {
        "cases": 0,
        "parties": 0,
        "case_events": 0,
        "rollup_day": 0,
        "rollup_month": 0,
    }
    with factory() as session:
        assert session.scalars(select(AuditEntry.action)).all() == ["before"]


@pytest.mark.usefixtures("small_chunks")
def test_parallel_reimport_of_known_ids_falls_back_to_the_serial_path(
    factory: sessionmaker[Session], deps: Deps, regions: RegionTree
) -> None:
    rows = demo_rows(regions, deps, NOW, 200)
    actor = city_actor(regions)

    def parallel_import(data: str) -> ImportReport:
        with factory.begin() as session:
            return import_cases(session, deps, actor, data, "csv", parallel=True)

    assert parallel_import(to_csv(rows[:100])).imported == 100
    before, sums = counts(factory), rollup_sums(factory)
    again = parallel_import(to_csv(rows[:100]))
    assert (again.imported, again.unchanged, again.errors) == (0, 100, [])
    assert counts(factory) == before and rollup_sums(factory) == sums
    # Known ids only from the second chunk on: the first chunk, already written, is undone
    # and the serial path imports the new rows once.
    rest = parallel_import(to_csv(rows[100:] + rows[:100]))
    assert (rest.imported, rest.unchanged) == (100, 100)
    assert counts(factory)["cases"] == 200
    with factory() as session:
        assert session.scalar(select(func.count(func.distinct(Case.external_id)))) == 200


def test_known_external_id_of_a_case_outside_the_actors_area_is_an_error(
    factory: sessionmaker[Session], deps: Deps, regions: RegionTree
) -> None:
    own_county, other_county = (r.code for r in regions.children(regions.city.code)[:2])
    own_town = regions.children(own_county)[0].code
    other_town = regions.children(other_county)[0].code
    run_import(
        factory,
        deps,
        city_actor(regions),
        to_csv([row(external_id="theirs", region_code=other_town), row(external_id="ours")]),
    )
    actor = Actor(3, "county-duty", Role.DUTY_OFFICER, Scope(Level.COUNTY, own_county))
    # Same external id as a case of the other county: saying "unchanged" would reveal that
    # it exists there, so it is refused like any row outside the actor's area.
    rows = [
        row(external_id="new", region_code=own_town),
        row(external_id="theirs", region_code=own_town),
    ]
    report = run_import(factory, deps, actor, to_csv(rows))
    assert [(e.line, e.external_id, e.fields) for e in report.errors] == [
        (3, "theirs", {"external_id": "outside_jurisdiction"})
    ]
    assert report.imported == 0
    assert counts(factory)["cases"] == 2
    # A known id of the actor's own area is still simply unchanged.
    mine = run_import(factory, deps, actor, to_csv([row(external_id="new", region_code=own_town)]))
    assert (mine.imported, mine.unchanged) == (1, 0)
    again = run_import(factory, deps, actor, to_csv([row(external_id="new", region_code=own_town)]))
    assert (again.imported, again.unchanged, again.errors) == (0, 1, [])


def test_big_files_choose_the_parallel_path_and_small_ones_the_serial_one(
    factory: sessionmaker[Session], deps: Deps, regions: RegionTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken: list[str] = []
    original = imports._import_parallel

    def spy(*args: Any) -> ImportReport | None:
        taken.append("parallel")
        return original(*args)

    monkeypatch.setattr(imports, "_import_parallel", spy)
    monkeypatch.setattr(imports, "PARALLEL_MIN_ROWS", 100)
    monkeypatch.setattr(imports, "fork_is_safe", lambda: True)
    actor = city_actor(regions)
    rows = demo_rows(regions, deps, NOW, 150)
    assert run_import(factory, deps, actor, to_csv(rows[:50])).imported == 50
    assert taken == []
    assert run_import(factory, deps, actor, to_csv(rows[50:])).imported == 100
    assert taken == ["parallel"]
    monkeypatch.setattr(imports, "fork_is_safe", lambda: False)
    assert run_import(factory, deps, actor, to_csv(demo_rows(regions, deps, NOW, 120, "Z"))).ok
    assert taken == ["parallel"]


@pytest.mark.usefixtures("small_chunks")
def test_parallel_import_stays_inside_the_callers_transaction(
    factory: sessionmaker[Session], deps: Deps, regions: RegionTree
) -> None:
    # The savepoint must nest in the caller's transaction, not stand for it: a caller that
    # rolls back after a clean import keeps nothing of it.
    data = to_csv(demo_rows(regions, deps, NOW, 200))
    with factory() as session, session.begin():
        report = import_cases(session, deps, city_actor(regions), data, "csv", parallel=True)
        assert report.imported == 200
        assert session.scalar(select(func.count()).select_from(Case)) == 200
        session.rollback()
    assert counts(factory) == dict.fromkeys(counts(factory), 0)


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("newline", ["\r", "\r\n"])
def test_parallel_import_reserves_enough_ids_whatever_the_line_ends(
    factory: sessionmaker[Session], deps: Deps, regions: RegionTree, newline: str
) -> None:
    # One id is reserved per line end; CR-only files (which the csv module reads) must not
    # come up short.
    data = to_csv(demo_rows(regions, deps, NOW, 150)).replace("\n", newline)
    with factory.begin() as session:
        report = import_cases(session, deps, city_actor(regions), data, "csv", parallel=True)
    assert (report.rows, report.imported, report.errors) == (150, 150, [])
    assert counts(factory)["cases"] == 150


@pytest.mark.parametrize(
    ("data", "line", "fields"),
    [
        ("external_id,title,bogus\nA,x,y\n", 1, {"bogus": "unknown_column"}),
        ("", 1, {"_": "empty_file"}),
    ],
)
def test_parallel_import_reports_file_level_problems(
    factory: sessionmaker[Session],
    deps: Deps,
    regions: RegionTree,
    data: str,
    line: int,
    fields: dict[str, str],
) -> None:
    reports = []
    for parallel in (True, False):
        with factory.begin() as session:
            reports.append(
                import_cases(session, deps, city_actor(regions), data, "csv", parallel=parallel)
            )
    report = reports[0]
    assert report.to_dict() == reports[1].to_dict()
    assert report.errors[0].line == line
    assert fields.items() <= report.errors[0].fields.items()
    assert report.imported == 0 and counts(factory)["cases"] == 0


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("parallel", [False, True])
def test_progress_reaches_the_whole_file_and_never_goes_back(
    factory: sessionmaker[Session],
    deps: Deps,
    regions: RegionTree,
    parallel: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(imports, "PROGRESS_ROWS", 50)
    calls: list[tuple[str, int, int]] = []
    with factory.begin() as session:
        report = import_cases(
            session,
            deps,
            city_actor(regions),
            to_csv(demo_rows(regions, deps, NOW, 230)),
            "csv",
            parallel=parallel,
            progress=lambda *call: calls.append(call),
        )
    assert report.imported == 230
    writes = [(done, total) for phase, done, total in calls if phase == "write"]
    checks = [(done, total) for phase, done, total in calls if phase == "check"]
    assert writes[-1] == (230, 230)
    if parallel:
        # One call a chunk written (70 rows a chunk; the first chunk is smaller).
        assert len(writes) >= 230 // 70 and not checks
    else:
        # Every 50 rows checked, then the whole file checked and written.
        assert [done for done, _ in checks] == [50, 100, 150, 200, 230]
        assert writes == [(230, 230)]
    for series in (writes, checks):
        dones = [done for done, _ in series]
        assert dones == sorted(dones) and all(done <= total for done, total in series)
