"""KPI rollup contributions and personal-identifier rules."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.domain.codes import Outcome, Severity
from dispatch.domain.identity import (
    id_check_char,
    id_number_problem,
    mask_id,
    mask_phone,
    phone_problem,
)
from dispatch.domain.kpi import CaseFacts, change, contributions, delta, ratio, summarise, total

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def facts(
    received: int,
    closed: int | None,
    deadline: int,
    outcome: Outcome | None = None,
    online: bool = False,
) -> CaseFacts:
    return CaseFacts(
        township_code="990102001",
        received_at=T0 + timedelta(days=received),
        severity=Severity.MAJOR,
        online=online,
        finish_by=T0 + timedelta(days=deadline),
        closed_at=T0 + timedelta(days=closed) if closed is not None else None,
        outcome=outcome,
    )


def brute(cases: list[CaseFacts], start: datetime, end: datetime) -> dict[str, int]:
    ended = [c for c in cases if c.closed_at and start <= c.closed_at < end]
    return {
        "received": sum(start <= c.received_at < end for c in cases),
        "success": sum(c.outcome is Outcome.SUCCESS for c in ended),
        "in_progress": sum(
            c.received_at < end and (c.closed_at is None or c.closed_at >= end) for c in cases
        ),
        "overdue": sum(
            c.received_at < end
            and (c.closed_at is None or c.closed_at >= end)
            and c.finish_by is not None
            and c.finish_by < end
            for c in cases
        ),
    }


case_strategy = st.builds(
    lambda r, dur, dl, out, on: facts(r, r + dur if out else None, r + dl, out, on),
    st.integers(0, 60),
    st.integers(0, 40),
    st.integers(1, 30),
    st.none() | st.sampled_from(list(Outcome)),
    st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(case_strategy, max_size=30), st.integers(0, 80), st.integers(1, 40))
def test_rollup_sums_equal_brute_force(cases: list[CaseFacts], lo: int, span: int) -> None:
    start, end = T0 + timedelta(days=lo), T0 + timedelta(days=lo + span)
    buckets = total(cases)
    day = lambda k: k[0]  # noqa: E731
    from dispatch.domain.kpi import local_day

    in_range: Counter[str] = Counter()
    before: Counter[str] = Counter()
    for key, count in buckets.items():
        if local_day(start) <= day(key) < local_day(end):
            in_range[key[2]] += count
        if day(key) < local_day(end):
            before[key[2]] += count
    s = summarise(in_range, before)
    # Whole local days: compare against the brute force at local midnights.
    from dispatch.domain.kpi import LOCAL_TZ

    lm = lambda d: datetime.combine(d, datetime.min.time(), LOCAL_TZ)  # noqa: E731
    expected = brute(cases, lm(local_day(start)), lm(local_day(end)))
    assert (s.received, s.resolved, s.in_progress, s.overdue) == (
        expected["received"],
        expected["success"],
        expected["in_progress"],
        expected["overdue"],
    )


def test_delta_of_closing_moves_counts() -> None:
    open_case = facts(0, None, 5)
    closed = facts(0, 3, 5, Outcome.SUCCESS, online=True)
    d = delta(open_case, closed)
    assert sum(v for k, v in d.items() if k[2] == "success") == 1
    assert sum(v for k, v in d.items() if k[2] == "online_success") == 1
    assert sum(v for k, v in d.items() if k[2] == "received") == 0
    assert contributions(open_case) + d == contributions(closed)


def test_ratios() -> None:
    assert ratio(0, 0) is None
    assert ratio(99, 100) == 0.99
    assert change(67, 100) == pytest.approx(-0.33)
    assert change(5, 0) is None


def make_id(first17: str) -> str:
    return first17 + id_check_char(first17)


def test_id_numbers() -> None:
    valid = make_id("99010219900307123")
    assert id_number_problem(valid) is None
    wrong = valid[:-1] + ("0" if valid[-1] != "0" else "1")
    assert id_number_problem(wrong) == "id_checksum"
    assert id_number_problem("99010219901307123" + "1") in ("id_birthdate", "id_checksum")
    assert id_number_problem("12345") == "id_format"
    assert mask_id(valid) == valid[:6] + "*" * 10 + valid[-2:]


def test_phones() -> None:
    assert phone_problem("13812345678") is None
    assert phone_problem("0826-2345678") is None
    assert phone_problem("12345") == "phone_format"
    assert mask_phone("13812345678") == "138****5678"
