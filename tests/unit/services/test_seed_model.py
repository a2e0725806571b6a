"""The demo case model without a database: deterministic, valid people, believable mixes."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from bench.common import config, make_deps
from dispatch.domain.cases import OPEN_STATES, CaseState, interchange_status
from dispatch.domain.identity import id_number_problem, match_key, phone_problem
from dispatch.domain.kpi import LOCAL_TZ
from dispatch.services.imports import CaseRecord
from dispatch.services.seed import DemoCases

NOW = datetime(2026, 11, 29, 6, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def cases() -> list[CaseRecord]:
    regions, reference = config()
    generator = DemoCases(regions, make_deps(regions, reference, NOW), NOW, rng_seed=5)
    return [generator.case() for _ in range(6000)]


def test_same_seed_same_cases() -> None:
    regions, reference = config()
    deps = make_deps(regions, reference, NOW)
    first = [DemoCases(regions, deps, NOW, rng_seed=9).case() for _ in range(1)]
    again = [DemoCases(regions, deps, NOW, rng_seed=9).case() for _ in range(1)]
    assert first == again


def test_people_have_valid_identifiers_and_keys(cases: list[CaseRecord]) -> None:
    secret = make_deps(*config(), NOW).match_secret
    for case in cases[:500]:
        assert len(case.parties) >= 2
        for _name, role, id_number, phone, id_key, phone_key in case.parties:
            assert role in ("applicant", "respondent", "third_party")
            if id_number:
                assert id_number_problem(id_number) is None
                assert id_number.startswith(case.county_code)
                assert id_key == match_key(secret, id_number)
            if phone:
                assert phone_problem(phone) is None
                assert phone_key == match_key(secret, phone)


def test_times_and_outcomes_are_consistent(cases: list[CaseRecord]) -> None:
    for case in cases:
        assert NOW - timedelta(days=731) <= case.received_at < NOW
        assert case.finish_by is not None and case.finish_by > case.received_at
        open_case = CaseState(case.state) in OPEN_STATES
        assert open_case is (case.closed_at is None) is (case.outcome is None)
        if case.closed_at is not None:
            assert case.received_at <= case.closed_at <= NOW
            assert interchange_status(CaseState(case.state)) == "closed"
        if open_case and case.finish_by < NOW:
            assert case.card == "red"
        assert case.events[0][0] == "created"
        assert sum(kind == "escalate" for kind, _, _ in case.events) == case.escalations


def test_mixes_look_like_a_real_centre(cases: list[CaseRecord]) -> None:
    n = len(cases)
    severity = Counter(c.severity for c in cases)
    assert severity["general"] / n > 0.6 and 0 < severity["critical"] / n < 0.03
    ended = [c for c in cases if c.outcome in ("success", "failure")]
    assert 0.97 <= sum(c.outcome == "success" for c in ended) / len(ended) <= 0.995
    assert 0.15 <= sum(c.online for c in cases) / n <= 0.25
    assert 0 < sum(c.escalations for c in cases) / n < 0.1
    overdue = [c for c in cases if c.closed_at is None and c.finish_by and c.finish_by < NOW]
    assert overdue
    townships = Counter(c.township_code for c in cases)
    assert len(townships) > 30  # spread over the city, not piled on one place


def test_seasonality(cases: list[CaseRecord]) -> None:
    def months(category: str) -> Counter[int]:
        return Counter(
            c.received_at.astimezone(LOCAL_TZ).month for c in cases if c.category == category
        )

    wages, land, neighbours = months("wage_arrears"), months("land_contract"), months("neighbour")
    assert wages[1] + wages[12] > 2 * (wages[7] + wages[8])
    assert land[3] + land[4] > 2 * (land[12] + land[1])
    assert neighbours[7] + neighbours[8] > 1.5 * (neighbours[1] + neighbours[2])
